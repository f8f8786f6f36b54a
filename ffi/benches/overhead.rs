//! What etbench adds on top of a bare ExecuTorch loop, on the XNNPACK fp32 fixture.
//!
//! 1. criterion, in-process: per-forward latency of the runner's timed loop (`Engine::execute_timed`) vs the bare
//!    C++ `Module::forward` loop (`bare_forward_loop`), both measured with the monotonic clock around the call.
//! 2. whole processes, paired A/B rounds: `etbench-runner` vs `etbench-bare` (the bare loop in its own process),
//!    comparing median latency (median of per-round ratios) and peak RSS (VmHWM). Goals: median within 1%, peak RSS
//!    within 8 MiB. The verdict is printed and written to target/criterion/overhead.json.
//!    `cargo bench -p etbench-ffi --bench overhead -- processes` runs only this part.

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};
use etbench_ffi::Engine;
use etbench_protocol::{Dtype, Line, LoadMode, Message};

fn model() -> String {
    std::env::var("ETBENCH_OVERHEAD_MODEL").unwrap_or_else(|_| {
        let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../models/gemma3n-tiny-xnnpack-fp32.pte");
        p.to_string_lossy().into_owned()
    })
}

fn engine(path: &str) -> Engine {
    let mut engine = Engine::new(path, LoadMode::Mmap);
    engine.load_program().expect("fixture loads");
    engine.load_method("forward").expect("method loads");
    let bytes =
        etbench_ffi::inputs::encode_ints(Dtype::Int64, &etbench_protocol::default_ids(32)).expect("ids fit int64");
    engine.set_input(0, Dtype::Int64, &bytes, &[1, 32]).expect("input accepted");
    engine
}

fn in_process(c: &mut Criterion) {
    let path = model();
    let mut group = c.benchmark_group("forward_xnnpack_fp32");
    group.sample_size(30).measurement_time(Duration::from_secs(8));
    let mut e = engine(&path);
    group.bench_function("etbench_timed_loop", |b| {
        b.iter_custom(|iters| {
            let mut lat = Vec::with_capacity(iters as usize);
            e.execute_timed("forward", iters as u32, &mut lat).expect("execute");
            Duration::from_nanos(lat.iter().sum())
        })
    });
    group.bench_function("bare_cpp_module_forward", |b| {
        b.iter_custom(|iters| {
            let lat = etbench_ffi::bare_forward_loop(&path, 1, iters as u32).expect("bare loop");
            Duration::from_nanos(lat.iter().sum())
        })
    });
    group.finish();
}

fn median(v: &mut [u64]) -> f64 {
    v.sort_unstable();
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2] as f64
    } else {
        (v[n / 2 - 1] + v[n / 2]) as f64 / 2.0
    }
}

