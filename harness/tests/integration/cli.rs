//! End-to-end: the real `etbench` CLI driving the real `etbench-runner` (real ExecuTorch runtime) on the bundled
//! Gemma 3n fixtures.

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::common::*;
use etbench::results::{OutputVerdict, RunStatus};
use etbench_protocol::{ErrorKind, PhaseKind};

fn run_models(models: &[&Path], extra: &[&str]) -> (std::process::Output, tempfile::TempDir) {
    let out = tempfile::tempdir().unwrap();
    let mut cmd = etbench();
    cmd.args(["run", "--device", "local", "--warmup", "1", "--iters", "3", "--format", "json", "--out"])
        .arg(out.path());
    for m in models {
        cmd.arg("--model").arg(m);
    }
    cmd.args(extra);
    (cmd.output().unwrap(), out)
}

#[test]
fn every_bundled_variant_runs_and_matches_its_export() {
    let models = fixtures();
    let refs: Vec<&Path> = models.iter().map(|p| p.as_path()).collect();
    let (out, dir) = run_models(&refs, &[]);
    assert!(out.status.success(), "etbench failed: {}", stderr_of(&out));
    let doc = read_doc(dir.path());
    // stdout carries the same document as results.json.
    let stdout_doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(stdout_doc["runs"].as_array().unwrap().len(), models.len());
    assert_eq!(doc.schema_version, etbench::results::SCHEMA_VERSION);
    assert_eq!(doc.runs.len(), models.len());
    for run in &doc.runs {
        assert_eq!(run.status, RunStatus::Ok, "{}: {:?}", run.model.name, run.error);
        assert_eq!(run.output_verdict, OutputVerdict::MatchesManifest, "{}", run.model.name);
        assert_eq!(run.samples.timed_ns.len(), 3);
        assert_eq!(run.samples.warmup_ns.len(), 1);
        assert!(run.samples.first_forward_ns.is_some());
        let phases: Vec<PhaseKind> = run.phases.iter().map(|p| p.phase).collect();
        assert_eq!(
            phases,
            [
                PhaseKind::ProgramLoad,
                PhaseKind::MethodLoad,
                PhaseKind::FirstForward,
                PhaseKind::Warmup,
                PhaseKind::Timed
            ]
        );
        let s = run.summary.as_ref().unwrap();
        assert!(s.latency_ns.min > 0.0 && s.latency_ns.median <= s.latency_ns.max);
        assert_eq!(s.tokens_per_forward, Some(32));
        let prefill = s.prefill_tokens_per_s.as_ref().unwrap().median;
        assert!((prefill / s.decode_equivalent_tokens_per_s.as_ref().unwrap().median - 32.0).abs() < 1e-6);
        assert!(s.peak_rss_bytes.unwrap() > 1 << 20, "peak RSS should be at least 1 MiB");
        let runner = run.runner.as_ref().unwrap();
        assert_eq!(runner.inputs[0].sizes, vec![1, 32]);
        assert!(runner.executorch_version.starts_with("1.5.1"), "{}", runner.executorch_version);
        assert_eq!(run.model.sha256.len(), 64);
    }
    let csv = std::fs::read_to_string(dir.path().join("results.csv")).unwrap();
    assert_eq!(csv.lines().count(), models.len() + 1, "{csv}");
    assert!(csv.lines().next().unwrap().contains("latency_median_ns"));
    assert!(doc.provenance.host.cpu_logical_cores >= 1);
}

