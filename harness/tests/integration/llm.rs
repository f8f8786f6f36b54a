//! LLM generation end to end: the real CLI and runner on the bundled KV-cache programs — a tiny Llama from
//! ExecuTorch's own `export_llama` (dynamic and static token dimension, XNNPACK) and tiny Gemma 3n exports with a
//! KV cache — checked against the greedy generations ExecuTorch's Python runtime recorded in
//! `models/manifest-llm.json` (`scripts/export_llm.py --check` re-runs those with the Python runtime).

use std::path::{Path, PathBuf};

use crate::common::*;
use etbench::results::{OutputVerdict, RunStatus};
use etbench_protocol::PrefillMode;

fn llm(name: &str) -> PathBuf {
    let p = models_dir().join(format!("{name}.pte"));
    assert!(p.is_file(), "missing LLM fixture {}", p.display());
    p
}

/// What the export recorded: the prompt and the greedy ids after it, for `prompt_len` tokens of seed 0.
fn expected(file: &str, prompt_len: usize) -> (Vec<i64>, Vec<i64>) {
    let text = std::fs::read_to_string(models_dir().join("manifest-llm.json")).expect("models/manifest-llm.json");
    let manifest: serde_json::Value = serde_json::from_str(&text).unwrap();
    let variant = manifest["variants"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["file"] == file)
        .unwrap_or_else(|| panic!("{file} in the manifest"));
    let g = variant["generations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["prompt_len"] == prompt_len && g["seed"] == 0)
        .expect("a generation of that length");
    let ids = |k: &str| g[k].as_array().unwrap().iter().map(|v| v.as_i64().unwrap()).collect();
    (ids("prompt_ids"), ids("generated"))
}

fn generate(models: &[&Path], extra: &[&str]) -> (std::process::Output, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = etbench();
    cmd.args(["run", "--warmup", "1", "--format", "table", "--out"]).arg(dir.path());
    if !extra.contains(&"--iters") {
        cmd.args(["--iters", "3"]);
    }
    for m in models {
        cmd.arg("--model").arg(m);
    }
    (cmd.args(extra).output().unwrap(), dir)
}

#[test]
fn export_llama_programs_generate_what_executorchs_python_runtime_generated() {
    let _guard = load();
    let dynamic = llm("llama-tiny-kv-xnnpack");
    let (prompt, want) = expected("llama-tiny-kv-xnnpack.pte", 16);
    let (out, dir) = generate(&[&dynamic], &["--prefill", "16", "--decode", "20"]);
    assert!(out.status.success(), "{}", stderr_of(&out));
    let doc = read_doc(dir.path());
    let run = &doc.runs[0];
    assert_eq!(run.status, RunStatus::Ok, "{:?}", run.error);
    let l = run.llm.as_ref().expect("a generation run");
    assert_eq!(l.prompt_ids, prompt, "the seeded prompt is the manifest's");
    assert_eq!(l.generated(), &want[..21], "20 decode steps give 21 ids, the first from the prefill");
    assert_eq!(run.output_verdict, OutputVerdict::MatchesManifest);
    assert_eq!(l.timed().count(), 3);
    assert_eq!(l.generations.iter().filter(|g| g.warmup).count(), 1);
    for g in l.timed() {
        assert_eq!((g.decode_ns.len(), g.prefill_calls, g.prefill_mode), (20, 1, PrefillMode::OneCall));
        assert!(g.ttft_ns >= g.prefill_ns && g.prefill_ns > 0);
        assert_eq!(g.nonfinite_steps, 0);
    }
    let s = l.summary.as_ref().unwrap();
    assert!(
        s.decode_tokens_per_s.lower <= s.decode_tokens_per_s.median
            && s.decode_tokens_per_s.median <= s.decode_tokens_per_s.upper
    );
    assert!(s.peak_rss_after_decode_bytes.unwrap() > 1 << 20);
    assert_eq!(l.metadata.get("get_max_context_len").and_then(|v| v.as_int()), Some(128));
    // Per-generation samples drive the paired and compare machinery.
    assert_eq!(run.samples.timed_ns.len(), 3);
    let stdout = String::from_utf8_lossy(&out.stdout);
    for needle in ["decode tok/s", "TTFT ms", "pp16 tg20", "matches export", "match the export's greedy generation"] {
        assert!(stdout.contains(needle), "{needle} missing from:\n{stdout}");
    }
    assert!(!stdout.contains("No KV cache"), "{stdout}");

    // Token by token through the same program, the static [1, 1] export, and a cache already holding 8 tokens of
    // the same sequence all give the same ids.
    let (out, dir) = generate(&[&dynamic], &["--prefill", "16", "--decode", "8", "--prefill-mode", "token"]);
    assert!(out.status.success(), "{}", stderr_of(&out));
    let doc = read_doc(dir.path());
    let l = doc.runs[0].llm.as_ref().unwrap();
    assert_eq!((l.generated(), l.timed().next().unwrap().prefill_calls), (&want[..9], 16));
    let (out, dir) = generate(&[&llm("llama-tiny-kv-static-xnnpack")], &["--prefill", "16", "--decode", "8"]);
    assert!(out.status.success(), "{}", stderr_of(&out));
    let doc = read_doc(dir.path());
    let l = doc.runs[0].llm.as_ref().unwrap();
    assert_eq!((l.generated(), l.timed().next().unwrap().prefill_mode), (&want[..9], PrefillMode::TokenByToken));
    assert_eq!(doc.runs[0].output_verdict, OutputVerdict::MatchesManifest);
    let (out, dir) = generate(&[&dynamic], &["--depth", "8", "--prefill", "8", "--decode", "8"]);
    assert!(out.status.success(), "{}", stderr_of(&out));
    let doc = read_doc(dir.path());
    let l = doc.runs[0].llm.as_ref().unwrap();
    assert_eq!((l.prompt_ids.clone(), l.generated()), (prompt, &want[..9]));
    assert_eq!(l.timed().next().unwrap().prefill_tokens, 8);
}

#[test]
fn gemma3n_kv_exports_generate_what_the_export_recorded() {
    let _guard = load();
    let models: Vec<PathBuf> =
        ["gemma3n-tiny-kv-bf16", "gemma3n-tiny-kv-xnnpack-fp32"].iter().map(|n| llm(n)).collect();
    let refs: Vec<&Path> = models.iter().map(PathBuf::as_path).collect();
    // Longer than the sliding window (16): the sliding layers' cache is exercised.
    let (out, dir) = generate(&refs, &["--prefill", "32", "--decode", "16"]);
    assert!(out.status.success(), "{}", stderr_of(&out));
    let doc = read_doc(dir.path());
    for run in &doc.runs {
        let (_, want) = expected(&format!("{}.pte", run.model.name), 32);
        let l = run.llm.as_ref().unwrap();
        assert_eq!(l.generated(), &want[..17], "{}", run.model.name);
        assert_eq!(run.output_verdict, OutputVerdict::MatchesManifest, "{}", run.model.name);
    }
}

#[test]
fn the_other_conventions_generate_what_the_export_recorded() {
    let _guard = load();
    // forward(input_ids[1, S], cache_position[S]) returning every position's logits, and separate prefill/decode
    // methods sharing one KV cache: both hand-written with the same weights, so the same ids.
    let (_, want) = expected("tiny-kv-cache-position-fp32.pte", 16);
    for (name, convention) in [
        ("tiny-kv-cache-position-fp32", "input_ids_cache_position"),
        ("tiny-kv-prefill-decode-fp32", "prefill_decode_methods"),
    ] {
        for mode in ["auto", "token"] {
            let (out, dir) = generate(&[&llm(name)], &["--prefill", "16", "--decode", "12", "--prefill-mode", mode]);
            assert!(out.status.success(), "{name}: {}", stderr_of(&out));
            let doc = read_doc(dir.path());
            let run = &doc.runs[0];
            let l = run.llm.as_ref().unwrap_or_else(|| panic!("{name}: {:?}", run.error));
            assert_eq!(serde_json::to_value(l.program.convention).unwrap(), convention);
            assert_eq!(l.generated(), &want[..13], "{name} ({mode})");
            assert_eq!(run.output_verdict, OutputVerdict::MatchesManifest, "{name} ({mode})");
        }
    }
}

#[test]
fn workloads_sweep_and_a_paired_generation_judges_decode_and_ttft() {
    let _guard = load();
    let m = llm("llama-tiny-kv-xnnpack");
    let (out, dir) = generate(&[&m], &["--prefill", "8,16", "--decode", "4", "--depth", "0,4"]);
    assert!(out.status.success(), "{}", stderr_of(&out));
    let doc = read_doc(dir.path());
    let mut workloads: Vec<(u32, u32)> =
        doc.runs.iter().map(|r| r.params.spec.llm.as_ref().map(|w| (w.prefill, w.depth)).unwrap()).collect();
    workloads.sort();
    assert_eq!(workloads, [(8, 0), (8, 4), (16, 0), (16, 4)]);
    let copy = tempfile::tempdir().unwrap();
    let b = copy.path().join("b.pte");
    std::fs::copy(&m, &b).unwrap();
    let (out, dir) = generate(&[&m, &b], &["--paired", "--prefill", "8", "--decode", "8", "--iters", "8"]);
    assert!(out.status.success(), "{}", stderr_of(&out));
    let doc = read_doc(dir.path());
    let quantities: Vec<&str> = doc.paired.iter().map(|p| p.quantity.label()).collect();
    assert_eq!(quantities, ["decode time per token", "time to first token"]);
    for p in &doc.paired {
        assert_eq!(p.pairs, 8);
        assert!(p.ratio.is_finite() && p.lower <= p.ratio && p.ratio <= p.upper, "{p:?}");
    }
    // Both sessions' rows generated the same ids, in alternating rounds.
    let rounds: Vec<Option<u32>> = doc.runs[1].llm.as_ref().unwrap().timed().map(|g| g.round).collect();
    assert_eq!(rounds, (0..8).map(Some).collect::<Vec<_>>());
}

#[test]
fn eos_is_recorded_and_stops_a_text_run_only_when_asked() {
    let _guard = load();
    let m = llm("llama-tiny-kv-xnnpack");
    // Seed 11's greedy continuation of 8 tokens reaches the program's EOS id (get_eos_ids) within 40 steps.
    let (out, dir) = generate(&[&m], &["--prefill", "8", "--decode", "40", "--prompt-seed", "11"]);
    assert!(out.status.success(), "{}", stderr_of(&out));
    let doc = read_doc(dir.path());
    let l = doc.runs[0].llm.as_ref().unwrap();
    let g = l.timed().next().unwrap();
    let at = g.eos_at.expect("EOS reached") as usize;
    assert_eq!((g.generated[at], g.generated.len(), g.decode_ns.len()), (2, 41, 40), "benchmark mode decodes past EOS");
    let (out, dir) = generate(&[&m], &["--prefill", "8", "--decode", "40", "--prompt-seed", "11", "--stop-at-eos"]);
    assert!(out.status.success(), "EOS is not an error: {}", stderr_of(&out));
    let doc = read_doc(dir.path());
    let stopped = doc.runs[0].llm.as_ref().unwrap().timed().next().unwrap().clone();
    assert_eq!((stopped.generated.len(), stopped.decode_ns.len(), stopped.eos_at), (at + 1, at, Some(at as u32)));
    assert_eq!(stopped.generated[..], g.generated[..=at]);
}

#[test]
fn generation_refuses_what_cannot_work_and_says_why() {
    let _guard = load();
    let m = llm("llama-tiny-kv-xnnpack");
    // Past the program's context: refused before anything runs, naming the limit and where it came from.
    let (out, dir) = generate(&[&m], &["--prefill", "100", "--decode", "40"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr_of(&out));
    let err = stderr_of(&out);
    assert!(err.contains("140 positions") && err.contains("128") && err.contains("get_max_context_len"), "{err}");
    assert!(!dir.path().join("results.json").exists(), "nothing was run");
    // No KV cache: the seed's window export keeps its forward loop and says how to get decode tok/s.
    let (out, dir) = generate(&[&fixture("bf16")], &["--prefill", "8", "--decode", "4"]);
    assert!(!out.status.success());
    let doc = read_doc(dir.path());
    let e = doc.runs[0].error.as_ref().expect("an error row");
    assert!(e.message.contains("no KV cache") && e.message.contains("--kv-cache"), "{}", e.message);
    // Not an LLM program at all: what was found is listed.
    let (out, dir) = generate(&[&program("convnet-fp32")], &["--prefill", "8", "--decode", "4"]);
    assert!(!out.status.success());
    let e = read_doc(dir.path()).runs[0].error.clone().expect("an error row");
    assert!(
        e.message.contains("no LLM calling convention") && e.message.contains("float32[1, 3, 32, 32]"),
        "{}",
        e.message
    );
    // A static [1, 1] program cannot take a one-call prompt.
    let (out, dir) = generate(
        &[&llm("llama-tiny-kv-static-xnnpack")],
        &["--prefill", "8", "--decode", "4", "--prefill-mode", "one-call"],
    );
    assert!(!out.status.success());
    let e = read_doc(dir.path()).runs[0].error.clone().expect("an error row");
    assert!(e.message.contains("static [1, 1]"), "{}", e.message);
    // A program that needs operators the runtime lacks (export_llama --use_sdpa_with_kv_cache): named, with the fix.
    let custom = repo().join("harness/tests/integration/data/llama-custom-ops.pte");
    let (out, dir) = generate(&[&custom], &["--prefill", "4", "--decode", "4"]);
    assert!(!out.status.success());
    let e = read_doc(dir.path()).runs[0].error.clone().expect("an error row");
    assert!(
        e.message.contains("llama::custom_sdpa.out")
            && e.message.contains("llama::update_cache.out")
            && e.message.contains("drop --use_sdpa_with_kv_cache"),
        "{}",
        e.message
    );
    // Generation flags with explicit inputs are an argument problem.
    let (out, _) = generate(&[&m], &["--prefill", "8", "--input", "ids"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr_of(&out));
}

#[test]
fn a_sustained_run_charts_tokens_per_second_over_time_and_decode_by_position() {
    let _guard = load();
    let m = llm("llama-tiny-kv-xnnpack");
    let (out, dir) = generate(&[&m], &["--prefill", "8", "--decode", "48", "--sustain", "2"]);
    assert!(out.status.success(), "{}", stderr_of(&out));
    let doc = read_doc(dir.path());
    let l = doc.runs[0].llm.as_ref().unwrap();
    let timed: Vec<_> = l.timed().collect();
    assert!(timed.len() > 3, "generations go on for the whole time, not --iters: {}", timed.len());
    let last = timed.last().unwrap();
    assert!(last.end_uptime_ms >= 2000, "{}", last.end_uptime_ms);
    assert!(timed.iter().all(|g| g.conditions.is_some()), "conditions after every generation of a sustained run");
    let report = tempfile::tempdir().unwrap();
    let out = etbench().arg("report").arg(dir.path()).arg("--out").arg(report.path()).output().unwrap();
    assert!(out.status.success(), "{}", stderr_of(&out));
    for chart in ["sustained.png", "decode_by_position.png", "decode.png", "ttft.png"] {
        assert!(report.path().join(chart).is_file(), "{chart}");
    }
    let md = std::fs::read_to_string(report.path().join("report.md")).unwrap();
    assert!(
        md.contains("| variant | size | delegate |") && md.contains("pp8 tg48") && md.contains("timed generations"),
        "{md}"
    );
}

#[test]
fn a_text_prompt_drives_a_generation_and_ids_outside_the_vocabulary_are_refused() {
    let _guard = load();
    let (out, dir) = generate(
        &[&llm("gemma3n-tiny-kv-xnnpack-fp32")],
        &["--prompt", "The quick brown fox", "--decode", "6", "--stop-at-eos"],
    );
    assert!(out.status.success(), "{}", stderr_of(&out));
    let doc = read_doc(dir.path());
    let l = doc.runs[0].llm.as_ref().unwrap();
    let w = doc.runs[0].params.spec.llm.as_ref().unwrap();
    assert_eq!(w.prompt_ids.as_deref(), Some(&l.prompt_ids[..]), "the tokenizer's ids are the prompt");
    assert_eq!(w.prefill as usize, l.prompt_ids.len());
    assert_eq!(l.prompt_text.as_deref(), Some("The quick brown fox"));
    assert!(l.generated_text.as_ref().is_some_and(|t| !t.is_empty()));
    // The bundled tokenizer's ids reach past the tiny Llama's 512-entry vocabulary: an error row that says so.
    let (out, dir) = generate(&[&llm("llama-tiny-kv-xnnpack")], &["--prompt", "The quick brown fox", "--decode", "6"]);
    assert!(!out.status.success());
    let e = read_doc(dir.path()).runs[0].error.clone().expect("an error row");
    assert!(e.message.contains("outside the program's vocabulary (0..512)"), "{}", e.message);
    let (out, _) = generate(&[&llm("llama-tiny-kv-xnnpack")], &["--prompt", "x", "--prefill", "8"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr_of(&out));
}

#[test]
fn compare_of_two_generation_runs_judges_decode_time_per_token_and_ttft() {
    let _guard = load();
    let m = llm("llama-tiny-kv-xnnpack");
    let (a, dir_a) = generate(&[&m], &["--prefill", "8", "--decode", "8", "--repeat", "3"]);
    let (b, dir_b) = generate(&[&m], &["--prefill", "8", "--decode", "8", "--repeat", "3"]);
    assert!(a.status.success() && b.status.success(), "{}{}", stderr_of(&a), stderr_of(&b));
    let out = etbench().args(["compare", "--format", "md"]).arg(dir_a.path()).arg(dir_b.path()).output().unwrap();
    assert!(matches!(out.status.code(), Some(0) | Some(1)), "{}", stderr_of(&out));
    let md = String::from_utf8_lossy(&out.stdout);
    assert!(md.contains("decode time per token (median)") && md.contains("time to first token"), "{md}");
    assert!(!md.contains("first forward"), "generation runs have no first forward: {md}");
}

/// ExecuTorch's own Gemma 4 export (`data/gemma4-tiny-text.pte`, made by the wheel's `export_single_pte` with a
/// tiny config: `scripts/export_gemma4_tiny.py`): one method `text_decoder(input_ids, input_pos, inputs_embeds)`, no
/// `forward`, no metadata methods. `inspect` recognises it by evidence (its KV cache buffers), and a generation run
/// feeds zero `inputs_embeds` and generates exactly what ExecuTorch's Python runtime generated at export time.
#[test]
fn executorchs_gemma4_export_generates_what_its_python_runtime_generates() {
    let _load = load();
    let data = repo().join("harness/tests/integration/data");
    let model = data.join("gemma4-tiny-text.pte");
    let reference: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(data.join("gemma4-tiny-text.json")).unwrap()).unwrap();

    let out = etbench().args(["inspect", "--format", "json"]).arg(&model).output().unwrap();
    assert!(out.status.success(), "{}", stderr_of(&out));
    let ins: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let llm = &ins[0]["llm"];
    assert_eq!(llm["prefill_method"], "text_decoder", "{llm}");
    assert_eq!(llm["dynamic_tokens"], true);
    assert_eq!(llm["extra_inputs"].as_array().map(Vec::len), Some(1), "inputs_embeds is fed as zeros: {llm}");
    assert!(ins[0]["kv_cache"]["buffers"].as_u64().is_some_and(|b| b > 0), "{}", ins[0]["kv_cache"]);
    let text = String::from_utf8(etbench().arg("inspect").arg(&model).output().unwrap().stdout).unwrap();
    assert!(text.contains("LLM program: text_decoder(") && text.contains("fed as zeros"), "{text}");

    let tmp = tempfile::tempdir().unwrap();
    let (prefill, decode) = (reference["prefill"].to_string(), reference["decode"].to_string());
    let out = etbench()
        .args(["run", "--format", "none", "--iters", "2", "--warmup", "0", "--prefill", &prefill, "--decode", &decode])
        .arg("--model")
        .arg(&model)
        .arg("--out")
        .arg(tmp.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr_of(&out));
    let doc = read_doc(tmp.path());
    let run = &doc.runs[0];
    assert_eq!(run.status, RunStatus::Ok, "{:?}", run.error);
    assert_eq!(run.model.sha256, reference["sha256"].as_str().unwrap(), "the fixture is the one the reference ran");
    let llm = run.llm.as_ref().expect("a generation run");
    assert_eq!(serde_json::to_value(&llm.prompt_ids).unwrap(), reference["prompt_ids"]);
    for g in llm.timed() {
        assert_eq!(serde_json::to_value(&g.generated).unwrap(), reference["generated"], "generation {}", g.index);
    }
    let summary = llm.summary.as_ref().expect("prefill and decode rates");
    assert!(summary.decode_tokens_per_s.median > 0.0 && summary.prefill_tokens_per_s.median > 0.0);
}
