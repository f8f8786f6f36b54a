//! Cost of `etbench history site` over a year of nights: 365 nights × 50 series (5 devices × 10 variants, one run of
//! 20 timed samples per series and night), stored in a SQLite history, then read back (`History::open` +
//! `series`), built into the dashboard's data and written as a site: the whole command. Also `history check` over
//! the same history, and, when Chromium is installed, how long the page takes to say it is ready
//! (`data-ready-ms`: all charts drawn, from navigation start) in headless Chromium.
//!
//! The runs are copies of a real run from `reports/example/results.json` with varied samples. The history and the
//! site are kept in `target/bench-site/` (open `target/bench-site/site/index.html`; time the CLI on the same
//! history with `etbench history site --db target/bench-site/history.sqlite`).

use std::path::{Path, PathBuf};
use std::time::Instant;

use criterion::{criterion_group, criterion_main, Criterion};
use etbench::analysis::bootstrap::SplitMix64;
use etbench::analysis::history::{self, History};
use etbench::export::site;
use etbench::results::Document;

const NIGHTS: i64 = 365;
const DEVICES: usize = 5;
const VARIANTS: usize = 10;

fn workdir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/bench-site")
}

fn template() -> Document {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../reports/example/results.json");
    Document::read(&path).unwrap_or_else(|e| panic!("{e}: the bench copies a run from the committed example report"))
}

/// A fresh history of `NIGHTS` nights × `DEVICES` × `VARIANTS` series.
fn history_db() -> PathBuf {
    let dir = workdir();
    std::fs::create_dir_all(&dir).unwrap();
    let db = dir.join("history.sqlite");
    let _ = std::fs::remove_file(&db);
    let base = template();
    let run = base.runs.iter().find(|r| r.is_ok()).expect("the example has a successful run").clone();
    let mut rng = SplitMix64::new(7);
    let mut h = History::create(&db).unwrap();
    let start = Instant::now();
    for night in 0..NIGHTS {
        let mut doc = Document::new(base.provenance.clone());
        doc.provenance.created_at -= chrono::Duration::days(NIGHTS - 1 - night);
        for i in 0..DEVICES * VARIANTS {
            let (device, variant) = (i % DEVICES, i / DEVICES);
            let mut r = run.clone();
            r.id = format!("dev{device}/v{variant}/n{night}");
            r.device.name = format!("device-{device}");
            r.model.name = format!("variant-{variant}");
            r.model.sha256 = format!("{variant:064x}");
            // A slow drift over the year, and one variant that gets 20 % slower for the last month.
            let trend = 1.0
                + 0.05 * ((night as f64) / 40.0).sin()
                + if variant == 3 && night > NIGHTS - 30 { 0.2 } else { 0.0 };
            let center = 2e6 * (1 + variant) as f64 * trend;
            r.samples.timed_ns =
                (0..20).map(|_| (center * (0.95 + rng.below(1000) as f64 / 10_000.0)) as u64).collect();
            r.started_at = doc.provenance.created_at;
            r.summarise();
            doc.runs.push(r);
        }
        h.add(&doc, &format!("night-{night}.json")).unwrap();
    }
    eprintln!(
        "site bench: history of {} runs written in {:.1} s",
        NIGHTS as usize * DEVICES * VARIANTS,
        start.elapsed().as_secs_f64()
    );
    db
}

fn make_site(db: &Path, out: &Path) -> site::Data {
    let series = History::open(db).unwrap().series().unwrap();
    let data = site::build(&series, &db.display().to_string(), 5, &site::default_options(5.0));
    site::write(out, &data).unwrap();
    data
}

/// `data-ready-ms` of the page and the whole Chromium process's wall time, per load.
fn chromium_ready(index: &Path, loads: usize) -> Option<Vec<(f64, f64)>> {
    let chromium = Path::new("/usr/bin/chromium");
    if !chromium.is_file() {
        eprintln!("site bench: no /usr/bin/chromium; the page's ready time is not measured");
        return None;
    }
    let url = format!("file://{}", index.canonicalize().unwrap().display());
    let mut out = Vec::new();
    for _ in 0..loads {
        let profile = tempfile::tempdir().unwrap();
        let start = Instant::now();
        let o = std::process::Command::new(chromium)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
            ])
            .args(["--disable-sync", "--no-first-run", "--dump-dom"])
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .arg(&url)
            .output()
            .unwrap();
        let wall_ms = start.elapsed().as_secs_f64() * 1e3;
        let dom = String::from_utf8_lossy(&o.stdout);
        let ready: f64 = dom
            .split("data-ready-ms=\"")
            .nth(1)
            .and_then(|t| t.split('"').next())
            .and_then(|v| v.parse().ok())
            .expect("the page says when it is ready");
        out.push((ready, wall_ms));
    }
    Some(out)
}

fn bench(c: &mut Criterion) {
    let db = history_db();
    let out = workdir().join("site");
    let data = make_site(&db, &out);
    let points: usize = data.series.iter().map(|s| s.nights.len()).sum();
    assert_eq!((data.series.len(), points), (DEVICES * VARIANTS, NIGHTS as usize * DEVICES * VARIANTS));
    let size = std::fs::metadata(out.join("data.js")).unwrap().len();
    eprintln!("site bench: {} series, {points} latency points, data.js {:.1} MB", data.series.len(), size as f64 / 1e6);
    if let Some(loads) = chromium_ready(&out.join("index.html"), 5) {
        let mut ready: Vec<f64> = loads.iter().map(|l| l.0).collect();
        let mut wall: Vec<f64> = loads.iter().map(|l| l.1).collect();
        ready.sort_by(f64::total_cmp);
        wall.sort_by(f64::total_cmp);
        eprintln!(
            "site bench: page ready in headless Chromium (data-ready-ms, 5 loads): median {:.0} ms, max {:.0} ms; whole chromium --dump-dom process: median {:.0} ms",
            ready[2], ready[4], wall[2]
        );
    }
    let mut group = c.benchmark_group("history");
    group.sample_size(10);
    group.bench_function("site_365_nights_x_50_series", |b| b.iter(|| make_site(&db, &out).series.len()));
    group.bench_function("check_365_nights_x_50_series", |b| {
        b.iter(|| {
            let series = History::open(&db).unwrap().series().unwrap();
            let opts = site::default_options(5.0);
            (history::check(&series, 5, &opts).pairs.len(), history::check_normalised(&series, 5, &opts).len())
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
