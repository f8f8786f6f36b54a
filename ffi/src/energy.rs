//! Energy sampling on the device (`--energy`): finds the sources in sysfs, and a side thread reads the chosen one
//! every `interval_ms` from before the idle baseline to the end of the last timed phase. The timed loops never
//! wait for it: they only push the boundaries of their windows (outside `execute`), and the thread's reads share
//! nothing with them but a stop flag.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use etbench_protocol::energy::{self, EnergySample, EnergyWindow, Listing, Reading, WindowKind};
use etbench_protocol::{EnergyRecord, EnergyRequest, EnergySource};

/// Every energy file under the search directories of `sys`, with its value or why it cannot be read.
pub fn listing(sys: &Path) -> Listing {
    let mut out = Listing::new();
    for dir in energy::SEARCH_DIRS {
        for entry in std::fs::read_dir(sys.join(dir)).into_iter().flatten().flatten() {
            let entry_name = entry.file_name().to_string_lossy().into_owned();
            for file in std::fs::read_dir(entry.path()).into_iter().flatten().flatten() {
                let name = file.file_name().to_string_lossy().into_owned();
                if !energy::wanted_file(&name) || file.path().is_dir() {
                    continue;
                }
                out.insert(format!("{dir}/{entry_name}/{name}"), read(&file.path()));
            }
        }
    }
    out
}

/// A file's value, lines joined by `|` (Pixel `energy_value` files have several), or why it is unreadable.
fn read(path: &Path) -> Result<String, String> {
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(text.trim().lines().map(str::trim).collect::<Vec<_>>().join("|")),
        Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => {
            Err(format!("not readable by this user ({e}); run as root or pick another source"))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err("not present".into()),
        Err(e) => Err(format!("unreadable ({e})")),
    }
}

fn integer(sys: &Path, path: &str) -> Result<i64, String> {
    let text = read(&sys.join(path)).map_err(|why| format!("/sys/{path}: {why}"))?;
    text.split_whitespace()
        .next()
        .and_then(|t| t.parse().ok())
        .ok_or_else(|| format!("/sys/{path}: not a number: `{text}`"))
}

/// One reading: the raw integers, the value (W, or the counter's raw reading), and the battery status.
fn sample(sys: &Path, reading: &Reading) -> Result<(Vec<i64>, Option<String>), String> {
    match reading {
        Reading::CurrentVoltage { current, voltage, status, .. } => {
            let raw = vec![integer(sys, current)?, integer(sys, voltage)?];
            Ok((raw, status.as_ref().and_then(|s| read(&sys.join(s)).ok())))
        }
        Reading::Power { path, .. } => Ok((vec![integer(sys, path)?], None)),
        Reading::Counter { path, rail: Some(rail), .. } => {
            let text = read(&sys.join(path)).map_err(|why| format!("/sys/{path}: {why}"))?;
            let value = energy::iio_rails(&text).into_iter().find(|(r, _)| r == rail).map(|(_, v)| v);
            Ok((vec![value.ok_or_else(|| format!("/sys/{path}: rail {rail} is gone"))?], None))
        }
        Reading::Counter { path, .. } => Ok((vec![integer(sys, path)?], None)),
    }
}

/// Runs the side thread for one runner process.
pub struct Meter {
    start: Instant,
    source: EnergySource,
    interval_ms: u32,
    windows: Vec<EnergyWindow>,
    stop: Arc<AtomicBool>,
    thread: JoinHandle<Sampled>,
}

#[derive(Default)]
struct Sampled {
    samples: Vec<EnergySample>,
    lost: Option<String>,
    refused: Option<String>,
}

impl Meter {
    /// Finds the source (`request.source`, else the first usable one), checks it reads, and starts sampling.
    pub fn start(sys: &Path, request: &EnergyRequest) -> Result<Meter, String> {
        let (sources, absent) = energy::discover(&listing(sys));
        let source = energy::choose(&sources, &absent, request.source.as_deref())?.clone();
        sample(sys, &source.reading).map_err(|e| format!("--energy source {}: {e}", source.name))?;
        let start = Instant::now();
        let stop = Arc::new(AtomicBool::new(false));
        let (sys, reading, flag) = (sys.to_owned(), source.reading.clone(), stop.clone());
        let every = Duration::from_millis(request.interval_ms as u64);
        let thread = std::thread::Builder::new()
            .name("etbench-energy".into())
            .spawn(move || sample_until(&sys, &reading, every, start, &flag))
            .map_err(|e| format!("--energy: could not start the sampling thread: {e}"))?;
        Ok(Meter { start, source, interval_ms: request.interval_ms, windows: Vec::new(), stop, thread })
    }

    pub fn ns(&self, at: Instant) -> u64 {
        at.saturating_duration_since(self.start).as_nanos() as u64
    }

    /// Records a window that ran from `start` to `end` holding `units` forwards (or tokens).
    pub fn window(
        &mut self,
        model: u32,
        phase: WindowKind,
        round: Option<u32>,
        start: Instant,
        end: Instant,
        units: u32,
    ) {
        let (start_ns, end_ns) = (self.ns(start), self.ns(end));
        self.windows.push(EnergyWindow { model, phase, round, start_ns, end_ns, units });
    }

    /// Samples for `seconds` with nothing loaded (the idle baseline).
    pub fn idle(&mut self, seconds: f64) {
        if seconds <= 0.0 {
            return;
        }
        let start = Instant::now();
        std::thread::sleep(Duration::from_secs_f64(seconds));
        self.window(0, WindowKind::Idle, None, start, Instant::now(), 0);
    }

