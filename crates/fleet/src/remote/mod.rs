//! The gateway side: the fleet as a gateway sees it. A [`Fleet`] listens to the nodes'
//! heartbeats, places new work ([`nodes`] says how), carries each [`Request`] to the node
//! that must answer it, and follows logs across the bus ([`RemoteFollower`]).
//!
//! A node not heard from for [`FleetOptions::missed_heartbeats`] of its heartbeats (it says
//! how often it beats), or heard from as a new
//! incarnation (it restarted), is lost: what waits on it (a call, a follower) ends at once
//! with an `unavailable` fault naming the node, and [`Fleet::lost`] tells the gateway, so
//! that it can end that node's runs and sessions for their clients.

mod follow;
pub(crate) mod nodes;

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt;
use runnel_engine::api::{
    codec, Fault, FaultKind, Follow, LogId, Reply, Request, Response, SessionOp,
};
use tokio::sync::{broadcast, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;

pub use follow::RemoteFollower;

use crate::subjects::Subjects;
use crate::wire::NodeStatus;
use nodes::{Heard, Nodes};

/// How often a gateway looks for nodes gone silent.
const REAP_EVERY: Duration = Duration::from_millis(100);

/// How a gateway treats the fleet.
#[derive(Debug, Clone)]
pub struct FleetOptions {
    /// A node that misses this many of its heartbeats in a row is lost.
    pub missed_heartbeats: u32,
    /// Bytes a node may stream ahead of what this gateway's clients took, per followed log.
    pub window: u64,
}

impl Default for FleetOptions {
    fn default() -> FleetOptions {
        FleetOptions {
            missed_heartbeats: 3,
            window: 1 << 20,
        }
    }
}

/// A node that was lost: it stopped heartbeating, or came back as a new incarnation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeLost {
    /// Its id.
    pub node: String,
    /// The incarnation that was lost.
    pub incarnation: u64,
}

/// The fleet, from one gateway. Cheap to clone.
#[derive(Clone)]
pub struct Fleet {
    inner: Arc<Inner>,
}

struct Inner {
    client: async_nats::Client,
    subjects: Subjects,
    options: FleetOptions,
    nodes: Mutex<Nodes>,
    /// Bumped at every heartbeat and whenever a node is lost.
    changes: watch::Sender<u64>,
    lost: broadcast::Sender<NodeLost>,
    tasks: Mutex<Vec<JoinHandle<()>>>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        for task in lock(&self.tasks).drain(..) {
            task.abort();
        }
    }
}

impl Fleet {
    /// Join the fleet on `client`'s bus: listen to heartbeats, and ask every node for its
    /// status at once (a census) rather than wait for the next heartbeat.
    pub async fn join(
        client: async_nats::Client,
        subjects: Subjects,
        options: FleetOptions,
    ) -> Result<Fleet, async_nats::SubscribeError> {
        let heartbeats = client.subscribe(subjects.heartbeat()).await?;
        let census_inbox = client.new_inbox();
        let census = client.subscribe(census_inbox.clone()).await?;
        let inner = Arc::new(Inner {
            client,
            subjects,
            options,
            nodes: Mutex::default(),
            changes: watch::Sender::new(0),
            lost: broadcast::Sender::new(1024),
            tasks: Mutex::default(),
        });
        let weak = Arc::downgrade(&inner);
        let listen = |mut subscriber: async_nats::Subscriber| {
            let weak = weak.clone();
            async move {
                while let Some(message) = subscriber.next().await {
                    let Some(inner) = weak.upgrade() else { return };
                    match codec::decode::<NodeStatus>(&message.payload) {
                        Ok(status) => inner.heard(status),
                        Err(error) => tracing::warn!(%error, "fleet: a heartbeat did not decode"),
                    }
                }
            }
        };
        let tasks = vec![
            tokio::spawn(listen(heartbeats)),
            tokio::spawn(listen(census)),
            tokio::spawn(reap(weak.clone())),
        ];
        *lock(&inner.tasks) = tasks;
        let census_subject = inner.subjects.census();
        if let Err(error) = inner
            .client
            .publish_with_reply(census_subject, census_inbox, Bytes::new())
            .await
        {
            tracing::warn!(%error, "fleet: census");
        }
        Ok(Fleet { inner })
    }

