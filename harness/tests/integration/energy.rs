//! `--energy`: power and energy from the device's own sensors, against STAND-IN sensors with known values — a
//! battery in a private mount namespace on this host, an hwmon rail and RAPL counters on lab board1
//! (scripts/lab/board-energy.sh), discharging and charging supplies on the lab phone. Each known value is
//! integrated over the windows the run itself recorded and must come back within 3 %.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::common::lab::{phone_up, run_on, up, LAB, PHONE};
use crate::common::*;
use etbench::results::RunResult;
use etbench_protocol::energy::WindowKind;

/// Tests that change board1's stand-in sensors take this lock.
static BOARD1: Mutex<()> = Mutex::new(());

/// Seconds inside the run's measured (non-idle) windows.
fn measured_seconds(run: &RunResult) -> f64 {
    run.energy
        .as_ref()
        .unwrap()
        .record
        .windows
        .iter()
        .filter(|w| w.phase != WindowKind::Idle)
        .map(|w| w.seconds())
        .sum()
}

/// The run's figures equal `watts` held over the windows it recorded, within 3 %.
fn assert_known_integral(run: &RunResult, watts: f64) {
    let e = run.energy.as_ref().expect("an energy record");
    let s = e.summary.as_ref().unwrap_or_else(|| panic!("no figure: {:?}", e.warnings));
    let expected = watts * measured_seconds(run);
    assert!(expected > 0.0, "no measured window: {:?}", e.record.windows);
    assert!((s.joules - expected).abs() <= 0.03 * expected, "{} J measured, {expected} J known", s.joules);
    assert!((s.watts - watts).abs() <= 0.03 * watts, "{} W measured, {watts} W known", s.watts);
    if let Some(per) = s.joules_per_forward {
        let forwards = run.samples.timed_ns.len() as f64;
        assert!((per - expected / forwards).abs() <= 0.03 * expected / forwards, "{per} J/forward");
    }
}

fn energy_warnings(run: &RunResult) -> String {
    run.energy.as_ref().map(|e| e.warnings.join(" / ")).unwrap_or_default()
}

/// Root, to mount the stand-in supplies in a private mount namespace, and a `/sys/class/power_supply` to mount them
/// over; `false` as [`require`] says.
#[must_use]
#[track_caller]
fn host_supplies() -> bool {
    let uid = unsafe { libc::getuid() };
    let root = if uid == 0 {
        Ok(())
    } else {
        Err(format!(
            "the stand-in battery is a tmpfs mounted in a private mount namespace, which needs root; this is uid {uid}"
        ))
    };
    let supplies = if Path::new("/sys/class/power_supply").is_dir() {
        Ok(())
    } else {
        Err("this kernel has no /sys/class/power_supply to mount the stand-in battery over".to_owned())
    };
    require("root", root) && require("/sys/class/power_supply", supplies)
}

// --- this host: a tmpfs over /sys/class/power_supply in a private mount namespace ------------------------------

/// Runs `etbench ARGS` in a private mount namespace whose /sys/class/power_supply is a tmpfs holding the supplies
/// `setup` writes (a shell snippet run there, e.g. `supply BAT0 -1000000 4000000 Discharging`).
fn with_power_supply(setup: &str, args: &[&str]) -> Output {
    let script = r#"set -e
mount -t tmpfs etbench-test-standin /sys/class/power_supply
supply() { mkdir -p "/sys/class/power_supply/$1"; echo Battery > "/sys/class/power_supply/$1/type"; echo "$2" > "/sys/class/power_supply/$1/current_now"; echo "$3" > "/sys/class/power_supply/$1/voltage_now"; echo "$4" > "/sys/class/power_supply/$1/status"; }
"#;
    let mut cmd = Command::new("unshare");
    cmd.args(["-m", "--propagation", "private", "sh", "-c"])
        .arg(format!("{script}{setup}\nexec \"$ETB\" \"$@\""))
        .arg("sh")
        .args(args)
        .env("ETB", env!("CARGO_BIN_EXE_etbench"))
        .env("ETBENCH_RUNNER", runner());
    cmd.output().unwrap()
}

