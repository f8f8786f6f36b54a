//! Paired sessions (`run --paired`): several models in one runner process, timed iterations alternating; verdicts
//! from the per-round ratios (`compare PAIRED`), and adaptive / time-bounded runs.

use std::path::{Path, PathBuf};

use crate::common::*;
use etbench::results::Document;

fn paired(models: &[&Path], extra: &[&str]) -> (std::process::Output, tempfile::TempDir) {
    let out = tempfile::tempdir().unwrap();
    let mut cmd = etbench();
    cmd.args(["run", "--paired", "--warmup", "1", "--format", "none", "--out"]).arg(out.path());
    for m in models {
        cmd.arg("--model").arg(m);
    }
    cmd.args(extra);
    (cmd.output().unwrap(), out)
}

fn compare_one(path: &Path) -> (Option<i32>, String, String) {
    let out = etbench().args(["compare", "--format", "md"]).arg(path).output().unwrap();
    (out.status.code(), String::from_utf8_lossy(&out.stdout).into_owned(), stderr_of(&out))
}

#[test]
fn a_paired_session_alternates_models_in_one_process_and_records_the_pairing() {
    let _machine = timing();
    let (a, b) = (fixture("xnnpack-fp32"), fixture("xnnpack-8da4w"));
    let (out, dir) = paired(&[&a, &b], &["--iters", "12", "--repeat", "2"]);
    assert!(out.status.success(), "{}", stderr_of(&out));
    let doc = read_doc(dir.path());
    assert_eq!(doc.runs.len(), 4, "one row per model per session");
    for pair in doc.runs.chunks(2) {
        let (ra, rb) = (&pair[0], &pair[1]);
        let (pa, pb) = (ra.pairing.as_ref().unwrap(), rb.pairing.as_ref().unwrap());
        assert_eq!(pa.session, pb.session);
        assert_eq!((pa.position, pb.position), (0, 1));
        assert_eq!(ra.samples.timed_rounds, (0..12).collect::<Vec<u32>>());
        assert_eq!(ra.samples.timed_rounds, rb.samples.timed_rounds);
        assert_eq!(
            ra.output_verdict,
            etbench::results::OutputVerdict::MatchesManifest,
            "each model's output is still checked"
        );
        assert_eq!(rb.output_verdict, etbench::results::OutputVerdict::MatchesManifest);
        // Both models ran in the same runner process.
        assert_eq!(ra.phases.iter().filter(|p| p.phase == etbench_protocol::PhaseKind::ProgramLoad).count(), 1);
    }
    assert_eq!(doc.paired.len(), 1);
    assert_eq!((doc.paired[0].sessions, doc.paired[0].pairs), (2, 24));
    let (code, md, err) = compare_one(&dir.path().join("results.json"));
    assert!(matches!(code, Some(0) | Some(1)), "{err}");
    assert!(md.contains("Design: paired in-process") && md.contains("gemma3n-tiny-xnnpack-8da4w"), "{md}");
}

/// A/A: the same program twice in one process is not called a regression; the same real samples with the
/// candidate's latencies scaled by 1.25 (a known slowdown, assuming multiplicative noise) are. The test runs beside
/// the rest of the suite on 2 cores, so it checks the mechanism with a margin; the false-alarm and detection rates
/// at 10 % on a quiet machine come from `scripts/truth-bench.sh` (README).
#[test]
fn paired_a_over_a_is_not_a_regression_and_a_known_slowdown_is() {
    let _machine = timing();
    let a = fixture("xnnpack-fp32");
    let (out, dir) = paired(&[&a, &a], &["--iters", "200", "--repeat", "2"]);
    assert!(out.status.success(), "{}", stderr_of(&out));
    let path = dir.path().join("results.json");
    let (code, md, _) = compare_one(&path);
    assert_eq!(code, Some(0), "A/A must not be a regression: {md}");
    let ratio = read_doc(dir.path()).paired[0].ratio;
    assert!((0.9..1.1).contains(&ratio), "A/A ratio {ratio}: {md}");
    let mut doc = Document::read(&path).unwrap();
    for run in doc.runs.iter_mut().filter(|r| r.pairing.as_ref().unwrap().position == 1) {
        for v in &mut run.samples.timed_ns {
            *v = (*v as f64 * 1.25) as u64;
        }
        run.summarise();
    }
    let slowed = dir.path().join("slowed.json");
    std::fs::write(&slowed, etbench::export::json(&doc)).unwrap();
    let (code, md, _) = compare_one(&slowed);
    assert_eq!(code, Some(1), "a 25 % slowdown must be a regression: {md}");
    assert!(md.contains("REGRESSED"), "{md}");
}

