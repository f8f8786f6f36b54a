//! Change detection between two samples: a pure module over slices, no I/O.
//!
//! Method: percentile bootstrap of the ratio of pooled medians. Each resample redraws both sides hierarchically (runs
//! with replacement, then iterations within each run, see [`Runs`]) and records `median(cand*) / median(base*)`; the
//! interval is the pair of (1 − level)/2 quantiles of those ratios. Cost: O(R · (n + m)) with quickselect medians.
//! The RNG is SplitMix64 with a fixed seed, so the same inputs always give the same interval.
//!
//! A change is called only when the whole interval clears the noise threshold (criterion's rule): regressed when the
//! interval lies entirely beyond 1 + threshold in the bad direction, improved when entirely beyond 1 − threshold in
//! the good one. Otherwise the words still say what the interval shows ([`Verdict`]): no change beyond the threshold,
//! a change in a named direction not shown to exceed it, or no verdict yet.

use serde::Serialize;

use crate::stats::{quantile_sorted, StatsError};

/// Deterministic SplitMix64 (Steele, Lea & Flood 2014): tiny, fast, and good enough for resampling indices.
#[derive(Debug, Clone)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (Lemire's multiply-shift; the bias is below 2⁻³² for our n).
    pub fn below(&mut self, n: usize) -> usize {
        (((self.next_u64() >> 32) * n as u64) >> 32) as usize
    }
}

/// The raw samples of one side, grouped by run (runner process): at least one point, all finite and positive.
///
/// Processes differ more than iterations within a process (page placement, the core a process lands on), so the
/// resampling is hierarchical: runs are drawn with replacement, then iterations within each drawn run. A side with a
/// single run borrows the run-to-run variation of the other side when that one has several runs; with one run on
/// each side the interval only covers iteration noise ([`Runs::single`] says so).
#[derive(Debug, Clone)]
pub struct Runs<'a> {
    runs: Vec<&'a [f64]>,
}

impl<'a> Runs<'a> {
    pub fn new(runs: impl IntoIterator<Item = &'a [f64]>) -> Result<Self, BootstrapError> {
        let runs: Vec<&[f64]> = runs.into_iter().filter(|r| !r.is_empty()).collect();
        if runs.is_empty() {
            return Err(BootstrapError::TooFew { n: 0 });
        }
        let all = runs.iter().flat_map(|r| r.iter());
        if let Some((index, &value)) = all.enumerate().find(|(_, v)| !v.is_finite() || **v <= 0.0) {
            return Err(BootstrapError::Stats(StatsError::NotFinite { index, value }));
        }
        Ok(Self { runs })
    }

    pub fn single(&self) -> bool {
        self.runs.len() == 1
    }

    fn points(&self) -> usize {
        self.runs.iter().map(|r| r.len()).sum()
    }

    fn pooled_median(&self) -> f64 {
        median_in_place(&mut self.runs.concat())
    }

    /// Each run's median over the median of run medians: the multiplicative run effects.
    fn run_effects(&self) -> Vec<f64> {
        let medians: Vec<f64> = self.runs.iter().map(|r| median_in_place(&mut r.to_vec())).collect();
        let center = median_in_place(&mut medians.clone());
        medians.iter().map(|m| m / center).collect()
    }

    /// Median of one hierarchical resample, times a borrowed run effect when given.
    fn resample_median(&self, borrowed: &[f64], buf: &mut Vec<f64>, rng: &mut SplitMix64) -> f64 {
        buf.clear();
        let k = self.runs.len();
        for _ in 0..k {
            let run = if k == 1 { self.runs[0] } else { self.runs[rng.below(k)] };
            buf.extend((0..run.len()).map(|_| run[rng.below(run.len())]));
        }
        let m = median_in_place(buf);
        if borrowed.is_empty() {
            m
        } else {
            m * borrowed[rng.below(borrowed.len())]
        }
    }
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum BootstrapError {
    #[error("{} on a side: an interval needs at least 2 samples on each side, or several runs on one side", crate::units::plural(*n, "sample", "samples"))]
    TooFew { n: usize },
    #[error("{0} (values must be finite and positive)")]
    Stats(StatsError),
}

/// Settings of the resampling; [`Default`] is 95 % with 2000 resamples.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bootstrap {
    /// Confidence level in (0, 1).
    pub level: f64,
    pub resamples: usize,
    pub seed: u64,
}

