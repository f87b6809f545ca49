//! [`Spawner`]: starts the spawner process and sends it requests, one at a time.

use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::process::CommandExt as _;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Mutex;

use crate::error::SandboxError;
use crate::host::conn::Conn;
use crate::host::sandbox::Sandbox;
use crate::ipc::AsyncSeqpacket;
use crate::protocol::{Capabilities, SpawnerReply, SpawnerRequest};
use crate::spec::{HostConfig, SandboxSpec};
use crate::sys;

/// How long the spawner may take to probe the host and say hello.
const HELLO_TIMEOUT: Duration = Duration::from_secs(20);

/// Handle to the spawner process. Cheap to clone; the spawner stops when the last clone is
/// dropped (it sees its socket close) or on [`Spawner::shutdown`].
#[derive(Clone, Debug)]
pub struct Spawner {
    inner: Arc<SpawnerInner>,
}

#[derive(Debug)]
pub(crate) struct SpawnerInner {
    /// Request/reply pairs must not interleave; the lock is held by a task that always
    /// finishes its pair (see [`SpawnerInner::request`]).
    socket: Mutex<AsyncSeqpacket>,
    child: Mutex<Option<tokio::process::Child>>,
    capabilities: Capabilities,
    stopped: AtomicBool,
}

impl Spawner {
    /// Starts the spawner process: `config.spawner_exe __spawner` (re-exec), connected over a
    /// `SOCK_SEQPACKET` unix socket pair. The spawner probes the host first; if a required
    /// feature is missing and `!config.unconfined`, this fails with
    /// [`SandboxError::Unsupported`] naming the missing item and the fix. With
    /// `config.unconfined`, missing cgroups are tolerated (sandboxes then have rlimits, a
    /// unique uid and the wall deadline only) and logged as a warning.
    pub async fn start(config: HostConfig) -> Result<Spawner, SandboxError> {
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
        let socket = AsyncSeqpacket::new(host_end).map_err(start_err)?;
        let hello = tokio::time::timeout(HELLO_TIMEOUT, socket.recv::<SpawnerReply>()).await;
        let capabilities = match hello {
            Ok(Ok(Some((SpawnerReply::Hello { capabilities }, _)))) => capabilities,
            Ok(Ok(Some((SpawnerReply::Failed(err), _)))) => {
                return Err(SandboxError::Spawner {
                    step: err.step.clone(),
                    detail: err.detail.clone(),
                    source: err.into_io(),
                })
            }
            Ok(Ok(_)) => return Err(SandboxError::SpawnerGone),
            Ok(Err(source)) => return Err(SandboxError::SpawnerChannel { source }),
            Err(_) => {
                return Err(SandboxError::SpawnerChannel {
                    source: std::io::Error::new(
                        std::io::ErrorKind::TimedOut,
                        "no hello from the spawner",
                    ),
                })
            }
        };
        let missing = capabilities.missing();
        if !missing.is_empty() {
            let what = missing
                .iter()
                .map(|m| m.what)
                .collect::<Vec<_>>()
                .join(", ");
            let fix = missing.iter().map(|m| m.fix).collect::<Vec<_>>().join("; ");
            if !config.unconfined || !capabilities.namespaces {
                // Dropping the socket stops the spawner.
                return Err(SandboxError::Unsupported { what, fix });
            }
            tracing::warn!(%what, "running sandboxes without {what}: isolation is degraded ({fix})");
        }
        tracing::debug!(?capabilities, "spawner started");
        Ok(Spawner {
            inner: Arc::new(SpawnerInner {
                socket: Mutex::new(socket),
                child: Mutex::new(Some(child)),
                capabilities,
                stopped: AtomicBool::new(false),
            }),
        })
    }

    /// Creates a sandbox: cgroups, namespaces, root filesystem, a ready agent.
    pub async fn create(&self, spec: &SandboxSpec) -> Result<Sandbox, SandboxError> {
        let (reply, mut fds) =
            SpawnerInner::request(&self.inner, SpawnerRequest::Create { spec: spec.clone() })
                .await?;
        match reply {
            SpawnerReply::Created {
                id,
                uid_base,
                cgroups,
            } => {
                let control: OwnedFd = match (fds.pop(), fds.is_empty()) {
                    (Some(fd), true) => fd,
                    _ => {
                        return Err(SandboxError::Protocol {
                            id,
                            detail: "create reply without exactly one socket".into(),
                        })
                    }
                };
                let (conn, work) = Conn::connect(&id, control).await?;
                Ok(Sandbox::new(
                    id,
                    uid_base,
                    cgroups,
                    spec.pids,
                    conn,
                    work,
                    self.inner.clone(),
                ))
            }
            SpawnerReply::Failed(err) => Err(SandboxError::Spawner {
                step: err.step.clone(),
                detail: err.detail.clone(),
                source: err.into_io(),
            }),
            other => Err(SandboxError::Protocol {
                id: String::new(),
                detail: format!("unexpected spawner reply {other:?}"),
            }),
        }
    }

    /// Kills every sandbox, removes every cgroup, stops the spawner.
    pub async fn shutdown(&self) {
        if self.inner.stopped.swap(true, Ordering::SeqCst) {
            return;
        }
        let _ = SpawnerInner::request(&self.inner, SpawnerRequest::Shutdown).await;
        if let Some(mut child) = self.inner.child.lock().await.take() {
            if tokio::time::timeout(Duration::from_secs(10), child.wait())
                .await
                .is_err()
            {
                let _ = child.kill().await;
            }
        }
    }

    /// What the host probe found (cgroup mode and so on).
    pub fn capabilities(&self) -> &Capabilities {
        &self.inner.capabilities
    }
}

impl SpawnerInner {
    /// Sends one request and receives its reply. Runs in its own task so that a caller
    /// giving up half way cannot leave a reply unread for the next request.
    pub(crate) async fn request(
        inner: &Arc<SpawnerInner>,
        request: SpawnerRequest,
    ) -> Result<(SpawnerReply, Vec<OwnedFd>), SandboxError> {
        let inner = inner.clone();
        let task = tokio::spawn(async move {
            let socket = inner.socket.lock().await;
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
        task.await.map_err(|e| SandboxError::SpawnerChannel {
            source: std::io::Error::other(e),
        })?
    }
}
