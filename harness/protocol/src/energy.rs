//! Energy: where a device's power or energy figure can come from, and the pure maths turning samples into joules.
//!
//! Sources are found in one listing of sysfs files (`path → value or why unreadable`), built by the runner on the
//! device (reading the files) and by the host's probe (a shell script printing them), so `devices info` and a run
//! agree on what exists. Every source records its scope, its unit and sign as read and as normalised (watts,
//! joules). Figures are refused, never guessed: a charging battery, a negative voltage or a current stuck at zero
//! give a reason instead of a number.

use serde::{Deserialize, Serialize};

/// What `--energy` asks the runner for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnergyRequest {
    /// The source to read (its `name` as `devices info` lists it); `None`: the only one, or the preferred one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// Seconds of idle baseline sampled before the model is loaded (0: none, no net figures).
    #[serde(default = "default_idle_s")]
    pub idle_s: f64,
    /// Milliseconds between samples of the side thread (≤ 100: at least 10 Hz).
    #[serde(default = "default_interval_ms")]
    pub interval_ms: u32,
}

fn default_idle_s() -> f64 {
    2.0
}

fn default_interval_ms() -> u32 {
    50
}

impl Default for EnergyRequest {
    fn default() -> Self {
        Self { source: None, idle_s: default_idle_s(), interval_ms: default_interval_ms() }
    }
}

impl EnergyRequest {
    pub fn validate(&self) -> Result<(), String> {
        if !(self.idle_s >= 0.0 && self.idle_s.is_finite() && self.idle_s <= 600.0) {
            return Err(format!("energy idle_s {} must be between 0 and 600 seconds", self.idle_s));
        }
        if !(1..=100).contains(&self.interval_ms) {
            return Err(format!("energy interval_ms {} must be between 1 and 100 (at least 10 Hz)", self.interval_ms));
        }
        Ok(())
    }
}

/// How a source's files are read and turned into watts or joules.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Reading {
    /// Instantaneous current × voltage: watts = current_raw × current_scale_a × voltage_raw × voltage_scale_v × sign.
    /// A battery's `status` file, when given, is read with every sample (charging refuses the figure).
    CurrentVoltage {
        current: String,
        voltage: String,
        current_scale_a: f64,
        voltage_scale_v: f64,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        status: Option<String>,
    },
    /// Instantaneous power: watts = raw × scale_w.
    Power { path: String, scale_w: f64 },
    /// A cumulative energy counter: joules = raw × scale_j, wrapping back to 0 after `max_raw` (RAPL's
    /// `max_energy_range_uj`). `rail` picks one `CHn(T=…)[RAIL], value` line of a Pixel `energy_value` file.
    Counter {
        path: String,
        scale_j: f64,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        max_raw: Option<u64>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        rail: Option<String>,
    },
}

impl Reading {
    pub fn is_counter(&self) -> bool {
        matches!(self, Reading::Counter { .. })
    }

    /// The files a sample reads (paths relative to the sysfs root).
    pub fn files(&self) -> Vec<&str> {
        match self {
            Reading::CurrentVoltage { current, voltage, .. } => vec![current, voltage],
            Reading::Power { path, .. } | Reading::Counter { path, .. } => vec![path],
        }
    }
}

/// One place a power or energy figure can be read from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EnergySource {
    /// What `--energy-source` names: `battery`, `hwmon0:VDD_CPU`, `intel-rapl:0`, `iio:device0:VDD_CPUCL0`.
    pub name: String,
    /// What it measures: "battery: whole device", "rail VDD_CPU", "RAPL package".
    pub scope: String,
    pub reading: Reading,
    /// The unit and sign as read, and how they were normalised ("µA × µV; negative current = discharging (kernel
    /// convention, seen while Discharging) → W").
    pub units: String,
    /// Set when the source exists but gives no usable figure now (charging, nonsense values).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refused: Option<String>,
}

impl EnergySource {
    /// Whether it measures the whole device (a battery) rather than one rail or package.
    pub fn whole_device(&self) -> bool {
        self.scope.starts_with("battery")
    }
}

