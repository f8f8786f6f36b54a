//! Paired-session ratios (`run --paired`, `compare PAIRED`) as a terminal table or markdown, the design named.

use crate::export::fmt::plural;
use crate::results::PairedRatio;
use crate::verdict::{Direction, Interval, Verdict};

/// How the words name a change of a paired quantity: every ratio etbench pairs today is of a time (latency, decode
/// time per token, time to first token) except energy.
pub fn direction(quantity: &str) -> Direction {
    if quantity.contains("energy") || quantity.contains("joule") {
        Direction::Amount
    } else {
        Direction::Time
    }
}

/// What would settle a paired ratio whose interval cannot decide, by design.
pub fn settle(design: &str) -> &'static str {
    match design {
        "paired processes" => "more pairs would settle it (--until-ci, or a longer --max-time)",
        _ => "more rounds would settle it (leave out --iters to sample until ±2 %, or raise it)",
    }
}

/// `etbench compare PAIRED`: a table (or markdown) of every candidate against its reference.
pub fn render(ratios: &[PairedRatio], markdown: bool) -> String {
    let pct = |r: f64| format!("{:+.1}%", (r - 1.0) * 100.0);
    let mut rows = Vec::new();
    for r in ratios {
        let verdict = match r.verdict.as_deref().and_then(Verdict::of_name) {
            Some(v) => {
                let ci = Interval { ratio: r.ratio, lower: r.lower, upper: r.upper };
                v.words(ci, r.threshold, direction(&r.quantity), settle(&r.design))
            }
            None => format!("no verdict: {} (need ≥ 6); raise --iters", plural(r.pairs, "pair", "pairs")),
        };
        let interval =
            if r.ratio.is_finite() { format!("{} … {}", pct(r.lower), pct(r.upper)) } else { "–".into() };
        let ratio = if r.ratio.is_finite() { format!("{:.4}", r.ratio) } else { "–".into() };
        rows.push([
            r.candidate.clone(),
            r.reference.clone(),
            r.setting.clone(),
            format!("{} × {}", r.sessions, r.pairs / r.sessions.max(1)),
            r.quantity.clone(),
            ratio,
            interval,
            verdict,
        ]);
    }
    let header =
        ["candidate", "reference", "setting", "sessions × pairs", "ratio of", "ratio", "95% interval", "verdict"];
    let threshold = ratios.first().map(|r| r.threshold * 100.0).unwrap_or(5.0);
    let designs: std::collections::BTreeSet<&str> = ratios.iter().map(|r| r.design.as_str()).collect();
    let how: Vec<&str> = designs
        .iter()
        .map(|d| match *d {
            "paired processes" => "paired processes (one fresh process per model, alternating A B B A …; ratio = median over neighbour pairs of their medians' ratio, interval resamples sessions then pairs)",
            _ => "paired in-process (models alternate round by round in one runner process; ratio = median of per-round ratios, interval resamples sessions then rounds)",
        })
        .collect();
    let rule = format!(
        "Design: {}. A change is called improved or regressed only when its whole interval clears ±{threshold:.0}%; an interval that excludes no change but reaches inside ±{threshold:.0}% is reported as a change not shown to exceed it.",
        how.join("; ")
    );
    if markdown {
        let mut out = format!("| {} |\n|{}\n", header.join(" | "), "---|".repeat(header.len()));
        for row in rows {
            out.push_str(&format!("| {} |\n", row.join(" | ")));
        }
        out.push_str(&format!("\n{rule}\n"));
        out
    } else {
        let mut table = comfy_table::Table::new();
        table.load_preset(comfy_table::presets::UTF8_FULL_CONDENSED).set_header(header);
        for row in rows {
            table.add_row(row);
        }
        format!("{table}\n{rule}\n")
    }
}
