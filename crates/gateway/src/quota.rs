//! Per-key admission: how many runs a key may have in flight, how many it may start per
//! minute, and how much CPU its runs may use per minute.
//!
//! The CPU budget is a second bucket, of milliseconds of CPU: it holds a minute's worth, each
//! finished run or session cell takes its CPU time out of it (it may go below zero: a run is
//! not stopped for it, its own CPU limit does that), and a run is admitted only while it is
//! above zero.
//!
//! Concurrency is counted across every connection and request of a key: each admitted run holds
//! a [`RunPermit`] that gives its slot back when dropped. The rate is a token bucket holding up to
//! a minute's worth of runs, refilled continuously, so a key may burst up to `rate_per_minute`
//! and then sustain that rate. A quota value of 0 means "no limit". Time is tokio's clock, so
//! tests drive it with `tokio::time::pause`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use runnel_protocol::ErrorCode;
use tokio::time::Instant;

use crate::error::ApiError;

/// The limits admission enforces, from a key's quota.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Admission {
    /// Runs in flight at once (0: unlimited).
    pub max_concurrency: u32,
    /// Runs started per minute (0: unlimited).
    pub rate_per_minute: u32,
    /// CPU of the key's runs per minute, ms (0: unlimited).
    pub cpu_ms_per_minute: u64,
}

impl Admission {
    /// The admission of `quota`'s key, with `max_concurrency` (0 for session executes, whose
    /// concurrency is bounded by the key's sessions).
    pub(crate) fn of(quota: &runnel_store::KeyQuota, max_concurrency: u32) -> Admission {
        Admission {
            max_concurrency,
            rate_per_minute: quota.rate_per_minute,
            cpu_ms_per_minute: quota.cpu_ms_per_minute,
        }
    }
}

/// Why a run was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub(crate) enum QuotaError {
    /// Too many runs in flight for the key.
    #[error("concurrency limit reached: at most {limit} runs in flight per key")]
    Concurrency {
        /// The key's limit.
        limit: u32,
    },
    /// The key started too many runs recently.
    #[error(
        "rate limit reached: at most {limit} runs per minute per key; retry in {:.1} s",
        retry_after.as_secs_f64()
    )]
    Rate {
        /// The key's limit.
        limit: u32,
        /// When one more run will be admitted.
        retry_after: Duration,
    },
    /// The key's runs used its CPU budget.
    #[error(
        "CPU budget used: at most {limit} ms of CPU per minute per key; retry in {:.1} s",
        retry_after.as_secs_f64()
    )]
    Cpu {
        /// The key's budget, ms per minute.
        limit: u64,
        /// When the budget is above zero again.
        retry_after: Duration,
    },
}

impl From<QuotaError> for ApiError {
    fn from(error: QuotaError) -> ApiError {
        match error {
            QuotaError::Concurrency { .. } => {
                ApiError::new(ErrorCode::ConcurrencyLimit, error.to_string())
            }
            QuotaError::Rate { retry_after, .. } | QuotaError::Cpu { retry_after, .. } => {
                ApiError::new(ErrorCode::RateLimited, error.to_string())
                    .with_retry_after(retry_after)
            }
        }
    }
}

/// Admission state of every key seen since start. Cheap to clone.
#[derive(Debug, Clone, Default)]
pub(crate) struct QuotaTracker {
    keys: Arc<Mutex<HashMap<String, KeyState>>>,
}

#[derive(Debug)]
struct KeyState {
    in_flight: u32,
    tokens: f64,
    refilled_at: Instant,
    /// Milliseconds of CPU left in the budget (below zero after runs that used more).
    cpu_tokens: f64,
    cpu_refilled_at: Instant,
}

impl KeyState {
    fn new(admission: &Admission, now: Instant) -> KeyState {
        KeyState {
            in_flight: 0,
            tokens: f64::from(admission.rate_per_minute),
            refilled_at: now,
            cpu_tokens: admission.cpu_ms_per_minute as f64,
            cpu_refilled_at: now,
        }
    }

    /// Refill the CPU bucket of capacity `per_minute` ms up to `now`.
    fn refill_cpu(&mut self, per_minute: u64, now: Instant) {
        let capacity = per_minute as f64;
        let elapsed = now
            .saturating_duration_since(self.cpu_refilled_at)
            .as_secs_f64();
        self.cpu_tokens = (self.cpu_tokens + elapsed * capacity / 60.0).min(capacity);
        self.cpu_refilled_at = now;
    }
}

