//! The plan (device × models × repeats with one set of settings) and its execution: one fresh runner process per
//! run, results written after every run, failures turned into error rows while the sweep goes on.

use std::path::PathBuf;

use etbench_protocol::ErrorKind;

use crate::device::Device;
use crate::prompt::Tokenizer;
use crate::results::{Fit, PromptRecord};
use crate::manifest;
use crate::model;
use crate::output::OutputDir;
use crate::provenance;
use crate::results::{DeviceRef, Document, RunParams, RunResult};
use crate::session;

/// Settings shared by every run of a sweep. Defaults live in [`Settings::default`].
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    pub method: String,
    pub warmup: u32,
    pub iterations: u32,
    pub threads: Option<u32>,
    pub load_mode: etbench_protocol::LoadMode,
    pub repeats: u32,
    pub input_ids: Option<Vec<i64>>,
    /// Greedy tokens to generate after the timed loop.
    pub generate: u32,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            method: "forward".into(),
            warmup: 3,
            iterations: 20,
            threads: None,
            load_mode: etbench_protocol::LoadMode::Mmap,
            repeats: 1,
            input_ids: None,
            generate: 0,
        }
    }
}

/// A text prompt and the tokenizer that turns it into ids (and generated ids back into text).
pub struct Prompt {
    pub text: String,
    pub tokenizer: Tokenizer,
}

/// The input a prompt gives one model: fitted to its window.
struct PromptInput {
    record: PromptRecord,
    window_ids: Vec<i64>,
}

fn prepare_prompt(plan: &Plan, prompt: &Prompt, model_path: &str) -> Result<PromptInput, String> {
    let meta = session::describe(plan.device.as_ref(), model_path, &plan.settings.method)?;
    let window = meta.inputs.first().map(|s| s.numel().max(0) as usize).unwrap_or(0);
    if let Some(vocab) = meta.outputs.first().and_then(|o| o.sizes.last()).filter(|v| **v > 1) {
        prompt.tokenizer.check_vocab(model_path, *vocab as usize).map_err(|e| e.to_string())?;
    }
    let ids = prompt.tokenizer.encode(&prompt.text).map_err(|e| e.to_string())?;
    let (window_ids, fit, real_tokens) = crate::prompt::fit(&ids, window, prompt.tokenizer.pad_id());
    if fit == Fit::Truncated {
        eprintln!(
            "etbench: warning: the prompt is {} tokens but {model_path} takes {window}: kept the last {window}",
            ids.len()
        );
    }
    let record = PromptRecord {
        text: prompt.text.clone(),
        tokenizer: prompt.tokenizer.path().display().to_string(),
        token_ids: ids,
        window,
        fit,
        real_tokens,
    };
    Ok(PromptInput { record, window_ids })
}

pub struct Plan {
    pub device: Box<dyn Device>,
    pub models: Vec<PathBuf>,
    pub settings: Settings,
    pub prompt: Option<Prompt>,
}

impl Plan {
    fn params(&self, repeat_index: u32) -> RunParams {
        let s = &self.settings;
        RunParams {
            method: s.method.clone(),
            warmup: s.warmup,
            iterations: s.iterations,
            threads: s.threads,
            load_mode: s.load_mode,
            repeat_index,
            repeats: s.repeats,
            input_ids: s.input_ids.clone(),
            real_tokens: None,
            generate: s.generate,
        }
    }

    pub fn total_runs(&self) -> usize {
        self.models.len() * self.settings.repeats as usize
    }
}

/// Runs the plan model by model (each model's repeats back to back, so its pages stay warm between repeats only
/// as much as a fresh process allows), writing results after every run.
pub fn execute(plan: &Plan, out: Option<&OutputDir>, command: Vec<String>) -> anyhow::Result<Document> {
    let mut doc = Document::new(provenance::provenance(command));
    let device_ref = DeviceRef {
        name: plan.device.name().to_owned(),
        transport: plan.device.transport().to_owned(),
        info: plan.device.info(),
    };
    let total = plan.total_runs();
    let mut done = 0;
    for path in &plan.models {
        let checked = model::inspect(path);
        let expectation = checked.as_ref().ok().and_then(|m| manifest::expectation_for(path, &m.sha256));
        let prompt = match (&checked, &plan.prompt) {
            (Ok(_), Some(p)) => Some(prepare_prompt(plan, p, &path.display().to_string())),
            _ => None,
        };
        for repeat in 0..plan.settings.repeats {
            done += 1;
            let mut params = plan.params(repeat);
            eprintln!("[{done}/{total}] {}: {} (repeat {}/{})", device_ref.name, path.display(), repeat + 1, plan.settings.repeats);
            if let Some(Ok(input)) = &prompt {
                params.input_ids = Some(input.window_ids.clone());
                params.real_tokens = Some(input.record.real_tokens as u32);
            }
            let mut row = match (&checked, &prompt) {
                (Err(p), _) => session::error_row(device_ref.clone(), model::unreadable(path), params, p.kind, p.message.clone()),
                (Ok(model), Some(Err(message))) => {
                    session::error_row(device_ref.clone(), model.clone(), params, ErrorKind::InvalidInput, message.clone())
                }
                (Ok(model), _) => session::run_once(plan.device.as_ref(), device_ref.clone(), model.clone(), params, expectation.as_ref()),
            };
            if let (Some(Ok(input)), Some(p)) = (&prompt, &plan.prompt) {
                row.prompt = Some(input.record.clone());
                if let Some(generation) = row.generation.as_mut() {
                    generation.text = Some(p.tokenizer.decode(&generation.token_ids));
                }
            }
            report_progress(&row);
            doc.runs.push(row);
            if let Some(out) = out {
                out.write_results(&doc)?;
            }
        }
    }
    Ok(doc)
}

fn report_progress(row: &RunResult) {
    match (&row.error, &row.summary) {
        (Some(e), _) => eprintln!("      error: {}", e.message),
        (None, Some(s)) => eprintln!(
            "      median {} ms (p10–p90 {}–{} ms), {} timed iterations",
            crate::export::fmt::ms(s.latency_ns.median),
            crate::export::fmt::ms(s.latency_ns.p10),
            crate::export::fmt::ms(s.latency_ns.p90),
            s.latency_ns.n
        ),
        (None, None) => {}
    }
}
