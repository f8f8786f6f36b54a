//! Drift tables: each candidate next to its reference, with speed and size so a model card can say
//! "int8: X× the speed, Y% smaller, top-1 agreement Z%", and per prompt every variant's greedy continuation with
//! where it leaves the reference's.

use std::fmt::Write;

use crate::results::{Document, DriftReport, PromptDrift, RunResult};
use crate::units;

fn median_ns(doc: &Document, sha: &str) -> Option<f64> {
    doc.runs
        .iter()
        .find(|r| r.model.sha256 == sha)
        .and_then(|r: &RunResult| r.summary.as_ref())
        .map(|s| s.latency_ns.median)
}

pub const HEADERS: [&str; 8] = [
    "variant",
    "vs reference",
    "size",
    "median ms (speed)",
    "top-1 agreement",
    "mean KL (nats)",
    "mean cosine",
    "greedy continuation",
];

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
                (Some(c), Some(r)) => format!("{} ({:.2}× the reference's speed)", units::ms(c), r / c),
                _ => "–".into(),
            };
            [
                d.candidate.name.clone(),
                d.reference.name.clone(),
                format!("{} ({:+.0}%)", units::size(d.candidate.size_bytes), (size_ratio - 1.0) * 100.0),
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
    continuations(&mut out, doc);
    out
}

/// A continuation as markdown-safe quoted text, or its ids when the document has no decoded text.
fn continuation(text: Option<&str>, ids: &[i64]) -> String {
    match text {
        Some(t) => super::report::quoted(t, 240),
        None => format!("ids {ids:?}"),
    }
}

/// Where a candidate's continuation leaves the reference's.
fn diverges(p: &PromptDrift) -> String {
    match p.first_divergence {
        None => "identical".into(),
        Some(k) => {
            let shared = match &p.text_shared {
                Some(t) if !t.is_empty() => format!(" after {}", super::report::quoted(t, 120)),
                Some(_) => " (the first token already differs)".into(),
                None => format!(" after ids {:?}", &p.greedy_reference[..k.min(p.greedy_reference.len())]),
            };
            format!("diverges at token {k}{shared}")
        }
    }
}

/// Per prompt, the reference's continuation and each candidate's, with where it diverges.
fn continuations(out: &mut String, doc: &Document) {
    let Some(first) = doc.drift.first() else { return };
    if doc
        .drift
        .iter()
        .all(|d| d.prompts.iter().all(|p| p.greedy_reference.is_empty() && p.greedy_candidate.is_empty()))
    {
        let _ = writeln!(out, "\nNo continuations were generated (`--generate 0`).");
        return;
    }
    let _ = writeln!(
        out,
        "\n### Greedy continuations\n\nEach prompt's greedy continuation (one full forward per token, no KV cache) through every variant; tokens count from 0, and \"diverges at token k\" follows the text both share before it."
    );
    // Prompts in the order they ran; a candidate that failed a prompt has no entry for it.
    let mut prompts: Vec<&str> = Vec::new();
    for p in doc.drift.iter().flat_map(|d| &d.prompts) {
        if !prompts.contains(&p.prompt.as_str()) {
            prompts.push(&p.prompt);
        }
    }
    for (i, prompt) in prompts.iter().enumerate() {
        let _ = writeln!(out, "\n#### Prompt {}: {}\n", i + 1, super::report::quoted(prompt, 160));
        let _ = writeln!(out, "| variant | continuation | vs {} |\n|---|---|---|", first.reference.name);
        let entries: Vec<(&DriftReport, &PromptDrift)> =
            doc.drift.iter().filter_map(|d| Some((d, d.prompts.iter().find(|p| p.prompt == *prompt)?))).collect();
        if let Some((d, p)) = entries.first() {
            let _ = writeln!(
                out,
                "| {} (reference) | {} | – |",
                d.reference.name,
                continuation(p.text_reference.as_deref(), &p.greedy_reference)
            );
        }
        for (d, p) in entries {
            let _ = writeln!(
                out,
                "| {} | {} | {} |",
                d.candidate.name,
                continuation(p.text_candidate.as_deref(), &p.greedy_candidate),
                diverges(p)
            );
        }
    }
}

pub fn table(doc: &Document) -> String {
    let mut table = comfy_table::Table::new();
    table.load_preset(comfy_table::presets::UTF8_FULL_CONDENSED).set_header(HEADERS);
    for row in rows(doc) {
        table.add_row(row);
    }
    format!("{table}\n")
}
