//! [`Sandbox`]: one isolated environment, able to run several commands side by side.

use std::os::fd::OwnedFd;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::Arc;

use crate::cgroup::{self, Counters};
use crate::error::SandboxError;
use crate::host::conn::Conn;
use crate::host::instance::SpawnerInner;
use crate::host::process::Process;
use crate::protocol::{AgentRequest, CgroupPaths, SpawnerReply, SpawnerRequest};
use crate::spec::{CommandSpec, FileEntry, StdioMode, TreeListing};

/// Extra `RLIMIT_NPROC` headroom over the pids limit, so that the pids cgroup (which is
/// counted and reported) trips first.
const NPROC_SLACK: u64 = 16;

/// Reads one sandbox's cgroup counters; see [`Sandbox::meter`].
#[derive(Debug, Clone)]
pub struct Meter {
    cgroups: CgroupPaths,
}

impl Meter {
    /// As [`Sandbox::counters`].
    pub fn counters(&self) -> Result<Counters, SandboxError> {
        cgroup::read_counters(&self.cgroups)
    }

    /// The CPU time every process of the sandbox used so far (one read; the `cpu_usage` of
    /// the counters).
    pub fn cpu_usage(&self) -> Result<std::time::Duration, SandboxError> {
        cgroup::read_cpu_usage(&self.cgroups)
    }

    /// Start the memory peak of the counters again from the current use, as a session does
    /// before each cell. `false` where the host cannot (cgroup v2: the peak then counts from
    /// the sandbox's start).
    pub fn reset_memory_peak(&self) -> Result<bool, SandboxError> {
        cgroup::reset_memory_peak(&self.cgroups)
    }
}

/// A sandbox. Dropping it without [`Sandbox::destroy`] destroys it in the background.
#[derive(Debug)]
pub struct Sandbox {
    inner: Arc<SandboxInner>,
}

#[derive(Debug)]
pub(crate) struct SandboxInner {
    pub(crate) id: String,
    /// Host uid of the sandbox's root; uid 1000 inside is `uid_base + 1`.
    pub(crate) uid_base: u32,
    pub(crate) cgroups: CgroupPaths,
    pub(crate) conn: Arc<Conn>,
    /// `/work` of the sandbox (an `O_PATH` descriptor from the agent, checked to be a tmpfs dir).
    pub(crate) work: OwnedFd,
    pids: AtomicU32,
    spawner: Arc<SpawnerInner>,
    destroyed: AtomicBool,
}

impl Sandbox {
    pub(crate) fn new(
        id: String,
        uid_base: u32,
        cgroups: CgroupPaths,
        pids: u32,
        conn: Arc<Conn>,
        work: OwnedFd,
        spawner: Arc<SpawnerInner>,
    ) -> Sandbox {
        Sandbox {
            inner: Arc::new(SandboxInner {
                id,
                uid_base,
                cgroups,
                conn,
                work,
                pids: AtomicU32::new(pids),
                spawner,
                destroyed: AtomicBool::new(false),
            }),
        }
    }

    /// Whether the spawner that made this sandbox died (and the sandbox with it): such a
    /// sandbox can run nothing more.
    pub fn spawner_lost(&self) -> bool {
        !self.inner.spawner.is_alive()
    }

    /// The sandbox's id (unique within its spawner).
    pub fn id(&self) -> &str {
        &self.inner.id
    }

    /// Writes files under `/work` (relative paths, directories created, no `..`, nothing
    /// absolute). Done host-side with `openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS)` from the
    /// sandbox's `/work` descriptor: a symlink planted anywhere on the path makes the write fail.
    pub async fn write_files(&self, files: &[FileEntry]) -> Result<(), SandboxError> {
        let inner = self.inner.clone();
        let files = files.to_vec();
        tokio::task::spawn_blocking(move || crate::host::files::write_files(&inner, &files))
            .await
            .map_err(|e| SandboxError::WriteFile {
                id: self.inner.id.clone(),
                path: String::new(),
                source: std::io::Error::other(e),
            })?
    }

