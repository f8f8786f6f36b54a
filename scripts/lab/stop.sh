#!/usr/bin/env bash
# Stops the device test lab started by scripts/lab/start.sh: ends exactly the processes recorded in $LAB/pids,
# then removes the namespaces, the bridge and the tmpfs, and ends what is left in the lab phone's mount namespace.
# Safe to run when nothing is up.
set -uo pipefail
LAB="${ETBENCH_LAB_DIR:-/tmp/etbench-lab}"
if [ -f "$LAB/pids" ]; then
    while read -r pid what; do
        kill "$pid" 2>/dev/null && echo "lab: stopped $what ($pid)"
    done < "$LAB/pids"
    sleep 0.3
    while read -r pid what; do kill -9 "$pid" 2>/dev/null; done < "$LAB/pids"
    rm -f "$LAB/pids"
fi
rm -f "$LAB/up"
# sshd's per-connection session processes outlive the listener: end everything left in the lab's namespaces.
for ns in etb-board1 etb-board2 etb-arm1; do
    ip netns pids "$ns" 2>/dev/null | xargs -r kill -9 2>/dev/null
    ip netns del "$ns" 2>/dev/null
done
for link in etbv-board1 etbv-board2 etbv-arm1 etblab0; do ip link del "$link" 2>/dev/null; done
# lab-phone: shell commands its stand-in started may outlive it; end what is left in the phone's own mount namespace
# (recorded by start.sh; its mounts go with the last process in it).
if [ -s "$LAB/phone/mntns" ]; then
    ns="$(cat "$LAB/phone/mntns")"
    if [ "$ns" != "$(readlink /proc/self/ns/mnt)" ]; then
        for p in /proc/[0-9]*; do
            [ "$(readlink "$p/ns/mnt" 2>/dev/null)" = "$ns" ] && kill -9 "${p#/proc/}" 2>/dev/null && echo "lab: stopped phone process ${p#/proc/}"
        done
    fi
    rm -f "$LAB/phone/mntns"
fi
mountpoint -q "$LAB/tiny" 2>/dev/null && umount "$LAB/tiny"
# ssh control masters of lab boards die with their connections; remove stale sockets.
rm -f "${TMPDIR:-/tmp}/etbench-ssh-$(id -u)"/* 2>/dev/null
exit 0
