//! The one registry of machine formats: `run --format` and `report --format` both render through [`Format`], so a
//! format means the same bytes whichever command writes it. Every format reads only the documents.

use crate::results::Document;

/// The machine formats, as `report --format` names them (its `--help` says what each is for): the result document
/// (an array of documents for several), JSON Lines (one run per line), CSV (one row per run, as results.csv),
/// Bencher Metric Format, github-action-benchmark's smaller-is-better (latency, load, memory) and bigger-is-better
/// (tokens/s) lists, and PyTorch OSS benchmark database v3 records (the ExecuTorch dashboard's format).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Json,
    Jsonl,
    Csv,
    Bmf,
    GabSmaller,
    GabBigger,
    PytorchV3,
}

impl Format {
    /// The bytes of `docs` in this format: several documents are merged into one first (repeats of a setting pool),
    /// except JSON, which keeps each document as it is (an array of them).
    pub fn render(self, docs: &[Document]) -> anyhow::Result<Vec<u8>> {
        let merged = || super::report::merge(docs).ok_or_else(|| anyhow::anyhow!("no results to render"));
        Ok(match self {
            Format::Json => match docs {
                [one] => super::json(one),
                many => {
                    let mut bytes = serde_json::to_vec_pretty(many)?;
                    bytes.push(b'\n');
                    bytes
                }
            },
            Format::Jsonl => super::jsonl::render(&merged()?),
            Format::Csv => super::csv::render(&merged()?),
            Format::Bmf => super::bmf::render(&merged()?),
            Format::GabSmaller => super::gab::render(&merged()?, super::gab::Direction::SmallerIsBetter),
            Format::GabBigger => super::gab::render(&merged()?, super::gab::Direction::BiggerIsBetter),
            Format::PytorchV3 => super::pytorch::render(&merged()?),
        })
    }
}
