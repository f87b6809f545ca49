//! The host's connection to one sandbox's agent: a reader task dispatches the agent's events
//! to whoever waits for them. Everything the agent says is untrusted: unknown ids, surplus
//! descriptors and malformed messages are dropped (and logged), never trusted.

use std::collections::HashMap;
use std::os::fd::OwnedFd;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::oneshot;

use crate::error::SandboxError;
use crate::ipc::{self, AsyncSeqpacket};
use crate::protocol::{AgentEvent, AgentRequest, RemoteError};

/// How long an agent may take to build the sandbox and report ready.
const READY_TIMEOUT: Duration = Duration::from_secs(30);

/// A command's exit, as reported by the agent.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ExitReport {
    pub(crate) status: i32,
    pub(crate) cpu_us: u64,
    pub(crate) maxrss_kb: u64,
}

type StartReply = Result<Vec<OwnedFd>, RemoteError>;

#[derive(Default)]
struct Waiters {
    starts: HashMap<u64, oneshot::Sender<StartReply>>,
    exits: HashMap<u64, oneshot::Sender<ExitReport>>,
    closed: bool,
}

/// One agent connection.
#[derive(Debug)]
pub(crate) struct Conn {
    pub(crate) id: String,
    socket: AsyncSeqpacket,
    waiters: Mutex<Waiters>,
    next: AtomicU64,
}

impl std::fmt::Debug for Waiters {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Waiters")
            .field("starts", &self.starts.len())
            .field("exits", &self.exits.len())
            .finish()
    }
}

