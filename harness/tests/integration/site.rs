//! `etbench history site`: the static dashboard, loaded from `file://` by a real headless Chromium.
//!
//! The history is made of real results: one real paired session of two fixtures (run once per test binary) and the
//! committed real LLM generation run (`reports/llm-example`), copied onto two devices and several nights the way
//! `common::paired_night` does, with CI provenance on each night and a regression on the last night of one device.
//!
//! `ETBENCH_SITE_EXAMPLE=DIR` also keeps the generated site and its screenshot in DIR (how
//! `reports/dashboard-example/` was made).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use crate::common::browser::{self, attr, number, tags_with};
use crate::common::*;
use etbench::analysis::history::{History, Series};
use etbench::results::{CiProvenance, Document};

const NIGHTS: i64 = 8;
const BOARD: &str = "board-a";
/// A device name with markup in it: the page must show it as text.
const PHONE: &str = "phone <b>";

fn ci(n: i64) -> CiProvenance {
    let commit = format!("{:040x}", 0xe7be_0000_u64 + n as u64);
    CiProvenance {
        system: "github".into(),
        commit_url: Some(format!("https://github.com/example/etbench/commit/{commit}")),
        commit: Some(commit),
        ref_name: Some("main".into()),
        run_id: Some(format!("{}", 9000 + n)),
        run_url: Some(format!("https://github.com/example/etbench/actions/runs/{}", 9000 + n)),
        runner_name: Some("lab-runner-1".into()),
        ..CiProvenance::default()
    }
}

fn on_device(mut doc: Document, device: &str, n: i64) -> Document {
    doc.provenance.ci = Some(ci(n));
    for run in &mut doc.runs {
        run.device.name = device.into();
        run.id = format!("{}-{device}", run.id);
        if let Some(p) = &mut run.pairing {
            p.session = format!("{}-{device}", p.session);
        }
    }
    doc
}

/// The history database (built once per test binary) and the paired session it came from.
fn history() -> &'static Path {
    static DB: OnceLock<PathBuf> = OnceLock::new();
    DB.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("etbench-site-test-{}", std::process::id()));
        let session = dir.join("session");
        let base = paired_session(&session);
        let mut files = Vec::new();
        for device in [BOARD, PHONE] {
            for n in (0..NIGHTS).rev() {
                // Both models drift together from night to night (the ratio stays); on the phone's last night only
                // the candidate is 3× slower: a regression of its own, far beyond this busy machine's noise.
                let drift = 1.0 + 0.03 * ((n as f64) * 1.3).sin();
                let cand = if device == PHONE && n == 0 { 3.0 * drift } else { drift };
                files.push(write(&dir, on_device(paired_night(&base, n, drift, cand), device, n)));
            }
        }
        // Generation runs of LLM programs (the committed real example), three nights on the board.
        let llm = Document::read(&repo().join("reports/llm-example/results.json")).unwrap();
        for n in 0..3 {
            let mut doc = llm.clone();
            doc.provenance.created_at -= chrono::Duration::days(n);
            for run in &mut doc.runs {
                run.id = format!("{}-n{n}", run.id);
                run.started_at -= chrono::Duration::days(n);
            }
            files.push(write(&dir, on_device(doc, BOARD, n)));
        }
        let db = dir.join("history.sqlite");
        let out = etbench().args(["history", "add"]).args(&files).arg("--db").arg(&db).output().unwrap();
        assert!(out.status.success(), "{}", stderr_of(&out));
        db
    })
}

fn write(dir: &Path, doc: Document) -> PathBuf {
    let path = dir.join(format!(
        "night-{}-{}.json",
        doc.runs[0].device.name.replace(['<', '>', ' '], "_"),
        doc.provenance.created_at.timestamp()
    ));
    std::fs::write(&path, etbench::export::json(&doc)).unwrap();
    path
}

fn site(db: &Path, out: &Path) -> std::process::Output {
    etbench().args(["history", "site", "--db"]).arg(db).arg("--out").arg(out).output().unwrap()
}

