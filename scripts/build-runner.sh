#!/usr/bin/env bash
# Builds etbench-runner for a target triple (default: this host).
#   scripts/build-runner.sh --target aarch64-unknown-linux-gnu
# Cross builds use Debian's cross g++ (apt-get install g++-aarch64-linux-gnu) and the Rust std for the target
# (rustup target add ...). ffi/build.rs downloads the ExecuTorch wheel for the *target* architecture.
# The runner lands in target/<triple>/release/etbench-runner; etbench ships it with the ExecuTorch .so files it
# finds through the runner's RUNPATH (see README, "Devices: ssh boards and adb phones").
set -euo pipefail
cd "$(dirname "$0")/.."
target=""
while [ $# -gt 0 ]; do
    case "$1" in
        --target) target="$2"; shift 2 ;;
        --target=*) target="${1#--target=}"; shift ;;
        -h|--help) sed -n '2,7p' "$0"; exit 0 ;;
        *) echo "build-runner.sh: unknown argument $1 (use --target TRIPLE)" >&2; exit 2 ;;
    esac
done
host="$(rustc -vV | sed -n 's/^host: //p')"
if [ -z "$target" ] || [ "$target" = "$host" ]; then
    exec cargo build --release -p etbench-ffi --bin etbench-runner
fi
case "$target" in
    aarch64-unknown-linux-gnu)
        command -v aarch64-linux-gnu-g++ >/dev/null || {
            echo "build-runner.sh: aarch64-linux-gnu-g++ missing: apt-get install g++-aarch64-linux-gnu" >&2; exit 1; }
        export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER=aarch64-linux-gnu-gcc
        export CXX_aarch64_unknown_linux_gnu=aarch64-linux-gnu-g++
        export CC_aarch64_unknown_linux_gnu=aarch64-linux-gnu-gcc
        ;;
    aarch64-linux-android)
        # Unverified here (no NDK reachable): needs ANDROID_NDK_HOME and an ExecuTorch SDK built for Android
        # (ETBENCH_EXECUTORCH_DIR with include/ and lib/ from ExecuTorch's Android build).
        : "${ANDROID_NDK_HOME:?set ANDROID_NDK_HOME to your NDK (untested path, see README)}"
        : "${ETBENCH_EXECUTORCH_DIR:?set ETBENCH_EXECUTORCH_DIR to an ExecuTorch SDK built for Android}"
        tc="$ANDROID_NDK_HOME/toolchains/llvm/prebuilt/linux-x86_64/bin"
        export CARGO_TARGET_AARCH64_LINUX_ANDROID_LINKER="$tc/aarch64-linux-android28-clang"
        export CXX_aarch64_linux_android="$tc/aarch64-linux-android28-clang++"
        export CC_aarch64_linux_android="$tc/aarch64-linux-android28-clang"
        ;;
    *) echo "build-runner.sh: no recipe for $target (known: aarch64-unknown-linux-gnu, aarch64-linux-android)" >&2; exit 2 ;;
esac
rustup target list --installed 2>/dev/null | grep -qx "$target" || {
    echo "build-runner.sh: the Rust std for $target is not installed: rustup target add $target" >&2; exit 1; }
exec cargo build --release -p etbench-ffi --bin etbench-runner --target "$target"
