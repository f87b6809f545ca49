//! The fleet's own messages on the bus, beside the engine boundary's [`Request`] and
//! [`Response`]: what a node says about itself, and the frames of a followed log. All of them
//! go through the boundary's codec (MessagePack, fields by name, bounded decoding).
//!
//! [`Request`]: runnel_engine::api::Request
//! [`Response`]: runnel_engine::api::Response

use std::collections::BTreeMap;

use runnel_engine::api::{Event, Fault, Follow};
use serde::{Deserialize, Serialize};

/// What a node publishes about itself every heartbeat, and in answer to a census.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NodeStatus {
    /// The node's id (unique in the fleet).
    pub id: String,
    /// The runnel version it runs.
    pub version: String,
    /// A number drawn when the node started: a node heard from with a new one restarted, and
    /// what it held before is gone.
    pub incarnation: u64,
    /// Runs executing now.
    pub running: u64,
    /// Runs it executes at once (more wait on it).
    pub capacity: u64,
    /// Sessions it holds.
    pub sessions: u64,
    /// Ready sandboxes in its warm pool, by language.
    #[serde(default)]
    pub warm: BTreeMap<String, u64>,
    /// It takes no new runs or sessions (it is draining before it stops).
    #[serde(default)]
    pub draining: bool,
    /// `ready`, `degraded` or `down`, as its `/healthz` would say.
    pub health: String,
    /// Milliseconds between its heartbeats.
    pub heartbeat_ms: u64,
}

/// A gateway asks a node to stream a log to `inbox`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Open {
    /// Which log, from where.
    pub follow: Follow,
    /// Where the node publishes the [`Frame`]s.
    pub inbox: String,
    /// Bytes of frames the node may have sent and not yet seen acknowledged by a
    /// [`Control::Taken`].
    pub window: u64,
}

/// The node's answer to an [`Open`]: where the gateway sends its [`Control`]s.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Opened {
    /// The stream's control subject.
    pub control: String,
}

/// What a node publishes on a stream's inbox.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Frame {
    /// Events, in order, each with its `seq`.
    Events(Vec<Event>),
    /// The log ended: no event follows.
    End,
    /// The log cannot be followed any more (the follower fell behind a session's ring, say).
    Fault(Fault),
    /// Nothing new: the stream is alive.
    Idle,
}

/// What a gateway sends on a stream's control subject.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Control {
    /// Every event up to this `seq` is delivered: the node may send more, and the log may
    /// let them go. Also sent now and then as a keepalive.
    Taken(u64),
    /// The gateway no longer follows.
    Close,
}
