//! The terminal table `etbench run` prints (stdout).

use comfy_table::{presets::UTF8_FULL_CONDENSED, ContentArrangement, Table};

use super::{Row, DECODE_FOOTNOTE};
use crate::results::Document;

pub fn render(doc: &Document) -> String {
    let mut table = Table::new();
    table.load_preset(UTF8_FULL_CONDENSED).set_content_arrangement(ContentArrangement::Disabled);
    table.set_header(Row::HEADERS);
    for run in &doc.runs {
        table.add_row(Row::of(run).cells());
    }
    let runs: Vec<_> = doc.runs.iter().collect();
    let errors: String = super::error_notes(&runs).iter().map(|e| format!("error: {e}\n")).collect();
    let texts: String = super::text_notes(&runs).iter().chain(&super::profile_notes(&runs)).chain(&super::roofline_notes(&runs)).map(|t| format!("{t}\n")).collect();
    let warnings: String = super::warning_notes(&runs).iter().map(|w| format!("warning: {w}\n")).collect();
    let footnote = if super::has_tokens(&runs) { format!("{DECODE_FOOTNOTE}\n") } else { String::new() };
    format!("{table}\n{footnote}{texts}{warnings}{errors}")
}
