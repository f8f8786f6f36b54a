//! Verdicts of paired sessions: every model timed in one runner process, iterations alternating round by round
//! (`run --paired`). A candidate's ratio to the reference (the session's first model) is the median of its
//! per-round ratios `t_cand / t_ref`; the interval resamples sessions (fresh processes, `--repeat`) and then
//! rounds within each, so both process-to-process and round-to-round noise are in it. Everything is recomputed
//! from the raw samples and their rounds, never from stored summaries.

use std::collections::BTreeMap;

use super::bootstrap::{Bootstrap, Runs, Verdict};
use super::compare::Options;
use crate::results::{Document, PairedRatio, RunResult};

pub use crate::verdict::{Design, Quantity};

impl Design {
    /// The design a document's runs used.
    pub fn of(doc: &Document) -> Self {
        match doc.runs.iter().find_map(|r| r.pairing.as_ref()) {
            Some(p) if p.pair.is_some() => Design::PairedProcesses,
            Some(_) => Design::PairedInProcess,
            None => Design::Unpaired,
        }
    }
}

/// The per-round ratios of `cand` to `reference` within one session (rounds both measured).
pub fn round_ratios(reference: &RunResult, cand: &RunResult) -> Vec<f64> {
    let by_round: BTreeMap<u32, u64> =
        reference.samples.timed_rounds.iter().copied().zip(reference.samples.timed_ns.iter().copied()).collect();
    cand.samples
        .timed_rounds
        .iter()
        .zip(&cand.samples.timed_ns)
        .filter_map(|(round, ns)| Some(*ns as f64 / *by_round.get(round)? as f64))
        .filter(|r| r.is_finite() && *r > 0.0)
        .collect()
}

/// The ratios of the model at `position` to the reference (position 0) among one session's rows: per round when
/// the session was one process, per neighbour pair (the two processes' medians) for a session of paired processes.
pub fn session_ratios(rows: &[&RunResult], position: u32) -> Vec<f64> {
    let at = |p: u32| rows.iter().filter(move |r| r.pairing.as_ref().is_some_and(|x| x.position == p));
    if rows.iter().all(|r| r.pairing.as_ref().is_some_and(|p| p.pair.is_none())) {
        return match (at(0).next(), at(position).next()) {
            (Some(reference), Some(cand)) => round_ratios(reference, cand),
            _ => Vec::new(),
        };
    }
    let medians = |p: u32| -> BTreeMap<u32, f64> {
        at(p)
            .filter(|r| !r.samples.timed_ns.is_empty())
            .filter_map(|r| {
                Some((
                    r.pairing.as_ref()?.pair?,
                    crate::stats::Sample::from_ns(&r.samples.timed_ns).ok()?.quantile(0.5),
                ))
            })
            .collect()
    };
    let reference = medians(0);
    medians(position)
        .into_iter()
        .filter_map(|(pair, cand)| Some(cand / reference.get(&pair)?))
        .filter(|r| r.is_finite() && *r > 0.0)
        .collect()
}

/// The per-round ratios of time to first token within one in-process session of generation runs.
fn session_ttft_ratios(rows: &[&RunResult], position: u32) -> Vec<f64> {
    let at = |p: u32| rows.iter().find(|r| r.pairing.as_ref().is_some_and(|x| x.position == p));
    let (Some(reference), Some(cand)) = (at(0), at(position)) else { return Vec::new() };
    let by_round = |r: &RunResult| -> BTreeMap<u32, u64> {
        r.llm.iter().flat_map(|l| l.timed()).filter_map(|g| Some((g.round?, g.ttft_ns))).collect()
    };
    let reference = by_round(reference);
    by_round(cand)
        .into_iter()
        .filter_map(|(round, ns)| Some(ns as f64 / *reference.get(&round)? as f64))
        .filter(|r| r.is_finite() && *r > 0.0)
        .collect()
}

/// The per-round ratios of energy (joules in each round's windows, `--energy`) within one in-process session; none
/// when either model has no figure (refused, lost, not measured).
fn session_energy_ratios(rows: &[&RunResult], position: u32) -> Vec<f64> {
    let at = |p: u32| rows.iter().find(|r| r.pairing.as_ref().is_some_and(|x| x.position == p));
    let rounds = |r: &RunResult| -> Option<BTreeMap<u32, f64>> {
        Some(r.energy.as_ref()?.summary.as_ref()?.rounds.iter().copied().collect())
    };
    let (Some(reference), Some(cand)) = (at(0).and_then(|r| rounds(r)), at(position).and_then(|r| rounds(r))) else {
        return Vec::new();
    };
    cand.into_iter()
        .filter_map(|(round, j)| Some(j / reference.get(&round)?))
        .filter(|r| r.is_finite() && *r > 0.0)
        .collect()
}

/// The median ratio of one session's ratios with its 95% bootstrap interval (`None` below 6 ratios): what an
/// adaptive session of paired processes watches to know when to stop.
pub fn session_interval(ratios: &[f64], opts: &Options) -> Option<(f64, f64, f64)> {
    let runs = Runs::new(std::iter::once(ratios)).ok()?;
    median_ci(&opts.bootstrap, &runs, ratios.len()).ok()
}

