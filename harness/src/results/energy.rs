//! Energy figures of a run (`--energy`): the runner's record (source, raw samples, windows) and what it gives —
//! average watts gross and net of the idle baseline, joules per forward, joules per prefill and decode token —
//! or, when the record was refused or its source vanished, no figure and the reason.

use serde::{Deserialize, Serialize};

use etbench_protocol::energy::{self, EnergyWindow, WindowKind};
use etbench_protocol::EnergyRecord;

/// The record of the run's model (a paired session's record is split by model) and its figures.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EnergyResult {
    pub record: EnergyRecord,
    /// `None` when refused, lost or no window was measured (`notes` says why).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary: Option<EnergySummary>,
    /// Why there is no figure, or why it is coarse (they become the run's warnings).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
    /// What a reader must see next to the figure: its scope, a missing baseline.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EnergySummary {
    /// Seconds inside the measured windows (the timed phase; prefill and decode of a generation run).
    pub seconds: f64,
    pub joules: f64,
    /// Average power over the measured windows.
    pub watts: f64,
    /// Average power of the idle baseline before loading.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idle_watts: Option<f64>,
    /// `watts − idle_watts`: what running the model added.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub net_watts: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub joules_per_forward: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub net_joules_per_forward: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefill_joules_per_token: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decode_joules_per_token: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub net_decode_joules_per_token: Option<f64>,
    /// Joules per unit (forward or generation) of each round, for paired ratios: `(round, joules)`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rounds: Vec<(u32, f64)>,
}

impl EnergyResult {
    /// The part of a process's record about `model`, with its figures.
    pub fn of_model(record: &EnergyRecord, model: u32) -> Self {
        let mut record = record.clone();
        record.windows.retain(|w| w.model == model || w.phase == WindowKind::Idle);
        let (summary, warnings, notes) = summarise(&record);
        Self { record, summary, warnings, notes }
    }

    pub fn source(&self) -> &str {
        &self.record.source.name
    }

    /// Power over time for charts: (seconds since the runner started, watts). Counters are differentiated
    /// between samples.
    pub fn power_series(&self) -> Vec<(f64, f64)> {
        let s = &self.record.samples;
        if !self.record.source.reading.is_counter() {
            return s.iter().map(|p| (p.t_ns as f64 / 1e9, p.value)).collect();
        }
        s.windows(2)
            .filter(|w| w[1].t_ns > w[0].t_ns)
            .map(|w| (w[1].t_ns as f64 / 1e9, (w[1].value - w[0].value) / ((w[1].t_ns - w[0].t_ns) as f64 / 1e9)))
            .collect()
    }
}

/// Figures from a record, or none and why; then the warnings and the notes.
pub fn summarise(record: &EnergyRecord) -> (Option<EnergySummary>, Vec<String>, Vec<String>) {
    let mut warnings = Vec::new();
    let mut notes = Vec::new();
    if let Some(why) = &record.refused {
        warnings.push(format!("no energy figure: {why}"));
        return (None, warnings, notes);
    }
    if let Some(why) = &record.lost {
        warnings.push(format!("no energy figure: {why}"));
        return (None, warnings, notes);
    }
    let counter = record.source.reading.is_counter();
    let energy_of = |w: &EnergyWindow| energy::joules(&record.samples, counter, w.start_ns, w.end_ns);
    let of_kind = |k: WindowKind| record.windows.iter().filter(move |w| w.phase == k);
    let total = |k: WindowKind| -> Option<(f64, f64, u32)> {
        let windows: Vec<&EnergyWindow> = of_kind(k).collect();
        if windows.is_empty() {
            return None;
        }
        let joules = windows.iter().map(|w| energy_of(w)).sum::<Option<f64>>()?;
        Some((joules, windows.iter().map(|w| w.seconds()).sum(), windows.iter().map(|w| w.units).sum()))
    };
    let idle_watts = total(WindowKind::Idle).filter(|(_, s, _)| *s > 0.0).map(|(j, s, _)| j / s);
    let timed = total(WindowKind::Timed);
    let (prefill, decode) = (total(WindowKind::Prefill), total(WindowKind::Decode));
    let parts: Vec<(f64, f64, u32)> = [timed, prefill, decode].into_iter().flatten().collect();
    if parts.is_empty() {
        warnings.push("no energy figure: no timed window was measured".into());
        return (None, warnings, notes);
    }
    let (joules, seconds) = parts.iter().fold((0.0, 0.0), |(j, s), p| (j + p.0, s + p.1));
    if seconds <= 0.0 {
        warnings.push("no energy figure: the measured windows have no duration".into());
        return (None, warnings, notes);
    }
    let per = |part: Option<(f64, f64, u32)>, net: bool| {
        part.filter(|p| p.2 > 0).and_then(|(j, s, n)| match (net, idle_watts) {
            (false, _) => Some(j / n as f64),
            (true, Some(idle)) => Some((j - idle * s) / n as f64),
            (true, None) => None,
        })
    };
    let mut rounds: Vec<(u32, f64)> = Vec::new();
    for w in record.windows.iter().filter(|w| w.phase != WindowKind::Idle) {
        if let (Some(round), Some(j)) = (w.round, energy_of(w)) {
            match rounds.iter_mut().find(|r| r.0 == round) {
                Some(r) => r.1 += j,
                None => rounds.push((round, j)),
            }
        }
    }
    resolution_notes(record, seconds, &mut warnings);
    let watts = joules / seconds;
    let summary = EnergySummary {
        seconds,
        joules,
        watts,
        idle_watts,
        net_watts: idle_watts.map(|i| watts - i),
        joules_per_forward: per(timed, false),
        net_joules_per_forward: per(timed, true),
        prefill_joules_per_token: per(prefill, false),
        decode_joules_per_token: per(decode, false),
        net_decode_joules_per_token: per(decode, true),
        rounds,
    };
    if !record.source.whole_device() {
        notes.push(format!("scope: {} only, not the whole device", record.source.scope));
    }
    if idle_watts.is_none() {
        notes.push("no idle baseline (--energy-idle 0): no net figures".into());
    }
    (Some(summary), warnings, notes)
}

