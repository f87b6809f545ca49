//! A followed log, streamed from a node to a gateway's inbox with flow control.
//!
//! The node sends [`Frame`]s while the bytes it sent and the gateway has not acknowledged
//! (with [`Control::Taken`]) stay under the window the gateway asked for; past it, it stops
//! reading the log. The gateway acknowledges what its client has received, so a slow client
//! holds the node's reader, and a run's log, being full, holds the run (its pipes fill): no
//! part buffers without bound. Events the gateway has not acknowledged stay in the log, so a
//! gateway that lost a frame (or died) reopens from its last `seq` and loses nothing.
//!
//! A stream whose gateway says nothing for [`STREAM_LEASE`] (it keeps the lease with a
//! `Taken` every few seconds) is closed; one with nothing to send says [`Frame::Idle`] every
//! [`IDLE_EVERY`], so that the gateway can tell a quiet stream from a lost one.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use runnel_engine::api::{codec, Event, Fault, FaultKind, Follower};
use tokio::time::Instant;

use super::{decode_open, Shared};
use crate::wire::{Control, Frame, Opened};

/// A stream whose gateway sent nothing for this long is closed.
pub const STREAM_LEASE: Duration = Duration::from_secs(30);
/// A stream with nothing to send says so this often.
pub const IDLE_EVERY: Duration = Duration::from_secs(5);
/// Largest frame: well under NATS's default `max_payload` of 1 MiB.
pub const MAX_FRAME_BYTES: usize = 256 * 1024;
/// The window a gateway may ask for, bytes.
const WINDOW: std::ops::RangeInclusive<u64> = (64 * 1024)..=(16 << 20);

/// Open the stream that `payload` asks for: the answer for the gateway.
pub(super) async fn open(shared: &Arc<Shared>, payload: &[u8]) -> Result<Opened, Fault> {
    let open = decode_open(payload)?;
    let permit = Arc::clone(&shared.streams)
        .try_acquire_owned()
        .map_err(|_| {
            Fault::new(
                FaultKind::Unavailable,
                format!(
                    "node `{}` serves as many streams as it may",
                    shared.options.id
                ),
            )
        })?;
    let follower = shared.service.follow(&open.follow)?;
    let number = shared
        .next_stream
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let control = shared.subjects.stream(&shared.options.id, number);
    let controls = shared
        .client
        .subscribe(control.clone())
        .await
        .map_err(|error| Fault::new(FaultKind::Internal, format!("subscribe: {error}")))?;
    let stream = Stream {
        client: shared.client.clone(),
        inbox: open.inbox,
        window: open.window.clamp(*WINDOW.start(), *WINDOW.end()),
    };
    tokio::spawn(async move {
        stream.serve(follower, controls).await;
        drop(permit);
    });
    Ok(Opened { control })
}

struct Stream {
    client: async_nats::Client,
    inbox: String,
    window: u64,
}

/// Why a stream stopped.
enum Stop {
    /// It sent its last frame.
    Done,
    /// The gateway closed it, went quiet, or the bus failed.
    Gone(&'static str),
}

impl Stream {
    async fn serve(self, mut follower: Follower, mut controls: async_nats::Subscriber) {
        // Frames sent and not yet acknowledged: (their last seq, their bytes).
        let mut unacked: VecDeque<(u64, u64)> = VecDeque::new();
        let mut in_flight: u64 = 0;
        let mut lease = Instant::now() + STREAM_LEASE;
        let mut idle = tokio::time::interval_at(Instant::now() + IDLE_EVERY, IDLE_EVERY);
        let stop = loop {
            let room = in_flight < self.window;
            tokio::select! {
                batch = follower.next_batch(), if room => {
                    match batch {
                        None => {
                            let _ = self.send(&Frame::End).await;
                            break Stop::Done;
                        }
                        Some(Err(fault)) => {
                            let _ = self.send(&Frame::Fault(fault)).await;
                            break Stop::Done;
                        }
                        Some(Ok(events)) => {
                            if let Err(stop) = self.send_events(events, &mut unacked, &mut in_flight).await {
                                break stop;
                            }
                        }
                    }
                    idle.reset();
                }
                control = controls.next() => match control.map(|m| codec::decode::<Control>(&m.payload)) {
                    None => break Stop::Gone("the bus closed"),
                    Some(Ok(Control::Taken(seq))) => {
                        lease = Instant::now() + STREAM_LEASE;
                        follower.taken(seq);
                        while unacked.front().is_some_and(|(last, _)| *last <= seq) {
                            if let Some((_, bytes)) = unacked.pop_front() {
                                in_flight = in_flight.saturating_sub(bytes);
                            }
                        }
                    }
                    Some(Ok(Control::Close)) => break Stop::Gone("the gateway closed it"),
                    Some(Err(error)) => tracing::warn!(%error, "stream: a control message did not decode"),
                },
                () = tokio::time::sleep_until(lease) => break Stop::Gone("its gateway went quiet"),
                _ = idle.tick() => {
                    if let Err(stop) = self.send(&Frame::Idle).await {
                        break stop;
                    }
                }
            }
        };
        match stop {
            Stop::Done => tracing::debug!(inbox = %self.inbox, "stream: ended"),
            Stop::Gone(why) => tracing::debug!(inbox = %self.inbox, why, "stream: closed"),
        }
        let _ = controls.unsubscribe().await;
    }

    /// Send `events` in frames of at most [`MAX_FRAME_BYTES`] (an event larger than that
    /// alone), each counted against the window.
    async fn send_events(
        &self,
        events: Vec<Event>,
        unacked: &mut VecDeque<(u64, u64)>,
        in_flight: &mut u64,
    ) -> Result<(), Stop> {
        let mut pending = vec![events];
        while let Some(chunk) = pending.pop() {
            let Some(last) = chunk.last().map(Event::seq) else {
                continue;
            };
            let frame = Frame::Events(chunk);
            let bytes = encode(&frame)?;
            if bytes.len() > MAX_FRAME_BYTES {
                if let Frame::Events(mut chunk) = frame {
                    if chunk.len() > 1 {
                        let second = chunk.split_off(chunk.len() / 2);
                        pending.push(second);
                        pending.push(chunk);
                        continue;
                    }
                }
            }
            let len = bytes.len() as u64;
            self.publish(bytes).await?;
            unacked.push_back((last, len));
            *in_flight += len;
        }
        Ok(())
    }

    async fn send(&self, frame: &Frame) -> Result<(), Stop> {
        self.publish(encode(frame)?).await
    }

    async fn publish(&self, bytes: Vec<u8>) -> Result<(), Stop> {
        self.client
            .publish(self.inbox.clone(), bytes.into())
            .await
            .map_err(|error| {
                tracing::warn!(%error, "stream: publish");
                Stop::Gone("the bus refused a frame")
            })
    }
}

fn encode(frame: &Frame) -> Result<Vec<u8>, Stop> {
    codec::encode(frame).map_err(|error| {
        tracing::error!(%error, "stream: a frame did not encode");
        Stop::Gone("a frame did not encode")
    })
}
