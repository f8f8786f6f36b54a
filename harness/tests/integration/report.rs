//! End-to-end: `etbench report`, model-card updates, machine formats and the history, driven through the real CLI on
//! real runs of the bundled fixtures (measured once per test binary).

use std::path::{Path, PathBuf};

use crate::common::*;
use etbench::results::warnings::Warning;
use etbench::results::{DeviceRef, Document, ModelRef, RunParams, RunResult, RunStatus};

fn report(args: &[&str]) -> std::process::Output {
    etbench().arg("report").args(args).output().unwrap()
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn stdout(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn report_writes_the_table_charts_and_csvs_of_real_runs() {
    let dir = tempfile::tempdir().unwrap();
    let out = report(&[s(real_results()), "--out", s(dir.path())]);
    assert!(out.status.success(), "{}", stderr_of(&out));
    let md = std::fs::read_to_string(dir.path().join("report.md")).unwrap();
    for want in [
        "| variant |",
        "median ms (p10–p90)",
        "size on disk",
        "gemma3n-tiny-bf16",
        "gemma3n-tiny-xnnpack-fp32",
        "Same for every row:",
        "load mode mmap",
        "ExecuTorch 1.5.1",
        "1 warm-up + 12 timed iterations",
        "Device: ",
        "Date: ",
        "![Latency per execute",
        "(latency.png)",
    ] {
        assert!(md.contains(want), "report.md lacks {want:?}:\n{md}");
    }
    // Threads and load mode are the same for both rows, so they are footnotes, not columns.
    let header = md.lines().find(|l| l.starts_with("| variant")).unwrap();
    assert!(!header.contains("threads") && !header.contains("load mode"), "{header}");
    for chart in ["latency", "throughput", "peak_rss"] {
        let png = std::fs::read(dir.path().join(format!("{chart}.png"))).unwrap();
        assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n", "{chart}.png");
        let svg = std::fs::read_to_string(dir.path().join(format!("{chart}.svg"))).unwrap();
        assert!(svg.contains("<svg") && svg.contains("gemma3n-tiny-bf16"), "{chart}.svg has no labels");
    }
    // bf16 (~50 ms) next to XNNPACK (~3 ms): more than 10×, so a log axis with ticks in units, and a caption that
    // says where, when and with what; 1400 px wide, no text under 15 px.
    let svg = std::fs::read_to_string(dir.path().join("latency.svg")).unwrap();
    assert!(svg.contains("log scale") && svg.contains("10 ms") && svg.contains("median "), "{svg}");
    assert!(!svg.contains(".0<") && !svg.contains("10000"), "tick labels in units, not raw numbers");
    let doc = Document::read(real_results()).unwrap();
    let date = doc.runs[0].started_at.format("%Y-%m-%d").to_string();
    for chart in ["latency", "throughput", "peak_rss"] {
        let svg = std::fs::read_to_string(dir.path().join(format!("{chart}.svg"))).unwrap();
        assert!(
            svg.contains("local (")
                && svg.contains(&date)
                && svg.contains("etbench 0.1.0")
                && svg.contains("ExecuTorch 1.5.1"),
            "{chart}: no caption"
        );
        let sizes: Vec<f64> =
            svg.split("font-size=\"").skip(1).filter_map(|t| t.split('"').next()?.parse().ok()).collect();
        assert!(!sizes.is_empty() && sizes.iter().all(|&px| px >= 14.0), "{chart}: text sizes {sizes:?}");
        let png = std::fs::read(dir.path().join(format!("{chart}.png"))).unwrap();
        let width = u32::from_be_bytes(png[16..20].try_into().unwrap());
        assert!(width >= 1200, "{chart}.png is {width} px wide");
    }
    let results = std::fs::read_to_string(dir.path().join("results.csv")).unwrap();
    assert_eq!(results.lines().count(), doc.runs.len() + 1);
    let samples = std::fs::read_to_string(dir.path().join("samples.csv")).unwrap();
    let timed: usize = doc.runs.iter().map(|r| r.samples.timed_ns.len()).sum();
    assert_eq!(samples.lines().count(), timed + 1, "{samples}");
    assert!(samples
        .starts_with("run_id,device,model,model_sha256,method,threads,load_mode,repeat_index,iteration,latency_ns"));
}

/// A one-row table has nothing that varies, yet it still shows what was measured and how (it used to shrink to
/// variant and median, everything else in a footnote).
#[test]
fn a_one_row_table_still_shows_its_key_columns() {
    let dir = tempfile::tempdir().unwrap();
    let mut doc = Document::read(real_results()).unwrap();
    doc.runs.truncate(1);
    let path = dir.path().join("one.json");
    std::fs::write(&path, etbench::export::json(&doc)).unwrap();
    let out = report(&[s(&path), "--out", s(dir.path())]);
    assert!(out.status.success(), "{}", stderr_of(&out));
    let md = std::fs::read_to_string(dir.path().join("report.md")).unwrap();
    let header = md.lines().find(|l| l.starts_with("| variant")).unwrap();
    assert_eq!(
        header,
        "| variant | size on disk | method | threads | load mode | median ms (p10–p90) | prefill tok/s | decode-eq tok/s ¹ | peak RSS |"
    );
    assert!(md.contains("\n¹ decode-equivalent = "), "the mark's footnote: {md}");
    assert!(md.contains("- Also: input 32 ids") && !md.contains("Same for every row"), "{md}");
}

/// Profiled runs carry per-operator overhead: the same file run plain and with --profile gives two rows, never one
/// pooled row, and the profiled one lists its top operators.
#[test]
fn profiled_runs_are_never_pooled_with_plain_ones() {
    let tmp = tempfile::tempdir().unwrap();
    let run = |name: &str, extra: &[&str]| {
        let dir = tmp.path().join(name);
        let out = etbench()
            .args(["run", "--format", "none", "--warmup", "1", "--iters", "4", "--model"])
            .arg(fixture("xnnpack-fp32"))
            .args(extra)
            .arg("--out")
            .arg(&dir)
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", stderr_of(&out));
        dir
    };
    let (plain, profiled) = (run("plain", &[]), run("profiled", &["--profile"]));
    let out_dir = tmp.path().join("report");
    let out = report(&[s(&plain), s(&profiled), "--out", s(&out_dir)]);
    assert!(out.status.success(), "{}", stderr_of(&out));
    let md = std::fs::read_to_string(out_dir.join("report.md")).unwrap();
    let rows: Vec<&str> = md.lines().filter(|l| l.starts_with("| gemma3n-tiny-xnnpack-fp32 |")).collect();
    assert_eq!(rows.len(), 2, "{md}");
    assert!(
        rows.iter().any(|r| r.contains("| forward (profiled) |")) && rows.iter().any(|r| r.contains("| forward |")),
        "{md}"
    );
    assert!(md.contains("### Top operators: gemma3n-tiny-xnnpack-fp32") && md.contains("| op | where |"), "{md}");
}

const CARD: &str = "# Gemma 3n tiny\n\nIntro stays.\n\n## Benchmarks\n\nOld numbers.\n\n## License\n\nApache-2.0 ✓\n";

#[test]
fn card_section_is_replaced_with_markers_idempotently_and_links_are_relative() {
    let tmp = tempfile::tempdir().unwrap();
    let card = tmp.path().join("card/README.md");
    std::fs::create_dir_all(card.parent().unwrap()).unwrap();
    std::fs::write(&card, CARD).unwrap();
    let out_dir = tmp.path().join("reports/run1");
    let args = [s(real_results()), "--out", s(&out_dir), "--card", s(&card)];
    let out = report(&args);
    assert!(out.status.success(), "{}", stderr_of(&out));
    let once = std::fs::read_to_string(&card).unwrap();
    assert!(once.starts_with("# Gemma 3n tiny\n\nIntro stays.\n\n## Benchmarks\n\n<!-- etbench:begin -->\n"), "{once}");
    assert!(once.ends_with("<!-- etbench:end -->\n\n## License\n\nApache-2.0 ✓\n"), "{once}");
    assert!(!once.contains("Old numbers"));
    assert!(once.contains("](../reports/run1/latency.png)"), "{once}");
    assert!(once.contains("### local"), "{once}");
    let out = report(&args);
    assert!(out.status.success());
    assert_eq!(std::fs::read_to_string(&card).unwrap(), once, "a second update must not change the card");
}

#[test]
fn bad_cards_are_refused_and_left_untouched_with_nothing_written() {
    let tmp = tempfile::tempdir().unwrap();
    let cases = [
        ("unbalanced", "# X\n<!-- etbench:begin -->\nold\n", "unbalanced etbench markers"),
        ("reversed", "<!-- etbench:end -->\nx\n<!-- etbench:begin -->\n", "end marker comes first"),
        (
            "twice",
            "<!-- etbench:begin -->\n<!-- etbench:end -->\n<!-- etbench:begin -->\n<!-- etbench:end -->\n",
            "2 `<!-- etbench:begin -->`",
        ),
        ("nosection", "# X\n\n## Usage\n", "neither"),
    ];
    for (name, text, message) in cases {
        let card = tmp.path().join(format!("{name}.md"));
        std::fs::write(&card, text).unwrap();
        let out_dir = tmp.path().join(format!("out-{name}"));
        let out = report(&[s(real_results()), "--out", s(&out_dir), "--card", s(&card)]);
        assert_eq!(out.status.code(), Some(1), "{name}");
        let err = stderr_of(&out);
        assert!(err.contains(message) && err.contains(&format!("{name}.md")), "{name}: {err}");
        assert_eq!(std::fs::read_to_string(&card).unwrap(), text, "{name}: card changed");
        assert!(!out_dir.join("report.md").exists(), "{name}: report written despite the error");
    }
    let out =
        report(&[s(real_results()), "--out", s(&tmp.path().join("o")), "--card", s(&tmp.path().join("missing.md"))]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr_of(&out).contains("missing.md"));
}

#[test]
fn machine_formats_go_to_stdout_and_parse() {
    let doc = Document::read(real_results()).unwrap();
    let runs = doc.runs.len();
    let fmt = |f: &str| {
        let out = report(&[s(real_results()), "--format", f]);
        assert!(out.status.success(), "{f}: {}", stderr_of(&out));
        stdout(&out)
    };
    let json: serde_json::Value = serde_json::from_str(&fmt("json")).unwrap();
    assert_eq!(json["runs"].as_array().unwrap().len(), runs);
    let jsonl = fmt("jsonl");
    assert_eq!(jsonl.lines().count(), runs);
    for line in jsonl.lines() {
        let run: etbench::results::RunResult = serde_json::from_str(line).unwrap();
        assert_eq!(run.status, RunStatus::Ok);
    }
    assert_eq!(fmt("csv").lines().count(), runs + 1);
    let bmf: serde_json::Value = serde_json::from_str(&fmt("bmf")).unwrap();
    let bench = &bmf["local/gemma3n-tiny-bf16/forward/t2/mmap"];
    let median = doc.runs[0].summary.as_ref().unwrap().latency_ns.median;
    assert_eq!(bench["latency"]["value"].as_f64().unwrap(), median, "{bmf}");
    assert!(bench["latency"]["lower_value"].as_f64().unwrap() <= median);
    for (f, unit) in [("gab-smaller", "ms"), ("gab-bigger", "tokens/s")] {
        let v: serde_json::Value = serde_json::from_str(&fmt(f)).unwrap();
        let entries = v.as_array().unwrap();
        assert!(!entries.is_empty() && entries.iter().any(|e| e["unit"] == unit), "{f}: {v}");
        assert!(entries.iter().all(|e| e["name"].is_string() && e["value"].is_number()), "{f}");
    }
    let v3: serde_json::Value = serde_json::from_str(&fmt("pytorch-v3")).unwrap();
    let records = v3.as_array().unwrap();
    assert!(records.iter().all(|r| r["benchmark"]["name"] == "ExecuTorch" && r["runners"][0]["name"].is_string()));
    let lat = records.iter().find(|r| r["metric"]["name"] == "avg_inference_latency(ms)").unwrap();
    assert_eq!(lat["metric"]["benchmark_values"].as_array().unwrap().len(), 1);
}

#[test]
fn bad_inputs_name_the_file_and_the_fix() {
    let tmp = tempfile::tempdir().unwrap();
    let bad = tmp.path().join("results.json");
    std::fs::write(&bad, r#"{"schema_version": 99, "runs": []}"#).unwrap();
    let out = report(&[s(&bad)]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr_of(&out);
    assert!(err.contains("schema_version 99") && err.contains(s(&bad)), "{err}");
    assert!(!tmp.path().join("report.md").exists());

    // An unwritable --out (a path under a regular file) fails before anything is written.
    let file = tmp.path().join("a-file");
    std::fs::write(&file, b"x").unwrap();
    let out = report(&[s(real_results()), "--out", s(&file.join("sub"))]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr_of(&out).contains("--out"), "{}", stderr_of(&out));
    assert_eq!(std::fs::read(&file).unwrap(), b"x");
}

/// A copy of the real document `nights_ago` days earlier, with its latencies scaled (the raw samples stay real).
fn night(dir: &Path, nights_ago: i64, scale: f64) -> PathBuf {
    let mut doc = Document::read(real_results()).unwrap();
    let shift = chrono::Duration::days(nights_ago);
    doc.provenance.created_at -= shift;
    for run in &mut doc.runs {
        run.started_at -= shift;
        run.id = format!("{}-n{nights_ago}", run.id);
        for v in &mut run.samples.timed_ns {
            *v = (*v as f64 * scale) as u64;
        }
        run.summarise();
    }
    let path = dir.join(format!("night-{nights_ago}.json"));
    std::fs::write(&path, etbench::export::json(&doc)).unwrap();
    path
}

fn history(db: &Path, args: &[&str]) -> std::process::Output {
    etbench().arg("history").args(args).arg("--db").arg(db).output().unwrap()
}

#[test]
fn history_add_report_and_check_catch_a_slow_night() {
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("h.sqlite");
    // Five ordinary nights (±2 % apart), then a night twice as slow.
    let nights: Vec<PathBuf> = (0..5).map(|i| night(tmp.path(), 6 - i, 1.0 + 0.01 * (i % 3) as f64 - 0.01)).collect();
    for n in &nights {
        let out = history(&db, &["add", s(n)]);
        assert!(out.status.success(), "{}", stderr_of(&out));
    }
    let again = history(&db, &["add", s(&nights[0])]);
    assert!(stderr_of(&again).contains("0 run(s) added, 2 already present"), "{}", stderr_of(&again));

    let out = history(&db, &["check", "--format", "md"]);
    assert_eq!(out.status.code(), Some(0), "{}{}", stdout(&out), stderr_of(&out));
    // Ordinary nights are never flagged; whether the interval is tight enough to also deny a change (inside ±5 %)
    // depends on how noisy the real samples were, so either answer is right here.
    let md = stdout(&out);
    assert!(
        !md.contains("REGRESSED")
            && (md.contains("no change beyond") || md.contains("not shown to exceed") || md.contains("no verdict")),
        "{md}"
    );

    // A second run on night 3 (a nightly job with repeats) is pooled into that night's point.
    let mut repeat = Document::read(&nights[3]).unwrap();
    repeat.runs.iter_mut().for_each(|r| r.id += "-again");
    let repeat_path = tmp.path().join("night-3-again.json");
    std::fs::write(&repeat_path, etbench::export::json(&repeat)).unwrap();
    assert!(history(&db, &["add", s(&repeat_path)]).status.success());

    let slow = night(tmp.path(), 0, 2.0);
    assert!(history(&db, &["add", s(&slow)]).status.success());
    let out = history(&db, &["check", "--format", "md", "--window", "5"]);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    let md = stdout(&out);
    let row = md.lines().find(|l| l.contains("gemma3n-tiny-bf16") && l.contains("median latency")).unwrap();
    assert!(row.contains("REGRESSED"), "{row}");

    let report_dir = tmp.path().join("trend");
    let out = history(&db, &["report", "--out", s(&report_dir)]);
    assert!(out.status.success(), "{}", stderr_of(&out));
    let md = std::fs::read_to_string(report_dir.join("report.md")).unwrap();
    assert!(md.contains("| series | runs |") && md.contains("(trend_latency.png)"), "{md}");
    let svg = std::fs::read_to_string(report_dir.join("trend_latency.svg")).unwrap();
    assert!(svg.contains("gemma3n-tiny-bf16") && svg.contains("per night"));
    assert!(
        !svg.contains("forward |") && !svg.contains("ExecuTorch 1.5.1+cpu |"),
        "legends are short, the keys are in the table"
    );
    // Six nights: six points for the first series' line, plus its legend mark.
    assert_eq!(svg.matches("r=\"5\" opacity=\"1\" fill=\"#1F77B4\"").count(), 6 + 1, "{svg}");
}

#[test]
fn empty_or_missing_histories_are_clear_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let missing = tmp.path().join("none.sqlite");
    for args in [&["check"][..], &["report", "--out", s(&tmp.path().join("r"))]] {
        let out = history(&missing, args);
        assert!(matches!(out.status.code(), Some(1) | Some(2)), "{args:?}");
        let err = stderr_of(&out);
        assert!(err.contains("no history database") && err.contains("history add"), "{err}");
        assert!(!missing.exists(), "a read must not create the database");
    }
    // A history holding only failed runs has no runs to check.
    let mut doc = Document::read(real_results()).unwrap();
    for run in &mut doc.runs {
        run.status = RunStatus::Error;
    }
    let failed = tmp.path().join("failed.json");
    std::fs::write(&failed, etbench::export::json(&doc)).unwrap();
    let db = tmp.path().join("h.sqlite");
    let out = history(&db, &["add", s(&failed)]);
    assert!(stderr_of(&out).contains("failed run(s) skipped"), "{}", stderr_of(&out));
    let out = history(&db, &["check"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr_of(&out).contains("no runs yet"), "{}", stderr_of(&out));
    // Something that is not a history database.
    let text = tmp.path().join("notes.sqlite");
    std::fs::write(&text, "not sqlite at all, just some text that is long enough to be a header....").unwrap();
    let out = history(&text, &["check"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr_of(&out).contains("not an etbench history database"), "{}", stderr_of(&out));
}

/// `history report` on paired nights also draws the series `history check` judges: each night's latency ratio of the
/// candidate to the pinned reference with its interval, around a 1× line, next to the raw latency trend. A night on
/// which the whole device is 40 % slower moves the raw line, not the ratio.
#[test]
fn history_report_charts_the_reference_normalised_series_of_paired_nights() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("paired");
    let base = paired_session(&dir);
    let db = tmp.path().join("h.sqlite");
    // Nights 3..0 ago; night 1 has the whole device 40 % slower, night 0 only the candidate 30 % slower.
    for (n, ref_scale, cand_scale) in [(3, 1.0, 1.0), (2, 1.0, 1.0), (1, 1.4, 1.4), (0, 1.0, 1.3)] {
        let doc = paired_night(&base, n, ref_scale, cand_scale);
        let path = tmp.path().join(format!("night-{n}.json"));
        std::fs::write(&path, etbench::export::json(&doc)).unwrap();
        let out = history(&db, &["add", s(&path)]);
        assert!(out.status.success(), "{}", stderr_of(&out));
    }
    let report_dir = tmp.path().join("trend");
    let out = history(&db, &["report", "--out", s(&report_dir)]);
    assert!(out.status.success(), "{}", stderr_of(&out));
    let md = std::fs::read_to_string(report_dir.join("report.md")).unwrap();
    assert!(md.contains("(trend_latency.png)") && md.contains("(trend_latency_vs_reference.png)"), "{md}");
    let row =
        md.lines().find(|l| l.starts_with("| gemma3n-tiny-xnnpack-8da4w | gemma3n-tiny-xnnpack-fp32 |")).expect(&md);
    assert!(row.contains("| 4 |"), "four nights: {row}");
    let png = std::fs::read(report_dir.join("trend_latency_vs_reference.png")).unwrap();
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    let svg = std::fs::read_to_string(report_dir.join("trend_latency_vs_reference.svg")).unwrap();
    assert!(
        svg.contains("latency ÷ reference (paired session each night)")
            && svg.contains("1× = gemma3n-tiny-xnnpack-fp32"),
        "{svg}"
    );
    assert!(svg.contains("gemma3n-tiny-xnnpack-8da4w") && !svg.contains("forward (paired)"), "short legend: {svg}");
    // One point per night on the candidate's line, plus its legend mark.
    assert_eq!(svg.matches("r=\"5\" opacity=\"1\" fill=\"#1F77B4\"").count(), 4 + 1, "{svg}");
    // The ratios: night 1 (device drift) stays at the earlier nights' ratio, night 0 is 30 % above it.
    let series = etbench::analysis::history::History::open(&db).unwrap().series().unwrap();
    let ratios = etbench::analysis::history::normalised_series(&series, &Default::default());
    assert_eq!(ratios.len(), 1);
    let r: Vec<f64> = ratios[0].nights.iter().map(|n| n.ratio).collect();
    assert!((r[2] / r[1] - 1.0).abs() < 0.02, "device drift cancels: {r:?}");
    assert!((r[3] / r[1] - 1.3).abs() < 0.02, "the candidate's own slowdown shows: {r:?}");
    assert!(
        ratios[0].nights.iter().all(|n| n.lower <= n.ratio && n.ratio <= n.upper && n.lower < n.upper),
        "{:?}",
        ratios[0].nights
    );
}

/// A run of `model` with these warnings (its other fields do not matter to the warning lines).
fn warned_run(model: &str, warnings: Vec<Warning>) -> RunResult {
    let device = DeviceRef {
        name: "d".into(),
        transport: "local".into(),
        info: etbench::results::provenance::system_info(),
        probed: None,
    };
    let model = ModelRef {
        path: format!("{model}.pte"),
        name: model.into(),
        size_bytes: 1,
        sha256: "0".repeat(64),
        program: None,
    };
    let mut row = etbench::run::process::error_row(
        device,
        model,
        RunParams::default(),
        etbench_protocol::ErrorKind::Io,
        String::new(),
    );
    row.warnings = warnings;
    row
}

/// One warning grouping serves the terminal table and report.md.
#[test]
fn warnings_are_one_line_per_text_per_varying_kind_and_one_for_variance() {
    let drop = |after_khz| Warning::FrequencyDropped { cpu: 0, before_khz: 2_000_000, after_khz };
    let runs = [
        warned_run("a", vec![Warning::DebugBuild, drop(1_500_000), Warning::HighVariance { cv: 0.07 }]),
        warned_run("a", vec![Warning::DebugBuild, drop(1_200_000), Warning::HighVariance { cv: 0.09 }]),
        warned_run("a", vec![Warning::DebugBuild]),
        warned_run("b", vec![Warning::DebugBuild, Warning::Charging]),
    ];
    let notes = etbench::export::warning_notes(&runs.iter().collect::<Vec<_>>());
    assert_eq!(notes.len(), 4, "{notes:#?}");
    assert!(
        notes[0].starts_with("the runner is a debug build") && notes[0].ends_with("(a, b; 4 runs)"),
        "{}",
        notes[0]
    );
    assert!(
        notes[1].contains("fell from 2000 to 1500 MHz") && notes[1].ends_with("(a: 2 of 3 runs, the first shown)"),
        "{}",
        notes[1]
    );
    assert!(notes[2].starts_with("the device was charging") && notes[2].ends_with("(b)"), "{}", notes[2]);
    assert!(notes[3].starts_with("high variance (CV > 5%): a 9.0%;"), "{}", notes[3]);
}
