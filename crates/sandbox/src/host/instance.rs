//! One spawner process: starting it, its socket, and whether it still serves. The restarting
//! handle over a succession of these is [`crate::Spawner`].

use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::process::CommandExt as _;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{watch, Mutex, Notify};

use crate::error::SandboxError;
use crate::ipc::AsyncSeqpacket;
use crate::protocol::{Capabilities, SpawnerReply, SpawnerRequest};
use crate::spec::HostConfig;
use crate::sys;

/// How long the spawner may take to probe the host and say hello.
const HELLO_TIMEOUT: Duration = Duration::from_secs(20);

/// One running spawner process, seen from the server.
#[derive(Debug)]
pub(crate) struct SpawnerInner {
    /// Request/reply pairs must not interleave; the lock is held by a task that always
    /// finishes its pair (see [`SpawnerInner::request`]).
    socket: Mutex<AsyncSeqpacket>,
    pub(crate) capabilities: Capabilities,
    /// The process id.
    pub(crate) pid: u32,
    /// False once the process exited or its socket broke: its sandboxes are gone with it.
    alive: AtomicBool,
    /// Becomes true once the process has exited and been reaped.
    pub(crate) exited: watch::Receiver<bool>,
    /// Asks the task that waits for the process to kill it.
    pub(crate) kill: Arc<Notify>,
}

impl SpawnerInner {
    /// Starts a spawner process: `config.spawner_exe __spawner` (re-exec), connected over a
    /// `SOCK_SEQPACKET` unix socket pair, and waits for its hello. Returns it with the child,
    /// which the caller must wait for (and reports to `exited`).
    pub(crate) async fn start(
        config: &HostConfig,
    ) -> Result<(SpawnerInner, tokio::process::Child, watch::Sender<bool>), SandboxError> {
        let exe = config.spawner_exe.clone();
        let start_err = |source| SandboxError::StartSpawner {
            exe: exe.clone(),
            source,
        };
        let (host_end, spawner_end) = sys::seqpacket_pair().map_err(start_err)?;
        let spawner_fd = spawner_end.as_raw_fd();
        let mut command = tokio::process::Command::new(&config.spawner_exe);
        command
            .arg("__spawner")
            .env_clear()
            .stdin(std::process::Stdio::null())
            .kill_on_drop(false);
        // SAFETY: the closure only calls dup2/fcntl, which are async-signal-safe.
        unsafe {
            command.as_std_mut().pre_exec(move || {
                if spawner_fd == crate::spawner::SOCKET_FD {
                    sys::cvt(libc::fcntl(spawner_fd, libc::F_SETFD, 0))?;
                } else {
                    sys::cvt(libc::dup2(spawner_fd, crate::spawner::SOCKET_FD))?;
                }
                Ok(())
            });
        }
        let child = command.spawn().map_err(start_err)?;
        drop(spawner_end);
        // From here on, a failure drops `host_end`: the spawner sees its socket close and
        // exits; tokio reaps the dropped child in the background.
        let socket = AsyncSeqpacket::new(host_end).map_err(start_err)?;
        let capabilities = hello(&socket).await?;
        let missing = capabilities.missing();
        if !missing.is_empty() {
            let what = missing
                .iter()
                .map(|m| m.what)
                .collect::<Vec<_>>()
                .join(", ");
            let fix = missing.iter().map(|m| m.fix).collect::<Vec<_>>().join("; ");
            if !config.unconfined || !capabilities.namespaces {
                return Err(SandboxError::Unsupported { what, fix });
            }
            tracing::warn!(%what, "running sandboxes without {what}: isolation is degraded ({fix})");
        }
        tracing::debug!(?capabilities, pid = child.id(), "spawner started");
        let (exited_sender, exited) = watch::channel(false);
        let inner = SpawnerInner {
            socket: Mutex::new(socket),
            capabilities,
            pid: child.id().unwrap_or(0),
            alive: AtomicBool::new(true),
            exited,
            kill: Arc::new(Notify::new()),
        };
        Ok((inner, child, exited_sender))
    }

    /// Whether this spawner still serves (its sandboxes are alive with it).
    pub(crate) fn is_alive(&self) -> bool {
        self.alive.load(Ordering::Acquire)
    }

    /// Marks this spawner as gone: it exited, or its socket broke (then it is killed, so that
    /// it is replaced rather than left half alive).
    pub(crate) fn mark_lost(&self) {
        if self.alive.swap(false, Ordering::AcqRel) {
            self.kill.notify_one();
        }
    }

    /// Sends one request and receives its reply. Runs in its own task so that a caller
    /// giving up half way cannot leave a reply unread for the next request.
    pub(crate) async fn request(
        inner: &Arc<SpawnerInner>,
        request: SpawnerRequest,
    ) -> Result<(SpawnerReply, Vec<OwnedFd>), SandboxError> {
        if !inner.is_alive() {
            return Err(SandboxError::SpawnerGone);
        }
        let task_inner = inner.clone();
        let task = tokio::spawn(async move {
            let socket = task_inner.socket.lock().await;
            socket
                .send(&request, &[])
                .await
                .map_err(|source| SandboxError::SpawnerChannel { source })?;
            match socket.recv::<SpawnerReply>().await {
                Ok(Some(reply)) => Ok(reply),
                Ok(None) => Err(SandboxError::SpawnerGone),
                Err(source) => Err(SandboxError::SpawnerChannel { source }),
            }
        });
        let result = task.await.map_err(|e| SandboxError::SpawnerChannel {
            source: std::io::Error::other(e),
        })?;
        if matches!(
            result,
            Err(SandboxError::SpawnerGone | SandboxError::SpawnerChannel { .. })
        ) {
            inner.mark_lost();
        }
        result
    }
}

/// The spawner's first message: what the host probe found.
async fn hello(socket: &AsyncSeqpacket) -> Result<Capabilities, SandboxError> {
    let hello = tokio::time::timeout(HELLO_TIMEOUT, socket.recv::<SpawnerReply>()).await;
    match hello {
        Ok(Ok(Some((SpawnerReply::Hello { capabilities }, _)))) => Ok(capabilities),
        Ok(Ok(Some((SpawnerReply::Failed(err), _)))) => Err(SandboxError::Spawner {
            step: err.step.clone(),
            detail: err.detail.clone(),
            source: err.into_io(),
        }),
        Ok(Ok(_)) => Err(SandboxError::SpawnerGone),
        Ok(Err(source)) => Err(SandboxError::SpawnerChannel { source }),
        Err(_) => Err(SandboxError::SpawnerChannel {
            source: std::io::Error::new(std::io::ErrorKind::TimedOut, "no hello from the spawner"),
        }),
    }
}
