//! Quantization drift: the same prompts through a reference variant and candidates, comparing full logits
//! (top-1 agreement, KL divergence, cosine similarity per real position) and greedy continuations.
//!
//! The maths is pure ([`compare_logits`], [`first_divergence`]); [`measure`] runs each prompt as a sweep of the
//! same plan (every measurement flag applies; logits come back as output dumps fetched from the device).

use std::path::Path;

use etbench_protocol::Dtype;

use crate::export::store::OutputDir;
use crate::plan::prompt::Tokenizer;
use crate::plan::{Plan, Prompt, Settings};
use crate::results::{Document, DriftReport, ModelRef, PromptDrift, RunResult};
use crate::run::sweep;

/// A small, fixed prompt set: plain English, code, and numbers, so drift is not judged on one kind of text.
pub const BUILTIN_PROMPTS: [&str; 4] = [
    "The capital of France is",
    "Once upon a time, in a small village by the sea, there lived",
    "def fibonacci(n):\n    if n < 2:\n        return n\n    return",
    "1, 2, 3, 5, 8, 13, 21,",
];

/// Per-position comparison of two `[positions × vocab]` logit matrices over the first `real` positions.
#[derive(Debug, Clone, PartialEq)]
pub struct LogitComparison {
    pub top1_agree: Vec<bool>,
    pub kl: Vec<f64>,
    pub cosine: Vec<f64>,
}

fn argmax(row: &[f32]) -> usize {
    row.iter().enumerate().fold((0, f32::NEG_INFINITY), |best, (i, &v)| if v > best.1 { (i, v) } else { best }).0
}

fn log_softmax(row: &[f32]) -> Vec<f64> {
    let max = row.iter().fold(f64::NEG_INFINITY, |m, &v| m.max(v as f64));
    let lse = max + row.iter().map(|&v| (v as f64 - max).exp()).sum::<f64>().ln();
    row.iter().map(|&v| v as f64 - lse).collect()
}

/// KL(P‖Q) of the softmaxed rows, in nats. Exactly 0 for identical rows.
pub fn kl_divergence(reference: &[f32], candidate: &[f32]) -> f64 {
    let (lp, lq) = (log_softmax(reference), log_softmax(candidate));
    lp.iter().zip(&lq).map(|(p, q)| p.exp() * (p - q)).sum::<f64>().max(0.0)
}

pub fn cosine(a: &[f32], b: &[f32]) -> f64 {
    let dot: f64 = a.iter().zip(b).map(|(x, y)| *x as f64 * *y as f64).sum();
    let na: f64 = a.iter().map(|x| (*x as f64).powi(2)).sum();
    let nb: f64 = b.iter().map(|x| (*x as f64).powi(2)).sum();
    if na == 0.0 || nb == 0.0 {
        return if na == nb { 1.0 } else { 0.0 };
    }
    (dot / (na.sqrt() * nb.sqrt())).clamp(-1.0, 1.0)
}

pub fn compare_logits(reference: &[f32], candidate: &[f32], vocab: usize, real: usize) -> LogitComparison {
    fn rows(m: &[f32], vocab: usize, real: usize) -> Vec<&[f32]> {
        m.chunks_exact(vocab).take(real).collect()
    }
    let (r, c) = (rows(reference, vocab, real), rows(candidate, vocab, real));
    let pairs = r.iter().zip(&c);
    LogitComparison {
        top1_agree: pairs.clone().map(|(a, b)| argmax(a) == argmax(b)).collect(),
        kl: pairs.clone().map(|(a, b)| kl_divergence(a, b)).collect(),
        cosine: pairs.map(|(a, b)| cosine(a, b)).collect(),
    }
}

pub fn first_divergence(a: &[i64], b: &[i64]) -> Option<usize> {
    a.iter().zip(b).position(|(x, y)| x != y).or_else(|| (a.len() != b.len()).then(|| a.len().min(b.len())))
}

