# The lab phone's namespace (scripts/lab/start.sh runs this with `unshare --user --mount --uts`, after mapping uids
# 0-65535 to themselves): a private binfmt_misc sends aarch64 ELF files to qemu-user (flags F: the interpreter is
# opened now, so the phone's root need not hold it; P: argv[0] is kept, which busybox's applets need); the root is
# read-only but for /data; /proc and /sys are the host's, with the stand-in sysfs nodes and /proc/cpuinfo bound over
# them; the host name is "localhost"; then adbd-standin serves it, every shell command chrooted into it as uid 2000.
#   sh ns-setup.sh DIR STANDIN PORT NAME       (DIR holds root/, data/, sysfs/{tree,overlays,proc-cpuinfo}, go)
set -eu
dir=$1 standin=$2 port=$3 name=$4
root="$dir/root"
read -r go < "$dir/go"
hostname localhost
mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc
printf '%s' ':etb-aarch64:M::\x7fELF\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\xb7\x00:\xff\xff\xff\xff\xff\xff\xff\x00\xff\xff\xff\xff\xff\xff\xff\xff\xfe\xff\xff\xff:/usr/bin/qemu-aarch64-static:FP' \
    > /proc/sys/fs/binfmt_misc/register
mount --bind "$root" "$root"
mount -o remount,bind,ro "$root"
mount --bind "$dir/data" "$root/data"
mount --rbind /proc "$root/proc"
mount --rbind /sys "$root/sys"
while read -r rel; do
    mount --bind "$dir/sysfs/tree/$rel" "$root/sys/$rel"
done < "$dir/sysfs/overlays"
if [ -f "$dir/sysfs/proc-cpuinfo" ]; then mount --bind "$dir/sysfs/proc-cpuinfo" "$root/proc/cpuinfo"; fi
for d in null zero random urandom; do mount --bind "/dev/$d" "$root/dev/$d"; done
exec "$standin" --listen "127.0.0.1:$port" --chroot "$root" --shell-uid 2000 --name "$name"
