//! The Runnel engine: turns a run request into sandboxed processes and a stream of events.
//!
//! Data flows one way: the gateway hands the engine a [`RunRequest`] (domain types, already
//! validated at the edge), the engine picks a language from the registry, takes a sandbox from
//! the warm pool (or creates one), compiles through the cache when the language needs it, starts
//! the program and streams [`RunEvent`]s back. Stdin and signals go the other way through a
//! [`RunController`].
//!
//! # Layout
//! - [`api`]: the engine's API as one typed, serializable boundary (requests, replies, events),
//!   for a caller in-process or on another machine.
//! - [`run`]: the public request, event and outcome types (`signal`: the signals a client sends).
//! - `config`: [`EngineConfig`] and its defaults.
//! - `context`: what every part shares (settings, languages, backend, cache, counters, slots,
//!   memory budget); it holds none of the parts, so nothing imports back up to [`Engine`].
//! - [`backend`]: the seam to what makes sandboxes (the kernel sandbox; a fake in tests).
//! - `executor`: one run from sandbox to outcome (compile, run, limits, statuses).
//! - `input`: stdin and signals for a run, bounded.
//! - `output`: reading pipes, UTF-8-aligned chunks, the output cap.
//! - `cache`: the compile cache keyed by toolchain version, sources and flags.
//! - `pool`: the warm pools (one type for the runs' warm sandboxes and the sessions' ready
//!   drivers), per language, each item handed out once.
//! - `refill`: how the warm pools' refills are going (failures in a row, backoff).
//! - `health`: the engine's real state for `/healthz`; recovery after a spawner restart.
//! - [`session`]: sessions: state that persists, terminals, files, replay after reconnect.
//! - `stats`: counters and latency histograms for `/api/v1/stats` and `/metrics`.

pub mod api;
pub mod backend;
mod cache;
mod config;
mod context;
mod engine;
mod error;
mod executor;
mod health;
mod input;
pub mod log;
mod memory;
mod output;
mod pool;
mod refill;
pub mod run;
pub mod session;
mod signal;
mod stats;
#[cfg(test)]
mod tests;

pub use config::{
    EngineConfig, DEFAULT_MAX_CONCURRENT_RUNS, DEFAULT_POOL_LANGUAGES, DEFAULT_POOL_SIZE,
};
pub use engine::Engine;
pub use error::{DriverStartError, EngineError};
pub use input::{StdinRefused, MAX_PENDING_STDIN};
pub use memory::default_committed_memory_bytes;
pub use refill::FailingPool;
pub use run::{
    Limits, RunController, RunEvent, RunHandle, RunLog, RunOutcome, RunRequest, RunSubscription,
    Signal, SourceFile,
};
pub use session::{
    CreateSession, FileInfo, FileListing, PtyProcess, ReplayGap, SessionConfig, SessionEvent,
    SessionEventKind, SessionHandle, SessionInfo, SessionRun, Subscription,
    DEFAULT_SESSION_CPU_BUDGET, DEFAULT_SESSION_IDLE_TIMEOUT, DEFAULT_SESSION_LOG_BYTES,
    DEFAULT_SESSION_MAX_LIFETIME, DEFAULT_SESSION_POOL_SIZE,
};
pub use stats::{EngineStats, Histogram};
