//! The real `etbench-runner` on the bundled fixtures: every line it prints is a valid protocol line, phases come in
//! order, and bad input is refused with an error line and exit code 1.

use std::path::PathBuf;
use std::process::Command;

use etbench_protocol::{Dtype, ErrorKind, Line, Message, PhaseKind};

fn fixture(variant: &str) -> PathBuf {
    model(&format!("gemma3n-tiny-{variant}"))
}

fn model(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(format!("../models/{name}.pte"))
}

/// The runner with a run specification (JSON) and extra flags before the model.
fn with_spec(spec: &str, extra: &[&str], model: &std::path::Path) -> (Option<i32>, Vec<Message>, String) {
    let mut args = vec!["--spec", spec];
    args.extend(extra);
    args.push(model.to_str().unwrap());
    runner(&args)
}

fn runner(args: &[&str]) -> (Option<i32>, Vec<Message>, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_etbench-runner")).args(args).output().unwrap();
    let stdout = String::from_utf8(out.stdout).unwrap();
    let msgs = stdout.lines().map(|l| Line::parse(l).unwrap_or_else(|e| panic!("{e}: {l}")).msg).collect();
    (out.status.code(), msgs, String::from_utf8_lossy(&out.stderr).into_owned())
}

#[test]
fn stdout_is_pure_protocol_in_phase_order() {
    let model = fixture("xnnpack-8da4w");
    let (code, msgs, _) = with_spec(r#"{"warmup": 2, "iterations": 4, "threads": 1}"#, &[], &model);
    assert_eq!(code, Some(0));
    assert!(matches!(&msgs[0], Message::Conditions(_)), "conditions come first: {:?}", msgs[0]);
    let msgs: Vec<Message> = msgs.into_iter().filter(|m| !matches!(m, Message::Conditions(_))).collect();
    // Meta needs the loaded program, so it follows the program-load phase line.
    assert!(matches!(&msgs[0], Message::Phase(p) if p.phase == PhaseKind::ProgramLoad), "{:?}", msgs[0]);
    let Message::Meta(meta) = &msgs[1] else { panic!("second line must be meta: {:?}", msgs[1]) };
    assert_eq!(meta.methods, vec!["forward".to_owned()]);
    assert_eq!(meta.inputs[0].dtype, Some(Dtype::Int64));
    assert_eq!(meta.input_ids.len(), 32);
    assert_eq!(meta.threads_effective, Some(1));
    let phases: Vec<PhaseKind> =
        msgs.iter().filter_map(|m| if let Message::Phase(p) = m { Some(p.phase) } else { None }).collect();
    assert_eq!(
        phases,
        [PhaseKind::ProgramLoad, PhaseKind::MethodLoad, PhaseKind::FirstForward, PhaseKind::Warmup, PhaseKind::Timed]
    );
    let timed = msgs.iter().filter(|m| matches!(m, Message::Sample(s) if s.phase == PhaseKind::Timed)).count();
    assert_eq!(timed, 4);
    let Some(Message::Summary(summary)) = msgs.last() else { panic!("last line must be the summary") };
    let out = &summary.outputs[0];
    assert_eq!(out.sizes[..2], [1, 32]);
    assert!(out.is_finite() && out.argmax_last.is_some());
}

#[test]
fn a_spec_with_an_unknown_key_is_refused_before_anything_runs() {
    let (code, msgs, err) = with_spec(r#"{"iters": 4}"#, &[], &fixture("bf16"));
    assert_eq!(code, Some(2));
    assert!(msgs.is_empty());
    assert!(err.contains("unknown field `iters`") && err.contains("iterations"), "{err}");
}

#[test]
fn a_float_input_program_runs_with_seeded_random_input_and_matches_its_export() {
    let (code, msgs, err) = with_spec(r#"{"warmup": 0, "iterations": 2}"#, &[], &model("convnet-fp32"));
    assert_eq!(code, Some(0), "{err}");
    let meta = msgs.iter().find_map(|m| if let Message::Meta(m) = m { Some(m) } else { None }).unwrap();
    assert_eq!(meta.inputs_used[0].spec, etbench_protocol::InputSpec::Random { seed: 0 });
    // The sha256 of the input bytes that scripts/export_fixtures.py generated with its own SplitMix64.
    assert_eq!(meta.inputs_used[0].sha256, "a7e3c819d71cb867b420423aefb569a544ccb78a5a50aff49a494eccddf81f3b");
    let Some(Message::Summary(s)) = msgs.last() else { panic!() };
    assert_eq!((s.outputs[0].sizes.clone(), s.outputs[0].argmax_last), (vec![1, 10], Some(1)));
    assert!((s.outputs[0].sum.unwrap() - -0.18420781195163727).abs() < 1e-4);
}

#[test]
fn a_two_input_program_gets_both_inputs_and_every_output_is_checked() {
    let (code, msgs, err) =
        with_spec(r#"{"warmup": 0, "iterations": 1, "inputs": ["ids", "ids:5"]}"#, &[], &model("decoder-step-fp32"));
    assert_eq!(code, Some(0), "{err}");
    let meta = msgs.iter().find_map(|m| if let Message::Meta(m) = m { Some(m) } else { None }).unwrap();
    assert_eq!(meta.inputs_used.len(), 2);
    assert_eq!(meta.inputs_used[1].spec.to_string(), "ids:5");
    let Some(Message::Summary(s)) = msgs.last() else { panic!() };
    assert_eq!(s.outputs.iter().map(|o| o.index).collect::<Vec<_>>(), vec![0, 1]);
    assert_eq!(s.outputs[1].sizes, vec![1, 1, 64]);
}

#[test]
fn an_input_index_the_method_lacks_is_an_error_line() {
    let (code, msgs, _) = with_spec(r#"{"inputs": ["random", "zeros"]}"#, &[], &model("convnet-fp32"));
    assert_eq!(code, Some(1));
    let Some(Message::Error(e)) = msgs.last() else { panic!("{msgs:?}") };
    assert_eq!(e.kind, ErrorKind::InvalidInput);
    assert!(e.message.contains("index 1") && e.message.contains("float32[1, 3, 32, 32]"), "{}", e.message);
}

#[test]
fn ids_outside_the_vocabulary_are_refused() {
    let model = fixture("int8");
    let mut ids = vec!["5"; 31];
    ids.push("99999999");
    let list = ids.join(",");
    let (code, msgs, _) = with_spec(&format!(r#"{{"inputs": ["ids:{list}"]}}"#), &[], &model);
    assert_eq!(code, Some(1));
    let Some(Message::Error(e)) = msgs.last() else { panic!("{msgs:?}") };
    assert!(e.message.contains("99999999") && e.message.contains("vocabulary"), "{}", e.message);
}

#[test]
fn load_modes_give_identical_outputs() {
    let model = fixture("int8");
    let mut sums = Vec::new();
    for mode in ["mmap", "file", "mlock"] {
        let (code, msgs, err) =
            with_spec(&format!(r#"{{"load_mode": "{mode}", "warmup": 0, "iterations": 1}}"#), &[], &model);
        assert_eq!(code, Some(0), "{mode}: {err}");
        let Some(Message::Summary(s)) = msgs.last() else { panic!() };
        sums.push((s.outputs[0].argmax_last, s.outputs[0].sum.map(f64::to_bits)));
    }
    assert!(sums.windows(2).all(|w| w[0] == w[1]), "{sums:?}");
}

#[test]
fn dump_output_writes_the_raw_logits() {
    let model = fixture("xnnpack-fp32");
    let dir = tempfile_dir();
    let dump = dir.join("out.bin");
    let (code, msgs, _) = with_spec(r#"{"iterations": 1}"#, &["--dump-output", dump.to_str().unwrap()], &model);
    assert_eq!(code, Some(0));
    let Some(Message::Summary(s)) = msgs.last() else { panic!() };
    let numel: i64 = s.outputs[0].sizes.iter().product();
    assert_eq!(std::fs::metadata(&dump).unwrap().len(), numel as u64 * 4);
    std::fs::remove_dir_all(dir).unwrap();
}

fn tempfile_dir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("etbench-runner-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn fake_sysfs(dir: &std::path::Path, temp_millic: i64) {
    let zone = dir.join("class/thermal/thermal_zone0");
    std::fs::create_dir_all(&zone).unwrap();
    std::fs::write(zone.join("type"), "soc-thermal\n").unwrap();
    std::fs::write(zone.join("temp"), format!("{temp_millic}\n")).unwrap();
    let freq = dir.join("devices/system/cpu/cpu0/cpufreq");
    std::fs::create_dir_all(&freq).unwrap();
    std::fs::write(freq.join("scaling_governor"), "powersave\n").unwrap();
}

#[test]
fn conditions_are_recorded_before_and_after_and_a_hot_gate_times_out() {
    let root = tempfile::tempdir().unwrap();
    fake_sysfs(root.path(), 88_000);
    let model = fixture("xnnpack-fp32");
    let spec = r#"{"iterations": 1, "warmup": 0, "thermal_gate_c": 60, "gate_timeout_s": 0.3}"#;
    let (code, msgs, _) = with_spec(spec, &["--sysfs-root", root.path().to_str().unwrap()], &model);
    assert_eq!(code, Some(0), "the run goes on after a gate timeout");
    let conditions: Vec<_> =
        msgs.iter().filter_map(|m| if let Message::Conditions(c) = m { Some(c) } else { None }).collect();
    assert_eq!(conditions.len(), 2);
    let gate = conditions[0].thermal_gate.as_ref().unwrap();
    assert!(gate.timed_out && gate.waited_ms >= 300, "{gate:?}");
    assert_eq!(conditions[1].max_temp_c(), Some(88.0));
    assert_eq!(conditions[0].facts.cpus[0].governor.as_deref(), Some("powersave"));
}

#[test]
fn cpu_affinity_pins_or_refuses_clearly() {
    let model = fixture("xnnpack-fp32");
    let (code, _, err) = with_spec(r#"{"iterations": 1, "cpu_affinity": "0x1"}"#, &[], &model);
    assert_eq!(code, Some(0), "{err}");
    // A mask of no CPU is not a run specification (refused when the spec is read: exit 2, the value named).
    let (code, _, err) = with_spec(r#"{"cpu_affinity": "0x0"}"#, &[], &model);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("`0x0` selects no CPU"), "{err}");
}

#[test]
fn heartbeats_keep_coming_while_the_model_executes() {
    let (code, msgs, err) = with_spec(r#"{"warmup": 0, "iterations": 12, "heartbeat_s": 0.05}"#, &[], &fixture("bf16"));
    assert_eq!(code, Some(0), "{err}");
    let beats = msgs.iter().filter(|m| matches!(m, Message::Heartbeat(_))).count();
    assert!(beats >= 3, "{beats} heartbeats in a run of ~12 bf16 forwards at one per 50 ms");
}

#[test]
fn a_runner_whose_host_stopped_reading_exits_within_a_heartbeat() {
    use std::io::BufRead;
    // 100 000 bf16 forwards would take many minutes: only the closed pipe can end this run early.
    let mut child = Command::new(env!("CARGO_BIN_EXE_etbench-runner"))
        .args(["--spec", r#"{"warmup": 0, "iterations": 100000, "heartbeat_s": 0.1}"#])
        .arg(fixture("bf16"))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut stdout = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut first = String::new();
    stdout.read_line(&mut first).unwrap();
    assert!(Line::parse(first.trim()).is_ok(), "{first}");
    drop(stdout);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if std::time::Instant::now() > deadline {
            child.kill().unwrap();
            panic!("the runner kept computing after its reader went away");
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    assert_eq!(status.code(), Some(3));
}
