#!/usr/bin/env bash
# Push benchmark on the device lab (root; starts it when needed): a ≥ 2 GiB file to lab-board1 over ssh and to
# lab-adb1 over adb (adbd-standin, a STAND-IN for adbd). For each: plain `scp`/`adb push` of the same file, etbench's
# first push (transfer + size check + rename + manifest), and a re-push of the unchanged file (wall time of
# `etbench run`, bytes on the board's network link). The "model" is random bytes, so each run itself then fails
# (bad .pte header): only the push is measured.
#   scripts/bench-push.sh [SIZE_MIB]   (default 2048)
set -euo pipefail
cd "$(dirname "$0")/.."
size_mib=${1:-2048}
LAB=/tmp/etbench-lab
work=/tmp/etbench-bench-push
cargo build --release --quiet -p etbench -p etbench-ffi
ADBD_STANDIN=target/release/adbd-standin bash scripts/lab/start.sh >/dev/null
rm -rf "$work" && mkdir -p "$work/cache"
file="$work/big.pte"
echo "creating a $size_mib MiB file…" >&2
head -c "$((size_mib << 20))" /dev/urandom > "$file"
bytes=$(stat -c %s "$file")
export ETBENCH_CACHE_DIR="$work/cache" ETBENCH_DEVICES_DIR="$PWD/devices"
now() { date +%s.%N; }
rate() { python3 -c "print(f'{$bytes/1048576/($2-$1):.0f}')"; }
secs() { python3 -c "print(f'{$2-$1:.2f}')"; }
rx() { cat /sys/class/net/etbv-board1/statistics/rx_bytes /sys/class/net/etbv-board1/statistics/tx_bytes | paste -sd+ | bc; }

ssh_opts=(-o UserKnownHostsFile=$LAB/known_hosts -i $LAB/id_ed25519 -o BatchMode=yes -c aes128-gcm@openssh.com)
# Each timed step starts with the page cache's dirty data written back, so no step pays for an earlier one.
etb() { sync; ./target/release/etbench run --device "$1" --model "$file" --iters 1 --format none --out "$work/out-$1-$2" 2>"$work/log-$1-$2" || true; }
pushed_secs() { sed -n 's/.*pushed big.pte ([0-9.]* MiB in \([0-9.]*\) s.*/\1/p' "$1"; }

# Hash once (etbench caches it by size+mtime+inode); timed apart from the transfer.
t0=$(now); ./target/release/etbench run --device local --model "$file" --iters 1 --format none --out "$work/out-hash" 2>/dev/null || true; t1=$(now)
echo "host sha256 of the file (first time only, then cached): $(secs $t0 $t1) s" >&2

echo "| transport | plain tool | MiB/s | etbench first push | MiB/s | ratio | re-push (whole run) | bytes on link |"
echo "|---|---|---|---|---|---|---|---|"
for round in ssh adb; do
    if [ $round = ssh ]; then
        sync; t0=$(now); scp -q "${ssh_opts[@]}" "$file" "bench@198.18.0.11:$LAB/board1/work/scp-copy.bin"; t1=$(now)
        rm -f "$LAB/board1/work/scp-copy.bin"
        dev=lab-board1
    else
        sync; t0=$(now); adb -P 15037 -s 127.0.0.1:17101 push "$file" "$LAB/adb1/work/adb-copy.bin" >/dev/null; t1=$(now)
        rm -f "$LAB/adb1/work/adb-copy.bin"
        dev=lab-adb1
    fi
    base=$(rate $t0 $t1)
    etb $dev first
    s=$(pushed_secs "$work/log-$dev-first")
    [ -n "$s" ] || { cat "$work/log-$dev-first" >&2; exit 1; }
    mine=$(python3 -c "print(f'{$bytes/1048576/$s:.0f}')")
    ratio=$(python3 -c "print(f'{100*$mine/$base:.0f}%')")
    sync; b0=$(rx); t2=$(now); etb $dev again; t3=$(now); b1=$(rx)
    grep -q "already on the device (unchanged)" "$work/log-$dev-again" || { cat "$work/log-$dev-again" >&2; exit 1; }
    link=$([ $round = ssh ] && echo "$((b1 - b0)) B" || echo "n/a (loopback); not pushed")
    echo "| $round | $(secs $t0 $t1) s | $base | ${s} s | $mine | $ratio | $(secs $t2 $t3) s | $link |"
done
rm -rf "$work" "$LAB"/board1/work/models "$LAB"/adb1/work/models
