//! Descriptive statistics over latency samples: a pure module over slices, no I/O.
//!
//! Quantiles use linear interpolation between order statistics (Hyndman–Fan type 7, numpy's default), O(n log n)
//! for the sort. Outliers are labelled with Tukey's fences (1.5 × IQR mild, 3 × IQR severe) and kept: every
//! statistic is computed over all points; the 10%-trimmed mean is the robust alternative to the mean.

use serde::{Deserialize, Serialize};

/// The q-quantile (q clamped to 0…1) of values sorted ascending, by linear interpolation between order statistics
/// (type 7). Panics on an empty slice.
pub fn quantile_sorted(sorted: &[f64], q: f64) -> f64 {
    let pos = q.clamp(0.0, 1.0) * (sorted.len() - 1) as f64;
    let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
    sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo as f64)
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum StatsError {
    #[error("no samples to summarise")]
    Empty,
    #[error("sample {index} is not a finite number ({value})")]
    NotFinite { index: usize, value: f64 },
}

/// A non-empty set of finite values, kept in measurement order and sorted.
#[derive(Debug, Clone)]
pub struct Sample {
    values: Vec<f64>,
    sorted: Vec<f64>,
}

impl Sample {
    pub fn new(values: &[f64]) -> Result<Self, StatsError> {
        if values.is_empty() {
            return Err(StatsError::Empty);
        }
        if let Some((index, &value)) = values.iter().enumerate().find(|(_, v)| !v.is_finite()) {
            return Err(StatsError::NotFinite { index, value });
        }
        let mut sorted = values.to_vec();
        sorted.sort_by(f64::total_cmp);
        Ok(Self { values: values.to_vec(), sorted })
    }

    pub fn from_ns(ns: &[u64]) -> Result<Self, StatsError> {
        Self::new(&ns.iter().map(|&v| v as f64).collect::<Vec<_>>())
    }

    pub fn len(&self) -> usize {
        self.values.len()
    }

    pub fn is_empty(&self) -> bool {
        false
    }

    /// The q-quantile (0 ≤ q ≤ 1) by linear interpolation, O(1) on the sorted copy.
    pub fn quantile(&self, q: f64) -> f64 {
        quantile_sorted(&self.sorted, q)
    }

    pub fn mean(&self) -> f64 {
        self.values.iter().sum::<f64>() / self.values.len() as f64
    }

