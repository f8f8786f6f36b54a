//! What a remote device is: one shell script (POSIX sh; toybox and busybox work) reads `uname`, `/proc/cpuinfo`,
//! `/proc/meminfo`, cpufreq per core, thermal zones, batteries and, on Android, `getprop`; the host parses it into
//! [`ProbedInfo`] (recorded with every result) and the [`SystemInfo`] summary.

use std::collections::BTreeMap;

use etbench_protocol::{Battery, CpuCondition, DeviceFacts, ThermalZone};

use crate::results::{ProbedInfo, SystemInfo};

/// The probe; each section starts with a `@@name` line.
pub const SCRIPT: &str = r#"echo @@uname; uname -a
echo @@arch; uname -m
echo @@kernel; uname -r
echo @@hostname; hostname 2>/dev/null || cat /proc/sys/kernel/hostname
echo @@os; cat /etc/os-release 2>/dev/null
echo @@getprop; getprop 2>/dev/null | grep -E '^\[(ro\.product\.(model|manufacturer|device)|ro\.soc\.(model|manufacturer)|ro\.board\.platform|ro\.hardware|ro\.build\.(version\.release|version\.sdk|fingerprint))\]'
echo @@cpuinfo; cat /proc/cpuinfo
echo @@meminfo; cat /proc/meminfo
echo @@cpufreq; for d in /sys/devices/system/cpu/cpu[0-9]*; do [ -d "$d/cpufreq" ] && echo "${d##*/cpu} $(cat "$d/cpufreq/scaling_cur_freq" 2>/dev/null) $(cat "$d/cpufreq/cpuinfo_max_freq" 2>/dev/null) $(cat "$d/cpufreq/scaling_governor" 2>/dev/null)"; done
echo @@thermal; for z in /sys/class/thermal/thermal_zone*; do [ -d "$z" ] && echo "$(cat "$z/type" 2>/dev/null) $(cat "$z/temp" 2>/dev/null)"; done
echo @@battery; for b in /sys/class/power_supply/*; do [ -f "$b/capacity" ] && echo "${b##*/} $(cat "$b/capacity" 2>/dev/null) $(cat "$b/status" 2>/dev/null)"; done
echo @@nproc; nproc 2>/dev/null || getconf _NPROCESSORS_ONLN
true
"#;

fn sections(text: &str) -> BTreeMap<&str, Vec<&str>> {
    let mut map: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    let mut current = "";
    for line in text.lines() {
        match line.strip_prefix("@@") {
            Some(name) => current = name.trim(),
            None => map.entry(current).or_default().push(line),
        }
    }
    map
}

fn kv<'a>(lines: &[&'a str], sep: char, key: &str) -> Option<&'a str> {
    lines.iter().find_map(|l| {
        let (k, v) = l.split_once(sep)?;
        (k.trim() == key).then(|| v.trim().trim_matches('"'))
    })
}

