//! Counters and latency histograms, read by `/api/v1/stats` and `/metrics`.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use runnel_protocol::http::HealthStatus;
use runnel_protocol::RunStatus;

/// Upper bounds of the latency buckets, in seconds.
const BUCKETS: [f64; 14] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// A cumulative histogram in the Prometheus sense.
#[derive(Debug, Clone, PartialEq)]
pub struct Histogram {
    /// `(upper bound in seconds, cumulative count)`, ascending; `+Inf` is `count`.
    pub buckets: Vec<(f64, u64)>,
    /// Sum of the observations in seconds.
    pub sum: f64,
    /// Number of observations.
    pub count: u64,
}

impl Default for Histogram {
    fn default() -> Self {
        Histogram {
            buckets: BUCKETS.iter().map(|bound| (*bound, 0)).collect(),
            sum: 0.0,
            count: 0,
        }
    }
}

impl Histogram {
    /// Record one observation.
    pub fn observe(&mut self, value: Duration) {
        let seconds = value.as_secs_f64();
        for (bound, count) in &mut self.buckets {
            if seconds <= *bound {
                *count += 1;
            }
        }
        self.sum += seconds;
        self.count += 1;
    }
}

/// A snapshot of the engine's counters.
#[derive(Debug, Clone, PartialEq)]
pub struct EngineStats {
    /// Time since the engine started.
    pub uptime: Duration,
    /// Runs finished.
    pub executions: u64,
    /// Runs in flight.
    pub running: u64,
    /// Finished runs by `(language, status)`.
    pub by_language_status: BTreeMap<(String, RunStatus), u64>,
    /// Request-to-exit latency of finished runs, by language.
    pub latency: BTreeMap<String, Histogram>,
    /// Ready sandboxes in the warm pool, by language.
    pub pool_ready: BTreeMap<String, usize>,
    /// Runs (and compiles) served by a sandbox from the warm pool, by language.
    pub pool_taken: BTreeMap<String, u64>,
    /// Compile cache hits and misses.
    pub cache_hits: u64,
    /// Compile cache misses.
    pub cache_misses: u64,
    /// Memory limits of the sandboxes held now, bytes.
    pub memory_committed: u64,
    /// The committed-memory budget, bytes (the warm pools set aside).
    pub memory_budget: u64,
    /// Runs waiting for room in the budget.
    pub waiting_for_memory: u64,
    /// Times the sandbox spawner died and was replaced.
    pub spawner_restarts: u64,
    /// Failed refills of the warm pool for runs, by language.
    pub pool_refill_failures: BTreeMap<String, u64>,
    /// Failed refills of the warm pool of sessions, by language.
    pub session_pool_refill_failures: BTreeMap<String, u64>,
    /// The state `/healthz` reports.
    pub health: HealthStatus,
    /// Failed compile cache writes.
    pub cache_write_errors: u64,
}

impl EngineStats {
    /// Finished runs by language.
    pub fn by_language(&self) -> BTreeMap<String, u64> {
        let mut totals = BTreeMap::new();
        for ((language, _), count) in &self.by_language_status {
            *totals.entry(language.clone()).or_insert(0) += count;
        }
        totals
    }
}

#[derive(Debug)]
pub(crate) struct StatsRecorder {
    started: Instant,
    inner: Mutex<Counters>,
}

#[derive(Debug, Default)]
struct Counters {
    executions: u64,
    running: u64,
    by_language_status: BTreeMap<(String, RunStatus), u64>,
    latency: BTreeMap<String, Histogram>,
    cache_hits: u64,
    cache_misses: u64,
    pool_taken: BTreeMap<String, u64>,
}

impl StatsRecorder {
    pub(crate) fn new() -> Self {
        StatsRecorder {
            started: Instant::now(),
            inner: Mutex::new(Counters::default()),
        }
    }

    fn with<T>(&self, action: impl FnOnce(&mut Counters) -> T) -> T {
        // A poisoned lock only means another thread panicked while counting: the counters
        // are still usable.
        let mut guard = self
            .inner
            .lock()
            .unwrap_or_else(|poison| poison.into_inner());
        action(&mut guard)
    }

    /// Runs and session executes in flight.
    pub(crate) fn running(&self) -> u64 {
        self.with(|counters| counters.running)
    }

    pub(crate) fn run_started(&self) {
        self.with(|counters| counters.running += 1);
    }

    pub(crate) fn run_finished(&self, language: &str, status: RunStatus, latency: Duration) {
        self.with(|counters| {
            counters.running = counters.running.saturating_sub(1);
            counters.executions += 1;
            *counters
                .by_language_status
                .entry((language.to_owned(), status))
                .or_insert(0) += 1;
            counters
                .latency
                .entry(language.to_owned())
                .or_default()
                .observe(latency);
        });
    }

    pub(crate) fn cache(&self, hit: bool) {
        self.with(|counters| {
            if hit {
                counters.cache_hits += 1;
            } else {
                counters.cache_misses += 1;
            }
        });
    }

    pub(crate) fn pool_taken(&self, language: &str) {
        self.with(|counters| *counters.pool_taken.entry(language.to_owned()).or_insert(0) += 1);
    }

    pub(crate) fn snapshot(&self, pool_ready: BTreeMap<String, usize>) -> EngineStats {
        self.with(|counters| EngineStats {
            uptime: self.started.elapsed(),
            executions: counters.executions,
            running: counters.running,
            by_language_status: counters.by_language_status.clone(),
            latency: counters.latency.clone(),
            pool_ready,
            pool_taken: counters.pool_taken.clone(),
            cache_hits: counters.cache_hits,
            cache_misses: counters.cache_misses,
            // Filled in by the engine from its memory budget, spawner and pools.
            memory_committed: 0,
            memory_budget: 0,
            waiting_for_memory: 0,
            spawner_restarts: 0,
            pool_refill_failures: BTreeMap::new(),
            session_pool_refill_failures: BTreeMap::new(),
            health: HealthStatus::Ready,
            cache_write_errors: 0,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_is_cumulative() {
        let mut histogram = Histogram::default();
        histogram.observe(Duration::from_micros(700));
        histogram.observe(Duration::from_millis(30));
        let at = |bound: f64| {
            histogram
                .buckets
                .iter()
                .find(|(b, _)| (*b - bound).abs() < 1e-9)
                .map(|(_, count)| *count)
        };
        assert_eq!(at(0.0005), Some(0));
        assert_eq!(at(0.001), Some(1));
        assert_eq!(at(0.05), Some(2));
        assert_eq!(histogram.count, 2);
    }
}
