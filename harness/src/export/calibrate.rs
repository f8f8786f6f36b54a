//! The table `etbench calibrate` prints, from a [`Calibration`] (`analysis::calibrate` measures and models it).

use crate::analysis::calibrate::Calibration;

/// The table `etbench calibrate` prints.
pub fn render(c: &Calibration) -> String {
    let mut out = format!(
        "Noise of {} on {} (log-latency spreads): paired round-to-round σ {:.2}%, between paired sessions {:.2}%; unpaired within a process {:.2}%, between processes {:.2}% (process medians drift ±{:.1}%).\n\n",
        c.model,
        c.device,
        c.sigma_pair * 100.0,
        c.sigma_session * 100.0,
        c.sigma_within * 100.0,
        c.sigma_process * 100.0,
        c.process_drift * 100.0
    );
    out.push_str("| design | processes × iterations | detects a slowdown of at least (95% power) |\n|---|---|---|\n");
    for b in &c.budgets {
        out.push_str(&format!("| {} | {} × {} | {:.1}% |\n", b.design, b.processes, b.iterations, b.effect * 100.0));
    }
    out.push_str(&format!(
        "\nAt the {:.0}% threshold: a change is called only when its whole 95% interval clears it (unpaired: plus the drift between processes).\n",
        c.threshold * 100.0
    ));
    out
}
