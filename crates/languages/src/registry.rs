//! The set of languages: loaded from TOML, validated, looked up by id or alias.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use crate::detect;
use crate::error::LanguageError;
use crate::host_path::HostDirs;
use crate::language::Language;
use crate::spec;

/// The repository's `languages/<id>/language.toml` files, embedded at build time (`build.rs`),
/// as (`<id>/language.toml`, text).
const EMBEDDED: &[(&str, &str)] = include!(concat!(env!("OUT_DIR"), "/embedded_languages.rs"));

/// A version check that timed out with every other one running is tried again alone with
/// this many times its timeout.
const RETRY_PATIENCE: u32 = 3;

/// All languages, sorted by id. Cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct Registry {
    languages: Arc<[Language]>,
    /// Lowercase id or alias -> index into `languages`.
    index: Arc<HashMap<String, usize>>,
}

impl Registry {
    /// The repository's `languages/<id>/language.toml` files, embedded in the binary at
    /// build time, so a binary works from any directory. Versions are empty until
    /// [`Registry::detect`]. `~` in host paths is `host.home`.
    pub fn embedded(host: &HostDirs) -> Result<Registry, LanguageError> {
        Self::from_texts(
            EMBEDDED
                .iter()
                .map(|(file, text)| (file.to_string(), *text)),
            host,
        )
    }

    /// Load and validate every language of a directory (operators can add languages): each
    /// `<dir>/<id>/language.toml` (the repository's layout) and each `<dir>/<id>.toml` (the
    /// older flat layout, still accepted). A folder without a `language.toml` is ignored.
    pub fn load_dir(dir: &Path, host: &HostDirs) -> Result<Registry, LanguageError> {
        let read_dir_error = |source| LanguageError::ReadDir {
            path: dir.to_path_buf(),
            source,
        };
        let mut paths = Vec::new();
        for entry in std::fs::read_dir(dir).map_err(read_dir_error)? {
            let path = entry.map_err(read_dir_error)?.path();
            if path.is_dir() {
                let file = path.join("language.toml");
                if file.is_file() {
                    paths.push(file);
                }
            } else if path
                .extension()
                .is_some_and(|extension| extension == "toml")
            {
                paths.push(path);
            }
        }
        if paths.is_empty() {
            return Err(LanguageError::NoLanguages {
                path: dir.to_path_buf(),
            });
        }
        paths.sort();
        let mut texts = Vec::with_capacity(paths.len());
        for path in paths {
            let text = std::fs::read_to_string(&path).map_err(|source| LanguageError::Read {
                path: path.clone(),
                source,
            })?;
            texts.push((path.display().to_string(), text));
        }
        Self::from_texts(
            texts
                .iter()
                .map(|(file, text)| (file.clone(), text.as_str())),
            host,
        )
    }

    /// Parse and validate one language file's text; `file` names it in errors.
    pub fn parse_file(file: &str, text: &str, host: &HostDirs) -> Result<Language, LanguageError> {
        spec::parse(file, text, host.home.as_deref())
    }

    /// Build a registry from already-validated languages (ids and aliases must be unique).
    pub fn from_languages(languages: Vec<Language>) -> Result<Registry, LanguageError> {
        let mut languages = languages;
        languages.sort_by(|a, b| a.id.cmp(&b.id));
        let mut index: HashMap<String, usize> = HashMap::new();
        for (position, language) in languages.iter().enumerate() {
            for name in std::iter::once(&language.id).chain(&language.aliases) {
                let name = name.to_lowercase();
                if let Some(&other) = index.get(&name) {
                    if other == position {
                        continue;
                    }
                    return Err(LanguageError::Duplicate {
                        file: language.file().to_string(),
                        name,
                        other: languages[other].file().to_string(),
                    });
                }
                index.insert(name, position);
            }
        }
        Ok(Registry {
            languages: languages.into(),
            index: Arc::new(index),
        })
    }

    /// Run each language's version command on the host (in parallel, each with a timeout and a
    /// clean environment), keep only the languages whose toolchain works, and fill in their
    /// versions. Logs which are available (info) and why the others are not (debug). The
    /// commands run in `host.scratch`.
    pub fn detect(self, host: &HostDirs) -> Registry {
        self.detect_with_reasons(host).0
    }

    /// Like [`Registry::detect`], but also returns why each missing language is unavailable,
    /// as (id, reason), for `runnel doctor` and tests.
    pub fn detect_with_reasons(self, host: &HostDirs) -> (Registry, Vec<(String, String)>) {
        let scratch = host.scratch.as_path();
        let mut results: Vec<Result<String, detect::Missing>> = std::thread::scope(|scope| {
            let handles: Vec<_> = self
                .languages
                .iter()
                .map(|language| scope.spawn(move || detect::detect(language, scratch, 1)))
                .collect();
            handles
                .into_iter()
                .map(|handle| {
                    handle
                        .join()
                        .unwrap_or_else(|_| Err("version check panicked".into()))
                })
                .collect()
        });
        // All at once, ~40 version commands (JVMs and BEAM among them) share the machine; on a
        // loaded host a working toolchain can run out of time. Each one that did is checked
        // again alone, with three times its timeout, before it counts as missing.
        for (language, result) in self.languages.iter().zip(results.iter_mut()) {
            if matches!(result, Err(missing) if missing.timed_out) {
                tracing::info!(language = %language.id, "version check timed out; checking it again alone");
                *result = detect::detect(language, scratch, RETRY_PATIENCE);
            }
        }
        let mut available = Vec::new();
        let mut summary = Vec::new();
        let mut reasons = Vec::new();
        for (language, result) in self.languages.iter().zip(results) {
            match result {
                Ok(version) => {
                    summary.push(format!("{} {version}", language.id));
                    let mut language = language.clone();
                    language.version = version;
                    available.push(language);
                }
                Err(detect::Missing { reason, .. }) => {
                    tracing::debug!(language = %language.id, %reason, "language unavailable");
                    reasons.push((language.id.clone(), reason));
                }
            }
        }
        tracing::info!(languages = %summary.join(", "), "languages available");
        // Ids and aliases were unique before, so they still are.
        (Self::from_languages(available).unwrap_or_default(), reasons)
    }

    /// All languages, sorted by id.
    pub fn languages(&self) -> &[Language] {
        &self.languages
    }

    /// The language with this id or alias, case-insensitively.
    pub fn get(&self, id_or_alias: &str) -> Option<&Language> {
        let position = self.index.get(&id_or_alias.to_lowercase())?;
        self.languages.get(*position)
    }

    fn from_texts<'a>(
        texts: impl Iterator<Item = (String, &'a str)>,
        host: &HostDirs,
    ) -> Result<Registry, LanguageError> {
        let languages = texts
            .map(|(file, text)| spec::parse(&file, text, host.home.as_deref()))
            .collect::<Result<Vec<_>, _>>()?;
        Self::from_languages(languages)
    }
}
