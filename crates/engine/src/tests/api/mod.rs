//! The engine through its boundary ([`crate::api`]), as a caller on another machine drives
//! it: every request, reply and event goes through the bus encoding ([`codec`]) and back
//! before it is used, so what these tests see is what crosses a wire.

mod runs;
mod sessions;

use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::Serialize;

use super::Harness;
use crate::api::{codec, Event, Fault, FaultKind, Follow, LogId, Reply, Request, Service};

/// Longest a test waits for an event (on tokio's clock) before it fails.
const EVENT_WAIT: Duration = Duration::from_secs(120);

/// `value` encoded and decoded again, as a bus carries it.
fn over_the_wire<T: Serialize + DeserializeOwned>(value: &T) -> T {
    let bytes = codec::encode(value).expect("a boundary message encodes");
    codec::decode(&bytes).expect("what was encoded decodes")
}

/// A caller of a [`Service`] over the codec.
struct Wire {
    service: Service,
    harness: Harness,
}

impl Wire {
    async fn new() -> Wire {
        let harness = Harness::new().await;
        Wire {
            service: Service::new(harness.engine.clone()),
            harness,
        }
    }

    /// The response to `request`, both across the wire.
    async fn call(&self, request: Request) -> Result<Reply, Fault> {
        let request = over_the_wire(&request);
        over_the_wire(&self.service.call(request).await)
    }

    /// The reply to `request`, which must succeed.
    async fn ok(&self, request: Request) -> Reply {
        let shown = format!("{request:?}");
        self.call(request)
            .await
            .unwrap_or_else(|fault| panic!("{shown} failed: {fault:?}"))
    }

    /// The fault `request` gets, which must fail.
    async fn fault(&self, request: Request) -> Fault {
        let shown = format!("{request:?}");
        match self.call(request).await {
            Ok(reply) => panic!("{shown} succeeded: {reply:?}"),
            Err(fault) => fault,
        }
    }

    /// A follower of `log` of `owner` from `after`.
    fn follow(&self, owner: &str, log: LogId, after: u64) -> Result<Followed, Fault> {
        let follow = over_the_wire(&Follow {
            owner: owner.to_owned(),
            log,
            after,
        });
        Ok(Followed {
            follower: self.service.follow(&follow)?,
        })
    }
}

/// A log followed across the wire.
struct Followed {
    follower: crate::api::Follower,
}

impl Followed {
    /// The next batch of events (each taken once delivered); `None` after the log's last.
    async fn next_batch(&mut self) -> Option<Vec<Event>> {
        let batch = tokio::time::timeout(EVENT_WAIT, self.follower.next_batch())
            .await
            .expect("events in time")?
            .expect("no replay gap");
        let batch = over_the_wire(&batch);
        if let Some(last) = batch.last() {
            self.follower.taken(last.seq());
        }
        Some(batch)
    }

    /// Every event up to and including the first that `wanted` accepts.
    async fn until(&mut self, what: &str, wanted: impl Fn(&Event) -> bool) -> Vec<Event> {
        let mut seen = Vec::new();
        loop {
            let Some(batch) = self.next_batch().await else {
                panic!("the log ended before {what}: {seen:?}");
            };
            for event in batch {
                let found = wanted(&event);
                seen.push(event);
                if found {
                    return seen;
                }
            }
        }
    }
}

#[test]
fn faults_keep_their_kind_and_text_across_the_wire() {
    let gap = crate::ReplayGap {
        after: 3,
        oldest: 10,
    };
    let fault = over_the_wire(&Fault::from(gap));
    assert_eq!(fault.kind, FaultKind::ReplayGap);
    assert_eq!(fault.gap, Some(gap));
    let unknown = over_the_wire(&Fault::from(crate::EngineError::UnknownLanguage(
        "cobol".into(),
    )));
    assert_eq!(unknown.kind, FaultKind::UnknownLanguage);
    assert_eq!(unknown.message, "unknown language `cobol`");
    assert_eq!(unknown.gap, None);
    let invalid = Fault::from(crate::EngineError::InvalidRequest("no code".into()));
    assert_eq!(
        (invalid.kind, invalid.message.as_str()),
        (FaultKind::InvalidRequest, "no code")
    );
}
