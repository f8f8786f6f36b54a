//! The plan: what to run where — a device, models, the sweep settings around one run specification, and an
//! optional prompt — and its cells in execution order. Building a plan touches no device; [`crate::run`] executes it.

pub mod defaults;
pub mod manifest;
pub mod model;
pub mod prompt;

use std::path::PathBuf;

use etbench_protocol::{LlmSpec, LoadMode, RunSpec};

use crate::device::Device;
use crate::results::RunParams;
use prompt::Tokenizer;

/// A sweep's settings: the run specification every run starts from, the axes swept over it, and how the runs
/// are ordered and paced. Defaults live in [`RunSpec::default`] and [`Settings::default`].
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    /// Defaults ← device profile ← command line, completed once.
    pub spec: RunSpec,
    /// Thread counts to sweep; empty = the spec's `threads`.
    pub threads: Vec<u32>,
    /// Load modes to sweep; empty = the spec's `load_mode`.
    pub load_modes: Vec<LoadMode>,
    /// Fresh runner processes per model and setting.
    pub repeats: u32,
    /// Run the variants round-robin (A B A B …) instead of model by model, so slow drift hits all alike.
    pub interleave: bool,
    /// Pause between runs (lets a phone shed heat).
    pub cooldown: std::time::Duration,
    /// Time every model in one runner process per cell, alternating their iterations (a paired session).
    pub paired: bool,
    /// With `paired`: one fresh process per model instead, alternating A B B A … and comparing neighbours in time
    /// (models that cannot share a process). Pairs go on until every ratio's interval is within ± the spec's
    /// `until_ci_pct` (default 2 %) or its `max_time_s` is spent, between 6 and 40 pairs per session.
    pub processes: bool,
    /// Kill a runner that says nothing for this long; the run becomes a `timeout` row and the sweep goes on.
    pub run_timeout: Option<std::time::Duration>,
    /// Generation workloads to sweep (`--prefill` × `--decode` × `--depth`); empty = the spec's `llm`.
    pub workloads: Vec<LlmSpec>,
    /// Give a model that is an LLM program with a KV cache the default generation workload when no workload is
    /// set (`bench`, and `run` without `--prefill`/`--decode`/`--input`).
    pub llm_auto: bool,
    /// Apply [`generation_sampling`] to generation runs (the user set no warm-up or sampling flag).
    pub generation_defaults: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            spec: RunSpec::default(),
            threads: Vec::new(),
            load_modes: Vec::new(),
            repeats: 1,
            interleave: false,
            cooldown: std::time::Duration::ZERO,
            paired: false,
            processes: false,
            run_timeout: None,
            workloads: Vec::new(),
            llm_auto: false,
            generation_defaults: false,
        }
    }
}

impl Settings {
    fn thread_axis(&self) -> Vec<Option<u32>> {
        if self.threads.is_empty() {
            vec![self.spec.threads]
        } else {
            self.threads.iter().map(|&t| Some(t)).collect()
        }
    }

    fn load_mode_axis(&self) -> Vec<LoadMode> {
        if self.load_modes.is_empty() {
            vec![self.spec.load_mode]
        } else {
            self.load_modes.clone()
        }
    }

    fn workload_count(&self) -> usize {
        self.workloads.len().max(1)
    }
}

pub use defaults::{generation_sampling, workload as default_workload};

/// A text prompt and the tokenizer that turns it into ids (and generated ids back into text).
#[derive(Clone)]
pub struct Prompt {
    pub text: String,
    pub tokenizer: Tokenizer,
}

pub struct Plan {
    pub device: Box<dyn Device>,
    /// The models, each worked out once ([`model::Model`]) and shared with the other devices' plans.
    pub models: Vec<std::sync::Arc<model::Model>>,
    pub settings: Settings,
    pub prompt: Option<Prompt>,
    /// A text prompt driving generation runs of LLM programs: their rows carry the prompt and the generated text.
    pub text_run: Option<Prompt>,
    /// Keep the raw bytes of every run's output 0 in this host directory (drift compares logits from them).
    pub dump_outputs: Option<PathBuf>,
    /// One device per model when the models have runners of their own (`--runner` per model: paired processes),
    /// with the runner's label that model names then carry (`bf16 @et-1.6`); empty: every model runs on `device`.
    pub model_devices: Vec<ModelRunner>,
}

/// A model's own runner: the device that starts it, its path, and the label its rows carry.
pub struct ModelRunner {
    pub device: Box<dyn Device>,
    pub path: PathBuf,
    pub label: String,
}

impl ModelRunner {
    /// Labels for runner paths: each one's directory name when those differ (`/opt/et-1.6/etbench-runner` →
    /// `et-1.6`; a bundle directory `/opt/et-1.6-android/` → `et-1.6-android`), else the whole paths.
    pub fn labels(paths: &[PathBuf]) -> Vec<String> {
        // A runner bundle is a directory: its own name; a runner binary: its directory's.
        let dirs: Vec<String> = paths
            .iter()
            .map(|p| if p.is_dir() { Some(p.as_path()) } else { p.parent() })
            .map(|d| d.and_then(|d| d.file_name()).map(|n| n.to_string_lossy().into_owned()).unwrap_or_default())
            .collect();
        let distinct = dirs.iter().all(|d| !d.is_empty())
            && dirs.iter().collect::<std::collections::BTreeSet<_>>().len() == dirs.len();
        if distinct {
            dirs
        } else {
            paths.iter().map(|p| p.display().to_string()).collect()
        }
    }
}

