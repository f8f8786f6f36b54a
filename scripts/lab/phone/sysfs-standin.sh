#!/usr/bin/env bash
# The lab phone's STAND-IN /sys nodes (scripts/lab/start.sh): where this host lacks what a phone has, a replacement
# tree is written to OUT/tree and the sysfs paths to bind it over are listed in OUT/overlays (one path relative to
# /sys a line); the real /sys is bind-mounted first, so everything else stays real.
#   scripts/lab/phone/sysfs-standin.sh OUT
# - CPUs (when a CPU lacks cpufreq or cpu_capacity): every devices/system/cpu/cpuN becomes a snapshot of the real
#   directory plus a big.LITTLE layout with as many CPUs as this host has (affinity masks must name real CPUs):
#   1 CPU: 1 big; 2: 1 little + 1 big; n >= 3: n/2 little, the rest but one mid, 1 big (8 -> 4+3+1). Each gets
#   cpu_capacity (512 little, 768 mid, 1024 big), cpufreq/{scaling_cur_freq,cpuinfo_max_freq,cpuinfo_min_freq,
#   scaling_governor,related_cpus,...} and topology/cluster_{id,cpus,cpus_list} of its cluster; devices/system/cpu/
#   cpufreq gets policyN links.
#   Each also gets regs/identification/midr_el1 (Cortex-A55 little, A78 mid, X1 big: what ExecuTorch's
#   get_num_performant_cores reads) and, on a host that is not aarch64, OUT/proc-cpuinfo, an arm64-style
#   /proc/cpuinfo with the same cores (start.sh binds it over /proc/cpuinfo; ISA features still come from qemu's
#   AT_HWCAP).
# - class/thermal (when it has no thermal_zone*): one zone per cluster and a battery zone, types *-standin.
# - class/power_supply (when no supply has a capacity): battery/{capacity,status,temp,...}.
# Every replaced directory holds a file `etbench-standin` saying so. Prints one line describing the layout.
set -euo pipefail
out="$1"
sys="${ETBENCH_SYSFS:-/sys}"
tree="$out/tree"
rm -rf "$out" && mkdir -p "$tree"
: > "$out/overlays"
mark() { echo "etbench lab STAND-IN ($1): written by scripts/lab/phone/sysfs-standin.sh, not read from hardware" > "$2/etbench-standin"; }
put() { mkdir -p "$(dirname "$1")" && printf '%s\n' "$2" > "$1"; }
# "0 1 2 5" -> "0-2,5"
cpulist() {
    local out="" start="" prev=""
    for c in "$@"; do
        if [ -n "$prev" ] && [ "$c" = $((prev + 1)) ]; then prev=$c; continue; fi
        [ -n "$start" ] && out+="$([ "$start" = "$prev" ] && echo "$start" || echo "$start-$prev"),"
        start=$c; prev=$c
    done
    [ -n "$start" ] && out+="$([ "$start" = "$prev" ] && echo "$start" || echo "$start-$prev")"
    echo "$out"
}
cpumask() { local m=0; for c in "$@"; do m=$((m | (1 << c))); done; printf '%x\n' "$m"; }

