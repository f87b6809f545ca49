//! The node side: an engine's [`Service`] answering on the bus. A node subscribes to its own
//! subjects (see [`crate::subjects`]), answers each request in a task of its own (at most
//! [`MAX_CALLS`] at once; more wait in the subscription), streams logs with flow control
//! ([`stream`]), and publishes its [`NodeStatus`] every heartbeat and whenever it is asked.

mod stream;

pub use stream::{IDLE_EVERY, MAX_FRAME_BYTES, STREAM_LEASE};

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use runnel_engine::api::{codec, Fault, FaultKind, Request, Response, Service};
use tokio::sync::Semaphore;
use tokio::task::JoinHandle;

use crate::subjects::{is_token, Subjects};
use crate::wire::{NodeStatus, Open};

/// Requests a node answers at once.
pub const MAX_CALLS: usize = 256;
/// Streams a node serves at once; more are refused `unavailable`.
pub const MAX_STREAMS: usize = 4096;
/// The default time between heartbeats.
pub const DEFAULT_HEARTBEAT: Duration = Duration::from_secs(1);
/// How often [`Node::drained`] looks.
const DRAIN_POLL: Duration = Duration::from_millis(100);

/// What a node is.
#[derive(Debug, Clone)]
pub struct NodeOptions {
    /// Its id: unique in the fleet, a NATS token (letters, digits, `-`, `_`).
    pub id: String,
    /// Runs it executes at once (its engine's `max_concurrent_runs`).
    pub capacity: u64,
    /// Time between heartbeats.
    pub heartbeat: Duration,
}

/// Why a node could not start.
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    /// The id is not a NATS token.
    #[error("`{0}` is not a node id: letters, digits, `-` and `_`, at most 64")]
    Id(String),
    /// A subscription failed.
    #[error("subscribe to {subject}: {error}")]
    Subscribe {
        /// The subject.
        subject: String,
        /// Why.
        error: async_nats::SubscribeError,
    },
}

/// A node on the bus. Dropping it stops it answering.
pub struct Node {
    shared: Arc<Shared>,
    tasks: Vec<JoinHandle<()>>,
}

struct Shared {
    client: async_nats::Client,
    subjects: Subjects,
    service: Service,
    options: NodeOptions,
    incarnation: u64,
    draining: AtomicBool,
    calls: Arc<Semaphore>,
    streams: Arc<Semaphore>,
    next_stream: AtomicU64,
}

impl Node {
    /// Start answering as `options.id` on `client`'s bus. The subscriptions are in place on
    /// the server when this returns, and the first heartbeat is out.
    pub async fn start(
        client: async_nats::Client,
        subjects: Subjects,
        service: Service,
        options: NodeOptions,
    ) -> Result<Node, NodeError> {
        if !is_token(&options.id) {
            return Err(NodeError::Id(options.id));
        }
        let shared = Arc::new(Shared {
            client,
            subjects,
            service,
            options,
            incarnation: rand::random(),
            draining: AtomicBool::new(false),
            calls: Arc::new(Semaphore::new(MAX_CALLS)),
            streams: Arc::new(Semaphore::new(MAX_STREAMS)),
            next_stream: AtomicU64::new(1),
        });
        let id = &shared.options.id;
        let calls = shared.subscribe(shared.subjects.call(id)).await?;
        let opens = shared.subscribe(shared.subjects.open(id)).await?;
        let census = shared.subscribe(shared.subjects.census()).await?;
        if let Err(error) = shared.client.flush().await {
            tracing::warn!(%error, "bus: flush after subscribing");
        }
        let tasks = vec![
            tokio::spawn(answer_calls(Arc::clone(&shared), calls)),
            tokio::spawn(open_streams(Arc::clone(&shared), opens)),
            tokio::spawn(answer_census(Arc::clone(&shared), census)),
            tokio::spawn(heartbeats(Arc::clone(&shared))),
        ];
        tracing::info!(node = %shared.options.id, "node: on the bus");
        Ok(Node { shared, tasks })
    }

    /// What the node would say about itself now.
    pub fn status(&self) -> NodeStatus {
        self.shared.status()
    }

    /// Stop taking new runs and sessions (they are refused `unavailable`, and the heartbeats
    /// say `draining`, so gateways place them elsewhere); what it holds goes on.
    pub async fn drain(&self) {
        if !self.shared.draining.swap(true, Ordering::SeqCst) {
            tracing::info!(node = %self.shared.options.id, "node: draining");
            self.shared.publish_status().await;
        }
    }

    /// Resolves once nothing runs and no session is left (they finished, closed or expired).
    pub async fn drained(&self) {
        let engine = self.shared.service.engine();
        while engine.stats().running > 0 || engine.session_count() > 0 {
            tokio::time::sleep(DRAIN_POLL).await;
        }
    }

