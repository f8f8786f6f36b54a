#!/usr/bin/env bash
# Starts etbench's device test lab on this machine (root; idempotent: a running lab is left as is).
#   ssh boards  board1 198.18.0.11:22, board2 198.18.0.12:22   (own network namespaces on bridge etblab0)
#   arm board   arm1   198.18.0.21:2222  (aarch64 binaries run through a private binfmt_misc + qemu-user)
#   adb         private adb server 127.0.0.1:15037; adbd-standin (a STAND-IN for adbd, harness/lab/src/bin/adbd-standin.rs)
#               on 127.0.0.1:17101 (ok), :17102 (unauthorized), :17103 (offline)
#   phone       lab-phone 127.0.0.1:17104: adbd-standin --chroot into a root that looks like Android and holds nothing
#               else (aarch64 busybox in /system/bin, getprop/dumpsys STAND-INs, /data/local/tmp, /proc, /sys with
#               stand-in big.LITTLE cpufreq/thermal/battery nodes where the host lacks them; no /lib, /usr, /etc):
#               aarch64 code runs through a private binfmt_misc + qemu-user, shell commands as uid 2000 (see
#               scripts/lab/phone/); /sdcard -> /storage/emulated/0 is a noexec tmpfs as on Android
#               (scripts/lab/phone/sdcard.sh). Needs busybox-static:arm64 from scripts/lab/setup.sh ($ETBENCH_LAB_CACHE).
#   tiny        an 8 MiB tmpfs at $LAB/tiny (disk-full tests)
#   power       board1 gets STAND-IN power sensors (hwmon0, a root-only intel-rapl:0) in its /sys/class, written
#               by scripts/lab/board-energy.sh into $LAB/board1/sysclass (tests change them while the lab runs);
#               the phone's stand-in power_supply tree is $LAB/phone/sysfs/tree/class/power_supply
# Logins: user `bench` (uid 4242, /bin/sh) from a private /etc/passwd bind-mounted in each board's mount namespace;
# the host's /etc/passwd is untouched. Every process started is recorded in $LAB/pids; scripts/lab/stop.sh ends them.
# Env: ETBENCH_LAB_DIR (default /tmp/etbench-lab; the devices/lab-*.toml profiles assume the default),
#      ADBD_STANDIN (the stand-in binary; default target/debug/adbd-standin, else target/release/…),
#      ETBENCH_LAB_CACHE (default /var/cache/etbench-lab: busybox-static:arm64 unpacked by setup.sh).
set -euo pipefail
cd "$(dirname "$0")/../.." && cd "$(pwd -P)"
LAB="${ETBENCH_LAB_DIR:-/tmp/etbench-lab}"
BR=etblab0
ADB_PORT=15037
PHONE_PORT=17104
CACHE="${ETBENCH_LAB_CACHE:-/var/cache/etbench-lab}"

die() { echo "lab: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || die "needs root (network namespaces, tmpfs, sshd)"
for tool in ip unshare /usr/sbin/sshd ssh-keygen adb; do
    command -v "$tool" >/dev/null || die "$tool missing: apt-get install iproute2 util-linux openssh-server openssh-client adb"
done

alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }
if [ -f "$LAB/up" ] && alive "$LAB/board1/sshd.pid" && alive "$LAB/board2/sshd.pid" && alive "$LAB/adb1.pid" &&
   { [ ! -f "$LAB/phone.pid" ] || alive "$LAB/phone.pid"; }; then
    echo "lab: already up ($LAB)"; exit 0
fi
bash scripts/lab/stop.sh >/dev/null 2>&1 || true

standin="${ADBD_STANDIN:-}"
if [ -z "$standin" ]; then
    for c in target/debug/adbd-standin target/release/adbd-standin; do [ -x "$c" ] && standin="$c" && break; done
fi
[ -n "$standin" ] && [ -x "$standin" ] || die "adbd-standin not built: cargo build -p etbench-lab --bin adbd-standin (or set ADBD_STANDIN)"
standin="$(readlink -f "$standin")"

mkdir -p "$LAB"
chmod 755 "$LAB"
: > "$LAB/pids"
record() { echo "$1 $2" >> "$LAB/pids"; }