    /// Stops the thread (after one more sample, so the last window is enclosed) and returns the record.
    pub fn finish(self) -> EnergyRecord {
        std::thread::sleep(Duration::from_millis(self.interval_ms as u64));
        self.stop.store(true, Ordering::Relaxed);
        let sampled = self.thread.join().unwrap_or_default();
        let refused =
            self.source.refused.clone().or(sampled.refused).or_else(|| implausible(&self.source, &sampled.samples));
        EnergyRecord {
            source: self.source,
            interval_ms: self.interval_ms,
            samples: sampled.samples,
            windows: self.windows,
            refused,
            lost: sampled.lost,
        }
    }
}

fn sample_until(sys: &Path, reading: &Reading, every: Duration, start: Instant, stop: &AtomicBool) -> Sampled {
    let mut out = Sampled::default();
    let mut counter: Option<(i64, f64)> = None;
    while !stop.load(Ordering::Relaxed) {
        let t_ns = start.elapsed().as_nanos() as u64;
        match sample(sys, reading) {
            Err(e) => {
                out.lost = Some(format!("{e} at {:.2} s: the source stopped giving readings mid-run (vanished or nonsense), measurement ended there", t_ns as f64 / 1e9));
                break;
            }
            Ok((raw, status)) => {
                if let Some(s) = status.filter(|s| s == "Charging" || s == "Full") {
                    out.refused.get_or_insert_with(|| {
                        energy::charging_reason(&format!("{s} (at {:.2} s)", t_ns as f64 / 1e9))
                    });
                }
                let value = match reading {
                    Reading::CurrentVoltage { current_scale_a, voltage_scale_v, .. } => {
                        raw[0] as f64 * current_scale_a * raw[1] as f64 * voltage_scale_v
                    }
                    Reading::Power { scale_w, .. } => raw[0] as f64 * scale_w,
                    Reading::Counter { scale_j, max_raw, .. } => {
                        let (previous, total) = counter.unwrap_or((raw[0], 0.0));
                        let total = total + energy::unwrap_counter(previous, raw[0], *max_raw) as f64 * scale_j;
                        counter = Some((raw[0], total));
                        total
                    }
                };
                out.samples.push(EnergySample { t_ns, value, raw });
            }
        }
        std::thread::sleep(every);
    }
    out
}

/// Values no working sensor gives: a non-positive voltage; for a battery also a current stuck at 0 and mostly
/// negative power (it is being charged whatever its status says). A rail may idle at 0 A.
fn implausible(source: &EnergySource, samples: &[EnergySample]) -> Option<String> {
    let Reading::CurrentVoltage { current, voltage, .. } = &source.reading else { return None };
    if let Some(s) = samples.iter().find(|s| s.raw[1] <= 0) {
        return Some(format!(
            "/sys/{voltage} read {}: a voltage must be positive; this gauge's values are nonsense",
            s.raw[1]
        ));
    }
    if !source.whole_device() {
        return None;
    }
    if samples.len() >= 2 && samples.iter().all(|s| s.raw[0] == 0) {
        return Some(format!("/sys/{current} stayed at 0 over {} samples: this gauge does not update it; pick another source (--energy-source)", samples.len()));
    }
    let negative = samples.iter().filter(|s| s.value < 0.0).count();
    (negative * 2 > samples.len()).then(|| {
        format!(
            "the current's sign says the battery was charging in {negative} of {} samples; {}",
            samples.len(),
            energy::CHARGING_FIX
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn put(root: &Path, path: &str, value: &str) {
        let p = root.join(path);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, format!("{value}\n")).unwrap();
    }

    #[test]
    fn a_constant_hwmon_power_integrates_over_the_window() {
        let root = tempfile::tempdir().unwrap();
        put(root.path(), "class/hwmon/hwmon0/name", "ina3221");
        put(root.path(), "class/hwmon/hwmon0/power1_input", "2500000");
        let mut meter =
            Meter::start(root.path(), &EnergyRequest { source: None, idle_s: 0.0, interval_ms: 10 }).unwrap();
        let start = Instant::now();
        std::thread::sleep(Duration::from_millis(200));
        meter.window(0, WindowKind::Timed, None, start, Instant::now(), 4);
        let record = meter.finish();
        assert!(record.refused.is_none() && record.lost.is_none());
        let w = &record.windows[0];
        let j = energy::joules(&record.samples, false, w.start_ns, w.end_ns).unwrap();
        assert!((j - 2.5 * w.seconds()).abs() < 1e-9, "{j} vs {}", 2.5 * w.seconds());
    }

    #[test]
    fn a_vanishing_source_ends_sampling_with_a_reason_and_a_stuck_current_is_refused() {
        let root = tempfile::tempdir().unwrap();
        put(root.path(), "class/power_supply/battery/current_now", "0");
        put(root.path(), "class/power_supply/battery/voltage_now", "3900000");
        put(root.path(), "class/power_supply/battery/status", "Discharging");
        let meter =
            Meter::start(root.path(), &EnergyRequest { source: Some("battery".into()), idle_s: 0.0, interval_ms: 10 })
                .unwrap();
        std::thread::sleep(Duration::from_millis(60));
        let record = meter.finish();
        assert!(record.refused.as_ref().unwrap().contains("stayed at 0"), "{:?}", record.refused);
        let meter = Meter::start(root.path(), &EnergyRequest { source: None, idle_s: 0.0, interval_ms: 10 }).unwrap();
        std::thread::sleep(Duration::from_millis(40));
        std::fs::remove_file(root.path().join("class/power_supply/battery/current_now")).unwrap();
        std::thread::sleep(Duration::from_millis(40));
        let record = meter.finish();
        assert!(record.lost.as_ref().unwrap().contains("stopped giving readings"), "{:?}", record.lost);
        assert!(Meter::start(tempfile::tempdir().unwrap().path(), &EnergyRequest::default())
            .err()
            .unwrap()
            .contains("no energy source"));
    }
}
