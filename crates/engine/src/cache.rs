//! The compile cache: a compiled program is keyed by its key (tenant), the toolchain, the
//! sources and the flags, stored on disk in the engine's own directory, and never compiled
//! twice — concurrent requests for the same key wait for the first compile instead of starting
//! their own.
//!
//! What goes in is only ever made from the sources alone: one-shot runs compile in a fresh
//! sandbox before the program runs, and only the language's declared artifacts
//! (`compile.artifacts`) are kept, at most [`MAX_ENTRY_BYTES`]. Sessions compile in their own
//! sandbox, among the session's files and processes, and never read or write the cache.
//!
//! The cache is partitioned by key: an entry serves only the key whose run compiled it, so
//! nothing (no binary, no file, not even the `cached` flag telling that someone compiled this
//! source before) passes from one key to another. Each key's partition is capped at
//! `max_total_bytes / OWNER_SHARE`, so one key cannot flush the others' entries; above that,
//! the least recently used entries of the whole cache go first.

use std::collections::HashMap;
use std::io::{BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use runnel_sandbox::FileEntry;
use sha2::{Digest, Sha256};

use crate::error::EngineError;

/// Header of a cache entry file; bump the digit when the layout changes.
const MAGIC: &[u8; 6] = b"RNLC1\n";

/// The largest compiled tree that is kept (a compile that leaves more is not cached; its run
/// goes on from the sandbox it compiled in).
pub(crate) const MAX_ENTRY_BYTES: u64 = 32 << 20;

/// One key may hold at most this fraction of the whole cache.
const OWNER_SHARE: u64 = 8;

/// Where one compiled program lives: the partition of its key and the entry in it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct CacheKey {
    partition: String,
    entry: String,
}

/// On-disk cache of compiled programs.
#[derive(Debug)]
pub(crate) struct CompileCache {
    dir: PathBuf,
    max_total_bytes: u64,
    inflight: Mutex<HashMap<CacheKey, Arc<tokio::sync::Mutex<()>>>>,
    /// Failed writes since start.
    write_errors: std::sync::atomic::AtomicU64,
    /// Why the last write failed, until one works again.
    failing: Mutex<Option<String>>,
}

/// The cache key of a program compiled for `owner` (a key id).
pub(crate) fn cache_key(
    owner: &str,
    toolchain: &str,
    files: &[FileEntry],
    compiler_args: &[String],
) -> CacheKey {
    let mut hasher = Sha256::new();
    let mut field = |bytes: &[u8]| {
        hasher.update((bytes.len() as u64).to_le_bytes());
        hasher.update(bytes);
    };
    field(owner.as_bytes());
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
    let partition = Sha256::digest([b"owner\0".as_slice(), owner.as_bytes()].concat());
    CacheKey {
        partition: hex::encode(&partition[..16]),
        entry: hex::encode(hasher.finalize()),
    }
}

impl CompileCache {
    pub(crate) fn open(dir: &Path, max_total_bytes: u64) -> Result<Self, EngineError> {
        std::fs::create_dir_all(dir).map_err(|source| EngineError::Io {
            path: dir.to_owned(),
            source,
        })?;
        // Entries of the layout before partitions (shared by every key) are not trusted.
        if let Ok(listing) = std::fs::read_dir(dir) {
            for entry in listing.filter_map(|entry| entry.ok()) {
                if entry.file_type().is_ok_and(|kind| kind.is_file()) {
                    let _ = std::fs::remove_file(entry.path());
                }
            }
        }
        Ok(CompileCache {
            dir: dir.to_owned(),
            max_total_bytes,
            inflight: Mutex::new(HashMap::new()),
            write_errors: std::sync::atomic::AtomicU64::new(0),
            failing: Mutex::new(None),
        })
    }

    /// A lock held while a key is looked up and, on a miss, compiled.
    pub(crate) fn key_lock(&self, key: &CacheKey) -> Arc<tokio::sync::Mutex<()>> {
        let mut inflight = self
            .inflight
            .lock()
            .unwrap_or_else(|poison| poison.into_inner());
        // Forget locks nobody holds any more, so the map stays small.
        inflight.retain(|_, lock| Arc::strong_count(lock) > 1);
        inflight.entry(key.clone()).or_default().clone()
    }

    fn partition_dir(&self, key: &CacheKey) -> PathBuf {
        self.dir.join(&key.partition)
    }

    fn path_of(&self, key: &CacheKey) -> PathBuf {
        self.partition_dir(key).join(&key.entry)
    }

