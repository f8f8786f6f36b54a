//! Cost of `etbench report` over a large history: 10,000 synthetic runs (50 documents × 200 runs: 5 devices ×
//! 4 variants × 2 thread counts × 5 repeats, 20 timed samples each), rendered to tables, charts (PNG + SVG) and
//! CSVs in memory. The runs are copies of a real run from `reports/example/results.json` with varied samples.

use criterion::{criterion_group, criterion_main, Criterion};
use etbench::analysis::bootstrap::SplitMix64;
use etbench::export::report::Report;
use etbench::results::Document;

fn template() -> Document {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../reports/example/results.json");
    Document::read(&path).unwrap_or_else(|e| panic!("{e}: the bench copies a run from the committed example report"))
}

fn documents(total_runs: usize) -> Vec<Document> {
    let base = template();
    let run = base.runs.iter().find(|r| r.is_ok()).expect("the example has a successful run").clone();
    let mut rng = SplitMix64::new(7);
    let per_doc = 200;
    (0..total_runs / per_doc)
        .map(|d| {
            let mut doc = Document::new(base.provenance.clone());
            doc.provenance.created_at += chrono::Duration::days(d as i64);
            for i in 0..per_doc {
                let (device, variant, threads, repeat) = (i % 5, (i / 5) % 4, (i / 20) % 2 + 1, i / 40);
                let mut r = run.clone();
                r.id = format!("dev{device}/v{variant}/t{threads}/r{repeat}/d{d}");
                r.device.name = format!("device-{device}");
                r.model.name = format!("variant-{variant}");
                r.model.sha256 = format!("{variant:064x}");
                r.params.spec.threads = Some(threads as u32);
                if let Some(info) = r.runner.as_mut() {
                    info.threads_effective = Some(threads as u32);
                }
                let center = 2e6 * (1 + variant) as f64 / threads as f64;
                r.samples.timed_ns =
                    (0..20).map(|_| (center * (0.9 + rng.below(2000) as f64 / 10_000.0)) as u64).collect();
                r.started_at = doc.provenance.created_at;
                r.summarise();
                doc.runs.push(r);
            }
            doc
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let docs = documents(10_000);
    assert_eq!(docs.iter().map(|d| d.runs.len()).sum::<usize>(), 10_000);
    let mut group = c.benchmark_group("report");
    group.sample_size(10);
    group.bench_function("render_10000_runs", |b| {
        b.iter(|| {
            let report = Report::render(std::hint::black_box(&docs)).unwrap();
            (report.markdown(&docs), report.charts.len())
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