/// A candidate that was looked for and is not usable, with why ("not present", "not readable by this user").
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AbsentSource {
    pub looked_for: String,
    pub reason: String,
}

/// The directories searched, for messages naming what was looked for.
pub const LOOKED_FOR: &str = "/sys/class/power_supply/*/{current_now,voltage_now} (batteries), /sys/class/hwmon/hwmon*/{power*_input,energy*_input,curr*_input+in*_input} (INA3221 and similar), /sys/class/powercap/intel-rapl:*/energy_uj (RAPL), /sys/bus/iio/devices/iio:device*/energy_value (Pixel rails)";

/// Directories (relative to the sysfs root) whose entries hold energy files, and the file names read in them.
pub const SEARCH_DIRS: [&str; 4] = ["class/power_supply", "class/hwmon", "class/powercap", "bus/iio/devices"];

/// Whether a file in one of [`SEARCH_DIRS`]' entries belongs in the listing.
pub fn wanted_file(name: &str) -> bool {
    matches!(
        name,
        "current_now"
            | "voltage_now"
            | "status"
            | "type"
            | "name"
            | "energy_uj"
            | "max_energy_range_uj"
            | "energy_value"
    ) || (name.ends_with("_input") || name.ends_with("_label"))
        && ["power", "energy", "curr", "in"]
            .iter()
            .any(|p| name.strip_prefix(p).is_some_and(|r| r.starts_with(|c: char| c.is_ascii_digit())))
}

/// How a candidate's values become a reading: its unit text, and a refusal when they make no sense.
type Make<'a> = &'a dyn Fn(&[i64]) -> (Reading, String, Option<String>);

/// One file of the listing: its value (trimmed), or why it could not be read.
pub type Listed = Result<String, String>;

/// The files found under the search directories, by path relative to the sysfs root (`class/hwmon/hwmon0/name`).
pub type Listing = std::collections::BTreeMap<String, Listed>;

