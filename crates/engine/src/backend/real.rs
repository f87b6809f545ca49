//! The kernel sandbox as a [`Backend`]: each trait method is the same method of the sandbox
//! crate's [`Spawner`], [`runnel_sandbox::Sandbox`], [`runnel_sandbox::Process`] and
//! [`runnel_sandbox::Meter`].

use std::time::Duration;

use runnel_sandbox::{
    CommandSpec, Counters, FileEntry, Outcome, SandboxError, SandboxSpec, Spawner, SpawnerHealth,
    TreeListing,
};
use tokio::sync::watch;
use tokio::time::Instant;

use super::{Backend, BoxFuture, Meter, MeterOps, Process, ProcessControl, Sandbox, SandboxOps};

impl Backend for Spawner {
    fn create<'a>(&'a self, spec: &'a SandboxSpec) -> BoxFuture<'a, Result<Sandbox, SandboxError>> {
        Box::pin(async move { Ok(Sandbox::new(Spawner::create(self, spec).await?)) })
    }

    fn health(&self) -> SpawnerHealth {
        Spawner::health(self)
    }

    fn watch_health(&self) -> watch::Receiver<SpawnerHealth> {
        Spawner::watch_health(self)
    }

    fn restarts(&self) -> u64 {
        Spawner::restarts(self)
    }

    fn pid(&self) -> Option<u32> {
        Spawner::pid(self)
    }

    fn shutdown(&self) -> BoxFuture<'_, ()> {
        Box::pin(Spawner::shutdown(self))
    }
}

impl SandboxOps for runnel_sandbox::Sandbox {
    fn spawner_lost(&self) -> bool {
        runnel_sandbox::Sandbox::spawner_lost(self)
    }

    fn write_files<'a>(
        &'a self,
        files: &'a [FileEntry],
    ) -> BoxFuture<'a, Result<(), SandboxError>> {
        Box::pin(runnel_sandbox::Sandbox::write_files(self, files))
    }

    fn read_tree_matching(
        &self,
        max_bytes: u64,
        keep: Box<dyn Fn(&str) -> bool + Send + 'static>,
    ) -> BoxFuture<'_, Result<Vec<FileEntry>, SandboxError>> {
        Box::pin(runnel_sandbox::Sandbox::read_tree_matching(
            self,
            max_bytes,
            move |path: &str| keep(path),
        ))
    }

    fn list_tree(&self) -> BoxFuture<'_, Result<TreeListing, SandboxError>> {
        Box::pin(runnel_sandbox::Sandbox::list_tree(self))
    }

    fn open_file<'a>(
        &'a self,
        path: &'a str,
    ) -> BoxFuture<'a, Result<Option<(std::fs::File, u64)>, SandboxError>> {
        Box::pin(runnel_sandbox::Sandbox::open_file(self, path))
    }

    fn set_limits(&self, memory_bytes: u64, pids: u32) -> BoxFuture<'_, Result<(), SandboxError>> {
        Box::pin(runnel_sandbox::Sandbox::set_limits(
            self,
            memory_bytes,
            pids,
        ))
    }

    fn meter(&self) -> Meter {
        Meter::new(runnel_sandbox::Sandbox::meter(self))
    }

    fn start<'a>(
        &'a self,
        command: &'a CommandSpec,
    ) -> BoxFuture<'a, Result<Process, SandboxError>> {
        Box::pin(async move {
            let mut process = runnel_sandbox::Sandbox::start(self, command).await?;
            Ok(Process::new(
                process.stdin.take(),
                process.stdout.take(),
                process.stderr.take(),
                process.pty.take(),
                std::mem::take(&mut process.extra),
                process,
            ))
        })
    }

    fn destroy(self: Box<Self>) -> BoxFuture<'static, Result<(), SandboxError>> {
        Box::pin((*self).destroy())
    }
}

impl MeterOps for runnel_sandbox::Meter {
    fn counters(&self) -> Result<Counters, SandboxError> {
        runnel_sandbox::Meter::counters(self)
    }

    fn cpu_usage(&self) -> Result<Duration, SandboxError> {
        runnel_sandbox::Meter::cpu_usage(self)
    }

    fn reset_memory_peak(&self) -> Result<bool, SandboxError> {
        runnel_sandbox::Meter::reset_memory_peak(self)
    }
}

/// The process once its ends were taken out: only its signals and its exit are left.
impl ProcessControl for runnel_sandbox::Process {
    fn signal(&self, signal: i32) -> Result<(), SandboxError> {
        runnel_sandbox::Process::signal(self, signal)
    }

    fn wait(&mut self, deadline: Option<Instant>) -> BoxFuture<'_, Result<Outcome, SandboxError>> {
        Box::pin(runnel_sandbox::Process::wait(self, deadline))
    }
}
