//! The terminal table `etbench run` prints (stdout).

use comfy_table::{presets::UTF8_FULL_CONDENSED, ContentArrangement, Table};

use super::{Row, DECODE_NOTE};
use crate::results::Document;

pub fn render(doc: &Document) -> String {
    let (llm_runs, forward_runs): (Vec<_>, Vec<_>) = doc.runs.iter().partition(|r| super::llm::is_llm(r));
    if llm_runs.is_empty() {
        return forward(doc);
    }
    let groups = super::metric::groups(std::iter::once(doc));
    let llm_groups: Vec<_> = groups.iter().filter(|g| super::llm::is_llm(g.runs[0])).collect();
    let mut out = super::llm::terminal(&llm_groups);
    let mut seen = std::collections::BTreeSet::new();
    let firsts: Vec<_> = llm_runs.iter().copied().filter(|r| seen.insert(super::metric::RunIdentity::of(r))).collect();
    for note in super::llm::generation_notes(&firsts) {
        out.push_str(&format!("{note}\n"));
    }
    let warnings: String = super::warning_notes(&llm_runs).iter().map(|w| format!("warning: {w}\n")).collect();
    let errors: String = super::error_notes(&llm_runs).iter().map(|e| format!("error: {e}\n")).collect();
    for note in super::energy_notes(&llm_runs) {
        out.push_str(&format!("{note}\n"));
    }
    out.push_str(&warnings);
    out.push_str(&errors);
    if !forward_runs.is_empty() {
        let rest = Document { runs: forward_runs.into_iter().cloned().collect(), ..doc.clone() };
        out.push('\n');
        out.push_str(&forward(&rest));
    }
    out
}

fn forward(doc: &Document) -> String {
    let mut table = Table::new();
    table.load_preset(UTF8_FULL_CONDENSED).set_content_arrangement(ContentArrangement::Disabled);
    // The footnote mark only where its footnote is printed (a program without token input has neither).
    let runs: Vec<_> = doc.runs.iter().collect();
    let tokens = super::has_tokens(&runs);
    table.set_header(Row::HEADERS.map(|h| if tokens { h.to_owned() } else { h.trim_end_matches(" ¹").to_owned() }));
    for run in &doc.runs {
        table.add_row(Row::of(run).cells());
    }
    let errors: String = super::error_notes(&runs).iter().map(|e| format!("error: {e}\n")).collect();
    let texts: String = super::text_notes(&runs)
        .iter()
        .chain(&super::energy_notes(&runs))
        .chain(&super::profile_notes(&runs))
        .chain(&super::roofline_notes(&runs))
        .map(|t| format!("{t}\n"))
        .collect();
    let warnings: String = super::warning_notes(&runs).iter().map(|w| format!("warning: {w}\n")).collect();
    let footnote = if tokens { format!("¹ {DECODE_NOTE}\n") } else { String::new() };
    format!("{table}\n{footnote}{texts}{warnings}{errors}")
}