    /// Stop answering: the bus's requests to this node find no one from now on.
    pub async fn stop(mut self) {
        for task in self.tasks.drain(..) {
            task.abort();
        }
        if let Err(error) = self.shared.client.flush().await {
            tracing::warn!(%error, "bus: flush at stop");
        }
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

impl Shared {
    async fn subscribe(&self, subject: String) -> Result<async_nats::Subscriber, NodeError> {
        self.client
            .subscribe(subject.clone())
            .await
            .map_err(|error| NodeError::Subscribe { subject, error })
    }

    fn status(&self) -> NodeStatus {
        let engine = self.service.engine();
        let stats = engine.stats();
        NodeStatus {
            id: self.options.id.clone(),
            version: env!("CARGO_PKG_VERSION").to_owned(),
            incarnation: self.incarnation,
            running: stats.running,
            capacity: self.options.capacity,
            sessions: u64::try_from(engine.session_count()).unwrap_or(u64::MAX),
            warm: stats
                .pool_ready
                .iter()
                .map(|(language, ready)| (language.clone(), *ready as u64))
                .collect(),
            draining: self.draining.load(Ordering::SeqCst),
            health: stats.health.as_str().to_owned(),
            heartbeat_ms: u64::try_from(self.options.heartbeat.as_millis()).unwrap_or(u64::MAX),
        }
    }

    async fn publish_status(&self) {
        self.publish(self.subjects.heartbeat(), &self.status())
            .await;
    }

    /// Publish `message` on `subject`; a failure (the connection is closing, or the message
    /// is over the server's `max_payload`) is logged, and told.
    async fn publish<T: serde::Serialize>(&self, subject: String, message: &T) -> bool {
        let bytes = match codec::encode(message) {
            Ok(bytes) => bytes,
            Err(error) => {
                tracing::error!(%error, "bus: a message did not encode");
                return false;
            }
        };
        match self.client.publish(subject, bytes.into()).await {
            Ok(()) => true,
            Err(error) => {
                tracing::warn!(%error, "bus: publish");
                false
            }
        }
    }

    /// The answer to one request's bytes.
    async fn answer(&self, payload: &[u8]) -> Response {
        let request: Request = codec::decode(payload).map_err(|error| {
            Fault::new(
                FaultKind::InvalidRequest,
                format!("a request from the bus: {error}"),
            )
        })?;
        let new_work = matches!(request, Request::Run(_) | Request::CreateSession { .. });
        if new_work && self.draining.load(Ordering::SeqCst) {
            return Err(Fault::new(
                FaultKind::Unavailable,
                format!("node `{}` is draining", self.options.id),
            ));
        }
        self.service.call(request).await
    }
}

/// Answer each request on the node's call subject, each in a task of its own.
async fn answer_calls(shared: Arc<Shared>, mut calls: async_nats::Subscriber) {
    while let Some(message) = calls.next().await {
        let Some(reply) = message.reply else {
            continue;
        };
        let Ok(permit) = Arc::clone(&shared.calls).acquire_owned().await else {
            return;
        };
        let shared = Arc::clone(&shared);
        tokio::spawn(async move {
            let response = shared.answer(&message.payload).await;
            if !shared.publish(reply.to_string(), &response).await {
                // The caller must not wait out its timeout for an answer that cannot go.
                let fault: Response = Err(Fault::new(
                    FaultKind::Internal,
                    format!("node `{}` could not send its answer", shared.options.id),
                ));
                shared.publish(reply.to_string(), &fault).await;
            }
            drop(permit);
        });
    }
}

/// Open each stream asked for on the node's open subject.
async fn open_streams(shared: Arc<Shared>, mut opens: async_nats::Subscriber) {
    while let Some(message) = opens.next().await {
        let Some(reply) = message.reply else {
            continue;
        };
        let opened = stream::open(&shared, &message.payload).await;
        shared.publish(reply.to_string(), &opened).await;
    }
}

/// Answer every census with the status at once.
async fn answer_census(shared: Arc<Shared>, mut census: async_nats::Subscriber) {
    while let Some(message) = census.next().await {
        if let Some(reply) = message.reply {
            shared.publish(reply.to_string(), &shared.status()).await;
        }
    }
}

/// A heartbeat now and every `options.heartbeat`.
async fn heartbeats(shared: Arc<Shared>) {
    let mut every = tokio::time::interval(shared.options.heartbeat);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        every.tick().await;
        shared.publish_status().await;
    }
}

/// `Open` decoded, or why not.
fn decode_open(payload: &[u8]) -> Result<Open, Fault> {
    codec::decode(payload).map_err(|error| {
        Fault::new(
            FaultKind::InvalidRequest,
            format!("a stream request from the bus: {error}"),
        )
    })
}