# --- keys and accounts ---------------------------------------------------------------------------------------
ssh-keygen -q -t ed25519 -N '' -C etbench-lab -f "$LAB/id_ed25519" <<< y >/dev/null
ssh-keygen -q -t ed25519 -N '' -C etbench-lab-wrong -f "$LAB/id_wrong" <<< y >/dev/null
cp "$LAB/id_ed25519.pub" "$LAB/authorized_keys"
chmod 644 "$LAB/authorized_keys"
grep -v '^bench:' /etc/passwd > "$LAB/passwd"
echo "bench:x:4242:4242:etbench lab:$LAB/home:/bin/sh" >> "$LAB/passwd"
mkdir -p "$LAB/home" && chown 4242:4242 "$LAB/home"
: > "$LAB/known_hosts"; : > "$LAB/known_hosts_empty"; : > "$LAB/known_hosts_acceptnew"
mkdir -p /run/sshd

# --- disk-full target (mounted before the boards start: their mount namespaces copy the host's) ----------
mkdir -p "$LAB/tiny"
mount -t tmpfs -o size=8m,mode=0755,uid=4242,gid=4242 etbench-lab-tiny "$LAB/tiny"

# --- network: a bridge on the host, one namespace per board ----------------------------------------------------
ip link add "$BR" type bridge
ip addr add 198.18.0.1/24 dev "$BR"
ip link set "$BR" up

board() { # name address port [arm]
    local name=$1 addr=$2 port=$3 arm=${4:-}
    local ns="etb-$name" dir="$LAB/$name"
    rm -rf "$dir" && mkdir -p "$dir/work" && chown 4242:4242 "$dir" "$dir/work"
    ssh-keygen -q -t ed25519 -N '' -f "$dir/host_ed25519" <<< y >/dev/null
    if [ "$port" = 22 ]; then
        echo "$addr $(cut -d' ' -f1,2 "$dir/host_ed25519.pub")" >> "$LAB/known_hosts"
    else
        echo "[$addr]:$port $(cut -d' ' -f1,2 "$dir/host_ed25519.pub")" >> "$LAB/known_hosts"
    fi
    cat > "$dir/sshd_config" <<EOF
ListenAddress $addr:$port
HostKey $dir/host_ed25519
PidFile $dir/sshd-own.pid
AuthorizedKeysFile $LAB/authorized_keys
UsePAM no
PasswordAuthentication no
KbdInteractiveAuthentication no
PubkeyAuthentication yes
StrictModes no
AllowUsers bench
Subsystem sftp internal-sftp
EOF
    [ -n "$arm" ] && echo "SetEnv QEMU_LD_PREFIX=/usr/aarch64-linux-gnu" >> "$dir/sshd_config"
    # Boards do not see this checkout's target/: the runner must find the libraries etbench shipped with it.
    local hide="mount -t tmpfs etbench-lab-hide '$PWD/target' &&"
    ip netns add "$ns"
    ip link add "etbv-$name" type veth peer name eth0 netns "$ns"
    ip link set "etbv-$name" master "$BR" up
    ip -n "$ns" addr add "$addr/24" dev eth0
    ip -n "$ns" link set eth0 up
    ip -n "$ns" link set lo up
    if [ -z "$arm" ]; then
        ip netns exec "$ns" unshare --mount --propagation private \
            sh -c "mount --bind '$LAB/passwd' /etc/passwd && $hide exec /usr/sbin/sshd -D -e -f '$dir/sshd_config'" \
            > "$dir/sshd.log" 2>&1 &
    else
        # A user namespace owns a private binfmt_misc (kernel >= 6.7): aarch64 ELF files run through qemu-user.
        # The namespace maps uids 0-65535 to themselves (written from here: util-linux 2.38 needs newuidmap for
        # that), so sshd can still switch to the login user.
        rm -f "$dir/go" && mkfifo "$dir/go"
        ip netns exec "$ns" unshare --user --mount --propagation private \
            sh -c "read go < '$dir/go' && mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc &&
                   printf '%s' ':etb-aarch64:M::\\x7fELF\\x02\\x01\\x01\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x02\\x00\\xb7\\x00:\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\x00\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xfe\\xff\\xff\\xff:/usr/bin/qemu-aarch64-static:F' > /proc/sys/fs/binfmt_misc/register &&
                   mount --bind '$LAB/passwd' /etc/passwd && $hide exec /usr/sbin/sshd -D -e -f '$dir/sshd_config'" \
            > "$dir/sshd.log" 2>&1 &
        local pid=$!
        for _ in $(seq 1 50); do
            [ "$(readlink /proc/$pid/ns/user 2>/dev/null)" != "$(readlink /proc/self/ns/user)" ] && break
            sleep 0.05
        done
        echo "0 0 65536" > /proc/$pid/uid_map
        echo "0 0 65536" > /proc/$pid/gid_map
        echo go > "$dir/go"
    fi
    echo $! > "$dir/sshd.pid"
    record "$!" "sshd $name"
}
board board1 198.18.0.11 22
board board2 198.18.0.12 22
if command -v qemu-aarch64-static >/dev/null && [ -d /usr/aarch64-linux-gnu/lib ]; then
    board arm1 198.18.0.21 2222 arm
