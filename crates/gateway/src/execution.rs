//! One admitted run, driven to its end for any transport: accumulated into a `result`, or
//! streamed as `started`, chunks and `exit` into a channel. Every run, however it ends, is
//! recorded in the store under its key.

use std::time::{SystemTime, UNIX_EPOCH};

use runnel_engine::{RunController, RunEvent, RunHandle, RunLog, RunOutcome, RunRequest};
use runnel_protocol::{ResultMessage, RunStatus, ServerMessage};
use runnel_store::{RunRecord, Store};
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::auth::Principal;
use crate::error::ApiError;
use crate::output::{exit_message, lost_outcome, ResultAccumulator, RunMeta};
use crate::quota::{Admission, RunPermit};
use crate::state::AppState;

/// A run that passed admission and was started by the engine. Dropping it kills the run.
pub(crate) struct Execution {
    handle: RunHandle,
    output_limit: u64,
    ledger: Ledger,
    /// The run's slot in its key's quota; a streamed run's log may hold it instead.
    permit: Option<RunPermit>,
}

/// Admit a run for `principal` (concurrency and rate) and start it.
pub(crate) fn start(
    state: &AppState,
    principal: &Principal,
    run: RunRequest,
) -> Result<Execution, ApiError> {
    // What the run's sandbox may take counts against the key's memory maximum while it runs.
    let memory = state
        .engine()
        .committed_memory(&run.language, &run.limits)
        .unwrap_or(run.limits.memory_bytes);
    let admission =
        Admission::of(&principal.quota, principal.quota.max_concurrency).committing(memory);
    let permit = match state.quotas().admit(&principal.key_id, admission) {
        // The key's streamed runs waiting for a resume never keep its new work out: the one
        // detached the longest gives up its slot (and is stopped) instead.
        Err(
            crate::quota::QuotaError::Concurrency { .. } | crate::quota::QuotaError::Memory { .. },
        ) if state.runs().evict_detached(&principal.key_id) => {
            state.quotas().admit(&principal.key_id, admission)?
        }
        admitted => admitted?,
    };
    let output_limit = run.limits.output_bytes;
    let handle = state.engine().run(run)?;
    let ledger = Ledger {
        store: state.store().clone(),
        quotas: state.quotas().clone(),
        cpu_ms_per_minute: principal.quota.cpu_ms_per_minute,
        key_id: principal.key_id.clone(),
        run_id: handle.id.clone(),
        language: handle.language.clone(),
        started: Instant::now(),
        recorded: false,
    };
    tracing::debug!(run_id = %handle.id, language = %handle.language, key_id = %principal.key_id, "run started");
    Ok(Execution {
        handle,
        output_limit,
        ledger,
        permit: Some(permit),
    })
}

impl Execution {
    /// The run id.
    pub(crate) fn id(&self) -> &str {
        &self.handle.id
    }

    /// The run's quota slot, for a holder that outlives this handle's socket (a streamed
    /// run's log, which may give it up early).
    pub(crate) fn take_permit(&mut self) -> Option<RunPermit> {
        self.permit.take()
    }

    /// Stdin and signals.
    pub(crate) fn controller(&self) -> RunController {
        self.handle.controller()
    }

    /// Wait for the end and return everything as one `result`.
    pub(crate) async fn collect(mut self) -> ResultMessage {
        let mut accumulator = ResultAccumulator::new(self.output_limit);
        let outcome = loop {
            match self.handle.next_event().await {
                Some(RunEvent::Started) => {}
                Some(RunEvent::Output {
                    stage,
                    stream,
                    data,
                }) => accumulator.push(stage, stream, &data),
                Some(RunEvent::Exit(outcome)) => break outcome,
                None => break lost_outcome(),
            }
        };
        self.ledger.record(&outcome);
        accumulator.finish(
            self.handle.id.clone(),
            self.handle.language.clone(),
            self.handle.version.clone(),
            outcome,
        )
    }

    /// Stream `started`, `stdout`/`stderr` chunks and one `exit` into `sink`. Returns early (and
    /// so kills the run) when the receiving side goes away.
    pub(crate) async fn stream<T: From<ServerMessage>>(mut self, sink: &mpsc::Sender<T>) {
        let meta = self.meta();
        let Ok(mut reader) = self.handle.log().subscribe(0) else {
            return;
        };
        loop {
            let batch = tokio::select! {
                batch = reader.next_batch() => batch,
                () = sink.closed() => return,
            };
            let Some(Ok(batch)) = batch else {
                // The log ended, or lost events, before an exit: the run was lost.
                let exit = exit_message(meta.id.clone(), lost_outcome(), reader.next_seq());
                let _ = sink.send(T::from(ServerMessage::Exit(exit))).await;
                return;
            };
            for entry in batch {
                let last = if let RunEvent::Exit(outcome) = &entry.kind {
                    self.ledger.record(outcome);
                    true
                } else {
                    false
                };
                if sink.send(T::from(meta.message(&entry))).await.is_err() || last {
                    return;
                }
                reader.taken(entry.seq);
            }
        }
    }

    /// What turns the run's events into messages.
    pub(crate) fn meta(&self) -> RunMeta {
        RunMeta::new(
            self.handle.id.clone(),
            self.handle.language.clone(),
            self.handle.version.clone(),
        )
    }

    /// The run's event log (holding it does not keep the run alive: this does).
    pub(crate) fn log(&self) -> std::sync::Arc<RunLog> {
        self.handle.log()
    }

    /// Wait for the run's end (its `exit` in the log) and record it. Cancel-safe.
    pub(crate) async fn finish(&mut self) {
        let log = self.handle.log();
        log.closed().await;
        if let Some(entry) = log.newest() {
            if let RunEvent::Exit(outcome) = &entry.kind {
                self.ledger.record(outcome);
            }
        }
    }
}

/// Records the run in the store exactly once: with its outcome, or as `killed` when the run is
/// dropped before its end (client gone).
struct Ledger {
    store: Store,
    /// The key's CPU budget takes the run's CPU time.
    quotas: crate::quota::QuotaTracker,
    cpu_ms_per_minute: u64,
    key_id: String,
    run_id: String,
    language: String,
    started: Instant,
    recorded: bool,
}

impl Ledger {
    fn record(&mut self, outcome: &RunOutcome) {
        if !self.recorded {
            self.quotas
                .charge_cpu(&self.key_id, outcome.cpu_time, self.cpu_ms_per_minute);
        }
        self.write(
            outcome.status,
            outcome.wall_time.as_secs_f64() * 1000.0,
            outcome.cpu_time.as_secs_f64() * 1000.0,
            outcome.peak_memory,
        );
    }

    fn write(&mut self, status: RunStatus, wall_ms: f64, cpu_ms: f64, memory_bytes: u64) {
        if self.recorded {
            return;
        }
        self.recorded = true;
        tracing::debug!(run_id = %self.run_id, status = status.as_str(), wall_ms, "run finished");
        self.store.record_run(RunRecord {
            key_id: self.key_id.clone(),
            run_id: self.run_id.clone(),
            language: self.language.clone(),
            status: status.as_str().to_owned(),
            wall_ms,
            cpu_ms,
            memory_bytes,
            finished_at: unix_seconds(),
        });
    }
}

impl Drop for Ledger {
    fn drop(&mut self) {
        let elapsed = self.started.elapsed().as_secs_f64() * 1000.0;
        self.write(RunStatus::Killed, elapsed, 0.0, 0);
    }
}

pub(crate) fn unix_seconds() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| {
            i64::try_from(since.as_secs()).unwrap_or(i64::MAX)
        })
}