    /// The nodes alive now, by id.
    pub fn nodes(&self) -> Vec<NodeStatus> {
        let mut nodes: Vec<NodeStatus> = lock(&self.inner.nodes)
            .known
            .values()
            .map(|known| known.status.clone())
            .collect();
        nodes.sort_by(|a, b| a.id.cmp(&b.id));
        nodes
    }

    /// Resolves once `predicate` holds for the nodes alive (checked at every change).
    pub async fn wait_for(&self, predicate: impl Fn(&[NodeStatus]) -> bool) {
        let mut changes = self.inner.changes.subscribe();
        loop {
            if predicate(&self.nodes()) {
                return;
            }
            if changes.changed().await.is_err() {
                return;
            }
        }
    }

    /// Lost nodes, from now on.
    pub fn lost(&self) -> broadcast::Receiver<NodeLost> {
        self.inner.lost.subscribe()
    }

    /// The incarnation of `node` alive now.
    pub fn incarnation(&self, node: &str) -> Option<u64> {
        lock(&self.inner.nodes)
            .known
            .get(node)
            .map(|known| known.status.incarnation)
    }

    /// Send `request` to a node that may take new work of `language` (best first; see
    /// [`nodes`]): the node that took it and its answer. A node that answers `unavailable`
    /// (it began draining, say) or is not on the bus is passed over for the next; one that
    /// does not answer in time is not (it may have taken the work), and its fault is the
    /// answer. `unavailable` when no node took it.
    pub async fn place(
        &self,
        language: Option<&str>,
        request: &Request,
    ) -> Result<(String, Reply), Fault> {
        let candidates = lock(&self.inner.nodes).candidates(language);
        let mut last = Fault::new(FaultKind::Unavailable, "no node is available to run it");
        for node in candidates {
            lock(&self.inner.nodes).placed(&node);
            match self.exchange(&node, request).await {
                Ok(Ok(reply)) => return Ok((node, reply)),
                Ok(Err(fault)) if fault.kind == FaultKind::Unavailable => last = fault,
                Err(Carried::Unreached(fault)) => last = fault,
                Ok(Err(fault)) | Err(Carried::Unknown(fault)) => return Err(fault),
            }
        }
        Err(last)
    }

    /// Carry `request` to `node` and wait for its answer: `unavailable` if the node is not on
    /// the bus, does not answer in time, or is lost meanwhile.
    pub async fn call(&self, node: &str, request: &Request) -> Response {
        self.exchange(node, request).await.map_err(Carried::fault)?
    }

    /// `node`'s answer to `request`, or why there is none.
    async fn exchange(&self, node: &str, request: &Request) -> Result<Response, Carried> {
        let Some(incarnation) = self.incarnation(node) else {
            return Err(Carried::Unreached(node_gone(node)));
        };
        let payload = codec::encode(request).map_err(|error| {
            Carried::Unreached(Fault::new(
                FaultKind::Internal,
                format!("encode a request: {error}"),
            ))
        })?;
        let asked = async_nats::Request::new()
            .payload(payload.into())
            .timeout(Some(call_timeout(request)));
        let subject = self.inner.subjects.call(node);
        let message = tokio::select! {
            answer = self.inner.client.send_request(subject, asked) => answer.map_err(|error| request_fault(node, &error))?,
            () = self.gone(node, incarnation) => return Err(Carried::Unknown(node_gone(node))),
        };
        codec::decode::<Response>(&message.payload).map_err(|error| {
            Carried::Unknown(Fault::new(
                FaultKind::Internal,
                format!("node `{node}` answered something that is not a response: {error}"),
            ))
        })
    }

    /// Follow a log on `node` from `follow.after`.
    pub async fn follow(&self, node: &str, follow: Follow) -> Result<RemoteFollower, Fault> {
        RemoteFollower::open(self.clone(), node.to_owned(), follow).await
    }

    /// The node that holds `owner`'s run or session `log`, asking every node at once; `None`
    /// when none does.
    pub async fn locate(&self, owner: &str, log: &LogId) -> Option<String> {
        let request = match log {
            LogId::Run(run) => Request::DescribeRun {
                owner: owner.to_owned(),
                run: run.clone(),
            },
            LogId::Session(session) => Request::Session {
                owner: owner.to_owned(),
                session: session.clone(),
                op: SessionOp::Describe,
            },
        };
        let nodes: Vec<String> = self.nodes().into_iter().map(|status| status.id).collect();
        let mut asked: futures_util::stream::FuturesUnordered<_> = nodes
            .iter()
            .map(|node| {
                let request = &request;
                async move { (node, self.call(node, request).await) }
            })
            .collect();
        while let Some((node, answer)) = asked.next().await {
            if answer.is_ok() {
                return Some(node.clone());
            }
        }
        None
    }