fn local_run(setup: &str, extra: &[&str]) -> (Output, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let model = fixture("xnnpack-fp32");
    let mut args = vec![
        "run",
        "--model",
        model.to_str().unwrap(),
        "--warmup",
        "1",
        "--format",
        "none",
        "--out",
        dir.path().to_str().unwrap(),
    ];
    args.extend(extra);
    (with_power_supply(setup, &args), dir)
}

#[test]
fn local_discharging_battery_gives_the_known_integral_and_devices_info_names_it() {
    if !host_supplies() {
        return;
    }
    let _load = load();
    // -1 A (kernel µA, negative = discharging) at 4 V: 4 W.
    let battery = "supply 'BAT 0' -1000000 4000000 Discharging";
    let (out, dir) = local_run(battery, &["--energy", "--energy-idle", "0.3", "--iters", "200"]);
    assert!(out.status.success(), "{}", stderr_of(&out));
    let doc = read_doc(dir.path());
    let run = &doc.runs[0];
    assert_known_integral(run, 4.0);
    let e = run.energy.as_ref().unwrap();
    assert_eq!((e.record.source.name.as_str(), e.record.source.scope.as_str()), ("BAT 0", "battery: whole device"));
    assert!(e.record.source.units.contains("negative current = discharging"), "{}", e.record.source.units);
    assert!((e.summary.as_ref().unwrap().idle_watts.unwrap() - 4.0).abs() < 0.12);
    assert!(e.record.samples.len() >= 6, "≥ 10 Hz over idle and timed phases: {} samples", e.record.samples.len());
    let csv = std::fs::read_to_string(dir.path().join("results.csv")).unwrap();
    assert!(csv.lines().next().unwrap().contains("energy_joules_per_forward") && csv.contains("BAT 0"), "{csv}");
    // devices info shows the source, its scope and units, from the same rules as the runner.
    let info = with_power_supply(battery, &["devices", "info", "local"]);
    let json: serde_json::Value = serde_json::from_slice(&info.stdout).unwrap();
    let sources = &json["probed"]["energy"]["sources"];
    assert_eq!(sources[0]["name"], "BAT 0", "{json:#}");
    assert_eq!(sources[0]["scope"], "battery: whole device");
}

#[test]
fn local_generation_run_gives_joules_per_prefill_and_decode_token_from_their_own_windows() {
    if !host_supplies() {
        return;
    }
    let _load = load();
    let dir = tempfile::tempdir().unwrap();
    let model = program("llama-tiny-kv-xnnpack");
    let args = [
        "run",
        "--model",
        model.to_str().unwrap(),
        "--prefill",
        "32",
        "--decode",
        "32",
        "--iters",
        "4",
        "--energy",
        "--energy-idle",
        "0.2",
        "--format",
        "none",
        "--out",
        dir.path().to_str().unwrap(),
    ];
    // 2 A at 3.5 V: 7 W.
    let out = with_power_supply("supply BAT0 -2000000 3500000 Discharging", &args);
    assert!(out.status.success(), "{}", stderr_of(&out));
    let doc = read_doc(dir.path());
    let run = &doc.runs[0];
    assert_known_integral(run, 7.0);
    let e = run.energy.as_ref().unwrap();
    let s = e.summary.as_ref().unwrap();
    for (kind, per) in [
        (WindowKind::Prefill, s.prefill_joules_per_token.unwrap()),
        (WindowKind::Decode, s.decode_joules_per_token.unwrap()),
    ] {
        let windows: Vec<_> = e.record.windows.iter().filter(|w| w.phase == kind).collect();
        assert_eq!(windows.len(), 4, "one {kind:?} window per timed generation");
        let tokens: u32 = windows.iter().map(|w| w.units).sum();
        let known = 7.0 * windows.iter().map(|w| w.seconds()).sum::<f64>() / tokens as f64;
        assert!((per - known).abs() <= 0.03 * known, "{kind:?}: {per} J/token measured, {known} known");
    }
    assert!(s.joules_per_forward.is_none(), "a generation run has no forward figure");
}

