//! Runnel's Rust client for protocol v1 (`/ws`), and the logic of `runnel exec` and
//! `runnel bench`, which the CLI wires to its arguments.
//!
//! # Layout
//! - [`Client`] (`connection`): one logical connection with TCP_NODELAY; sends go straight
//!   from the caller's task. A supervisor task (`link`) routes frames by run id (`routing`),
//!   keeps a heartbeat, and on a lost socket reconnects with backoff ([`ClientOptions`]) and
//!   resumes every streamed run from its last `seq`, re-sending unapplied stdin.
//! - [`Run`] (`run`): one streamed run's events, stdin and signals; it keeps the last `seq`
//!   for a later resume.
//! - [`endpoint`]: URL normalisation. [`language`]: language from a file extension.
//! - [`exec`](mod@exec): `runnel exec`, with the exit-code mapping in [`exec::exit_code`].
//! - [`bench`](mod@bench): `runnel bench` scenarios, HDR-histogram statistics and the report.
//! - [`error`] holds [`ClientError`].

pub mod bench;
mod connection;
pub mod endpoint;
pub mod error;
pub mod exec;
pub mod language;
mod link;
mod options;
mod routing;
mod run;

pub use bench::{bench, BenchOptions, BenchReport, Scenario};
pub use connection::{Client, PING_TIMEOUT};
pub use error::ClientError;
pub use exec::{exec, ExecOptions};
pub use link::ConnectionState;
pub use options::{Backoff, ClientOptions, Heartbeat};
pub use run::Run;
