//! What a remote device is: one shell script (POSIX sh; toybox and busybox work) reads `uname`, `/proc/cpuinfo`,
//! `/proc/meminfo`, `cpu_capacity` per core, the device facts (cpufreq, thermal zones, batteries: listed by
//! [`etbench_protocol::facts::FACTS_SCRIPT`] and read by the rule the runner uses), the libc and, on Android,
//! `getprop`, `dumpsys battery` and `dumpsys thermalservice`; the host parses it into [`ProbedInfo`] (recorded with
//! every result) and the [`SystemInfo`] summary. CPUs are grouped into clusters ([`clusters`]) by capacity.

use std::collections::BTreeMap;

use etbench_protocol::{DeviceFacts, ThermalZone};

use crate::results::{AndroidFacts, CpuCluster, PowerState, ProbedInfo, SystemInfo, ThermalStatus};

/// Per CPU: `N CAPACITY MAX_KHZ ONLINE` (`-` when missing), then the online count: enough to group clusters.
macro_rules! cpus_script {
    () => {
        r#"echo @@cpus; for d in /sys/devices/system/cpu/cpu[0-9]*; do [ -d "$d" ] && echo "${d##*/cpu} $(cat "$d/cpu_capacity" 2>/dev/null || echo -) $(cat "$d/cpufreq/cpuinfo_max_freq" 2>/dev/null || echo -) $(cat "$d/online" 2>/dev/null || echo 1)"; done
echo @@nproc; nproc 2>/dev/null || getconf _NPROCESSORS_ONLN
true
"#
    };
}

/// The probe; each section starts with a `@@name` line.
pub const SCRIPT: &str = concat!(
    r#"echo @@uname; uname -a
echo @@arch; uname -m
echo @@kernel; uname -r
echo @@hostname; hostname 2>/dev/null || cat /proc/sys/kernel/hostname
echo @@os; cat /etc/os-release 2>/dev/null
echo @@getprop; getprop 2>/dev/null | grep -E '^\[(ro\.product\.(model|manufacturer|brand|device|cpu\.abi)|ro\.soc\.(model|manufacturer)|ro\.board\.platform|ro\.hardware|ro\.build\.(version\.release|version\.sdk|fingerprint))\]'
echo @@cpuinfo; cat /proc/cpuinfo
echo @@meminfo; cat /proc/meminfo
echo @@facts
"#,
    etbench_protocol::facts_script!(),
    r#"echo @@batterytemp; cat /sys/class/power_supply/battery/temp 2>/dev/null
echo @@libc; getconf GNU_LIBC_VERSION 2>/dev/null
echo @@dumpsys_battery; command -v dumpsys >/dev/null 2>&1 && dumpsys battery 2>/dev/null | head -n 40
echo @@energy; for d in /sys/class/power_supply/* /sys/class/hwmon/* /sys/class/powercap/* /sys/bus/iio/devices/*; do [ -d "$d" ] || continue; for f in "$d"/*; do [ -f "$f" ] || continue; case "${f##*/}" in current_now|voltage_now|status|type|name|energy_uj|max_energy_range_uj|energy_value|power[0-9]*_input|energy[0-9]*_input|curr[0-9]*_input|in[0-9]*_input|*_label) if v=$(cat "$f" 2>/dev/null); then printf '%s\t%s\n' "${f#/sys/}" "$(printf '%s' "$v" | tr '\n' '|')"; else printf '%s\t!%s\n' "${f#/sys/}" "$(cat "$f" 2>&1 >/dev/null | head -n 1)"; fi;; esac; done; done
echo @@dumpsys_thermal; command -v dumpsys >/dev/null 2>&1 && dumpsys thermalservice 2>/dev/null | grep -E '^Thermal Status|Temperature\{' | head -n 80
"#,
    cpus_script!()
);

