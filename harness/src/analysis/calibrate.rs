//! `etbench calibrate`: how noisy this device is for one model, and so which designs can see which effects.
//!
//! From a paired A/A session (the model twice in one process, `repeat` sessions) and unpaired repeats (fresh
//! processes), on log latencies (within-run spreads as 1.4826 × MAD, robust to latency's long tail): σ_pair (round-to-round spread of paired log ratios), σ_session (between paired
//! sessions), σ_within (iteration spread in a process) and σ_process (between process medians). The minimum
//! detectable effect at 95 % power for a budget of R processes × n iterations is the threshold (plus, unpaired, the
//! expected drift a verdict must clear) plus (1.96 + 1.645) standard errors of the estimate; a median's variance is
//! taken as π/2 times a mean's (normal approximation).

use serde::{Deserialize, Serialize};

use crate::results::{Document, RunResult};

/// One budget's minimum detectable effect.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Detectable {
    pub design: crate::verdict::Design,
    pub processes: u32,
    pub iterations: u32,
    /// Smallest slowdown (fraction, 0.03 = 3 %) called regressed with 95 % probability.
    pub effect: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Calibration {
    pub model: String,
    pub device: String,
    pub threshold: f64,
    pub sigma_pair: f64,
    pub sigma_session: f64,
    pub sigma_within: f64,
    pub sigma_process: f64,
    /// Half-range of the unpaired process medians over their median (what `compare` calls drift).
    pub process_drift: f64,
    pub budgets: Vec<Detectable>,
}

/// Sample standard deviation (0 for fewer than two finite points).
fn sd(v: &[f64]) -> f64 {
    crate::stats::Sample::new(v).ok().and_then(|s| s.stddev()).unwrap_or(0.0)
}

/// 1.4826 × the median absolute deviation: the sd of a normal, robust to the long right tail latencies have.
fn robust_sd(v: &[f64]) -> f64 {
    if v.len() < 2 {
        return 0.0;
    }
    let m = median(v);
    1.4826 * median(&v.iter().map(|x| (x - m).abs()).collect::<Vec<_>>())
}

fn median(v: &[f64]) -> f64 {
    let mut v = v.to_vec();
    super::bootstrap::median_in_place(&mut v)
}

/// Expected range of R standard normals (d2 of quality control), for the drift an unpaired verdict must clear.
fn expected_range(r: u32) -> f64 {
    match r {
        0 | 1 => 0.0,
        2 => 1.128,
        3 => 1.693,
        4 => 2.059,
        5 => 2.326,
        6..=9 => 2.534 + (r as f64 - 6.0) * 0.15,
        _ => 3.078,
    }
}

const Z: f64 = 1.96 + 1.645;
const MEDIAN_EFFICIENCY: f64 = std::f64::consts::FRAC_PI_2;

