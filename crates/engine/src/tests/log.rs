//! A run's event log: a reader comes back from any `seq` it saw, a reader slower than the
//! program loses nothing, and the log keeps only its newest events.

use runnel_protocol::{RunStatus, StreamName};

use super::{finish, request, Harness};
use crate::log::Entry;
use crate::RunEvent;

fn seqs(batch: &[std::sync::Arc<Entry<RunEvent>>]) -> Vec<u64> {
    batch.iter().map(|entry| entry.seq).collect()
}

#[tokio::test]
async fn a_second_reader_resumes_after_any_seq_the_first_saw() {
    let harness = Harness::new().await;
    let mut run = request("fake", "print a\neprint b\nprint c");
    run.replay_bytes = 1 << 20;
    let handle = harness.engine.run(run).expect("accepted");
    let log = handle.log();
    let finished = finish(handle).await;
    assert_eq!(finished.status(), RunStatus::Ok);

    let everything = log
        .subscribe(0)
        .expect("all kept")
        .next_batch()
        .await
        .expect("events")
        .expect("no gap");
    let count = u64::try_from(everything.len()).expect("small");
    assert_eq!(seqs(&everything), (1..=count).collect::<Vec<_>>());
    assert_eq!(log.last_seq(), count);
    let kinds: Vec<RunEvent> = everything.iter().map(|entry| entry.kind.clone()).collect();
    assert_eq!(
        kinds, finished.events,
        "the log is what the first reader read"
    );

    let after_two = log
        .subscribe(2)
        .expect("kept")
        .next_batch()
        .await
        .expect("events")
        .expect("no gap");
    assert_eq!(seqs(&after_two), (3..=count).collect::<Vec<_>>());
    let mut at_end = log.subscribe(count).expect("kept");
    assert!(
        at_end.next_batch().await.is_none(),
        "nothing after the exit"
    );
}

#[tokio::test]
async fn a_reader_slower_than_the_program_loses_nothing_and_only_the_newest_are_kept() {
    let harness = Harness::new().await;
    // Ten times what the log may hold: the program must wait for its reader.
    let bytes: usize = 640 * 1024;
    let mut run = request("fake", &format!("flood {bytes}"));
    run.limits.output_bytes = 10 * bytes as u64;
    let mut handle = harness.engine.run(run).expect("accepted");
    let log = handle.log();
    let mut seen = Vec::new();
    let mut received = 0;
    while let Some(event) = handle.next_event().await {
        // Yield between events so the program can run ahead as far as the log lets it.
        tokio::task::yield_now().await;
        if let RunEvent::Output {
            stream: StreamName::Stdout,
            data,
            ..
        } = &event
        {
            received += data.len();
        }
        seen.push(event);
    }
    assert_eq!(received, bytes, "every byte reached the reader");
    let Some(RunEvent::Exit(outcome)) = seen.last() else {
        panic!("no exit: {:?}", seen.last());
    };
    assert_eq!(outcome.status, RunStatus::Ok, "{outcome:?}");

    let gap = log.subscribe(0).expect_err("the oldest events are gone");
    assert!(gap.oldest > 1, "{gap:?}");
    let last = log.last_seq();
    assert_eq!(last, u64::try_from(seen.len()).expect("small"));
    let tail = log
        .subscribe(last - 1)
        .expect("the newest are kept")
        .next_batch()
        .await
        .expect("the exit")
        .expect("no gap");
    assert_eq!(seqs(&tail), vec![last]);
}
