//! A fake sandbox: its `/work` is a map of files, its programs tasks on real pipes; a wall
//! deadline, a path check and a size for `/work` as the kernel sandbox has them.

use std::io::{Seek, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use runnel_sandbox::{
    CommandSpec, Counters, ExtraEnd, ExtraPipe, FileEntry, FileStat, SandboxError, StdioMode,
    TreeListing,
};
use tokio::net::unix::pipe;
use tokio::sync::oneshot;
use tokio::time::Instant;

use super::process::{finish, FakeControl, FakeMeter, Finisher, Task};
use super::{lock, Exit, Files, Io, State, SIGKILL};
use crate::backend::{BoxFuture, Meter, Process, SandboxOps};

#[derive(Debug)]
pub(super) struct FakeSandbox {
    pub(super) id: u64,
    pub(super) name: String,
    pub(super) generation: u64,
    pub(super) state: Arc<State>,
    pub(super) work_bytes: u64,
    pub(super) limits: Mutex<(u64, u32)>,
    pub(super) files: Files,
    pub(super) counters: Arc<Mutex<Counters>>,
    pub(super) alive: Arc<AtomicBool>,
    pub(super) tasks: Mutex<Vec<Task>>,
}

impl std::fmt::Debug for State {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("State").finish_non_exhaustive()
    }
}

impl FakeSandbox {
    fn lost(&self) -> bool {
        self.state.generation.load(Ordering::SeqCst) != self.generation
    }

    /// Kill what runs and forget the sandbox (once).
    fn end(&self) {
        if !self.alive.swap(false, Ordering::SeqCst) {
            return;
        }
        for (abort, finisher) in lock(&self.tasks).drain(..) {
            finish(&finisher, Exit::signal(SIGKILL));
            abort.abort();
        }
        lock(&self.state.live).remove(&self.id);
    }

    fn check_path(&self, path: &str) -> Result<(), SandboxError> {
        let invalid = |reason| SandboxError::InvalidPath {
            id: self.name.clone(),
            path: path.to_owned(),
            reason,
        };
        if path.is_empty() {
            return Err(invalid("empty"));
        }
        if path.starts_with('/') {
            return Err(invalid("absolute"));
        }
        if path.split('/').any(|part| part == ".." || part.is_empty()) {
            return Err(invalid("`..` or an empty component"));
        }
        Ok(())
    }
}

impl Drop for FakeSandbox {
    fn drop(&mut self) {
        self.end();
    }
}

impl SandboxOps for FakeSandbox {
    fn spawner_lost(&self) -> bool {
        self.lost()
    }

    fn write_files<'a>(
        &'a self,
        files: &'a [FileEntry],
    ) -> BoxFuture<'a, Result<(), SandboxError>> {
        Box::pin(async move {
            for file in files {
                self.check_path(&file.path)?;
            }
            let adding: u64 = files.iter().map(|file| file.contents.len() as u64).sum();
            if self.files.total_bytes() + adding > self.work_bytes {
                return Err(SandboxError::WriteFile {
                    id: self.name.clone(),
                    path: files.first().map(|f| f.path.clone()).unwrap_or_default(),
                    source: std::io::Error::from_raw_os_error(28),
                });
            }
            for file in files {
                self.files.put(&file.path, &file.contents, file.executable);
            }
            Ok(())
        })
    }

    fn read_tree_matching(
        &self,
        max_bytes: u64,
        keep: Box<dyn Fn(&str) -> bool + Send + 'static>,
    ) -> BoxFuture<'_, Result<Vec<FileEntry>, SandboxError>> {
        Box::pin(async move {
            let files: Vec<FileEntry> = lock(&self.files.0)
                .values()
                .filter(|file| keep(&file.path))
                .cloned()
                .collect();
            let total: u64 = files.iter().map(|file| file.contents.len() as u64).sum();
            if total > max_bytes {
                return Err(SandboxError::TreeTooLarge {
                    id: self.name.clone(),
                    max_bytes,
                });
            }
            Ok(files)
        })
    }

    fn list_tree(&self) -> BoxFuture<'_, Result<TreeListing, SandboxError>> {
        Box::pin(async move {
            let files = lock(&self.files.0)
                .values()
                .map(|file| FileStat {
                    path: file.path.clone(),
                    size: file.contents.len() as u64,
                    executable: file.executable,
                })
                .collect();
            Ok(TreeListing {
                files,
                truncated: false,
            })
        })
    }

    fn open_file<'a>(
        &'a self,
        path: &'a str,
    ) -> BoxFuture<'a, Result<Option<(std::fs::File, u64)>, SandboxError>> {
        Box::pin(async move {
            self.check_path(path)?;
            let Some(file) = self.files.get(path) else {
                return Ok(None);
            };
            let failed = |source| SandboxError::ReadFile {
                id: self.name.clone(),
                path: path.to_owned(),
                source,
            };
            let mut opened = tempfile::tempfile().map_err(failed)?;
            opened.write_all(&file.contents).map_err(failed)?;
            opened.rewind().map_err(failed)?;
            Ok(Some((opened, file.contents.len() as u64)))
        })
    }

    fn set_limits(&self, memory_bytes: u64, pids: u32) -> BoxFuture<'_, Result<(), SandboxError>> {
        Box::pin(async move {
            *lock(&self.limits) = (memory_bytes, pids);
            if let Some(spec) = lock(&self.state.live).get_mut(&self.id) {
                spec.memory_bytes = memory_bytes;
                spec.pids = pids;
            }
            Ok(())
        })
    }

    fn meter(&self) -> Meter {
        Meter::new(FakeMeter {
            counters: Arc::clone(&self.counters),
            alive: Arc::clone(&self.alive),
        })
    }

    fn start<'a>(
        &'a self,
        command: &'a CommandSpec,
    ) -> BoxFuture<'a, Result<Process, SandboxError>> {
        Box::pin(async move { self.start_now(command) })
    }

    fn destroy(self: Box<Self>) -> BoxFuture<'static, Result<(), SandboxError>> {
        Box::pin(async move {
            self.end();
            Ok(())
        })
    }
}

