//! Prompts, greedy generation and drift through the real runtime on the bundled fixtures.

use std::path::Path;

use crate::common::*;
use etbench::results::{Document, Fit, RunStatus};

fn run_prompt(models: &[&str], extra: &[&str]) -> (std::process::Output, Option<Document>) {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = etbench();
    cmd.args(["run", "--warmup", "0", "--iters", "2", "--format", "none", "--out"]).arg(dir.path());
    for m in models {
        cmd.arg("--model").arg(fixture(m));
    }
    let out = cmd.args(extra).output().unwrap();
    let doc = Document::read(&dir.path().join("results.json")).ok();
    (out, doc)
}

const PROMPT: &str = "The quick brown fox jumps over the lazy dog.";

#[test]
fn prompt_generation_is_counted_decoded_and_deterministic() {
    let args = ["--prompt", PROMPT, "--generate", "5"];
    let (out, first) = run_prompt(&["bf16", "int8", "xnnpack-fp32"], &args);
    assert!(out.status.success(), "{}", stderr_of(&out));
    let (_, second) = run_prompt(&["bf16", "int8", "xnnpack-fp32"], &args);
    let (first, second) = (first.unwrap(), second.unwrap());
    let tokenizer = etbench::plan::prompt::Tokenizer::load(&models_dir().join("tokenizer.json")).unwrap();
    let expected_ids = tokenizer.encode(PROMPT).unwrap();
    for (a, b) in first.runs.iter().zip(&second.runs) {
        assert_eq!(a.status, RunStatus::Ok, "{:?}", a.error);
        let p = a.prompt.as_ref().unwrap();
        assert_eq!(p.token_ids, expected_ids);
        assert_eq!((p.fit, p.real_tokens, p.window), (Fit::Padded, expected_ids.len(), 32));
        assert_eq!(a.params.spec.real_tokens, Some(expected_ids.len() as u32));
        let g = a.generation.as_ref().unwrap();
        assert_eq!(g.token_ids.len(), 5);
        assert_eq!(g.step_latency_ns.len(), 5);
        assert!(!g.text.as_deref().unwrap().is_empty());
        assert_eq!(
            g.token_ids,
            b.generation.as_ref().unwrap().token_ids,
            "{}: greedy output must be deterministic",
            a.model.name
        );
        // The first generated token is the argmax at the last real position of the timed forward.
        assert_eq!(Some(g.token_ids[0] as u64), a.outputs[0].argmax_last);
    }
    assert!(String::from_utf8_lossy(&out.stdout).is_empty(), "--format none prints nothing on stdout");
}

/// The report of a prompt run shows the prompt, how many of the window's tokens were real and the generated text;
/// its prefill tokens/s counts the real tokens only (it used to count the padded window).
#[test]
fn a_prompt_run_reports_its_prompt_real_tokens_and_generated_text() {
    let dir = tempfile::tempdir().unwrap();
    let out = etbench()
        .args([
            "run",
            "--warmup",
            "0",
            "--iters",
            "3",
            "--format",
            "md",
            "--prompt",
            PROMPT,
            "--generate",
            "3",
            "--model",
        ])
        .arg(fixture("xnnpack-fp32"))
        .arg("--out")
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr_of(&out));
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let doc = read_doc(dir.path());
    let run = &doc.runs[0];
    let p = run.prompt.as_ref().unwrap();
    let (real, window) = (p.real_tokens, p.window);
    assert!(real < window, "the test prompt must be padded");
    let s = run.summary.as_ref().unwrap();
    let prefill = s.prefill_tokens_per_s.as_ref().unwrap().median;
    assert!(
        (prefill - real as f64 * 1e9 / s.latency_ns.median).abs() < 1e-6 * prefill,
        "prefill {prefill} counts the window"
    );
    let report = etbench().arg("report").arg(dir.path()).output().unwrap();
    assert!(report.status.success(), "{}", stderr_of(&report));
    let md = std::fs::read_to_string(dir.path().join("report.md")).unwrap();
    let text = run.generation.as_ref().unwrap().text.clone().unwrap();
    for want in [
        "### Prompt and generated text".to_owned(),
        format!("{PROMPT:?}"),
        format!("{real} real + {} padding = window {window}", window - real),
        format!("{} of the {window} tokens of each forward were padding", window - real),
        format!("{text:?}"),
        "3 of 3".to_owned(),
    ] {
        assert!(md.contains(&want), "report.md lacks {want:?}:\n{md}");
        assert!(stdout.contains(&want), "run --format md lacks {want:?}:\n{stdout}");
    }
}

