//! Device facts: the one set of types for what a device's sysfs says (per-core frequency and governor, thermal
//! zones, batteries). The host's probe of a remote device and the runner's before/after conditions both produce
//! these, in the same units (kHz, millidegrees Celsius, percent).

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DeviceFacts {
    #[serde(default)]
    pub cpus: Vec<CpuCondition>,
    #[serde(default)]
    pub thermal_zones: Vec<ThermalZone>,
    #[serde(default)]
    pub batteries: Vec<Battery>,
}

impl DeviceFacts {
    /// Hottest thermal zone, in °C.
    pub fn max_temp_c(&self) -> Option<f64> {
        self.thermal_zones.iter().filter_map(|z| z.temp_millic).max().map(|t| t as f64 / 1000.0)
    }

    /// The first battery (phones have one; boards none).
    pub fn battery(&self) -> Option<&Battery> {
        self.batteries.first()
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CpuCondition {
    pub cpu: u32,
    pub cur_khz: Option<u64>,
    pub max_khz: Option<u64>,
    pub governor: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ThermalZone {
    pub zone: String,
    #[serde(default)]
    pub kind: Option<String>,
    pub temp_millic: Option<i64>,
}

impl ThermalZone {
    /// Parses a sysfs `temp` value: millidegrees on almost every kernel; a few report whole degrees.
    pub fn parse_temp_millic(text: &str) -> Option<i64> {
        let t: f64 = text.trim().parse().ok()?;
        Some(if t.abs() > 1000.0 { t as i64 } else { (t * 1000.0) as i64 })
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Battery {
    /// The power-supply name (`battery`, `BAT0`).
    #[serde(default)]
    pub name: Option<String>,
    pub level_pct: Option<u32>,
    /// sysfs `status`: Charging, Discharging, Full, Not charging.
    pub status: Option<String>,
}

impl Battery {
    pub fn is_charging(&self) -> bool {
        matches!(self.status.as_deref(), Some("Charging") | Some("Full"))
    }
}

/// The files device facts are read from, by path relative to the sysfs root
/// (`devices/system/cpu/cpu0/cpufreq/scaling_cur_freq`), with their trimmed content (empty when unreadable). The
/// runner lists its own tree ([`list`]); the host lists a remote one with [`FACTS_SCRIPT`] ([`parse_listing`]); both
/// become facts by the one rule of [`DeviceFacts::from_listing`].
pub type FactsListing = std::collections::BTreeMap<String, String>;

const CPU_DIR: &str = "devices/system/cpu";
const CPUFREQ_FILES: [&str; 3] = ["scaling_cur_freq", "cpuinfo_max_freq", "scaling_governor"];
const THERMAL_DIR: &str = "class/thermal";
const THERMAL_FILES: [&str; 2] = ["type", "temp"];
const SUPPLY_DIR: &str = "class/power_supply";
const BATTERY_FILES: [&str; 2] = ["capacity", "status"];

/// [`FACTS_SCRIPT`] as a literal, for `concat!` into a longer probe script.
#[macro_export]
macro_rules! facts_script {
    () => {
        r#"for d in /sys/devices/system/cpu/cpu[0-9]*; do [ -d "$d" ] || continue; for f in scaling_cur_freq cpuinfo_max_freq scaling_governor; do printf '%s\t%s\n' "${d#/sys/}/cpufreq/$f" "$(cat "$d/cpufreq/$f" 2>/dev/null)"; done; done
for z in /sys/class/thermal/thermal_zone[0-9]*; do [ -d "$z" ] || continue; for f in type temp; do printf '%s\t%s\n' "${z#/sys/}/$f" "$(cat "$z/$f" 2>/dev/null)"; done; done
for b in /sys/class/power_supply/*; do [ -f "$b/capacity" ] || continue; for f in capacity status; do printf '%s\t%s\n' "${b#/sys/}/$f" "$(cat "$b/$f" 2>/dev/null)"; done; done
"#
    };
}

/// POSIX sh (toybox and busybox work) printing the [`FactsListing`] of `/sys`: one `PATH<TAB>VALUE` line per file.
pub const FACTS_SCRIPT: &str = facts_script!();

/// The listing [`FACTS_SCRIPT`] printed (lines without a tab are ignored).
pub fn parse_listing<'a>(lines: impl IntoIterator<Item = &'a str>) -> FactsListing {
    lines
        .into_iter()
        .filter_map(|l| l.split_once('\t'))
        .map(|(path, value)| (path.trim().to_owned(), value.trim().to_owned()))
        .collect()
}

/// The listing of the sysfs tree at `sys` (`/sys`, or a fake tree in tests): what [`FACTS_SCRIPT`] prints there.
pub fn list(sys: &std::path::Path) -> FactsListing {
    let read = |path: &std::path::Path| std::fs::read_to_string(path).map(|s| s.trim().to_owned()).unwrap_or_default();
    let entries = |dir: &str| -> Vec<(String, std::path::PathBuf)> {
        std::fs::read_dir(sys.join(dir))
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| (e.file_name().to_string_lossy().into_owned(), e.path()))
            .collect()
    };
    let mut out = FactsListing::new();
    for (name, path) in entries(CPU_DIR).into_iter().filter(|(n, p)| numbered(n, "cpu").is_some() && p.is_dir()) {
        for f in CPUFREQ_FILES {
            out.insert(format!("{CPU_DIR}/{name}/cpufreq/{f}"), read(&path.join("cpufreq").join(f)));
        }
    }
    for (name, path) in
        entries(THERMAL_DIR).into_iter().filter(|(n, p)| numbered(n, "thermal_zone").is_some() && p.is_dir())
    {
        for f in THERMAL_FILES {
            out.insert(format!("{THERMAL_DIR}/{name}/{f}"), read(&path.join(f)));
        }
    }
    for (name, path) in entries(SUPPLY_DIR).into_iter().filter(|(_, p)| p.join("capacity").is_file()) {
        for f in BATTERY_FILES {
            out.insert(format!("{SUPPLY_DIR}/{name}/{f}"), read(&path.join(f)));
        }
    }
    out
}

/// `cpu7` → 7 for `prefix` `cpu`; `None` for `cpufreq`, `cpuidle`.
fn numbered(name: &str, prefix: &str) -> Option<u32> {
    name.strip_prefix(prefix)?.parse().ok()
}

impl DeviceFacts {
    /// The facts of the sysfs tree at `sys` (the runner's own device).
    pub fn read(sys: &std::path::Path) -> Self {
        Self::from_listing(&list(sys))
    }

    /// The facts a listing holds: every `cpuN` (numeric order) with its cpufreq values, every `thermal_zoneN`
    /// (numeric order) with its type and temperature, every power supply with a `capacity` (a battery; chargers
    /// have none), by name.
    pub fn from_listing(listing: &FactsListing) -> Self {
        use std::collections::BTreeMap;
        let value = |path: String| listing.get(&path).map(String::as_str).filter(|v| !v.is_empty());
        let mut cpus: BTreeMap<u32, &str> = BTreeMap::new();
        let mut zones: BTreeMap<u32, &str> = BTreeMap::new();
        let mut supplies: Vec<&str> = Vec::new();
        for path in listing.keys() {
            let parts: Vec<&str> = path.split('/').collect();
            match parts[..] {
                ["devices", "system", "cpu", dir, "cpufreq", _] => {
                    if let Some(n) = numbered(dir, "cpu") {
                        cpus.insert(n, dir);
                    }
                }
                ["class", "thermal", dir, _] => {
                    if let Some(n) = numbered(dir, "thermal_zone") {
                        zones.insert(n, dir);
                    }
                }
                ["class", "power_supply", name, "capacity"] => supplies.push(name),
                _ => {}
            }
        }
        DeviceFacts {
            cpus: cpus
                .into_iter()
                .map(|(cpu, dir)| {
                    let freq = |f: &str| value(format!("{CPU_DIR}/{dir}/cpufreq/{f}"));
                    CpuCondition {
                        cpu,
                        cur_khz: freq("scaling_cur_freq").and_then(|v| v.parse().ok()),
                        max_khz: freq("cpuinfo_max_freq").and_then(|v| v.parse().ok()),
                        governor: freq("scaling_governor").map(str::to_owned),
                    }
                })
                .collect(),
            thermal_zones: zones
                .into_values()
                .map(|dir| ThermalZone {
                    zone: dir.to_owned(),
                    kind: value(format!("{THERMAL_DIR}/{dir}/type")).map(str::to_owned),
                    temp_millic: value(format!("{THERMAL_DIR}/{dir}/temp")).and_then(ThermalZone::parse_temp_millic),
                })
                .collect(),
            batteries: supplies
                .into_iter()
                .map(|name| Battery {
                    name: Some(name.to_owned()),
                    level_pct: value(format!("{SUPPLY_DIR}/{name}/capacity")).and_then(|v| v.parse().ok()),
                    status: value(format!("{SUPPLY_DIR}/{name}/status")).map(str::to_owned),
                })
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A sysfs tree with two CPUs (one without cpufreq), two zones, a battery and a charger.
    fn fake_sysfs(tag: &str) -> std::path::PathBuf {
        let root = std::env::temp_dir().join(format!("etbench-facts-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        let put = |path: &str, text: &str| {
            let file = root.join(path);
            std::fs::create_dir_all(file.parent().unwrap()).unwrap();
            std::fs::write(file, text).unwrap();
        };
        put("devices/system/cpu/cpu0/cpufreq/scaling_cur_freq", "1800000\n");
        put("devices/system/cpu/cpu0/cpufreq/cpuinfo_max_freq", "2400000\n");
        put("devices/system/cpu/cpu0/cpufreq/scaling_governor", "schedutil\n");
        put("devices/system/cpu/cpu10/online", "1\n");
        put("devices/system/cpu/cpufreq/policy0/scaling_governor", "schedutil\n");
        put("devices/system/cpu/online", "0-1\n");
        put("class/thermal/thermal_zone0/type", "cpu-thermal\n");
        put("class/thermal/thermal_zone0/temp", "45500\n");
        put("class/thermal/thermal_zone2/type", "skin\n");
        put("class/thermal/thermal_zone2/temp", "31\n");
        put("class/thermal/cooling_device0/type", "fan\n");
        put("class/power_supply/battery/capacity", "87\n");
        put("class/power_supply/battery/status", "Not charging\n");
        put("class/power_supply/usb/online", "1\n");
        root
    }

    #[test]
    fn reads_cpufreq_thermal_and_battery_from_a_tree() {
        let root = fake_sysfs("read");
        let facts = DeviceFacts::read(&root);
        std::fs::remove_dir_all(&root).unwrap();
        assert_eq!(
            facts.cpus,
            [
                CpuCondition {
                    cpu: 0,
                    cur_khz: Some(1_800_000),
                    max_khz: Some(2_400_000),
                    governor: Some("schedutil".into())
                },
                CpuCondition { cpu: 10, cur_khz: None, max_khz: None, governor: None },
            ]
        );
        let zones: Vec<(&str, Option<&str>, Option<i64>)> =
            facts.thermal_zones.iter().map(|z| (z.zone.as_str(), z.kind.as_deref(), z.temp_millic)).collect();
        assert_eq!(
            zones,
            [("thermal_zone0", Some("cpu-thermal"), Some(45_500)), ("thermal_zone2", Some("skin"), Some(31_000))]
        );
        assert_eq!(facts.max_temp_c(), Some(45.5));
        assert_eq!(
            facts.batteries,
            [Battery { name: Some("battery".into()), level_pct: Some(87), status: Some("Not charging".into()) }]
        );
    }

    #[test]
    fn the_script_prints_the_listing_the_tree_gives() {
        let root = fake_sysfs("script");
        let script = FACTS_SCRIPT.replace("/sys/", &format!("{}/", root.display()));
        let out = std::process::Command::new("sh").arg("-c").arg(&script).output().unwrap();
        let listed = list(&root);
        std::fs::remove_dir_all(&root).unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let text = String::from_utf8(out.stdout).unwrap();
        assert_eq!(parse_listing(text.lines()), listed);
        assert_eq!(listed["devices/system/cpu/cpu10/cpufreq/scaling_governor"], "");
        assert!(!listed.keys().any(|k| k.contains("usb") || k.contains("cooling") || k.contains("policy0")));
    }
}