else
    echo "lab: no arm1 board (apt-get install qemu-user-static g++-aarch64-linux-gnu)" >&2
fi


# --- adb: a private server and three stand-in devices ----------------------------------------------------------
mkdir -p "$LAB/adbhome"
standin_dev() { # name port [flag]
    local name=$1 port=$2 flag=${3:-}
    mkdir -p "$LAB/$name/bin" "$LAB/$name/work"
    # getprop of the stand-in: fixed values, named as such.
    cat > "$LAB/$name/bin/getprop" <<'EOF'
#!/bin/sh
echo "[ro.product.model]: [adbd-STANDIN]"
echo "[ro.product.manufacturer]: [etbench lab]"
echo "[ro.build.version.release]: [stand-in]"
EOF
    chmod +x "$LAB/$name/bin/getprop"
    "$standin" --listen "127.0.0.1:$port" --root "$LAB/$name" --name "$name" $flag > "$LAB/$name.log" 2>&1 &
    echo $! > "$LAB/$name.pid"
    record "$!" "adbd-standin $name"
}
standin_dev adb1 17101
standin_dev adbunauth 17102 --unauthorized
standin_dev adboffline 17103 --offline

# --- lab-phone: an Android-looking root behind a fourth stand-in (a STAND-IN phone, not Android) ---------------
rm -f "$LAB/phone.pid"
phone_dev() { # name port
    local name=$1 port=$2 dir="$LAB/$1" busybox="$CACHE/busybox-static/bin/busybox"
    local root="$dir/root"
    for m in "$root/proc" "$root/sys" "$root/data"; do   # the phone's mounts are private to its namespace
        ! mountpoint -q "$m" 2>/dev/null || die "$m is a mount point on the host: not removing $dir"
    done
    rm -rf "$dir" && mkdir -p "$root"/system/bin "$root"/system/etc "$root"/data "$root"/proc "$root"/sys "$root"/dev
    install -m 0755 "$busybox" "$root/system/bin/busybox"
    for applet in $(qemu-aarch64-static "$busybox" --list); do
        case "$applet" in busybox|getprop|dumpsys) ;; *) ln -s busybox "$root/system/bin/$applet" ;; esac
    done
    install -m 0755 scripts/lab/phone/getprop scripts/lab/phone/dumpsys "$root/system/bin/"
    for d in null zero random urandom; do touch "$root/dev/$d"; done
    # /data as on Android: /data system 0771, /data/local root 0751, /data/local/tmp shell (2000) 0771.
    mkdir -p "$dir/data/local/tmp"
    chown 1000:1000 "$dir/data" && chmod 0771 "$dir/data"
    chmod 0751 "$dir/data/local"
    chown 2000:2000 "$dir/data/local/tmp" && chmod 0771 "$dir/data/local/tmp"
    local layout
    layout="$(bash scripts/lab/phone/sysfs-standin.sh "$dir/sysfs")"
    cat > "$root/system/build.prop" <<EOF
