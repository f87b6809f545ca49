//! The language registry: one TOML file per language under `languages/`, validated at start-up,
//! with the runtimes that are really installed detected (and their versions read) on this host.
//!
//! Languages are data, not code. The engine asks a [`Language`] for the argv of its compile and
//! run steps, the environment (with memory hints derived from the run's memory limit) and the
//! read-only binds its toolchain needs inside the sandbox.

mod language;
mod registry;

pub use language::{Language, LanguageError};
pub use registry::Registry;
