#!/usr/bin/env bash
# Shared storage on the etbench lab phone (a STAND-IN): Android mounts /sdcard (-> /storage/emulated/0) noexec, so a
# work_dir there cannot start programs. This gives the lab phone the same: a small tmpfs mounted
# noexec,nosuid,nodev on /storage/emulated inside the phone's own mount namespace, /storage/emulated/0 owned by the
# shell user (2000), and the symlinks /sdcard -> /storage/self/primary -> /storage/emulated/0 as on Android.
#   bash scripts/lab/phone/sdcard.sh [LAB_DIR]     (root; idempotent; start.sh runs it, tests may run it again)
# Works on a phone that is already up (nsenter into the mount namespace of its adbd-standin, $LAB/phone.pid).
set -euo pipefail
LAB="${1:-${ETBENCH_LAB_DIR:-/tmp/etbench-lab}}"
dir="$LAB/phone" root="$LAB/phone/root"
die() { echo "lab sdcard: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || die "needs root"
pid="$(cat "$LAB/phone.pid" 2>/dev/null)" || die "no lab phone ($LAB/phone.pid)"
kill -0 "$pid" 2>/dev/null || die "the lab phone (pid $pid) is not running"
[ -d "$root/system" ] || die "$root is not the lab phone's root"
# The phone's root is mounted read-only inside its namespace; the directories and links are made from the host side.
mkdir -p "$root/storage/emulated" "$root/storage/self"
[ -L "$root/storage/self/primary" ] || ln -s /storage/emulated/0 "$root/storage/self/primary"
[ -L "$root/sdcard" ] || ln -s /storage/self/primary "$root/sdcard"
if nsenter -t "$pid" -m findmnt -n "$root/storage/emulated" >/dev/null 2>&1; then
    exit 0
fi
nsenter -t "$pid" -m sh -c "
    mount -t tmpfs -o noexec,nosuid,nodev,size=16m,mode=0711 etbench-lab-sdcard '$root/storage/emulated' &&
    mkdir -p '$root/storage/emulated/0' && chown 2000:2000 '$root/storage/emulated/0' && chmod 0771 '$root/storage/emulated/0'"
echo "lab sdcard: /sdcard -> /storage/emulated/0 (tmpfs, noexec) on the lab phone"