mapfile -t cpus < <(cd "$sys/devices/system/cpu" && ls -d cpu[0-9]* | sed 's/^cpu//' | sort -n)
n=${#cpus[@]}
[ "$n" -ge 1 ] || { echo "sysfs-standin: no CPUs under $sys/devices/system/cpu" >&2; exit 1; }
need_cpu=""
for c in "${cpus[@]}"; do
    [ -f "$sys/devices/system/cpu/cpu$c/cpufreq/scaling_cur_freq" ] && [ -f "$sys/devices/system/cpu/cpu$c/cpu_capacity" ] || need_cpu=1
done
layout="real CPUs ($n, cpufreq and cpu_capacity from the host)"
names=(little mid big)
if [ -n "$need_cpu" ]; then
    if [ "$n" -eq 1 ]; then counts=(0 0 1); elif [ "$n" -eq 2 ]; then counts=(1 0 1); else counts=($((n / 2)) $((n - n / 2 - 1)) 1); fi
    capacity=(512 768 1024)
    min_khz=(300000 400000 500000); max_khz=(1800000 2400000 2900000); cur_khz=(1200000 1800000 2400000)
    cores=(Cortex-A55 Cortex-A78 Cortex-X1); variant=(0x2 0x1 0x1); part=(0xd05 0xd41 0xd44); revision=(0 1 0)
    cpuinfo=""
    i=0; desc=()
    for k in 0 1 2; do
        [ "${counts[$k]}" -gt 0 ] || continue
        members=("${cpus[@]:$i:${counts[$k]}}"); i=$((i + counts[k]))
        list="$(cpulist "${members[@]}")"; mask="$(cpumask "${members[@]}")"
        desc+=("${counts[$k]} ${names[$k]} ${cores[$k]} (cpu$list, capacity ${capacity[$k]}, max ${max_khz[$k]} kHz)")
        eval "cluster_$k=(${members[*]})"
        for c in "${members[@]}"; do
            d="$tree/devices/system/cpu/cpu$c"
            mkdir -p "$d"
            cp -rP --no-preserve=all "$sys/devices/system/cpu/cpu$c/." "$d/" 2>/dev/null || true
            rm -rf "$d/cpufreq"
            put "$d/cpu_capacity" "${capacity[$k]}"
            f="$d/cpufreq"
            put "$f/cpuinfo_min_freq" "${min_khz[$k]}"; put "$f/cpuinfo_max_freq" "${max_khz[$k]}"
            put "$f/scaling_min_freq" "${min_khz[$k]}"; put "$f/scaling_max_freq" "${max_khz[$k]}"
            put "$f/scaling_cur_freq" "${cur_khz[$k]}"; put "$f/cpuinfo_cur_freq" "${cur_khz[$k]}"
            put "$f/scaling_governor" schedutil; put "$f/scaling_available_governors" "schedutil performance powersave"
            put "$f/scaling_driver" etbench-standin
            put "$f/related_cpus" "${members[*]}"; put "$f/affected_cpus" "${members[*]}"
            put "$d/topology/cluster_id" "$k"; put "$d/topology/cluster_cpus_list" "$list"; put "$d/topology/cluster_cpus" "$mask"
            put "$d/regs/identification/midr_el1" "$(printf '0x%016x' $(( (0x41 << 24) | (${variant[$k]} << 20) | (0xf << 16) | (${part[$k]} << 4) | ${revision[$k]} )))"
            put "$d/regs/identification/revidr_el1" 0x0000000000000000
            cpuinfo+="$(printf 'processor\t: %s\nBogoMIPS\t: 49.15\nFeatures\t: %s\nCPU implementer\t: 0x41\nCPU architecture: 8\nCPU variant\t: %s\nCPU part\t: %s\nCPU revision\t: %s' \
                "$c" "fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp cpuid asimdrdm lrcpc dcpop asimddp" \
                "${variant[$k]}" "${part[$k]}" "${revision[$k]}")"$'\n\n'
            mark "cpu$c: cpu_capacity, cpufreq, cluster topology of a ${names[$k]} core; the rest is a snapshot of the host's" "$d"
            mark "cpufreq of a ${names[$k]} core" "$f"
            echo "devices/system/cpu/cpu$c" >> "$out/overlays"
        done
        if [ -d "$sys/devices/system/cpu/cpufreq" ]; then
            mkdir -p "$tree/devices/system/cpu/cpufreq"
            ln -s "../cpu${members[0]}/cpufreq" "$tree/devices/system/cpu/cpufreq/policy${members[0]}"
        fi
    done
    if [ -d "$sys/devices/system/cpu/cpufreq" ]; then
        mark "cpufreq policies" "$tree/devices/system/cpu/cpufreq"
        echo "devices/system/cpu/cpufreq" >> "$out/overlays"
    fi
    if [ "$(uname -m)" != aarch64 ]; then
        printf '%sHardware\t: etbench lab STAND-IN (qemu-user on %s)\n' "$cpuinfo" "$(uname -m)" > "$out/proc-cpuinfo"
        desc+=("STAND-IN /proc/cpuinfo")
    fi
    layout="STAND-IN big.LITTLE: $(IFS=';'; echo "${desc[*]}" | sed 's/;/; /g')"
fi
zones=""
if [ -d "$sys/class/thermal" ] && ! compgen -G "$sys/class/thermal/thermal_zone*" >/dev/null; then
    t="$tree/class/thermal"; z=0
    for k in 0 1 2; do
        eval "members=(\${cluster_$k[@]:-})"
        [ -n "${members[0]:-}" ] || continue
        put "$t/thermal_zone$z/type" "cpu-${names[$k]}-standin"; put "$t/thermal_zone$z/temp" "$((36000 + 3000 * k))"
        put "$t/thermal_zone$z/mode" enabled; put "$t/thermal_zone$z/policy" step_wise
        z=$((z + 1))
    done
    if [ "$z" = 0 ]; then
        put "$t/thermal_zone$z/type" cpu-standin; put "$t/thermal_zone$z/temp" 38000
        put "$t/thermal_zone$z/mode" enabled; put "$t/thermal_zone$z/policy" step_wise
        z=$((z + 1))
    fi
    put "$t/thermal_zone$z/type" battery-standin; put "$t/thermal_zone$z/temp" 27000
    put "$t/thermal_zone$z/mode" enabled; put "$t/thermal_zone$z/policy" step_wise
    mark "thermal zones" "$t"
    echo "class/thermal" >> "$out/overlays"
    zones="thermal_zone0-$z"
fi
battery=""
if [ -d "$sys/class/power_supply" ] && ! compgen -G "$sys/class/power_supply/*/capacity" >/dev/null; then
    b="$tree/class/power_supply/battery"
    put "$b/type" Battery; put "$b/present" 1; put "$b/status" Discharging; put "$b/health" Good
    put "$b/capacity" 80; put "$b/temp" 270; put "$b/voltage_now" 3950000; put "$b/technology" Li-ion
    put "$b/model_name" "etbench lab STAND-IN battery"
    mark "battery" "$b"; mark "power supplies" "$tree/class/power_supply"
    echo "class/power_supply" >> "$out/overlays"
    battery="battery"
fi
echo "$layout${zones:+; STAND-IN thermal $zones}${battery:+; STAND-IN battery}"
