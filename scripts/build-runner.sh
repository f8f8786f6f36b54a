#!/usr/bin/env bash
# Builds etbench-runner for a target triple (default: this host).
#   scripts/build-runner.sh [--target TRIPLE] [--ndk]
# Cross builds use Debian's cross g++ (apt-get install g++-aarch64-linux-gnu) and the Rust std for the target
# (rustup target add ...). ffi/build.rs downloads the ExecuTorch wheel for the *target* architecture.
# The runner lands in $CARGO_TARGET_DIR/<triple>/release/etbench-runner (CARGO_TARGET_DIR defaults to ./target);
# etbench ships it with the ExecuTorch .so files it finds through the runner's RUNPATH (see docs/devices.md, "Devices: ssh
# boards and adb phones").
#   --target aarch64-linux-android (no NDK needed): builds the aarch64-unknown-linux-gnu runner and packs it with its
#     own glibc loader and libraries (scripts/bundle-android.sh) into $CARGO_TARGET_DIR/runner-bundles/
#     aarch64-linux-android/, started on the phone as `lib/ld-linux-aarch64.so.1 --library-path lib ./etbench-runner`.
#     Checked under qemu-user in a root without /lib, /usr, /etc (scripts/lab/check-bundle.sh) and on the lab's
#     stand-in phone; not on a real phone here.
#   --target aarch64-linux-android --ndk: a bionic runner from the NDK. UNVERIFIED (no NDK is reachable here):
#     needs ANDROID_NDK_HOME and ETBENCH_EXECUTORCH_DIR (include/ and lib/ of ExecuTorch built for Android); the
#     runner lands in $CARGO_TARGET_DIR/aarch64-linux-android/release/etbench-runner: set `runner = "PATH"` in the
#     device profile to use it.
set -euo pipefail
cd "$(dirname "$0")/.."
target=""
ndk=""
while [ $# -gt 0 ]; do
    case "$1" in
        --target) target="$2"; shift 2 ;;
        --target=*) target="${1#--target=}"; shift ;;
        --ndk) ndk=1; shift ;;
        -h|--help) sed -n '2,17p' "$0"; exit 0 ;;
        *) echo "build-runner.sh: unknown argument $1 (use --target TRIPLE [--ndk])" >&2; exit 2 ;;
    esac
done
host="$(rustc -vV | sed -n 's/^host: //p')"
if [ -z "$target" ] || [ "$target" = "$host" ]; then
    exec cargo build --release -p etbench-ffi --bin etbench-runner
fi
bundle=""
if [ "$target" = aarch64-linux-android ] && [ -z "$ndk" ]; then
    # No NDK: the glibc runner, bundled with its own loader below.
    target=aarch64-unknown-linux-gnu
    bundle=1
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
        # --ndk. Unverified here (no NDK reachable): needs ANDROID_NDK_HOME and an ExecuTorch SDK built for Android
        # (ETBENCH_EXECUTORCH_DIR with include/ and lib/ from ExecuTorch's Android build).
        : "${ANDROID_NDK_HOME:?set ANDROID_NDK_HOME to your NDK (untested path, see docs/devices.md)}"
        : "${ETBENCH_EXECUTORCH_DIR:?set ETBENCH_EXECUTORCH_DIR to an ExecuTorch SDK built for Android}"
        tc="$ANDROID_NDK_HOME/toolchains/llvm/prebuilt/linux-x86_64/bin"
        export CARGO_TARGET_AARCH64_LINUX_ANDROID_LINKER="$tc/aarch64-linux-android28-clang"
        export CXX_aarch64_linux_android="$tc/aarch64-linux-android28-clang++"
        export CC_aarch64_linux_android="$tc/aarch64-linux-android28-clang"
        ;;
    *) echo "build-runner.sh: no recipe for $target (known: aarch64-unknown-linux-gnu, aarch64-linux-android [--ndk])" >&2; exit 2 ;;
esac
rustup target list --installed 2>/dev/null | grep -qx "$target" || {
    echo "build-runner.sh: the Rust std for $target is not installed: rustup target add $target" >&2; exit 1; }
if [ -z "$bundle" ]; then
    exec cargo build --release -p etbench-ffi --bin etbench-runner --target "$target"
fi
cargo build --release -p etbench-ffi --bin etbench-runner --target "$target"
exec bash scripts/bundle-android.sh --runner "${CARGO_TARGET_DIR:-target}/$target/release/etbench-runner"