#[test]
fn table_output_shows_medians_and_the_no_kv_cache_label() {
    let dir = tempfile::tempdir().unwrap();
    let out = etbench()
        .args(["run", "--iters", "2", "--warmup", "0", "--threads", "1", "--out"])
        .arg(dir.path())
        .arg("--model")
        .arg(fixture("xnnpack-fp32"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr_of(&out));
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(stdout.contains("median ms") && stdout.contains("gemma3n-tiny-xnnpack-fp32"), "{stdout}");
    assert!(stdout.contains("No KV cache"), "{stdout}");
    let doc = read_doc(dir.path());
    assert_eq!(doc.runs[0].runner.as_ref().unwrap().threads_effective, Some(1));
}

#[test]
fn bench_writes_json_csv_and_markdown_for_every_bundled_model() {
    let dir = tempfile::tempdir().unwrap();
    let out = etbench().args(["bench", "--iters", "2", "--warmup", "0", "--out"]).arg(dir.path()).output().unwrap();
    assert!(out.status.success(), "{}", stderr_of(&out));
    let report = std::fs::read_to_string(dir.path().join("report.md")).unwrap();
    for model in fixtures() {
        let name = model.file_stem().unwrap().to_string_lossy().into_owned();
        assert!(report.contains(&name), "report.md lacks {name}:\n{report}");
    }
    // The same report as `etbench report` writes (one renderer), charts included.
    assert!(
        report.starts_with("# etbench report\n") && report.contains("| variant |") && report.contains("matches export"),
        "{report}"
    );
    // The bundled LLM programs with a KV cache get a generation run (their context holds 128: pp64 tg64) and the
    // LLM table; the window programs keep the forward table.
    for needle in [
        "llama-tiny-kv-xnnpack",
        "gemma3n-tiny-kv-xnnpack-fp32",
        "| prefill tok/s | decode tok/s | TTFT ms |",
        "pp64 tg64",
    ] {
        assert!(report.contains(needle), "report.md lacks {needle}:\n{report}");
    }
    for chart in ["decode", "ttft", "decode_by_position"] {
        assert!(dir.path().join(format!("{chart}.png")).is_file(), "no {chart} chart");
    }
    for chart in ["latency", "throughput", "peak_rss"] {
        assert!(
            dir.path().join(format!("{chart}.png")).is_file() && dir.path().join(format!("{chart}.svg")).is_file(),
            "no {chart} chart"
        );
        assert!(report.contains(&format!("({chart}.png)")), "report.md does not link {chart}.png:\n{report}");
    }
    let reported = etbench().arg("report").arg(dir.path()).arg("--out").arg(dir.path().join("again")).output().unwrap();
    assert!(reported.status.success(), "{}", stderr_of(&reported));
    assert_eq!(
        std::fs::read_to_string(dir.path().join("again/report.md")).unwrap(),
        report,
        "bench and report write the same report.md"
    );
    let bundled = std::fs::read_dir(models_dir())
        .unwrap()
        .filter(|e| e.as_ref().unwrap().path().extension().is_some_and(|x| x == "pte"))
        .count();
    let doc = read_doc(dir.path());
    assert_eq!(doc.runs.len(), bundled, "bench runs every .pte in models/, LLM or not");
    assert!(
        doc.runs.iter().all(|r| r.output_verdict == OutputVerdict::MatchesManifest),
        "every bundled model matches its export"
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("report.md"));
}

/// Runs one bad model and returns the error row's kind and message, checking the exit code and stderr.
fn single_error(model: &Path, extra: &[&str]) -> (ErrorKind, String) {
    let (out, dir) = run_models(&[model], extra);
    assert_eq!(out.status.code(), Some(1), "stderr: {}", stderr_of(&out));
    assert!(stderr_of(&out).contains("1 of 1 run failed"), "{}", stderr_of(&out));
    let doc = read_doc(dir.path());
    let run = &doc.runs[0];
    assert_eq!(run.status, RunStatus::Error);
    assert!(run.summary.is_none());
    let err = run.error.clone().unwrap();
    (err.kind, err.message)
}

#[test]
fn missing_model_is_an_error_row_naming_the_path() {
    let (kind, msg) = single_error(Path::new("/nonexistent/model.pte"), &[]);
    assert_eq!(kind, ErrorKind::ModelNotFound);
    assert!(msg.contains("/nonexistent/model.pte"), "{msg}");
}

#[test]
fn empty_file_and_non_pte_are_refused_clearly() {
    let tmp = tempfile::tempdir().unwrap();
    let empty = tmp.path().join("empty.pte");
    std::fs::write(&empty, b"").unwrap();
    assert_eq!(single_error(&empty, &[]).0, ErrorKind::EmptyFile);
    let text = tmp.path().join("notes.pte");
    std::fs::write(&text, b"this is not a flatbuffer at all, just text\n").unwrap();
    let (kind, msg) = single_error(&text, &[]);
    assert_eq!(kind, ErrorKind::ProgramLoad);
    assert!(msg.contains("not a valid ExecuTorch program"), "{msg}");
}

#[test]
fn truncated_pte_fails_to_load_without_a_crash() {
    let tmp = tempfile::tempdir().unwrap();
    let bytes = std::fs::read(fixture("bf16")).unwrap();
    let truncated = tmp.path().join("truncated.pte");
    std::fs::write(&truncated, &bytes[..bytes.len() / 2]).unwrap();
    let (kind, msg) = single_error(&truncated, &[]);
    assert!(matches!(kind, ErrorKind::ProgramLoad | ErrorKind::MethodLoad), "{kind:?}: {msg}");
    assert!(msg.contains("ExecuTorch error"), "{msg}");
}

#[test]
fn wrong_method_lists_the_available_ones() {
    let (kind, msg) = single_error(&fixture("int8"), &["--method", "generate"]);
    assert_eq!(kind, ErrorKind::MethodNotFound);
    assert!(msg.contains("`generate`") && msg.contains("available: forward"), "{msg}");
}

#[test]
fn input_of_the_wrong_length_names_the_expected_count() {
    let (kind, msg) = single_error(&fixture("bf16"), &["--input-ids", "1,2,3"]);
    assert_eq!(kind, ErrorKind::InvalidInput);
    assert!(msg.contains("input 0") && msg.contains("expects 32 values") && msg.contains("got 3"), "{msg}");
}

#[test]
fn zero_iterations_is_a_usage_error() {
    let out = etbench().args(["run", "--iters", "0", "--model"]).arg(fixture("bf16")).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr_of(&out).contains("--iters"), "{}", stderr_of(&out));
}