/// Only the CPU section of [`SCRIPT`] (for `--cores` on this host).
pub const CPUS_SCRIPT: &str = cpus_script!();

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
    let kb = |key: &str| {
        kv(&meminfo, ':', key).and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok()).map(|k| k * 1024)
    };
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
        os: if is_android {
            Some("Android".into())
        } else {
            kv(&get("os"), '=', "NAME").map(str::to_owned).or(Some("Linux".into()))
        },
        os_version: if is_android {
            android.get("ro.build.version.release").cloned()
        } else {
            kv(&get("os"), '=', "VERSION_ID").map(str::to_owned)
        },
        kernel: first("kernel"),
        arch: first("arch").unwrap_or_else(|| "unknown".into()),
        cpu_brand: cpu_model.clone(),
        cpu_logical_cores: nproc,
        cpu_physical_cores: None,
        memory_total_bytes: kb("MemTotal").unwrap_or(0),
    };
    let facts = DeviceFacts::from_listing(&etbench_protocol::facts::parse_listing(get("facts")));
    let battery_temp = first("batterytemp").and_then(|t| t.parse::<f64>().ok()).map(|t| t / 10.0);
    let power = parse_dumpsys_battery(&get("dumpsys_battery")).or_else(|| sysfs_power(&facts, battery_temp));
    let probed = ProbedInfo {
        uname: first("uname"),
        os_release,
        android_facts: is_android.then(|| android_facts(&android)),
        android,
        cpu_model,
        clusters: clusters(&get("cpus"), nproc),
        power,
        thermal_status: parse_dumpsys_thermal(&get("dumpsys_thermal")),
        energy: Some(parse_energy(&get("energy"))),
        facts,
        memory_available_bytes: kb("MemAvailable"),
        runner_libc: None,
    };
    (info, probed)
}

/// The glibc version `getconf GNU_LIBC_VERSION` printed ("glibc 2.36" → "2.36").
pub fn glibc_version(text: &str) -> Option<String> {
    sections(text).get("libc")?.first()?.trim().strip_prefix("glibc ").map(str::to_owned)
}

fn android_facts(props: &BTreeMap<String, String>) -> AndroidFacts {
    let get = |k: &str| props.get(k).map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());
    let soc = match (get("ro.soc.manufacturer"), get("ro.soc.model")) {
        (Some(m), Some(model)) if !model.starts_with(&m) => Some(format!("{m} {model}")),
        (_, Some(model)) => Some(model),
        _ => get("ro.board.platform").or_else(|| get("ro.hardware")),
    };
    AndroidFacts {
        model: get("ro.product.model"),
        manufacturer: get("ro.product.manufacturer"),
        soc,
        android_version: get("ro.build.version.release"),
        sdk: get("ro.build.version.sdk").and_then(|v| v.parse().ok()),
        abi: get("ro.product.cpu.abi"),
    }
}

/// Groups online CPUs by `cpu_capacity` (else `cpuinfo_max_freq`), slowest first, and names the groups: one is
/// `all`; two are little, big; three little, mid, big; four or more little, mid…, big, prime. Without either
/// value every CPU (`nproc` of them when sysfs lists none) is one `all` cluster.
pub fn clusters(lines: &[&str], nproc: usize) -> Vec<CpuCluster> {
    let num = |w: Option<&str>| w.and_then(|v| v.parse::<u64>().ok());
    let mut cpus: Vec<(u32, Option<u64>, Option<u64>)> = lines
        .iter()
        .filter_map(|l| {
            let mut w = l.split_whitespace();
            let cpu = w.next()?.parse().ok()?;
            let (capacity, max_khz, online) = (num(w.next()), num(w.next()), num(w.next()));
            (online != Some(0)).then_some((cpu, capacity, max_khz))
        })
        .collect();
    if cpus.is_empty() {
        cpus = (0..nproc.max(1) as u32).map(|c| (c, None, None)).collect();
    }
    cpus.sort();
    let by_capacity = cpus.iter().all(|c| c.1.is_some());
    let by_freq = !by_capacity && cpus.iter().all(|c| c.2.is_some());
    let key = |c: &(u32, Option<u64>, Option<u64>)| {
        if by_capacity {
            c.1
        } else if by_freq {
            c.2
        } else {
            None
        }
    };
    let mut keys: Vec<Option<u64>> = cpus.iter().map(key).collect();
    keys.sort();
    keys.dedup();
    let n = keys.len();
    keys.iter()
        .enumerate()
        .map(|(i, k)| {
            let members: Vec<&(u32, Option<u64>, Option<u64>)> = cpus.iter().filter(|c| key(c) == *k).collect();
            let name = match (n, i) {
                (1, _) => "all",
                (_, 0) => "little",
                (2 | 3, i) if i == n - 1 => "big",
                (_, i) if i == n - 1 => "prime",
                (_, i) if i == n - 2 && n >= 4 => "big",
                _ => "mid",
            };
            let ids: Vec<u32> = members.iter().map(|c| c.0).collect();
            CpuCluster {
                name: name.into(),
                mask: etbench_protocol::CpuMask::from_cpus(ids.iter().copied())
                    .expect("a cluster has a CPU")
                    .to_string(),
                cpus: ids,
                capacity: members[0].1.and_then(|c| u32::try_from(c).ok()),
                max_khz: members.iter().filter_map(|c| c.2).max(),
            }
        })
        .collect()
}