#[test]
fn local_charging_nonsense_and_missing_sources_are_refused_never_guessed() {
    if !host_supplies() {
        return;
    }
    let _load = load();
    let cases = [
        ("supply BAT0 1500000 4200000 Charging", "setprop power.battery_input.suspended true"),
        // Input suspended ("Not charging") but the current still flows in: the sign says charging.
        ("supply BAT0 800000 4200000 'Not charging'", "may be charging"),
        ("supply BAT0 -500000 -3900000 Discharging", "must be positive"),
        ("supply BAT0 0 3900000 Discharging", "stayed at 0"),
    ];
    for (setup, why) in cases {
        let (out, dir) = local_run(setup, &["--energy", "--energy-idle", "0.2", "--iters", "20"]);
        assert!(out.status.success(), "{setup}: {}", stderr_of(&out));
        let doc = read_doc(dir.path());
        let run = &doc.runs[0];
        assert!(run.energy.as_ref().unwrap().summary.is_none(), "{setup}: a figure was given");
        assert!(energy_warnings(run).contains(why), "{setup}: {}", energy_warnings(run));
        // Latency was still measured.
        assert_eq!(run.samples.timed_ns.len(), 20);
        assert!(stderr_of(&out).contains(why), "{setup}: the warning reaches the terminal: {}", stderr_of(&out));
    }
    // A run that fails after sampling began keeps what was sampled (the idle baseline) and gives no figure.
    let (out, dir) = local_run(
        "supply BAT0 -1000000 4000000 Discharging",
        &["--energy", "--energy-idle", "0.3", "--method", "nope"],
    );
    assert!(!out.status.success());
    let doc = read_doc(dir.path());
    let e = doc.runs[0].energy.as_ref().expect("the record of a failed run is kept");
    assert!(
        e.record.windows.iter().any(|w| w.phase == WindowKind::Idle) && e.record.samples.len() >= 3,
        "{:?}",
        e.record.windows
    );
    assert!(e.summary.is_none() && e.warnings[0].contains("no timed window"), "{:?}", e.warnings);
    // No source at all: a clear error naming what was looked for, non-zero exit.
    let (out, _dir) = local_run("true", &["--energy"]);
    assert!(!out.status.success());
    let err = stderr_of(&out);
    assert!(
        err.contains("no energy source") && err.contains("/sys/class/hwmon") && err.contains("power_supply"),
        "{err}"
    );
    // A name that does not exist: the names that do.
    let (out, _dir) = local_run("supply BAT0 -1000000 4000000 Discharging", &["--energy-source", "BAT9"]);
    assert!(!out.status.success());
    assert!(stderr_of(&out).contains("BAT9") && stderr_of(&out).contains("BAT0"), "{}", stderr_of(&out));
}

#[test]
fn energy_flags_with_bad_values_are_refused_before_anything_runs() {
    for (flag, value) in [("--energy-idle", "-1"), ("--energy-idle", "601"), ("--energy-idle", "soon")] {
        let out = etbench().args(["run", "--model"]).arg(fixture("xnnpack-fp32")).args([flag, value]).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{flag} {value}");
        assert!(
            stderr_of(&out).contains("--energy-idle") && stderr_of(&out).contains("between 0 and 600"),
            "{}",
            stderr_of(&out)
        );
    }
}

// --- lab board1: STAND-IN hwmon and RAPL (scripts/lab/board-energy.sh) ----------------------------------------

fn board_class() -> Option<PathBuf> {
    if !up() {
        return None;
    }
    let out =
        Command::new("bash").arg(repo().join("scripts/lab/board-energy.sh")).args(["board1", LAB]).output().unwrap();
    assert!(out.status.success(), "board-energy.sh: {}", stderr_of(&out));
    Some(PathBuf::from(format!("{LAB}/board1/sysclass")))
}