#[test]
fn models_with_different_inputs_pair_and_each_gets_its_own() {
    let (conv, step) = (program("convnet-fp32"), program("decoder-step-fp32"));
    let (out, dir) = paired(&[&conv, &step], &["--iters", "8"]);
    assert!(out.status.success(), "{}", stderr_of(&out));
    let doc = read_doc(dir.path());
    let specs: Vec<String> =
        doc.runs.iter().map(|r| r.runner.as_ref().unwrap().inputs_used[0].spec.to_string()).collect();
    assert_eq!(specs, ["random:0", "ids"]);
    assert!(doc.paired[0].ratio.is_finite(), "the ratio is still defined: {:?}", doc.paired[0]);
}

#[test]
fn bad_paired_requests_are_refused_clearly() {
    let a = fixture("xnnpack-fp32");
    let (out, _dir) = paired(&[&a], &[]);
    assert_ne!(out.status.code(), Some(0));
    assert!(stderr_of(&out).contains("--paired needs at least two --model"), "{}", stderr_of(&out));
    let out = etbench().args(["run", "--until-ci", "0", "--model"]).arg(&a).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr_of(&out).contains("--until-ci") && stderr_of(&out).contains("above 0"), "{}", stderr_of(&out));
    // A paired document against an unpaired one: each design is named, nothing is concluded.
    let (out, paired_dir) = paired(&[&a, &a], &["--iters", "6"]);
    assert!(out.status.success(), "{}", stderr_of(&out));
    let unpaired = tempfile::tempdir().unwrap();
    let out = etbench()
        .args(["run", "--iters", "6", "--format", "none", "--model"])
        .arg(&a)
        .arg("--out")
        .arg(unpaired.path())
        .output()
        .unwrap();
    assert!(out.status.success());
    let out = etbench().arg("compare").arg(paired_dir.path()).arg(unpaired.path()).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = stderr_of(&out);
    assert!(
        err.contains("paired in-process") && err.contains("unpaired") && err.contains("cannot cancel drift"),
        "{err}"
    );
    // An unpaired document alone has no paired session to judge.
    let (code, _, err) = compare_one(&unpaired.path().join("results.json"));
    assert_eq!(code, Some(2));
    assert!(err.contains("no paired session") && err.contains("--paired"), "{err}");
}

#[test]
fn until_ci_stops_early_and_max_time_bounds_a_slow_run() {
    let a = fixture("xnnpack-fp32");
    let dir = tempfile::tempdir().unwrap();
    let run = |extra: &[&str], out: &PathBuf| {
        let mut cmd = etbench();
        cmd.args(["run", "--warmup", "0", "--format", "none", "--model"]).arg(&a).arg("--out").arg(out).args(extra);
        cmd.output().unwrap()
    };
    let wide = dir.path().join("wide");
    let out = run(&["--until-ci", "50", "--iters", "500", "--min-iters", "8"], &wide);
    assert!(out.status.success(), "{}", stderr_of(&out));
    let n = read_doc(&wide).runs[0].samples.timed_ns.len();
    assert!((8..500).contains(&n), "a ±50% interval is reached long before 500 iterations: {n}");
    let slow = fixture("bf16");
    let bounded = dir.path().join("bounded");
    let mut cmd = etbench();
    cmd.args([
        "run",
        "--warmup",
        "0",
        "--format",
        "none",
        "--max-time",
        "0.3",
        "--min-iters",
        "3",
        "--iters",
        "100000",
        "--model",
    ])
    .arg(&slow)
    .arg("--out")
    .arg(&bounded);
    let out = cmd.output().unwrap();
    assert!(out.status.success(), "{}", stderr_of(&out));
    let run = &read_doc(&bounded).runs[0];
    let n = run.samples.timed_ns.len();
    assert!((3..1000).contains(&n), "stopped by the time budget after at least --min-iters: {n}");
    assert_eq!(run.params.spec.max_time_s, Some(0.3));
}