#[test]
fn unwritable_out_fails_before_running_and_writes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("a-file");
    std::fs::write(&file, b"x").unwrap();
    let out =
        etbench().args(["run", "--out"]).arg(file.join("sub")).arg("--model").arg(fixture("bf16")).output().unwrap();
    assert_eq!(out.status.code(), Some(2), "an unwritable --out is an argument problem");
    let err = stderr_of(&out);
    assert!(err.contains("--out") && err.contains("a-file"), "{err}");
    assert!(!err.contains("[1/1]"), "nothing should have run: {err}");
    assert_eq!(std::fs::read(&file).unwrap(), b"x");
}

fn runner_children_of(parent: u32) -> Vec<u32> {
    let mut pids = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else { continue };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else { continue };
        // Fields after the `(comm)`: state ppid ...
        let Some(rest) = stat.rsplit_once(") ").map(|(_, r)| r) else { continue };
        let ppid: u32 = rest.split(' ').nth(1).and_then(|p| p.parse().ok()).unwrap_or(0);
        if ppid == parent && stat.contains("(etbench-runner)") {
            pids.push(pid);
        }
    }
    pids
}

#[test]
fn runner_killed_mid_sweep_becomes_an_error_row_and_the_sweep_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let child = etbench()
        .args(["run", "--warmup", "0", "--iters", "50", "--out"])
        .arg(dir.path())
        .arg("--model")
        .arg(fixture("bf16"))
        .arg("--model")
        .arg(fixture("xnnpack-fp32"))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    let victim = loop {
        if let Some(&pid) = runner_children_of(child.id()).first() {
            break pid;
        }
        assert!(Instant::now() < deadline, "no etbench-runner child appeared");
        std::thread::sleep(Duration::from_millis(20));
    };
    std::thread::sleep(Duration::from_millis(300));
    // Safety: plain syscall on a pid we just found as our child's child.
    assert_eq!(unsafe { libc::kill(victim as i32, libc::SIGKILL) }, 0);
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr_of(&out));
    let doc = read_doc(dir.path());
    assert_eq!(doc.runs.len(), 2);
    let killed = &doc.runs[0];
    assert_eq!(killed.status, RunStatus::Error);
    let err = killed.error.as_ref().unwrap();
    assert_eq!(err.kind, ErrorKind::RunnerCrashed);
    assert!(err.message.contains("signal 9"), "{}", err.message);
    assert_eq!(doc.runs[1].status, RunStatus::Ok, "{:?}", doc.runs[1].error);
    assert_eq!(doc.runs[1].samples.timed_ns.len(), 50);
}

