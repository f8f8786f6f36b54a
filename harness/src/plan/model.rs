//! Model files on the host: checked before anything is started, hashed once per file version.

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use etbench_protocol::{ErrorKind, LlmProgram};

use crate::inspect::Inspection;
use crate::results::ModelRef;

/// A model file that cannot be benchmarked, with the fix in the message.
#[derive(Debug, Clone)]
pub struct ModelProblem {
    pub kind: ErrorKind,
    pub message: String,
}

fn name_of(path: &Path) -> String {
    let file = path.file_name().map(|f| f.to_string_lossy().into_owned()).unwrap_or_else(|| path.display().to_string());
    file.strip_suffix(".pte").map(str::to_owned).unwrap_or(file)
}

/// A placeholder reference for a model that could not be read (for its error row).
pub fn unreadable(path: &Path) -> ModelRef {
    ModelRef {
        path: path.display().to_string(),
        name: name_of(path),
        size_bytes: 0,
        sha256: String::new(),
        program: None,
    }
}

/// Checks and hashes a model file.
pub fn inspect(path: &Path) -> Result<ModelRef, ModelProblem> {
    let shown = path.display();
    let problem = |kind, message: String| ModelProblem { kind, message };
    let meta = std::fs::metadata(path)
        .map_err(|e| problem(ErrorKind::ModelNotFound, format!("model {shown}: {e}; check the --model path")))?;
    if meta.is_dir() {
        return Err(problem(ErrorKind::NotAFile, format!("model {shown} is a directory; pass a .pte file")));
    }
    if meta.len() == 0 {
        return Err(problem(
            ErrorKind::EmptyFile,
            format!("model {shown} is empty (0 bytes); re-export or re-copy it"),
        ));
    }
    let sha256 =
        crate::device::push::sha256_cached(path).map_err(|e| problem(ErrorKind::Io, format!("model {shown}: {e}")))?;
    Ok(ModelRef { path: shown.to_string(), name: name_of(path), size_bytes: meta.len(), sha256, program: None })
}

/// A model of the plan, worked out once: its file check and content hash, what its flatbuffer says, and whether it
/// is an LLM program with a KV cache (its calling convention). Every host-side question about a model is answered
/// here — nothing else on the host hashes, inspects or recognises a model — and each fact is computed the first
/// time it is asked for, so a 13 GB file is hashed and read once per `etbench` invocation, however many devices,
/// cells and repeats the sweep has. Shared between the plans of several devices (`Arc`).
#[derive(Debug)]
pub struct Model {
    pub path: PathBuf,
    checked: OnceLock<Result<ModelRef, ModelProblem>>,
    inspection: OnceLock<Option<Inspection>>,
}

impl Model {
    pub fn new(path: impl Into<PathBuf>) -> Arc<Self> {
        Arc::new(Self { path: path.into(), checked: OnceLock::new(), inspection: OnceLock::new() })
    }

    /// Models for paths, in order.
    pub fn all(paths: &[PathBuf]) -> Vec<Arc<Self>> {
        paths.iter().map(|p| Self::new(p.clone())).collect()
    }

    /// The file check and its sha256 (hashed once per file version: [`crate::device::push::sha256_cached`]).
    pub fn checked(&self) -> &Result<ModelRef, ModelProblem> {
        self.checked.get_or_init(|| inspect(&self.path))
    }

    /// What the program's flatbuffer says (methods, delegates, KV cache, metadata), read without the runtime; none
    /// when the file is not a readable program.
    pub fn inspection(&self) -> Option<&Inspection> {
        self.inspection.get_or_init(|| crate::inspect::inspect(&self.path).ok()).as_ref()
    }

    /// The LLM program inside, when it is one with a KV cache.
    pub fn llm(&self) -> Option<&LlmProgram> {
        self.inspection()?.llm.as_ref().filter(|p| p.convention.has_cache())
    }

    pub fn display(&self) -> std::path::Display<'_> {
        self.path.display()
    }
}

/// A document written before runs recorded their program's facts (`ModelRef.program`): each run whose model file is
/// still where it ran (relative paths from the run's working directory, then from here) with the same sha256 gets
/// them from that file, once per file, so old documents export as they did. Runs whose file is gone or changed are
/// left without (exporters then say the facts' source is the file name, or unknown).
pub fn fill_program_facts(doc: &mut crate::results::Document) {
    let mut found: std::collections::HashMap<(String, String), Option<crate::results::ProgramFacts>> =
        std::collections::HashMap::new();
    let cwd = doc.provenance.cwd.clone();
    for run in doc.runs.iter_mut().filter(|r| r.model.program.is_none() && !r.model.sha256.is_empty()) {
        let key = (run.model.path.clone(), run.model.sha256.clone());
        let facts = found.entry(key).or_insert_with(|| {
            let given = Path::new(&run.model.path);
            let from_run = cwd.as_ref().filter(|_| given.is_relative()).map(|cwd| Path::new(cwd).join(given));
            let path = from_run
                .into_iter()
                .chain([given.to_owned()])
                .find(|p| crate::device::push::sha256_cached(p).is_ok_and(|sha| sha == run.model.sha256))?;
            crate::inspect::inspect(&path).ok().as_ref().map(crate::results::ProgramFacts::of)
        });
        run.model.program = facts.clone();
    }
}
