//! The compile cache: a compiled program is keyed by the toolchain, the sources and the flags,
//! stored on disk in the engine's own directory, and never compiled twice — concurrent requests
//! for the same key wait for the first compile instead of starting their own.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use runnel_sandbox::FileEntry;
use sha2::{Digest, Sha256};

use crate::error::EngineError;

/// Header of a cache entry file; bump the digit when the layout changes.
const MAGIC: &[u8; 6] = b"RNLC1\n";

/// The largest compiled tree that is kept.
pub(crate) const MAX_ENTRY_BYTES: u64 = 128 << 20;

/// On-disk cache of compiled programs.
#[derive(Debug)]
pub(crate) struct CompileCache {
    dir: PathBuf,
    max_total_bytes: u64,
    inflight: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

/// The cache key of a program.
pub(crate) fn cache_key(toolchain: &str, files: &[FileEntry], compiler_args: &[String]) -> String {
    let mut hasher = Sha256::new();
    let mut field = |bytes: &[u8]| {
        hasher.update((bytes.len() as u64).to_le_bytes());
        hasher.update(bytes);
    };
    field(toolchain.as_bytes());
    for file in files {
        field(file.path.as_bytes());
        field(&[u8::from(file.executable)]);
        field(&file.contents);
    }
    field(b"--");
    for argument in compiler_args {
        field(argument.as_bytes());
    }
    hex::encode(hasher.finalize())
}

impl CompileCache {
    pub(crate) fn open(dir: &Path, max_total_bytes: u64) -> Result<Self, EngineError> {
        std::fs::create_dir_all(dir).map_err(|source| EngineError::Io {
            path: dir.to_owned(),
            source,
        })?;
        Ok(CompileCache {
            dir: dir.to_owned(),
            max_total_bytes,
            inflight: Mutex::new(HashMap::new()),
        })
    }

    /// A lock held while a key is looked up and, on a miss, compiled.
    pub(crate) fn key_lock(&self, key: &str) -> Arc<tokio::sync::Mutex<()>> {
        let mut inflight = self
            .inflight
            .lock()
            .unwrap_or_else(|poison| poison.into_inner());
        // Forget locks nobody holds any more, so the map stays small.
        inflight.retain(|_, lock| Arc::strong_count(lock) > 1);
        inflight.entry(key.to_owned()).or_default().clone()
    }

    fn path_of(&self, key: &str) -> PathBuf {
        self.dir.join(key)
    }

    /// The compiled tree of `key`, if cached.
    pub(crate) fn get(&self, key: &str) -> Option<Vec<FileEntry>> {
        let path = self.path_of(key);
        let mut file = std::fs::File::open(&path).ok()?;
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes).ok()?;
        match decode(&bytes) {
            Some(entries) => {
                // Touch for LRU eviction; failure only makes eviction less accurate.
                let _ = file.set_modified(std::time::SystemTime::now());
                Some(entries)
            }
            None => {
                tracing::warn!(path = %path.display(), "corrupt compile cache entry removed");
                let _ = std::fs::remove_file(&path);
                None
            }
        }
    }

    /// Store the compiled tree of `key`, then evict the least recently used entries over the cap.
    pub(crate) fn put(&self, key: &str, entries: &[FileEntry]) -> Result<(), EngineError> {
        let bytes = encode(entries);
        let path = self.path_of(key);
        let temporary = self.dir.join(format!(".{key}.{}", std::process::id()));
        let io_error = |source| EngineError::Io {
            path: temporary.clone(),
            source,
        };
        let mut file = std::fs::File::create(&temporary).map_err(io_error)?;
        file.write_all(&bytes).map_err(io_error)?;
        drop(file);
        std::fs::rename(&temporary, &path).map_err(|source| EngineError::Io {
            path: path.clone(),
            source,
        })?;
        self.evict();
        Ok(())
    }

    fn evict(&self) {
        let Ok(listing) = std::fs::read_dir(&self.dir) else {
            return;
        };
        let mut entries: Vec<(std::time::SystemTime, u64, PathBuf)> = listing
            .filter_map(|entry| entry.ok())
            .filter_map(|entry| {
                let metadata = entry.metadata().ok()?;
                let modified = metadata.modified().ok()?;
                Some((modified, metadata.len(), entry.path()))
            })
            .collect();
        let mut total: u64 = entries.iter().map(|(_, size, _)| size).sum();
        if total <= self.max_total_bytes {
            return;
        }
        entries.sort();
        for (_, size, path) in entries {
            if total <= self.max_total_bytes {
                break;
            }
            if std::fs::remove_file(&path).is_ok() {
                total = total.saturating_sub(size);
            }
        }
    }
}

