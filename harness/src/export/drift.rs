//! Drift tables: each candidate next to its reference, with speed and size so a model card can say
//! "int8: X× the speed, Y% smaller, top-1 agreement Z%".

use std::fmt::Write;

use super::fmt;
use crate::results::{Document, DriftReport, RunResult};

fn median_ns(doc: &Document, sha: &str) -> Option<f64> {
    doc.runs.iter().find(|r| r.model.sha256 == sha).and_then(|r: &RunResult| r.summary.as_ref()).map(|s| s.latency_ns.median)
}

pub const HEADERS: [&str; 8] =
    ["variant", "vs reference", "size", "median ms (speed)", "top-1 agreement", "mean KL (nats)", "mean cosine", "greedy continuation"];

fn divergence(d: &DriftReport) -> String {
    let first: Vec<usize> = d.prompts.iter().filter_map(|p| p.first_divergence).collect();
    match first.iter().min() {
        None => format!("identical on all {} prompts", d.prompts.len()),
        Some(k) => format!("diverges on {}/{} prompts (earliest at token {k})", first.len(), d.prompts.len()),
    }
}

pub fn rows(doc: &Document) -> Vec<[String; 8]> {
    doc.drift
        .iter()
        .map(|d| {
            let size_ratio = d.candidate.size_bytes as f64 / d.reference.size_bytes.max(1) as f64;
            let speed = match (median_ns(doc, &d.candidate.sha256), median_ns(doc, &d.reference.sha256)) {
                (Some(c), Some(r)) => format!("{} ({:.2}× the reference's speed)", fmt::ms(c), r / c),
                _ => "–".into(),
            };
            [
                d.candidate.name.clone(),
                d.reference.name.clone(),
                format!("{} ({:+.0}%)", fmt::size(d.candidate.size_bytes), (size_ratio - 1.0) * 100.0),
                speed,
                format!("{:.1}%", d.top1_agreement * 100.0),
                format!("{:.3e}", d.mean_kl),
                format!("{:.6}", d.mean_cosine),
                divergence(d),
            ]
        })
        .collect()
}

pub fn markdown(doc: &Document) -> String {
    let mut out = String::from("## Quantization drift\n\n");
    let _ = writeln!(out, "| {} |", HEADERS.join(" | "));
    let _ = writeln!(out, "|{}", HEADERS.iter().map(|_| "---|").collect::<String>());
    for row in rows(doc) {
        let _ = writeln!(out, "| {} |", row.join(" | ").replace('\n', " "));
    }
    if let Some(d) = doc.drift.first() {
        let _ = writeln!(
            out,
            "\nSame {} prompts through every variant (window fixed by the export, prompts right-padded; only real positions compared). KL is KL(reference ‖ variant) of the softmaxed logits.",
            d.prompts.len()
        );
    }
    out
}

pub fn table(doc: &Document) -> String {
    let mut table = comfy_table::Table::new();
    table.load_preset(comfy_table::presets::UTF8_FULL_CONDENSED).set_header(HEADERS);
    for row in rows(doc) {
        table.add_row(row);
    }
    format!("{table}\n")
}
