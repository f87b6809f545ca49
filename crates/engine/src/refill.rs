//! How the warm pools' refills are going: failures in a row per language (which make the
//! engine degraded and lengthen the pause before the next try) and in total (a metric).

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;

/// Failed refills in a row after which a pool counts as failing (the engine is degraded).
pub(crate) const FAILING_AFTER: u32 = 3;
/// Pause after the first failed refill; it doubles with each failure in a row, up to
/// [`BACKOFF_MAX`], so a broken host neither spins nor waits long once it is fixed.
const BACKOFF: Duration = Duration::from_secs(1);
const BACKOFF_MAX: Duration = Duration::from_secs(30);

#[derive(Debug, Default, Clone)]
struct Record {
    in_a_row: u32,
    total: u64,
    last_error: String,
}

/// The refill record of one pool.
#[derive(Debug, Default)]
pub(crate) struct RefillRecord {
    languages: Mutex<BTreeMap<String, Record>>,
}

/// A pool whose refills keep failing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailingPool {
    /// The language.
    pub language: String,
    /// Failed refills in a row.
    pub failures: u32,
    /// The last failure.
    pub error: String,
}

impl RefillRecord {
    fn with<T>(&self, action: impl FnOnce(&mut BTreeMap<String, Record>) -> T) -> T {
        let mut guard = self
            .languages
            .lock()
            .unwrap_or_else(|poison| poison.into_inner());
        action(&mut guard)
    }

    /// A refill of `language` worked.
    pub(crate) fn succeeded(&self, language: &str) {
        self.with(|records| {
            if let Some(record) = records.get_mut(language) {
                record.in_a_row = 0;
            }
        });
    }

    /// A refill of `language` failed: returns how long to pause before the next.
    pub(crate) fn failed(&self, language: &str, error: &str) -> Duration {
        let in_a_row = self.with(|records| {
            let record = records.entry(language.to_owned()).or_default();
            record.in_a_row = record.in_a_row.saturating_add(1);
            record.total += 1;
            record.last_error = error.to_owned();
            record.in_a_row
        });
        let doublings = in_a_row.saturating_sub(1).min(16);
        BACKOFF.saturating_mul(1 << doublings).min(BACKOFF_MAX)
    }

    /// Languages whose refills failed [`FAILING_AFTER`] times in a row or more.
    pub(crate) fn failing(&self) -> Vec<FailingPool> {
        self.with(|records| {
            records
                .iter()
                .filter(|(_, record)| record.in_a_row >= FAILING_AFTER)
                .map(|(language, record)| FailingPool {
                    language: language.clone(),
                    failures: record.in_a_row,
                    error: record.last_error.clone(),
                })
                .collect()
        })
    }

    /// Failed refills so far, by language.
    pub(crate) fn totals(&self) -> BTreeMap<String, u64> {
        self.with(|records| {
            records
                .iter()
                .map(|(language, record)| (language.clone(), record.total))
                .collect()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_in_a_row_back_off_and_mark_the_pool_failing_until_one_succeeds() {
        let record = RefillRecord::default();
        assert_eq!(record.failed("python", "no"), Duration::from_secs(1));
        assert_eq!(record.failed("python", "no"), Duration::from_secs(2));
        assert!(record.failing().is_empty());
        assert_eq!(record.failed("python", "still no"), Duration::from_secs(4));
        let failing = record.failing();
        assert_eq!(failing.len(), 1);
        assert_eq!(failing[0].language, "python");
        assert_eq!(failing[0].error, "still no");
        for _ in 0..10 {
            record.failed("python", "no");
        }
        assert_eq!(record.failed("python", "no"), BACKOFF_MAX);
        record.succeeded("python");
        assert!(record.failing().is_empty());
        assert_eq!(record.totals().get("python"), Some(&14));
    }
}