/// One run of the matrix: which model, with which settings, which repeat.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cell {
    pub model: usize,
    pub load_mode: LoadMode,
    pub threads: Option<u32>,
    pub repeat: u32,
    /// Index into the plan's generation workloads (0 when there are none).
    pub workload: usize,
}

impl Plan {
    /// The device (with its runner) that runs `model`.
    /// The name a model's rows carry: its file's, with its own runner's label when it has one.
    pub fn model_label(&self, model: usize, name: &str) -> String {
        match self.model_devices.get(model) {
            Some(r) => format!("{name} @{}", r.label),
            None => name.to_owned(),
        }
    }

    pub fn device_for(&self, model: usize) -> &dyn Device {
        self.model_devices.get(model).map(|r| r.device.as_ref()).unwrap_or(self.device.as_ref())
    }

    /// The parameters of one cell: the spec with the cell's axes filled in.
    pub fn params(&self, cell: &Cell) -> RunParams {
        let s = &self.settings;
        let mut spec = RunSpec { threads: cell.threads, load_mode: cell.load_mode, ..s.spec.clone() };
        let model = self.models.get(cell.model);
        if let Some(w) = s.workloads.get(cell.workload) {
            spec.llm = Some(w.clone());
        } else if s.llm_auto && spec.llm.is_none() && spec.inputs.is_empty() && spec.generate == 0 {
            if let Some(program) = model.and_then(|m| m.llm()) {
                spec.llm = Some(default_workload(program));
            }
        }
        // A program without `enable_dynamic_shape` metadata (ExecuTorch's Gemma 4): the runner gets what the host read
        // of its token dimension from the flatbuffer.
        if let (Some(w), Some(m)) = (spec.llm.as_mut(), model) {
            if m.inspection().is_some_and(|i| !i.metadata.contains_key("enable_dynamic_shape")) {
                w.dynamic_tokens = m.llm().and_then(|p| p.dynamic_tokens);
            }
        }
        if spec.llm.is_some() && s.generation_defaults {
            spec = generation_sampling(spec);
        }
        // Decode is usually bound by memory: every generation run states its share of the device's read bandwidth.
        spec.bandwidth_probe |= spec.llm.is_some();
        RunParams {
            spec,
            repeat_index: cell.repeat,
            repeats: s.repeats,
            cooldown_s: (!s.cooldown.is_zero()).then_some(s.cooldown.as_secs_f64()),
            run_timeout_s: s.run_timeout.map(|t| t.as_secs_f64()),
            runner: self.model_devices.get(cell.model).map(|r| r.path.display().to_string()),
        }
    }

    /// The runs in execution order. Model-major by default, so each model is loaded (and, remotely, pushed) once
    /// for all its settings; with `interleave`, round-robin over models × settings within each repeat.
    pub fn cells(&self) -> Vec<Cell> {
        let s = &self.settings;
        let threads = s.thread_axis();
        let workloads = s.workload_count();
        let settings: Vec<(LoadMode, Option<u32>, usize)> = s
            .load_mode_axis()
            .into_iter()
            .flat_map(|m| threads.iter().flat_map(move |&t| (0..workloads).map(move |w| (m, t, w))))
            .collect();
        let mut cells = Vec::new();
        if s.paired {
            // One cell per setting and repeat; `model` 0 stands for the whole session.
            for repeat in 0..s.repeats {
                cells.extend(settings.iter().map(|&(load_mode, threads, workload)| Cell {
                    model: 0,
                    load_mode,
                    threads,
                    repeat,
                    workload,
                }));
            }
        } else if s.interleave {
            for repeat in 0..s.repeats {
                for model in 0..self.models.len() {
                    cells.extend(settings.iter().map(|&(load_mode, threads, workload)| Cell {
                        model,
                        load_mode,
                        threads,
                        repeat,
                        workload,
                    }));
                }
            }
        } else {
            for model in 0..self.models.len() {
                for &(load_mode, threads, workload) in &settings {
                    cells.extend((0..s.repeats).map(|repeat| Cell { model, load_mode, threads, repeat, workload }));
                }
            }
        }
        cells
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runner_labels_are_directory_names_when_those_tell_them_apart() {
        let paths = |v: &[&str]| v.iter().map(PathBuf::from).collect::<Vec<_>>();
        assert_eq!(
            ModelRunner::labels(&paths(&["/opt/et-1.5/etbench-runner", "/opt/et-1.6/etbench-runner"])),
            ["et-1.5", "et-1.6"]
        );
        assert_eq!(
            ModelRunner::labels(&paths(&["/a/bin/etbench-runner", "/b/bin/etbench-runner"])),
            ["/a/bin/etbench-runner", "/b/bin/etbench-runner"]
        );
    }
}