/// Parses the probe's output into the summary and the details.
pub fn parse(text: &str) -> (SystemInfo, ProbedInfo) {
    let s = sections(text);
    let get = |name: &str| s.get(name).cloned().unwrap_or_default();
    let first = |name: &str| get(name).first().map(|l| l.trim().to_owned()).filter(|l| !l.is_empty());
    let cpuinfo = get("cpuinfo");
    let meminfo = get("meminfo");
    let kb = |key: &str| kv(&meminfo, ':', key).and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok()).map(|k| k * 1024);
    let android: BTreeMap<String, String> = get("getprop")
        .iter()
        .filter_map(|l| {
            let (k, v) = l.split_once("]: [")?;
            Some((k.trim_start_matches('[').to_owned(), v.trim_end_matches(']').to_owned()))
        })
        .collect();
    let cpu_model = ["model name", "Hardware", "Processor", "cpu model"]
        .iter()
        .find_map(|k| kv(&cpuinfo, ':', k))
        .map(str::to_owned)
        .or_else(|| kv(&cpuinfo, ':', "CPU part").map(|p| format!("CPU part {p}")));
    let processors = cpuinfo.iter().filter(|l| l.split(':').next().is_some_and(|k| k.trim() == "processor")).count();
    let nproc = first("nproc").and_then(|n| n.parse().ok()).unwrap_or(processors).max(1);
    let os_release = kv(&get("os"), '=', "PRETTY_NAME").map(str::to_owned);
    let is_android = !android.is_empty();
    let info = SystemInfo {
        hostname: first("hostname"),
        os: if is_android { Some("Android".into()) } else { kv(&get("os"), '=', "NAME").map(str::to_owned).or(Some("Linux".into())) },
        os_version: if is_android { android.get("ro.build.version.release").cloned() } else { kv(&get("os"), '=', "VERSION_ID").map(str::to_owned) },
        kernel: first("kernel"),
        arch: first("arch").unwrap_or_else(|| "unknown".into()),
        cpu_brand: cpu_model.clone(),
        cpu_logical_cores: nproc,
        cpu_physical_cores: None,
        memory_total_bytes: kb("MemTotal").unwrap_or(0),
    };
    let probed = ProbedInfo {
        uname: first("uname"),
        os_release,
        android,
        cpu_model,
        facts: DeviceFacts {
            cpus: get("cpufreq").iter().filter_map(|l| parse_cpufreq(l)).collect(),
            thermal_zones: get("thermal").iter().filter_map(|l| parse_thermal(l)).collect(),
            batteries: get("battery").iter().filter_map(|l| parse_battery(l)).collect(),
        },
        memory_available_bytes: kb("MemAvailable"),
    };
    (info, probed)
}

fn parse_cpufreq(line: &str) -> Option<CpuCondition> {
    let mut w = line.split_whitespace();
    Some(CpuCondition {
        cpu: w.next()?.parse().ok()?,
        cur_khz: w.next().and_then(|v| v.parse().ok()),
        max_khz: w.next().and_then(|v| v.parse().ok()),
        governor: w.next().map(str::to_owned),
    })
}

fn parse_thermal(line: &str) -> Option<ThermalZone> {
    let (zone, temp) = line.rsplit_once(' ')?;
    Some(ThermalZone { zone: zone.trim().to_owned(), kind: None, temp_millic: ThermalZone::parse_temp_millic(temp) })
}

fn parse_battery(line: &str) -> Option<Battery> {
    let mut w = line.split_whitespace();
    Some(Battery {
        name: Some(w.next()?.to_owned()),
        level_pct: w.next().and_then(|v| v.parse().ok()),
        status: w.next().map(str::to_owned),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_an_android_probe() {
        let text = "@@uname\nLinux localhost 5.10 aarch64\n@@arch\naarch64\n@@kernel\n5.10.43\n@@hostname\nlocalhost\n@@os\n\
@@getprop\n[ro.product.model]: [Pixel 7]\n[ro.soc.model]: [GS201]\n[ro.build.version.release]: [14]\n\
@@cpuinfo\nprocessor\t: 0\nCPU part\t: 0xd05\nprocessor\t: 1\nHardware\t: Tensor G2\n@@meminfo\nMemTotal:  7900000 kB\nMemAvailable: 3000000 kB\n\
@@cpufreq\n0 1803000 1803000 schedutil\n7 500000 2850000 schedutil\n@@thermal\nbattery 31000\nskin-therm 29500\n\
@@battery\nbattery 87 Discharging\n@@nproc\n8\n";
        let (info, probed) = parse(text);
        assert_eq!(info.os.as_deref(), Some("Android"));
        assert_eq!(info.os_version.as_deref(), Some("14"));
        assert_eq!(info.arch, "aarch64");
        assert_eq!(info.cpu_logical_cores, 8);
        assert_eq!(info.memory_total_bytes, 7_900_000 * 1024);
        assert_eq!(probed.android["ro.product.model"], "Pixel 7");
        assert_eq!(probed.cpu_model.as_deref(), Some("Tensor G2"));
        assert_eq!(probed.facts.cpus[1].max_khz, Some(2_850_000));
        assert_eq!(probed.facts.thermal_zones[1].temp_millic, Some(29_500));
        assert_eq!(probed.facts.batteries[0].level_pct, Some(87));
    }
}