#[test]
fn thread_and_load_mode_lists_sweep_and_interleave_orders_round_robin() {
    let dir = tempfile::tempdir().unwrap();
    let out = etbench()
        .args([
            "run",
            "--iters",
            "2",
            "--warmup",
            "0",
            "--threads",
            "1,2",
            "--load-mode",
            "mmap,file",
            "--repeat",
            "2",
            "--interleave",
            "--format",
            "none",
            "--out",
        ])
        .arg(dir.path())
        .arg("--model")
        .arg(fixture("xnnpack-fp32"))
        .arg("--model")
        .arg(fixture("xnnpack-8da4w"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr_of(&out));
    let doc = read_doc(dir.path());
    assert_eq!(doc.runs.len(), 2 * 2 * 2 * 2);
    let order: Vec<(u32, &str)> = doc.runs.iter().map(|r| (r.params.repeat_index, r.model.name.as_str())).collect();
    // Round-robin: all of repeat 0 (both models) before any of repeat 1.
    assert!(order[..8].iter().all(|(r, _)| *r == 0) && order[8..].iter().all(|(r, _)| *r == 1), "{order:?}");
    assert_ne!(order[0].1, order[4].1);
    let effective: std::collections::BTreeSet<_> =
        doc.runs.iter().map(|r| (r.params.spec.load_mode, r.runner.as_ref().unwrap().threads_effective)).collect();
    assert_eq!(effective.len(), 4, "{effective:?}");
    assert!(doc.runs.iter().all(|r| r.conditions.len() == 2), "conditions before and after every run");
}

#[test]
fn a_float_input_and_a_two_input_program_run_end_to_end_and_match_their_exports() {
    let (conv, step) = (program("convnet-fp32"), program("decoder-step-fp32"));
    let (out, dir) = run_models(&[&conv, &step], &[]);
    assert!(out.status.success(), "{}", stderr_of(&out));
    let doc = read_doc(dir.path());
    for run in &doc.runs {
        assert_eq!(run.output_verdict, OutputVerdict::MatchesManifest, "{}: {:?}", run.model.name, run.outputs);
    }
    let conv_run = &doc.runs[0];
    let fit = conv_run.memory_fit.as_ref().expect("will it fit is recorded for every run");
    assert!(fit.planned_bytes > 0 && fit.fits && fit.file_bytes == conv_run.model.size_bytes, "{fit:?}");
    let used = &conv_run.runner.as_ref().unwrap().inputs_used;
    assert_eq!(
        (used[0].spec.to_string(), used[0].value.describe()),
        ("random:0".into(), "float32[1, 3, 32, 32]".into())
    );
    assert_eq!(conv_run.summary.as_ref().unwrap().tokens_per_forward, None, "an image has no tokens");
    let step_run = &doc.runs[1];
    assert_eq!(step_run.outputs.len(), 2, "every output is checked");
    assert_eq!(step_run.runner.as_ref().unwrap().inputs_used.len(), 2);
}

#[test]
fn input_specs_reach_the_runner_and_are_recorded_with_their_hashes() {
    let step = program("decoder-step-fp32");
    let (out, dir) = run_models(&[&step], &["--input", "ids:7", "--input", "1=zeros"]);
    assert!(out.status.success(), "{}", stderr_of(&out));
    let run = &read_doc(dir.path()).runs[0];
    let specs: Vec<String> = run.params.spec.inputs.iter().map(|s| s.to_string()).collect();
    assert_eq!(specs, ["ids:7", "zeros"]);
    let used = &run.runner.as_ref().unwrap().inputs_used;
    assert_eq!(used[1].spec.to_string(), "zeros");
    assert_ne!(used[0].sha256, used[1].sha256);
    // Not the default inputs: the export's recorded outputs do not apply.
    assert_eq!(run.output_verdict, OutputVerdict::Finite);
}

#[test]
fn file_inputs_raw_and_npy_are_checked_against_the_method() {
    let conv = program("convnet-fp32");
    let dir = tempfile::tempdir().unwrap();
    let raw = dir.path().join("image with space.bin");
    std::fs::write(&raw, vec![0u8; 3 * 32 * 32 * 4]).unwrap();
    let (out, _res) = run_models(&[&conv], &["--input", &format!("file:{}", raw.display())]);
    assert!(out.status.success(), "{}", stderr_of(&out));
    std::fs::write(&raw, vec![0u8; 100]).unwrap();
    let (kind, msg) = single_error(&conv, &["--input", &format!("file:{}", raw.display())]);
    assert_eq!(kind, ErrorKind::InvalidInput);
    assert!(
        msg.contains("image with space.bin") && msg.contains("holds 100 bytes") && msg.contains("needs 12288"),
        "{msg}"
    );
    let npy = dir.path().join("x.npy");
    let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
    let header = format!("{:<117}\n", "{'descr': '<i8', 'fortran_order': False, 'shape': (1, 3, 32, 32), }");
    bytes.extend((header.len() as u16).to_le_bytes());
    bytes.extend(header.as_bytes());
    bytes.extend(vec![0u8; 3 * 32 * 32 * 8]);
    std::fs::write(&npy, bytes).unwrap();
    let (_, msg) = single_error(&conv, &["--input", &format!("file:{}", npy.display())]);
    assert!(msg.contains("dtype is <i8") && msg.contains("float32"), "{msg}");
}

#[test]
fn bad_input_specs_fail_clearly() {
    let conv = program("convnet-fp32");
    let (kind, msg) = single_error(&conv, &["--input", "random", "--input", "zeros"]);
    assert_eq!(kind, ErrorKind::InvalidInput);
    assert!(msg.contains("index 1") && msg.contains("takes 1 input"), "{msg}");
    let out = etbench().args(["run", "--input", "gauss", "--model"]).arg(&conv).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr_of(&out).contains("--input gauss") && stderr_of(&out).contains("random[:SEED]"),
        "{}",
        stderr_of(&out)
    );
    let (kind, msg) = single_error(&conv, &["--prompt", "hello there"]);
    assert_eq!(kind, ErrorKind::InvalidInput);
    assert!(msg.contains("float32") && msg.contains("token"), "{msg}");
}

