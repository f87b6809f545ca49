//! Runnel protocol v1: the JSON messages of `/ws`, `/stream/session/:id/*` and the HTTP API.
//!
//! This crate is the single source of truth for the wire format. It derives serde and nothing
//! else: no tokio, no I/O. The gateway converts these types to the engine's domain types at the
//! edge; the Rust client, the SDKs' docs and `docs/protocol.md` follow it.
//!
//! # Layout
//! - [`client`]: messages a client sends (`action`-tagged).
//! - [`server`]: messages the server sends (`type`-tagged).
//! - [`http`]: bodies of the HTTP API.
//! - [`session`]: session bodies of the HTTP API and the terminal protocol.
//! - [`status`]: the run statuses and error codes that SDKs switch on.
//! - [`decode`]: strict frame decoding with errors that name what was wrong.

pub mod client;
pub mod decode;
pub mod http;
pub mod limits;
pub mod schema;
pub mod server;
pub mod session;
pub mod status;

pub use client::{ClientMessage, ExecuteRequest, FileSpec};
pub use decode::{decode_client_frame, DecodeError};
pub use limits::LimitsSpec;
pub use server::{ErrorMessage, ExitMessage, OutputChunk, ResultMessage, ServerMessage};
pub use status::{ErrorCode, RunStatus, Stage, StreamName};

/// The protocol version this crate implements.
pub const PROTOCOL_VERSION: u32 = 1;
