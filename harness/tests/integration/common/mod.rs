//! Helpers for the integration tests: the bundled fixtures, the real runner binary, and reading results back.
#![allow(dead_code)]

pub mod browser;
pub mod docs;
pub mod lab;

/// The machine's CPUs. Tests whose verdicts depend on timing take it exclusively ([`timing`]), so they measure
/// neither each other nor the CPU-heavy tests (lab devices under qemu, fresh exports), which share it ([`load`]).
pub static MACHINE: std::sync::RwLock<()> = std::sync::RwLock::new(());

/// Held by a test whose verdicts depend on timing: nothing else heavy runs meanwhile.
pub fn timing() -> std::sync::RwLockWriteGuard<'static, ()> {
    MACHINE.write().unwrap_or_else(|e| e.into_inner())
}

/// Held by a CPU-heavy test that times nothing: it runs beside other such tests, never beside a [`timing`] one.
pub fn load() -> std::sync::RwLockReadGuard<'static, ()> {
    MACHINE.read().unwrap_or_else(|e| e.into_inner())
}

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

use etbench::results::Document;

/// The variable that turns a missing prerequisite from a failure into a skip: `ETBENCH_SKIP_LAB=1`.
pub const SKIP_LAB: &str = "ETBENCH_SKIP_LAB";

/// Whether a test's prerequisite `what` (the device lab, root, PostgreSQL, Chromium, …) is there: `check` is
/// `Ok(())`, or `Err(why not, and how to get it)`. Missing, the test FAILS with a message naming it and the test
/// command that provides it, unless `ETBENCH_SKIP_LAB=1`: then it prints
/// `SKIPPED (ETBENCH_SKIP_LAB=1): <test>: <what>: <why>` on stderr (also without `--nocapture`) and returns `false`,
/// and the caller returns (`if !require(…) { return; }`). No test passes by not running unless it was asked to.
#[must_use]
#[track_caller]
pub fn require(what: &str, check: Result<(), String>) -> bool {
    let Err(why) = check else { return true };
    let thread = std::thread::current();
    let test = thread.name().filter(|n| *n != "main").unwrap_or("this test");
    match missing(test, what, &why, std::env::var(SKIP_LAB).is_ok_and(|v| v == "1")) {
        Ok(skipped) => {
            // Straight to stderr, past the test harness's capture (which keeps a passing test's output to itself).
            let _ = writeln!(std::io::stderr(), "{skipped}");
            false
        }
        Err(failure) => panic!("{failure}"),
    }
}

/// What [`require`] says about a missing prerequisite: `Ok(the SKIPPED line)` when skipping, else `Err(the failure)`.
fn missing(test: &str, what: &str, why: &str, skip: bool) -> Result<String, String> {
    if skip {
        return Ok(format!("SKIPPED ({SKIP_LAB}=1): {test}: {what}: {why}"));
    }
    Err(format!(
        "{test} needs {what}, which is missing: {why}.\nRun the suite with `bash scripts/test.sh` as root: it installs \
         and starts everything the tests need (device lab, PostgreSQL, Chromium, actionlint, the export venv) and \
         stops what it started. To run only what this machine can, set {SKIP_LAB}=1: tests whose prerequisites are \
         missing then say SKIPPED and return."
    ))
}

pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_owned()
}

pub fn models_dir() -> PathBuf {
    repo().join("models")
}

/// Every bundled .pte, sorted.
/// The four tiny Gemma 3n text-decoder fixtures with a fixed window (`scripts/export_gemma3n.py`; the `-kv-` ones
/// with a KV cache are the LLM tests').
pub fn fixtures() -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(models_dir())
        .expect("models/ exists")
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "pte"))
        .filter(|p| {
            p.file_name().is_some_and(|n| {
                n.to_string_lossy().starts_with("gemma3n-tiny-") && !n.to_string_lossy().contains("-kv-")
            })
        })
        .collect();
    v.sort();
    assert!(v.len() >= 4, "expected the four bundled Gemma 3n fixtures in models/, found {v:?}");
    v
}

/// A non-LLM fixture of `scripts/export_fixtures.py` (`convnet-fp32`, `decoder-step-fp32`).
pub fn program(name: &str) -> PathBuf {
    let p = models_dir().join(format!("{name}.pte"));
    assert!(p.is_file(), "missing fixture {}", p.display());
    p
}

