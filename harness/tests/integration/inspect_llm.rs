//! `etbench inspect` on LLM programs: the real binary on the export_llama and Gemma 3n KV-cache fixtures (checked
//! against what the exporters recorded in `models/manifest-llm.json`), on the window-convention Gemma 3n fixture, and
//! on a convnet that must say nothing about LLMs.

use std::path::Path;
use std::process::Command;

use serde_json::Value;

use crate::common::{models_dir, program};

/// `etbench inspect` needs no runner: the binary alone.
fn inspect(format: &str, model: &Path) -> String {
    let out =
        Command::new(env!("CARGO_BIN_EXE_etbench")).args(["inspect", "--format", format]).arg(model).output().unwrap();
    assert!(out.status.success(), "{}: {}", model.display(), String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

fn json(model: &Path) -> Value {
    let all: Value = serde_json::from_str(&inspect("json", model)).unwrap();
    all[0].clone()
}

fn manifest_variant(name: &str) -> Value {
    let text = std::fs::read_to_string(models_dir().join("manifest-llm.json")).expect("models/manifest-llm.json");
    let manifest: Value = serde_json::from_str(&text).unwrap();
    manifest["variants"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["name"] == name)
        .unwrap_or_else(|| panic!("{name} in manifest-llm.json"))
        .clone()
}

/// The metadata block's line for `key`, split into key and value.
fn metadata_line<'a>(table: &'a str, key: &str) -> Option<&'a str> {
    let block = table.split("metadata (constant methods):\n").nth(1)?;
    block
        .lines()
        .take_while(|l| l.starts_with("  "))
        .find_map(|l| l.trim().strip_prefix(key)?.strip_prefix(' ').map(str::trim))
}

/// What every export_llama fixture shows: the exporter's metadata values, its convention, its KV cache.
fn check_against_manifest(name: &str) -> (String, Value) {
    let variant = manifest_variant(name);
    let path = program(name);
    let (table, ins) = (inspect("table", &path), json(&path));
    assert_eq!(ins["metadata"], variant["metadata"], "{name}: metadata values");
    for (key, value) in variant["metadata"].as_object().unwrap() {
        let shown =
            metadata_line(&table, key).unwrap_or_else(|| panic!("{name}: no metadata line for {key}:\n{table}"));
        let expected = match value {
            Value::Array(items) => format!("[{}]", items.iter().map(Value::to_string).collect::<Vec<_>>().join(", ")),
            other => other.to_string(),
        };
        assert_eq!(shown, expected, "{name}: {key}");
        assert!(
            !table.contains(&format!("method {key}:")),
            "{name}: metadata method {key} listed as a method:\n{table}"
        );
    }
    assert_eq!(ins["llm"]["convention"], variant["convention"], "{name}");
    assert_eq!(ins["llm"]["dynamic_tokens"], variant["dynamic_shape"], "{name}");
    assert_eq!(ins["llm"]["max_context"], variant["metadata"]["get_max_context_len"], "{name}");
    assert_eq!(ins["llm"]["vocab_size"], variant["metadata"]["get_vocab_size"], "{name}");
    let forward = ins["methods"].as_array().unwrap().iter().find(|m| m["name"] == "forward").unwrap();
    for (i, input) in variant["forward"]["inputs"].as_array().unwrap().iter().enumerate() {
        assert_eq!(forward["inputs"][i]["sizes"], input["sizes"], "{name}: input {i} (sizes stay the upper bounds)");
    }
    let (kv, expected) = (&ins["kv_cache"], &variant["kv_cache"]);
    assert_eq!(
        (&kv["buffers"], &kv["bytes"], &kv["shape"], &kv["dtype"]),
        (&expected["buffers"], &expected["bytes"], &expected["shape"], &expected["dtype"]),
        "{name}: KV cache"
    );
    assert_eq!(kv["in_planned_memory"], true, "{name}");
    let kib = expected["bytes"].as_u64().unwrap() as f64 / 1024.0;
    let dims: Vec<String> = expected["shape"].as_array().unwrap().iter().map(Value::to_string).collect();
    let line = format!(
        "KV cache: {} mutable buffers, {kib:.2} KiB ({} [{}] each), inside the method's planned memory",
        expected["buffers"],
        expected["dtype"].as_str().unwrap(),
        dims.join(", ")
    );
    assert!(table.contains(&line), "{name}: expected `{line}` in:\n{table}");
    assert!(
        table.contains("LLM program: forward(tokens[1, S], input_pos[1]) with a KV cache in mutable buffers"),
        "{name}:\n{table}"
    );
    let meta = &variant["metadata"];
    let limits = format!(
        "context {} positions (get_max_context_len), vocab {}, bos {}, eos [{}]",
        meta["get_max_context_len"],
        meta["get_vocab_size"],
        meta["get_bos_id"],
        meta["get_eos_ids"].as_array().unwrap().iter().map(Value::to_string).collect::<Vec<_>>().join(", ")
    );
    assert!(table.contains(&limits), "{name}: expected `{limits}` in:\n{table}");
    (table, ins)
}