    /// All regular files under `/work` (recursive), at most `max_bytes` in total (an error when
    /// over). Symlinks and special files are skipped, never followed.
    pub async fn read_tree(&self, max_bytes: u64) -> Result<Vec<FileEntry>, SandboxError> {
        self.read_tree_matching(max_bytes, |_| true).await
    }

    /// The regular files under `/work` whose relative path `keep` accepts, at most `max_bytes`
    /// in total (an error when over). Files `keep` refuses are never opened or read, so a large
    /// or sparse file that is not wanted costs nothing.
    pub async fn read_tree_matching(
        &self,
        max_bytes: u64,
        keep: impl Fn(&str) -> bool + Send + 'static,
    ) -> Result<Vec<FileEntry>, SandboxError> {
        self.read_blocking(move |inner| crate::host::tree::read_tree(inner, max_bytes, &keep))
            .await
    }

    /// The regular files under `/work`, each stat'ed and none read, at most 10,000 (then
    /// `truncated`). Symlinks and special files are skipped, never followed.
    pub async fn list_tree(&self) -> Result<TreeListing, SandboxError> {
        self.read_blocking(crate::host::tree::list_tree).await
    }

    /// The regular file at `path` under `/work`, opened for reading, with its size at opening;
    /// `None` when there is no regular file there (a symlink anywhere on the path is never
    /// followed and reads as absent). The caller streams it, so no size limit applies here.
    pub async fn open_file(
        &self,
        path: &str,
    ) -> Result<Option<(std::fs::File, u64)>, SandboxError> {
        let path = path.to_owned();
        self.read_blocking(move |inner| crate::host::tree::open_file(inner, &path))
            .await
    }