pub fn fixture(variant: &str) -> PathBuf {
    let p = models_dir().join(format!("gemma3n-tiny-{variant}.pte"));
    assert!(p.is_file(), "missing fixture {}", p.display());
    p
}

/// The real `etbench-runner` built beside this test's etbench (cargo builds it for the workspace).
pub fn runner() -> PathBuf {
    let exe = PathBuf::from(env!("CARGO_BIN_EXE_etbench"));
    let runner = exe.with_file_name("etbench-runner");
    assert!(
        runner.is_file(),
        "{} is missing: build the workspace first (`cargo build --workspace`; scripts/test.sh does)",
        runner.display()
    );
    runner
}

pub fn etbench() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_etbench"));
    cmd.env("ETBENCH_RUNNER", runner());
    cmd
}

pub fn read_doc(dir: &Path) -> Document {
    Document::read(&dir.join("results.json")).expect("results.json is a valid document")
}

pub fn stderr_of(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A paired document as if recorded `n` days ago, with the reference's (position 0) and the candidates' latencies
/// scaled: nights for the history tests, from one real paired session.
pub fn paired_night(base: &Document, n: i64, ref_scale: f64, cand_scale: f64) -> Document {
    let mut doc = base.clone();
    doc.provenance.created_at -= chrono::Duration::days(n);
    for run in &mut doc.runs {
        run.id = format!("{}-n{n}", run.id);
        run.started_at -= chrono::Duration::days(n);
        let scale = if run.pairing.as_ref().unwrap().position == 0 { ref_scale } else { cand_scale };
        run.samples.timed_ns.iter_mut().for_each(|v| *v = (*v as f64 * scale) as u64);
        run.summarise();
    }
    doc
}

/// One real `etbench run` of two variants (bf16 and XNNPACK fp32, 12 iterations), made once per test binary and
/// shared by the tests that build reports and histories from real samples (its results.json).
pub fn real_results() -> &'static Path {
    static RESULTS: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    RESULTS.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("etbench-real-results-{}", std::process::id()));
        let out = etbench()
            .args(["run", "--format", "none", "--warmup", "1", "--iters", "12", "--out"])
            .arg(&dir)
            .arg("--model")
            .arg(fixture("bf16"))
            .arg("--model")
            .arg(fixture("xnnpack-fp32"))
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", stderr_of(&out));
        dir.join("results.json")
    })
}

/// A real paired in-process session of the XNNPACK fp32 (reference) and 8da4w fixtures, 30 rounds, written to `out`:
/// the nights of the paired-history tests are derived from it ([`paired_night`]).
pub fn paired_session(out: &Path) -> Document {
    let run = etbench()
        .args(["run", "--paired", "--format", "none", "--warmup", "1", "--iters", "30", "--model"])
        .arg(fixture("xnnpack-fp32"))
        .arg("--model")
        .arg(fixture("xnnpack-8da4w"))
        .arg("--out")
        .arg(out)
        .output()
        .unwrap();
    assert!(run.status.success(), "{}", stderr_of(&run));
    read_doc(out)
}

/// The command lines of this host's processes (arguments joined by spaces); the lab's devices run here too.
pub fn command_lines() -> Vec<String> {
    let Ok(entries) = std::fs::read_dir("/proc") else { return Vec::new() };
    entries
        .flatten()
        .filter_map(|e| std::fs::read(e.path().join("cmdline")).ok())
        .map(|cmdline| String::from_utf8_lossy(&cmdline).replace('\0', " "))
        .collect()
}

/// Polls `done` every 100 ms for at most `limit`; whether it came true.
pub fn wait_until(limit: std::time::Duration, mut done: impl FnMut() -> bool) -> bool {
    let deadline = std::time::Instant::now() + limit;
    while !done() {
        if std::time::Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    true
}

#[test]
fn a_missing_prerequisite_fails_naming_it_and_skips_only_when_asked() {
    let failure = missing("devices::x", "the device lab", "it is not running", false).unwrap_err();
    assert!(
        failure.starts_with("devices::x needs the device lab, which is missing: it is not running.")
            && failure.contains("`bash scripts/test.sh` as root")
            && failure.contains("ETBENCH_SKIP_LAB=1"),
        "{failure}"
    );
    assert_eq!(
        missing("devices::x", "the device lab", "it is not running", true).unwrap(),
        "SKIPPED (ETBENCH_SKIP_LAB=1): devices::x: the device lab: it is not running"
    );
    assert!(require("nothing", Ok(())));
}
