//! Unit tests of per-key admission, on tokio's paused clock where time matters.

use super::*;

const LIMITS: Admission = Admission {
    max_concurrency: 2,
    rate_per_minute: 0,
    cpu_ms_per_minute: 0,
    max_total_memory_bytes: 0,
    memory_bytes: 0,
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
        max_total_memory_bytes: 0,
        memory_bytes: 0,
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
        max_total_memory_bytes: 0,
        memory_bytes: 0,
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
        max_total_memory_bytes: 0,
        memory_bytes: 0,
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
        max_total_memory_bytes: 0,
        memory_bytes: 0,
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

#[tokio::test]
async fn runs_and_sessions_share_the_keys_memory_maximum() {
    let tracker = QuotaTracker::new();
    let limits = Admission {
        max_concurrency: 0,
        rate_per_minute: 0,
        cpu_ms_per_minute: 0,
        max_total_memory_bytes: 1000,
        memory_bytes: 0,
    };
    let session = tracker.commit_memory("k", 600, 1000).expect("a session");
    let run = tracker
        .admit("k", limits.committing(400))
        .expect("fills it");
    match tracker.admit("k", limits.committing(1)) {
        Err(QuotaError::Memory {
            limit,
            committed,
            asked,
        }) => assert_eq!((limit, committed, asked), (1000, 1000, 1)),
        other => panic!("expected the memory maximum, got {other:?}"),
    }
    assert!(tracker.commit_memory("k", 1, 1000).is_err());
    // Session executes commit nothing more.
    drop(tracker.admit("k", limits).expect("a session execute"));
    drop(session);
    drop(run);
    let _all = tracker
        .commit_memory("k", 1000, 1000)
        .expect("all free again");
    assert_eq!(tracker.in_flight("k"), 0);
}

#[tokio::test(start_paused = true)]
async fn a_key_first_seen_by_a_sessions_memory_starts_with_full_buckets() {
    let tracker = QuotaTracker::new();
    let _session = tracker.commit_memory("k", 100, 0).expect("a session");
    let limits = Admission {
        max_concurrency: 0,
        rate_per_minute: 2,
        cpu_ms_per_minute: 1_000,
        max_total_memory_bytes: 0,
        memory_bytes: 0,
    };
    drop(
        tracker
            .admit("k", limits)
            .expect("the rate bucket starts full"),
    );
    drop(
        tracker
            .admit("k", limits)
            .expect("a second run within two per minute"),
    );
    assert!(matches!(
        tracker.admit("k", limits),
        Err(QuotaError::Rate { .. })
    ));
}
