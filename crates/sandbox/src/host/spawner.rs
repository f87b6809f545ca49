//! [`Spawner`]: the handle to the spawner process, which it restarts (with backoff) when the
//! process dies.

use std::os::fd::OwnedFd;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, RwLock, Weak};
use std::time::Duration;

use tokio::sync::watch;

use crate::error::SandboxError;
use crate::host::conn::Conn;
use crate::host::instance::SpawnerInner;
use crate::host::sandbox::Sandbox;
use crate::protocol::{Capabilities, SpawnerReply, SpawnerRequest};
use crate::spec::{HostConfig, SandboxSpec};

/// Attempts to start a new spawner after one died, before giving up.
const RESTART_ATTEMPTS: u32 = 8;
/// Pause before the first attempt; it doubles up to [`RESTART_BACKOFF_MAX`].
const RESTART_BACKOFF: Duration = Duration::from_millis(50);
const RESTART_BACKOFF_MAX: Duration = Duration::from_secs(5);
/// How long a creation waits for a restarting spawner before it fails.
const RESTART_WAIT: Duration = Duration::from_secs(60);
/// How long a stopping spawner may take to clean up before it is killed.
const SHUTDOWN_PATIENCE: Duration = Duration::from_secs(10);

/// The state of the spawner, as [`Spawner::health`] reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SpawnerHealth {
    /// A spawner process is serving.
    Running,
    /// The spawner died and a new one is being started.
    Restarting {
        /// The attempt under way (from 1).
        attempt: u32,
        /// Why the spawner went, or why the last attempt failed.
        error: String,
    },
    /// No spawner could be started again; sandboxes cannot be made. The server should exit
    /// so that its supervisor restarts it.
    Failed {
        /// Why the last attempt failed.
        error: String,
    },
}

/// Handle to the spawner. Cheap to clone; the spawner stops when the last clone is dropped (it
/// sees its socket close) or on [`Spawner::shutdown`]. When the spawner process dies, its
/// sandboxes die with it (their agents have `PR_SET_PDEATHSIG`); a new one is started with
/// backoff, and it removes the dead one's cgroups.
#[derive(Clone, Debug)]
pub struct Spawner {
    inner: Arc<Supervisor>,
}

#[derive(Debug)]
struct Supervisor {
    config: HostConfig,
    /// What the first spawner's host probe found.
    capabilities: Capabilities,
    current: RwLock<Arc<SpawnerInner>>,
    health: watch::Sender<SpawnerHealth>,
    restarts: AtomicU64,
    stopped: AtomicBool,
}

impl Spawner {
    /// Starts the spawner process. It probes the host first; if a required feature is missing
    /// and `!config.unconfined`, this fails with [`SandboxError::Unsupported`] naming the
    /// missing item and the fix. With `config.unconfined`, missing cgroups are tolerated
    /// (sandboxes then have rlimits, a unique uid and the wall deadline only) and logged as a
    /// warning.
    pub async fn start(config: HostConfig) -> Result<Spawner, SandboxError> {
        let (instance, child, exited) = SpawnerInner::start(&config).await?;
        let instance = Arc::new(instance);
        let supervisor = Arc::new(Supervisor {
            capabilities: instance.capabilities.clone(),
            config,
            current: RwLock::new(instance.clone()),
            health: watch::Sender::new(SpawnerHealth::Running),
            restarts: AtomicU64::new(0),
            stopped: AtomicBool::new(false),
        });
        watch(&supervisor, &instance, child, exited);
        Ok(Spawner { inner: supervisor })
    }

    /// Creates a sandbox: cgroups, namespaces, root filesystem, a ready agent. While the
    /// spawner is being restarted this waits for the new one; a creation cut short by the
    /// spawner's death is tried once more on its successor.
    pub async fn create(&self, spec: &SandboxSpec) -> Result<Sandbox, SandboxError> {
        let instance = self.serving().await?;
        match create_on(&instance, spec).await {
            Err(_) if !instance.is_alive() => create_on(&self.serving().await?, spec).await,
            result => result,
        }
    }

    /// Kills every sandbox, removes every cgroup, stops the spawner (and restarts no more).
    pub async fn shutdown(&self) {
        if self.inner.stopped.swap(true, Ordering::SeqCst) {
            return;
        }
        let instance = self.inner.current();
        let mut exited = instance.exited.clone();
        if instance.is_alive() {
            let _ = SpawnerInner::request(&instance, SpawnerRequest::Shutdown).await;
        }
        if tokio::time::timeout(SHUTDOWN_PATIENCE, exited.wait_for(|done| *done))
            .await
            .is_err()
        {
            instance.kill.notify_one();
            let _ = exited.wait_for(|done| *done).await;
        }
    }

    /// What the host probe found (cgroup mode and so on).
    pub fn capabilities(&self) -> &Capabilities {
        &self.inner.capabilities
    }

    /// The spawner's state now.
    pub fn health(&self) -> SpawnerHealth {
        self.inner.health.borrow().clone()
    }

    /// Follows the spawner's state as it changes.
    pub fn watch_health(&self) -> watch::Receiver<SpawnerHealth> {
        self.inner.health.subscribe()
    }

    /// How many times a dead spawner was replaced.
    pub fn restarts(&self) -> u64 {
        self.inner.restarts.load(Ordering::Relaxed)
    }

