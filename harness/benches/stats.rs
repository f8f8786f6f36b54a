//! Cost of the statistics over realistic and large sample counts.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use etbench::stats::Sample;

fn samples(n: usize) -> Vec<f64> {
    // Deterministic, skewed like latencies: a base plus a long tail.
    (0..n).map(|i| 6.5e6 + ((i * 7919) % 1000) as f64 * 1e3 + if i % 97 == 0 { 3e6 } else { 0.0 }).collect()
}

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("stats_summary");
    for n in [20usize, 1_000, 100_000] {
        let data = samples(n);
        group.bench_with_input(BenchmarkId::from_parameter(n), &data, |b, d| {
            b.iter(|| Sample::new(std::hint::black_box(d)).unwrap().summary())
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