    /// The compiled tree of `key`, if cached.
    pub(crate) fn get(&self, key: &CacheKey) -> Option<Vec<FileEntry>> {
        let path = self.path_of(key);
        let mut file = std::fs::File::open(&path).ok()?;
        let length = file.metadata().ok()?.len();
        if length > MAX_ENTRY_BYTES + (64 << 10) {
            tracing::warn!(path = %path.display(), length, "oversized compile cache entry removed");
            let _ = std::fs::remove_file(&path);
            return None;
        }
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

    /// Store the compiled tree of `key`, then evict the least recently used entries over the
    /// key's share and over the whole cache's cap. A failure (a full disk) is counted and kept
    /// as the cache's problem until a write works again.
    pub(crate) fn put(&self, key: &CacheKey, entries: &[FileEntry]) -> Result<(), EngineError> {
        let result = self.write(key, entries);
        let mut failing = self
            .failing
            .lock()
            .unwrap_or_else(|poison| poison.into_inner());
        match &result {
            Ok(()) => *failing = None,
            Err(error) => {
                self.write_errors
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                *failing = Some(error.to_string());
            }
        }
        result
    }

    /// Failed writes since start, and why writes fail now (`None` while they work).
    pub(crate) fn write_health(&self) -> (u64, Option<String>) {
        let failing = self
            .failing
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
            .clone();
        (
            self.write_errors.load(std::sync::atomic::Ordering::Relaxed),
            failing,
        )
    }

    fn write(&self, key: &CacheKey, entries: &[FileEntry]) -> Result<(), EngineError> {
        let partition = self.partition_dir(key);
        std::fs::create_dir_all(&partition).map_err(|source| EngineError::Io {
            path: partition.clone(),
            source,
        })?;
        let path = self.path_of(key);
        let temporary = partition.join(format!(".{}.{}", key.entry, std::process::id()));
        let io_error = |source| EngineError::Io {
            path: temporary.clone(),
            source,
        };
        let written = std::fs::File::create(&temporary)
            .and_then(|file| encode(BufWriter::new(file), entries))
            .map_err(io_error);
        if let Err(error) = written {
            let _ = std::fs::remove_file(&temporary);
            return Err(error);
        }
        std::fs::rename(&temporary, &path).map_err(|source| EngineError::Io {
            path: path.clone(),
            source,
        })?;
        evict(
            &mut list_entries(&partition),
            self.max_total_bytes / OWNER_SHARE,
        );
        let mut everything = Vec::new();
        if let Ok(partitions) = std::fs::read_dir(&self.dir) {
            for partition in partitions.filter_map(|entry| entry.ok()) {
                everything.extend(list_entries(&partition.path()));
            }
        }
        evict(&mut everything, self.max_total_bytes);
        Ok(())
    }
}

/// The entry files of one partition: (last used, size, path).
fn list_entries(dir: &Path) -> Vec<(std::time::SystemTime, u64, PathBuf)> {
    let Ok(listing) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    listing
        .filter_map(|entry| entry.ok())
        .filter_map(|entry| {
            let metadata = entry.metadata().ok()?;
            if !metadata.is_file() {
                return None;
            }
            Some((metadata.modified().ok()?, metadata.len(), entry.path()))
        })
        .collect()
}

/// Remove the least recently used of `entries` until they total at most `cap` bytes.
fn evict(entries: &mut [(std::time::SystemTime, u64, PathBuf)], cap: u64) {
    let mut total: u64 = entries.iter().map(|(_, size, _)| size).sum();
    if total <= cap {
        return;
    }
    entries.sort();
    for (_, size, path) in entries.iter() {
        if total <= cap {
            break;
        }
        if std::fs::remove_file(path).is_ok() {
            total = total.saturating_sub(*size);
        }
    }
}

/// Write an entry file straight to `out`: nothing is copied into a second buffer.
fn encode(mut out: impl Write, entries: &[FileEntry]) -> std::io::Result<()> {
    out.write_all(MAGIC)?;
    for entry in entries {
        out.write_all(&(entry.path.len() as u64).to_le_bytes())?;
        out.write_all(entry.path.as_bytes())?;
        out.write_all(&[u8::from(entry.executable)])?;
        out.write_all(&(entry.contents.len() as u64).to_le_bytes())?;
        out.write_all(&entry.contents)?;
    }
    out.flush()
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

    fn key(owner: &str, source: &str) -> CacheKey {
        cache_key(
            owner,
            "gcc 12",
            &[entry("main.c", source.as_bytes(), false)],
            &[],
        )
    }

    fn total_bytes(dir: &Path) -> u64 {
        let mut total = 0;
        for partition in std::fs::read_dir(dir).expect("list") {
            let partition = partition.expect("entry").path();
            total += list_entries(&partition)
                .iter()
                .map(|(_, size, _)| size)
                .sum::<u64>();
        }
        total
    }

    #[test]
    fn entries_round_trip_through_disk() {
        let dir = tempfile::tempdir().expect("tempdir");
        let cache = CompileCache::open(dir.path(), 1 << 30).expect("open");
        let entries = vec![
            entry("main", b"\x7fELF...", true),
            entry("a/b.class", b"", false),
        ];
        cache.put(&key("a", "k1"), &entries).expect("put");
        assert_eq!(cache.get(&key("a", "k1")), Some(entries));
        assert_eq!(cache.get(&key("a", "missing")), None);
    }

    #[test]
    fn key_changes_with_owner_sources_flags_and_toolchain() {
        let files = vec![entry("main.c", b"int main(){}", false)];
        let base = cache_key("a", "gcc 12", &files, &[]);
        assert_eq!(base, cache_key("a", "gcc 12", &files, &[]));
        assert_ne!(base, cache_key("b", "gcc 12", &files, &[]));
        assert_ne!(base, cache_key("a", "gcc 13", &files, &[]));
        assert_ne!(base, cache_key("a", "gcc 12", &files, &["-O0".to_owned()]));
        let other = vec![entry("main.c", b"int main(){ }", false)];
        assert_ne!(base, cache_key("a", "gcc 12", &other, &[]));
    }

    #[test]
    fn an_entry_serves_only_the_key_that_compiled_it() {
        let dir = tempfile::tempdir().expect("tempdir");
        let cache = CompileCache::open(dir.path(), 1 << 30).expect("open");
        cache
            .put(
                &key("a", "same source"),
                &[entry("main", b"A's binary", true)],
            )
            .expect("put");
        assert_eq!(cache.get(&key("b", "same source")), None);
        assert!(cache.get(&key("a", "same source")).is_some());
    }

    #[test]
    fn eviction_keeps_the_total_under_the_cap() {
        let dir = tempfile::tempdir().expect("tempdir");
        let cap = 3000 * OWNER_SHARE;
        let cache = CompileCache::open(dir.path(), cap).expect("open");
        let mut age = 0;
        for owner in 0..(2 * OWNER_SHARE) {
            for index in 0..2 {
                let key = key(&format!("owner{owner}"), &format!("k{index}"));
                cache
                    .put(&key, &[entry("main", &[0u8; 1000], true)])
                    .expect("put");
                // File times are coarse: give each entry its own, in order of use.
                age += 1;
                let used = std::time::UNIX_EPOCH + std::time::Duration::from_secs(age);
                std::fs::File::options()
                    .write(true)
                    .open(cache.path_of(&key))
                    .and_then(|file| file.set_modified(used))
                    .expect("set time");
            }
        }
        assert!(total_bytes(dir.path()) <= cap);
        let last = format!("owner{}", 2 * OWNER_SHARE - 1);
        assert!(cache.get(&key(&last, "k1")).is_some(), "newest entry kept");
    }

    #[test]
    fn one_key_cannot_flush_the_others() {
        let dir = tempfile::tempdir().expect("tempdir");
        let cap = 3000 * OWNER_SHARE;
        let cache = CompileCache::open(dir.path(), cap).expect("open");
        let victim = key("victim", "kept");
        cache
            .put(&victim, &[entry("main", &[1u8; 1000], true)])
            .expect("put");
        for index in 0..200 {
            cache
                .put(
                    &key("flooder", &format!("k{index}")),
                    &[entry("main", &[0u8; 1000], true)],
                )
                .expect("put");
        }
        assert!(
            cache.get(&victim).is_some(),
            "the victim's entry was evicted"
        );
        let flooder = key("flooder", "any");
        let flooder_bytes: u64 = list_entries(&cache.partition_dir(&flooder))
            .iter()
            .map(|(_, size, _)| size)
            .sum();
        assert!(flooder_bytes <= cap / OWNER_SHARE, "{flooder_bytes}");
    }

    #[test]
    fn corrupt_entries_are_misses() {
        let dir = tempfile::tempdir().expect("tempdir");
        let cache = CompileCache::open(dir.path(), 1 << 30).expect("open");
        let bad = key("a", "bad");
        std::fs::create_dir_all(cache.partition_dir(&bad)).expect("mkdir");
        std::fs::write(cache.path_of(&bad), b"RNLC1\n\x05\x00").expect("write");
        assert_eq!(cache.get(&bad), None);
        assert!(!cache.path_of(&bad).exists(), "corrupt entry removed");
    }
}
