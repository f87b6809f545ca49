//! The language registry: one folder per language under `languages/` (its `language.toml`),
//! validated at start-up, with the runtimes that are really installed detected (and their
//! versions read) on this host.
//!
//! Languages are data, not code. The engine asks a [`Language`] for the argv of its compile and
//! run steps, the environment (with memory hints derived from the run's memory limit), the
//! limits of the compile step and the read-only binds its toolchain needs inside the sandbox.
//! The schema of the files is documented in `languages/README.md`; the toolchains they expect
//! are installed by `scripts/install-languages.sh`.
//!
//! # Layout
//! - [`registry`](Registry): loading (embedded or from a directory), lookup, detection.
//! - `spec`: the TOML schema and its validation into a [`Language`].
//! - `language`: a [`Language`] and what the engine asks of it.
//! - `template`: `{placeholder}` expansion in argv and environment templates.
//! - `host_path`: `~`, globs and symlinks of host paths, resolved at load time.
//! - `detect`: version commands run on the host.
//! - `extensions`: file extensions → language ids ([`EXTENSIONS`]), for clients.
//! - `artifact`: which files a compile leaves for the run (`compile.artifacts` patterns).
//! - `warm`: warm-start drivers ([`WarmStart`]) for the engine's warm pool.
//! - `repl`: session drivers ([`SessionDriver`]): persistent interpreters with a control channel.
//! - [`cases`]: the test cases of the language folders (`languages/<id>/cases.toml`), for the
//!   conformance and session suites.
//! - [`wire`]: the session drivers' JSON lines, typed ([`wire::HostMessage`],
//!   [`wire::DriverEvent`]), for the engine and the fuzz target.

mod artifact;
pub mod cases;
mod detect;
mod error;
mod extensions;
mod host_path;
mod language;
mod registry;
mod repl;
mod spec;
mod template;
mod warm;
pub mod wire;

pub use error::LanguageError;
pub use extensions::{language_for_extension, EXTENSIONS};
pub use host_path::HostDirs;
pub use language::{CompileLimits, Language, ReplSpec, SandboxDirs, SANDBOX_PATH};
pub use registry::Registry;
pub use repl::SessionDriver;
pub use warm::WarmStart;