/// Replaces a sensor file the way sysfs changes: the reader sees the old value or the new one, never a half.
fn put(path: &Path, value: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let tmp = path.with_extension("etbench-tmp");
    std::fs::write(&tmp, format!("{value}\n")).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

fn board_run(extra: &[&str]) -> (Output, tempfile::TempDir) {
    let model = fixture("xnnpack-fp32");
    run_on("devices", &["lab-board1"], &[&model], extra)
}

#[test]
fn board_hwmon_rail_gives_the_known_integral_and_root_only_rapl_says_why() {
    let Some(class) = board_class() else { return };
    let _board = BOARD1.lock().unwrap_or_else(|e| e.into_inner());
    let _load = load();
    put(&class.join("hwmon/hwmon0/power1_input"), "2500000");
    let info = crate::common::lab::etbench_lab("devices").args(["devices", "info", "lab-board1"]).output().unwrap();
    assert!(info.status.success(), "{}", stderr_of(&info));
    let json: serde_json::Value = serde_json::from_slice(&info.stdout).unwrap();
    let energy = &json["probed"]["energy"];
    let names: Vec<&str> = energy["sources"].as_array().unwrap().iter().map(|s| s["name"].as_str().unwrap()).collect();
    assert!(names.contains(&"hwmon0:VDD_IN") && names.contains(&"hwmon0:VDD_CPU"), "{energy:#}");
    assert_eq!(energy["sources"][0]["scope"], "rail VDD_IN (ina3221)");
    let absent = energy["absent"].as_array().unwrap();
    assert!(
        absent.iter().any(|a| a["looked_for"].as_str().unwrap().contains("intel-rapl:0")
            && a["reason"].as_str().unwrap().contains("not readable by this user")),
        "{energy:#}"
    );

    let (out, dir) = board_run(&["--energy-source", "hwmon0:VDD_IN", "--energy-idle", "0.5", "--iters", "200"]);
    assert!(out.status.success(), "{}", stderr_of(&out));
    let doc = read_doc(dir.path());
    assert_known_integral(&doc.runs[0], 2.5);
    let e = doc.runs[0].energy.as_ref().unwrap();
    assert!(
        e.notes.iter().any(|n| n.contains("not the whole device")),
        "a rail says it is not the whole device: {:?}",
        e.notes
    );
    // curr × in of the other channel: 400 mA × 5 V = 2 W.
    let (out, dir) = board_run(&["--energy-source", "hwmon0:VDD_CPU", "--energy-idle", "0", "--iters", "200"]);
    assert!(out.status.success(), "{}", stderr_of(&out));
    assert_known_integral(&read_doc(dir.path()).runs[0], 2.0);
    // The unreadable one cannot be chosen; the message names the ones that exist.
    let (out, _dir) = board_run(&["--energy-source", "intel-rapl:0"]);
    assert!(!out.status.success());
    assert!(stderr_of(&out).contains("hwmon0:VDD_IN"), "{}", stderr_of(&out));
    // A name with shell syntax reaches the runner as data, never as a command.
    let marker = format!("{LAB}/board1/work/energy-injected");
    let hostile = format!("x'\"; touch {marker}; $(touch {marker})");
    let (out, _dir) = board_run(&["--energy-source", &hostile]);
    assert!(!out.status.success());
    assert!(stderr_of(&out).contains("no such source"), "{}", stderr_of(&out));
    assert!(!Path::new(&marker).exists(), "the source name was run by a shell");
}

#[test]
fn board_rapl_counter_that_wraps_mid_run_gives_the_known_integral() {
    let Some(class) = board_class() else { return };
    let _board = BOARD1.lock().unwrap_or_else(|e| e.into_inner());
    let _load = load();
    // A readable RAPL domain counting 3 W, wrapping at 2.5 J: it wraps several times in the run. The writer is a
    // thread of this busy machine: a long timed phase keeps one late write at a window's edge well under 3 %.
    let dir = class.join("powercap/intel-rapl:1");
    let max: u64 = 2_500_000;
    put(&dir.join("name"), "package-1");
    put(&dir.join("max_energy_range_uj"), &max.to_string());
    put(&dir.join("energy_uj"), "2400000");
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writer = {
        let (stop, file) = (stop.clone(), dir.join("energy_uj"));
        std::thread::spawn(move || {
            let start = Instant::now();
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let uj = (2_400_000 + (start.elapsed().as_secs_f64() * 3e6) as u64) % (max + 1);
                put(&file, &uj.to_string());
                std::thread::sleep(Duration::from_millis(2));
            }
        })
    };
    let (out, results) = board_run(&["--energy-source", "intel-rapl:1", "--energy-idle", "0.5", "--iters", "1000"]);
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    writer.join().unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    assert!(out.status.success(), "{}", stderr_of(&out));
    let doc = read_doc(results.path());
    let e = doc.runs[0].energy.as_ref().unwrap();
    assert!(e.record.source.units.contains("wraps at 2500000"), "{}", e.record.source.units);
    let raw: Vec<i64> = e.record.samples.iter().map(|s| s.raw[0]).collect();
    assert!(raw.windows(2).any(|w| w[1] < w[0]), "the counter wrapped during the run: {raw:?}");
    assert!(e.record.samples.windows(2).all(|w| w[1].value >= w[0].value), "unwrapped joules never go back");
    assert_known_integral(&doc.runs[0], 3.0);
}

