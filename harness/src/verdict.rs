//! Verdict words: what an interval of a ratio (candidate ÷ reference) says against a noise threshold, decided and
//! worded in one place for every printer (compare, history check, reports, the dashboard). Below both `analysis`
//! (which computes the intervals) and `export` (which renders them).

use serde::Serialize;

/// A ratio with its interval (the bounds of a bootstrap or order-statistic interval).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Interval {
    pub ratio: f64,
    pub lower: f64,
    pub upper: f64,
}

/// What an interval of cand/base says against a threshold (a fraction: 0.05 = ±5 %). Six cases, so that no wording
/// ever denies a difference the interval shows:
/// - [`Improved`](Verdict::Improved) / [`Regressed`](Verdict::Regressed): the whole interval is past the threshold;
/// - [`NoChange`](Verdict::NoChange): the whole interval is inside ±threshold (any difference is smaller than it);
/// - [`Better`](Verdict::Better) / [`Worse`](Verdict::Worse): the interval excludes 1.0 but reaches past the
///   threshold on one side only: a real difference, not shown to exceed the threshold;
/// - [`Inconclusive`](Verdict::Inconclusive): the interval spans both 1.0 and a threshold: more samples settle it.
///
/// Only `Regressed` fails a CI job (exit 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Improved,
    Regressed,
    NoChange,
    Better,
    Worse,
    Inconclusive,
}

/// How to name the direction of a change of a quantity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// A duration, smaller is better: "faster" / "slower".
    Time,
    /// Work per second, larger is better: "higher" / "lower" (throughput).
    Rate,
    /// Anything else (bytes, joules), smaller is better: "smaller" / "larger".
    Amount,
}

impl Direction {
    pub fn smaller_is_better(self) -> bool {
        !matches!(self, Direction::Rate)
    }

    /// The word for a ratio above 1.0 and the one for below.
    fn words(self) -> (&'static str, &'static str) {
        match self {
            Direction::Time => ("slower", "faster"),
            Direction::Rate => ("higher", "lower"),
            Direction::Amount => ("larger", "smaller"),
        }
    }
}

impl Verdict {
    /// The call an interval of cand/base makes against `threshold` (a fraction).
    pub fn of(ci: impl Into<Interval>, threshold: f64, smaller_is_better: bool) -> Self {
        let ci = ci.into();
        let (up, down) = if smaller_is_better {
            (Verdict::Regressed, Verdict::Improved)
        } else {
            (Verdict::Improved, Verdict::Regressed)
        };
        let (worse_up, better_down) =
            if smaller_is_better { (Verdict::Worse, Verdict::Better) } else { (Verdict::Better, Verdict::Worse) };
        if ci.lower > 1.0 + threshold {
            up
        } else if ci.upper < 1.0 - threshold {
            down
        } else if ci.lower >= 1.0 - threshold && ci.upper <= 1.0 + threshold {
            Verdict::NoChange
        } else if ci.lower > 1.0 {
            worse_up
        } else if ci.upper < 1.0 {
            better_down
        } else {
            Verdict::Inconclusive
        }
    }

    /// The schema's name (`results.json`, JSON output).
    pub fn name(self) -> &'static str {
        match self {
            Verdict::Improved => "improved",
            Verdict::Regressed => "regressed",
            Verdict::NoChange => "no_change",
            Verdict::Better => "better",
            Verdict::Worse => "worse",
            Verdict::Inconclusive => "inconclusive",
        }
    }

    /// The words every printer shows for this call (compare, history check, reports, the dashboard): the call, the
    /// direction and size of the change with its interval, and, when the interval cannot decide, what would settle
    /// it (`settle`, e.g. "raise --iters or use --until-ci").
    pub fn words(self, ci: impl Into<Interval>, threshold: f64, direction: Direction, settle: &str) -> String {
        let ci = ci.into();
        let t = threshold * 100.0;
        let (above, below) = direction.words();
        let pct = |r: f64| (r - 1.0).abs() * 100.0;
        // "slower by 5.0 % (4.8–5.2 %)": the interval's bounds in the same direction, nearer one first.
        let sized = || {
            let (word, near, far) =
                if ci.ratio >= 1.0 { (above, ci.lower, ci.upper) } else { (below, ci.upper, ci.lower) };
            format!("{word} by {:.1}% ({:.1}–{:.1}%)", pct(ci.ratio), pct(near), pct(far))
        };
        match self {
            Verdict::Regressed => format!("REGRESSED: {}", sized()),
            Verdict::Improved => format!("improved: {}", sized()),
            Verdict::NoChange if ci.lower > 1.0 || ci.upper < 1.0 => format!("no change beyond ±{t:.0}% ({})", sized()),
            Verdict::NoChange => format!("no change beyond ±{t:.0}%"),
            Verdict::Better | Verdict::Worse => format!("{}: not shown to exceed ±{t:.0}%", sized()),
            Verdict::Inconclusive => {
                let settle = if settle.is_empty() { String::new() } else { format!("; {settle}") };
                format!(
                    "no verdict: {:+.1}% … {:+.1}% spans both no change and ±{t:.0}%{settle}",
                    (ci.lower - 1.0) * 100.0,
                    (ci.upper - 1.0) * 100.0
                )
            }
        }
    }
}