# /system/build.prop of the etbench lab phone, a STAND-IN written by scripts/lab/start.sh: not Android but a chroot
# with busybox, aarch64 code through qemu-user on this $(uname -m) host; getprop answers from this file.
ro.product.model=etbench lab phone (STAND-IN)
ro.product.manufacturer=etbench lab (STAND-IN)
ro.product.brand=etbench
ro.product.name=etbench_standin
ro.product.device=etbench_standin
ro.product.cpu.abi=arm64-v8a
ro.product.cpu.abilist=arm64-v8a
ro.product.cpu.abilist64=arm64-v8a
ro.soc.manufacturer=etbench lab (STAND-IN)
ro.soc.model=STAND-IN: qemu-aarch64 on $(uname -m)
ro.hardware=etbench_standin
ro.board.platform=etbench_standin
ro.build.version.release=15
ro.build.version.sdk=35
ro.build.type=userdebug
ro.build.fingerprint=etbench/etbench_standin/etbench_standin:15/STANDIN/0:userdebug/test-keys
ro.build.description=etbench lab phone STAND-IN (busybox chroot, qemu-user, adbd-standin)
ro.etbench.standin=1
ro.etbench.standin.sysfs=$layout
EOF
    rm -f "$dir/go" && mkfifo "$dir/go"
    unshare --user --mount --uts --propagation private sh scripts/lab/phone/ns-setup.sh "$dir" "$standin" "$port" "$name" \
        > "$LAB/$name.log" 2>&1 &
    local pid=$!
    for _ in $(seq 1 50); do
        [ "$(readlink /proc/$pid/ns/user 2>/dev/null)" != "$(readlink /proc/self/ns/user)" ] && break
        sleep 0.05
    done
    echo "0 0 65536" > /proc/$pid/uid_map
    echo "0 0 65536" > /proc/$pid/gid_map
    echo go > "$dir/go"
    echo "$pid" > "$LAB/$name.pid"
    record "$pid" "adbd-standin $name (chroot)"
    # Shell commands it starts may outlive it: stop.sh ends what is left in this mount namespace.
    readlink "/proc/$pid/ns/mnt" > "$dir/mntns" || true
}
if command -v qemu-aarch64-static >/dev/null && [ -x "$CACHE/busybox-static/bin/busybox" ]; then
    phone_dev phone "$PHONE_PORT"
else
    echo "lab: no lab-phone (needs qemu-user-static and busybox-static:arm64: scripts/lab/setup.sh)" >&2
fi
HOME="$LAB/adbhome" ANDROID_ADB_SERVER_PORT=$ADB_PORT adb -L tcp:localhost:$ADB_PORT server nodaemon > "$LAB/adb-server.log" 2>&1 &
echo $! > "$LAB/adb-server.pid"
record "$!" "adb server"

# --- wait until everything answers -----------------------------------------------------------------------------
for i in $(seq 1 50); do
    ok=1
    for a in 198.18.0.11:22 198.18.0.12:22; do
        timeout 1 bash -c "exec 3<>/dev/tcp/${a%:*}/${a#*:}" 2>/dev/null || ok=0
    done
    [ -d "$LAB/arm1" ] && { timeout 1 bash -c "exec 3<>/dev/tcp/198.18.0.21/2222" 2>/dev/null || ok=0; }
    adb -P $ADB_PORT devices >/dev/null 2>&1 || ok=0
    [ $ok = 1 ] && break
    sleep 0.2
done
[ $ok = 1 ] || { tail -n 5 "$LAB"/*/sshd.log "$LAB/adb-server.log" >&2; die "lab did not come up"; }
# The phone is extra: when it does not answer, the rest of the lab is still up.
if [ -f "$LAB/phone.pid" ]; then
    for i in $(seq 1 25); do
        timeout 1 bash -c "exec 3<>/dev/tcp/127.0.0.1/$PHONE_PORT" 2>/dev/null && break
        [ "$i" = 25 ] && { tail -n 5 "$LAB/phone.log" >&2; echo "lab: lab-phone did not come up (see $LAB/phone.log)" >&2; rm -f "$LAB/phone.pid"; }
        sleep 0.2
    done
fi
for port in 17101 17102 17103 $([ -f "$LAB/phone.pid" ] && echo $PHONE_PORT); do adb -P $ADB_PORT connect "127.0.0.1:$port" >/dev/null 2>&1 || true; done
# The phone's shared storage, noexec as on Android (/sdcard -> /storage/emulated/0).
bash scripts/lab/board-energy.sh board1 "$LAB" >/dev/null || echo "lab: no stand-in power sensors on board1" >&2
[ -f "$LAB/phone.pid" ] && { ETBENCH_LAB_DIR="$LAB" bash scripts/lab/phone/sdcard.sh >/dev/null || echo "lab: no /sdcard on lab-phone" >&2; }
touch "$LAB/up"
echo "lab: up ($LAB): board1 198.18.0.11, board2 198.18.0.12$([ -d "$LAB/arm1" ] && echo ', arm1 198.18.0.21:2222'), adb server :$ADB_PORT$([ -f "$LAB/phone.pid" ] && echo ", lab-phone 127.0.0.1:$PHONE_PORT")"