/// Every source in a listing, plus what was looked for and is unusable. Batteries come first (whole device),
/// then rails and packages.
// Over 80 lines on purpose: one pass over the power-supply, hwmon and powercap trees, each rule next to the reason it
// exists.
pub fn discover(listing: &Listing) -> (Vec<EnergySource>, Vec<AbsentSource>) {
    let mut found = Vec::new();
    let mut absent = Vec::new();
    let dirs: std::collections::BTreeSet<&str> =
        listing.keys().filter_map(|p| p.rsplit_once('/').map(|(d, _)| d)).collect();
    for dir in dirs {
        let file = |name: &str| listing.get(&format!("{dir}/{name}"));
        let entry = dir.rsplit('/').next().unwrap_or(dir);
        let mut consider = |name: String, scope: String, needs: &[String], make: Make| {
            let mut values = Vec::new();
            for path in needs {
                match listing.get(path) {
                    Some(Ok(v)) => match v.split_whitespace().next().and_then(|t| t.parse::<i64>().ok()) {
                        Some(n) => values.push(n),
                        None => {
                            return absent.push(AbsentSource {
                                looked_for: format!("/sys/{path}"),
                                reason: format!("not a number: `{v}`"),
                            })
                        }
                    },
                    Some(Err(why)) => {
                        return absent.push(AbsentSource { looked_for: format!("/sys/{path}"), reason: why.clone() })
                    }
                    None => {
                        return absent
                            .push(AbsentSource { looked_for: format!("/sys/{path}"), reason: "not present".into() })
                    }
                }
            }
            let (reading, units, refused) = make(&values);
            found.push(EnergySource { name, scope, reading, units, refused });
        };
        if dir.starts_with("class/power_supply/") {
            if file("current_now").is_none() && file("voltage_now").is_none() {
                continue;
            }
            let status = match file("status") {
                Some(Ok(s)) => Some(s.clone()),
                _ => None,
            };
            // Chargers (USB, Mains, Wireless) report their input, not what the device draws.
            match file("type") {
                Some(Ok(t)) if t != "Battery" => {
                    absent.push(AbsentSource {
                        looked_for: format!("/sys/{dir}"),
                        reason: format!("type {t}: a charger's input, not the device's draw"),
                    });
                    continue;
                }
                _ => {}
            }
            let scope = "battery: whole device".to_owned();
            let needs = [format!("{dir}/current_now"), format!("{dir}/voltage_now")];
            let status_path = file("status").map(|_| format!("{dir}/status"));
            consider(entry.to_owned(), scope, &needs, &|v| {
                battery_reading(&needs, status_path.clone(), v[0], v[1], status.as_deref())
            });
        } else if dir.starts_with("class/hwmon/") {
            let chip = match file("name") {
                Some(Ok(n)) => n.clone(),
                _ => entry.to_owned(),
            };
            let label = |kind: &str, n: &str| match file(&format!("{kind}{n}_label")) {
                Some(Ok(l)) => l.clone(),
                _ => format!("{kind}{n}"),
            };
            let channels = |kind: &str| -> Vec<String> {
                listing
                    .keys()
                    .filter_map(|p| p.strip_prefix(&format!("{dir}/{kind}"))?.strip_suffix("_input").map(str::to_owned))
                    .filter(|n| n.chars().all(|c| c.is_ascii_digit()))
                    .collect()
            };
            for n in channels("power") {
                let l = label("power", &n);
                let path = format!("{dir}/power{n}_input");
                consider(format!("{entry}:{l}"), format!("rail {l} ({chip})"), std::slice::from_ref(&path), &|_| {
                    (Reading::Power { path: path.clone(), scale_w: 1e-6 }, "µW → W".into(), None)
                });
            }
            for n in channels("energy") {
                let l = label("energy", &n);
                let path = format!("{dir}/energy{n}_input");
                consider(format!("{entry}:{l}"), format!("rail {l} ({chip})"), std::slice::from_ref(&path), &|_| {
                    (
                        Reading::Counter { path: path.clone(), scale_j: 1e-6, max_raw: None, rail: None },
                        "µJ counter → J".into(),
                        None,
                    )
                });
            }
            // curr N pairs with in N (INA3221 channel N): both labelled alike on such chips.
            for n in channels("curr") {
                if channels("power").contains(&n) || !listing.contains_key(&format!("{dir}/in{n}_input")) {
                    continue;
                }
                let l = label("curr", &n);
                let needs = [format!("{dir}/curr{n}_input"), format!("{dir}/in{n}_input")];
                consider(format!("{entry}:{l}"), format!("rail {l} ({chip})"), &needs, &|v| {
                    let refused = (v[1] <= 0).then(|| {
                        format!("in{n}_input reads {} mV: a rail voltage must be positive; check the sensor", v[1])
                    });
                    let reading = Reading::CurrentVoltage {
                        current: needs[0].clone(),
                        voltage: needs[1].clone(),
                        current_scale_a: 1e-3,
                        voltage_scale_v: 1e-3,
                        status: None,
                    };
                    (reading, "mA × mV → W".into(), refused)
                });
            }
        } else if dir.starts_with("class/powercap/") && entry.starts_with("intel-rapl") {
            if file("energy_uj").is_none() {
                continue;
            }
            let what = match file("name") {
                Some(Ok(n)) if n.starts_with("package") => format!("RAPL package ({n})"),
                Some(Ok(n)) => format!("RAPL {n}"),
                _ => "RAPL domain".into(),
            };
            let max_raw = match file("max_energy_range_uj") {
                Some(Ok(m)) => m.parse().ok(),
                _ => None,
            };
            let path = format!("{dir}/energy_uj");
            let units = format!("µJ counter{} → J", max_raw.map(|m| format!(", wraps at {m}")).unwrap_or_default());
            consider(entry.to_owned(), what, std::slice::from_ref(&path), &|_| {
                (Reading::Counter { path: path.clone(), scale_j: 1e-6, max_raw, rail: None }, units.clone(), None)
            });
        } else if dir.starts_with("bus/iio/devices/") {
            match file("energy_value") {
                None => {}
                Some(Err(why)) => {
                    absent.push(AbsentSource { looked_for: format!("/sys/{dir}/energy_value"), reason: why.clone() })
                }
                Some(Ok(text)) => {
                    for (rail, _) in iio_rails(text) {
                        let path = format!("{dir}/energy_value");
                        let reading = Reading::Counter { path, scale_j: 1e-6, max_raw: None, rail: Some(rail.clone()) };
                        found.push(EnergySource {
                            name: format!("{entry}:{rail}"),
                            scope: format!("rail {rail}"),
                            reading,
                            units: "µWs counter → J".into(),
                            refused: None,
                        });
                    }
                }
            }
        }
    }
    if found.is_empty() && absent.is_empty() {
        absent.push(AbsentSource { looked_for: LOOKED_FOR.into(), reason: "not present".into() });
    }
    found.sort_by_key(|s| !s.whole_device());
    (found, absent)
}

