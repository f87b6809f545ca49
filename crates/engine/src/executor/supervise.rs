//! One step's process, supervised: stdin written in order, signals passed on, output pumped
//! against the run's budget, and the wall-clock limit kept.

use std::sync::Arc;
use std::time::Duration;

use crate::backend::Process;
use runnel_protocol::{Stage, StreamName};
use tokio::io::AsyncWriteExt;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::{Run, StepResult};
use crate::error::EngineError;
use crate::input::{RunInput, StdinChunk};
use crate::output::{pump, OutputBudget};
use crate::run::Signal;

impl Run {
    /// Wire stdin, signals and output of a started process and wait for it.
    pub(super) async fn supervise(
        &mut self,
        mut process: Process,
        stage: Stage,
        wall: Duration,
        initial_stdin: Vec<StdinChunk>,
        budget: &Arc<OutputBudget>,
        held_stdin: &mut Vec<StdinChunk>,
    ) -> Result<StepResult, EngineError> {
        let started = tokio::time::Instant::now();
        let deadline = crate::run::deadline_after(started, wall);
        let mut pumps = Vec::new();
        if let Some(stdout) = process.stdout.take() {
            pumps.push(tokio::spawn(pump(
                stdout,
                stage,
                StreamName::Stdout,
                budget.clone(),
                self.events.clone(),
            )));
        }
        if let Some(stderr) = process.stderr.take() {
            pumps.push(tokio::spawn(pump(
                stderr,
                stage,
                StreamName::Stderr,
                budget.clone(),
                self.events.clone(),
            )));
        }
        let stdin = spawn_stdin_writer(process.stdin.take(), initial_stdin);
        let mut killed_by_request = false;
        let mut output_exceeded = false;
        let mut client_gone = false;
        // Input ends when every controller is gone, which may be seen before the event
        // channel's close: it must not disable the watch on the latter (the run would then go
        // on to its wall limit with nobody reading).
        let mut input_open = true;
        let outcome = loop {
            tokio::select! {
                outcome = process.wait(Some(deadline)) => break outcome?,
                input = self.input.recv(), if input_open => match input {
                    // Held or queued, the chunk still counts against the run's stdin bound
                    // until it is written to the program.
                    Some(RunInput::Stdin(chunk)) => {
                        if stage == Stage::Compile {
                            held_stdin.push(chunk);
                        } else if let Some(stdin) = &stdin {
                            let _ = stdin.send(chunk);
                        }
                    }
                    Some(RunInput::Signal(signal)) => {
                        killed_by_request = true;
                        let number = if stage == Stage::Compile {
                            Signal::Kill.number()
                        } else {
                            signal.number()
                        };
                        signal_quietly(&process, number);
                    }
                    None => input_open = false,
                },
                () = budget.exceeded_notify.notified(), if !output_exceeded => {
                    output_exceeded = true;
                    signal_quietly(&process, Signal::Kill.number());
                }
                () = self.events.closed(), if !client_gone => {
                    client_gone = true;
                    signal_quietly(&process, Signal::Kill.number());
                }
            }
        };
        drop(stdin);
        // A signal the client sent only counts as the cause if a signal ended the program.
        let killed_by_request = killed_by_request && outcome.signal.is_some();
        Ok(StepResult {
            outcome,
            killed_by_request,
            output_exceeded: output_exceeded || budget.exceeded(),
            pumps,
        })
    }
}

/// Wait up to `grace` for every output pump to finish; true when all did.
pub(super) async fn drain(pumps: &mut [JoinHandle<()>], grace: Duration) -> bool {
    let deadline = tokio::time::Instant::now() + grace;
    for pump in pumps.iter_mut() {
        if pump.is_finished() {
            continue;
        }
        if tokio::time::timeout_at(deadline, pump).await.is_err() {
            return false;
        }
    }
    true
}

/// Signal a process that may already have exited (then there is nothing to do).
fn signal_quietly(process: &Process, number: i32) {
    if let Err(error) = process.signal(number) {
        tracing::debug!(%error, number, "signal not delivered");
    }
}

/// A task that writes stdin in order without ever blocking the run's control loop. The queue
/// is bounded by the chunks' charges (see [`crate::input`]), each released once written.
pub(crate) fn spawn_stdin_writer(
    pipe: Option<tokio::net::unix::pipe::Sender>,
    initial: Vec<StdinChunk>,
) -> Option<mpsc::UnboundedSender<StdinChunk>> {
    let mut pipe = pipe?;
    let (sender, mut receiver) = mpsc::unbounded_channel::<StdinChunk>();
    for item in initial {
        let _ = sender.send(item);
    }
    tokio::spawn(async move {
        while let Some(mut chunk) = receiver.recv().await {
            if !chunk.data.is_empty() && pipe.write_all(&chunk.data).await.is_err() {
                return; // the program closed its stdin
            }
            if let Some(written) = chunk.written.take() {
                let _ = written.send(());
            }
            if chunk.eof {
                return; // dropping the pipe closes the program's stdin
            }
        }
    });
    Some(sender)
}
