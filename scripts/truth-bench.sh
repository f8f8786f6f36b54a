#!/usr/bin/env bash
# How often etbench's verdicts are right on this device: a benchmark (not a timed test), through the real CLI.
#
#   scripts/truth-bench.sh [--k 20] [--model models/gemma3n-tiny-xnnpack-fp32.pte] [--slowdown 1.10]
#                          [--designs "paired unpaired"] [-- RUN_FLAGS...]
#
# For each design, K A/A comparisons and K comparisons with a known slowdown:
#   paired   : `etbench run --paired --model M --model M` (the same program twice in one process), judged by
#              `etbench compare RESULTS`; the slowdown is the same real samples with the candidate's latencies
#              multiplied by SLOWDOWN (this assumes the noise is multiplicative).
#   processes: `etbench run --paired processes --model M --model M` (fresh processes A B B A …, neighbours
#              paired), judged and slowed like `paired`.
#   unpaired : two separate `etbench run --model M --repeat 5` runs, judged by `etbench compare BASE CAND`; the
#              slowdown scales the candidate run's real samples the same way.
# A false alarm is an A/A comparison called regressed or improved; a detection is a slowdown called regressed; a
# refusal is "no verdict" (the unpaired design refuses when processes drift more than the threshold).
# RUN_FLAGS (after --) go to every `etbench run` (default: the CLI's defaults). Needs a release build; prints a
# markdown table and leaves everything in $TRUTH_DIR (default: a temp dir).
set -euo pipefail
cd "$(dirname "$0")/.."
k=20 model=models/gemma3n-tiny-xnnpack-fp32.pte slowdown=1.10 unpaired_repeat=5 designs="paired unpaired"
while [ $# -gt 0 ]; do
    case "$1" in
        --k) k="$2"; shift 2 ;;
        --model) model="$2"; shift 2 ;;
        --slowdown) slowdown="$2"; shift 2 ;;
        --unpaired-repeat) unpaired_repeat="$2"; shift 2 ;;
        --designs) designs="$2"; shift 2 ;;
        --) shift; break ;;
        -h|--help) sed -n '2,21p' "$0"; exit 0 ;;
        *) echo "truth-bench.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
    esac
done
etb=target/release/etbench
[ -x "$etb" ] || { echo "truth-bench.sh: $etb missing: cargo build --release" >&2; exit 1; }
[ -f "$model" ] || { echo "truth-bench.sh: model $model not found" >&2; exit 1; }
dir="${TRUTH_DIR:-$(mktemp -d)}"
mkdir -p "$dir"

# Scales the latencies of the candidate side of a results.json (position 1 of a paired session, or every run).
scale() { # in out factor paired
    python3 - "$1" "$2" "$3" "$4" <<'PY'
import json, sys
src, dst, factor, paired = sys.argv[1], sys.argv[2], float(sys.argv[3]), sys.argv[4] == "1"
doc = json.load(open(src))
for run in doc["runs"]:
    if paired and (run.get("pairing") or {}).get("position") != 1:
        continue
    run["samples"]["timed_ns"] = [int(v * factor) for v in run["samples"]["timed_ns"]]
doc.pop("paired", None)  # compare recomputes from the raw samples
json.dump(doc, open(dst, "w"))
PY
}
verdict() { # compare output on stdin → regressed / improved / no_change / refused
    local text; text="$(cat)"
    if grep -q "REGRESSED" <<< "$text"; then echo regressed
    elif grep -q "| improved" <<< "$text"; then echo improved
    elif grep -q "no significant change" <<< "$text"; then echo no_change
    else echo refused; fi
}
latency() { grep -m1 "median latency" || true; }

declare -A count
has() { [[ " $designs " == *" $1 "* ]]; }
for design in paired processes unpaired; do for kind in aa slow; do for v in regressed improved no_change refused; do count[$design.$kind.$v]=0; done; done; done
for i in $(seq 1 "$k"); do
    for design in paired processes; do
        has "$design" || continue
        d="$dir/$design-$i"
        how=in-process; [ "$design" = processes ] && how=processes
        "$etb" run --paired "$how" --model "$model" --model "$model" --format none --out "$d" "$@" 2>/dev/null
        v=$({ "$etb" compare --format md "$d" || true; } | verdict); count[$design.aa.$v]=$((count[$design.aa.$v] + 1))
        scale "$d/results.json" "$d/slowed.json" "$slowdown" 1
        v=$({ "$etb" compare --format md "$d/slowed.json" || true; } | verdict); count[$design.slow.$v]=$((count[$design.slow.$v] + 1))
    done

    if has unpaired; then
        a="$dir/unpaired-$i-a" b="$dir/unpaired-$i-b"
        "$etb" run --model "$model" --repeat "$unpaired_repeat" --format none --out "$a" "$@" 2>/dev/null
        "$etb" run --model "$model" --repeat "$unpaired_repeat" --format none --out "$b" "$@" 2>/dev/null
        v=$({ "$etb" compare --format md "$a" "$b" || true; } | latency | verdict); count[unpaired.aa.$v]=$((count[unpaired.aa.$v] + 1))
        scale "$b/results.json" "$b/slowed.json" "$slowdown" 0
        v=$({ "$etb" compare --format md "$a" "$b/slowed.json" || true; } | latency | verdict); count[unpaired.slow.$v]=$((count[unpaired.slow.$v] + 1))
    fi
    echo "truth-bench: $i/$k done" >&2
done

pct() { awk -v a="$1" -v b="$k" 'BEGIN { printf "%.0f%%", 100 * a / b }'; }
echo "| design | A/A false alarms | A/A refused | ${slowdown}× slowdown detected | slowdown refused | slowdown missed (no change) |"
echo "|---|---|---|---|---|---|"
for design in $designs; do
    fa=$((count[$design.aa.regressed] + count[$design.aa.improved]))
    echo "| $design | $fa/$k ($(pct $fa)) | ${count[$design.aa.refused]}/$k | ${count[$design.slow.regressed]}/$k ($(pct ${count[$design.slow.regressed]})) | ${count[$design.slow.refused]}/$k | ${count[$design.slow.no_change]}/$k |"
done
echo
echo "model $model, K=$k, run flags: ${*:-defaults}; unpaired sides: --repeat $unpaired_repeat; results in $dir"