    /// The process id of the serving spawner (for operators and tests).
    pub fn pid(&self) -> Option<u32> {
        let instance = self.inner.current();
        instance.is_alive().then_some(instance.pid)
    }

    /// The serving spawner, waiting (bounded) while a dead one is being replaced.
    async fn serving(&self) -> Result<Arc<SpawnerInner>, SandboxError> {
        let mut health = self.inner.health.subscribe();
        let deadline = tokio::time::Instant::now() + RESTART_WAIT;
        loop {
            if self.inner.stopped.load(Ordering::SeqCst) {
                return Err(SandboxError::SpawnerDown {
                    detail: "the spawner was shut down".to_owned(),
                });
            }
            let instance = self.inner.current();
            if instance.is_alive() {
                return Ok(instance);
            }
            if let SpawnerHealth::Failed { error } = &*health.borrow_and_update() {
                return Err(SandboxError::SpawnerDown {
                    detail: error.clone(),
                });
            }
            match tokio::time::timeout_at(deadline, health.changed()).await {
                Ok(Ok(())) => {}
                Ok(Err(_)) | Err(_) => {
                    return Err(SandboxError::SpawnerDown {
                        detail: format!(
                            "no spawner within {} s of the last one's death",
                            RESTART_WAIT.as_secs()
                        ),
                    })
                }
            }
        }
    }
}

impl Supervisor {
    fn current(&self) -> Arc<SpawnerInner> {
        self.current
            .read()
            .unwrap_or_else(|poison| poison.into_inner())
            .clone()
    }
}

async fn create_on(
    instance: &Arc<SpawnerInner>,
    spec: &SandboxSpec,
) -> Result<Sandbox, SandboxError> {
    let (reply, mut fds) =
        SpawnerInner::request(instance, SpawnerRequest::Create { spec: spec.clone() }).await?;
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
                instance.clone(),
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

/// Starts the task that waits for `instance`'s process (see [`watch_process`]).
fn watch(
    supervisor: &Arc<Supervisor>,
    instance: &Arc<SpawnerInner>,
    child: tokio::process::Child,
    exited: watch::Sender<bool>,
) {
    tokio::spawn(watch_process(
        Arc::downgrade(supervisor),
        Arc::downgrade(instance),
        instance.kill.clone(),
        child,
        exited,
    ));
}

/// Waits for one spawner process to exit (killing it when asked), then, unless the spawner
/// was shut down, starts its successor. Boxed: it spawns itself again through [`restart`].
fn watch_process(
    supervisor: Weak<Supervisor>,
    instance: Weak<SpawnerInner>,
    kill: Arc<tokio::sync::Notify>,
    child: tokio::process::Child,
    exited: watch::Sender<bool>,
) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>> {
    Box::pin(watch_and_restart(supervisor, instance, kill, child, exited))
}

async fn watch_and_restart(
    supervisor: Weak<Supervisor>,
    instance: Weak<SpawnerInner>,
    kill: Arc<tokio::sync::Notify>,
    mut child: tokio::process::Child,
    exited: watch::Sender<bool>,
) {
    let status = tokio::select! {
        status = child.wait() => status,
        () = kill.notified() => {
            let _ = child.start_kill();
            child.wait().await
        }
    };
    if let Some(instance) = instance.upgrade() {
        instance.mark_lost();
    }
    exited.send_replace(true);
    let Some(supervisor) = supervisor.upgrade() else {
        return;
    };
    if supervisor.stopped.load(Ordering::SeqCst) {
        return;
    }
    let why = match status {
        Ok(status) => format!("the spawner exited ({status})"),
        Err(error) => format!("waiting for the spawner failed: {error}"),
    };
    tracing::error!(%why, "the sandbox spawner died; its sandboxes are gone; starting a new one");
    restart(supervisor, why).await;
}

/// Starts a new spawner with backoff; on success it serves from then on, else the health
/// becomes [`SpawnerHealth::Failed`].
async fn restart(supervisor: Arc<Supervisor>, mut error: String) {
    let mut pause = RESTART_BACKOFF;
    for attempt in 1..=RESTART_ATTEMPTS {
        supervisor.health.send_replace(SpawnerHealth::Restarting {
            attempt,
            error: error.clone(),
        });
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(RESTART_BACKOFF_MAX);
        if supervisor.stopped.load(Ordering::SeqCst) {
            return;
        }
        match SpawnerInner::start(&supervisor.config).await {
            Ok((instance, child, exited)) => {
                let instance = Arc::new(instance);
                *supervisor
                    .current
                    .write()
                    .unwrap_or_else(|poison| poison.into_inner()) = instance.clone();
                supervisor.restarts.fetch_add(1, Ordering::Relaxed);
                watch(&supervisor, &instance, child, exited);
                if supervisor.stopped.load(Ordering::SeqCst) {
                    // Shut down while this one started: it stops when its socket closes.
                    instance.mark_lost();
                    return;
                }
                supervisor.health.send_replace(SpawnerHealth::Running);
                tracing::warn!(
                    attempt,
                    pid = instance.pid,
                    "a new sandbox spawner is serving"
                );
                return;
            }
            Err(start_error) => {
                tracing::error!(attempt, error = %start_error, "starting a new spawner failed");
                error = start_error.to_string();
            }
        }
    }
    tracing::error!(%error, "no sandbox spawner could be started: giving up");
    supervisor
        .health
        .send_replace(SpawnerHealth::Failed { error });
}