#[test]
fn long_prompts_are_truncated_with_a_warning() {
    let long = "word ".repeat(200);
    let (out, doc) = run_prompt(&["xnnpack-fp32"], &["--prompt", &long]);
    assert!(out.status.success(), "{}", stderr_of(&out));
    assert!(stderr_of(&out).contains("kept the last 32"), "{}", stderr_of(&out));
    let p = doc.unwrap().runs[0].prompt.clone().unwrap();
    assert_eq!((p.fit, p.real_tokens), (Fit::Truncated, 32));
    assert!(p.token_ids.len() > 32);
}

fn refused(extra: &[&str], needle: &str) {
    let (out, _) = run_prompt(&["int8"], extra);
    assert_ne!(out.status.code(), Some(0));
    let err = stderr_of(&out);
    assert!(err.contains(needle), "expected {needle:?} in: {err}");
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn bad_tokenizers_and_prompts_get_clear_messages() {
    let dir = tempfile::tempdir().unwrap();
    refused(&["--prompt", "hi", "--tokenizer", "/nope/tokenizer.json"], "/nope/tokenizer.json: no such file");
    let garbage = dir.path().join("garbage.json");
    std::fs::write(&garbage, "{ not json").unwrap();
    refused(&["--prompt", "hi", "--tokenizer", garbage.to_str().unwrap()], "not a valid tokenizer.json");
    refused(&["--prompt", "   "], "the prompt is empty");
    let latin1 = dir.path().join("latin1.txt");
    std::fs::write(&latin1, b"caf\xe9").unwrap();
    refused(&["--prompt-file", latin1.to_str().unwrap()], "not UTF-8");
}

fn big_tokenizer(path: &Path, size: u32) {
    use std::collections::HashMap;
    let vocab: HashMap<String, u32> =
        (0..size).map(|i| (format!("t{i}"), i)).chain([("<unk>".to_owned(), size)]).collect();
    let model = tokenizers::models::wordlevel::WordLevel::builder()
        .vocab(vocab.into_iter().collect())
        .unk_token("<unk>".into())
        .build()
        .unwrap();
    let mut tokenizer = tokenizers::Tokenizer::new(model);
    tokenizer.with_pre_tokenizer(Some(tokenizers::pre_tokenizers::whitespace::Whitespace {}));
    tokenizer.save(path, false).unwrap();
}

#[test]
fn a_tokenizer_larger_than_the_model_vocabulary_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("big.json");
    big_tokenizer(&path, 5000);
    let (out, doc) = run_prompt(&["int8"], &["--prompt", "t1 t2", "--tokenizer", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let run = &doc.unwrap().runs[0];
    let msg = &run.error.as_ref().unwrap().message;
    assert!(msg.contains("5001 tokens") && msg.contains("2048 logits"), "{msg}");
}

#[test]
fn drift_is_zero_against_itself_and_bounded_for_int8() {
    let dir = tempfile::tempdir().unwrap();
    let out = etbench()
        .args(["drift", "--iters", "2", "--warmup", "0", "--generate", "4", "--reference"])
        .arg(fixture("bf16"))
        .arg(fixture("bf16"))
        .arg(fixture("int8"))
        .arg("--out")
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr_of(&out));
    let doc = read_doc(dir.path());
    let (same, int8) = (&doc.drift[0], &doc.drift[1]);
    assert_eq!(same.mean_kl, 0.0);
    assert_eq!(same.top1_agreement, 1.0);
    assert!(same.prompts.iter().all(|p| p.first_divergence.is_none() && p.kl.iter().all(|&k| k == 0.0)));
    assert!(int8.mean_kl > 0.0 && int8.mean_kl < 0.1, "int8 KL {}", int8.mean_kl);
    assert!(int8.top1_agreement > 0.5 && int8.top1_agreement < 1.0, "int8 top-1 {}", int8.top1_agreement);
    assert!(int8.mean_cosine > 0.9 && int8.mean_cosine < 1.0);
    assert_eq!(same.prompts.len(), etbench::run::drift::BUILTIN_PROMPTS.len());
    let md = std::fs::read_to_string(dir.path().join("drift.md")).unwrap();
    assert!(md.contains("top-1 agreement") && md.contains("gemma3n-tiny-int8"), "{md}");
    // Each prompt's continuations, decoded, and where they diverge after which shared text.
    assert!(md.contains("### Greedy continuations"), "{md}");
    let tokenizer = etbench::plan::prompt::Tokenizer::load(&models_dir().join("tokenizer.json")).unwrap();
    let quoted = |t: &str| etbench::export::report::quoted(t, 240);
    for (i, p) in int8.prompts.iter().enumerate() {
        let section =
            md.split(&format!("#### Prompt {}: ", i + 1)).nth(1).unwrap_or_else(|| panic!("no prompt {i}: {md}"));
        let section = section.split("#### ").next().unwrap();
        assert!(section.starts_with(&etbench::export::report::quoted(&p.prompt, 160)), "{section}");
        let (reference, candidate) = (p.text_reference.as_deref().unwrap(), p.text_candidate.as_deref().unwrap());
        assert_eq!(reference, tokenizer.decode(&p.greedy_reference));
        assert_eq!(candidate, tokenizer.decode(&p.greedy_candidate));
        let row = |name: &str| {
            section
                .lines()
                .find(|l| l.starts_with(&format!("| {name} |")))
                .unwrap_or_else(|| panic!("no {name} row: {section}"))
        };
        assert!(row("gemma3n-tiny-bf16 (reference)").contains(&quoted(reference)), "{section}");
        let int8_row = row("gemma3n-tiny-int8");
        assert!(int8_row.contains(&quoted(candidate)), "{int8_row}");
        match p.first_divergence {
            None => assert!(int8_row.ends_with("| identical |"), "{int8_row}"),
            Some(k) => {
                assert!(int8_row.contains(&format!("diverges at token {k}")), "{int8_row}");
                assert_eq!(p.text_shared.as_deref().unwrap(), tokenizer.decode(&p.greedy_reference[..k]));
            }
        }
        // The reference against itself never diverges.
        assert!(
            section.lines().filter(|l| l.starts_with("| gemma3n-tiny-bf16 |")).all(|l| l.ends_with("| identical |")),
            "{section}"
        );
    }
    assert!(int8.prompts.iter().any(|p| p.first_divergence.is_some()), "int8 diverges somewhere on these prompts");
}

/// Drift goes plan → device lock → sweep like `run`: every measurement flag applies to the speed prompt (both
/// thread counts, both repeats), the other prompts give logits, and results.json is written as it goes.
#[test]
fn drift_honours_repeat_and_thread_sweeps() {
    let dir = tempfile::tempdir().unwrap();
    let out = etbench()
        .args([
            "drift",
            "--iters",
            "2",
            "--warmup",
            "0",
            "--generate",
            "0",
            "--repeat",
            "2",
            "--threads",
            "1,2",
            "--reference",
        ])
        .arg(fixture("xnnpack-fp32"))
        .arg(fixture("xnnpack-8da4w"))
        .arg("--out")
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr_of(&out));
    let doc = read_doc(dir.path());
    let speed: Vec<(String, Option<u32>, u32)> = doc
        .runs
        .iter()
        .filter(|r| r.params.spec.iterations == 2)
        .map(|r| (r.model.name.clone(), r.params.spec.threads, r.params.repeat_index))
        .collect();
    for model in ["gemma3n-tiny-xnnpack-fp32", "gemma3n-tiny-xnnpack-8da4w"] {
        for threads in [1, 2] {
            for repeat in [0, 1] {
                assert!(
                    speed.contains(&(model.to_owned(), Some(threads), repeat)),
                    "{model} t{threads} r{repeat} missing: {speed:?}"
                );
            }
        }
    }
    assert_eq!(doc.drift.len(), 1);
    assert_eq!(doc.drift[0].prompts.len(), etbench::run::drift::BUILTIN_PROMPTS.len());
}