/// (timed latencies, peak VmHWM over all phases) of one `etbench-runner` process.
fn runner_process(path: &str, iters: u32) -> (Vec<u64>, u64) {
    let out = Command::new(env!("CARGO_BIN_EXE_etbench-runner"))
        .args(["--spec", &format!(r#"{{"warmup": 3, "iterations": {iters}}}"#), path])
        .output()
        .expect("runner starts");
    let (mut lat, mut peak) = (Vec::new(), 0);
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        match Line::parse(line).expect("protocol line").msg {
            Message::Sample(s) if s.phase == etbench_protocol::PhaseKind::Timed => lat.push(s.latency_ns),
            Message::Phase(p) => peak = peak.max(p.memory.vm_hwm_bytes.unwrap_or(0)),
            _ => {}
        }
    }
    (lat, peak)
}

fn bare_process(path: &str, iters: u32) -> (Vec<u64>, u64) {
    let out = Command::new(env!("CARGO_BIN_EXE_etbench-bare"))
        .args([path, "3", &iters.to_string()])
        .output()
        .expect("bare baseline starts");
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).expect("bare prints JSON");
    let lat = doc["latencies_ns"].as_array().unwrap().iter().map(|v| v.as_u64().unwrap()).collect();
    (lat, doc["memory"]["vm_hwm_bytes"].as_u64().unwrap_or(0))
}

/// Paired A/B over whole processes: each round runs the runner and the bare loop back to back (order alternating), and
/// the verdict is the median of the per-round ratios. This VM drifts between speed regimes that last seconds, so
/// unpaired medians mostly measure which regime each side landed in; a pair shares its regime.
fn processes(_c: &mut Criterion) {
    let path = model();
    let (rounds, iters) = (24, 150);
    let (mut ratios, mut runner_medians, mut bare_medians, mut runner_peak, mut bare_peak) =
        (vec![], vec![], vec![], 0u64, 0u64);
    for round in 0..rounds {
        let run_runner = || runner_process(&path, iters);
        let run_bare = || bare_process(&path, iters);
        let ((mut r, rp), (mut b, bp)) = if round % 2 == 0 {
            let r = run_runner();
            (r, run_bare())
        } else {
            let b = run_bare();
            (run_runner(), b)
        };
        let (rm, bm) = (median(&mut r), median(&mut b));
        ratios.push(rm / bm);
        runner_medians.push(rm as u64);
        bare_medians.push(bm as u64);
        runner_peak = runner_peak.max(rp);
        bare_peak = bare_peak.max(bp);
    }
    ratios.sort_by(f64::total_cmp);
    let q = |p: f64| ratios[((ratios.len() - 1) as f64 * p).round() as usize];
    let ratio = q(0.5);
    let (r, b) = (median(&mut runner_medians), median(&mut bare_medians));
    let rss_diff = runner_peak as i64 - bare_peak as i64;
    let latency_ok = (ratio - 1.0).abs() <= 0.01;
    let rss_ok = rss_diff <= 8 << 20;
    let verdict = serde_json::json!({
        "model": path,
        "rounds": rounds,
        "iterations_per_process": iters,
        "paired_ratio_median": ratio,
        "paired_ratio_p10": q(0.1),
        "paired_ratio_p90": q(0.9),
        "runner_median_ns": r,
        "bare_median_ns": b,
        "latency_within_1pct": latency_ok,
        "runner_peak_rss_bytes": runner_peak,
        "bare_peak_rss_bytes": bare_peak,
        "peak_rss_diff_bytes": rss_diff,
        "peak_rss_within_8mib": rss_ok,
    });
    eprintln!(
        "\nprocess A/B, {rounds} paired rounds × {iters} iterations: runner/bare median ratio {ratio:.4} (p10–p90 {:.4}–{:.4}, {}); medians {:.3} vs {:.3} ms; peak RSS {:.1} vs {:.1} MiB (diff {:+.1} MiB, {})",
        q(0.1),
        q(0.9),
        if latency_ok { "within 1%" } else { "OUTSIDE 1%" },
        r / 1e6,
        b / 1e6,
        runner_peak as f64 / 1048576.0,
        bare_peak as f64 / 1048576.0,
        rss_diff as f64 / 1048576.0,
        if rss_ok { "within 8 MiB" } else { "OVER 8 MiB" },
    );
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/criterion");
    let _ = std::fs::create_dir_all(&dir);
    let _ = std::fs::write(dir.join("overhead.json"), serde_json::to_vec_pretty(&verdict).unwrap());
}

/// Decode steps: etbench's generation (the runner's own code: `generate::generate` over an `Engine`) against a bare
/// C++ loop of `Module::forward({token, input_pos})` (`bare_decode_loop`), alternated in one process, the same
/// program, prompt and threads. Each round compares the two medians of per-step latency; the verdict is the median of
/// the per-round ratios with the distribution-free 95 % interval. Goal: within 1 %. Written to
/// target/criterion/decode-overhead.json.
fn decode(_c: &mut Criterion) {
    use etbench_protocol::llm::{recognise, MethodSig};
    let path = std::env::var("ETBENCH_DECODE_MODEL").unwrap_or_else(|_| {
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../models/llama-tiny-kv-xnnpack.pte")
            .to_string_lossy()
            .into_owned()
    });
    if !std::path::Path::new(&path).exists() {
        eprintln!("decode overhead: {path} not found (set ETBENCH_DECODE_MODEL)");
        return;
    }
    let (rounds, prefill, steps) = (40u32, 16u32, 64u32);
    // The engine exactly as the runner makes it for a generation run.
    let mut engine = Engine::for_generation(&path, LoadMode::Mmap);
    engine.load_program().expect("program loads");
    let methods = engine.method_names();
    let metadata = etbench_ffi::generate::read_metadata(&mut engine, &methods, "forward");
    let specs = engine.method_specs("forward").expect("forward");
    let n = specs.inputs.len();
    let sigs = std::collections::BTreeMap::from([(
        "forward".to_owned(),
        MethodSig {
            inputs: specs.inputs,
            outputs: specs.outputs,
            dynamic_last_dim: vec![None; n],
            mutable_buffers: None,
        },
    )]);
    let program = recognise(&sigs, &metadata).expect("an LLM program");
    let workload = etbench_protocol::LlmSpec { prefill, decode: steps, ..Default::default() };
    let plan = etbench_ffi::generate::plan(&program, &workload, &path).expect("the workload fits");
    engine.load_method("forward").expect("method loads");
    let started = std::time::Instant::now();
    let mut ratios = Vec::new();
    let (mut ours_all, mut bare_all) = (Vec::new(), Vec::new());
    for round in 0..rounds {
        let mut ours = || etbench_ffi::generate::generate(&mut engine, &plan, started).expect("generation").decode_ns;
        let bare = || etbench_ffi::bare_decode_loop(&path, &plan.context, steps).expect("bare decode loop");
        let (mut a, mut b) = if round % 2 == 0 {
            let a = ours();
            (a, bare())
        } else {
            let b = bare();
            (ours(), b)
        };
        if round < 2 {
            continue; // warm-up rounds
        }
        ours_all.extend_from_slice(&a);
        bare_all.extend_from_slice(&b);
        ratios.push(median(&mut a) / median(&mut b));
    }
    ratios.sort_by(f64::total_cmp);
    let k = ratios.len();
    let (lo, hi) = etbench_protocol::median_interval_ranks(k).expect("at least 6 rounds");
    let ratio = if k % 2 == 1 { ratios[k / 2] } else { (ratios[k / 2 - 1] + ratios[k / 2]) / 2.0 };
    let ok = ratios[lo] >= 0.99 && ratios[hi] <= 1.01;
    eprintln!(
        "\ndecode A/B in one process, {k} rounds × {steps} steps (prefill {prefill}): etbench/bare median step ratio {ratio:.4} (95% interval {:.4}–{:.4}, {}); median steps {:.1} vs {:.1} µs",
        ratios[lo],
        ratios[hi],
        if ok { "within 1%" } else { "NOT shown within 1%" },
        median(&mut ours_all) / 1e3,
        median(&mut bare_all) / 1e3,
    );
    let verdict = serde_json::json!({
        "model": path, "rounds": k, "steps": steps, "prefill": prefill,
        "ratio_median": ratio, "ratio_lower": ratios[lo], "ratio_upper": ratios[hi], "within_1pct": ok,
    });
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/criterion");
    let _ = std::fs::create_dir_all(&dir);
    let _ = std::fs::write(dir.join("decode-overhead.json"), serde_json::to_vec_pretty(&verdict).unwrap());
}

criterion_group!(benches, in_process, processes, decode);
criterion_main!(benches);