#[test]
fn version_1_results_still_read_and_newer_ones_say_upgrade() {
    let v1 = repo().join("harness/tests/integration/data/results-v1.json");
    let doc = etbench::results::Document::read(&v1).expect("a schema-1 document reads");
    assert_eq!(doc.schema_version, 2);
    assert_eq!(doc.runs[0].params.spec.iterations, 20);
    let out = etbench().args(["report", "--format", "csv"]).arg(&v1).output().unwrap();
    assert!(out.status.success(), "{}", stderr_of(&out));
    let dir = tempfile::tempdir().unwrap();
    let newer = dir.path().join("results.json");
    std::fs::write(&newer, r#"{"schema_version": 3, "runs": []}"#).unwrap();
    let out = etbench().args(["report", "--format", "csv"]).arg(&newer).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr_of(&out).contains("newer etbench: upgrade"), "{}", stderr_of(&out));
}

#[test]
fn a_copied_binary_benchmarks_its_home_not_the_checkout_it_was_built_in() {
    let elsewhere = tempfile::tempdir().unwrap();
    let bin = elsewhere.path().join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    for exe in [env!("CARGO_BIN_EXE_etbench"), runner().to_str().unwrap()] {
        let to = bin.join(Path::new(exe).file_name().unwrap());
        std::fs::copy(exe, &to).unwrap();
    }
    let home = elsewhere.path().join("home");
    std::fs::create_dir_all(home.join("models")).unwrap();
    std::fs::copy(program("convnet-fp32"), home.join("models/convnet-fp32.pte")).unwrap();
    std::fs::copy(models_dir().join("manifest-fixtures.json"), home.join("models/manifest-fixtures.json")).unwrap();
    let work = elsewhere.path().join("work");
    std::fs::create_dir_all(&work).unwrap();
    let copied = || {
        let mut cmd = std::process::Command::new(bin.join("etbench"));
        cmd.current_dir(&work)
            .env_remove("ETBENCH_HOME")
            .env_remove("ETBENCH_RUNNER")
            .env_remove("ETBENCH_DEVICES_DIR");
        cmd
    };
    let out = copied().args(["bench", "--iters", "1", "--warmup", "0"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = stderr_of(&out);
    assert!(
        err.contains("no etbench home found")
            && err.contains("ETBENCH_HOME (unset)")
            && err.contains(work.to_str().unwrap()),
        "{err}"
    );
    let out = copied().env("ETBENCH_HOME", &home).args(["bench", "--iters", "1", "--warmup", "0"]).output().unwrap();
    assert!(out.status.success(), "{}", stderr_of(&out));
    let reports: Vec<_> = std::fs::read_dir(home.join("reports")).unwrap().map(|e| e.unwrap().path()).collect();
    assert_eq!(reports.len(), 1, "the report lands in the home's reports/");
    let doc = read_doc(&reports[0]);
    assert_eq!(doc.runs.len(), 1, "only the home's one model ran");
    assert_eq!(doc.runs[0].model.name, "convnet-fp32");
    assert_eq!(doc.runs[0].output_verdict, OutputVerdict::MatchesManifest);
    // `etbench devices` also lists what the default adb server sees: a fake `adb` answers, so no server is started
    // on 5037 (adb would start one of its own there, which outlives the test).
    let tools = elsewhere.path().join("tools");
    std::fs::create_dir_all(&tools).unwrap();
    let path = no_adb_server(&tools);
    let out = copied().env("ETBENCH_HOME", &home).env("PATH", &path).arg("devices").output().unwrap();
    assert!(out.status.success(), "{}", stderr_of(&out));
    assert!(!String::from_utf8_lossy(&out.stdout).contains("lab-board1"), "no profiles of the build checkout leak in");
}

/// Every argument problem found before anything runs: exit 2, one message naming the flag, no results directory.
#[test]
fn argument_problems_exit_2_name_the_flag_and_leave_no_results_directory() {
    let tmp = tempfile::tempdir().unwrap();
    let garbage = tmp.path().join("garbage.json");
    std::fs::write(&garbage, "{ not json").unwrap();
    let blank_prompts = tmp.path().join("blank.txt");
    std::fs::write(&blank_prompts, "\n  \n").unwrap();
    let (int8, conv, bf16) = (fixture("int8"), program("convnet-fp32"), fixture("bf16"));
    let (int8, conv, bf16) = (int8.to_str().unwrap(), conv.to_str().unwrap(), bf16.to_str().unwrap());
    let (dir, garbage, blank) =
        (tmp.path().to_str().unwrap(), garbage.to_str().unwrap(), blank_prompts.to_str().unwrap());
    let all_cpus_but_none_here = "0x80000000000000000000000000000000";
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec!["run", "--model", dir], "--model"),
        (vec!["run", "--model", int8, "--model", dir], "is a directory"),
        (vec!["run", "--model", int8, "--prompt", ""], "--prompt"),
        (vec!["run", "--model", int8, "--prompt", "   "], "the prompt is empty"),
        (vec!["run", "--model", int8, "--prompt-file", blank], "--prompt-file"),
        (vec!["run", "--model", int8, "--cpu-affinity", "zz"], "--cpu-affinity"),
        (vec!["run", "--model", int8, "--cpu-affinity", "0x0"], "selects no CPU"),
        (vec!["run", "--model", int8, "--cpu-affinity", all_cpus_but_none_here], "selects no CPU of this host"),
        (vec!["run", "--model", int8, "--prompt", "hi", "--tokenizer", "/nope/tokenizer.json"], "--tokenizer"),
        (vec!["run", "--model", int8, "--prompt", "hi", "--tokenizer", garbage], "not a valid tokenizer.json"),
        (vec!["run", "--model", int8, "--tokenizer", garbage], "--tokenizer needs --prompt"),
        (vec!["run", "--model", conv, "--input", "gauss"], "--input gauss"),
        (vec!["run", "--model", conv, "--input", "file:/nope/x.bin"], "--input file:/nope/x.bin"),
        (vec!["run", "--model", conv, "--input", "0=file:/"], "is a directory"),
        (vec!["run", "--model", conv, "--iters", "-1"], "invalid value '-1' for '--iters"),
        (vec!["run", "--model", conv, "--warmup", "-3"], "invalid value '-3' for '--warmup"),
        (vec!["run", "--model", conv, "--cooldown", "-1"], "--cooldown"),
        (vec!["run", "--model", conv, "--device", "nosuch", "--devices-dir", dir], "--device nosuch"),
        (vec!["run", "--model", conv, "--device", "local", "--device", "local"], "--device local is given twice"),
        (vec!["run", "--model", conv, "--format", "yaml"], "--format"),
        (vec!["bench", "--iters", "-1"], "invalid value '-1' for '--iters"),
        (vec!["bench", "--models", "/nope/models"], "--models"),
        (vec!["bench", "--cpu-affinity", "0xq"], "--cpu-affinity"),
        (vec!["drift", "--reference", dir, int8], "drift --reference"),
        (vec!["drift", "--reference", bf16, "/nope/candidate.pte"], "drift CANDIDATE /nope/candidate.pte"),
        (vec!["drift", "--reference", bf16, int8, "--prompt", " "], "drift --prompt"),
        (vec!["drift", "--reference", bf16, int8, "--prompt-file", blank], "drift --prompt-file"),
        (vec!["drift", "--reference", bf16, int8, "--tokenizer", garbage], "--tokenizer"),
        (vec!["drift", "--reference", bf16, int8, "--cpu-affinity", all_cpus_but_none_here], "--cpu-affinity"),
        (vec!["drift", "--reference", bf16, int8, "--generate", "-2"], "invalid value '-2' for '--generate"),
    ];
    for (i, (args, needle)) in cases.iter().enumerate() {
        let out_dir = tmp.path().join(format!("out-{i}"));
        let out = etbench().args(args).arg("--out").arg(&out_dir).output().unwrap();
        let err = stderr_of(&out);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(needle), "{args:?}: expected {needle:?} in: {err}");
        assert!(!out_dir.exists(), "{args:?}: a results directory was created");
        assert!(!err.contains("[1/"), "{args:?}: something ran: {err}");
        assert!(!err.contains("panicked"), "{args:?}: {err}");
    }
}

