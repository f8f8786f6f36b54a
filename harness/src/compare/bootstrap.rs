//! Change detection between two samples: a pure module over slices, no I/O.
//!
//! Method: percentile bootstrap of the ratio of medians. Each resample draws `base.len()` points from `base` and
//! `cand.len()` points from `cand` with replacement and records `median(cand*) / median(base*)`; the confidence
//! interval is the pair of (1 − level)/2 quantiles of those ratios. Cost: O(R · (n + m)) with quickselect medians.
//! The RNG is SplitMix64 with a fixed seed, so the same inputs always give the same interval.
//!
//! A change is called only when the whole interval clears the noise threshold (criterion's rule): regressed when the
//! interval lies entirely beyond 1 + threshold in the bad direction, improved when entirely beyond 1 − threshold in
//! the good one, and "no significant change" otherwise.

use serde::Serialize;

use crate::stats::StatsError;

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
        ((self.next_u64() >> 32) * n as u64 >> 32) as usize
    }
}

/// A sample that can be resampled: at least two finite points.
#[derive(Debug, Clone)]
pub struct Resamplable<'a>(&'a [f64]);

impl<'a> Resamplable<'a> {
    pub fn new(values: &'a [f64]) -> Result<Self, BootstrapError> {
        if values.len() < 2 {
            return Err(BootstrapError::TooFew { n: values.len() });
        }
        if let Some((index, &value)) = values.iter().enumerate().find(|(_, v)| !v.is_finite() || **v <= 0.0) {
            return Err(BootstrapError::Stats(StatsError::NotFinite { index, value }));
        }
        Ok(Self(values))
    }
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum BootstrapError {
    #[error("{n} sample(s): a confidence interval needs at least 2 on each side")]
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

/// `cand / base` of the medians with its bootstrap interval.
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

fn resample_median(src: &[f64], buf: &mut Vec<f64>, rng: &mut SplitMix64) -> f64 {
    buf.clear();
    buf.extend((0..src.len()).map(|_| src[rng.below(src.len())]));
    median_in_place(buf)
}

impl Bootstrap {
    /// Percentile interval of median(cand) / median(base).
    pub fn ratio_of_medians(&self, base: &Resamplable, cand: &Resamplable) -> RatioCi {
        let (base, cand) = (base.0, cand.0);
        let ratio = median_in_place(&mut cand.to_vec()) / median_in_place(&mut base.to_vec());
        let mut rng = SplitMix64::new(self.seed);
        let (mut bb, mut cb) = (Vec::with_capacity(base.len()), Vec::with_capacity(cand.len()));
        let mut ratios: Vec<f64> = (0..self.resamples.max(1))
            .map(|_| {
                let b = resample_median(base, &mut bb, &mut rng);
                resample_median(cand, &mut cb, &mut rng) / b
            })
            .collect();
        ratios.sort_by(f64::total_cmp);
        let tail = (1.0 - self.level) / 2.0;
        RatioCi { ratio, lower: quantile_sorted(&ratios, tail), upper: quantile_sorted(&ratios, 1.0 - tail), level: self.level }
    }
}

fn quantile_sorted(sorted: &[f64], q: f64) -> f64 {
    let pos = q.clamp(0.0, 1.0) * (sorted.len() - 1) as f64;
    let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
    sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo as f64)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Improved,
    Regressed,
    NoChange,
}

impl Verdict {
    /// Three-way call from an interval of cand/base; `threshold` is a fraction (0.05 = 5 %).
    pub fn of(ci: &RatioCi, threshold: f64, smaller_is_better: bool) -> Self {
        let (above, below) = (ci.lower > 1.0 + threshold, ci.upper < 1.0 - threshold);
        match (above, below, smaller_is_better) {
            (true, _, true) | (_, true, false) => Verdict::Regressed,
            (true, _, false) | (_, true, true) => Verdict::Improved,
            _ => Verdict::NoChange,
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Verdict::Improved => "improved",
            Verdict::Regressed => "REGRESSED",
            Verdict::NoChange => "no significant change",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn noisy(n: usize, center: f64, seed: u64) -> Vec<f64> {
        let mut rng = SplitMix64::new(seed);
        (0..n).map(|_| center * (1.0 + (rng.below(1000) as f64 - 500.0) / 10_000.0)).collect()
    }

    fn ci(base: &[f64], cand: &[f64]) -> RatioCi {
        Bootstrap::default().ratio_of_medians(&Resamplable::new(base).unwrap(), &Resamplable::new(cand).unwrap())
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
    fn the_interval_widens_with_noise() {
        let narrow = ci(&noisy(30, 100.0, 1), &noisy(30, 100.0, 2));
        let wide_base: Vec<f64> = noisy(30, 100.0, 1).iter().enumerate().map(|(i, v)| v * (1.0 + (i % 5) as f64 * 0.1)).collect();
        let wide = ci(&wide_base, &noisy(30, 100.0, 2));
        assert!(wide.upper - wide.lower > narrow.upper - narrow.lower);
    }

    #[test]
    fn too_few_or_bad_points_are_refused() {
        assert_eq!(Resamplable::new(&[1.0]).unwrap_err(), BootstrapError::TooFew { n: 1 });
        assert!(matches!(Resamplable::new(&[1.0, f64::NAN]), Err(BootstrapError::Stats(_))));
        assert!(matches!(Resamplable::new(&[1.0, 0.0]), Err(BootstrapError::Stats(_))));
    }
}
