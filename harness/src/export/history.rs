//! `history check`'s reference-normalised section, from the checks `analysis::history` makes.

use crate::analysis::history::Normalised;

/// Markdown rows for the normalised checks (appended to `history check`).
pub fn render_normalised(checks: &[Normalised], threshold: f64) -> String {
    if checks.is_empty() {
        return String::new();
    }
    let mut out = String::from(
        "\n### Reference-normalised (paired nights: candidate / pinned reference, per round or per pair of processes)\n\n| candidate | pinned reference | setting | window ratio | newest ratio | change | interval | verdict |\n|---|---|---|---|---|---|---|---|\n",
    );
    for c in checks {
        let (change, interval) = match &c.change {
            Some(ci) => (
                format!("{:+.1}%", (ci.ratio - 1.0) * 100.0),
                format!("{:+.1}% … {:+.1}%", (ci.lower - 1.0) * 100.0, (ci.upper - 1.0) * 100.0),
            ),
            None => ("–".into(), "–".into()),
        };
        let verdict = c
            .verdict
            .zip(c.change.as_ref())
            .map(|(v, ci)| {
                v.words(
                    ci,
                    threshold,
                    crate::analysis::bootstrap::Direction::Time,
                    "more nights or more rounds per night would settle it",
                )
            })
            .or_else(|| c.note.clone())
            .unwrap_or_default();
        let ratio = |r: f64| if r.is_finite() { format!("{r:.4}") } else { "–".into() };
        out.push_str(&format!(
            "| {} | {} | {} | {} | {} | {change} | {interval} | {verdict} |\n",
            c.candidate,
            c.reference,
            c.setting,
            ratio(c.baseline_ratio),
            ratio(c.newest_ratio)
        ));
    }
    out.push_str("\nDesign: a paired session each night (in-process, or paired processes); drift between nights cancels in the ratio to the pinned reference.\n");
    out
}
