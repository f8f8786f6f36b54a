#!/usr/bin/env bash
# Installs what the device lab and the cross-built runner need (idempotent; quick when everything is there):
#   Debian packages openssh-server/-client, adb, qemu-user-static, g++-aarch64-linux-gnu, iproute2 (root only),
#   the Rust std for aarch64-unknown-linux-gnu (rustup; when it cannot be had, aarch64 tests are skipped with a note),
#   and the aarch64 runner (scripts/build-runner.sh --target aarch64-unknown-linux-gnu).
set -euo pipefail
cd "$(dirname "$0")/../.."
if [ "$(id -u)" = 0 ]; then
    missing=()
    for pair in /usr/sbin/sshd:openssh-server ssh:openssh-client adb:adb qemu-aarch64-static:qemu-user-static \
                aarch64-linux-gnu-g++:g++-aarch64-linux-gnu ip:iproute2 unshare:util-linux; do
        command -v "${pair%%:*}" >/dev/null 2>&1 || missing+=("${pair#*:}")
    done
    if [ ${#missing[@]} -gt 0 ]; then
        echo "lab setup: installing ${missing[*]}"
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    fi
else
    echo "lab setup: not root: no packages installed, the device lab tests will be skipped" >&2
fi
target=aarch64-unknown-linux-gnu
if command -v rustup >/dev/null && ! rustup target list --installed | grep -qx "$target"; then
    rustup target add "$target" >/dev/null 2>&1 || echo "lab setup: rustup target add $target failed: aarch64 tests will be skipped" >&2
fi
if rustup target list --installed 2>/dev/null | grep -qx "$target" && command -v aarch64-linux-gnu-g++ >/dev/null; then
    bash scripts/build-runner.sh --target "$target"
fi