#[test]
fn board_source_that_vanishes_mid_run_ends_measurement_with_a_warning_and_keeps_the_latencies() {
    let Some(class) = board_class() else { return };
    let _board = BOARD1.lock().unwrap_or_else(|e| e.into_inner());
    let _load = load();
    let file = class.join("hwmon/hwmon0/power1_input");
    put(&file, "2500000");
    let model = fixture("xnnpack-fp32");
    let results = tempfile::tempdir().unwrap();
    let child = crate::common::lab::etbench_lab("devices")
        .args([
            "run",
            "--device",
            "lab-board1",
            "--energy-source",
            "hwmon0:VDD_IN",
            "--energy-idle",
            "1",
            "--iters",
            "1500",
            "--format",
            "none",
            "--out",
        ])
        .arg(results.path())
        .arg("--model")
        .arg(&model)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let running = wait_until(Duration::from_secs(60), || {
        command_lines().iter().any(|c| c.contains("etbench-runner") && c.contains("board1/work"))
    });
    std::thread::sleep(Duration::from_millis(1500));
    let moved = file.with_file_name("power1_input.gone");
    std::fs::rename(&file, &moved).unwrap();
    let out = child.wait_with_output().unwrap();
    std::fs::rename(&moved, &file).unwrap();
    assert!(running, "the runner never started on board1");
    assert!(out.status.success(), "{}", stderr_of(&out));
    let doc = read_doc(results.path());
    let run = &doc.runs[0];
    assert!(run.energy.as_ref().unwrap().summary.is_none(), "no figure from a source that vanished");
    assert!(energy_warnings(run).contains("stopped giving readings mid-run"), "{}", energy_warnings(run));
    assert_eq!(run.samples.timed_ns.len(), 1500, "every latency kept");
}

// --- the lab phone: stand-in power supplies beside its stand-in battery ----------------------------------------