impl Conn {
    /// Wraps the control socket, waits for the agent's `Ready` (with the `/work` descriptor)
    /// and starts the reader task.
    pub(crate) async fn connect(
        id: &str,
        control: OwnedFd,
    ) -> Result<(Arc<Conn>, OwnedFd), SandboxError> {
        let socket = AsyncSeqpacket::new(control).map_err(|source| SandboxError::Register {
            id: id.into(),
            what: "control socket",
            source,
        })?;
        let first = tokio::time::timeout(READY_TIMEOUT, socket.recv::<AgentEvent>()).await;
        let work = match first {
            Ok(Ok(Some((AgentEvent::Ready, mut fds)))) if fds.len() == 1 => {
                fds.pop().expect("length checked")
            }
            Ok(Ok(Some((AgentEvent::SetupFailed(err), _)))) => {
                return Err(SandboxError::Setup {
                    id: id.into(),
                    step: err.step.clone(),
                    source: err.into_io(),
                })
            }
            Ok(Ok(Some((other, _)))) => {
                return Err(SandboxError::Protocol {
                    id: id.into(),
                    detail: format!("expected ready, got {other:?}"),
                })
            }
            Ok(Ok(None)) => return Err(SandboxError::AgentGone { id: id.into() }),
            Ok(Err(source)) => {
                return Err(SandboxError::AgentChannel {
                    id: id.into(),
                    source,
                })
            }
            Err(_) => {
                return Err(SandboxError::Setup {
                    id: id.into(),
                    step: "wait for the agent".into(),
                    source: std::io::Error::new(
                        std::io::ErrorKind::TimedOut,
                        "agent not ready in time",
                    ),
                })
            }
        };
        crate::host::files::check_work_dir(id, &work)?;
        let conn = Arc::new(Conn {
            id: id.into(),
            socket,
            waiters: Mutex::new(Waiters::default()),
            next: AtomicU64::new(1),
        });
        tokio::spawn(read_loop(conn.clone()));
        Ok((conn, work))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Waiters> {
        // A panic while holding this lock leaves plain maps behind; keep going.
        self.waiters
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Registers a new command id; returns it with the receivers of its start and exit.
    pub(crate) fn register(
        &self,
    ) -> Result<
        (
            u64,
            oneshot::Receiver<StartReply>,
            oneshot::Receiver<ExitReport>,
        ),
        SandboxError,
    > {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let (start_tx, start_rx) = oneshot::channel();
        let (exit_tx, exit_rx) = oneshot::channel();
        let mut waiters = self.lock();
        if waiters.closed {
            return Err(SandboxError::AgentGone {
                id: self.id.clone(),
            });
        }
        waiters.starts.insert(id, start_tx);
        waiters.exits.insert(id, exit_tx);
        Ok((id, start_rx, exit_rx))
    }

    /// Forgets a command whose start failed.
    pub(crate) fn unregister(&self, id: u64) {
        let mut waiters = self.lock();
        waiters.starts.remove(&id);
        waiters.exits.remove(&id);
    }

    /// Sends a request, waiting for socket space.
    pub(crate) async fn send(&self, request: &AgentRequest) -> Result<(), SandboxError> {
        self.socket
            .send(request, &[])
            .await
            .map_err(|source| self.channel_error(source))
    }

    /// Sends a request now (for synchronous callers).
    pub(crate) fn send_now(&self, request: &AgentRequest) -> Result<(), SandboxError> {
        self.socket
            .send_now(request)
            .map_err(|source| self.channel_error(source))
    }

    /// Makes the agent read EOF, upon which it exits and the kernel kills its namespace.
    pub(crate) fn shutdown(&self) {
        self.socket.shutdown();
    }

    fn channel_error(&self, source: std::io::Error) -> SandboxError {
        if matches!(
            source.raw_os_error(),
            Some(libc::EPIPE) | Some(libc::ECONNRESET)
        ) {
            SandboxError::AgentGone {
                id: self.id.clone(),
            }
        } else {
            SandboxError::AgentChannel {
                id: self.id.clone(),
                source,
            }
        }
    }

    fn dispatch(&self, event: AgentEvent, fds: Vec<OwnedFd>) {
        match event {
            AgentEvent::Started { id } => {
                let waiter = self.lock().starts.remove(&id);
                match waiter {
                    Some(tx) => {
                        if tx.send(Ok(fds)).is_err() {
                            // The caller gave up on start(): nobody will ever wait for this
                            // command, so it must not run on unobserved.
                            let _ = self.send_now(&AgentRequest::Kill { id });
                        }
                    }
                    None => {
                        tracing::warn!(sandbox = %self.id, id, "agent reported an unknown start")
                    }
                }
            }
            AgentEvent::StartFailed { id, error } => {
                let waiter = self.lock().starts.remove(&id);
                self.lock().exits.remove(&id);
                if let Some(tx) = waiter {
                    let _ = tx.send(Err(error));
                }
            }
            AgentEvent::Exited {
                id,
                status,
                cpu_us,
                maxrss_kb,
            } => {
                let waiter = self.lock().exits.remove(&id);
                match waiter {
                    Some(tx) => {
                        let _ = tx.send(ExitReport {
                            status,
                            cpu_us,
                            maxrss_kb,
                        });
                    }
                    None => {
                        tracing::warn!(sandbox = %self.id, id, "agent reported an unknown exit")
                    }
                }
            }
            other => tracing::warn!(sandbox = %self.id, ?other, "unexpected agent event"),
        }
    }
}

async fn read_loop(conn: Arc<Conn>) {
    loop {
        match conn.socket.recv::<AgentEvent>().await {
            Ok(Some((event, fds))) => {
                if fds.len() > ipc::MAX_FDS {
                    tracing::warn!(sandbox = %conn.id, "agent sent too many descriptors");
                    continue;
                }
                conn.dispatch(event, fds);
            }
            Ok(None) => break,
            Err(err) => {
                tracing::debug!(sandbox = %conn.id, %err, "agent channel closed");
                break;
            }
        }
    }
    // Dropping the senders wakes every waiter with "agent gone".
    let mut waiters = conn.lock();
    waiters.closed = true;
    waiters.starts.clear();
    waiters.exits.clear();
}
