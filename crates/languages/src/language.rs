//! One language: how to compile and run it.

use std::path::PathBuf;

/// A language, validated and (after detection) with the installed runtime's version.
#[derive(Debug, Clone, PartialEq)]
pub struct Language {
    /// Lowercase id (`python`).
    pub id: String,
    /// Display name (`Python`).
    pub name: String,
    /// Aliases (`py`, `python3`).
    pub aliases: Vec<String>,
    /// Source file name for single-file programs (`main.py`, `Main.java`).
    pub source_file: String,
    /// The installed version ("" before detection).
    pub version: String,
    /// Read-only binds the toolchain needs besides `/usr`, `/lib*`, `/bin`, `/etc` basics.
    pub binds: Vec<PathBuf>,
    /// Whether a compile step runs first.
    pub compiled: bool,
    /// Minimum pids the runtime needs to start (JVM about 20, BEAM about 23).
    pub min_pids: u32,
    /// Minimum memory the runtime needs to start, bytes.
    pub min_memory_bytes: u64,
    // Private fields (templates, env, compile limits) are the registry's business.
}

/// Why the registry could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LanguageError {
    /// A TOML file could not be read.
    #[error("read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The failure.
        #[source]
        source: std::io::Error,
    },
    /// A TOML file is invalid.
    #[error("{file}: {message}")]
    Invalid {
        /// The file.
        file: String,
        /// What is wrong.
        message: String,
    },
}