#[test]
fn phone_discharging_supply_gives_the_known_integral_and_the_charging_one_is_refused() {
    if !phone_up() {
        return;
    }
    let _phone = PHONE.lock().unwrap_or_else(|e| e.into_inner());
    let _load = load();
    let supplies = PathBuf::from(format!("{LAB}/phone/sysfs/tree/class/power_supply"));
    let _cleanup = RemoveOnDrop(vec![supplies.join("standin-discharging"), supplies.join("standin-charging")]);
    let supply = |name: &str, current: &str, voltage: &str, status: &str| {
        let d = supplies.join(name);
        put(&d.join("type"), "Battery");
        put(&d.join("current_now"), current);
        put(&d.join("voltage_now"), voltage);
        put(&d.join("status"), status);
    };
    // A vendor gauge: mA and mV, positive while discharging: 750 mA × 4 V = 3 W.
    supply("standin-discharging", "750", "4000", "Discharging");
    supply("standin-charging", "1500000", "4200000", "Charging");
    let model = fixture("xnnpack-8da4w");
    let info = crate::common::lab::etbench_lab("devices").args(["devices", "info", "lab-phone"]).output().unwrap();
    assert!(info.status.success(), "{}", stderr_of(&info));
    let json: serde_json::Value = serde_json::from_slice(&info.stdout).unwrap();
    let sources = json["probed"]["energy"]["sources"].as_array().cloned().unwrap_or_default();
    let find = |n: &str| sources.iter().find(|s| s["name"] == n).cloned().unwrap_or_default();
    assert!(
        find("standin-discharging")["units"]
            .as_str()
            .unwrap_or_default()
            .contains("mA × mV; positive current = discharging"),
        "{sources:#?}"
    );
    assert!(find("standin-charging")["refused"].as_str().unwrap_or_default().contains("Charging"), "{sources:#?}");
    let (out, dir) = run_on(
        "devices",
        &["lab-phone"],
        &[&model],
        &["--energy-source", "standin-discharging", "--energy-idle", "0.5", "--iters", "10"],
    );
    assert!(out.status.success(), "{}", stderr_of(&out));
    assert_known_integral(&read_doc(dir.path()).runs[0], 3.0);
    let (out, dir) = run_on(
        "devices",
        &["lab-phone"],
        &[&model],
        &["--energy-source", "standin-charging", "--energy-idle", "0", "--iters", "3"],
    );
    assert!(out.status.success(), "{}", stderr_of(&out));
    let doc = read_doc(dir.path());
    assert!(doc.runs[0].energy.as_ref().unwrap().summary.is_none());
    assert!(energy_warnings(&doc.runs[0]).contains("unplug, use adb over Wi-Fi"), "{}", energy_warnings(&doc.runs[0]));
}

/// Removes the stand-in supplies a test added to the shared lab phone, also when it fails.
struct RemoveOnDrop(Vec<PathBuf>);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        for dir in &self.0 {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

// --- docs/energy.md as written -------------------------------------------------------------------------------

#[test]
fn the_energy_page_runs_as_written_on_the_lab_board() {
    let Some(class) = board_class() else { return };
    let _board = BOARD1.lock().unwrap_or_else(|e| e.into_inner());
    let _load = load();
    put(&class.join("hwmon/hwmon0/power1_input"), "2500000");
    let scratch = docs::Scratch::new().env("ETBENCH_CACHE_DIR", crate::common::lab::cache_dir().to_string_lossy());
    let outputs = scratch.run_page("docs/energy.md");
    let info = outputs.iter().find(|(c, _)| c.contains("devices info")).expect("the page shows devices info");
    assert!(String::from_utf8_lossy(&info.1.stdout).contains("hwmon0:VDD_IN"));
    let doc = read_doc(&scratch.path().join("energy-run"));
    assert_known_integral(&doc.runs[0], 2.5);
    let report = std::fs::read_to_string(scratch.path().join("energy-run/report.md")).unwrap();
    assert!(
        report.contains("energy/forward ²") && report.contains("hwmon0:VDD_IN") && report.contains("power.png"),
        "{report}"
    );
    let paired = read_doc(&scratch.path().join("energy-paired"));
    assert!(
        paired.paired.iter().any(|r| r.quantity.label() == "energy per forward" && r.ratio.is_finite()),
        "{:?}",
        paired.paired
    );
}
