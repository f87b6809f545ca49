//! One execute of a session, in queue order: a cell in the session's kernel (state kept), or,
//! for a language without a session driver, a program written, compiled in place and run in
//! the session's sandbox (files kept).

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

use runnel_protocol::Stage;
use tokio::sync::mpsc;

use super::repl::{CellEvent, Kernel};
use super::{closed, driver_of, Session, SessionEventKind, SessionRun};
use crate::error::EngineError;
use crate::executor;
use crate::input::{InputSender, RunInput};
use crate::run::{Limits, RunEvent, RunOutcome, RunRequest};

impl Session {
    /// One execute, start to `Exit`, in queue order.
    #[tracing::instrument(name = "session_run", skip_all, fields(session = %self.id, run = %run.id))]
    pub(super) async fn run(
        self: &Arc<Self>,
        run: SessionRun,
        files: Vec<runnel_sandbox::FileEntry>,
        input_sender: InputSender,
        mut input: mpsc::Receiver<RunInput>,
    ) {
        let mut kernel = self.kernel.lock().await;
        if self.closed.load(Ordering::Acquire) {
            return;
        }
        // Stdin given up front goes in before the code runs (see `Kernel::run_cell` and the
        // executor), not through `input`.
        *self
            .current
            .lock()
            .unwrap_or_else(|poison| poison.into_inner()) = Some((run.id.clone(), input_sender));
        self.log.push(SessionEventKind::Started {
            run: run.id.clone(),
        });
        let started = Instant::now();
        self.engine.stats.run_started();
        let outcome = match driver_of(&self.language) {
            Some(driver) => {
                self.run_cell(&mut kernel, &driver, &run, files, &mut input)
                    .await
            }
            None => {
                drop(kernel);
                self.run_program(&run, files, input).await
            }
        };
        let outcome =
            outcome.unwrap_or_else(|error| executor::outcome_of_error(&error, "session run"));
        self.engine
            .stats
            .run_finished(&self.language.id, outcome.status, started.elapsed());
        *self
            .current
            .lock()
            .unwrap_or_else(|poison| poison.into_inner()) = None;
        self.log.push(SessionEventKind::Exit {
            run: run.id.clone(),
            outcome,
        });
    }

    async fn run_cell(
        &self,
        kernel: &mut Option<Kernel>,
        driver: &runnel_languages::SessionDriver,
        run: &SessionRun,
        files: Vec<runnel_sandbox::FileEntry>,
        input: &mut mpsc::Receiver<RunInput>,
    ) -> Result<RunOutcome, EngineError> {
        let mut files = files.into_iter();
        let code = files
            .next()
            .map(|main| String::from_utf8_lossy(&main.contents).into_owned())
            .unwrap_or_default();
        let others: Vec<_> = files.collect();
        if !others.is_empty() {
            let sandbox = self.sandbox.read().await;
            sandbox
                .as_ref()
                .ok_or_else(closed)?
                .write_files(&others)
                .await?;
        }
        if kernel.is_none() {
            *kernel = Some(self.start_kernel(driver).await?);
        }
        let Some(running) = kernel.as_mut() else {
            return Err(closed());
        };
        let run_id = run.id.clone();
        let log = self.log.clone();
        let emit = move |event: CellEvent| {
            let kind = match event {
                CellEvent::Output(stream, data) => SessionEventKind::Output {
                    run: run_id.clone(),
                    stage: Stage::Run,
                    stream,
                    data,
                },
                CellEvent::InputRequest { prompt, password } => SessionEventKind::InputRequest {
                    run: run_id.clone(),
                    prompt,
                    password,
                },
            };
            log.push(kind);
        };
        let end = running
            .run_cell(&code, run.stdin.as_deref(), run.limits, input, &emit)
            .await;
        if !end.kernel_alive {
            // The next execute starts a fresh interpreter.
            drop(kernel.take());
        }
        Ok(end.outcome)
    }

    /// A language without a driver: write the files, compile (in place, never through the
    /// compile cache), run, in this session's sandbox (files persist, interpreter state does
    /// not).
    async fn run_program(
        self: &Arc<Self>,
        run: &SessionRun,
        files: Vec<runnel_sandbox::FileEntry>,
        input: mpsc::Receiver<RunInput>,
    ) -> Result<RunOutcome, EngineError> {
        let sandbox = self.sandbox.read().await;
        let sandbox = sandbox.as_ref().ok_or_else(closed)?;
        let (events, mut receiver) = mpsc::channel(256);
        let program = executor::Run {
            context: self.engine.clone(),
            pool: None,
            language: self.language.clone(),
            files,
            request: RunRequest {
                id: run.id.clone(),
                owner: self.owner.clone(),
                language: self.language.id.clone(),
                files: Vec::new(),
                stdin: run.stdin.clone(),
                close_stdin: false,
                args: run.args.clone(),
                compiler_args: Vec::new(),
                limits: Limits {
                    memory_bytes: self.limits.memory_bytes,
                    pids: self.limits.pids,
                    ..run.limits
                },
                // Its events go into the session's log.
                replay_bytes: 0,
            },
            events,
            input,
            // The session's files and processes share this sandbox: what a compile leaves
            // here is never cached.
            cache: executor::CacheUse::Bypass,
        };
        let log = self.log.clone();
        let run_id = run.id.clone();
        let forward = async move {
            let mut outcome = None;
            while let Some(event) = receiver.recv().await {
                match event {
                    RunEvent::Started => {}
                    RunEvent::Output {
                        stage,
                        stream,
                        data,
                    } => {
                        log.push(SessionEventKind::Output {
                            run: run_id.clone(),
                            stage,
                            stream,
                            data,
                        });
                    }
                    RunEvent::Exit(end) => outcome = Some(end),
                }
            }
            outcome
        };
        let ((), outcome) = tokio::join!(program.execute_in(sandbox), forward);
        outcome.ok_or_else(|| EngineError::Unavailable("the run ended without an outcome".into()))
    }
}