impl Default for Bootstrap {
    fn default() -> Self {
        Self { level: 0.95, resamples: 2000, seed: 0x00e7_be7c }
    }
}

/// `cand / base` of the pooled medians with its bootstrap interval.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct RatioCi {
    pub ratio: f64,
    pub lower: f64,
    pub upper: f64,
    pub level: f64,
}

/// Median by quickselect (reorders `v`), O(n); the mean of the two middle points for even n, like stats' type 7.
pub fn median_in_place(v: &mut [f64]) -> f64 {
    let n = v.len();
    let mid = n / 2;
    let (_, &mut hi, _) = v.select_nth_unstable_by(mid, f64::total_cmp);
    if n % 2 == 1 {
        hi
    } else {
        let lo = v[..mid].iter().copied().fold(f64::NEG_INFINITY, f64::max);
        (lo + hi) / 2.0
    }
}

impl Bootstrap {
    /// Percentile interval of median(cand) / median(base), resampling runs then iterations.
    pub fn ratio_of_medians(&self, base: &Runs, cand: &Runs) -> Result<RatioCi, BootstrapError> {
        let (b_eff, c_eff) = match (base.single(), cand.single()) {
            (true, true) => {
                let n = base.points().min(cand.points());
                if n < 2 {
                    return Err(BootstrapError::TooFew { n });
                }
                (Vec::new(), Vec::new())
            }
            (true, false) => (cand.run_effects(), Vec::new()),
            (false, true) => (Vec::new(), base.run_effects()),
            (false, false) => (Vec::new(), Vec::new()),
        };
        let ratio = cand.pooled_median() / base.pooled_median();
        let mut rng = SplitMix64::new(self.seed);
        let (mut bb, mut cb) = (Vec::with_capacity(base.points()), Vec::with_capacity(cand.points()));
        let mut ratios: Vec<f64> = (0..self.resamples.max(1))
            .map(|_| {
                let b = base.resample_median(&b_eff, &mut bb, &mut rng);
                cand.resample_median(&c_eff, &mut cb, &mut rng) / b
            })
            .collect();
        ratios.sort_by(f64::total_cmp);
        let tail = (1.0 - self.level) / 2.0;
        Ok(RatioCi {
            ratio,
            lower: quantile_sorted(&ratios, tail),
            upper: quantile_sorted(&ratios, 1.0 - tail),
            level: self.level,
        })
    }
}

impl Bootstrap {
    /// (pooled median, lower, upper): percentile interval of the median of `runs`, resampling runs then points.
    pub fn median(&self, runs: &Runs) -> Result<(f64, f64, f64), BootstrapError> {
        if runs.points() < 2 {
            return Err(BootstrapError::TooFew { n: runs.points() });
        }
        let mut rng = SplitMix64::new(self.seed);
        let mut buf = Vec::with_capacity(runs.points());
        let mut medians: Vec<f64> =
            (0..self.resamples.max(1)).map(|_| runs.resample_median(&[], &mut buf, &mut rng)).collect();
        medians.sort_by(f64::total_cmp);
        let tail = (1.0 - self.level) / 2.0;
        Ok((runs.pooled_median(), quantile_sorted(&medians, tail), quantile_sorted(&medians, 1.0 - tail)))
    }
}

pub use crate::verdict::{Direction, Interval, Verdict};