/// `dumpsys battery`: level/scale, temperature in tenths of °C, status code, powered sources.
fn parse_dumpsys_battery(lines: &[&str]) -> Option<PowerState> {
    let value = |key: &str| kv(lines, ':', key);
    let level: u32 = value("level")?.parse().ok()?;
    let scale: u32 = value("scale").and_then(|v| v.parse().ok()).filter(|s| *s > 0).unwrap_or(100);
    let status = value("status").and_then(|v| v.parse::<u32>().ok());
    let plugged =
        [("AC powered", "ac"), ("USB powered", "usb"), ("Wireless powered", "wireless"), ("Dock powered", "dock")]
            .iter()
            .filter(|(k, _)| value(k) == Some("true"))
            .map(|(_, name)| name.to_string())
            .collect();
    Some(PowerState {
        source: "dumpsys battery".into(),
        level_pct: Some(level * 100 / scale),
        temperature_c: value("temperature").and_then(|t| t.parse::<f64>().ok()).map(|t| t / 10.0),
        charging: status.map(|s| s == 2),
        status: status.map(|s| {
            match s {
                2 => "charging",
                3 => "discharging",
                4 => "not charging",
                5 => "full",
                _ => "unknown",
            }
            .to_owned()
        }),
        plugged,
    })
}

fn sysfs_power(facts: &DeviceFacts, temperature_c: Option<f64>) -> Option<PowerState> {
    let b = facts.battery()?;
    Some(PowerState {
        source: "sysfs".into(),
        level_pct: b.level_pct,
        temperature_c,
        charging: b.status.as_ref().map(|s| s == "Charging"),
        status: b.status.as_ref().map(|s| s.to_lowercase()),
        plugged: Vec::new(),
    })
}

/// `dumpsys thermalservice`: `Thermal Status: N` and `Temperature{mValue=…, mType=…, mName=…}` lines (the HAL's
/// current values come after the cached ones: the last line per sensor wins).
fn parse_dumpsys_thermal(lines: &[&str]) -> Option<ThermalStatus> {
    let status = lines.iter().find_map(|l| l.trim().strip_prefix("Thermal Status:")?.trim().parse::<u32>().ok());
    let mut temperatures: Vec<ThermalZone> = Vec::new();
    for line in lines {
        let Some(body) = line.trim().strip_prefix("Temperature{").and_then(|b| b.strip_suffix('}')) else { continue };
        let field = |key: &str| body.split(", ").find_map(|kv| kv.strip_prefix(key)?.strip_prefix('='));
        let (Some(name), Some(value)) = (field("mName"), field("mValue").and_then(|v| v.parse::<f64>().ok())) else {
            continue;
        };
        let kind = field("mType").and_then(|t| t.parse::<i32>().ok()).map(|t| thermal_kind(t).to_owned());
        temperatures.retain(|z| z.zone != name);
        temperatures.push(ThermalZone {
            zone: name.to_owned(),
            kind,
            temp_millic: Some((value * 1000.0).round() as i64),
        });
    }
    if status.is_none() && temperatures.is_empty() {
        return None;
    }
    let name = status.map(|s| {
        ["none", "light", "moderate", "severe", "critical", "emergency", "shutdown"]
            .get(s as usize)
            .unwrap_or(&"unknown")
            .to_string()
    });
    Some(ThermalStatus { source: "dumpsys thermalservice".into(), status, name, temperatures })
}

/// The `@@energy` section: `PATH<TAB>VALUE` (lines joined by `|`) or `PATH<TAB>!ERROR` per energy file, turned
/// into sources by the runner's own rules ([`etbench_protocol::energy::discover`]).
fn parse_energy(lines: &[&str]) -> crate::results::EnergyProbe {
    let listing: etbench_protocol::energy::Listing = lines
        .iter()
        .filter_map(|l| l.split_once('\t'))
        .filter(|(path, _)| path.rsplit('/').next().is_some_and(etbench_protocol::energy::wanted_file))
        .map(|(path, value)| {
            let value = match value.strip_prefix('!') {
                Some(e) if e.contains("Permission denied") => {
                    Err("not readable by this user (Permission denied); run as root or pick another source".to_owned())
                }
                Some(e) => Err(format!("unreadable ({})", e.trim())),
                None => Ok(value.trim().to_owned()),
            };
            (path.to_owned(), value)
        })
        .collect();
    let (sources, absent) = etbench_protocol::energy::discover(&listing);
    crate::results::EnergyProbe { sources, absent }
}

