//! Model files on the host: checked before anything is started, hashed once per file version.

use std::path::Path;

use etbench_protocol::ErrorKind;

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
    ModelRef { path: path.display().to_string(), name: name_of(path), size_bytes: 0, sha256: String::new() }
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
    Ok(ModelRef { path: shown.to_string(), name: name_of(path), size_bytes: meta.len(), sha256 })
}