/// Reads a `--dump-output` file as f32 values.
fn read_logits(path: &Path, dtype: Dtype) -> Result<Vec<f32>, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(match dtype {
        Dtype::Float32 => bytes.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect(),
        Dtype::Bfloat16 => {
            bytes.chunks_exact(2).map(|c| f32::from_bits((u16::from_le_bytes([c[0], c[1]]) as u32) << 16)).collect()
        }
        other => return Err(format!("logits of dtype {} are not supported for drift", other.name())),
    })
}

/// One model's answer to one prompt.
struct Answer {
    logits: Vec<f32>,
    vocab: usize,
    real: usize,
    greedy: Vec<i64>,
}

impl Answer {
    /// The answer a finished run gives: its output-0 dump, its prompt fit and its greedy tokens.
    fn of(run: &RunResult) -> Option<Result<Self, String>> {
        let dump = run.output_dump.as_ref().filter(|_| run.is_ok())?;
        let answer = || -> Result<Self, String> {
            let first = run.outputs.first().ok_or("the runner reported no output")?;
            let logits = read_logits(dump, first.dtype)?;
            Ok(Self {
                logits,
                vocab: first.sizes.last().copied().unwrap_or(1).max(1) as usize,
                real: run.prompt.as_ref().map(|p| p.real_tokens).unwrap_or(1),
                greedy: run.generation.as_ref().map(|g| g.token_ids.clone()).unwrap_or_default(),
            })
        };
        Some(answer())
    }
}

/// Settings for the prompts after the first: one forward per model for its logits (the first prompt measured speed
/// with every flag the user gave).
fn logits_only(full: &Settings) -> Settings {
    let mut spec = full.spec.clone();
    spec.warmup = 0;
    spec.iterations = 1;
    spec.threads = full.threads.first().copied().or(spec.threads);
    spec.load_mode = full.load_modes.first().copied().unwrap_or(spec.load_mode);
    Settings {
        spec,
        threads: Vec::new(),
        load_modes: Vec::new(),
        repeats: 1,
        interleave: false,
        cooldown: full.cooldown,
        paired: false,
        processes: false,
        run_timeout: full.run_timeout,
        ..Settings::default()
    }
}

fn mean(v: impl Iterator<Item = f64>) -> f64 {
    let (sum, n) = v.fold((0.0, 0usize), |(s, n), x| (s + x, n + 1));
    if n == 0 {
        f64::NAN
    } else {
        sum / n as f64
    }
}

fn report(
    reference: &ModelRef,
    candidate: &ModelRef,
    pairs: &[(String, &Answer, &Answer)],
    tokenizer: &Tokenizer,
) -> DriftReport {
    let prompts: Vec<PromptDrift> = pairs
        .iter()
        .map(|(text, r, c)| {
            let cmp = compare_logits(&r.logits, &c.logits, r.vocab, r.real.min(c.real));
            let divergence = first_divergence(&r.greedy, &c.greedy);
            let shared = &r.greedy[..divergence.unwrap_or(r.greedy.len()).min(r.greedy.len())];
            PromptDrift {
                text_reference: Some(tokenizer.decode(&r.greedy)),
                text_candidate: Some(tokenizer.decode(&c.greedy)),
                text_shared: Some(tokenizer.decode(shared)),
                prompt: text.clone(),
                real_tokens: r.real,
                top1_agree: cmp.top1_agree,
                kl: cmp.kl,
                cosine: cmp.cosine,
                first_divergence: divergence,
                greedy_reference: r.greedy.clone(),
                greedy_candidate: c.greedy.clone(),
            }
        })
        .collect();
    let all = |f: fn(&PromptDrift) -> Vec<f64>| prompts.iter().flat_map(f).collect::<Vec<f64>>();
    let agree = all(|p| p.top1_agree.iter().map(|&a| if a { 1.0 } else { 0.0 }).collect());
    DriftReport {
        reference: reference.clone(),
        candidate: candidate.clone(),
        top1_agreement: mean(agree.into_iter()),
        mean_kl: mean(all(|p| p.kl.clone()).into_iter()),
        mean_cosine: mean(all(|p| p.cosine.clone()).into_iter()),
        prompts,
    }
}