#[test]
fn inspect_llm_dynamic_llama_shows_the_token_range_metadata_convention_and_kv_cache() {
    let (table, ins) = check_against_manifest("llama-tiny-kv-xnnpack");
    assert!(
        table.contains("method forward: inputs [int64[1, 1..127], int64[1]] → outputs [float32[1, 512]]"),
        "{table}"
    );
    assert!(table.contains("prefill up to 127 tokens per call (dynamic: any 1..127 in one call)"), "{table}");
    assert_eq!(ins["methods"][0]["dynamic_inputs"], serde_json::json!([[false, true], [false]]));
    assert_eq!(ins["llm"]["max_tokens_per_call"], 127);
    let decode = table
        .lines()
        .find(|l| l.starts_with("decode step reads ≈ "))
        .unwrap_or_else(|| panic!("no decode line:\n{table}"));
    assert!(
        decode.contains("embedding rows 512 B, KV cache 128.00 KiB"),
        "one float32 row of 128 and the whole cache at full context: {decode}"
    );
}

#[test]
fn inspect_llm_static_llama_goes_token_by_token() {
    let (table, ins) = check_against_manifest("llama-tiny-kv-static-xnnpack");
    assert!(table.contains("method forward: inputs [int64[1, 1], int64[1]] → outputs [float32[1, 512]]"), "{table}");
    assert!(!table.contains(".."), "a static program shows no range:\n{table}");
    assert!(table.contains("prefill up to 1 token per call (static: the prompt goes token by token)"), "{table}");
    assert!(ins["methods"][0].get("dynamic_inputs").is_none(), "all static: left out of the JSON");
}

#[test]
fn inspect_llm_undelegated_llama_has_the_same_cache() {
    let (table, _) = check_against_manifest("llama-tiny-kv-fp32");
    assert!(table.contains("delegated: no"), "{table}");
}

#[test]
fn inspect_llm_gemma3n_kv_exports_match_their_manifest() {
    let text = std::fs::read_to_string(models_dir().join("manifest-llm.json")).unwrap();
    let manifest: Value = serde_json::from_str(&text).unwrap();
    let names: Vec<&str> = manifest["variants"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|v| v["name"].as_str())
        .filter(|n| n.starts_with("gemma3n-tiny-kv-"))
        .collect();
    assert_eq!(names.len(), 4, "the four Gemma 3n KV-cache exports in manifest-llm.json: {names:?}");
    for name in names {
        let (table, _) = check_against_manifest(name);
        assert!(table.contains("method forward: inputs [int64[1, 1..127], int64[1]]"), "{name}:\n{table}");
    }
}

#[test]
fn inspect_llm_window_program_says_window_and_no_cache() {
    let path = program("gemma3n-tiny-bf16");
    let (table, ins) = (inspect("table", &path), json(&path));
    assert!(table.contains("LLM program: one token window and no KV cache: every new token re-runs the whole window\n  window 32 tokens (static), vocab 2048\n"), "{table}");
    assert!(!table.lines().any(|l| l.starts_with("KV cache:") || l.starts_with("decode step reads")), "{table}");
    assert_eq!(ins["llm"]["convention"], "window");
    assert!(ins.get("kv_cache").is_none() && ins.get("metadata").is_none(), "{ins}");
}

#[test]
fn inspect_llm_says_nothing_about_a_convnet() {
    let path = program("convnet-fp32");
    let (table, ins) = (inspect("table", &path), json(&path));
    for word in ["LLM", "KV cache", "metadata (constant methods)", "decode step", ".."] {
        assert!(!table.contains(word), "`{word}` in:\n{table}");
    }
    for key in ["llm", "kv_cache", "metadata"] {
        assert!(ins.get(key).is_none(), "{key} in {ins}");
    }
    assert!(table.contains("method forward: inputs [float32[1, 3, 32, 32]] → outputs [float32[1, 10]]"), "{table}");
}

/// A user's small decoder step with a token input and a position input but no KV cache (no mutable buffers, no
/// metadata; `data/plain-two-input.py`) is a plain program: `inspect` says which evidence is missing, and a bare
/// `etbench run` times it as a forward loop instead of refusing it as an LLM.
#[test]
fn a_two_input_program_without_a_cache_is_a_plain_program_and_runs_as_a_forward_loop() {
    let model = crate::common::repo().join("harness/tests/integration/data/plain-two-input.pte");
    let text = inspect("table", &model);
    assert!(!text.contains("LLM program:"), "{text}");
    assert!(text.contains("not an LLM program with a cache") && text.contains("writes no mutable buffer"), "{text}");
    let facts = json(&model);
    assert!(facts["llm"].is_null());
    assert!(facts["not_llm"].as_str().unwrap().contains("use_kv_cache"));

    let tmp = tempfile::tempdir().unwrap();
    let out = crate::common::etbench()
        .args(["run", "--format", "none", "--iters", "3", "--warmup", "1", "--model"])
        .arg(&model)
        .arg("--out")
        .arg(tmp.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", crate::common::stderr_of(&out));
    let doc = crate::common::read_doc(tmp.path());
    let run = &doc.runs[0];
    assert!(run.is_ok(), "{:?}", run.error);
    assert!(run.params.spec.llm.is_none() && run.llm.is_none(), "a forward loop, not a generation run");
    assert_eq!(run.samples.timed_ns.len(), 3);
    // Every default input stayed inside the 64-token vocabulary.
    let runner = run.runner.as_ref().unwrap();
    assert!(runner.input_ids.iter().all(|&id| (0..64).contains(&id)), "{:?}", runner.input_ids);
}