/// Estimates from the paired A/A document and the unpaired one.
pub fn calibrate(paired: &Document, unpaired: &Document, threshold: f64) -> Option<Calibration> {
    let ok = |d: &Document| d.runs.iter().filter(|r| r.is_ok()).cloned().collect::<Vec<RunResult>>();
    let (p, u) = (ok(paired), ok(unpaired));
    let first = u.first().or(p.first())?;
    // Paired: per session, log ratios of position 1 to position 0 by round.
    let mut sessions: Vec<Vec<f64>> = Vec::new();
    for pair in p.chunks(2).filter(|c| c.len() == 2) {
        let logs: Vec<f64> = super::paired::round_ratios(&pair[0], &pair[1]).iter().map(|r| r.ln()).collect();
        if logs.len() >= 2 {
            sessions.push(logs);
        }
    }
    let within_pair: Vec<f64> = sessions.iter().map(|s| robust_sd(s)).collect();
    let sigma_pair = if within_pair.is_empty() { 0.0 } else { median(&within_pair) };
    let session_medians: Vec<f64> = sessions.iter().map(|s| median(s)).collect();
    let n_pair = sessions.iter().map(Vec::len).min().unwrap_or(1).max(1) as f64;
    let sigma_session =
        (sd(&session_medians).powi(2) - MEDIAN_EFFICIENCY * sigma_pair.powi(2) / n_pair).max(0.0).sqrt();
    // Unpaired: per process, log samples.
    let processes: Vec<Vec<f64>> =
        u.iter().map(|r| r.samples.timed_ns.iter().map(|&v| (v as f64).ln()).collect()).collect();
    let sigma_within = median(&processes.iter().map(|p| robust_sd(p)).collect::<Vec<_>>());
    let medians: Vec<f64> = processes.iter().map(|p| median(p)).collect();
    let n_proc = processes.iter().map(Vec::len).min().unwrap_or(1).max(1) as f64;
    let sigma_process = (sd(&medians).powi(2) - MEDIAN_EFFICIENCY * sigma_within.powi(2) / n_proc).max(0.0).sqrt();
    let raw: Vec<Vec<f64>> = u.iter().map(|r| r.samples.timed_ns.iter().map(|&v| v as f64).collect()).collect();
    let process_drift = super::compare::process_drift(&raw);
    let paired_mde = |r: u32, n: u32| {
        let se =
            (sigma_session.powi(2) / r as f64 + MEDIAN_EFFICIENCY * sigma_pair.powi(2) / (r as f64 * n as f64)).sqrt();
        threshold + Z * se
    };
    let unpaired_mde = |r: u32, n: u32| {
        let var = sigma_process.powi(2) / r as f64 + MEDIAN_EFFICIENCY * sigma_within.powi(2) / (r as f64 * n as f64);
        threshold + sigma_process * expected_range(r) / 2.0 + Z * (2.0 * var).sqrt()
    };
    let mut budgets = Vec::new();
    for (r, n) in [(1, 200), (3, 30), (3, 100), (5, 200)] {
        budgets.push(Detectable {
            design: crate::verdict::Design::PairedInProcess,
            processes: r,
            iterations: n,
            effect: paired_mde(r, n).exp_m1_ratio(),
        });
    }
    for (r, n) in [(3, 20), (5, 20), (10, 50)] {
        budgets.push(Detectable {
            design: crate::verdict::Design::Unpaired,
            processes: r,
            iterations: n,
            effect: unpaired_mde(r, n).exp_m1_ratio(),
        });
    }
    Some(Calibration {
        model: first.model.name.clone(),
        device: first.device.name.clone(),
        threshold,
        sigma_pair,
        sigma_session,
        sigma_within,
        sigma_process,
        process_drift,
        budgets,
    })
}

/// Log-scale effects back to ratios (a log effect of 0.0296 is a 3.0 % slowdown).
trait ExpM1 {
    fn exp_m1_ratio(self) -> f64;
}

impl ExpM1 for f64 {
    fn exp_m1_ratio(self) -> f64 {
        self.exp_m1()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn more_budget_detects_smaller_effects_and_paired_beats_unpaired_when_processes_drift() {
        let (sigma_pair, sigma_session, sigma_within, sigma_process): (f64, f64, f64, f64) = (0.02, 0.002, 0.05, 0.2);
        let paired = |r: f64, n: f64| {
            0.05 + Z * (sigma_session.powi(2) / r + MEDIAN_EFFICIENCY * sigma_pair * sigma_pair / (r * n)).sqrt()
        };
        let unpaired = |r: f64, n: f64| {
            0.05 + Z
                * (2.0
                    * (sigma_process * sigma_process / r + MEDIAN_EFFICIENCY * sigma_within * sigma_within / (r * n)))
                    .sqrt()
        };
        assert!(paired(3.0, 100.0) < paired(3.0, 30.0));
        assert!(paired(3.0, 30.0) < unpaired(5.0, 20.0));
        assert!(expected_range(5) > expected_range(2));
    }
}
