//! Why a language file or directory could not be loaded.

use std::path::PathBuf;

/// Why the registry could not be loaded. Every message names the file (and field) involved.
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
    /// The language directory could not be listed.
    #[error("list language directory {path}: {source}")]
    ReadDir {
        /// The directory.
        path: PathBuf,
        /// The failure.
        #[source]
        source: std::io::Error,
    },
    /// The directory holds no `<id>/language.toml` nor `<id>.toml` file.
    #[error("no language files (<id>/language.toml or <id>.toml) in {path}")]
    NoLanguages {
        /// The directory.
        path: PathBuf,
    },
    /// A TOML file is invalid: not TOML, a missing or unknown field, or a value that fails
    /// validation. `message` names the field.
    #[error("{file}: {message}")]
    Invalid {
        /// The file.
        file: String,
        /// What is wrong, naming the field.
        message: String,
    },
    /// Two files claim the same id or alias.
    #[error("{file}: id or alias {name:?} is already used by {other}")]
    Duplicate {
        /// The file loaded second.
        file: String,
        /// The clashing id or alias (lowercase).
        name: String,
        /// The file that claimed it first.
        other: String,
    },
}