/// One admitted run's slot; dropping it frees the slot.
#[derive(Debug)]
pub(crate) struct RunPermit {
    keys: Arc<Mutex<HashMap<String, KeyState>>>,
    key_id: String,
}

impl QuotaTracker {
    /// A tracker with no keys.
    pub(crate) fn new() -> QuotaTracker {
        QuotaTracker::default()
    }

    /// Admit one run of `key_id`, or say which limit refuses it. A run refused for concurrency
    /// does not spend a token.
    pub(crate) fn admit(
        &self,
        key_id: &str,
        admission: Admission,
    ) -> Result<RunPermit, QuotaError> {
        let now = Instant::now();
        let mut keys = lock(&self.keys);
        let state = keys
            .entry(key_id.to_owned())
            .or_insert_with(|| KeyState::new(&admission, now));
        if admission.max_concurrency > 0 && state.in_flight >= admission.max_concurrency {
            return Err(QuotaError::Concurrency {
                limit: admission.max_concurrency,
            });
        }
        if admission.cpu_ms_per_minute > 0 {
            state.refill_cpu(admission.cpu_ms_per_minute, now);
            if state.cpu_tokens <= 0.0 {
                let per_second = admission.cpu_ms_per_minute as f64 / 60.0;
                let retry_after = Duration::from_secs_f64((1.0 - state.cpu_tokens) / per_second);
                return Err(QuotaError::Cpu {
                    limit: admission.cpu_ms_per_minute,
                    retry_after,
                });
            }
        }
        if admission.rate_per_minute > 0 {
            let capacity = f64::from(admission.rate_per_minute);
            let per_second = capacity / 60.0;
            let elapsed = now
                .saturating_duration_since(state.refilled_at)
                .as_secs_f64();
            state.tokens = (state.tokens + elapsed * per_second).min(capacity);
            state.refilled_at = now;
            if state.tokens < 1.0 {
                let retry_after = Duration::from_secs_f64((1.0 - state.tokens) / per_second);
                return Err(QuotaError::Rate {
                    limit: admission.rate_per_minute,
                    retry_after,
                });
            }
            state.tokens -= 1.0;
        }
        state.in_flight += 1;
        Ok(RunPermit {
            keys: Arc::clone(&self.keys),
            key_id: key_id.to_owned(),
        })
    }

    /// Take a finished run's (or cell's) CPU time out of `key_id`'s budget of
    /// `cpu_ms_per_minute` (nothing when the key has none).
    pub(crate) fn charge_cpu(&self, key_id: &str, cpu: Duration, cpu_ms_per_minute: u64) {
        if cpu_ms_per_minute == 0 {
            return;
        }
        let now = Instant::now();
        let mut keys = lock(&self.keys);
        // A run was admitted first, so the key is known.
        let Some(state) = keys.get_mut(key_id) else {
            return;
        };
        state.refill_cpu(cpu_ms_per_minute, now);
        state.cpu_tokens -= cpu.as_secs_f64() * 1000.0;
    }

    /// Runs in flight for `key_id`.
    #[cfg(test)]
    pub(crate) fn in_flight(&self, key_id: &str) -> u32 {
        lock(&self.keys)
            .get(key_id)
            .map_or(0, |state| state.in_flight)
    }
}

impl Drop for RunPermit {
    fn drop(&mut self) {
        let mut keys = lock(&self.keys);
        if let Some(state) = keys.get_mut(&self.key_id) {
            state.in_flight = state.in_flight.saturating_sub(1);
        }
    }
}

