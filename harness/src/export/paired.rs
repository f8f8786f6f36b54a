//! Paired-session ratios (`run --paired`, `compare PAIRED`) as a terminal table or markdown, the design named.

use crate::results::PairedRatio;
use crate::units::plural;
use crate::verdict::Interval;

/// `etbench compare PAIRED`: a table (or markdown) of every candidate against its reference.
pub fn render(ratios: &[PairedRatio], markdown: bool) -> String {
    let pct = |r: f64| format!("{:+.1}%", (r - 1.0) * 100.0);
    let mut rows = Vec::new();
    for r in ratios {
        let verdict = match r.verdict {
            Some(v) => {
                let ci = Interval { ratio: r.ratio, lower: r.lower, upper: r.upper };
                v.words(ci, r.threshold, r.quantity.direction(), r.design.settle())
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
            r.quantity.label().to_owned(),
            ratio,
            interval,
            verdict,
        ]);
    }
    let header =
        ["candidate", "reference", "setting", "sessions × pairs", "ratio of", "ratio", "95% interval", "verdict"];
    let threshold = ratios.first().map(|r| r.threshold * 100.0).unwrap_or(5.0);
    let designs: std::collections::BTreeSet<crate::verdict::Design> = ratios.iter().map(|r| r.design).collect();
    let how: Vec<&str> = designs.iter().map(|d| d.method()).collect();
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

#[cfg(test)]
mod tests {
    use crate::analysis::compare::Options;

    #[test]
    fn a_ratio_without_an_interval_reads_no_verdict() {
        // Four pairs in one session: too few for an interval.
        let r = crate::analysis::paired::judge("a", "b", "s", &[vec![1.5, 1.4, 1.6, 1.5]], &Options::default());
        assert_eq!(r.verdict, None);
        assert!(super::render(&[r], true).contains("no verdict"));
    }
}
