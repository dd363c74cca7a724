//! Order statistics over samples: percentiles, medians and their spread.

use std::time::Duration;

/// The `p`-th percentile (0-100, nearest rank) of `samples`.
pub fn percentile(samples: &[f64], p: f64) -> f64 {
    if samples.is_empty() {
        return f64::NAN;
    }
    let mut sorted = samples.to_vec();
    sorted.sort_by(f64::total_cmp);
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// The median of `samples`.
pub fn median(samples: &[f64]) -> f64 {
    percentile(samples, 50.0)
}

/// Milliseconds, as a float.
pub fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// A median with a low and a high mark: the smallest and largest of a few
/// repetitions, or the 10th and 90th percentiles of many samples.
#[derive(Debug, Clone, Copy)]
pub struct Spread {
    /// The median.
    pub median: f64,
    /// The low mark.
    pub lo: f64,
    /// The high mark.
    pub hi: f64,
}

impl Spread {
    /// Median, smallest and largest of repetitions.
    pub fn of_repetitions(samples: &[f64]) -> Spread {
        Spread {
            median: median(samples),
            lo: samples.iter().copied().fold(f64::INFINITY, f64::min),
            hi: samples.iter().copied().fold(f64::NEG_INFINITY, f64::max),
        }
    }

    /// Median, 10th and 90th percentiles of many samples.
    pub fn of_samples(samples: &[f64]) -> Spread {
        Spread {
            median: median(samples),
            lo: percentile(samples, 10.0),
            hi: percentile(samples, 90.0),
        }
    }

    /// `median [lo-hi]` with `digits` decimals.
    pub fn show(&self, digits: usize) -> String {
        if self.median.is_nan() {
            return "-".to_owned();
        }
        format!(
            "{:.d$} [{:.d$}-{:.d$}]",
            self.median,
            self.lo,
            self.hi,
            d = digits
        )
    }
}

/// `a / b` as `1.23x`, or `-` when either is missing.
pub fn ratio(a: f64, b: f64) -> String {
    if a.is_finite() && b.is_finite() && b > 0.0 {
        format!("{:.2}x", a / b)
    } else {
        "-".to_owned()
    }
}