/// `android.os.Temperature.TYPE_*`.
fn thermal_kind(t: i32) -> &'static str {
    match t {
        0 => "CPU",
        1 => "GPU",
        2 => "BATTERY",
        3 => "SKIN",
        4 => "USB_PORT",
        5 => "POWER_AMPLIFIER",
        6 => "BCL_VOLTAGE",
        7 => "BCL_CURRENT",
        8 => "BCL_PERCENTAGE",
        9 => "NPU",
        _ => "UNKNOWN",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_an_android_probe() {
        let text = "@@uname\nLinux localhost 5.10 aarch64\n@@arch\naarch64\n@@kernel\n5.10.43\n@@hostname\nlocalhost\n@@os\n\
@@getprop\n[ro.product.model]: [Pixel 7]\n[ro.soc.model]: [GS201]\n[ro.build.version.release]: [14]\n\
@@cpuinfo\nprocessor\t: 0\nCPU part\t: 0xd05\nprocessor\t: 1\nHardware\t: Tensor G2\n@@meminfo\nMemTotal:  7900000 kB\nMemAvailable: 3000000 kB\n\
@@facts\ndevices/system/cpu/cpu0/cpufreq/scaling_cur_freq\t1803000\ndevices/system/cpu/cpu0/cpufreq/cpuinfo_max_freq\t1803000\n\
devices/system/cpu/cpu0/cpufreq/scaling_governor\tschedutil\ndevices/system/cpu/cpu7/cpufreq/scaling_cur_freq\t500000\n\
devices/system/cpu/cpu7/cpufreq/cpuinfo_max_freq\t2850000\ndevices/system/cpu/cpu7/cpufreq/scaling_governor\tschedutil\n\
class/thermal/thermal_zone0/type\tbattery\nclass/thermal/thermal_zone0/temp\t31000\n\
class/thermal/thermal_zone1/type\tskin-therm\nclass/thermal/thermal_zone1/temp\t29500\n\
class/power_supply/battery/capacity\t87\nclass/power_supply/battery/status\tDischarging\n@@nproc\n8\n";
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
        assert_eq!(probed.facts.thermal_zones[1].kind.as_deref(), Some("skin-therm"));
        assert_eq!(probed.facts.cpus[1].governor.as_deref(), Some("schedutil"));
        assert_eq!(probed.facts.batteries[0].level_pct, Some(87));
    }

    #[test]
    fn the_probe_of_this_host_lists_the_facts_the_runner_reads() {
        let out = std::process::Command::new("sh").arg("-c").arg(SCRIPT).output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let (_, probed) = parse(&String::from_utf8_lossy(&out.stdout));
        let own = DeviceFacts::read(std::path::Path::new("/sys"));
        let cpus = |f: &DeviceFacts| f.cpus.iter().map(|c| (c.cpu, c.max_khz, c.governor.clone())).collect::<Vec<_>>();
        let zones =
            |f: &DeviceFacts| f.thermal_zones.iter().map(|z| (z.zone.clone(), z.kind.clone())).collect::<Vec<_>>();
        assert_eq!(cpus(&probed.facts), cpus(&own));
        assert_eq!(zones(&probed.facts), zones(&own));
        assert_eq!(probed.facts.batteries.len(), own.batteries.len());
        assert!(!probed.facts.cpus.is_empty(), "every Linux host lists /sys/devices/system/cpu/cpuN");
    }

    #[test]
    fn parses_dumpsys_battery_and_thermalservice() {
        let text = "@@getprop\n[ro.product.model]: [Pixel 7]\n[ro.soc.manufacturer]: [Google]\n[ro.soc.model]: [GS201]\n\
[ro.build.version.sdk]: [34]\n[ro.product.cpu.abi]: [arm64-v8a]\n\
@@facts\nclass/power_supply/battery/capacity\t55\nclass/power_supply/battery/status\tNot charging\n@@batterytemp\n312\n\
@@dumpsys_battery\nCurrent Battery Service state:\n  AC powered: false\n  USB powered: true\n  status: 2\n  level: 87\n  scale: 100\n  temperature: 294\n\
@@dumpsys_thermal\nThermal Status: 2\n\tTemperature{mValue=41.5, mType=3, mName=skin, mStatus=0}\n\tTemperature{mValue=48.25, mType=0, mName=cpu7, mStatus=1}\n\
\tTemperature{mValue=42.0, mType=3, mName=skin, mStatus=0}\n@@nproc\n8\n";
        let (_, probed) = parse(text);
        let android = probed.android_facts.unwrap();
        assert_eq!(
            (android.soc.as_deref(), android.sdk, android.abi.as_deref()),
            (Some("Google GS201"), Some(34), Some("arm64-v8a"))
        );
        let power = probed.power.unwrap();
        assert_eq!(
            (power.source.as_str(), power.level_pct, power.temperature_c, power.charging),
            ("dumpsys battery", Some(87), Some(29.4), Some(true))
        );
        assert_eq!((power.status.as_deref(), power.plugged.clone()), (Some("charging"), vec!["usb".to_owned()]));
        let thermal = probed.thermal_status.unwrap();
        assert_eq!((thermal.status, thermal.name.as_deref()), (Some(2), Some("moderate")));
        // The last reading of a sensor wins (the HAL's current values follow the cached ones).
        let skin = thermal.temperatures.iter().find(|t| t.zone == "skin").unwrap();
        assert_eq!((skin.kind.as_deref(), skin.temp_millic), (Some("SKIN"), Some(42_000)));
        assert_eq!(thermal.temperatures.len(), 2);
        // Without dumpsys, sysfs; a two-word status stays whole.
        let (_, sysfs) = parse(
            "@@facts\nclass/power_supply/battery/capacity\t55\nclass/power_supply/battery/status\tNot charging\n@@batterytemp\n312\n",
        );
        let power = sysfs.power.unwrap();
        assert_eq!(
            (power.source.as_str(), power.level_pct, power.status.as_deref(), power.temperature_c),
            ("sysfs", Some(55), Some("not charging"), Some(31.2))
        );
        assert!(sysfs.android_facts.is_none() && sysfs.thermal_status.is_none());
    }

    #[test]
    fn the_energy_section_lists_sources_and_unreadable_ones() {
        let text = "@@energy\nclass/power_supply/battery/current_now\t-400000\nclass/power_supply/battery/voltage_now\t3900000\n\
class/power_supply/battery/status\tDischarging\nclass/powercap/intel-rapl:0/energy_uj\t!cat: /sys/class/powercap/intel-rapl:0/energy_uj: Permission denied\n\
class/hwmon/hwmon0/temp1_label\tcpu\n";
        let energy = parse(text).1.energy.unwrap();
        assert_eq!(energy.sources.len(), 1);
        assert_eq!(
            (energy.sources[0].name.as_str(), energy.sources[0].scope.as_str()),
            ("battery", "battery: whole device")
        );
        assert!(
            energy.absent[0].looked_for.ends_with("intel-rapl:0/energy_uj")
                && energy.absent[0].reason.contains("not readable by this user")
        );
        // No section at all (an older probe): nothing present, and the message names what was looked for.
        let none = parse("@@uname\nLinux\n").1.energy.unwrap();
        assert!(none.sources.is_empty() && none.absent[0].looked_for.contains("/sys/class/hwmon"));
    }

    #[test]
    fn clusters_group_by_capacity_and_are_named_by_count() {
        let pixel = clusters(
            &[
                "0 256 1803000 1",
                "1 256 1803000 1",
                "2 256 1803000 1",
                "3 256 1803000 1",
                "4 620 2350000 1",
                "5 620 2350000 1",
                "6 1024 2850000 1",
                "7 1024 2850000 1",
            ],
            8,
        );
        let names: Vec<&str> = pixel.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["little", "mid", "big"]);
        assert_eq!((pixel[0].mask.as_str(), pixel[2].mask.as_str()), ("0xf", "0xc0"));
        let four = clusters(&["0 300 - 1", "1 500 - 1", "2 800 - 1", "3 1024 - 1"], 4);
        assert_eq!(four.iter().map(|c| c.name.as_str()).collect::<Vec<_>>(), ["little", "mid", "big", "prime"]);
        // No capacity: the maximum frequency decides; offline CPUs are left out.
        let freq = clusters(&["0 - 1800000 1", "1 - 2400000 1", "2 - 2400000 0"], 3);
        assert_eq!(
            freq.iter().map(|c| (c.name.as_str(), c.cpus.clone())).collect::<Vec<_>>(),
            [("little", vec![0]), ("big", vec![1])]
        );
        // Nothing known: one cluster of nproc CPUs.
        let none = clusters(&[], 2);
        assert_eq!((none.len(), none[0].name.as_str(), none[0].mask.as_str()), (1, "all", "0x3"));
    }
}