    /// Runs a read of `/work` on the blocking pool.
    async fn read_blocking<T: Send + 'static>(
        &self,
        read: impl FnOnce(&SandboxInner) -> Result<T, SandboxError> + Send + 'static,
    ) -> Result<T, SandboxError> {
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || read(&inner))
            .await
            .map_err(|e| SandboxError::ReadFile {
                id: self.inner.id.clone(),
                path: String::new(),
                source: std::io::Error::other(e),
            })?
    }

    /// Changes the cgroup memory (no swap) and pids limits, e.g. between a compile and a run.
    pub async fn set_limits(&self, memory_bytes: u64, pids: u32) -> Result<(), SandboxError> {
        let request = SpawnerRequest::SetLimits {
            id: self.inner.id.clone(),
            memory_bytes,
            pids,
        };
        match SpawnerInner::request(&self.inner.spawner, request).await? {
            (SpawnerReply::Done, _) => {
                self.inner.pids.store(pids, Ordering::Relaxed);
                Ok(())
            }
            (SpawnerReply::Failed(err), _) => Err(SandboxError::Spawner {
                step: err.step.clone(),
                detail: err.detail.clone(),
                source: err.into_io(),
            }),
            (other, _) => Err(SandboxError::Protocol {
                id: self.inner.id.clone(),
                detail: format!("unexpected spawner reply {other:?}"),
            }),
        }
    }

    /// Counters of the sandbox's cgroup: OOM kills so far, pids-limit hits, memory peak, CPU
    /// time.
    pub fn counters(&self) -> Result<Counters, SandboxError> {
        cgroup::read_counters(&self.inner.cgroups)
    }

    /// A handle that reads this sandbox's counters without holding the sandbox (a session's
    /// cells and its CPU budget read them while the sandbox may be closed under them: reads
    /// then fail).
    pub fn meter(&self) -> Meter {
        Meter {
            cgroups: self.inner.cgroups.clone(),
        }
    }

    /// Starts a command. Several commands may run in one sandbox at once.
    pub async fn start(&self, command: &CommandSpec) -> Result<Process, SandboxError> {
        let inner = &self.inner;
        let invalid = |detail: &str| SandboxError::InvalidCommand {
            id: inner.id.clone(),
            detail: detail.into(),
        };
        let program = command
            .argv
            .first()
            .ok_or_else(|| invalid("argv is empty"))?;
        if !program.starts_with('/') {
            return Err(invalid("argv[0] must be an absolute path"));
        }
        if command.extra_pipes.len() > 8 {
            return Err(invalid("at most 8 extra pipes"));
        }
        let (id, start_rx, exit_rx) = inner.conn.register()?;
        let baseline = cgroup::read_counters(&inner.cgroups).unwrap_or_default();
        let nproc = inner.pids.load(Ordering::Relaxed) as u64 + NPROC_SLACK;
        let started = tokio::time::Instant::now();
        if let Err(err) = inner
            .conn
            .send(&AgentRequest::Start {
                id,
                command: command.clone(),
                nproc,
            })
            .await
        {
            inner.conn.unregister(id);
            return Err(err);
        }
        let fds = match start_rx.await {
            Ok(Ok(fds)) => fds,
            Ok(Err(err)) => {
                return Err(SandboxError::StartCommand {
                    id: inner.id.clone(),
                    program: program.clone(),
                    step: err.step.clone(),
                    source: err.into_io(),
                })
            }
            Err(_) => {
                return Err(SandboxError::AgentGone {
                    id: inner.id.clone(),
                })
            }
        };
        let expected = match command.stdio {
            StdioMode::Pipes => 3,
            StdioMode::Pty { .. } => 1,
        } + command.extra_pipes.len();
        if fds.len() != expected {
            let _ = inner.conn.send_now(&AgentRequest::Kill { id });
            return Err(SandboxError::Protocol {
                id: inner.id.clone(),
                detail: format!("expected {expected} descriptors, got {}", fds.len()),
            });
        }
        Process::new(inner.clone(), id, command, fds, exit_rx, started, baseline).inspect_err(
            |_| {
                let _ = inner.conn.send_now(&AgentRequest::Kill { id });
            },
        )
    }

    /// Kills everything in the sandbox (orphans included) and removes its cgroups.
    pub async fn destroy(self) -> Result<(), SandboxError> {
        self.inner.destroyed.store(true, Ordering::SeqCst);
        destroy(&self.inner).await
    }
}

async fn destroy(inner: &Arc<SandboxInner>) -> Result<(), SandboxError> {
    if !inner.spawner.is_alive() {
        // It died with its spawner; the next spawner removes what is left of its cgroups.
        inner.conn.shutdown();
        return Ok(());
    }
    let request = SpawnerRequest::Destroy {
        id: inner.id.clone(),
    };
    let result = SpawnerInner::request(&inner.spawner, request).await;
    // Whatever the spawner said, make sure the agent sees EOF (it then exits, taking the
    // namespace with it, and the spawner cleans up when it notices).
    inner.conn.shutdown();
    match result? {
        (SpawnerReply::Done, _) => Ok(()),
        (SpawnerReply::Failed(err), _) => Err(SandboxError::Spawner {
            step: err.step.clone(),
            detail: err.detail.clone(),
            source: err.into_io(),
        }),
        (other, _) => Err(SandboxError::Protocol {
            id: inner.id.clone(),
            detail: format!("unexpected spawner reply {other:?}"),
        }),
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        if self.inner.destroyed.swap(true, Ordering::SeqCst) {
            return;
        }
        match tokio::runtime::Handle::try_current() {
            Ok(handle) => {
                let inner = self.inner.clone();
                handle.spawn(async move {
                    if let Err(err) = destroy(&inner).await {
                        tracing::warn!(sandbox = %inner.id, %err, "background destroy failed");
                    }
                });
            }
            // No runtime: EOF on the control socket still makes the agent exit, and the
            // spawner cleans up when its pidfd fires.
            Err(_) => self.inner.conn.shutdown(),
        }
    }
}
