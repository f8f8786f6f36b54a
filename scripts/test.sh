#!/usr/bin/env bash
# The test command (README, .ci/run): installs what the tests need, builds the workspace, runs every test.
#   - the export stack venv (.venv-export/, cached by a stamp) for the re-export test
#   - the ExecuTorch SDK is fetched by ffi/build.rs (pip download of the pinned wheel) when not installed
#   - the device lab's packages, the aarch64 runner, and the lab itself (scripts/lab/, stopped on exit)
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup-export-env.sh
cargo build --workspace --locked
# The dashboard's browser tests (harness/tests/integration/site.rs) load the page in Debian's headless Chromium.
if ! command -v chromium >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ]; then
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
    else
        echo "test.sh: chromium is missing and this is not root: install it (apt-get install -y chromium)" >&2
    fi
fi
# Device lab (harness/tests/integration/devices.rs): ssh boards, an aarch64 board, adb with adbd-standin; needs root.
bash scripts/lab/setup.sh
if [ "$(id -u)" = 0 ]; then
    trap 'bash scripts/lab/stop.sh >/dev/null' EXIT
    ADBD_STANDIN=target/debug/adbd-standin bash scripts/lab/start.sh
fi
cargo test --workspace --locked "$@"
