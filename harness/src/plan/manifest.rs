//! Reads the manifests the export scripts write beside their `.pte` files (`manifest.json` from
//! `export_gemma3n.py`, `manifest-fixtures.json` from `export_fixtures.py`), to know what output a model should
//! give for its default inputs. A model is matched by content hash, so a renamed copy still matches.

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
    #[serde(default)]
    pub expected: Expectation,
    /// LLM programs (`manifest-llm.json`): greedy generations the export recorded with ExecuTorch's Python runtime.
    #[serde(default)]
    pub generations: Vec<ExpectedGeneration>,
}

/// A greedy generation: the prompt (seeded ids) and the ids that followed it.
#[derive(Debug, Clone, Deserialize)]
pub struct ExpectedGeneration {
    #[serde(default)]
    pub seed: u64,
    pub prompt_ids: Vec<i64>,
    pub generated: Vec<i64>,
}

/// What the export script saw when it ran the variant with ExecuTorch's Python runtime on the default input.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Expectation {
    #[serde(default)]
    pub argmax_last: u64,
    #[serde(default)]
    pub argmax_per_position: Vec<u64>,
    #[serde(default)]
    pub output_shape: Vec<i64>,
    #[serde(default)]
    pub logits_sum: Option<f64>,
    /// Every output's dtype, shape, sum and argmax (fixtures record these; the Gemma manifest only output 0's argmax).
    #[serde(default)]
    pub outputs: Vec<ExpectedOutput>,
    /// LLM programs: the recorded generations (the forward fields above are then empty).
    #[serde(default)]
    pub generations: Vec<ExpectedGeneration>,
}

impl Expectation {
    /// The ids the export generated after exactly this prompt.
    pub fn generation_after(&self, prompt: &[i64]) -> Option<&[i64]> {
        self.generations.iter().find(|g| g.prompt_ids == prompt).map(|g| g.generated.as_slice())
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct ExpectedOutput {
    pub dtype: String,
    pub sizes: Vec<i64>,
    pub sum: f64,
    #[serde(default)]
    pub argmax_last: Option<u64>,
}

impl ExpectedOutput {
    /// Same dtype and shape, argmax equal where both have one, and the sum within 1e-3 of max(|expected|, 1):
    /// kernels and thread counts may reorder float additions, never change them by more.
    pub fn matches(&self, got: &etbench_protocol::OutputCheck) -> bool {
        let sum_ok = got.sum.is_some_and(|s| (s - self.sum).abs() <= 1e-3 * self.sum.abs().max(1.0));
        let argmax_ok = match (self.argmax_last, got.argmax_last) {
            (Some(e), Some(g)) => e == g,
            _ => true,
        };
        got.dtype.name() == self.dtype && got.sizes == self.sizes && sum_ok && argmax_ok
    }

    pub fn describe(&self) -> String {
        let argmax = self.argmax_last.map(|a| format!(", argmax {a}")).unwrap_or_default();
        format!("{}{:?}, sum {:.6}{argmax}", self.dtype, self.sizes, self.sum)
    }
}

/// The manifest files an export script may leave in a models directory.
const MANIFEST_FILES: [&str; 3] = ["manifest.json", "manifest-fixtures.json", "manifest-llm.json"];

impl Manifest {
    /// Every readable manifest in `dir`, merged.
    pub fn in_dir(dir: &Path) -> Option<Self> {
        let variants: Vec<Variant> = MANIFEST_FILES
            .iter()
            .filter_map(|f| std::fs::read_to_string(dir.join(f)).ok())
            .filter_map(|text| serde_json::from_str::<Manifest>(&text).ok())
            .flat_map(|m| m.variants)
            .collect();
        (!variants.is_empty()).then_some(Self { variants })
    }

    pub fn by_sha256(&self, sha256: &str) -> Option<&Variant> {
        self.variants.iter().find(|v| v.sha256 == sha256)
    }
}

/// The expectation for a model file, looked up in the manifest beside it.
pub fn expectation_for(model_path: &Path, sha256: &str) -> Option<Expectation> {
    let dir = model_path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    Manifest::in_dir(dir)?
        .by_sha256(sha256)
        .map(|v| Expectation { generations: v.generations.clone(), ..v.expected.clone() })
}
