//! A fake sandbox's meter (its counters, as a cgroup would keep them) and the control of one
//! of its programs (signals, the wall deadline, the outcome).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use runnel_sandbox::{Counters, LimitHit, Outcome, SandboxError};
use tokio::sync::{mpsc, oneshot};
use tokio::task::AbortHandle;
use tokio::time::Instant;

use super::{lock, Exit, SIGKILL, SIGXCPU};
use crate::backend::{BoxFuture, MeterOps, ProcessControl};

/// A running program's task and how to end it.
pub(super) type Task = (AbortHandle, Finisher);
pub(super) type Finisher = Arc<Mutex<Option<oneshot::Sender<Exit>>>>;

pub(super) fn finish(finisher: &Finisher, exit: Exit) {
    if let Some(sender) = lock(finisher).take() {
        let _ = sender.send(exit);
    }
}

#[derive(Debug)]
pub(super) struct FakeMeter {
    pub(super) counters: Arc<Mutex<Counters>>,
    pub(super) alive: Arc<AtomicBool>,
}

impl FakeMeter {
    fn read(&self) -> Result<Counters, SandboxError> {
        if !self.alive.load(Ordering::SeqCst) {
            return Err(SandboxError::ReadCgroup {
                path: "fake".to_owned(),
                source: std::io::Error::from_raw_os_error(2),
            });
        }
        Ok(*lock(&self.counters))
    }
}

impl MeterOps for FakeMeter {
    fn counters(&self) -> Result<Counters, SandboxError> {
        self.read()
    }

    fn cpu_usage(&self) -> Result<Duration, SandboxError> {
        Ok(self.read()?.cpu_usage)
    }

    fn reset_memory_peak(&self) -> Result<bool, SandboxError> {
        self.read()?;
        lock(&self.counters).memory_peak = 0;
        Ok(true)
    }
}

#[derive(Debug)]
pub(super) struct FakeControl {
    pub(super) abort: AbortHandle,
    pub(super) finisher: Finisher,
    pub(super) trap: Arc<Mutex<Option<mpsc::UnboundedSender<i32>>>>,
    pub(super) exit: oneshot::Receiver<Exit>,
    pub(super) started: Instant,
    pub(super) cpu_limit: Option<Duration>,
    pub(super) counters: Arc<Mutex<Counters>>,
    pub(super) baseline: Counters,
    pub(super) wall_killed: bool,
    pub(super) outcome: Option<Outcome>,
}

impl FakeControl {
    fn kill(&self, signal: i32) {
        finish(&self.finisher, Exit::signal(signal));
        self.abort.abort();
    }

    fn outcome_of(&self, exit: Exit) -> Outcome {
        let now = *lock(&self.counters);
        let cpu_hit = exit.signal == Some(SIGXCPU)
            || (!self.wall_killed
                && exit.signal == Some(SIGKILL)
                && self.cpu_limit.is_some_and(|limit| exit.cpu >= limit));
        let limit = if now.oom_kills > self.baseline.oom_kills {
            Some(LimitHit::Memory)
        } else if cpu_hit {
            Some(LimitHit::Cpu)
        } else if now.pids_max_hits > self.baseline.pids_max_hits {
            Some(LimitHit::Pids)
        } else if self.wall_killed {
            Some(LimitHit::Wall)
        } else {
            None
        };
        Outcome {
            exit_code: exit.code,
            signal: exit.signal,
            limit,
            wall_time: self.started.elapsed(),
            cpu_time: exit.cpu,
            peak_memory: now.memory_peak,
        }
    }
}

impl ProcessControl for FakeControl {
    fn signal(&self, signal: i32) -> Result<(), SandboxError> {
        if signal != SIGKILL {
            if let Some(trap) = lock(&self.trap).as_ref() {
                if trap.send(signal).is_ok() {
                    return Ok(());
                }
            }
        }
        self.kill(signal);
        Ok(())
    }

    fn wait(&mut self, deadline: Option<Instant>) -> BoxFuture<'_, Result<Outcome, SandboxError>> {
        Box::pin(async move {
            if let Some(outcome) = &self.outcome {
                return Ok(outcome.clone());
            }
            let gone = |_| SandboxError::AgentGone {
                id: "fake".to_owned(),
            };
            let exit = if self.wall_killed {
                (&mut self.exit).await.map_err(gone)?
            } else {
                let sleep = async {
                    match deadline {
                        Some(deadline) => tokio::time::sleep_until(deadline).await,
                        None => std::future::pending().await,
                    }
                };
                tokio::select! {
                    exit = &mut self.exit => exit.map_err(gone)?,
                    () = sleep => {
                        self.wall_killed = true;
                        self.kill(SIGKILL);
                        (&mut self.exit).await.map_err(gone)?
                    }
                }
            };
            let outcome = self.outcome_of(exit);
            self.outcome = Some(outcome.clone());
            Ok(outcome)
        })
    }
}
