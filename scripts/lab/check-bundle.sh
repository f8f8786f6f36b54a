#!/usr/bin/env bash
# Checks an Android runner bundle (scripts/bundle-android.sh) where there is no glibc: in an EMPTY root that holds
# only the bundle (/bundle), the model (/models/NAME) and bind mounts of /proc and /sys, aarch64 code running through
# qemu-user (a private binfmt_misc in a user namespace, kernel >= 6.7, flags FP: interpreter opened at registration,
# argv[0] kept; else qemu-aarch64-static copied into the root, said so on stderr).
#   scripts/lab/check-bundle.sh BUNDLE_DIR MODEL.pte [RUNNER_ARGS...]
# Exit 0 when both hold: the plain form `./etbench-runner` fails (no /lib/ld-linux-aarch64.so.1 in that root), and the
# loader form `lib/ld-linux-aarch64.so.1 --library-path lib ./etbench-runner RUNNER_ARGS /models/NAME`, run from
# /bundle, prints a `"type":"summary"` line; 1 otherwise (the outputs are shown); 2 for bad arguments, 77 when this
# machine cannot run the check (no qemu-user-static, no user namespaces).
# RUNNER_ARGS default to one timed iteration without warm-up, in whichever CLI the runner has
# (`--spec '{"warmup":0,"iterations":1}'` or `--iters 1 --warmup 0 --`); the tiny int8 fixture takes ~2 s under qemu.
# Root is not needed where unprivileged user namespaces are allowed.
set -euo pipefail
die() { echo "check-bundle: $*" >&2; exit "${2:-1}"; }
[ $# -ge 2 ] || { sed -n '2,13p' "$0" >&2; exit 2; }
bundle="$(readlink -f "$1")"; model="$(readlink -f "$2")"; shift 2
[ -x "$bundle/etbench-runner" ] && [ -x "$bundle/lib/ld-linux-aarch64.so.1" ] ||
    die "$bundle is not a runner bundle (no etbench-runner or lib/ld-linux-aarch64.so.1)" 2
[ -f "$model" ] || die "no model $model" 2
qemu="$(command -v qemu-aarch64-static || true)"
[ -n "$qemu" ] || die "qemu-aarch64-static missing (apt-get install qemu-user-static)" 77
unshare --user --map-root-user true 2>/dev/null || die "user namespaces are not available here" 77

work="$(mktemp -d "${TMPDIR:-/tmp}/etbench-check-bundle.XXXXXX")"
trap 'rm -rf "$work"' EXIT
root="$work/root"
name="$(basename "$model")"
mkdir -p "$root/bundle" "$root/models" "$root/proc" "$root/sys"
touch "$root/models/$name"
chmod 755 "$root" "$root/models"
: > "$work/args"; [ $# -eq 0 ] || printf '%q ' "$@" > "$work/args"

# Runs inside the user + mount namespace: private binfmt_misc, bind mounts, then both forms under `unshare --root`.
cat > "$work/inner.sh" <<'EOF'
set -u
work="$1" root="$1/root" bundle="$2" model="$3" name="$4" qemu="$5"
via=""
if mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc 2>/dev/null &&
   printf '%s' ":etb-aarch64:M::\x7fELF\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\xb7\x00:\xff\xff\xff\xff\xff\xff\xff\x00\xff\xff\xff\xff\xff\xff\xff\xff\xfe\xff\xff\xff:$qemu:FP" \
       > /proc/sys/fs/binfmt_misc/register 2>/dev/null; then
    echo "check-bundle: aarch64 through a private binfmt_misc (flags FP) + $qemu" >&2
else
    echo "check-bundle: no private binfmt_misc (kernel < 6.7?): qemu-aarch64-static copied into the root as /qemu" >&2
    cp "$qemu" "$root/qemu" && via=/qemu
fi
mount --bind "$bundle" "$root/bundle" && mount -o remount,bind,ro "$root/bundle" &&
mount --bind "$model" "$root/models/$name" &&
mount --rbind /proc "$root/proc" && mount --rbind /sys "$root/sys" || { echo "check-bundle: bind mounts failed" >&2; exit 3; }
run() { unshare --root="$root" --wd=/bundle $via "$@"; }
echo "check-bundle: the root holds: $(cd "$root" && ls -A | tr '\n' ' ')" >&2
run ./etbench-runner --help > "$work/plain.out" 2> "$work/plain.err"; echo $? > "$work/plain.rc"
args="$(cat "$work/args")"
if [ -z "$args" ]; then
    help="$(run lib/ld-linux-aarch64.so.1 --library-path lib ./etbench-runner --help 2>&1)"
    case "$help" in
        *--spec*) args="--spec '{\"warmup\":0,\"iterations\":1}'" ;;
        *--iters*) args="--iters 1 --warmup 0 --" ;;
        *) echo "check-bundle: the loader form's --help names neither --spec nor --iters:"; echo "$help" | head -20 ;;
    esac >&2
fi
echo "$args" > "$work/used-args"
start=$(date +%s.%N)
eval "run lib/ld-linux-aarch64.so.1 --library-path lib ./etbench-runner $args /models/\"\$name\"" \
    > "$work/loader.out" 2> "$work/loader.err"
echo $? > "$work/loader.rc"
echo "$start $(date +%s.%N)" | awk '{printf "%.1f\n", $2 - $1}' > "$work/loader.secs"
EOF
unshare --user --map-root-user --mount --propagation private \
    bash "$work/inner.sh" "$work" "$bundle" "$model" "$name" "$qemu" || die "could not set up the empty root (see above)"

ok=0
plain_rc="$(cat "$work/plain.rc")"; loader_rc="$(cat "$work/loader.rc")"
echo "== plain form: ./etbench-runner --help (exit $plain_rc)"
head -c 2000 "$work/plain.err"; head -c 500 "$work/plain.out"
if [ "$plain_rc" = 0 ]; then
    echo "check-bundle: FAIL: the plain form ran, yet the root has no /lib/ld-linux-aarch64.so.1"; ok=1
elif ! grep -q 'ld-linux-aarch64.so.1' "$work/plain.err"; then
    echo "check-bundle: FAIL: the plain form failed, but not for the missing loader"; ok=1
fi
echo "== loader form: lib/ld-linux-aarch64.so.1 --library-path lib ./etbench-runner $(cat "$work/used-args") /models/$name (exit $loader_rc, $(cat "$work/loader.secs") s)"
cat "$work/loader.out"
echo "-- its stderr (last lines):"; tail -n 15 "$work/loader.err"
if ! grep -q '"type":"summary"' "$work/loader.out"; then
    echo "check-bundle: FAIL: the loader form printed no \"type\":\"summary\" line"; ok=1
elif [ "$loader_rc" != 0 ]; then
    echo "check-bundle: FAIL: the loader form exited $loader_rc"; ok=1
fi
[ $ok = 0 ] && echo "check-bundle: OK: plain form fails without a loader, loader form ran $name"
exit $ok