#[test]
fn each_cause_of_an_error_is_printed_once() {
    let tmp = tempfile::tempdir().unwrap();
    let bad = tmp.path().join("results.json");
    std::fs::write(&bad, "{\"schema_version\": 2, \"runs\": [\n").unwrap();
    for args in [
        vec!["report"],
        vec!["compare", bad.to_str().unwrap()],
        vec!["profile", "show"],
        vec!["history", "add", "--db", tmp.path().join("h.sqlite").to_str().unwrap()],
    ] {
        let out = etbench().args(&args).arg(&bad).output().unwrap();
        let err = stderr_of(&out);
        assert_ne!(out.status.code(), Some(0), "{args:?}");
        assert_eq!(err.matches("EOF while parsing").count(), 1, "{args:?}: {err}");
        assert_eq!(err.matches("etbench: error:").count(), 1, "{args:?}: {err}");
    }
    let out = etbench().args(["inspect"]).arg(tmp.path()).output().unwrap();
    let err = stderr_of(&out);
    assert!(err.contains("is a directory") && !err.contains("No such device"), "{err}");
    let out = etbench().args(["inspect", "/nope/model.pte"]).output().unwrap();
    let err = stderr_of(&out);
    assert_eq!(err.matches("No such file or directory").count(), 1, "{err}");
}

