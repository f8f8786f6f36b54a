#!/usr/bin/env bash
# The test command (README, .ci/run): installs what the tests need, builds the workspace, runs every test.
#   - the export stack venv (.venv-export/, cached by a stamp) for the re-export test
#   - the ExecuTorch SDK is fetched by ffi/build.rs (pip download of the pinned wheel) when not installed
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup-export-env.sh
cargo build --workspace --locked
cargo test --workspace --locked "$@"