    /// Resolves when `node`'s `incarnation` is lost.
    pub(crate) async fn gone(&self, node: &str, incarnation: u64) {
        let mut changes = self.inner.changes.subscribe();
        loop {
            if self.incarnation(node) != Some(incarnation) {
                return;
            }
            if changes.changed().await.is_err() {
                return std::future::pending().await;
            }
        }
    }

    pub(crate) fn client(&self) -> &async_nats::Client {
        &self.inner.client
    }

    pub(crate) fn subjects(&self) -> &Subjects {
        &self.inner.subjects
    }

    pub(crate) fn options(&self) -> &FleetOptions {
        &self.inner.options
    }
}

impl Inner {
    fn heard(&self, status: NodeStatus) {
        let id = status.id.clone();
        let heard = lock(&self.nodes).heard(status, Instant::now());
        match heard {
            Heard::Again => {}
            Heard::Joined => tracing::info!(node = %id, "fleet: node joined"),
            Heard::Restarted(incarnation) => {
                tracing::warn!(node = %id, "fleet: node restarted; what it held is lost");
                let _ = self.lost.send(NodeLost {
                    node: id,
                    incarnation,
                });
            }
        }
        self.changes.send_modify(|generation| *generation += 1);
    }
}

/// Forget the nodes gone silent, looking every [`REAP_EVERY`].
async fn reap(inner: std::sync::Weak<Inner>) {
    loop {
        tokio::time::sleep(REAP_EVERY).await;
        let Some(inner) = inner.upgrade() else { return };
        let gone: Vec<(String, u64)> = {
            let mut nodes = lock(&inner.nodes);
            let incarnations: Vec<(String, u64)> = nodes
                .known
                .iter()
                .map(|(id, known)| (id.clone(), known.status.incarnation))
                .collect();
            let lost = nodes.reap(Instant::now(), inner.options.missed_heartbeats);
            incarnations
                .into_iter()
                .filter(|(id, _)| lost.contains(id))
                .collect()
        };
        for (node, incarnation) in gone {
            tracing::warn!(%node, "fleet: node lost (no heartbeat)");
            let _ = inner.lost.send(NodeLost { node, incarnation });
            inner.changes.send_modify(|generation| *generation += 1);
        }
    }
}

/// How long a request may take: those that start interpreters or write files get longer.
fn call_timeout(request: &Request) -> Duration {
    match request {
        Request::CreateSession { .. }
        | Request::Session {
            op: SessionOp::Restart | SessionOp::Upload(_) | SessionOp::Close,
            ..
        } => Duration::from_secs(120),
        _ => Duration::from_secs(30),
    }
}

/// Why a request has no answer.
pub(crate) enum Carried {
    /// It never reached a node: nothing was done.
    Unreached(Fault),
    /// It may have reached the node, which may have acted on it.
    Unknown(Fault),
}

impl Carried {
    pub(crate) fn fault(self) -> Fault {
        match self {
            Carried::Unreached(fault) | Carried::Unknown(fault) => fault,
        }
    }
}

pub(crate) fn request_fault(node: &str, error: &async_nats::RequestError) -> Carried {
    use async_nats::RequestErrorKind;
    match error.kind() {
        RequestErrorKind::NoResponders => Carried::Unreached(node_gone(node)),
        RequestErrorKind::TimedOut => Carried::Unknown(Fault::new(
            FaultKind::Unavailable,
            format!("node `{node}` did not answer in time"),
        )),
        RequestErrorKind::MaxPayloadExceeded => Carried::Unreached(Fault::new(
            FaultKind::InvalidRequest,
            format!("the request is larger than the bus carries: {error}"),
        )),
        _ => Carried::Unknown(Fault::new(
            FaultKind::Unavailable,
            format!("the bus: {error}"),
        )),
    }
}

pub(crate) fn node_gone(node: &str) -> Fault {
    Fault::new(FaultKind::Unavailable, format!("node `{node}` was lost"))
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}
