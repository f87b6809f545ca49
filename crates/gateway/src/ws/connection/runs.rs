//! The one-shot runs of a connection: `execute` outside a session (one `result`, or streamed
//! into a resumable log), stdin and signals by run id, and `resume` of a streamed run by its id.

use std::collections::HashMap;
use std::sync::Arc;

use runnel_engine::{RunController, Signal};
use runnel_protocol::{ErrorCode, ExecuteRequest, ServerMessage};
use tokio::task::{Id as TaskId, JoinSet};
use tracing::Instrument;

use super::replies::{not_found, stdin_refused};
use crate::auth::Principal;
use crate::convert::execute_from_wire;
use crate::execution;
use crate::state::AppState;
use crate::ws::outbound::Outbox;
use crate::ws::resumable::{self, Resumable};

/// The runs in flight on one connection. Dropping it aborts the tasks of its non-streamed runs
/// (which kills them) and detaches its streamed runs, which go on for the grace period.
pub(super) struct Runs {
    state: AppState,
    outbox: Outbox,
    /// Runs in flight by run id.
    controllers: HashMap<String, RunController>,
    /// The streamed (resumable) runs attached to this socket, by run id.
    logs: HashMap<String, Arc<Resumable>>,
    /// One task per run; dropped (aborted) with the connection.
    tasks: JoinSet<()>,
    /// Which run each task drives.
    task_runs: HashMap<TaskId, String>,
}

impl Runs {
    pub(super) fn new(state: AppState, outbox: Outbox) -> Runs {
        Runs {
            state,
            outbox,
            controllers: HashMap::new(),
            logs: HashMap::new(),
            tasks: JoinSet::new(),
            task_runs: HashMap::new(),
        }
    }

    /// Whether run `id` is in flight on this connection.
    pub(super) fn has(&self, id: &str) -> bool {
        self.controllers.contains_key(id)
    }

    /// Resolves when the task of a run ends, and forgets the run; never while none runs.
    pub(super) async fn reap(&mut self) {
        let Some(finished) = self.tasks.join_next_with_id().await else {
            return std::future::pending().await;
        };
        let task = match finished {
            Ok((task, ())) => task,
            Err(error) => {
                tracing::error!(%error, "run task failed");
                error.id()
            }
        };
        if let Some(run_id) = self.task_runs.remove(&task) {
            self.controllers.remove(&run_id);
            self.logs.remove(&run_id);
        }
    }

    /// Resolves when every run's task has ended (each has sent its last event).
    pub(super) async fn finished(&mut self) {
        while self.tasks.join_next().await.is_some() {}
    }

    /// `execute` outside a session.
    pub(super) async fn execute(&mut self, request: ExecuteRequest, principal: &Principal) {
        let client_id = request.id.clone();
        if let Some(id) = &client_id {
            if self.has(id) || self.state.runs().is_live(&principal.key_id, id) {
                let message = format!("run `{id}` is still in flight on this connection");
                self.outbox
                    .send(ServerMessage::error(
                        ErrorCode::Conflict,
                        message,
                        Some(id.clone()),
                    ))
                    .await;
                return;
            }
        }
        let config = self.state.config();
        let started = execute_from_wire(
            request,
            &principal.key_id,
            self.state.engine(),
            config.default_limits,
            &principal.quota,
        )
        .and_then(|mut execute| {
            let stream = execute.stream;
            if stream {
                // Kept for a client that reconnects and resumes.
                execute.run.replay_bytes = resumable::RING_BYTES;
            }
            execution::start(&self.state, principal, execute.run).map(|run| (run, stream))
        });
        let (execution, stream) = match started {
            Ok(started) => started,
            Err(error) => {
                self.outbox.send(error.to_message(client_id)).await;
                return;
            }
        };
        let run_id = execution.id().to_owned();
        if stream {
            let log = resumable::drive::start(
                &self.state,
                &principal.key_id,
                execution,
                self.outbox.sender().clone(),
            );
            self.track(run_id, log);
            return;
        }
        let controller = execution.controller();
        let span = tracing::debug_span!("run", run_id = %run_id, stream);
        let outbox = self.outbox.clone();
        let task = self.tasks.spawn(
            async move {
                let result = execution.collect().await;
                outbox.send(ServerMessage::Result(result)).await;
            }
            .instrument(span),
        );
        self.controllers.insert(run_id.clone(), controller);
        self.task_runs.insert(task.id(), run_id);
    }

    /// Keep a resumable run attached to this socket for stdin and signals until it ends.
    fn track(&mut self, run_id: String, log: Arc<Resumable>) {
        let finished = Arc::clone(&log);
        let task = self.tasks.spawn(async move { finished.finished().await });
        self.controllers
            .insert(run_id.clone(), log.controller().clone());
        self.logs.insert(run_id.clone(), log);
        self.task_runs.insert(task.id(), run_id);
    }

    /// `resume` with a run `id`: re-attach a streamed run of this key to this socket.
    pub(super) async fn resume(&mut self, id: String, last_seq: u64, principal: &Principal) {
        let Some(log) = self.state.runs().get(&principal.key_id, &id) else {
            let message = format!(
                "no resumable run `{id}` for this key: only `stream: true` runs on /ws are kept, \
                 for {} s after their socket dropped or they ended",
                self.state.config().run_grace.as_secs_f64()
            );
            self.outbox
                .send(ServerMessage::error(ErrorCode::NotFound, message, Some(id)))
                .await;
            return;
        };
        if let Err(oldest) = log.resume(self.outbox.sender().clone(), last_seq) {
            let message = format!(
                "cannot resume run `{id}` after seq {last_seq}: the oldest event kept is {oldest} \
                 (a run keeps its newest {} KiB of events); resume with last_seq >= {}",
                resumable::RING_BYTES >> 10,
                oldest - 1
            );
            self.outbox
                .send(ServerMessage::error(
                    ErrorCode::ResumeGap,
                    message,
                    Some(id),
                ))
                .await;
            return;
        }
        if !log.is_finished() && !self.has(&id) {
            self.track(id, log);
        }
    }

    /// Stdin for run `id` of this connection (see [`Runs::has`]); a numbered write the run
    /// applied already is dropped.
    pub(super) async fn stdin(&self, id: String, data: String, eof: bool, stdin_seq: Option<u64>) {
        let Some(controller) = self.controllers.get(&id) else {
            return self.outbox.send(not_found(id)).await;
        };
        let repeat = match (stdin_seq, self.logs.get(&id)) {
            (Some(number), Some(log)) => !log.accept_stdin_seq(number),
            _ => false,
        };
        if !repeat {
            if let Err(refused) = controller.write_stdin(data.into_bytes(), eof) {
                self.outbox.send(stdin_refused(id, refused)).await;
            }
        }
    }

    /// `signal` for run `id` of this connection (see [`Runs::has`]).
    pub(super) async fn signal(&self, id: String, signal: Signal) {
        match self.controllers.get(&id) {
            Some(controller) if controller.signal(signal) => {}
            _ => self.outbox.send(not_found(id)).await,
        }
    }
}

impl Drop for Runs {
    /// Streamed runs go on without this socket, for the grace period.
    fn drop(&mut self) {
        for log in self.logs.values() {
            log.detach(self.outbox.sender());
        }
    }
}
