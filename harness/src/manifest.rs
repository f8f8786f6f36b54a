//! Reads the `manifest.json` the export script writes beside its `.pte` files, to know what output a model should
//! give for the default input. A model is matched by content hash, so a renamed copy still matches.

use std::path::Path;

use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
pub struct Manifest {
    pub variants: Vec<Variant>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Variant {
    pub name: String,
    pub file: String,
    pub sha256: String,
    pub expected: Expectation,
}

/// What the export script saw when it ran the variant with ExecuTorch's Python runtime on the default input.
#[derive(Debug, Clone, Deserialize)]
pub struct Expectation {
    pub argmax_last: u64,
    #[serde(default)]
    pub argmax_per_position: Vec<u64>,
    #[serde(default)]
    pub output_shape: Vec<i64>,
    #[serde(default)]
    pub logits_sum: Option<f64>,
}

impl Manifest {
    /// The manifest in `dir`, if there is a readable one.
    pub fn in_dir(dir: &Path) -> Option<Self> {
        let text = std::fs::read_to_string(dir.join("manifest.json")).ok()?;
        serde_json::from_str(&text).ok()
    }

    pub fn by_sha256(&self, sha256: &str) -> Option<&Variant> {
        self.variants.iter().find(|v| v.sha256 == sha256)
    }
}

/// The expectation for a model file, looked up in the manifest beside it.
pub fn expectation_for(model_path: &Path, sha256: &str) -> Option<Expectation> {
    let dir = model_path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    Manifest::in_dir(dir)?.by_sha256(sha256).map(|v| v.expected.clone())
}