/// The design a comparison's ratios came from, named in every comparison's output: its [`label`](Design::label)
/// is what `PairedRatio.design` records in results.json (serde uses the same words).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default, Serialize, serde::Deserialize)]
pub enum Design {
    /// Several models in one runner process, iterations alternating (ABBA…).
    #[default]
    #[serde(rename = "paired in-process")]
    PairedInProcess,
    /// One fresh process per model, alternating A B B A …; neighbours in time are compared (models that cannot
    /// share a process: different runners or ExecuTorch builds, or too big to load together).
    #[serde(rename = "paired processes")]
    PairedProcesses,
    /// Separate processes per side.
    #[serde(rename = "unpaired")]
    Unpaired,
}

impl Design {
    pub fn label(self) -> &'static str {
        match self {
            Design::PairedInProcess => "paired in-process",
            Design::PairedProcesses => "paired processes",
            Design::Unpaired => "unpaired",
        }
    }

    /// What would settle a paired ratio of this design whose interval cannot decide. (Unpaired verdicts have their
    /// own words in `analysis::compare`; no paired ratio records `unpaired`, and it reads as in-process here, as the
    /// paired table always read any label but `paired processes`.)
    pub fn settle(self) -> &'static str {
        match self {
            Design::PairedProcesses => "more pairs would settle it (--until-ci, or a longer --max-time)",
            Design::PairedInProcess | Design::Unpaired => {
                "more rounds would settle it (leave out --iters to sample until ±2 %, or raise it)"
            }
        }
    }

    /// How the ratio and its interval are made, for the line under a table of paired ratios (`unpaired`: as in
    /// [`Design::settle`]).
    pub fn method(self) -> &'static str {
        match self {
            Design::PairedProcesses => "paired processes (one fresh process per model, alternating A B B A …; ratio = median over neighbour pairs of their medians' ratio, interval resamples sessions then pairs)",
            Design::PairedInProcess | Design::Unpaired => "paired in-process (models alternate round by round in one runner process; ratio = median of per-round ratios, interval resamples sessions then rounds)",
        }
    }
}

impl std::fmt::Display for Design {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.label())
    }
}

/// What a paired ratio is of: its [`label`](Quantity::label) is what `PairedRatio.quantity` records (serde uses
/// the same words).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, serde::Deserialize)]
pub enum Quantity {
    /// One forward's latency.
    #[default]
    #[serde(rename = "latency")]
    Latency,
    /// A generation run's mean decode step.
    #[serde(rename = "decode time per token")]
    DecodeTimePerToken,
    #[serde(rename = "time to first token")]
    TimeToFirstToken,
    /// Joules per forward (`--energy`).
    #[serde(rename = "energy per forward")]
    EnergyPerForward,
    /// Joules per generation (`--energy` on a generation run).
    #[serde(rename = "energy per generation")]
    EnergyPerGeneration,
}

impl Quantity {
    pub const ALL: [Quantity; 5] = [
        Quantity::Latency,
        Quantity::DecodeTimePerToken,
        Quantity::TimeToFirstToken,
        Quantity::EnergyPerForward,
        Quantity::EnergyPerGeneration,
    ];

    pub fn label(self) -> &'static str {
        match self {
            Quantity::Latency => "latency",
            Quantity::DecodeTimePerToken => "decode time per token",
            Quantity::TimeToFirstToken => "time to first token",
            Quantity::EnergyPerForward => "energy per forward",
            Quantity::EnergyPerGeneration => "energy per generation",
        }
    }

    /// How the words name a change of it: energies are amounts, everything else a time.
    pub fn direction(self) -> Direction {
        match self {
            Quantity::EnergyPerForward | Quantity::EnergyPerGeneration => Direction::Amount,
            Quantity::Latency | Quantity::DecodeTimePerToken | Quantity::TimeToFirstToken => Direction::Time,
        }
    }
}

impl std::fmt::Display for Quantity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.label())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn designs_and_quantities_read_back_their_recorded_words() {
        for d in [Design::PairedInProcess, Design::PairedProcesses, Design::Unpaired] {
            // Documents hold the label: it reads back as the design.
            assert_eq!(serde_json::from_value::<Design>(d.label().into()).unwrap(), d);
            assert_eq!(serde_json::to_value(d).unwrap(), d.label());
            assert_eq!(d.to_string(), d.label());
        }
        for q in Quantity::ALL {
            assert_eq!(serde_json::from_value::<Quantity>(q.label().into()).unwrap(), q);
            assert_eq!(serde_json::to_value(q).unwrap(), q.label());
        }
        assert_eq!(Quantity::EnergyPerGeneration.direction(), Direction::Amount);
        assert_eq!(Quantity::TimeToFirstToken.direction(), Direction::Time);
        assert!(serde_json::from_value::<Design>("paired".into()).is_err());
    }
}
