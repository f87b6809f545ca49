//! [`Process`]: a running command, its stdio, and waiting for it with a wall deadline.

use std::os::fd::OwnedFd;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::unix::pipe;
use tokio::sync::oneshot;
use tokio::time::Instant;

use crate::cgroup::{self, Counters};
use crate::error::SandboxError;
use crate::host::conn::ExitReport;
use crate::host::pty::PtyMaster;
use crate::host::sandbox::SandboxInner;
use crate::ipc::fd_kind;
use crate::protocol::AgentRequest;
use crate::spec::{CommandSpec, ExtraPipe, LimitHit, Outcome, StdioMode};

/// How long the agent may take to report an exit after being told to kill.
const KILL_GRACE: Duration = Duration::from_secs(5);

/// The host's end of one extra pipe.
#[derive(Debug)]
pub enum ExtraEnd {
    /// The command reads this pipe ([`ExtraPipe::Read`]); the host writes.
    Sender(pipe::Sender),
    /// The command writes this pipe ([`ExtraPipe::Write`]); the host reads.
    Receiver(pipe::Receiver),
}

/// A command running in a sandbox.
#[derive(Debug)]
pub struct Process {
    /// The command's stdin ([`StdioMode::Pipes`]).
    pub stdin: Option<pipe::Sender>,
    /// The command's stdout ([`StdioMode::Pipes`]).
    pub stdout: Option<pipe::Receiver>,
    /// The command's stderr ([`StdioMode::Pipes`]).
    pub stderr: Option<pipe::Receiver>,
    /// The terminal ([`StdioMode::Pty`]).
    pub pty: Option<PtyMaster>,
    /// One per [`CommandSpec::extra_pipes`], in order; the command sees them as fds 3, 4, ...
    pub extra: Vec<ExtraEnd>,
    sandbox: Arc<SandboxInner>,
    id: u64,
    exit: oneshot::Receiver<ExitReport>,
    started: Instant,
    baseline: Counters,
    cpu_limit: Option<Duration>,
    wall_killed: bool,
    outcome: Option<Outcome>,
}

fn check(id: &str, fd: &OwnedFd, kind: libc::mode_t, what: &str) -> Result<(), SandboxError> {
    match fd_kind(fd) {
        Ok(found) if found == kind => Ok(()),
        _ => Err(SandboxError::Protocol {
            id: id.into(),
            detail: format!("{what} is not the expected kind of descriptor"),
        }),
    }
}