/// Runs every prompt through every model as sweeps of `plan` (results written after every run into `doc`), then
/// puts one report per candidate (models after the first) into `doc.drift`. A model that fails a prompt leaves an
/// error row and is left out of that prompt's comparison.
pub fn measure(
    plan: &mut Plan,
    prompts: &[String],
    tokenizer: &Tokenizer,
    out: &OutputDir,
    doc: &mut Document,
) -> anyhow::Result<()> {
    let scratch = tempfile::tempdir()?;
    plan.dump_outputs = Some(scratch.path().to_owned());
    let full = plan.settings.clone();
    let paths: Vec<String> = plan.models.iter().map(|p| p.display().to_string()).collect();
    // answers[model][prompt]
    let mut answers: Vec<Vec<Option<Answer>>> = paths.iter().map(|_| Vec::new()).collect();
    let mut models: Vec<Option<ModelRef>> = paths.iter().map(|_| None).collect();
    for (i, text) in prompts.iter().enumerate() {
        if crate::progress::interrupted() {
            break;
        }
        crate::say!("drift: prompt {}/{}: {text:?}", i + 1, prompts.len());
        plan.prompt = Some(Prompt { text: text.clone(), tokenizer: tokenizer.clone() });
        plan.settings = if i == 0 { full.clone() } else { logits_only(&full) };
        let start = doc.runs.len();
        sweep::execute_into(plan, Some(out), doc)?;
        for (m, path) in paths.iter().enumerate() {
            let runs = doc.runs[start..].iter().filter(|r| &r.model.path == path);
            let answer = runs.clone().find_map(Answer::of);
            if let Some(Err(e)) = &answer {
                crate::say!("      warning: no logits from {path}: {e}");
            }
            models[m] = models[m].take().or_else(|| runs.clone().next().map(|r| r.model.clone()));
            answers[m].push(answer.and_then(Result::ok));
        }
    }
    plan.settings = full;
    let Some(reference) = models[0].clone() else { return Ok(()) };
    for (candidate, cand) in models.iter().zip(&answers).skip(1) {
        let Some(candidate) = candidate else { continue };
        let pairs: Vec<(String, &Answer, &Answer)> = prompts
            .iter()
            .zip(&answers[0])
            .zip(cand)
            .filter_map(|((t, r), c)| Some((t.clone(), r.as_ref()?, c.as_ref()?)))
            .collect();
        if !pairs.is_empty() {
            doc.drift.push(report(&reference, candidate, &pairs, tokenizer));
        }
    }
    out.write_results(doc)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identical_logits_have_zero_kl_full_agreement_and_unit_cosine() {
        let a = [0.1f32, 2.0, -1.0, 0.5, 3.0, -2.0];
        let cmp = compare_logits(&a, &a, 3, 2);
        assert_eq!(cmp.top1_agree, vec![true, true]);
        assert_eq!(cmp.kl, vec![0.0, 0.0]);
        assert!(cmp.cosine.iter().all(|c| (c - 1.0).abs() < 1e-12));
    }

    #[test]
    fn kl_matches_a_hand_computed_value() {
        // P = softmax(0, ln 3) = (1/4, 3/4); Q = uniform: KL = 1/4 ln(1/2) + 3/4 ln(3/2).
        let expected = 0.25 * (0.5f64).ln() + 0.75 * (1.5f64).ln();
        assert!((kl_divergence(&[0.0, 3f32.ln()], &[0.0, 0.0]) - expected).abs() < 1e-7);
    }

    #[test]
    fn only_real_positions_are_compared() {
        let r = [1.0f32, 0.0, 1.0, 0.0];
        let c = [1.0f32, 0.0, 0.0, 1.0];
        let cmp = compare_logits(&r, &c, 2, 1);
        assert_eq!(cmp.top1_agree, vec![true]);
    }

    #[test]
    fn divergence_is_the_first_differing_token() {
        assert_eq!(first_divergence(&[1, 2, 3], &[1, 2, 3]), None);
        assert_eq!(first_divergence(&[1, 2, 3], &[1, 9, 3]), Some(1));
        assert_eq!(first_divergence(&[1, 2], &[1, 2, 3]), Some(2));
    }
}