fn encode(entries: &[FileEntry]) -> Vec<u8> {
    let mut bytes = MAGIC.to_vec();
    for entry in entries {
        bytes.extend_from_slice(&(entry.path.len() as u64).to_le_bytes());
        bytes.extend_from_slice(entry.path.as_bytes());
        bytes.push(u8::from(entry.executable));
        bytes.extend_from_slice(&(entry.contents.len() as u64).to_le_bytes());
        bytes.extend_from_slice(&entry.contents);
    }
    bytes
}

fn decode(bytes: &[u8]) -> Option<Vec<FileEntry>> {
    let mut reader = Reader {
        rest: bytes.strip_prefix(MAGIC.as_slice())?,
    };
    let mut entries = Vec::new();
    while !reader.rest.is_empty() {
        let path_length = reader.length()?;
        let path = String::from_utf8(reader.take(path_length)?.to_vec()).ok()?;
        let executable = reader.take(1)?[0] != 0;
        let content_length = reader.length()?;
        let contents = reader.take(content_length)?.to_vec();
        entries.push(FileEntry {
            path,
            contents,
            executable,
        });
    }
    Some(entries)
}

/// Reads the fields of an entry file; every read fails on truncated input.
struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, count: usize) -> Option<&'a [u8]> {
        if self.rest.len() < count {
            return None;
        }
        let (head, tail) = self.rest.split_at(count);
        self.rest = tail;
        Some(head)
    }

    fn length(&mut self) -> Option<usize> {
        let bytes: [u8; 8] = self.take(8)?.try_into().ok()?;
        usize::try_from(u64::from_le_bytes(bytes)).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(path: &str, contents: &[u8], executable: bool) -> FileEntry {
        FileEntry {
            path: path.to_owned(),
            contents: contents.to_vec(),
            executable,
        }
    }

    #[test]
    fn entries_round_trip_through_disk() {
        let dir = tempfile::tempdir().expect("tempdir");
        let cache = CompileCache::open(dir.path(), 1 << 30).expect("open");
        let entries = vec![
            entry("main", b"\x7fELF...", true),
            entry("a/b.class", b"", false),
        ];
        cache.put("k1", &entries).expect("put");
        assert_eq!(cache.get("k1"), Some(entries));
        assert_eq!(cache.get("missing"), None);
    }

    #[test]
    fn key_changes_with_sources_flags_and_toolchain() {
        let files = vec![entry("main.c", b"int main(){}", false)];
        let base = cache_key("gcc 12", &files, &[]);
        assert_eq!(base, cache_key("gcc 12", &files, &[]));
        assert_ne!(base, cache_key("gcc 13", &files, &[]));
        assert_ne!(base, cache_key("gcc 12", &files, &["-O0".to_owned()]));
        let other = vec![entry("main.c", b"int main(){ }", false)];
        assert_ne!(base, cache_key("gcc 12", &other, &[]));
    }

    #[test]
    fn eviction_keeps_the_total_under_the_cap() {
        let dir = tempfile::tempdir().expect("tempdir");
        let cache = CompileCache::open(dir.path(), 3000).expect("open");
        for index in 0..5 {
            cache
                .put(&format!("k{index}"), &[entry("main", &[0u8; 1000], true)])
                .expect("put");
        }
        let total: u64 = std::fs::read_dir(dir.path())
            .expect("list")
            .map(|entry| entry.expect("entry").metadata().expect("metadata").len())
            .sum();
        assert!(total <= 3000, "total {total}");
        assert!(cache.get("k4").is_some(), "newest entry kept");
    }

    #[test]
    fn corrupt_entries_are_misses() {
        let dir = tempfile::tempdir().expect("tempdir");
        let cache = CompileCache::open(dir.path(), 1 << 30).expect("open");
        std::fs::write(dir.path().join("bad"), b"RNLC1\n\x05\x00").expect("write");
        assert_eq!(cache.get("bad"), None);
    }
}
