#!/usr/bin/env bash
# Installs what the device lab and the cross-built runner need (idempotent; quick when everything is there):
#   Debian packages openssh-server/-client, adb, qemu-user-static, g++-aarch64-linux-gnu, iproute2 (root only),
#   Debian's arm64 architecture for apt (dpkg --add-architecture arm64) and busybox-static:arm64, unpacked into
#   $ETBENCH_LAB_CACHE (default /var/cache/etbench-lab) for the lab's stand-in phone (root only),
#   the Rust std for aarch64-unknown-linux-gnu (rustup; when it cannot be had, the aarch64 tests fail saying so, or
#   with ETBENCH_SKIP_LAB=1 say SKIPPED),
#   and the aarch64 runner and its Android bundle (scripts/build-runner.sh --target aarch64-linux-android, which
#   builds the aarch64-unknown-linux-gnu runner too; the bundle's glibc comes from Debian's arm64 packages).
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
    # arm64 packages from Debian (the same registry): glibc for the runner bundle, busybox for the lab phone.
    if ! dpkg --print-foreign-architectures | grep -qx arm64; then
        echo "lab setup: dpkg --add-architecture arm64"
        dpkg --add-architecture arm64
        apt-get update -qq
    fi
    cache="${ETBENCH_LAB_CACHE:-/var/cache/etbench-lab}"
    if [ ! -x "$cache/busybox-static/bin/busybox" ]; then
        echo "lab setup: busybox-static:arm64 into $cache"
        mkdir -p "$cache/debs"
        rm -f "$cache"/debs/busybox-static_*_arm64.deb
        (cd "$cache/debs" && apt-get download -qq busybox-static:arm64 2>&1 | grep -v '^W: Download is performed unsandboxed' >&2) || true
        deb="$(ls "$cache"/debs/busybox-static_*_arm64.deb 2>/dev/null | head -1)"
        if [ -n "$deb" ]; then
            rm -rf "$cache/busybox-static" && dpkg -x "$deb" "$cache/busybox-static"
            dpkg-deb -f "$deb" Package Version > "$cache/busybox-static/PACKAGE"
        else
            echo "lab setup: apt-get download busybox-static:arm64 failed: no lab phone" >&2
        fi
    fi
else
    echo "lab setup: not root: no packages installed, the device lab tests will fail (ETBENCH_SKIP_LAB=1 skips them)" >&2
fi
target=aarch64-unknown-linux-gnu
if command -v rustup >/dev/null && ! rustup target list --installed | grep -qx "$target"; then
    rustup target add "$target" >/dev/null 2>&1 || echo "lab setup: rustup target add $target failed: the aarch64 tests will fail (ETBENCH_SKIP_LAB=1 skips them)" >&2
fi
if rustup target list --installed 2>/dev/null | grep -qx "$target" && command -v aarch64-linux-gnu-g++ >/dev/null; then
    if [ "$(id -u)" = 0 ] || dpkg --print-foreign-architectures 2>/dev/null | grep -qx arm64; then
        bash scripts/build-runner.sh --target aarch64-linux-android
    else
        echo "lab setup: apt knows no arm64 packages (not root): only the aarch64 runner, no Android bundle" >&2
        bash scripts/build-runner.sh --target "$target"
    fi
fi