impl FakeSandbox {
    fn start_now(&self, command: &CommandSpec) -> Result<Process, SandboxError> {
        if self.lost() || !self.alive.load(Ordering::SeqCst) {
            return Err(SandboxError::AgentGone {
                id: self.name.clone(),
            });
        }
        let program_name = command.argv.first().cloned().unwrap_or_default();
        let Some(program) = lock(&self.state.programs).get(&program_name).cloned() else {
            return Err(SandboxError::StartCommand {
                id: self.name.clone(),
                program: program_name,
                step: "execve".to_owned(),
                source: std::io::Error::from_raw_os_error(2),
            });
        };
        let register = |source| SandboxError::Register {
            id: self.name.clone(),
            what: "fake pipe",
            source,
        };
        let (stdin, stdout, stderr) = match command.stdio {
            StdioMode::Pipes => {
                let (host_in, program_in) = pipe::pipe().map_err(register)?;
                let (program_out, host_out) = pipe::pipe().map_err(register)?;
                let (program_err, host_err) = pipe::pipe().map_err(register)?;
                (
                    (Some(host_in), Some(program_in)),
                    (Some(host_out), Some(program_out)),
                    (Some(host_err), Some(program_err)),
                )
            }
            StdioMode::Pty { .. } => {
                return Err(SandboxError::InvalidCommand {
                    id: self.name.clone(),
                    detail: "the fake backend has no terminals".to_owned(),
                })
            }
        };
        let (mut host_extra, mut program_extra) = (Vec::new(), Vec::new());
        for direction in &command.extra_pipes {
            let (sender, receiver) = pipe::pipe().map_err(register)?;
            match direction {
                ExtraPipe::Read => {
                    host_extra.push(ExtraEnd::Sender(sender));
                    program_extra.push(ExtraEnd::Receiver(receiver));
                }
                ExtraPipe::Write => {
                    host_extra.push(ExtraEnd::Receiver(receiver));
                    program_extra.push(ExtraEnd::Sender(sender));
                }
            }
        }
        let trap = Arc::new(Mutex::new(None));
        let io = Io {
            command: command.clone(),
            stdin: stdin.1,
            stdout: stdout.1,
            stderr: stderr.1,
            extra: program_extra,
            files: self.files.clone(),
            counters: Arc::clone(&self.counters),
            trap: Arc::clone(&trap),
        };
        let (exit_sender, exit) = oneshot::channel();
        let finisher: Finisher = Arc::new(Mutex::new(Some(exit_sender)));
        let task = tokio::spawn({
            let finisher = Arc::clone(&finisher);
            async move {
                let exit = program(io).await;
                finish(&finisher, exit);
            }
        });
        lock(&self.tasks).push((task.abort_handle(), Arc::clone(&finisher)));
        let control = FakeControl {
            abort: task.abort_handle(),
            finisher,
            trap,
            exit,
            started: Instant::now(),
            cpu_limit: command.cpu_time,
            counters: Arc::clone(&self.counters),
            baseline: *lock(&self.counters),
            wall_killed: false,
            outcome: None,
        };
        Ok(Process::new(
            stdin.0, stdout.0, stderr.0, None, host_extra, control,
        ))
    }
}
