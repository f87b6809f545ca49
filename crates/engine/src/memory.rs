//! Memory admission: the memory limits of every sandbox the engine holds at once, runs and
//! sessions, fit in a budget set from the host's RAM.
//!
//! A sandbox's limit is what it may take, so it is what is committed: a run waits (in order)
//! until its limit fits, a session is refused at once when its limit does not, and a request
//! whose limit exceeds the whole budget is refused. The warm pools' sandboxes are set aside
//! from the budget when the engine starts. The budget is counted in MiB, with a weighted
//! semaphore.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use runnel_languages::Language;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::error::EngineError;
use crate::run::Limits;

const MIB: u64 = 1 << 20;

/// The share of the host's RAM committed by default: three quarters (the rest is for the
/// server, the page cache and what limits do not count).
const DEFAULT_SHARE: (u64, u64) = (3, 4);

/// The default budget: three quarters of the host's RAM (`MemTotal`), or 4 GiB where
/// `/proc/meminfo` cannot be read.
pub fn default_committed_memory_bytes() -> u64 {
    let total = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|text| {
            text.lines().find_map(|line| {
                let kib = line.strip_prefix("MemTotal:")?.trim().strip_suffix("kB")?;
                kib.trim().parse::<u64>().ok()
            })
        })
        .map_or(16 << 30, |kib| kib * 1024);
    total / DEFAULT_SHARE.1 * DEFAULT_SHARE.0
}

/// The memory a sandbox of `language` is given for `limits`: a compile needs its own limit.
pub(crate) fn sandbox_memory(language: &Language, limits: &Limits) -> u64 {
    let memory = if language.compiled {
        limits
            .memory_bytes
            .max(language.compile_limits().memory_bytes)
    } else {
        limits.memory_bytes
    };
    memory.max(language.min_memory_bytes)
}

/// The engine's memory budget.
pub(crate) struct MemoryBudget {
    /// Permits of one MiB each.
    permits: Arc<Semaphore>,
    /// The whole budget, MiB.
    total_mib: u64,
    /// Runs waiting for room now.
    waiting: AtomicU64,
}

/// Memory committed to one sandbox; given back when dropped.
#[derive(Debug)]
pub(crate) struct Committed {
    _permit: OwnedSemaphorePermit,
}

impl MemoryBudget {
    /// A budget of `budget_bytes`, less `reserved_bytes` set aside for the warm pools.
    pub(crate) fn new(budget_bytes: u64, reserved_bytes: u64) -> MemoryBudget {
        let mut total_mib = budget_bytes / MIB;
        let reserved_mib = reserved_bytes.div_ceil(MIB);
        if reserved_mib < total_mib {
            total_mib -= reserved_mib;
        } else {
            tracing::warn!(
                budget_mib = total_mib,
                reserved_mib,
                "the warm pools take the whole committed-memory budget; not set aside"
            );
        }
        let total_mib = total_mib.clamp(1, u64::from(u32::MAX));
        MemoryBudget {
            permits: Arc::new(Semaphore::new(usize::try_from(total_mib).unwrap_or(1))),
            total_mib,
            waiting: AtomicU64::new(0),
        }
    }

    fn mib_of(&self, bytes: u64, what: &str) -> Result<u32, EngineError> {
        let mib = bytes.div_ceil(MIB).max(1);
        if mib > self.total_mib {
            return Err(EngineError::Unavailable(format!(
                "{what} with {mib} MiB of memory can never fit this server's budget of {} MiB \
                 for all runs and sessions at once; ask for less memory",
                self.total_mib
            )));
        }
        Ok(u32::try_from(mib).unwrap_or(u32::MAX))
    }

    /// Refuse a run now if `bytes` can never fit.
    pub(crate) fn check_run(&self, bytes: u64) -> Result<(), EngineError> {
        self.mib_of(bytes, "a run").map(|_| ())
    }

    /// Commit `bytes` for a run, waiting in order until they fit.
    pub(crate) async fn commit_run(&self, bytes: u64) -> Result<Committed, EngineError> {
        let mib = self.mib_of(bytes, "a run")?;
        let permits = Arc::clone(&self.permits);
        if let Ok(permit) = Arc::clone(&permits).try_acquire_many_owned(mib) {
            return Ok(Committed { _permit: permit });
        }
        self.waiting.fetch_add(1, Ordering::Relaxed);
        let acquired = permits.acquire_many_owned(mib).await;
        self.waiting.fetch_sub(1, Ordering::Relaxed);
        let permit =
            acquired.map_err(|_| EngineError::Unavailable("the engine is closed".to_owned()))?;
        Ok(Committed { _permit: permit })
    }

    /// Commit `bytes` for a session now, or refuse by name.
    pub(crate) fn commit_session(&self, bytes: u64) -> Result<Committed, EngineError> {
        let mib = self.mib_of(bytes, "a session")?;
        let permit = Arc::clone(&self.permits)
            .try_acquire_many_owned(mib)
            .map_err(|_| {
                EngineError::Unavailable(format!(
                    "the server has committed its memory budget of {} MiB to runs and \
                     sessions; a session with {mib} MiB does not fit now: close a session, \
                     retry later or ask for less memory",
                    self.total_mib
                ))
            })?;
        Ok(Committed { _permit: permit })
    }

    /// (committed now, whole budget, runs waiting), bytes and a count.
    pub(crate) fn figures(&self) -> (u64, u64, u64) {
        let free = u64::try_from(self.permits.available_permits()).unwrap_or(0);
        (
            self.total_mib.saturating_sub(free) * MIB,
            self.total_mib * MIB,
            self.waiting.load(Ordering::Relaxed),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn runs_wait_for_room_and_sessions_are_refused_without_it() {
        let budget = MemoryBudget::new(1024 * MIB, 256 * MIB);
        assert_eq!(budget.figures(), (0, 768 * MIB, 0));
        let session = budget.commit_session(512 * MIB).expect("fits");
        let error = budget
            .commit_session(512 * MIB)
            .expect_err("over the budget");
        assert!(error.to_string().contains("768 MiB"), "{error}");
        let run = budget.commit_run(256 * MIB).await.expect("fits exactly");
        assert_eq!(budget.figures().0, 768 * MIB);
        let waiting = budget.commit_run(100 * MIB);
        tokio::pin!(waiting);
        // Polled once (it queues), then left waiting.
        tokio::select! {
            biased;
            _ = &mut waiting => panic!("no room yet"),
            () = std::future::ready(()) => {}
        }
        assert_eq!(budget.figures().2, 1);
        drop(run);
        let _later = waiting.await.expect("room after a run ended");
        assert_eq!(budget.figures().2, 0);
        drop(session);
        let too_large = budget.commit_run(769 * MIB).await.expect_err("never fits");
        assert!(too_large.to_string().contains("never fit"), "{too_large}");
    }
}
