#!/usr/bin/env bash
# Create/refresh the Python venv used by scripts/export_gemma3n.py.
#
#   bash scripts/setup-export-env.sh        # then use .venv-export/bin/python
#
# Idempotent: a stamp file inside the venv holds the sha256 of
# scripts/requirements-export.txt (plus the python version); when it matches,
# the script exits at once. Progress goes to stderr.
# Env: PYTHON (default python3), ETBENCH_EXPORT_VENV (default <repo>/.venv-export).
set -euo pipefail

log() { printf '[setup-export-env] %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

script_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo_root="$(cd "$script_dir/.." && pwd)"
req="$script_dir/requirements-export.txt"
venv="${ETBENCH_EXPORT_VENV:-$repo_root/.venv-export}"
py="${PYTHON:-python3}"
stamp="$venv/.etbench-requirements.sha256"

[ -f "$req" ] || die "missing $req"
command -v "$py" >/dev/null 2>&1 || die "$py not found (need Python 3.11)"
command -v sha256sum >/dev/null 2>&1 || die "sha256sum not found (coreutils)"

pyver="$("$py" -c 'import sys; print("%d.%d" % sys.version_info[:2])')"
want="$(sha256sum "$req" | cut -d' ' -f1) python$pyver"

if [ -x "$venv/bin/python" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
    log "up to date: $venv (requirements sha256 matches); nothing to do"
    exit 0
fi

if [ ! -x "$venv/bin/python" ]; then
    log "creating venv $venv with $py ($pyver)"
    if ! "$py" -m venv "$venv" 2>/dev/null; then
        rm -rf "$venv"
        if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
            log "python3 -m venv failed: installing python3-venv via apt-get"
            export DEBIAN_FRONTEND=noninteractive
            apt-get update -qq >&2
            apt-get install -y -qq python3-venv >&2 || apt-get install -y -qq "python$pyver-venv" >&2
            "$py" -m venv "$venv" || die "python3 -m venv still fails after installing python3-venv"
        else
            die "'$py -m venv' failed; install python3-venv (apt-get install python3-venv) and retry"
        fi
    fi
else
    log "venv exists but requirements changed or install incomplete: reinstalling"
fi

rm -f "$stamp"
vpy="$venv/bin/python"
log "upgrading pip"
"$vpy" -m pip install --disable-pip-version-check -q --upgrade pip >&2
log "installing $(grep -cvE '^\s*(#|$)' "$req") pinned packages (torch is ~3 GB: a few minutes on first run)"
# Several GB from PyPI: a connection that drops mid-file resumes (pip's --resume-retries), and a failed install is
# tried again twice (pip keeps what it already downloaded in its cache) before giving up.
for attempt in 1 2 3; do
    "$vpy" -m pip install --disable-pip-version-check --progress-bar off --resume-retries 20 -r "$req" >&2 && break
    [ "$attempt" = 3 ] && { log "pip install failed 3 times: see pip's error above (a dropped connection to PyPI, or a full disk)"; exit 1; }
    log "pip install failed (attempt $attempt of 3); trying again"
done
log "checking imports"
"$vpy" - <<'PY' >&2
import importlib.metadata as md
for p in ("torch", "executorch", "torchao", "transformers", "tokenizers"):
    print(f"  {p}=={md.version(p)}")
import torch, executorch.exir, torchao, transformers, tokenizers  # noqa: F401
PY
printf '%s\n' "$want" > "$stamp"
log "done: $vpy"