impl Process {
    pub(crate) fn new(
        sandbox: Arc<SandboxInner>,
        id: u64,
        command: &CommandSpec,
        fds: Vec<OwnedFd>,
        exit: oneshot::Receiver<ExitReport>,
        started: Instant,
        baseline: Counters,
    ) -> Result<Process, SandboxError> {
        let register = |what: &'static str| {
            let id = sandbox.id.clone();
            move |source| SandboxError::Register { id, what, source }
        };
        let mut fds = fds.into_iter();
        let mut next = || {
            fds.next().ok_or_else(|| SandboxError::Protocol {
                id: sandbox.id.clone(),
                detail: "missing descriptor".into(),
            })
        };
        let (mut stdin, mut stdout, mut stderr, mut pty) = (None, None, None, None);
        match command.stdio {
            StdioMode::Pipes => {
                let (i, o, e) = (next()?, next()?, next()?);
                for (fd, what) in [(&i, "stdin"), (&o, "stdout"), (&e, "stderr")] {
                    check(&sandbox.id, fd, libc::S_IFIFO, what)?;
                }
                stdin = Some(pipe::Sender::from_owned_fd(i).map_err(register("stdin"))?);
                stdout = Some(pipe::Receiver::from_owned_fd(o).map_err(register("stdout"))?);
                stderr = Some(pipe::Receiver::from_owned_fd(e).map_err(register("stderr"))?);
            }
            StdioMode::Pty { .. } => {
                let master = next()?;
                check(&sandbox.id, &master, libc::S_IFCHR, "pty master")?;
                pty = Some(PtyMaster::new(master).map_err(register("pty master"))?);
            }
        }
        let mut extra = Vec::with_capacity(command.extra_pipes.len());
        for direction in &command.extra_pipes {
            let fd = next()?;
            check(&sandbox.id, &fd, libc::S_IFIFO, "extra pipe")?;
            extra.push(match direction {
                ExtraPipe::Read => ExtraEnd::Sender(
                    pipe::Sender::from_owned_fd(fd).map_err(register("extra pipe"))?,
                ),
                ExtraPipe::Write => ExtraEnd::Receiver(
                    pipe::Receiver::from_owned_fd(fd).map_err(register("extra pipe"))?,
                ),
            });
        }
        Ok(Process {
            stdin,
            stdout,
            stderr,
            pty,
            extra,
            sandbox,
            id,
            exit,
            started,
            baseline,
            cpu_limit: command.cpu_time,
            wall_killed: false,
            outcome: None,
        })
    }

    /// Sends `signal` to the command's process group.
    pub fn signal(&self, signal: i32) -> Result<(), SandboxError> {
        self.sandbox.conn.send_now(&AgentRequest::Signal {
            id: self.id,
            signal,
        })
    }

    /// Waits for the command to exit. At `deadline` the command's process group and session
    /// are killed and the outcome says [`LimitHit::Wall`] (unless a more specific limit was
    /// hit too: memory, then CPU, then pids take precedence, since they explain the failure).
    ///
    /// Cancel-safe: dropping the future loses nothing, and calling `wait` again resumes (a
    /// kill already sent is remembered). After the first completed call, later calls return
    /// the same outcome.
    pub async fn wait(&mut self, deadline: Option<Instant>) -> Result<Outcome, SandboxError> {
        if let Some(outcome) = &self.outcome {
            return Ok(outcome.clone());
        }
        let gone = || SandboxError::AgentGone {
            id: self.sandbox.id.clone(),
        };
        let report = if self.wall_killed {
            tokio::time::timeout(KILL_GRACE, &mut self.exit)
                .await
                .map_err(|_| gone())?
                .map_err(|_| gone())?
        } else {
            let sleep = async {
                match deadline {
                    Some(deadline) => tokio::time::sleep_until(deadline).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                report = &mut self.exit => report.map_err(|_| gone())?,
                () = sleep => {
                    self.wall_killed = true;
                    self.sandbox.conn.send(&AgentRequest::Kill { id: self.id }).await?;
                    tokio::time::timeout(KILL_GRACE, &mut self.exit).await.map_err(|_| gone())?.map_err(|_| gone())?
                }
            }
        };
        let outcome = self.outcome_of(report);
        self.outcome = Some(outcome.clone());
        Ok(outcome)
    }

    fn outcome_of(&self, report: ExitReport) -> Outcome {
        let status = report.status;
        let (exit_code, signal) = if libc::WIFEXITED(status) {
            (Some(libc::WEXITSTATUS(status)), None)
        } else if libc::WIFSIGNALED(status) {
            (None, Some(libc::WTERMSIG(status)))
        } else {
            (None, None)
        };
        let cpu_time = Duration::from_micros(report.cpu_us);
        let now = cgroup::read_counters(&self.sandbox.cgroups).unwrap_or_default();
        let cpu_hit = signal == Some(libc::SIGXCPU)
            || (!self.wall_killed
                && signal == Some(libc::SIGKILL)
                && self
                    .cpu_limit
                    .is_some_and(|limit| cpu_time + cpu_slack(limit) >= limit));
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
            exit_code,
            signal,
            limit,
            wall_time: self.started.elapsed(),
            cpu_time,
            peak_memory: report.maxrss_kb.saturating_mul(1024),
        }
    }
}

/// How far short of its limit a SIGKILLed command's reported CPU time may fall and still
/// count as the hard RLIMIT_CPU: the kernel charges the rlimit in whole ticks, the report is
/// the precise runtime, and beside busy neighbours the two part by a fifth or more.
fn cpu_slack(limit: Duration) -> Duration {
    (limit / 3).max(Duration::from_millis(50))
}