/// `CHn(T=ms)[RAIL], value` lines of a Pixel ODPM `energy_value` file (the listing joins lines with `|`).
pub fn iio_rails(text: &str) -> Vec<(String, i64)> {
    text.split(['|', '\n'])
        .filter_map(|line| {
            let (head, value) = line.trim().split_once("],")?;
            let rail = head.rsplit_once('[')?.1;
            Some((rail.to_owned(), value.trim().parse().ok()?))
        })
        .collect()
}

/// A battery's current × voltage: unit and sign inferred from the magnitudes and the status, or a refusal.
fn battery_reading(
    needs: &[String; 2],
    status_path: Option<String>,
    current: i64,
    voltage: i64,
    status: Option<&str>,
) -> (Reading, String, Option<String>) {
    // Phones draw 0.02–10 A: a value under 20 000 is mA (20 A in mA), above is µA. Cells are 2.5–5 V: under 10 000 is mV.
    let (current_scale_a, cu) = if current.abs() < 20_000 && current != 0 { (1e-3, "mA") } else { (1e-6, "µA") };
    let (voltage_scale_v, vu) = if voltage.abs() < 10_000 { (1e-3, "mV") } else { (1e-6, "µV") };
    let charging = matches!(status, Some("Charging") | Some("Full"));
    // While discharging, whichever sign the current has means "discharging"; otherwise the kernel's convention.
    let negative_discharges = if status == Some("Discharging") { current <= 0 } else { true };
    let sign = if negative_discharges { -1.0 } else { 1.0 };
    let sign_text = if negative_discharges {
        "negative current = discharging (kernel convention)"
    } else {
        "positive current = discharging (vendor convention)"
    };
    let seen = status.map(|s| format!(", seen while {s}")).unwrap_or_default();
    let units = format!("{cu} × {vu}; {sign_text}{seen} → W");
    let refused = if charging {
        Some(charging_reason(status.unwrap_or("Charging")))
    } else if voltage <= 0 {
        Some(format!("voltage_now reads {voltage}: a battery voltage must be positive; this gauge's value is nonsense"))
    } else if status != Some("Discharging") && current > 0 {
        Some(format!(
            "status `{}` with a positive current: the battery may be charging; {}",
            status.unwrap_or("unknown"),
            CHARGING_FIX
        ))
    } else {
        None
    };
    let reading = Reading::CurrentVoltage {
        current: needs[0].clone(),
        voltage: needs[1].clone(),
        current_scale_a: current_scale_a * sign,
        voltage_scale_v,
        status: status_path,
    };
    (reading, units, refused)
}

/// What to do about a charging battery.
pub const CHARGING_FIX: &str = "unplug, use adb over Wi-Fi, or `adb shell setprop power.battery_input.suspended true` where the vendor honours it (etbench then checks the current's sign)";

pub fn charging_reason(status: &str) -> String {
    format!("battery is {status}: a charging battery's counters say nothing about the load; {CHARGING_FIX}")
}

