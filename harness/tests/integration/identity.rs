//! One run identity (`etbench::results::identity::RunIdentity`) on real runs: runs pinned to other CPUs are two
//! rows in `report`, two series in `history`, refused by `compare` with the field named; run ids are unique over a
//! `--prefill` sweep; `--resume` re-runs a cell whose recorded run had another CPU mask; CSV carries the mask.

use std::path::Path;

use etbench::analysis::history::History;

use crate::common::*;

fn run_pinned(dir: &Path, mask: &str) {
    let out = etbench()
        .args(["run", "--format", "none", "--iters", "5", "--warmup", "1", "--threads", "1", "--cpu-affinity", mask])
        .arg("--model")
        .arg(fixture("xnnpack-fp32"))
        .arg("--out")
        .arg(dir)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr_of(&out));
}

#[test]
fn runs_on_other_cpus_are_two_rows_two_series_and_compare_names_the_mask() {
    let cpus = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    assert!(cpus >= 2, "this test pins runs to CPU 0 and CPU 1: it needs 2 CPUs, this machine has {cpus}");
    let _load = load();
    let tmp = tempfile::tempdir().unwrap();
    let (a, b) = (tmp.path().join("cpu0"), tmp.path().join("cpu 1"));
    run_pinned(&a, "0x1");
    run_pinned(&b, "0x02");

    // Run ids and CSV name the mask, in its canonical form.
    let (da, db) = (read_doc(&a), read_doc(&b));
    assert_ne!(da.runs[0].id, db.runs[0].id);
    assert!(db.runs[0].id.contains("/cpus0x2/"), "{}", db.runs[0].id);
    let csv = std::fs::read_to_string(b.join("results.csv")).unwrap();
    let header: Vec<&str> = csv.lines().next().unwrap().split(',').collect();
    let col = header.iter().position(|h| *h == "cpu_affinity").expect("a cpu_affinity column");
    assert_eq!(csv.lines().nth(1).unwrap().split(',').nth(col), Some("0x2"));

    // report: two rows, a CPUs column.
    let rep = tmp.path().join("report");
    let out = etbench().arg("report").arg(&a).arg(&b).arg("--out").arg(&rep).output().unwrap();
    assert!(out.status.success(), "{}", stderr_of(&out));
    let md = std::fs::read_to_string(rep.join("report.md")).unwrap();
    let header = md.lines().find(|l| l.starts_with("| variant |")).expect("a results table");
    assert!(header.contains("| CPUs |"), "{header}");
    let rows: Vec<&str> = md.lines().filter(|l| l.starts_with("| gemma3n-tiny-xnnpack-fp32 |")).collect();
    assert_eq!(rows.len(), 2, "{md}");
    assert!(rows[0].contains("| 0x1 |") && rows[1].contains("| 0x2 |"), "{rows:?}");

    // compare: not the same setting; the differing field is named, nothing is called a change of speed.
    let out = etbench().arg("compare").arg(&a).arg(&b).output().unwrap();
    let err = stderr_of(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("CPU affinity: 0x1 ≠ 0x2"), "{err}");
    assert!(!String::from_utf8_lossy(&out.stdout).contains("REGRESSED"));

    // history: two series.
    let db_path = tmp.path().join("history.sqlite");
    for dir in [&a, &b] {
        let out = etbench()
            .args(["history", "add"])
            .arg(dir.join("results.json"))
            .arg("--db")
            .arg(&db_path)
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", stderr_of(&out));
    }
    let series = History::open(&db_path).unwrap().series().unwrap();
    assert_eq!(series.len(), 2, "{:?}", series.iter().map(|s| &s.key).collect::<Vec<_>>());
    assert!(series.iter().any(|s| s.key.contains("CPUs 0x1")) && series.iter().any(|s| s.key.contains("CPUs 0x2")));

    // --resume: the recorded run had CPU mask 0x1; the same cell recorded under another mask is not done.
    let resumed = tmp.path().join("resumed");
    std::fs::create_dir(&resumed).unwrap();
    for name in ["results.json", "results.csv"] {
        std::fs::copy(a.join(name), resumed.join(name)).unwrap();
    }
    let out = etbench().arg("run").arg("--resume").arg(&resumed).output().unwrap();
    assert!(out.status.success(), "{}", stderr_of(&out));
    assert_eq!(read_doc(&resumed).runs.len(), 1, "nothing to re-run when the identity is unchanged");
    let mut doc = read_doc(&resumed);
    doc.runs[0].params.spec.cpu_affinity = Some("0x2".parse().unwrap());
    std::fs::write(resumed.join("results.json"), etbench::export::json(&doc)).unwrap();
    let out = etbench().arg("run").arg("--resume").arg(&resumed).output().unwrap();
    assert!(out.status.success(), "{}", stderr_of(&out));
    let doc = read_doc(&resumed);
    let masks: Vec<Option<String>> =
        doc.runs.iter().map(|r| r.params.spec.cpu_affinity.as_ref().map(|m| m.to_string())).collect();
    assert_eq!(masks, [Some("0x2".into()), Some("0x1".into())], "the cell under 0x1 ran again");
}

#[test]
fn a_prefill_sweep_gives_every_run_its_own_id() {
    let _load = load();
    let tmp = tempfile::tempdir().unwrap();
    let out = etbench()
        .args(["run", "--format", "none", "--prefill", "8,16", "--decode", "4", "--iters", "2", "--warmup", "0"])
        .arg("--model")
        .arg(program("llama-tiny-kv-xnnpack"))
        .arg("--out")
        .arg(tmp.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr_of(&out));
    let ids: Vec<String> = read_doc(tmp.path()).runs.iter().map(|r| r.id.clone()).collect();
    assert_eq!(ids.len(), 2);
    assert_ne!(ids[0], ids[1]);
    assert!(ids[0].contains("/pp8-tg4/") && ids[1].contains("/pp16-tg4/"), "{ids:?}");
}

#[test]
fn print_spec_shows_every_run_as_it_would_run_and_runs_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let out = etbench()
        .current_dir(tmp.path())
        .args(["run", "--print-spec", "--prefill", "8,16", "--decode", "4", "--threads", "1", "--cpu-affinity", "0x1"])
        .arg("--model")
        .arg(program("llama-tiny-kv-xnnpack"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr_of(&out));
    let runs: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).expect("JSON on stdout");
    assert_eq!(runs.len(), 2);
    for (run, prefill) in runs.iter().zip([8, 16]) {
        let spec = &run["params"]["spec"];
        assert_eq!(spec["llm"]["prefill"], prefill);
        assert_eq!(spec["cpu_affinity"], "0x1");
        assert_eq!(spec["threads"], 1);
        // The generation defaults (plan::defaults) are resolved into the spec.
        assert_eq!(spec["warmup"], 1);
        assert_eq!(spec["until_ci_pct"], 2.0);
        assert!(run["id"].as_str().unwrap().contains(&format!("/cpus0x1/pp{prefill}-tg4/")), "{run}");
    }
    // Nothing ran: no results folder.
    assert_eq!(std::fs::read_dir(tmp.path()).unwrap().count(), 0);
}