fn lock(keys: &Mutex<HashMap<String, KeyState>>) -> MutexGuard<'_, HashMap<String, KeyState>> {
    // A poisoned lock means a panic mid-update of plain counters: still usable.
    keys.lock().unwrap_or_else(|poison| poison.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: Admission = Admission {
        max_concurrency: 2,
        rate_per_minute: 0,
        cpu_ms_per_minute: 0,
    };

    #[tokio::test]
    async fn concurrency_counts_permits_per_key() {
        let tracker = QuotaTracker::new();
        let first = tracker.admit("k1", LIMITS).expect("first");
        let _second = tracker.admit("k1", LIMITS).expect("second");
        let error = tracker.admit("k1", LIMITS).expect_err("third refused");
        assert_eq!(error, QuotaError::Concurrency { limit: 2 });
        assert!(error.to_string().contains("at most 2 runs in flight"));
        // Another key is independent.
        let _other = tracker.admit("k2", LIMITS).expect("other key");
        drop(first);
        assert_eq!(tracker.in_flight("k1"), 1);
        let _third = tracker.admit("k1", LIMITS).expect("slot freed");
    }

    #[tokio::test]
    async fn zero_means_unlimited() {
        let tracker = QuotaTracker::new();
        let unlimited = Admission {
            max_concurrency: 0,
            rate_per_minute: 0,
            cpu_ms_per_minute: 0,
        };
        let permits: Vec<_> = (0..1000)
            .map(|_| tracker.admit("k", unlimited).expect("unlimited"))
            .collect();
        assert_eq!(tracker.in_flight("k"), 1000);
        drop(permits);
        assert_eq!(tracker.in_flight("k"), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn rate_limit_bursts_then_refills() {
        let tracker = QuotaTracker::new();
        let limits = Admission {
            max_concurrency: 0,
            rate_per_minute: 6,
            cpu_ms_per_minute: 0,
        };
        for _ in 0..6 {
            drop(
                tracker
                    .admit("k", limits)
                    .expect("burst of a minute's worth"),
            );
        }
        match tracker.admit("k", limits) {
            Err(QuotaError::Rate { limit, retry_after }) => {
                assert_eq!(limit, 6);
                assert!(
                    (retry_after.as_secs_f64() - 10.0).abs() < 0.01,
                    "{retry_after:?}"
                );
            }
            other => panic!("expected rate limit, got {other:?}"),
        }
        tokio::time::advance(Duration::from_secs(9)).await;
        assert!(
            tracker.admit("k", limits).is_err(),
            "not refilled after 9 s"
        );
        tokio::time::advance(Duration::from_secs(1)).await;
        drop(tracker.admit("k", limits).expect("one token after 10 s"));
        assert!(tracker.admit("k", limits).is_err());
        // A long pause refills only up to the capacity.
        tokio::time::advance(Duration::from_secs(3600)).await;
        for _ in 0..6 {
            drop(tracker.admit("k", limits).expect("full bucket"));
        }
        assert!(tracker.admit("k", limits).is_err());
    }

    #[tokio::test(start_paused = true)]
    async fn concurrency_refusal_spends_no_token() {
        let tracker = QuotaTracker::new();
        let limits = Admission {
            max_concurrency: 1,
            rate_per_minute: 2,
            cpu_ms_per_minute: 0,
        };
        let held = tracker.admit("k", limits).expect("first");
        for _ in 0..5 {
            assert!(matches!(
                tracker.admit("k", limits),
                Err(QuotaError::Concurrency { .. })
            ));
        }
        drop(held);
        drop(
            tracker
                .admit("k", limits)
                .expect("second token still there"),
        );
    }

    #[test]
    fn errors_become_named_api_errors() {
        let error = ApiError::from(QuotaError::Rate {
            limit: 60,
            retry_after: Duration::from_millis(1200),
        });
        assert_eq!(error.code, ErrorCode::RateLimited);
        assert!(
            error.message.contains("retry in 1.2 s"),
            "{}",
            error.message
        );
        assert_eq!(error.retry_after, Some(Duration::from_millis(1200)));
        let error = ApiError::from(QuotaError::Concurrency { limit: 4 });
        assert_eq!(error.code, ErrorCode::ConcurrencyLimit);
        assert!(error.message.contains('4'));
    }

    #[tokio::test(start_paused = true)]
    async fn the_cpu_budget_refuses_once_used_and_refills() {
        let tracker = QuotaTracker::new();
        let limits = Admission {
            max_concurrency: 0,
            rate_per_minute: 0,
            cpu_ms_per_minute: 6_000,
        };
        drop(tracker.admit("k", limits).expect("a full budget"));
        tracker.charge_cpu("k", Duration::from_millis(4_000), 6_000);
        drop(tracker.admit("k", limits).expect("2 s of CPU left"));
        tracker.charge_cpu("k", Duration::from_millis(5_000), 6_000);
        match tracker.admit("k", limits) {
            Err(QuotaError::Cpu { limit, retry_after }) => {
                assert_eq!(limit, 6_000);
                // 3 s below zero at 100 ms per second: about 30 s.
                assert!(
                    (29.0..=31.0).contains(&retry_after.as_secs_f64()),
                    "{retry_after:?}"
                );
            }
            other => panic!("expected the CPU budget to refuse, got {other:?}"),
        }
        let other = tracker.admit("other", limits);
        assert!(other.is_ok(), "another key has its own budget");
        tokio::time::advance(Duration::from_secs(31)).await;
        drop(tracker.admit("k", limits).expect("refilled"));
    }
}