/// Picks the source `--energy-source` names, or the first usable one (batteries first). Errors name what exists.
pub fn choose<'a>(
    sources: &'a [EnergySource],
    absent: &[AbsentSource],
    name: Option<&str>,
) -> Result<&'a EnergySource, String> {
    let names = || sources.iter().map(|s| s.name.as_str()).collect::<Vec<_>>().join(", ");
    match name {
        Some(n) => sources.iter().find(|s| s.name == n).ok_or_else(|| {
            if sources.is_empty() {
                format!("--energy-source {n}: this device has no energy source; {}", describe_absent(absent))
            } else {
                format!("--energy-source {n}: no such source; this device has: {}", names())
            }
        }),
        None => sources.iter().find(|s| s.refused.is_none()).or(sources.first()).ok_or_else(|| {
            format!(
                "--energy: this device has no energy source; {}; drop --energy or use a device with a power sensor",
                describe_absent(absent)
            )
        }),
    }
}

pub fn describe_absent(absent: &[AbsentSource]) -> String {
    let list: Vec<String> = absent.iter().map(|a| format!("{}: {}", a.looked_for, a.reason)).collect();
    format!("looked for {LOOKED_FOR}; found: {}", if list.is_empty() { "nothing".to_owned() } else { list.join("; ") })
}

/// One sample of the side thread: when (ns since the runner started), the value normalised (W for power sources,
/// cumulative J for counters, unwrapped), and the raw integers as read.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EnergySample {
    pub t_ns: u64,
    pub value: f64,
    pub raw: Vec<i64>,
}

/// A stretch of the run the energy is reported for: the idle baseline, a timed phase, one round of a paired
/// session, a generation's prefill or decode. `units` = forwards (or tokens for prefill/decode) inside it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EnergyWindow {
    #[serde(default, skip_serializing_if = "is_zero")]
    pub model: u32,
    pub phase: WindowKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub round: Option<u32>,
    pub start_ns: u64,
    pub end_ns: u64,
    pub units: u32,
}

impl EnergyWindow {
    pub fn seconds(&self) -> f64 {
        self.end_ns.saturating_sub(self.start_ns) as f64 / 1e9
    }
}

fn is_zero(v: &u32) -> bool {
    *v == 0
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WindowKind {
    Idle,
    Timed,
    Prefill,
    Decode,
}

/// Everything the runner measured about energy in one process (a paired session: every model's windows).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EnergyRecord {
    pub source: EnergySource,
    pub interval_ms: u32,
    pub samples: Vec<EnergySample>,
    pub windows: Vec<EnergyWindow>,
    /// Why no figure may be given (charging, nonsense values): then no figure is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refused: Option<String>,
    /// The source stopped answering mid-run (file gone, unreadable): sampling ended there, and no figure is given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lost: Option<String>,
}

/// Energy in joules over `[t0, t1]` (ns): for power samples the trapezoid integral with the power interpolated at
/// the ends (held constant before the first and after the last sample); for counters the counter's difference,
/// interpolated at both ends. `None` without samples.
pub fn joules(samples: &[EnergySample], counter: bool, t0: u64, t1: u64) -> Option<f64> {
    if samples.is_empty() || t1 < t0 {
        return None;
    }
    if counter {
        return Some(at(samples, t1) - at(samples, t0));
    }
    let mut points: Vec<(u64, f64)> = vec![(t0, at(samples, t0))];
    points.extend(samples.iter().filter(|s| s.t_ns > t0 && s.t_ns < t1).map(|s| (s.t_ns, s.value)));
    points.push((t1, at(samples, t1)));
    Some(points.windows(2).map(|w| (w[1].0 - w[0].0) as f64 / 1e9 * (w[0].1 + w[1].1) / 2.0).sum())
}

/// The value at `t` by linear interpolation between neighbouring samples (the end values outside them).
fn at(samples: &[EnergySample], t: u64) -> f64 {
    let i = samples.partition_point(|s| s.t_ns <= t);
    match (i.checked_sub(1).map(|j| &samples[j]), samples.get(i)) {
        (Some(a), Some(b)) if b.t_ns > a.t_ns => {
            a.value + (b.value - a.value) * (t - a.t_ns) as f64 / (b.t_ns - a.t_ns) as f64
        }
        (Some(a), _) => a.value,
        (None, Some(b)) => b.value,
        (None, None) => 0.0,
    }
}