/// Nights (distinct UTC days) summed over the series that `keep` selects: the points the page must draw.
fn nights(series: &[Series], keep: impl Fn(&Series) -> bool) -> usize {
    series
        .iter()
        .filter(|s| keep(s))
        .map(|s| s.runs.iter().map(|r| r.started_at.date_naive()).collect::<BTreeSet<_>>().len())
        .sum()
}

fn assert_clean(load: &browser::Load, what: &str) {
    assert!(
        load.console.is_empty(),
        "{what}: console messages (errors, failed loads, logs):\n{}",
        load.console.join("\n")
    );
    let figures = tags_with(&load.dom, "class", "chart");
    assert!(!figures.is_empty(), "{what}: no chart drawn");
    for f in &figures {
        assert_eq!(attr(f, "data-drawn").as_deref(), Some("1"), "{what}: a chart uPlot never drew: {f}");
    }
    let html = tags_with(&load.dom, "lang", "en");
    assert!(attr(html[0], "data-ready-ms").is_some(), "{what}: the page never said it was ready");
}

/// The page, loaded from file:// by real headless Chromium: no console error, one point per night in the
/// database, filters that change what is drawn, the regressions with their links, the paired ratios.
#[test]
fn history_site_draws_every_night_of_the_database_in_a_real_browser_and_filters_change_it() {
    if !browser::installed() {
        return;
    }
    let _machine = load();
    let db = history();
    let series = History::open(db).unwrap().series().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let out_dir = tmp.path().join("site with spaces; $(touch x)");
    let out = site(db, &out_dir);
    assert!(out.status.success(), "{}", stderr_of(&out));
    assert!(stderr_of(&out).contains("index.html"), "{}", stderr_of(&out));
    for name in [
        "index.html",
        "data.js",
        "dashboard.js",
        "dashboard.css",
        "uPlot.iife.min.js",
        "uPlot.min.css",
        "uPlot-LICENSE",
    ] {
        assert!(out_dir.join(name).is_file(), "{name} is written");
    }
    let index = out_dir.join("index.html");
    let html = std::fs::read_to_string(&index).unwrap();
    assert!(!html.contains("http://") && !html.contains("https://"), "the page loads nothing from the network: {html}");
    assert!(std::fs::read_to_string(out_dir.join("uPlot-LICENSE")).unwrap().contains("MIT License"));

    // Default view: latency of every series.
    let all = browser::load(&browser::url(&index, ""));
    assert_clean(&all, "default view");
    let every_night = nights(&series, |_| true);
    assert_eq!(number(&all.dom, "charts", "data-points"), every_night, "one latency point per series and night");
    assert_eq!(number(&all.dom, "charts", "data-series"), series.len());
    let per_figure: usize = tags_with(&all.dom, "data-kind", "series")
        .iter()
        .map(|t| attr(t, "data-points").unwrap().parse::<usize>().unwrap())
        .sum();
    assert_eq!(per_figure, every_night, "the figures' own counts add up");
    // Two devices' paired ratios, one point per night.
    assert_eq!(number(&all.dom, "normalised", "data-series"), 2);
    assert_eq!(number(&all.dom, "normalised", "data-points"), 2 * NIGHTS as usize);
    // The filters offer every device, model and drawn metric (choosing one writes the URL hash the loads below use).
    for option in [
        format!("<option value=\"{BOARD}\">{BOARD}</option>"),
        "<option value=\"phone &lt;b&gt;\">phone &lt;b&gt;</option>".to_owned(),
        "<option value=\"gemma3n-tiny-xnnpack-8da4w\">gemma3n-tiny-xnnpack-8da4w</option>".to_owned(),
        "<option value=\"decode-throughput\">decode tokens/s</option>".to_owned(),
        "<option value=\"all\">all metrics</option>".to_owned(),
    ] {
        assert!(all.dom.contains(&option), "{option} in the filters");
    }
    // Markup in a device name stays text.
    assert!(!all.dom.contains("<b>") && all.dom.contains("phone &lt;b&gt;"), "device names are text");

    // The regressions `history check` finds: the phone candidate's latency and its paired ratio.
    let regressions = number(&all.dom, "regressions", "data-count");
    assert!(regressions >= 2, "{}", all.dom);
    let items: Vec<&str> = all
        .dom
        .split("<li")
        .skip(1)
        .map(|li| li.split("</li>").next().unwrap())
        .filter(|li| li.contains("REGRESSED"))
        .collect();
    assert!(
        items.iter().any(|li| li.contains("gemma3n-tiny-xnnpack-8da4w")
            && li.contains("median latency")
            && li.contains("phone &lt;b&gt;")),
        "{items:#?}"
    );
    assert!(items.iter().any(|li| li.contains("pinned reference")), "{items:#?}");
    assert!(items.iter().all(|li| !li.contains(BOARD)), "nothing regressed on the board: {items:#?}");
    // Links to the commit and the CI run of the night that regressed. They need the stored origin's CI provenance,
    // which the history fills from each document's `provenance.ci` (PostgreSQL backend); without it the regression
    // is listed without links.
    if series.iter().any(|s| s.origins.iter().any(|o| o.ci.is_some())) {
        assert!(all.dom.contains("href=\"https://github.com/example/etbench/actions/runs/9000\""), "{items:#?}");
        assert!(all.dom.contains(&format!("href=\"{}\"", ci(0).commit_url.unwrap())), "{items:#?}");
    } else {
        eprintln!("note: the history returns no CI origins yet; the regression links are not checked");
    }

    // A device filter draws that device's nights only.
    let board = browser::load(&browser::url(&index, &format!("device={BOARD}")));
    assert_clean(&board, "device filter");
    let board_nights = nights(&series, |s| s.runs[0].device.name == BOARD);
    assert_eq!(number(&board.dom, "charts", "data-points"), board_nights);
    assert!(board_nights < every_night);
    assert_eq!(number(&board.dom, "normalised", "data-series"), 1);
    assert_eq!(number(&board.dom, "regressions", "data-count"), 0, "no regression on the board");

    // A metric filter: decode tokens/s exists only for the generation runs.
    let decode = browser::load(&browser::url(&index, "metric=decode-throughput"));
    assert_clean(&decode, "metric filter");
    let llm_nights = nights(&series, |s| s.runs.iter().any(|r| r.llm.is_some()));
    assert_eq!(number(&decode.dom, "charts", "data-points"), llm_nights);
    assert!(0 < llm_nights && llm_nights < every_night);
    assert_eq!(number(&decode.dom, "normalised", "data-series"), 0, "paired ratios are latency ratios");

    // A model filter on one device.
    let one = browser::load(&browser::url(&index, "device=phone%20%3Cb%3E&model=gemma3n-tiny-xnnpack-8da4w"));
    assert_clean(&one, "device and model filter");
    assert_eq!(number(&one.dom, "charts", "data-points"), NIGHTS as usize);
    assert_eq!(number(&one.dom, "charts", "data-series"), 1);

    // The tooltip of a point (pinned through the URL, as a pointer would show it): its night, versions, commit and
    // the run's condition warnings.
    let pinned =
        browser::load(&browser::url(&index, "device=phone%20%3Cb%3E&model=gemma3n-tiny-xnnpack-8da4w&point=0:-1"));
    assert_clean(&pinned, "pinned tooltip");
    let tip = pinned.dom.split("id=\"tooltip\"").nth(1).and_then(|t| t.split("</div></div>").next()).unwrap();
    assert!(!tip.starts_with(" hidden"), "the tooltip shows: {tip}");
    let newest = series
        .iter()
        .find(|s| s.runs[0].device.name == PHONE && s.runs[0].model.name == "gemma3n-tiny-xnnpack-8da4w")
        .unwrap();
    let run = newest.runs.last().unwrap();
    assert!(tip.contains(&run.started_at.date_naive().to_string()), "{tip}");
    let versions = format!(
        "etbench {} · ExecuTorch {}",
        run.runner.as_ref().unwrap().runner_version,
        run.runner.as_ref().unwrap().executorch_version
    );
    assert!(tip.contains(&versions), "{versions}: {tip}");
    for w in &run.warnings {
        let text = w.to_string().replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;");
        assert!(tip.contains(&text), "warning `{text}` in {tip}");
    }
    if newest.origins.last().unwrap().ci.is_some() {
        assert!(tip.contains(&format!("commit {}", &ci(0).commit.unwrap()[..12])), "{tip}");
    }

    // A screenshot, looked at by a person when the example is regenerated.
    let keep = std::env::var_os("ETBENCH_SITE_EXAMPLE").map(PathBuf::from);
    let png = keep.as_deref().unwrap_or(tmp.path()).join("screenshot.png");
    if let Some(dir) = &keep {
        std::fs::create_dir_all(dir).unwrap();
    }
    browser::screenshot(&browser::url(&index, "point=9:-1"), &png, (1400, 2700));
    if let Some(dir) = keep {
        for e in std::fs::read_dir(&out_dir).unwrap().flatten() {
            std::fs::copy(e.path(), dir.join(e.file_name())).unwrap();
        }
    }
}

