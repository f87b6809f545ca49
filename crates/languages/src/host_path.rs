//! Host paths in language files: `~` and globs resolved once, at load time.
//!
//! A toolchain's location is host data (the rustup toolchain lives under root's home, versions
//! appear in directory names), but the sandbox needs plain absolute paths for its binds and for
//! argv[0]. So every `[paths]` candidate and every bind is resolved here: `~` becomes the home
//! directory of the user running Runnel ([`HostDirs::home`], read by the caller's
//! configuration), `*` and `?` match within one path component (the last
//! match in sorted order wins, which is the newest version for names that sort that way), and
//! symlinks are resolved so that the bind and the argv inside it agree.

use std::path::{Path, PathBuf};

/// The host's directories a registry needs, read once by the caller's configuration (the cli's
/// `Config`): nothing in this crate reads the environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostDirs {
    /// What `~` in a language file stands for: the home directory of the user running Runnel
    /// (none: `~` stays as it is, so such a path is missing).
    pub home: Option<PathBuf>,
    /// Where version commands run while detecting runtimes (their work and temporary
    /// directory).
    pub scratch: PathBuf,
}

/// Resolve the first candidate that exists. When none does, return the first candidate with
/// only `~` expanded: detection will then report the language as missing, naming that path.
pub(crate) fn resolve_first(candidates: &[String], home: Option<&Path>) -> Option<String> {
    candidates
        .iter()
        .find_map(|candidate| resolve(candidate, home))
        .or_else(|| candidates.first().map(|first| expand_home(first, home)))
}

/// Resolve one candidate: `~`, then globs, then symlinks. `None` if nothing exists there.
pub(crate) fn resolve(candidate: &str, home: Option<&Path>) -> Option<String> {
    let expanded = expand_home(candidate, home);
    let found = if has_wildcard(&expanded) {
        glob_last(Path::new(&expanded))?
    } else {
        PathBuf::from(&expanded)
    };
    let canonical = found.canonicalize().ok()?;
    Some(canonical.to_string_lossy().into_owned())
}

/// Replace a leading `~` with `home`.
pub(crate) fn expand_home(path: &str, home: Option<&Path>) -> String {
    let rest = match path.strip_prefix('~') {
        Some(rest) if rest.is_empty() || rest.starts_with('/') => rest,
        _ => return path.to_string(),
    };
    match home {
        Some(home) => format!("{}{rest}", home.to_string_lossy().trim_end_matches('/')),
        None => path.to_string(),
    }
}

fn has_wildcard(path: &str) -> bool {
    path.contains(['*', '?'])
}

/// The last (in sorted order) existing path matching `pattern`.
fn glob_last(pattern: &Path) -> Option<PathBuf> {
    let mut matches = vec![PathBuf::from("/")];
    for component in pattern.components().skip(1) {
        let part = component.as_os_str().to_string_lossy();
        let mut next = Vec::new();
        for base in &matches {
            if has_wildcard(&part) {
                let Ok(entries) = std::fs::read_dir(base) else {
                    continue;
                };
                for entry in entries.flatten() {
                    let name = entry.file_name().to_string_lossy().into_owned();
                    if wildcard_match(part.as_bytes(), name.as_bytes()) {
                        next.push(base.join(name));
                    }
                }
            } else {
                let joined = base.join(part.as_ref());
                if joined.exists() {
                    next.push(joined);
                }
            }
        }
        matches = next;
    }
    matches.sort();
    matches.pop()
}

/// `*` matches any run of bytes, `?` one byte; everything else matches itself.
fn wildcard_match(pattern: &[u8], name: &[u8]) -> bool {
    match pattern.split_first() {
        None => name.is_empty(),
        Some((b'*', rest)) => (0..=name.len()).any(|skip| wildcard_match(rest, &name[skip..])),
        Some((b'?', rest)) => !name.is_empty() && wildcard_match(rest, &name[1..]),
        Some((byte, rest)) => name.first() == Some(byte) && wildcard_match(rest, &name[1..]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards_match_within_a_name() {
        assert!(wildcard_match(
            b"1.95.0-*",
            b"1.95.0-x86_64-unknown-linux-gnu"
        ));
        assert!(wildcard_match(
            b"java-??-openjdk*",
            b"java-17-openjdk-amd64"
        ));
        assert!(!wildcard_match(b"java-?-openjdk", b"java-17-openjdk"));
        assert!(wildcard_match(b"*", b""));
    }

    #[test]
    fn globs_pick_the_last_match_and_resolve_symlinks() {
        let dir = tempfile::tempdir().unwrap();
        for name in ["tool-1.2", "tool-1.10", "tool-1.9", "other"] {
            std::fs::create_dir(dir.path().join(name)).unwrap();
        }
        let root = dir.path().canonicalize().unwrap();
        let pattern = format!("{}/tool-1.?", root.display());
        assert_eq!(
            resolve(&pattern, None),
            Some(format!("{}/tool-1.9", root.display()))
        );
        std::os::unix::fs::symlink(root.join("tool-1.2"), root.join("current")).unwrap();
        let link = format!("{}/current", root.display());
        assert_eq!(
            resolve(&link, None),
            Some(format!("{}/tool-1.2", root.display()))
        );
        let missing = format!("{}/nothing-*", root.display());
        assert_eq!(resolve(&missing, None), None);
        assert_eq!(
            resolve_first(&[missing.clone(), link], None),
            Some(format!("{}/tool-1.2", root.display()))
        );
        assert_eq!(
            resolve_first(std::slice::from_ref(&missing), None),
            Some(missing)
        );
    }

    #[test]
    fn tilde_is_the_home_directory() {
        let home = Some(Path::new("/home/ada/"));
        assert_eq!(expand_home("~/.rustup", home), "/home/ada/.rustup");
        assert_eq!(expand_home("~", home), "/home/ada");
        assert_eq!(expand_home("~user/x", home), "~user/x");
        assert_eq!(expand_home("/usr/bin", home), "/usr/bin");
        assert_eq!(expand_home("~/.rustup", None), "~/.rustup");
    }
}