/// Every candidate's paired ratio in a document, grouped by setting (device × threads × load mode); sessions are
/// the repeats of that setting. Profiled and unprofiled sessions are never pooled (the setting includes it).
pub fn ratios(doc: &Document, opts: &Options) -> Vec<PairedRatio> {
    // setting → session → rows by position
    let mut settings: BTreeMap<String, BTreeMap<String, Vec<&RunResult>>> = BTreeMap::new();
    for run in doc.runs.iter().filter(|r| r.pairing.is_some()) {
        let spec = &run.params.spec;
        let identity = crate::results::identity::RunIdentity::of(run);
        let threads = crate::results::metric::threads_phrase(identity.threads);
        let profiled = if spec.profile { ", profiled" } else { "" };
        let workload =
            spec.llm.as_ref().map(|w| format!(", {}", crate::results::metric::workload_label(w))).unwrap_or_default();
        // Sessions on other CPUs or under another memory limit are other settings, never pooled.
        let extras: String = identity.extras().iter().map(|e| format!(", {e}")).collect();
        let setting = format!("{}, {threads}, {}{profiled}{workload}{extras}", run.device.name, spec.load_mode);
        let session = run.pairing.as_ref().expect("filtered").session.clone();
        settings.entry(setting).or_default().entry(session).or_default().push(run);
    }
    let mut out = Vec::new();
    for (setting, sessions) in settings {
        let Some(first) = sessions.values().next().and_then(|rows| rows.first()) else { continue };
        let names = first.pairing.as_ref().expect("paired").models.clone();
        let design = if first.pairing.as_ref().is_some_and(|p| p.pair.is_some()) {
            Design::PairedProcesses
        } else {
            Design::PairedInProcess
        };
        for position in 1..names.len() {
            let per_session: Vec<Vec<f64>> =
                sessions.values().map(|rows| session_ratios(rows, position as u32)).filter(|r| !r.is_empty()).collect();
            let mut ratio = judge(&names[0], &names[position], &setting, &per_session, opts);
            ratio.design = design;
            let generation = first.llm.is_some();
            if generation {
                ratio.quantity = Quantity::DecodeTimePerToken;
            }
            out.push(ratio);
            let energy: Vec<Vec<f64>> = if design == Design::PairedInProcess {
                sessions
                    .values()
                    .map(|rows| session_energy_ratios(rows, position as u32))
                    .filter(|r| !r.is_empty())
                    .collect()
            } else {
                Vec::new()
            };
            if !energy.is_empty() {
                let mut ratio = judge(&names[0], &names[position], &setting, &energy, opts);
                let quantity = if generation { Quantity::EnergyPerGeneration } else { Quantity::EnergyPerForward };
                ratio.quantity = quantity;
                out.push(ratio);
            }
            if generation && design == Design::PairedInProcess {
                let per_session: Vec<Vec<f64>> = sessions
                    .values()
                    .map(|rows| session_ttft_ratios(rows, position as u32))
                    .filter(|r| !r.is_empty())
                    .collect();
                let mut ratio = judge(&names[0], &names[position], &setting, &per_session, opts);
                ratio.quantity = Quantity::TimeToFirstToken;
                out.push(ratio);
            }
        }
    }
    out
}

/// One ratio's verdict from its sessions' per-round (or per-pair) ratios.
pub fn judge(reference: &str, candidate: &str, setting: &str, sessions: &[Vec<f64>], opts: &Options) -> PairedRatio {
    let pairs = sessions.iter().map(Vec::len).sum();
    let mut result = PairedRatio {
        reference: reference.to_owned(),
        candidate: candidate.to_owned(),
        setting: setting.to_owned(),
        sessions: sessions.len(),
        pairs,
        design: Design::PairedInProcess,
        quantity: Quantity::Latency,
        ratio: f64::NAN,
        lower: f64::NAN,
        upper: f64::NAN,
        level: opts.bootstrap.level,
        threshold: opts.threshold,
        verdict: None,
    };
    if let Ok(runs) = Runs::new(sessions.iter().map(Vec::as_slice)) {
        if let Ok(ci) = median_ci(&opts.bootstrap, &runs, pairs) {
            result.ratio = ci.0;
            result.lower = ci.1;
            result.upper = ci.2;
            let ratio_ci =
                super::bootstrap::RatioCi { ratio: ci.0, lower: ci.1, upper: ci.2, level: opts.bootstrap.level };
            result.verdict = Some(Verdict::of(&ratio_ci, opts.threshold, true));
        }
    }
    result
}

/// (pooled median, lower, upper) of the per-round ratios, resampling sessions then rounds.
fn median_ci(boot: &Bootstrap, runs: &Runs, pairs: usize) -> Result<(f64, f64, f64), String> {
    if pairs < 6 {
        return Err(format!("{pairs} pairs: at least 6 are needed for an interval"));
    }
    boot.median(runs).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sessions(n: usize, pairs: usize, ratio: f64) -> Vec<Vec<f64>> {
        let mut rng = super::super::bootstrap::SplitMix64::new(7);
        (0..n)
            .map(|_| (0..pairs).map(|_| ratio * (1.0 + (rng.below(200) as f64 - 100.0) / 10_000.0)).collect())
            .collect()
    }

    #[test]
    fn a_tight_ten_percent_slowdown_is_regressed_and_a_over_a_is_not() {
        let opts = Options::default();
        let slow = judge("a", "b", "s", &sessions(3, 30, 1.10), &opts);
        assert_eq!(slow.verdict, Some(crate::verdict::Verdict::Regressed), "{slow:?}");
        assert!(slow.lower > 1.05 && slow.upper < 1.15);
        let same = judge("a", "a", "s", &sessions(3, 30, 1.0), &opts);
        assert_eq!(same.verdict, Some(crate::verdict::Verdict::NoChange), "{same:?}");
    }

    #[test]
    fn too_few_pairs_give_no_verdict() {
        let r = judge("a", "b", "s", &sessions(1, 4, 1.5), &Options::default());
        assert_eq!(r.verdict, None);
        // export::paired renders this row "no verdict" (its own test).
    }
}
