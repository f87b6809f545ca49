//! Session actions on a WebSocket (`/ws` and `/stream/session/:id/execute`): create, close,
//! restart, resume, and executes, stdin and signals bound to a session.
//!
//! A connection follows a session (every event of the session is forwarded, with its `seq`:
//! `started`, `stdout`/`stderr`, `input_request`, `exit`, `session`) once it resumed it, ran a
//! `stream: true` execute in it, or is bound to it (`/stream/session/:id/execute`). An execute
//! on a socket that follows its session is answered by the events; otherwise `stream: false`
//! (the default) gets one `result`, as for one-shot runs.

use std::collections::HashMap;

use runnel_engine::{SessionHandle, Signal, StdinRefused};
use runnel_protocol::client::CreateSessionRequest;
use runnel_protocol::{ErrorCode, ExecuteRequest, ServerMessage};
use tokio::task::{JoinHandle, JoinSet};

use super::replies::{not_found, stdin_refused};
use crate::auth::Principal;
use crate::error::ApiError;
use crate::session::{
    self, collect_result, event_message, gap_error, lookup, session_message, session_run,
};
use crate::state::AppState;
use crate::ws::outbound::{Outbound, Outbox};

/// Session runs remembered per connection for stdin and signals by run id.
const MAX_REMEMBERED_RUNS: usize = 1024;

/// The sessions a connection follows, knows and runs in. Dropping it stops every forwarding
/// and `result`-gathering task of the connection.
pub(super) struct Sessions {
    state: AppState,
    outbox: Outbox,
    /// The session of `/stream/session/:id/execute`.
    bound: Option<String>,
    /// Forwarding tasks by session id; aborted when replaced or dropped.
    followed: HashMap<String, Follow>,
    /// Sessions this connection created, ran something in, resumed or restarted: a `ping`
    /// keeps them alive.
    known: HashMap<String, SessionHandle>,
    /// Session runs started here: run id to session.
    runs: HashMap<String, SessionHandle>,
    /// Tasks gathering `result`s of non-streamed session runs; aborted with the connection.
    collectors: JoinSet<()>,
}

struct Follow {
    session: SessionHandle,
    task: JoinHandle<()>,
}

impl Drop for Follow {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Sessions {
    pub(super) fn new(state: AppState, outbox: Outbox) -> Sessions {
        Sessions {
            state,
            outbox,
            bound: None,
            followed: HashMap::new(),
            known: HashMap::new(),
            runs: HashMap::new(),
            collectors: JoinSet::new(),
        }
    }

    /// Bind the connection to `session` (`/stream/session/:id/execute`): its executes run
    /// there, and the session's live events are forwarded from now on.
    pub(super) fn bind(&mut self, session: &SessionHandle) {
        self.bound = Some(session.id().to_owned());
        self.follow(session, session.last_seq());
    }

    /// The session the connection is bound to, if any.
    pub(super) fn bound(&self) -> Option<&str> {
        self.bound.as_deref()
    }

    /// A `ping` keeps every followed session alive.
    pub(super) fn touch(&self) {
        for session in self.known.values() {
            session.touch();
        }
        for follow in self.followed.values() {
            follow.session.touch();
        }
    }

    fn know(&mut self, session: &SessionHandle) {
        self.known.retain(|_, known| !known.is_closed());
        self.known.insert(session.id().to_owned(), session.clone());
    }

    fn spawn_task(&mut self, task: impl std::future::Future<Output = ()> + Send + 'static) {
        // Reap the finished ones first, so the set does not grow with every execute.
        while self.collectors.try_join_next().is_some() {}
        self.collectors.spawn(task);
    }

    /// Forward `session`'s events after `after` to this socket (replacing an earlier follow).
    fn follow(&mut self, session: &SessionHandle, after: u64) -> bool {
        let subscription = match session.subscribe(after) {
            Ok(subscription) => subscription,
            Err(_) => return false,
        };
        let outbound = self.outbox.sender().clone();
        let handle = session.clone();
        let task = tokio::spawn(forward(handle, subscription, outbound));
        let follow = Follow {
            session: session.clone(),
            task,
        };
        self.followed.insert(session.id().to_owned(), follow);
        true
    }

    fn is_following(&self, session: &SessionHandle) -> bool {
        self.followed
            .get(session.id())
            .is_some_and(|follow| !follow.task.is_finished())
    }

    /// `create_session`.
    pub(super) async fn create(&mut self, request: CreateSessionRequest, principal: &Principal) {
        let id = request.id.clone();
        match session::create(&self.state, principal, request).await {
            Ok(session) => {
                self.know(&session);
                let seq = session.last_seq();
                self.outbox
                    .send(session_message(&session, "created", id, seq))
                    .await;
            }
            Err(error) => self.outbox.send(error.to_message(id)).await,
        }
    }

    /// `close_session`.
    pub(super) async fn close(&mut self, session: String, principal: &Principal) {
        self.followed.remove(&session);
        self.known.remove(&session);
        match lookup(&self.state, principal, &session) {
            Ok(handle) => {
                self.state
                    .engine()
                    .close_session(&session, &principal.key_id)
                    .await;
                let seq = handle.last_seq();
                self.outbox
                    .send(session_message(&handle, "closed", None, seq))
                    .await;
            }
            Err(error) => self.outbox.send(error.to_message(Some(session))).await,
        }
    }

    /// `restart_session`.
    pub(super) async fn restart(&mut self, session: String, principal: &Principal) {
        match lookup(&self.state, principal, &session) {
            Ok(handle) => match handle.restart().await {
                // A socket that follows the session hears `restarted` from the log.
                Ok(()) if self.is_following(&handle) => {}
                Ok(()) => {
                    let seq = handle.last_seq();
                    self.outbox
                        .send(session_message(&handle, "restarted", None, seq))
                        .await;
                }
                Err(error) => {
                    let message = ApiError::from(error).to_message(Some(session));
                    self.outbox.send(message).await;
                }
            },
            Err(error) => self.outbox.send(error.to_message(Some(session))).await,
        }
    }