/// The console check is not blind: a page with an error is caught.
#[test]
fn a_page_with_a_console_error_is_caught() {
    if !browser::installed() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let page = tmp.path().join("broken.html");
    std::fs::write(&page, "<!doctype html><html lang=\"en\"><body><script>undefinedFunction();</script></body></html>")
        .unwrap();
    let load = browser::load(&browser::url(&page, ""));
    assert_eq!(load.console.len(), 1, "{:?}", load.console);
    assert!(load.console[0].contains("undefinedFunction is not defined"), "{:?}", load.console);
}

/// Bad input: an `--out` that is a file, and a history with no runs. Clear errors, non-zero exit, nothing written.
#[test]
fn history_site_refuses_an_out_that_is_a_file_and_an_empty_history() {
    let tmp = tempfile::tempdir().unwrap();
    let db = history();
    let file = tmp.path().join("notes.txt");
    std::fs::write(&file, "keep me").unwrap();
    let out = site(db, &file);
    assert!(!out.status.success());
    let err = stderr_of(&out);
    assert!(
        err.contains(&format!("--out {} is an existing file", file.display())) && err.contains("pass a directory"),
        "{err}"
    );
    assert!(!err.contains("panicked"), "{err}");
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "keep me", "the file is untouched");

    let empty = tmp.path().join("empty.sqlite");
    History::create(&empty).unwrap();
    let out_dir = tmp.path().join("site");
    let out = site(&empty, &out_dir);
    assert!(!out.status.success());
    let err = stderr_of(&out);
    assert!(err.contains("no runs yet") && err.contains("history add"), "{err}");
    assert!(!out_dir.exists(), "nothing is written for an empty history");

    let out = site(&tmp.path().join("missing.sqlite"), &out_dir);
    assert!(!out.status.success());
    assert!(stderr_of(&out).contains("no history database"), "{}", stderr_of(&out));
}

