//! `etbench compare`'s table and markdown: a [`Comparison`] as people read it, one row per metric of each matched
//! pair, then the counts, the design rule and the notes. The judging is `analysis::compare`'s; this only renders.

use std::fmt::Write;

use comfy_table::{presets::UTF8_FULL_CONDENSED, ContentArrangement, Table};

use crate::analysis::bootstrap::Verdict;
use crate::analysis::compare::{per_metric_level, Comparison, COMPARED, SETTLE_UNPAIRED};
use crate::results::metric::{Estimate, Metric};
use crate::units::plural;

impl Comparison {
    fn rule(&self) -> String {
        let b = &self.options.bootstrap;
        format!(
            "Design: unpaired (separate processes per side; latency needs at least 2 processes on a side to see the \
             drift between processes, and a change must clear the threshold plus that drift). Verdicts: {:.2}% bootstrap intervals ({:.0}% over the {} metrics; {} resamples, seed {:#x}, runs then \
             iterations resampled) of the ratio of medians of the raw samples (candidate / base); regressed or improved \
             only when the whole interval clears ±{:.1}%.",
            per_metric_level(b.level) * 100.0,
            b.level * 100.0,
            COMPARED.len(),
            b.resamples,
            b.seed,
            self.options.threshold * 100.0
        )
    }

    fn summary(&self) -> String {
        let judged: usize = self.pairs.iter().flat_map(|p| &p.changes).filter(|c| c.verdict.is_some()).count();
        let all: usize = self.pairs.iter().map(|p| p.changes.len()).sum();
        format!(
            "{}, {}, {} within ±{:.0}%, {} changed but not shown past it, {} without a verdict, over {}.",
            plural(self.count(Verdict::Regressed), "regression", "regressions"),
            plural(self.count(Verdict::Improved), "improvement", "improvements"),
            self.count(Verdict::NoChange),
            self.options.threshold * 100.0,
            self.count(Verdict::Better) + self.count(Verdict::Worse),
            all - judged + self.count(Verdict::Inconclusive),
            plural(self.pairs.len(), "matched run set", "matched run sets")
        )
    }

    fn rows(&self) -> Vec<[String; 7]> {
        let mut rows = Vec::new();
        for pair in &self.pairs {
            for c in &pair.changes {
                let (unit, f) = c.metric.display_unit();
                let value = |e: Option<Estimate>, n: usize| {
                    e.map(|e| format!("{} {unit} (n={n})", crate::units::adaptive(e.value * f)))
                        .unwrap_or_else(|| "–".into())
                };
                let pct = |r: f64| format!("{:+.1}%", (r - 1.0) * 100.0);
                let (change, interval) = match &c.ci {
                    Some(ci) => (pct(ci.ratio), format!("{} … {}", pct(ci.lower), pct(ci.upper))),
                    None => match (c.base, c.cand) {
                        (Some(b), Some(a)) if b.value > 0.0 => (pct(a.value / b.value), "–".into()),
                        _ => ("–".into(), "–".into()),
                    },
                };
                let verdict = match (c.verdict, &c.ci, &c.note) {
                    (Some(v), Some(ci), note) => {
                        let words = v.words(ci, self.options.threshold, c.metric.direction(), SETTLE_UNPAIRED);
                        note.as_ref().map(|n| format!("{words} ({n})")).unwrap_or(words)
                    }
                    (_, _, n) => n.clone().unwrap_or_default(),
                };
                // A generation run's latency samples are its generations' decode times per token.
                let generation = pair.changes.iter().any(|x| x.metric == Metric::TimeToFirstToken);
                let label = if c.metric == Metric::Latency && generation {
                    "decode time per token (median)"
                } else {
                    c.metric.label()
                };
                rows.push([
                    pair.cand.to_string(),
                    label.into(),
                    value(c.base, c.n_base),
                    value(c.cand, c.n_cand),
                    change,
                    interval,
                    verdict,
                ]);
            }
        }
        rows
    }

    fn all_notes(&self) -> Vec<String> {
        let mut notes = Vec::new();
        for p in self.pairs.iter().filter(|p| !p.differences.is_empty()) {
            let d: Vec<String> = p.differences.iter().map(|d| d.to_string()).collect();
            notes.push(format!("Forced: {} vs {} differ in {}", p.base, p.cand, d.join("; ")));
        }
        notes.extend(self.only_base.iter().map(|k| format!("Only in base: {k}")));
        notes.extend(self.only_cand.iter().map(|k| format!("Only in candidate: {k}")));
        notes.extend(self.notes.iter().cloned());
        notes
    }

    const HEADERS: [&'static str; 7] = ["run", "metric", "base", "candidate", "change", "interval", "verdict"];

    pub fn render_markdown(&self) -> String {
        let mut out = String::from("# etbench compare\n\n");
        let _ = writeln!(out, "Base: `{}` · candidate: `{}`\n", self.base_label, self.cand_label);
        let _ = writeln!(out, "| {} |\n|{}", Self::HEADERS.join(" | "), "---|".repeat(Self::HEADERS.len()));
        for row in self.rows() {
            let _ = writeln!(out, "| {} |", row.map(|c| c.replace('|', "\\|")).join(" | "));
        }
        let _ = writeln!(out, "\n{}\n\n{}", self.summary(), self.rule());
        for note in self.all_notes() {
            let _ = writeln!(out, "- {note}");
        }
        out
    }

    pub fn render_table(&self) -> String {
        let mut table = Table::new();
        table.load_preset(UTF8_FULL_CONDENSED).set_content_arrangement(ContentArrangement::Disabled);
        table.set_header(Self::HEADERS);
        for row in self.rows() {
            table.add_row(row);
        }
        let notes: String = self.all_notes().iter().map(|n| format!("{n}\n")).collect();
        format!(
            "base: {}\ncandidate: {}\n{table}\n{}\n{}\n{notes}",
            self.base_label,
            self.cand_label,
            self.summary(),
            self.rule()
        )
    }
}
