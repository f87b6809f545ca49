//! Latency samples in an HDR histogram (nanoseconds, 3 significant digits) and their
//! percentiles in milliseconds.

use std::time::Duration;

use hdrhistogram::Histogram;

/// Largest latency recorded exactly: 10 minutes, in ns. Longer ones are clamped to it.
const MAX_NANOS: u64 = 600_000_000_000;
/// Significant decimal digits kept by the histogram (0.1% resolution).
const SIGNIFICANT_DIGITS: u8 = 3;

/// Latencies of one metric, and the number of failed attempts.
#[derive(Clone, Debug)]
pub struct Samples {
    histogram: Histogram<u64>,
    errors: u64,
}

/// Summary of [`Samples`], in milliseconds.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LatencyStats {
    /// Number of samples.
    pub n: u64,
    /// Smallest.
    pub min_ms: f64,
    /// Median.
    pub p50_ms: f64,
    /// 95th percentile.
    pub p95_ms: f64,
    /// 99th percentile.
    pub p99_ms: f64,
    /// Largest.
    pub max_ms: f64,
    /// Mean.
    pub mean_ms: f64,
}

impl Default for Samples {
    fn default() -> Self {
        Samples::new()
    }
}

impl Samples {
    /// No samples yet.
    pub fn new() -> Samples {
        Samples {
            histogram: Histogram::new_with_bounds(1, MAX_NANOS, SIGNIFICANT_DIGITS)
                .expect("constant histogram bounds are valid"),
            errors: 0,
        }
    }

    /// Records one latency.
    pub fn record(&mut self, latency: Duration) {
        let nanos = u64::try_from(latency.as_nanos()).unwrap_or(u64::MAX);
        self.histogram.saturating_record(nanos.max(1));
    }

    /// Counts one failed attempt.
    pub fn record_error(&mut self) {
        self.errors += 1;
    }

    /// Adds another set of samples (of a concurrent worker) to these.
    pub fn merge(&mut self, other: &Samples) {
        // Both histograms have the same bounds, so adding cannot fail; clamp if it ever did.
        if self.histogram.add(&other.histogram).is_err() {
            for value in other.histogram.iter_recorded() {
                self.histogram
                    .saturating_record_n(value.value_iterated_to(), value.count_at_value());
            }
        }
        self.errors += other.errors;
    }

    /// Failed attempts.
    pub fn errors(&self) -> u64 {
        self.errors
    }

    /// Number of latencies recorded.
    pub fn len(&self) -> u64 {
        self.histogram.len()
    }

    /// Whether no latency was recorded.
    pub fn is_empty(&self) -> bool {
        self.histogram.is_empty()
    }

    /// Percentiles in milliseconds; `None` without samples.
    pub fn stats(&self) -> Option<LatencyStats> {
        if self.histogram.is_empty() {
            return None;
        }
        let ms = |nanos: u64| nanos as f64 / 1e6;
        Some(LatencyStats {
            n: self.histogram.len(),
            min_ms: ms(self.histogram.min()),
            p50_ms: ms(self.histogram.value_at_quantile(0.50)),
            p95_ms: ms(self.histogram.value_at_quantile(0.95)),
            p99_ms: ms(self.histogram.value_at_quantile(0.99)),
            max_ms: ms(self.histogram.max()),
            mean_ms: self.histogram.mean() / 1e6,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(actual: f64, expected: f64) -> bool {
        (actual - expected).abs() <= expected * 0.002
    }

    #[test]
    fn percentiles_of_a_uniform_series() {
        let mut samples = Samples::new();
        for ms in 1..=100 {
            samples.record(Duration::from_millis(ms));
        }
        let stats = samples.stats().expect("stats");
        assert_eq!(stats.n, 100);
        assert!(close(stats.min_ms, 1.0), "{stats:?}");
        assert!(close(stats.p50_ms, 50.0), "{stats:?}");
        assert!(close(stats.p95_ms, 95.0), "{stats:?}");
        assert!(close(stats.p99_ms, 99.0), "{stats:?}");
        assert!(close(stats.max_ms, 100.0), "{stats:?}");
        assert!(close(stats.mean_ms, 50.5), "{stats:?}");
    }

    #[test]
    fn microsecond_latencies_keep_their_precision() {
        let mut samples = Samples::new();
        samples.record(Duration::from_nanos(12_345));
        let stats = samples.stats().expect("stats");
        assert!(close(stats.p50_ms, 0.012345), "{stats:?}");
    }

    #[test]
    fn merging_adds_samples_and_errors() {
        let mut first = Samples::new();
        let mut second = Samples::new();
        first.record(Duration::from_millis(1));
        second.record(Duration::from_millis(3));
        second.record_error();
        first.merge(&second);
        assert_eq!(first.len(), 2);
        assert_eq!(first.errors(), 1);
        assert!(Samples::new().stats().is_none());
        // Absurd latencies are clamped, not lost.
        first.record(Duration::from_secs(3600));
        assert_eq!(first.len(), 3);
    }
}
