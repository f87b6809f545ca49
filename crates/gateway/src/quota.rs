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
    /// Memory limits of the key's runs and sessions at once, bytes (0: unlimited).
    pub max_total_memory_bytes: u64,
    /// The memory limit this run commits while it runs, bytes (0 for session executes: the
    /// session committed its memory when it was created).
    pub memory_bytes: u64,
}

impl Admission {
    /// The admission of `quota`'s key, with `max_concurrency` (0 for session executes, whose
    /// concurrency is bounded by the key's sessions).
    pub(crate) fn of(quota: &runnel_store::KeyQuota, max_concurrency: u32) -> Admission {
        Admission {
            max_concurrency,
            rate_per_minute: quota.rate_per_minute,
            cpu_ms_per_minute: quota.cpu_ms_per_minute,
            max_total_memory_bytes: quota.max_total_memory_mb.saturating_mul(1 << 20),
            memory_bytes: 0,
        }
    }

    /// The same admission, for a run that commits `memory_bytes` while it runs.
    pub(crate) fn committing(mut self, memory_bytes: u64) -> Admission {
        self.memory_bytes = memory_bytes;
        self
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
    /// The key's runs and sessions hold memory limits up to its maximum.
    #[error(
        "memory limit of the key reached: its runs and sessions hold {} MiB of memory limits, \
         {} MiB more would pass its maximum of {} MiB at once",
        committed >> 20, asked >> 20, limit >> 20
    )]
    Memory {
        /// The key's maximum, bytes.
        limit: u64,
        /// What its runs and sessions hold now, bytes.
        committed: u64,
        /// What was asked for, bytes.
        asked: u64,
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
            QuotaError::Concurrency { .. } | QuotaError::Memory { .. } => {
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
    /// Runs left in the rate bucket; full (`None`) until a run with a rate is admitted, so
    /// that a key first seen by a session's memory commit does not start with it empty.
    tokens: Option<f64>,
    refilled_at: Instant,
    /// Milliseconds of CPU left in the budget (below zero after runs that used more); full
    /// (`None`) until first refilled.
    cpu_tokens: Option<f64>,
    cpu_refilled_at: Instant,
    /// Memory limits of the key's runs and sessions now, bytes.
    committed: u64,
}

impl KeyState {
    fn new(now: Instant) -> KeyState {
        KeyState {
            in_flight: 0,
            tokens: None,
            refilled_at: now,
            cpu_tokens: None,
            cpu_refilled_at: now,
            committed: 0,
        }
    }

    /// Whether `asked` more bytes fit the key's maximum `limit` (0: no maximum).
    fn memory_fits(&self, asked: u64, limit: u64) -> Result<(), QuotaError> {
        if limit > 0 && asked > 0 && self.committed.saturating_add(asked) > limit {
            return Err(QuotaError::Memory {
                limit,
                committed: self.committed,
                asked,
            });
        }
        Ok(())
    }

    /// Refill the CPU bucket of capacity `per_minute` ms up to `now`; what it holds then.
    fn refill_cpu(&mut self, per_minute: u64, now: Instant) -> &mut f64 {
        let capacity = per_minute as f64;
        let elapsed = now
            .saturating_duration_since(self.cpu_refilled_at)
            .as_secs_f64();
        self.cpu_refilled_at = now;
        let tokens = self.cpu_tokens.get_or_insert(capacity);
        *tokens = (*tokens + elapsed * capacity / 60.0).min(capacity);
        tokens
    }

    /// Refill the rate bucket of `per_minute` runs up to `now`; what it holds then.
    fn refill_rate(&mut self, per_minute: u32, now: Instant) -> &mut f64 {
        let capacity = f64::from(per_minute);
        let elapsed = now
            .saturating_duration_since(self.refilled_at)
            .as_secs_f64();
        self.refilled_at = now;
        let tokens = self.tokens.get_or_insert(capacity);
        *tokens = (*tokens + elapsed * capacity / 60.0).min(capacity);
        tokens
    }
}

/// One admitted run's slot; dropping it frees the slot.
#[derive(Debug)]
pub(crate) struct RunPermit {
    keys: Arc<Mutex<HashMap<String, KeyState>>>,
    key_id: String,
    /// Whether it holds a run slot (a session's memory permit holds none).
    in_flight: bool,
    /// The memory it holds committed, bytes.
    memory: u64,
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
            .or_insert_with(|| KeyState::new(now));
        if admission.max_concurrency > 0 && state.in_flight >= admission.max_concurrency {
            return Err(QuotaError::Concurrency {
                limit: admission.max_concurrency,
            });
        }
        state.memory_fits(admission.memory_bytes, admission.max_total_memory_bytes)?;
        if admission.cpu_ms_per_minute > 0 {
            let left = *state.refill_cpu(admission.cpu_ms_per_minute, now);
            if left <= 0.0 {
                let per_second = admission.cpu_ms_per_minute as f64 / 60.0;
                let retry_after = Duration::from_secs_f64((1.0 - left) / per_second);
                return Err(QuotaError::Cpu {
                    limit: admission.cpu_ms_per_minute,
                    retry_after,
                });
            }
        }
        if admission.rate_per_minute > 0 {
            let per_second = f64::from(admission.rate_per_minute) / 60.0;
            let tokens = state.refill_rate(admission.rate_per_minute, now);
            if *tokens < 1.0 {
                let retry_after = Duration::from_secs_f64((1.0 - *tokens) / per_second);
                return Err(QuotaError::Rate {
                    limit: admission.rate_per_minute,
                    retry_after,
                });
            }
            *tokens -= 1.0;
        }
        state.in_flight += 1;
        state.committed += admission.memory_bytes;
        Ok(RunPermit {
            keys: Arc::clone(&self.keys),
            key_id: key_id.to_owned(),
            in_flight: true,
            memory: admission.memory_bytes,
        })
    }

    /// Commit a session's `memory_bytes` for `key_id`, whose runs and sessions may hold at
    /// most `limit` bytes (0: no maximum), until the permit is dropped.
    pub(crate) fn commit_memory(
        &self,
        key_id: &str,
        memory_bytes: u64,
        limit: u64,
    ) -> Result<RunPermit, QuotaError> {
        let mut keys = lock(&self.keys);
        let state = keys
            .entry(key_id.to_owned())
            .or_insert_with(|| KeyState::new(Instant::now()));
        state.memory_fits(memory_bytes, limit)?;
        state.committed += memory_bytes;
        Ok(RunPermit {
            keys: Arc::clone(&self.keys),
            key_id: key_id.to_owned(),
            in_flight: false,
            memory: memory_bytes,
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
        *state.refill_cpu(cpu_ms_per_minute, now) -= cpu.as_secs_f64() * 1000.0;
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
            if self.in_flight {
                state.in_flight = state.in_flight.saturating_sub(1);
            }
            state.committed = state.committed.saturating_sub(self.memory);
        }
    }
}

fn lock(keys: &Mutex<HashMap<String, KeyState>>) -> MutexGuard<'_, HashMap<String, KeyState>> {
    // A poisoned lock means a panic mid-update of plain counters: still usable.
    keys.lock().unwrap_or_else(|poison| poison.into_inner())
}

#[cfg(test)]
#[path = "quota_tests.rs"]
mod tests;