#[test]
fn calibrate_measures_both_designs_and_stores_the_result() {
    let _machine = timing();
    let dir = tempfile::tempdir().unwrap();
    let out = etbench()
        .args(["calibrate", "--sessions", "2", "--pairs", "20", "--processes", "3", "--iters", "8", "--model"])
        .arg(fixture("xnnpack-fp32"))
        .arg("--out")
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr_of(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("| paired in-process | 3 × 30 |") && text.contains("| unpaired | 5 × 20 |"), "{text}");
    let doc = read_doc(dir.path());
    assert_eq!(doc.runs.len(), 2 * 2 + 3, "paired sessions and unpaired processes are kept as runs");
    let c = doc.calibration.expect("stored as a result");
    let effect = |design: &str, r: u64| {
        c["budgets"].as_array().unwrap().iter().find(|b| b["design"] == design && b["processes"] == r).unwrap()
            ["effect"]
            .as_f64()
            .unwrap()
    };
    assert!(effect("paired in-process", 5) <= effect("paired in-process", 3), "more budget never detects less");
    assert!(std::fs::read_to_string(dir.path().join("calibration.md")).unwrap().contains("detects a slowdown"));
}

/// Nightly tracking on the reference-normalised series: a night where the whole device is 40 % slower (both the
/// pinned reference and the candidate) is not a regression of the candidate; a night where only the candidate is
/// 50 % slower is.
#[test]
fn history_judges_the_ratio_to_a_pinned_reference_so_device_drift_cancels() {
    let _machine = timing();
    let (reference, candidate) = (fixture("xnnpack-fp32"), fixture("xnnpack-8da4w"));
    let (out, dir) = paired(&[&reference, &candidate], &["--iters", "80"]);
    assert!(out.status.success(), "{}", stderr_of(&out));
    let base = read_doc(dir.path());
    let night = |n: i64, ref_scale: f64, cand_scale: f64| -> PathBuf {
        let doc = paired_night(&base, n, ref_scale, cand_scale);
        let path = dir.path().join(format!("night-{n}-{ref_scale}-{cand_scale}.json"));
        std::fs::write(&path, etbench::export::json(&doc)).unwrap();
        path
    };
    let db = dir.path().join("h.sqlite");
    let add =
        |p: &Path| assert!(etbench().args(["history", "add"]).arg(p).arg("--db").arg(&db).status().unwrap().success());
    let check = || {
        let out = etbench().args(["history", "check", "--format", "md", "--db"]).arg(&db).output().unwrap();
        (out.status.code(), String::from_utf8_lossy(&out.stdout).into_owned())
    };
    for n in [4, 3, 2] {
        add(&night(n, 1.0, 1.0));
    }
    add(&night(1, 1.4, 1.4));
    let (_, md) = check();
    let row =
        md.lines().find(|l| l.starts_with("| gemma3n-tiny-xnnpack-8da4w | gemma3n-tiny-xnnpack-fp32")).expect(&md);
    // Both models 40 % slower on one night: the ratio did not move, so nothing is called (three earlier nights
    // are too few to also deny a change, so the words may say so).
    assert!(
        row.contains("0.0% |") && !row.contains("REGRESSED") && !row.contains("improved"),
        "device drift cancels in the ratio: {row}\n{md}"
    );
    add(&night(0, 1.0, 1.5));
    let (code, md) = check();
    assert_eq!(code, Some(1), "{md}");
    let row =
        md.lines().find(|l| l.starts_with("| gemma3n-tiny-xnnpack-8da4w | gemma3n-tiny-xnnpack-fp32")).expect(&md);
    assert!(row.contains("REGRESSED"), "{row}");
}

