#!/usr/bin/env bash
# STAND-IN power sensors for a lab board (this VM has no hwmon or powercap: NOTES §10). Inside the board's own
# mount namespace, /sys/class becomes a copy of the board's real /sys/class (its entries are symlinks into the
# real /sys/devices, so everything else stays real) plus two stand-in classes written here, not read from hardware:
#   hwmon/hwmon0      an INA3221-like chip: power1_input (µW, "VDD_IN"), curr2_input (mA) + in2_input (mV, "VDD_CPU")
#   powercap/intel-rapl:0  a RAPL package counter (energy_uj, max_energy_range_uj), mode 0400 root: the board's
#                     user cannot read it, as on kernels since 5.10
# Tests change the values while the lab runs by writing into $LAB/<board>/sysclass/{hwmon,powercap}/... on the host.
#   bash scripts/lab/board-energy.sh [BOARD] [LAB_DIR]     (root; idempotent; start.sh runs it for board1)
set -euo pipefail
board="${1:-board1}"
LAB="${2:-${ETBENCH_LAB_DIR:-/tmp/etbench-lab}}"
dir="$LAB/$board" class="$LAB/$board/sysclass"
die() { echo "lab board-energy: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || die "needs root"
pid="$(cat "$dir/sshd.pid" 2>/dev/null)" || die "no lab board $board ($dir/sshd.pid)"
kill -0 "$pid" 2>/dev/null || die "the lab board $board (pid $pid) is not running"
if nsenter -t "$pid" -m test -e /sys/class/hwmon/etbench-standin; then
    exit 0
fi
rm -rf "$class" && mkdir -p "$class"
# The board's own /sys/class entries (its network namespace's net class included): the symlinks into /sys/devices
# (class-level attribute files such as zram-control's are left out).
nsenter -t "$pid" -m -n sh -c 'for c in /sys/class/*; do mkdir -p "$1/${c##*/}"; for e in "$c"/*; do [ -L "$e" ] && cp -P "$e" "$1/${c##*/}/"; done; done; true' sh "$class"
put() { mkdir -p "$(dirname "$1")" && printf '%s\n' "$2" > "$1"; }
mark() { echo "etbench lab STAND-IN ($1): written by scripts/lab/board-energy.sh, not read from hardware" > "$2/etbench-standin"; }
h="$class/hwmon/hwmon0"
rm -rf "$class/hwmon" && mkdir -p "$h"
put "$h/name" ina3221
put "$h/power1_input" 2500000; put "$h/power1_label" VDD_IN
put "$h/curr2_input" 400; put "$h/in2_input" 5000; put "$h/curr2_label" VDD_CPU; put "$h/in2_label" VDD_CPU
mark "hwmon" "$class/hwmon"
r="$class/powercap/intel-rapl:0"
rm -rf "$class/powercap" && mkdir -p "$r"
put "$r/name" package-0; put "$r/energy_uj" 1000000; put "$r/max_energy_range_uj" 262143328850
chmod 0400 "$r/energy_uj"
mark "powercap" "$class/powercap"
nsenter -t "$pid" -m mount --bind "$class" /sys/class
echo "lab board-energy: STAND-IN hwmon0 (ina3221) and intel-rapl:0 (root-only) on $board"
