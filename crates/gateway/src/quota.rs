//! Per-key admission: how many runs a key may have in flight, and how many it may start per
//! minute.
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
}

impl From<QuotaError> for ApiError {
    fn from(error: QuotaError) -> ApiError {
        match error {
            QuotaError::Concurrency { .. } => {
                ApiError::new(ErrorCode::ConcurrencyLimit, error.to_string())
            }
            QuotaError::Rate { retry_after, .. } => {
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
        let state = keys.entry(key_id.to_owned()).or_insert_with(|| KeyState {
            in_flight: 0,
            tokens: f64::from(admission.rate_per_minute),
            refilled_at: now,
        });
        if admission.max_concurrency > 0 && state.in_flight >= admission.max_concurrency {
            return Err(QuotaError::Concurrency {
                limit: admission.max_concurrency,
            });
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
}
