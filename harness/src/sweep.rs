//! The plan (device × models × repeats with one set of settings) and its execution: one fresh runner process per
//! run, results written after every run, failures turned into error rows while the sweep goes on.

use std::path::PathBuf;

use crate::device::Device;
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
        }
    }
}

pub struct Plan {
    pub device: Box<dyn Device>,
    pub models: Vec<PathBuf>,
    pub settings: Settings,
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
        for repeat in 0..plan.settings.repeats {
            done += 1;
            let params = plan.params(repeat);
            eprintln!("[{done}/{total}] {}: {} (repeat {}/{})", device_ref.name, path.display(), repeat + 1, plan.settings.repeats);
            let row = match &checked {
                Ok(model) => session::run_once(plan.device.as_ref(), device_ref.clone(), model.clone(), params, expectation.as_ref()),
                Err(p) => session::error_row(device_ref.clone(), model::unreadable(path), params, p.kind, p.message.clone()),
            };
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