/// Adds the wraps of a cumulative counter: a value lower than the previous one wrapped at `max_raw` (or, without
/// a known range, the counter restarted: the drop is treated as a wrap at the previous value).
pub fn unwrap_counter(previous_raw: i64, raw: i64, max_raw: Option<u64>) -> i64 {
    if raw >= previous_raw {
        return raw - previous_raw;
    }
    match max_raw {
        Some(max) => max as i64 - previous_raw + raw + 1,
        None => raw,
    }
}

/// The smallest time between changes of a counter, in ns (its update period), when it changed at least twice.
pub fn counter_period_ns(samples: &[EnergySample]) -> Option<u64> {
    let changes: Vec<u64> = samples.windows(2).filter(|w| w[1].value != w[0].value).map(|w| w[1].t_ns).collect();
    changes.windows(2).map(|w| w[1] - w[0]).min()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn listing(files: &[(&str, &str)]) -> Listing {
        files
            .iter()
            .map(|(p, v)| {
                (
                    p.to_string(),
                    if let Some(why) = v.strip_prefix('!') { Err(why.to_owned()) } else { Ok(v.to_string()) },
                )
            })
            .collect()
    }

    #[test]
    fn a_discharging_battery_in_kernel_units_gives_watts_with_its_sign() {
        let l = listing(&[
            ("class/power_supply/battery/current_now", "-500000"),
            ("class/power_supply/battery/voltage_now", "4000000"),
            ("class/power_supply/battery/status", "Discharging"),
            ("class/power_supply/battery/type", "Battery"),
        ]);
        let (found, _) = discover(&l);
        let s = &found[0];
        assert_eq!((s.name.as_str(), s.scope.as_str(), s.refused.as_ref()), ("battery", "battery: whole device", None));
        let Reading::CurrentVoltage { current_scale_a, voltage_scale_v, .. } = s.reading else { panic!() };
        assert!((-500000.0 * current_scale_a * 4000000.0 * voltage_scale_v - 2.0_f64).abs() < 1e-9);
        assert!(s.units.contains("µA × µV") && s.units.contains("negative current = discharging"), "{}", s.units);
    }

    #[test]
    fn a_charger_input_is_not_a_source() {
        let l = listing(&[
            ("class/power_supply/usb/current_now", "500000"),
            ("class/power_supply/usb/voltage_now", "5000000"),
            ("class/power_supply/usb/type", "USB"),
        ]);
        let (found, absent) = discover(&l);
        assert!(found.is_empty() && absent[0].reason.contains("charger"), "{absent:?}");
    }

    #[test]
    fn vendor_milliamps_and_positive_discharge_are_inferred() {
        let l = listing(&[
            ("class/power_supply/bms/current_now", "750"),
            ("class/power_supply/bms/voltage_now", "3900"),
            ("class/power_supply/bms/status", "Discharging"),
        ]);
        let s = &discover(&l).0[0];
        let Reading::CurrentVoltage { current_scale_a, voltage_scale_v, .. } = s.reading else { panic!() };
        assert!((750.0 * current_scale_a * 3900.0 * voltage_scale_v - 2.925).abs() < 1e-9);
        assert!(s.units.contains("mA × mV") && s.units.contains("positive current = discharging"), "{}", s.units);
    }

    #[test]
    fn charging_and_nonsense_are_refused_with_the_fix() {
        let charging = listing(&[
            ("class/power_supply/battery/current_now", "900000"),
            ("class/power_supply/battery/voltage_now", "4200000"),
            ("class/power_supply/battery/status", "Charging"),
        ]);
        let s = &discover(&charging).0[0];
        assert!(s.refused.as_ref().unwrap().contains("setprop power.battery_input.suspended true"));
        let negative = listing(&[
            ("class/power_supply/battery/current_now", "-1"),
            ("class/power_supply/battery/voltage_now", "-3900000"),
            ("class/power_supply/battery/status", "Discharging"),
        ]);
        assert!(discover(&negative).0[0].refused.as_ref().unwrap().contains("must be positive"));
        // Input suspended: "Not charging", and the current's sign decides.
        let suspended = listing(&[
            ("class/power_supply/battery/current_now", "300000"),
            ("class/power_supply/battery/voltage_now", "3900000"),
            ("class/power_supply/battery/status", "Not charging"),
        ]);
        assert!(discover(&suspended).0[0].refused.as_ref().unwrap().contains("may be charging"));
    }

    #[test]
    fn hwmon_rapl_and_pixel_rails_are_found_and_unreadable_ones_say_so() {
        let l = listing(&[
            ("class/hwmon/hwmon0/name", "ina3221"),
            ("class/hwmon/hwmon0/power1_input", "1500000"),
            ("class/hwmon/hwmon0/power1_label", "VDD_CPU"),
            ("class/hwmon/hwmon0/curr2_input", "250"),
            ("class/hwmon/hwmon0/in2_input", "5000"),
            ("class/hwmon/hwmon0/curr2_label", "VDD_GPU"),
            ("class/powercap/intel-rapl:0/name", "package-0"),
            ("class/powercap/intel-rapl:0/energy_uj", "!not readable by this user (Permission denied)"),
            ("class/powercap/intel-rapl:1/name", "package-1"),
            ("class/powercap/intel-rapl:1/energy_uj", "123"),
            ("class/powercap/intel-rapl:1/max_energy_range_uj", "262143328850"),
            (
                "bus/iio/devices/iio:device0/energy_value",
                "t=4000|CH0(T=4000)[VDD_CPUCL0], 9000|CH1(T=4000)[VDD_MIF], 300",
            ),
        ]);
        let (found, absent) = discover(&l);
        let names: Vec<&str> = found.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(
            names,
            ["iio:device0:VDD_CPUCL0", "iio:device0:VDD_MIF", "hwmon0:VDD_CPU", "hwmon0:VDD_GPU", "intel-rapl:1"]
        );
        assert_eq!(found[4].scope, "RAPL package (package-1)");
        assert!(found[4].units.contains("wraps at 262143328850"));
        assert_eq!(absent.len(), 1);
        assert!(absent[0].looked_for.contains("intel-rapl:0") && absent[0].reason.contains("not readable"));
        assert!(choose(&[], &[], None).unwrap_err().contains("/sys/class/power_supply"));
        assert!(choose(&found, &absent, Some("nope")).unwrap_err().contains("hwmon0:VDD_CPU"));
    }

    #[test]
    fn wanted_files_are_the_energy_ones() {
        assert!(
            wanted_file("power1_input")
                && wanted_file("in0_input")
                && wanted_file("curr3_label")
                && wanted_file("energy_uj")
        );
        assert!(
            !wanted_file("temp1_input")
                && !wanted_file("input")
                && !wanted_file("capacity")
                && !wanted_file("intrusion0_alarm")
        );
    }

    fn s(t_ms: u64, value: f64) -> EnergySample {
        EnergySample { t_ns: t_ms * 1_000_000, value, raw: vec![] }
    }

    #[test]
    fn constant_power_integrates_to_power_times_time_and_counters_difference() {
        let power: Vec<_> = (0..20).map(|i| s(i * 50, 2.0)).collect();
        let j = joules(&power, false, 120_000_000, 820_000_000).unwrap();
        assert!((j - 1.4).abs() < 1e-9, "{j}");
        // Outside the samples the end values hold.
        assert!((joules(&power, false, 0, 2_000_000_000).unwrap() - 4.0).abs() < 1e-9);
        let counter: Vec<_> = (0..10).map(|i| s(i * 100, i as f64 * 0.3)).collect();
        assert!((joules(&counter, true, 150_000_000, 650_000_000).unwrap() - 1.5).abs() < 1e-9);
        assert_eq!(joules(&[], false, 0, 1), None);
    }

    #[test]
    fn a_wrapping_counter_adds_the_range() {
        assert_eq!(unwrap_counter(100, 150, Some(1000)), 50);
        assert_eq!(unwrap_counter(990, 9, Some(999)), 19);
        assert_eq!(unwrap_counter(990, 9, None), 9);
        let stepped: Vec<_> =
            [0.0, 0.0, 1.0, 1.0, 2.0, 2.0, 3.0].iter().enumerate().map(|(i, v)| s(i as u64 * 50, *v)).collect();
        assert_eq!(counter_period_ns(&stepped), Some(100_000_000));
    }
}