    /// Sample standard deviation (n − 1); `None` for a single point.
    pub fn stddev(&self) -> Option<f64> {
        let n = self.values.len();
        (n >= 2).then(|| {
            let mean = self.mean();
            (self.values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1) as f64).sqrt()
        })
    }

    /// Mean of the values left after dropping `fraction` of the points at each end (rounded down).
    pub fn trimmed_mean(&self, fraction: f64) -> f64 {
        let cut = ((self.sorted.len() as f64) * fraction.clamp(0.0, 0.49)).floor() as usize;
        let kept = &self.sorted[cut..self.sorted.len() - cut];
        kept.iter().sum::<f64>() / kept.len() as f64
    }

    /// Points outside Tukey's fences, in measurement order.
    pub fn outliers(&self) -> Vec<Outlier> {
        let (q1, q3) = (self.quantile(0.25), self.quantile(0.75));
        let iqr = q3 - q1;
        let classify = |v: f64| {
            if v < q1 - 3.0 * iqr {
                Some(OutlierClass::LowSevere)
            } else if v < q1 - 1.5 * iqr {
                Some(OutlierClass::LowMild)
            } else if v > q3 + 3.0 * iqr {
                Some(OutlierClass::HighSevere)
            } else if v > q3 + 1.5 * iqr {
                Some(OutlierClass::HighMild)
            } else {
                None
            }
        };
        self.values
            .iter()
            .enumerate()
            .filter_map(|(index, &value)| classify(value).map(|class| Outlier { index, value, class }))
            .collect()
    }

    pub fn summary(&self) -> Summary {
        let mean = self.mean();
        let stddev = self.stddev();
        Summary {
            n: self.len(),
            median: self.quantile(0.5),
            p10: self.quantile(0.10),
            p90: self.quantile(0.90),
            p99: self.quantile(0.99),
            min: self.sorted[0],
            max: self.sorted[self.sorted.len() - 1],
            mean,
            stddev,
            cv: stddev.filter(|_| mean > 0.0).map(|s| s / mean),
            trimmed_mean_10: self.trimmed_mean(0.10),
            outliers: self.outliers(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OutlierClass {
    LowSevere,
    LowMild,
    HighMild,
    HighSevere,
}

/// A labelled point; `index` is its position in measurement order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Outlier {
    pub index: usize,
    pub value: f64,
    pub class: OutlierClass,
}

/// Everything we report about one sample. Units are those of the input values.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    pub n: usize,
    pub median: f64,
    pub p10: f64,
    pub p90: f64,
    pub p99: f64,
    pub min: f64,
    pub max: f64,
    pub mean: f64,
    pub stddev: Option<f64>,
    /// Coefficient of variation, stddev / mean.
    pub cv: Option<f64>,
    pub trimmed_mean_10: f64,
    pub outliers: Vec<Outlier>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(v: &[f64]) -> Sample {
        Sample::new(v).unwrap()
    }

    #[test]
    fn quantiles_interpolate_like_numpy() {
        let s = sample(&[1.0, 2.0, 3.0, 4.0]);
        assert_eq!(s.quantile(0.5), 2.5);
        assert!((s.quantile(0.1) - 1.3).abs() < 1e-12);
        assert!((s.quantile(0.9) - 3.7).abs() < 1e-12);
        assert_eq!(s.quantile(0.0), 1.0);
        assert_eq!(s.quantile(1.0), 4.0);
    }

    #[test]
    fn stddev_is_the_sample_stddev() {
        let s = sample(&[2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0]);
        assert_eq!(s.mean(), 5.0);
        assert!((s.stddev().unwrap() - 2.138089935299395).abs() < 1e-12);
        assert_eq!(sample(&[3.0]).stddev(), None);
    }

    #[test]
    fn trimmed_mean_drops_ten_percent_each_side() {
        let mut v: Vec<f64> = (1..=9).map(f64::from).collect();
        v.push(1000.0);
        let s = sample(&v);
        // 10 points: one dropped at each end → mean of 2..=9.
        assert_eq!(s.trimmed_mean(0.10), 5.5);
        assert!(s.mean() > 100.0);
    }

    #[test]
    fn outliers_are_labelled_not_dropped() {
        let mut v = vec![10.0; 20];
        v[3] = 10.5;
        v[7] = 9.5;
        v[19] = 100.0;
        let s = sample(&v);
        let summary = s.summary();
        assert_eq!(summary.n, 20, "outliers stay in the sample");
        assert_eq!(summary.max, 100.0);
        let high: Vec<_> = summary.outliers.iter().filter(|o| o.class == OutlierClass::HighSevere).collect();
        assert_eq!(high.len(), 2, "{:?}", summary.outliers);
        assert!(high.iter().any(|o| o.index == 19));
    }

    #[test]
    fn nan_and_empty_are_refused_with_the_index() {
        assert_eq!(Sample::new(&[]).unwrap_err(), StatsError::Empty);
        assert!(matches!(Sample::new(&[1.0, f64::NAN]).unwrap_err(), StatsError::NotFinite { index: 1, .. }));
    }

    #[test]
    fn constant_samples_have_zero_spread_and_no_outliers() {
        let s = sample(&[5.0; 10]).summary();
        assert_eq!((s.median, s.p10, s.p99, s.stddev), (5.0, 5.0, 5.0, Some(0.0)));
        assert!(s.outliers.is_empty());
    }
}
