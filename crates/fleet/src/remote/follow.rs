//! [`RemoteFollower`]: a log on a node, followed from a gateway, with the same calls as the
//! engine's own [`Follower`](runnel_engine::api::Follower): `next_batch` and `taken`.
//!
//! Each event arrives once and in order. A frame lost on the bus shows as a gap in the
//! `seq`s, and a stream gone quiet (no frame, not even [`Frame::Idle`], for three idle
//! periods) as silence: either way the follower reopens the stream from the last `seq` it
//! has, which the node still keeps (nothing is let go before it is `taken`). A node that is
//! lost ends the follower with an `unavailable` fault at once.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use futures_util::StreamExt;
use runnel_engine::api::{codec, Event, Fault, FaultKind, Follow};
use tokio::task::JoinHandle;

use super::{node_gone, request_fault, Fleet};
use crate::node::{IDLE_EVERY, STREAM_LEASE};
use crate::wire::{Control, Frame, Open, Opened};

/// A log on a node, followed over the bus. Dropping it closes the stream.
pub struct RemoteFollower {
    fleet: Fleet,
    node: String,
    incarnation: u64,
    follow: Follow,
    stream: Option<Stream>,
    /// The highest `seq` handed out.
    last: u64,
    /// The highest `seq` the caller said it took (shared with the keepalive).
    taken: Arc<AtomicU64>,
    done: bool,
}

/// One opened stream.
struct Stream {
    frames: async_nats::Subscriber,
    control: String,
    keepalive: JoinHandle<()>,
}

impl RemoteFollower {
    pub(super) async fn open(
        fleet: Fleet,
        node: String,
        follow: Follow,
    ) -> Result<RemoteFollower, Fault> {
        let incarnation = fleet.incarnation(&node).ok_or_else(|| node_gone(&node))?;
        let mut follower = RemoteFollower {
            fleet,
            node,
            incarnation,
            last: follow.after,
            taken: Arc::new(AtomicU64::new(follow.after)),
            follow,
            stream: None,
            done: false,
        };
        follower.reopen().await?;
        Ok(follower)
    }

    /// The node whose log this is.
    pub fn node(&self) -> &str {
        &self.node
    }

    /// The next events; `None` after the log's last event. A fault when the log cannot be
    /// followed any more: `unavailable` when its node was lost, `replay_gap` when the
    /// follower fell behind a session's ring.
    pub async fn next_batch(&mut self) -> Option<Result<Vec<Event>, Fault>> {
        let silence = IDLE_EVERY * 3;
        loop {
            if self.done {
                return None;
            }
            let Some(stream) = self.stream.as_mut() else {
                if let Err(fault) = self.reopen().await {
                    self.done = true;
                    return Some(Err(fault));
                }
                continue;
            };
            let frame = tokio::select! {
                frame = tokio::time::timeout(silence, stream.frames.next()) => frame,
                () = self.fleet.gone(&self.node, self.incarnation) => {
                    self.done = true;
                    return Some(Err(node_gone(&self.node)));
                }
            };
            let message = match frame {
                Ok(Some(message)) => message,
                // Silence, or the subscription ended: open the stream again.
                Ok(None) | Err(_) => {
                    tracing::debug!(node = %self.node, "follow: stream silent; reopening");
                    self.close_stream();
                    continue;
                }
            };
            match codec::decode::<Frame>(&message.payload) {
                Ok(Frame::Events(events)) => {
                    let fresh: Vec<Event> = events
                        .into_iter()
                        .filter(|event| event.seq() > self.last)
                        .collect();
                    let Some(first) = fresh.first() else { continue };
                    if first.seq() != self.last + 1 {
                        tracing::debug!(node = %self.node, after = self.last, got = first.seq(), "follow: a frame was lost; reopening");
                        self.close_stream();
                        continue;
                    }
                    if let Some(last) = fresh.last() {
                        self.last = last.seq();
                    }
                    return Some(Ok(fresh));
                }
                Ok(Frame::End) => {
                    self.done = true;
                    self.close_stream();
                    return None;
                }
                Ok(Frame::Fault(fault)) => {
                    self.done = true;
                    self.close_stream();
                    return Some(Err(fault));
                }
                Ok(Frame::Idle) => {}
                Err(error) => {
                    tracing::warn!(node = %self.node, %error, "follow: a frame did not decode; reopening");
                    self.close_stream();
                }
            }
        }
    }

    /// Every event up to `seq` is delivered: the node may send more and let them go.
    pub async fn taken(&self, seq: u64) {
        self.taken.fetch_max(seq, Ordering::SeqCst);
        if let Some(stream) = &self.stream {
            send_control(&self.fleet, &stream.control, Control::Taken(seq)).await;
        }
    }

    /// Open (again) from the last `seq` handed out.
    async fn reopen(&mut self) -> Result<(), Fault> {
        self.close_stream();
        let client = self.fleet.client().clone();
        let inbox = client.new_inbox();
        let frames = client
            .subscribe(inbox.clone())
            .await
            .map_err(|error| Fault::new(FaultKind::Unavailable, format!("the bus: {error}")))?;
        let mut follow = self.follow.clone();
        follow.after = self.last;
        let open = Open {
            follow,
            inbox,
            window: self.fleet.options().window,
        };
        let payload = codec::encode(&open)
            .map_err(|error| Fault::new(FaultKind::Internal, format!("encode: {error}")))?;
        let subject = self.fleet.subjects().open(&self.node);
        let answer = tokio::select! {
            answer = client.request(subject, payload.into()) => answer.map_err(|error| request_fault(&self.node, &error).fault())?,
            () = self.fleet.gone(&self.node, self.incarnation) => return Err(node_gone(&self.node)),
        };
        let opened: Result<Opened, Fault> = codec::decode(&answer.payload).map_err(|error| {
            Fault::new(
                FaultKind::Internal,
                format!(
                    "node `{}` answered something that is not a stream: {error}",
                    self.node
                ),
            )
        })?;
        let control = opened?.control;
        let keepalive = tokio::spawn(keep_alive(
            self.fleet.clone(),
            control.clone(),
            Arc::clone(&self.taken),
        ));
        self.stream = Some(Stream {
            frames,
            control,
            keepalive,
        });
        Ok(())
    }

    fn close_stream(&mut self) {
        if let Some(stream) = self.stream.take() {
            stream.keepalive.abort();
            let fleet = self.fleet.clone();
            if let Ok(runtime) = tokio::runtime::Handle::try_current() {
                runtime.spawn(async move {
                    send_control(&fleet, &stream.control, Control::Close).await;
                });
            }
        }
    }
}

impl Drop for RemoteFollower {
    fn drop(&mut self) {
        self.close_stream();
    }
}

/// Keep the node's lease on the stream: what was taken, a few times per lease.
async fn keep_alive(fleet: Fleet, control: String, taken: Arc<AtomicU64>) {
    let every = STREAM_LEASE / 6;
    loop {
        tokio::time::sleep(every).await;
        send_control(
            &fleet,
            &control,
            Control::Taken(taken.load(Ordering::SeqCst)),
        )
        .await;
    }
}

async fn send_control(fleet: &Fleet, control: &str, message: Control) {
    let Ok(bytes) = codec::encode(&message) else {
        return;
    };
    if let Err(error) = fleet
        .client()
        .publish(control.to_owned(), bytes.into())
        .await
    {
        tracing::warn!(%error, "follow: control");
    }
}