/// A runner that stops answering (here a stand-in "hung device": a script that sleeps without a word) is killed
/// after --run-timeout, its run becomes a `timeout` row and the sweep goes on to the next model.
#[test]
fn a_runner_that_stops_answering_is_a_timeout_row_and_the_sweep_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let hung = dir.path().join("hung-runner.sh");
    std::fs::write(&hung, "#!/bin/sh\nsleep 30\n").unwrap();
    std::os::unix::fs::PermissionsExt::set_mode(&mut std::fs::metadata(&hung).unwrap().permissions(), 0o755);
    std::fs::set_permissions(&hung, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let start = std::time::Instant::now();
    let out = etbench()
        .args(["run", "--run-timeout", "0.5", "--format", "none", "--runner"])
        .arg(&hung)
        .arg("--model")
        .arg(fixture("int8"))
        .arg("--model")
        .arg(fixture("bf16"))
        .arg("--out")
        .arg(dir.path().join("res"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr_of(&out));
    assert!(start.elapsed() < std::time::Duration::from_secs(20), "killed, not waited out: {:?}", start.elapsed());
    let doc = read_doc(&dir.path().join("res"));
    assert_eq!(doc.runs.len(), 2, "the sweep went on");
    for run in &doc.runs {
        let e = run.error.as_ref().unwrap();
        assert_eq!(e.kind, etbench_protocol::ErrorKind::Timeout);
        assert!(e.message.contains("--run-timeout"), "{}", e.message);
    }
}

#[test]
fn iters_auto_stops_at_the_requested_precision() {
    let dir = tempfile::tempdir().unwrap();
    let out = etbench()
        .args(["run", "--iters", "auto", "--precision", "10", "--warmup", "0", "--format", "none", "--model"])
        .arg(program("convnet-fp32"))
        .arg("--out")
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr_of(&out));
    let run = &read_doc(dir.path()).runs[0];
    assert_eq!(run.params.spec.until_ci_pct, Some(10.0));
    let n = run.samples.timed_ns.len();
    assert!((6..100_000).contains(&n), "{n}");
    let bad = etbench().args(["run", "--iters", "often", "--model"]).arg(program("convnet-fp32")).output().unwrap();
    assert_eq!(bad.status.code(), Some(2));
    assert!(stderr_of(&bad).contains("`often`") && stderr_of(&bad).contains("auto"), "{}", stderr_of(&bad));
}

/// A run with heartbeats on and a short --run-timeout completes: heartbeat lines are absorbed, never an error (that
/// they arrive during a long execute is checked on the runner itself, `ffi/tests/runner.rs`).
#[test]
fn heartbeats_are_absorbed_and_a_short_run_timeout_passes_a_live_runner() {
    let dir = tempfile::tempdir().unwrap();
    let out = etbench()
        .args([
            "run",
            "--warmup",
            "0",
            "--iters",
            "3",
            "--heartbeat",
            "0.02",
            "--run-timeout",
            "0.5",
            "--format",
            "none",
            "--model",
        ])
        .arg(fixture("bf16"))
        .arg("--out")
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr_of(&out));
    assert!(read_doc(dir.path()).runs[0].is_ok());
}

