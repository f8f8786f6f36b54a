//! Cost of the nightly history on both stores: `history add` of 10,000 runs with their samples (100 documents ×
//! 100 runs, 20 timed samples each, one transaction per document) into SQLite and into PostgreSQL, in runs per
//! second; and `history check` (read every series, judge the newest night of each) over 365 nights × 50 series.
//! PostgreSQL is the server named by ETBENCH_TEST_PG_URL (`eval "$(scripts/pg-test-cluster.sh start)"`); a database
//! of its own is created and dropped. Run: `cargo bench -p etbench --bench history` (prints the figures).
//! The runs are copies of a real run from `reports/example/results.json` with varied samples.

use std::time::Instant;

use etbench::analysis::bootstrap::SplitMix64;
use etbench::analysis::compare::Options;
use etbench::analysis::history::{self, History, Location};
use etbench::results::Document;

fn template() -> Document {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../reports/example/results.json");
    Document::read(&path).unwrap_or_else(|e| panic!("{e}: the bench copies a run from the committed example report"))
}

/// `nights` documents of `series` runs each (devices × variants), one night apart.
fn nights(nights: usize, series: usize) -> Vec<Document> {
    let base = template();
    let run = base.runs.iter().find(|r| r.is_ok()).expect("the example has a successful run").clone();
    let mut rng = SplitMix64::new(11);
    (0..nights)
        .map(|n| {
            let mut doc = Document::new(base.provenance.clone());
            doc.provenance.created_at += chrono::Duration::days(n as i64);
            for i in 0..series {
                let (device, variant) = (i % 10, i / 10);
                let mut r = run.clone();
                r.id = format!("dev{device}/v{variant}/n{n}");
                r.device.name = format!("device-{device}");
                r.model.name = format!("variant-{variant}");
                r.model.sha256 = format!("{variant:064x}");
                let center = 2e6 * (1 + variant) as f64;
                r.samples.timed_ns =
                    (0..20).map(|_| (center * (0.95 + rng.below(1000) as f64 / 10_000.0)) as u64).collect();
                r.started_at = doc.provenance.created_at;
                r.summarise();
                doc.runs.push(r);
            }
            doc
        })
        .collect()
}

fn add_all(location: &Location, docs: &[Document]) -> f64 {
    let start = Instant::now();
    let mut h = History::create(location).unwrap();
    for (i, doc) in docs.iter().enumerate() {
        let added = h.add(doc, &format!("night-{i}.json")).unwrap();
        assert_eq!(added.added, doc.runs.len());
    }
    start.elapsed().as_secs_f64()
}

fn check(location: &Location) -> (f64, usize) {
    let start = Instant::now();
    let series = History::open(location).unwrap().series().unwrap();
    let opts = Options::default();
    let c = history::check(&series, 7, &opts);
    let n = history::check_normalised(&series, 7, &opts);
    std::hint::black_box((&c, &n));
    (start.elapsed().as_secs_f64(), series.len())
}

struct PgDb {
    admin: String,
    name: String,
    url: String,
}

impl PgDb {
    fn new(admin: &str, tag: &str) -> Self {
        let name = format!("etb_bench_{tag}_{}", std::process::id());
        let mut c = postgres::Client::connect(admin, postgres::NoTls).expect("ETBENCH_TEST_PG_URL answers");
        c.batch_execute(&format!("DROP DATABASE IF EXISTS {name}")).unwrap();
        c.batch_execute(&format!("CREATE DATABASE {name}")).unwrap();
        let mut url = url::Url::parse(admin).unwrap();
        url.set_path(&name);
        Self { admin: admin.to_owned(), name, url: url.to_string() }
    }
}

impl Drop for PgDb {
    fn drop(&mut self) {
        if let Ok(mut c) = postgres::Client::connect(&self.admin, postgres::NoTls) {
            let _ = c.batch_execute(&format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name));
        }
    }
}

fn main() {
    let pg = std::env::var("ETBENCH_TEST_PG_URL").ok();
    if pg.is_none() {
        eprintln!("history bench: ETBENCH_TEST_PG_URL is not set, PostgreSQL figures skipped (eval \"$(scripts/pg-test-cluster.sh start)\")");
    }
    let tmp = tempfile::tempdir().unwrap();

    let docs = nights(100, 100);
    let runs: usize = docs.iter().map(|d| d.runs.len()).sum();
    assert_eq!(runs, 10_000);
    let lite = Location::Sqlite(tmp.path().join("add.sqlite"));
    let t = add_all(&lite, &docs);
    println!(
        "history add, SQLite: {runs} runs (20 samples each, 100 files) in {t:.2} s = {:.0} runs/s",
        runs as f64 / t
    );
    if let Some(admin) = &pg {
        let db = PgDb::new(admin, "add");
        let t = add_all(&Location::Postgres(db.url.clone()), &docs);
        println!(
            "history add, PostgreSQL: {runs} runs (20 samples each, 100 files) in {t:.2} s = {:.0} runs/s",
            runs as f64 / t
        );
    }

    let year = nights(365, 50);
    let lite = Location::Sqlite(tmp.path().join("year.sqlite"));
    add_all(&lite, &year);
    let (t, n) = check(&lite);
    println!("history check, SQLite: 365 nights × {n} series in {t:.2} s (goal ≤ 2 s)");
    if let Some(admin) = &pg {
        let db = PgDb::new(admin, "year");
        let location = Location::Postgres(db.url.clone());
        add_all(&location, &year);
        let (t, n) = check(&location);
        println!("history check, PostgreSQL: 365 nights × {n} series in {t:.2} s (goal ≤ 2 s)");
    }
}
