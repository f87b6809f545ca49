//! Runnel's fleet: the engine's boundary ([`runnel_engine::api`]) carried over NATS, so that
//! gateways on some machines drive engines on others.
//!
//! - A **node** ([`Node`]) owns an engine (sandboxes, pools, sessions, their event logs) and
//!   answers on the bus: requests on its own subject, streams of its logs with flow control,
//!   a heartbeat every second with its load and warm pool.
//! - A **gateway** joins the [`Fleet`]: it learns the nodes from their heartbeats, places new
//!   runs and sessions ([`remote::nodes`](crate::remote) documents the policy), carries each
//!   request to the node that holds its run or session, and follows logs from any `seq`
//!   ([`RemoteFollower`]).
//!
//! The bus carries the boundary's own values, encoded by its codec (MessagePack); the
//! subjects are listed in [`subjects`], the fleet's own messages in [`wire`]. The event logs
//! live on the nodes: a gateway holds nothing a client needs, so a client whose gateway died
//! resumes through another from its last `seq`.

mod connect;
mod node;
mod remote;
pub mod subjects;
pub mod wire;

pub use connect::{connect, BusOptions, ConnectError};
pub use node::{
    Node, NodeError, NodeOptions, DEFAULT_HEARTBEAT, IDLE_EVERY, MAX_CALLS, MAX_FRAME_BYTES,
    MAX_STREAMS, STREAM_LEASE,
};
pub use remote::{Fleet, FleetOptions, NodeLost, RemoteFollower};
pub use subjects::Subjects;
