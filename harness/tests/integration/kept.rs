//! Behaviour kept through the spine redesign (one identity, one program model, one row builder, renderers reading
//! only documents): committed results documents of real runs (`data/before/{fwd,llm}/results.json`: two forward-loop
//! models × 2 repeats, one generation run), rendered by the etbench **before** the redesign into
//! `data/before/expected/`, render the same today. The only differences allowed are the ones the redesign adds on
//! purpose, each named here: CSV's `identity`, `cpu_affinity` and `memory_limit_bytes` columns, PyTorch's
//! `extra_info.identity`, and JSON Lines' `model.program` (the program facts a run now records).

use std::path::{Path, PathBuf};

use crate::common::*;

fn before() -> PathBuf {
    repo().join("harness/tests/integration/data/before")
}

fn expected(name: &str) -> String {
    std::fs::read_to_string(before().join("expected").join(name)).unwrap()
}

/// `etbench ARGS` from the documents' directory (their model paths are relative to it), stdout.
fn render(args: &[&str]) -> String {
    let out = etbench().current_dir(before()).args(args).output().unwrap();
    assert!(out.status.success(), "etbench {args:?}: {}", stderr_of(&out));
    String::from_utf8(out.stdout).unwrap()
}

const BOTH: [&str; 2] = ["fwd/results.json", "llm/results.json"];

fn report_format(format: &str) -> String {
    render(&[&["report"][..], &BOTH, &["--format", format]].concat())
}

#[test]
fn the_markdown_report_and_compare_render_as_before() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("report");
    render(&[&["report"][..], &BOTH, &["--out", out.to_str().unwrap()]].concat());
    assert_eq!(std::fs::read_to_string(out.join("report.md")).unwrap(), expected("both.report.md"));
    let fwd = Path::new("fwd/results.json").to_str().unwrap();
    assert_eq!(render(&["compare", fwd, fwd, "--format", "md"]), expected("compare.md"));
}

#[test]
fn bencher_and_github_action_benchmark_render_as_before() {
    for format in ["bmf", "gab-smaller", "gab-bigger"] {
        assert_eq!(report_format(format), expected(&format!("both.{format}")), "--format {format}");
    }
}

#[test]
fn csv_has_every_column_it_had_with_the_same_values_and_the_identity_columns_added() {
    let read = |text: &str| -> Vec<std::collections::BTreeMap<String, String>> {
        let mut r = csv::Reader::from_reader(text.as_bytes());
        let headers = r.headers().unwrap().clone();
        r.records()
            .map(|rec| headers.iter().zip(rec.unwrap().iter()).map(|(h, v)| (h.into(), v.into())).collect())
            .collect()
    };
    let (old, new) = (read(&expected("both.csv")), read(&report_format("csv")));
    assert_eq!(old.len(), new.len());
    for (o, n) in old.iter().zip(&new) {
        for (column, value) in o {
            assert_eq!(n.get(column), Some(value), "column {column} of run {}", o["id"]);
        }
        let added: Vec<&String> = n.keys().filter(|k| !o.contains_key(*k)).collect();
        assert_eq!(added, ["cpu_affinity", "identity", "memory_limit_bytes"]);
        assert_eq!(n["identity"].len(), 16);
    }
}

#[test]
fn pytorch_and_json_lines_render_as_before_but_for_the_identity_and_program_facts() {
    let parse = |text: &str| -> Vec<serde_json::Value> { serde_json::from_str(text).unwrap() };
    let (old, mut new) = (parse(&expected("both.pytorch-v3")), parse(&report_format("pytorch-v3")));
    for row in &mut new {
        let extra = row["benchmark"]["extra_info"].as_object_mut().unwrap();
        assert_eq!(extra.remove("identity").and_then(|v| v.as_str().map(str::len)), Some(16));
    }
    assert_eq!(old, new);
    // The program facts come from the model files, found where the runs found them.
    assert!(new.iter().all(|r| r["model"]["extra_info"]["backend_source"] == "program"));

    let lines = |text: &str| -> Vec<serde_json::Value> {
        text.lines().map(|l| serde_json::from_str(l).unwrap()).collect::<Vec<_>>()
    };
    let (old, mut new) = (lines(&expected("both.jsonl")), lines(&report_format("jsonl")));
    for run in &mut new {
        assert!(run["model"].as_object_mut().unwrap().remove("program").is_some());
    }
    assert_eq!(old, new);
}