impl From<&RatioCi> for Interval {
    fn from(ci: &RatioCi) -> Self {
        Interval { ratio: ci.ratio, lower: ci.lower, upper: ci.upper }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn noisy(n: usize, center: f64, seed: u64) -> Vec<f64> {
        let mut rng = SplitMix64::new(seed);
        (0..n).map(|_| center * (1.0 + (rng.below(1000) as f64 - 500.0) / 10_000.0)).collect()
    }

    fn ci_runs(base: &[Vec<f64>], cand: &[Vec<f64>]) -> RatioCi {
        let b = Runs::new(base.iter().map(|v| v.as_slice())).unwrap();
        let c = Runs::new(cand.iter().map(|v| v.as_slice())).unwrap();
        Bootstrap::default().ratio_of_medians(&b, &c).unwrap()
    }

    fn ci(base: &[f64], cand: &[f64]) -> RatioCi {
        ci_runs(&[base.to_vec()], &[cand.to_vec()])
    }

    #[test]
    fn median_in_place_matches_type_7() {
        assert_eq!(median_in_place(&mut [3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median_in_place(&mut [4.0, 1.0, 3.0, 2.0]), 2.5);
    }

    #[test]
    fn below_stays_in_range_and_covers_it() {
        let mut rng = SplitMix64::new(1);
        let mut seen = [false; 7];
        for _ in 0..1000 {
            seen[rng.below(7)] = true;
        }
        assert!(seen.iter().all(|&s| s));
    }

    #[test]
    fn identical_samples_give_ratio_one_and_no_change() {
        let a = noisy(30, 100.0, 7);
        let c = ci(&a, &a);
        assert_eq!(c.ratio, 1.0);
        assert!(c.lower <= 1.0 && c.upper >= 1.0);
        assert_eq!(Verdict::of(&c, 0.05, true), Verdict::NoChange);
    }

    #[test]
    fn a_twenty_percent_slowdown_is_a_regression_and_a_speedup_an_improvement() {
        let (base, slow, fast) = (noisy(30, 100.0, 1), noisy(30, 120.0, 2), noisy(30, 80.0, 3));
        let c = ci(&base, &slow);
        assert!(c.lower > 1.1 && c.upper < 1.3, "{c:?}");
        assert_eq!(Verdict::of(&c, 0.05, true), Verdict::Regressed);
        assert_eq!(Verdict::of(&ci(&base, &fast), 0.05, true), Verdict::Improved);
        // For throughput the same ratios mean the opposite.
        assert_eq!(Verdict::of(&c, 0.05, false), Verdict::Improved);
    }

    #[test]
    fn a_change_inside_the_threshold_is_not_called() {
        let c = ci(&noisy(200, 100.0, 4), &noisy(200, 103.0, 5));
        assert!(c.lower > 1.0, "the 3 % shift is real: {c:?}");
        assert_eq!(Verdict::of(&c, 0.05, true), Verdict::NoChange);
    }

    #[test]
    fn the_interval_is_deterministic() {
        let (a, b) = (noisy(20, 10.0, 8), noisy(20, 11.0, 9));
        assert_eq!(ci(&a, &b), ci(&a, &b));
    }

    #[test]
    fn process_to_process_shifts_widen_the_interval() {
        // Three processes per side, bimodal like this 2-core VM (some processes land ~40 % slower).
        let base = vec![noisy(20, 100.0, 1), noisy(20, 140.0, 2), noisy(20, 100.0, 3)];
        let cand = vec![noisy(20, 140.0, 4), noisy(20, 140.0, 5), noisy(20, 100.0, 6)];
        let c = ci_runs(&base, &cand);
        assert!(c.ratio > 1.3, "pooled medians differ: {c:?}");
        assert_eq!(Verdict::of(&c, 0.05, true), Verdict::Inconclusive, "{c:?}");
        // The same pooled points treated as one process each would be called a regression.
        let flat = |v: &[Vec<f64>]| v.concat();
        assert_eq!(Verdict::of(&ci(&flat(&base), &flat(&cand)), 0.05, true), Verdict::Regressed);
    }

    #[test]
    fn a_single_run_borrows_the_run_to_run_spread_of_the_other_side() {
        let base = vec![noisy(20, 100.0, 1), noisy(20, 130.0, 2), noisy(20, 100.0, 3), noisy(20, 125.0, 4)];
        let near = ci_runs(&base, &[noisy(20, 128.0, 5)]);
        assert!(matches!(Verdict::of(&near, 0.05, true), Verdict::Inconclusive | Verdict::Worse), "{near:?}");
        let far = ci_runs(&base, &[noisy(20, 400.0, 6)]);
        assert_eq!(Verdict::of(&far, 0.05, true), Verdict::Regressed, "{far:?}");
        // One value per run (first forward): judged from the other side's runs.
        let firsts = [vec![10.0], vec![11.0], vec![10.5]];
        assert_eq!(Verdict::of(&ci_runs(&firsts, &[vec![30.0]]), 0.05, true), Verdict::Regressed);
    }

    fn interval(ratio: f64, lower: f64, upper: f64) -> RatioCi {
        RatioCi { ratio, lower, upper, level: 0.95 }
    }

    #[test]
    fn the_words_never_deny_a_difference_the_interval_shows() {
        let words = |r, l, u| {
            let ci = interval(r, l, u);
            Verdict::of(&ci, 0.05, true).words(&ci, 0.05, Direction::Time, "raise --iters")
        };
        // int8 against bf16 on this kind of machine: tight, real, straddling the threshold.
        assert_eq!(words(1.050, 1.048, 1.052), "slower by 5.0% (4.8–5.2%): not shown to exceed ±5%");
        assert_eq!(words(0.950, 0.948, 0.952), "faster by 5.0% (4.8–5.2%): not shown to exceed ±5%");
        assert_eq!(words(1.10, 1.08, 1.12), "REGRESSED: slower by 10.0% (8.0–12.0%)");
        assert_eq!(words(0.90, 0.88, 0.92), "improved: faster by 10.0% (8.0–12.0%)");
        assert_eq!(words(1.00, 0.99, 1.01), "no change beyond ±5%");
        assert_eq!(words(1.02, 1.01, 1.03), "no change beyond ±5% (slower by 2.0% (1.0–3.0%))");
        assert_eq!(words(1.01, 0.97, 1.06), "no verdict: -3.0% … +6.0% spans both no change and ±5%; raise --iters");
        // A rate: higher is better.
        let ci = interval(1.06, 1.055, 1.065);
        assert_eq!(Verdict::of(&ci, 0.05, false), Verdict::Improved);
        assert_eq!(
            Verdict::of(&ci, 0.05, false).words(&ci, 0.05, Direction::Rate, ""),
            "improved: higher by 6.0% (5.5–6.5%)"
        );
        let ci = interval(0.96, 0.94, 0.98);
        assert_eq!(Verdict::of(&ci, 0.05, false), Verdict::Worse);
        for v in [
            Verdict::Improved,
            Verdict::Regressed,
            Verdict::NoChange,
            Verdict::Better,
            Verdict::Worse,
            Verdict::Inconclusive,
        ] {
            assert_eq!(serde_json::from_value::<Verdict>(v.name().into()).unwrap(), v);
            assert!(!v.words(&ci, 0.05, Direction::Time, "").contains("significant"));
        }
    }

    #[test]
    fn too_few_or_bad_points_are_refused() {
        let one = [1.0];
        let r = Runs::new([&one[..]]).unwrap();
        assert_eq!(Bootstrap::default().ratio_of_medians(&r, &r).unwrap_err(), BootstrapError::TooFew { n: 1 });
        assert!(matches!(Runs::new([&[1.0, f64::NAN][..]]), Err(BootstrapError::Stats(_))));
        assert!(matches!(Runs::new([&[1.0, 0.0][..]]), Err(BootstrapError::Stats(_))));
        assert!(matches!(Runs::new([&[][..]]), Err(BootstrapError::TooFew { n: 0 })));
    }
}