/// docs/dashboard.md as written: one real night into a history, the site from it.
#[test]
fn the_dashboard_page_runs_as_written() {
    if !browser::installed() {
        return;
    }
    let _machine = load();
    let scratch = docs::Scratch::new();
    scratch.run_page("docs/dashboard.md");
    let site = scratch.path().join("site");
    for name in ["index.html", "data.js", "uPlot.iife.min.js", "uPlot-LICENSE"] {
        assert!(site.join(name).is_file(), "{name}");
    }
    let js = std::fs::read_to_string(site.join("data.js")).unwrap();
    let json = js.strip_prefix("window.ETBENCH_DATA = ").and_then(|j| j.trim_end().strip_suffix(';')).expect(&js);
    let data: serde_json::Value = serde_json::from_str(json).unwrap();
    let series = data["series"].as_array().unwrap();
    assert_eq!(series.len(), 2, "two models of one paired night");
    assert!(
        series
            .iter()
            .all(|s| s["nights"].as_array().unwrap().len() == 1
                && s["metrics"]["latency"]["v"][0].as_f64().unwrap() > 0.0),
        "{series:#?}"
    );
    assert_eq!(data["normalised"].as_array().unwrap().len(), 1, "one paired ratio");
    let load = browser::load(&browser::url(&site.join("index.html"), ""));
    assert!(load.console.is_empty(), "{:?}", load.console);
    assert_eq!(number(&load.dom, "charts", "data-points"), 2);
}