    /// `resume` with a `session`: its events after `last_seq`, then the live ones.
    pub(super) async fn resume(&mut self, session: &str, last_seq: u64, principal: &Principal) {
        let handle = match lookup(&self.state, principal, session) {
            Ok(handle) => handle,
            Err(error) => {
                let message = error.to_message(Some(session.to_owned()));
                return self.outbox.send(message).await;
            }
        };
        handle.touch();
        self.know(&handle);
        self.followed.remove(session);
        // Check first, so the client hears `resume_gap` instead of `resumed`.
        if let Err(gap) = handle.subscribe(last_seq) {
            let error = gap_error(gap);
            return self
                .outbox
                .send(error.to_message(Some(session.to_owned())))
                .await;
        }
        let seq = handle.last_seq();
        let mut resumed = session_message(&handle, "resumed", None, seq);
        if let ServerMessage::Session(message) = &mut resumed {
            message.stdin_seq = Some(handle.stdin_seq());
        }
        self.outbox.send(resumed).await;
        if !self.follow(&handle, last_seq) {
            let error = ApiError::new(
                ErrorCode::ResumeGap,
                "the events after `last_seq` were trimmed while resuming",
            );
            self.outbox
                .send(error.to_message(Some(session.to_owned())))
                .await;
        }
    }

    /// `execute` in a session: events through the follow, or one `result`.
    pub(super) async fn execute(
        &mut self,
        request: ExecuteRequest,
        session: &str,
        principal: &Principal,
    ) {
        let client_id = request.id.clone();
        let started = self.start_run(request, session, principal);
        if let Err(error) = started {
            self.outbox.send(error.to_message(client_id)).await;
        }
    }

    fn start_run(
        &mut self,
        request: ExecuteRequest,
        session: &str,
        principal: &Principal,
    ) -> Result<(), ApiError> {
        let handle = lookup(&self.state, principal, session)?;
        let stream = request.stream;
        let run = session_run(&self.state, request, principal)?;
        if self.runs.len() >= MAX_REMEMBERED_RUNS {
            self.runs.retain(|_, session| session.running().is_some());
        }
        // Subscribed before the run starts, so that none of its events is missed.
        let collector = if self.is_following(&handle) {
            None
        } else if stream {
            self.follow(&handle, handle.last_seq());
            None
        } else {
            let subscription = handle.subscribe(handle.last_seq()).map_err(gap_error)?;
            Some((subscription, run.id.clone(), run.limits.output_bytes))
        };
        self.know(&handle);
        self.runs.insert(run.id.clone(), handle.clone());
        handle.execute(run)?;
        if let Some((subscription, run_id, output_limit)) = collector {
            let outbox = self.outbox.clone();
            self.spawn_task(async move {
                let message =
                    match collect_result(&handle, subscription, run_id.clone(), output_limit).await
                    {
                        Ok(result) => ServerMessage::Result(result),
                        Err(error) => error.to_message(Some(run_id)),
                    };
                outbox.send(message).await;
            });
        }
        Ok(())
    }

    /// The session a stdin or signal `id` means: a session run of this connection, or a
    /// session id (its running execute).
    fn session_for(&self, id: &str, principal: &Principal) -> Option<SessionHandle> {
        let engine = self.state.engine();
        self.runs
            .get(id)
            .cloned()
            .or_else(|| engine.session(id, &principal.key_id))
            // A session run started on an earlier connection of the same key (a client that
            // reconnected).
            .or_else(|| {
                engine
                    .sessions(&principal.key_id)
                    .into_iter()
                    .find(|session| session.has_run(id))
            })
    }

    /// Stdin for `id`: a session run, or a session's running execute.
    pub(super) async fn stdin(
        &mut self,
        id: String,
        data: String,
        eof: bool,
        stdin_seq: Option<u64>,
        principal: &Principal,
    ) {
        let session = self.session_for(&id, principal);
        if let (Some(session), Some(number)) = (&session, stdin_seq) {
            if !session.accept_stdin_seq(number) {
                return;
            }
        }
        let written = match session {
            Some(session) if session.id() == id => session.write_stdin(data.into_bytes(), eof),
            Some(session) => session.write_run_stdin(&id, data.into_bytes(), eof),
            None => Err(StdinRefused::Closed),
        };
        if let Err(refused) = written {
            self.outbox.send(stdin_refused(id, refused)).await;
        }
    }

    /// `signal` for `id`: a session run, or a session's running execute.
    pub(super) async fn signal(&mut self, id: String, signal: Signal, principal: &Principal) {
        let sent = match self.session_for(&id, principal) {
            Some(session) if session.id() == id => session.signal(signal),
            Some(session) => session.signal_run(&id, signal),
            None => false,
        };
        if !sent {
            self.outbox.send(not_found(id)).await;
        }
    }
}

/// Forward a subscription's events to a socket until the session closes or the socket goes.
async fn forward(
    session: SessionHandle,
    mut subscription: runnel_engine::Subscription,
    outbound: tokio::sync::mpsc::Sender<Outbound>,
) {
    while let Some(batch) = subscription.next_batch().await {
        let events = match batch {
            Ok(events) => events,
            Err(gap) => {
                let message = gap_error(gap).to_message(Some(session.id().to_owned()));
                let _ = outbound.send(Outbound::from(message)).await;
                return;
            }
        };
        for event in events {
            let message: ServerMessage = event_message(&session, &event);
            if outbound.send(Outbound::from(message)).await.is_err() {
                return;
            }
        }
    }
}