/// Warns when the windows are shorter than what the source can resolve: two sampling intervals for a power
/// source, the counter's update period for a counter.
fn resolution_notes(record: &EnergyRecord, seconds: f64, notes: &mut Vec<String>) {
    let interval_s = record.interval_ms as f64 / 1000.0;
    if record.source.reading.is_counter() {
        match energy::counter_period_ns(&record.samples) {
            None => notes.push("the counter changed less than twice during the run: the window is shorter than its resolution; run longer (--iters)".into()),
            Some(p) if seconds < p as f64 / 1e9 * 2.0 => notes.push(format!(
                "the measured windows ({:.0} ms) are shorter than two of the counter's updates ({:.0} ms each): the figure is coarse; run longer (--iters)",
                seconds * 1000.0,
                p as f64 / 1e6
            )),
            _ => {}
        }
    } else if seconds < 2.0 * interval_s {
        notes.push(format!(
            "the measured windows ({:.0} ms) are shorter than two sampling intervals ({:.0} ms): the figure is interpolated; run longer (--iters)",
            seconds * 1000.0,
            record.interval_ms
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use etbench_protocol::energy::{EnergySample, Reading};
    use etbench_protocol::EnergySource;

    fn record(watts: impl Fn(u64) -> f64, windows: Vec<EnergyWindow>) -> EnergyRecord {
        EnergyRecord {
            source: EnergySource {
                name: "battery".into(),
                scope: "battery: whole device".into(),
                reading: Reading::Power { path: "x".into(), scale_w: 1e-6 },
                units: "µW → W".into(),
                refused: None,
            },
            interval_ms: 50,
            samples: (0..100)
                .map(|i| EnergySample { t_ns: i * 50_000_000, value: watts(i * 50), raw: vec![] })
                .collect(),
            windows,
            refused: None,
            lost: None,
        }
    }

    fn w(phase: WindowKind, round: Option<u32>, from_ms: u64, to_ms: u64, units: u32) -> EnergyWindow {
        EnergyWindow { model: 0, phase, round, start_ns: from_ms * 1_000_000, end_ns: to_ms * 1_000_000, units }
    }

    #[test]
    fn idle_and_load_give_gross_and_net_figures() {
        // 1 W idle for the first second, 3 W from 1.5 s on.
        let r = record(
            |ms| if ms < 1500 { 1.0 } else { 3.0 },
            vec![w(WindowKind::Idle, None, 0, 1000, 0), w(WindowKind::Timed, None, 2000, 4000, 10)],
        );
        let (s, warnings, notes) = summarise(&r);
        let s = s.unwrap();
        assert!(warnings.is_empty() && notes.is_empty(), "{warnings:?} {notes:?}");
        assert!((s.watts - 3.0).abs() < 1e-9 && (s.idle_watts.unwrap() - 1.0).abs() < 1e-9);
        assert!(
            (s.joules_per_forward.unwrap() - 0.6).abs() < 1e-9
                && (s.net_joules_per_forward.unwrap() - 0.4).abs() < 1e-9
        );
    }

    #[test]
    fn refusals_and_short_windows_say_so() {
        let mut r = record(|_| 2.0, vec![w(WindowKind::Timed, None, 100, 130, 1)]);
        let (s, notes, _) = summarise(&r);
        assert!(s.is_some() && notes.iter().any(|n| n.contains("shorter than two sampling intervals")), "{notes:?}");
        r.refused = Some("battery is Charging".into());
        let (s, notes, _) = summarise(&r);
        assert!(s.is_none() && notes[0].contains("Charging"));
    }

    #[test]
    fn generation_windows_give_per_token_figures_and_rounds() {
        let r = record(
            |_| 2.0,
            vec![
                w(WindowKind::Prefill, Some(0), 0, 500, 100),
                w(WindowKind::Decode, Some(0), 500, 2500, 20),
                w(WindowKind::Prefill, Some(1), 3000, 3500, 100),
                w(WindowKind::Decode, Some(1), 3500, 4500, 20),
            ],
        );
        let s = summarise(&r).0.unwrap();
        assert!((s.prefill_joules_per_token.unwrap() - 0.01).abs() < 1e-9);
        assert!((s.decode_joules_per_token.unwrap() - 0.15).abs() < 1e-9);
        assert_eq!(s.rounds.len(), 2);
        assert!((s.rounds[0].1 - 5.0).abs() < 1e-9 && (s.rounds[1].1 - 3.0).abs() < 1e-9);
        assert!(s.joules_per_forward.is_none());
    }
}