#[test]
fn completions_for_every_shell_and_a_man_page() {
    for shell in ["bash", "zsh", "fish", "powershell"] {
        let out = etbench().args(["completions", shell]).output().unwrap();
        assert!(out.status.success(), "{shell}: {}", stderr_of(&out));
        let script = String::from_utf8(out.stdout).unwrap();
        assert!(script.contains("etbench") && script.contains("run") && script.contains("iters"), "{shell}: {script}");
    }
    let out = etbench().args(["completions", "tcsh"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let out = etbench().arg("manpage").output().unwrap();
    assert!(out.status.success(), "{}", stderr_of(&out));
    let roff = String::from_utf8(out.stdout).unwrap();
    assert!(roff.starts_with(".TH etbench 1"), "{}", &roff[..roff.len().min(200)]);
    assert!(roff.contains("etbench") && roff.contains("completions"), "{roff}");
}

#[test]
fn one_format_vocabulary_run_md_and_inspect_table_with_text_alias() {
    let conv = program("convnet-fp32");
    let dir = tempfile::tempdir().unwrap();
    let out = etbench()
        .args(["run", "--iters", "1", "--warmup", "0", "--format", "md", "--model"])
        .arg(&conv)
        .arg("--out")
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr_of(&out));
    let md = String::from_utf8(out.stdout).unwrap();
    assert!(
        md.starts_with("# etbench report\n") && md.contains("| variant |") && md.contains("convnet-fp32"),
        "the one report, on stdout: {md}"
    );
    let table = etbench().args(["inspect", "--format", "table"]).arg(&conv).output().unwrap();
    let text = etbench().args(["inspect", "--format", "text"]).arg(&conv).output().unwrap();
    assert!(table.status.success() && text.status.success(), "{}", stderr_of(&text));
    assert_eq!(table.stdout, text.stdout, "`text` is the old name of `table`");
}

#[test]
fn profile_show_and_diff_take_a_results_directory() {
    let conv = program("convnet-fp32");
    let (out, dir) = run_models(&[&conv], &["--profile"]);
    assert!(out.status.success(), "{}", stderr_of(&out));
    let show = etbench().args(["profile", "show"]).arg(dir.path()).output().unwrap();
    assert!(show.status.success(), "{}", stderr_of(&show));
    assert!(String::from_utf8_lossy(&show.stdout).contains("convnet-fp32"));
    let diff =
        etbench().args(["profile", "diff"]).arg(dir.path()).arg(dir.path().join("results.json")).output().unwrap();
    assert!(diff.status.success(), "{}", stderr_of(&diff));
}

/// A fake `ssh` that takes half a second per call and fails, and an `adb` that sees nothing: the listing must not wait for
/// the profiles one after the other.
fn slow_tools(dir: &Path) {
    use std::os::unix::fs::PermissionsExt;
    for (name, script) in [
        (
            "ssh",
            "#!/bin/sh\nsleep 0.5\necho 'ssh: connect to host 127.0.0.1 port 9: Connection refused' >&2\nexit 255\n",
        ),
        ("adb", "#!/bin/sh\necho 'List of devices attached'\n"),
    ] {
        let path = dir.join(name);
        std::fs::write(&path, script).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
}

/// A `PATH` whose `adb` (written into `dir`) lists no device and starts no server.
fn no_adb_server(dir: &Path) -> String {
    use std::os::unix::fs::PermissionsExt;
    let adb = dir.join("adb");
    std::fs::write(&adb, "#!/bin/sh\necho 'List of devices attached'\n").unwrap();
    std::fs::set_permissions(&adb, std::fs::Permissions::from_mode(0o755)).unwrap();
    format!("{}:{}", dir.display(), std::env::var("PATH").unwrap())
}

#[test]
fn devices_lists_local_first_probes_profiles_in_parallel_and_info_local_works() {
    let tmp = tempfile::tempdir().unwrap();
    let (bin, profiles) = (tmp.path().join("bin"), tmp.path().join("devices"));
    std::fs::create_dir_all(&bin).unwrap();
    std::fs::create_dir_all(&profiles).unwrap();
    slow_tools(&bin);
    const BOARDS: u32 = 6;
    for i in 0..BOARDS {
        let toml = format!(
            "name = \"board{i}\"\ntransport = \"ssh\"\nwork_dir = \"/w\"\n[ssh]\nhost = \"127.0.0.1\"\nport = 9\n"
        );
        std::fs::write(profiles.join(format!("board{i}.toml")), toml).unwrap();
    }
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap());
    let started = Instant::now();
    let out = etbench().env("PATH", &path).arg("devices").arg("--devices-dir").arg(&profiles).output().unwrap();
    let elapsed = started.elapsed();
    assert!(out.status.success(), "{}", stderr_of(&out));
    let listing = String::from_utf8(out.stdout).unwrap();
    let rows: Vec<&str> = listing.lines().skip(2).take_while(|l| !l.trim().is_empty()).collect();
    assert!(rows[0].trim_start().starts_with("local") && rows[0].contains("ready"), "{listing}");
    assert_eq!(rows.len(), 1 + BOARDS as usize, "{listing}");
    assert!(rows[1..].iter().all(|r| r.contains("NOT USABLE")), "{listing}");
    // Each profile costs ≥ 1 s of fake ssh (check for a master, then connect); one after the other would take ≥ 6 s.
    assert!(
        elapsed < Duration::from_secs_f64(BOARDS as f64 * 0.5),
        "took {elapsed:?}: profiles were not probed in parallel"
    );
    let out = etbench().args(["devices", "info", "local"]).output().unwrap();
    assert!(out.status.success(), "{}", stderr_of(&out));
    let info: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(info["name"], "local");
    assert!(info["info"]["cpu_logical_cores"].as_u64().unwrap() >= 1, "{info}");
    assert!(info["runner"]["path"].is_string(), "{info}");
}

#[test]
fn the_first_five_minutes_of_the_readme_run_as_written() {
    let readme = std::fs::read_to_string(repo().join("README.md")).unwrap();
    let first_lines: Vec<&str> = readme.lines().take(4).collect();
    assert_eq!(
        first_lines,
        [
            "```sh",
            "cargo build --release && ./target/release/etbench bench   # main job: every bundled model on this host → reports/<timestamp>-local/",
            "bash scripts/test.sh                                       # tests: installs the export venv, builds, runs every test",
            "```",
        ],
        "the README's first lines are the two set-up commands"
    );
    let section = readme.split("## First five minutes").nth(1).expect("a First five minutes section");
    let block = section.split("```sh\n").nth(1).unwrap().split("```").next().unwrap();
    let commands: Vec<&str> = block.lines().filter(|l| l.starts_with("./target/release/etbench ")).collect();
    assert!(commands.len() >= 7, "{commands:?}");
    let work = tempfile::tempdir().unwrap();
    let bin = work.path().join("target/release");
    std::fs::create_dir_all(&bin).unwrap();
    std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_etbench"), bin.join("etbench")).unwrap();
    std::os::unix::fs::symlink(models_dir(), work.path().join("models")).unwrap();
    for command in commands {
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(command)
            .current_dir(work.path())
            .env("ETBENCH_HOME", work.path())
            .env("ETBENCH_RUNNER", runner())
            .output()
            .unwrap();
        let ok = if command.contains(" compare ") {
            matches!(out.status.code(), Some(0) | Some(1))
        } else {
            out.status.success()
        };
        assert!(ok, "{command}: {:?}\n{}", out.status, stderr_of(&out));
    }
    let reports: Vec<_> = std::fs::read_dir(work.path().join("reports")).unwrap().map(|e| e.unwrap().path()).collect();
    assert_eq!(reports.len(), 1);
    assert!(reports[0].join("latency.png").is_file() && reports[0].join("report.md").is_file());
    assert!(std::fs::read_to_string(work.path().join("etbench.1")).unwrap().starts_with(".TH"));
}
