//! Measurement truth of `etbench compare` on real runs of the bundled fixtures: A/A pairs are not called
//! regressions, a real slowdown is, mismatched runs are refused unless forced.
//!
//! The real runs in this binary are serialised (one lock) so they do not disturb each other's timings.

use std::path::{Path, PathBuf};

use crate::common::*;
use etbench::analysis::bootstrap::Verdict;
use etbench::analysis::compare::{change, Options};
use etbench::export::metric::Metric;
use etbench::results::RunResult;

fn bench(dir: &Path, variant: &str, extra: &[&str]) -> PathBuf {
    let out = etbench()
        .args(["run", "--format", "none", "--warmup", "2", "--out"])
        .arg(dir)
        .arg("--model")
        .arg(fixture(variant))
        .args(extra)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr_of(&out));
    dir.join("results.json")
}

fn compare(base: &Path, cand: &Path, extra: &[&str]) -> (Option<i32>, String, String) {
    let out = etbench().arg("compare").arg(base).arg(cand).args(["--format", "md"]).args(extra).output().unwrap();
    (out.status.code(), String::from_utf8_lossy(&out.stdout).into_owned(), stderr_of(&out))
}

/// The markdown row of median latency.
fn latency_row(md: &str) -> &str {
    md.lines().find(|l| l.contains("| median latency |")).unwrap_or_else(|| panic!("no latency row in\n{md}"))
}

/// `n` single-process runs of `variant` into `dir/<side><k>`, alternating the sides so both span the same time.
fn interleaved(dir: &Path, variant: &str, n: usize, args: &[&str]) -> [PathBuf; 2] {
    let mut docs = [Vec::new(), Vec::new()];
    for k in 0..n {
        for (side, docs) in docs.iter_mut().enumerate() {
            let results = bench(&dir.join(format!("{side}-{k}")), variant, args);
            docs.push(read_doc(results.parent().unwrap()));
        }
    }
    let write = |name: &str, docs: &[etbench::results::Document]| {
        let path = dir.join(name);
        std::fs::write(&path, etbench::export::json(&etbench::export::report::merge(docs).unwrap())).unwrap();
        path
    };
    [write("base.json", &docs[0]), write("cand.json", &docs[1])]
}

/// This 2-core VM has regimes lasting seconds in which every process runs ~40 % slower (see the README), so the
/// processes of both sides are interleaved in time: the unit of replication is the process, and each side gets 4.
#[test]
fn a_over_a_pairs_of_real_runs_are_not_called_regressions() {
    let _machine = timing();
    let tmp = tempfile::tempdir().unwrap();
    let args = ["--iters", "8"];
    let mut regressed = 0;
    let mut runs: Vec<RunResult> = Vec::new();
    let pairs = 10;
    for i in 0..pairs {
        let [a, b] = interleaved(&tmp.path().join(format!("pair{i}")), "xnnpack-fp32", 4, &args);
        let (code, md, err) = compare(&a, &b, &[]);
        assert!(matches!(code, Some(0) | Some(1)), "{err}");
        eprintln!("A/A pair {i}: {}", latency_row(&md));
        if md.contains("REGRESSED") {
            eprintln!("{md}");
            regressed += 1;
        }
        for p in [&a, &b] {
            runs.extend(etbench::results::Document::read(p).unwrap().runs);
        }
    }
    // At the default 5 % threshold, at most 5 % of A/A pairs may be false alarms (0 of 10).
    assert!(regressed * 20 <= pairs, "{regressed} of {pairs} A/A pairs called regressed");

    // A larger A/A check on the same real processes: 300 random disjoint 4-vs-4 splits.
    let refs: Vec<&RunResult> = runs.iter().collect();
    let mut rng = etbench::analysis::bootstrap::SplitMix64::new(42);
    let (mut alarms, trials) = (0, 300);
    for _ in 0..trials {
        let mut idx: Vec<usize> = (0..refs.len()).collect();
        for k in (1..idx.len()).rev() {
            idx.swap(k, rng.below(k + 1));
        }
        let side = |r: &[usize]| r.iter().map(|&i| refs[i]).collect::<Vec<_>>();
        let c = change(Metric::Latency, &side(&idx[..4]), &side(&idx[4..8]), &Options::default());
        if c.verdict == Some(Verdict::Regressed) {
            alarms += 1;
        }
    }
    eprintln!("resampled A/A: {alarms} of {trials} called regressed");
    assert!(alarms * 20 <= trials, "{alarms} of {trials} resampled A/A splits called regressed");
}

#[test]
fn the_bf16_fixture_against_xnnpack_is_a_forced_regression_and_refused_without_force() {
    let _machine = timing();
    let tmp = tempfile::tempdir().unwrap();
    let args = ["--iters", "6", "--repeat", "2"];
    let fast = bench(&tmp.path().join("xnnpack"), "xnnpack-fp32", &args);
    let slow = bench(&tmp.path().join("bf16"), "bf16", &args);

    let before = std::fs::read(&fast).unwrap();
    let (code, out, err) = compare(&fast, &slow, &[]);
    assert_eq!(code, Some(2), "mismatched models must be refused: {out}{err}");
    assert!(err.contains("model sha256") && err.contains("--force"), "{err}");
    assert!(out.is_empty(), "{out}");
    assert_eq!(std::fs::read(&fast).unwrap(), before);

    let (code, md, err) = compare(&fast, &slow, &["--force"]);
    assert_eq!(code, Some(1), "a 10× slowdown must be a regression: {md}{err}");
    let row = latency_row(&md);
    assert!(row.contains("REGRESSED") && row.contains("| +"), "{row}");
    assert!(md.contains("Forced:") && md.contains("model sha256"), "{md}");

    // The other direction: latency improved (XNNPACK's weight repacking makes its load slower, a real regression).
    let (_, md, _) = compare(&slow, &fast, &["--force"]);
    assert!(latency_row(&md).contains("improved"), "{md}");
}

#[test]
fn bad_compare_inputs_exit_2_and_name_the_file() {
    let tmp = tempfile::tempdir().unwrap();
    let bad = tmp.path().join("results.json");
    std::fs::write(&bad, r#"{"schema_version": 7, "runs": []}"#).unwrap();
    let (code, _, err) = compare(&bad, &bad, &[]);
    assert_eq!(code, Some(2));
    assert!(err.contains("schema_version 7") && err.contains(&*bad.to_string_lossy()), "{err}");
    let (code, _, err) = compare(&tmp.path().join("missing.json"), &bad, &[]);
    assert_eq!(code, Some(2));
    assert!(err.contains("missing.json"), "{err}");
    let out = etbench().args(["compare", "a", "b", "--threshold", "-3"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
}