/// Two runner builds cannot share a process: `--paired` then alternates fresh processes A B B A … and pairs
/// neighbours. Two copies of the runner stand for two ExecuTorch builds (the design does not care what differs).
#[test]
fn models_with_their_own_runners_pair_as_alternating_processes() {
    let _machine = timing();
    let tmp = tempfile::tempdir().unwrap();
    let mut runners = Vec::new();
    for dir in ["et one", "et two"] {
        std::fs::create_dir(tmp.path().join(dir)).unwrap();
        let path = tmp.path().join(dir).join("etbench-runner");
        std::fs::copy(runner(), &path).unwrap();
        runners.push(path);
    }
    let a = fixture("xnnpack-fp32");
    let mut extra: Vec<&str> = vec!["--iters", "8", "--until-ci", "1000"];
    for r in &runners {
        extra.extend(["--runner", r.to_str().unwrap()]);
    }
    let (out, dir) = paired(&[&a, &a], &extra);
    let err = stderr_of(&out);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("paired processes") && err.contains("pair 6 (←)"), "{err}");
    let doc = read_doc(dir.path());
    assert_eq!(
        doc.runs.len(),
        12,
        "6 pairs (the minimum: a ±1000% target is met by any interval, however busy the machine) of 2 processes"
    );
    let positions: Vec<u32> = doc.runs.iter().map(|r| r.pairing.as_ref().unwrap().position).collect();
    assert_eq!(positions, [0, 1, 1, 0, 0, 1, 1, 0, 0, 1, 1, 0], "A B B A order");
    for (i, run) in doc.runs.iter().enumerate() {
        let pairing = run.pairing.as_ref().unwrap();
        assert_eq!(pairing.pair, Some(i as u32 / 2));
        assert_eq!(pairing.session, doc.runs[0].pairing.as_ref().unwrap().session);
        let own = &runners[pairing.position as usize];
        assert_eq!(run.params.runner.as_deref(), own.to_str(), "each row records the runner that ran it");
        let label = if pairing.position == 0 { "@et one" } else { "@et two" };
        assert!(run.model.name.ends_with(label), "{}", run.model.name);
        assert_eq!(
            run.phases.iter().filter(|p| p.phase == etbench_protocol::PhaseKind::ProgramLoad).count(),
            1,
            "a fresh process each"
        );
        assert_eq!(run.samples.timed_ns.len(), 8);
    }
    assert!(doc.runs.windows(2).all(|w| w[0].started_at < w[1].started_at), "processes one after another");
    assert_eq!(doc.paired.len(), 1);
    let ratio = &doc.paired[0];
    assert_eq!((ratio.design.label(), ratio.sessions, ratio.pairs), ("paired processes", 1, 6));
    assert!(
        ratio.lower <= ratio.ratio && ratio.ratio <= ratio.upper && ratio.ratio > 0.5 && ratio.ratio < 2.0,
        "{ratio:?}"
    );
    let (code, md, err) = compare_one(&dir.path().join("results.json"));
    assert!(matches!(code, Some(0) | Some(1)), "{err}");
    assert!(md.contains("Design: paired processes") && md.contains("gemma3n-tiny-xnnpack-fp32 @et two"), "{md}");

    // The terminal gets the processes pooled per model (as in report.md) and the paired verdict once.
    let out = etbench()
        .args(["run", "--paired", "processes", "--iters", "4", "--until-ci", "1000", "--format", "table", "--model"])
        .arg(&a)
        .arg("--model")
        .arg(fixture("xnnpack-8da4w"))
        .arg("--out")
        .arg(tmp.path().join("table"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", stderr_of(&out));
    assert!(stdout.contains("6 processes in paired-processes sessions (A B B A …) per model"), "{stdout}");
    assert_eq!(stdout.matches("Design: paired processes").count(), 1, "{stdout}");
    assert_eq!(
        stdout.lines().filter(|l| l.starts_with("| gemma3n-tiny-xnnpack-fp32 |")).count(),
        1,
        "one pooled row per model: {stdout}"
    );

    // What cannot work is refused before anything runs.
    let (r1, r2) = (runners[0].to_str().unwrap(), runners[1].to_str().unwrap());
    let refused = |args: &[&str], needle: &str| {
        let out = etbench().args(args).output().unwrap();
        let err = stderr_of(&out);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(needle), "{args:?}: expected {needle:?} in {err}");
    };
    let model = a.to_str().unwrap();
    refused(
        &["run", "--paired", "in-process", "--model", model, "--model", model, "--runner", r1, "--runner", r2],
        "use --paired processes",
    );
    refused(
        &["run", "--model", model, "--model", model, "--runner", r1, "--runner", r2, "--runner", r1],
        "one per model in order",
    );
    refused(&["bench", "--runner", r1, "--runner", r2], "only `run` takes one per --model");
    refused(&["run", "--paired", "processes", "--iters", "auto", "--model", model, "--model", model], "give --iters N");
}
