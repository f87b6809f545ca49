//! Session actions on a WebSocket (`/ws` and `/stream/session/:id/execute`): create, close,
//! restart, resume, and executes, stdin and signals bound to a session.
//!
//! A connection follows a session (every event of the session is forwarded, with its `seq`:
//! `started`, `stdout`/`stderr`, `input_request`, `exit`, `session`) once it resumed it, ran a
//! `stream: true` execute in it, or is bound to it (`/stream/session/:id/execute`). An execute
//! on a socket that follows its session is answered by the events; otherwise `stream: false`
//! (the default) gets one `result`, as for one-shot runs.

use std::collections::HashMap;

use axum::extract::ws::WebSocketUpgrade;
use axum::extract::{Path, State};
use axum::response::Response;
use runnel_engine::{SessionHandle, SessionRun, Signal, StdinRefused};
use runnel_protocol::{ClientMessage, ErrorCode, ExecuteRequest, ServerMessage};
use tokio::task::{JoinHandle, JoinSet};

use crate::auth::{Authenticated, Principal};
use crate::convert::{files_from_wire, generate_id, limits_from_wire};
use crate::door::Place;
use crate::error::ApiError;
use crate::quota::Admission;
use crate::state::AppState;
use crate::ws::connection::{not_found, serve_bound, stdin_refused, Connection};
use crate::ws::outbound::Outbound;

/// Session runs remembered per connection for stdin and signals by run id.
const MAX_REMEMBERED_RUNS: usize = 1024;

/// The sessions a connection follows.
#[derive(Default)]
pub(crate) struct SessionLinks {
    /// The session of `/stream/session/:id/execute`.
    pub(crate) bound: Option<String>,
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

impl SessionLinks {
    /// A `ping` keeps every followed session alive.
    pub(crate) fn touch(&self) {
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
}

/// `GET /stream/session/:id/execute`: a WebSocket bound to one session.
pub(crate) async fn execute_stream(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Place(ticket): Place,
    upgrade: WebSocketUpgrade,
    Authenticated(principal): Authenticated,
) -> Result<Response, ApiError> {
    let session = super::lookup(&state, &principal, &id)?;
    // The socket holds the connection's place at the door while it is open.
    Ok(
        crate::socket::configure(upgrade, &state).on_upgrade(move |socket| async move {
            let _ticket = ticket;
            serve_bound(socket, state, principal, session).await;
        }),
    )
}

impl Connection {
    fn spawn_session_task(&mut self, task: impl std::future::Future<Output = ()> + Send + 'static) {
        // Reap the finished ones first, so the set does not grow with every execute.
        while self.sessions.collectors.try_join_next().is_some() {}
        self.sessions.collectors.spawn(task);
    }

    /// Forward `session`'s events after `after` to this socket (replacing an earlier follow).
    pub(crate) fn follow(&mut self, session: &SessionHandle, after: u64) -> bool {
        let subscription = match session.subscribe(after) {
            Ok(subscription) => subscription,
            Err(_) => return false,
        };
        let outbound = self.outbound.clone();
        let handle = session.clone();
        let task = tokio::spawn(forward(handle, subscription, outbound));
        let follow = Follow {
            session: session.clone(),
            task,
        };
        self.sessions
            .followed
            .insert(session.id().to_owned(), follow);
        true
    }

    fn is_following(&self, session: &SessionHandle) -> bool {
        self.sessions
            .followed
            .get(session.id())
            .is_some_and(|follow| !follow.task.is_finished())
    }

    /// `create_session`, `close_session`, `restart_session`, `resume`.
    pub(crate) async fn session_action(&mut self, message: ClientMessage, principal: &Principal) {
        match message {
            ClientMessage::CreateSession(request) => {
                let id = request.id.clone();
                match super::create(&self.state, principal, request).await {
                    Ok(session) => {
                        self.sessions.know(&session);
                        let seq = session.last_seq();
                        self.send(super::session_message(&session, "created", id, seq))
                            .await;
                    }
                    Err(error) => self.send(error.to_message(id)).await,
                }
            }
            ClientMessage::CloseSession { session } => {
                self.sessions.followed.remove(&session);
                self.sessions.known.remove(&session);
                match super::lookup(&self.state, principal, &session) {
                    Ok(handle) => {
                        self.state
                            .engine()
                            .close_session(&session, &principal.key_id)
                            .await;
                        let seq = handle.last_seq();
                        self.send(super::session_message(&handle, "closed", None, seq))
                            .await;
                    }
                    Err(error) => self.send(error.to_message(Some(session.clone()))).await,
                }
            }
            ClientMessage::RestartSession { session } => {
                match super::lookup(&self.state, principal, &session) {
                    Ok(handle) => match handle.restart().await {
                        // A socket that follows the session hears `restarted` from the log.
                        Ok(()) if self.is_following(&handle) => {}
                        Ok(()) => {
                            let seq = handle.last_seq();
                            self.send(super::session_message(&handle, "restarted", None, seq))
                                .await;
                        }
                        Err(error) => {
                            let message = ApiError::from(error).to_message(Some(session.clone()));
                            self.send(message).await;
                        }
                    },
                    Err(error) => self.send(error.to_message(Some(session.clone()))).await,
                }
            }
            ClientMessage::Resume {
                session: Some(session),
                last_seq,
                ..
            } => self.resume(&session, last_seq, principal).await,
            ClientMessage::Resume {
                id: Some(id),
                last_seq,
                ..
            } => self.resume_run(id, last_seq, principal).await,
            ClientMessage::Resume { .. } => {
                let error = ApiError::bad_request(
                    "`resume` needs `session` (a session's events) or `id` (a streamed run's)",
                );
                self.send(error.to_message(None)).await;
            }
            other => {
                let error = ApiError::bad_request(format!("unexpected `{}`", other.action()));
                self.send(error.to_message(None)).await;
            }
        }
    }

    async fn resume(&mut self, session: &str, last_seq: u64, principal: &Principal) {
        let handle = match super::lookup(&self.state, principal, session) {
            Ok(handle) => handle,
            Err(error) => return self.send(error.to_message(Some(session.to_owned()))).await,
        };
        handle.touch();
        self.sessions.know(&handle);
        self.sessions.followed.remove(session);
        // Check first, so the client hears `resume_gap` instead of `resumed`.
        if let Err(gap) = handle.subscribe(last_seq) {
            let error = super::gap_error(gap);
            return self.send(error.to_message(Some(session.to_owned()))).await;
        }
        let seq = handle.last_seq();
        let mut resumed = super::session_message(&handle, "resumed", None, seq);
        if let ServerMessage::Session(message) = &mut resumed {
            message.stdin_seq = Some(handle.stdin_seq());
        }
        self.send(resumed).await;
        if !self.follow(&handle, last_seq) {
            let error = ApiError::new(
                ErrorCode::ResumeGap,
                "the events after `last_seq` were trimmed while resuming",
            );
            self.send(error.to_message(Some(session.to_owned()))).await;
        }
    }

    /// `execute` in a session: events through the follow, or one `result`.
    pub(crate) async fn session_execute(
        &mut self,
        request: ExecuteRequest,
        session: &str,
        principal: &Principal,
    ) {
        let client_id = request.id.clone();
        let started = self.start_session_run(request, session, principal);
        if let Err(error) = started {
            self.send(error.to_message(client_id)).await;
        }
    }

    fn start_session_run(
        &mut self,
        request: ExecuteRequest,
        session: &str,
        principal: &Principal,
    ) -> Result<(), ApiError> {
        let handle = super::lookup(&self.state, principal, session)?;
        let stream = request.stream;
        let run = session_run(&self.state, request, principal)?;
        if self.sessions.runs.len() >= MAX_REMEMBERED_RUNS {
            self.sessions
                .runs
                .retain(|_, session| session.running().is_some());
        }
        // Subscribed before the run starts, so that none of its events is missed.
        let collector = if self.is_following(&handle) {
            None
        } else if stream {
            self.follow(&handle, handle.last_seq());
            None
        } else {
            let subscription = handle
                .subscribe(handle.last_seq())
                .map_err(super::gap_error)?;
            Some((subscription, run.id.clone(), run.limits.output_bytes))
        };
        self.sessions.know(&handle);
        self.sessions.runs.insert(run.id.clone(), handle.clone());
        handle.execute(run)?;
        if let Some((subscription, run_id, output_limit)) = collector {
            let outbound = self.outbound.clone();
            self.spawn_session_task(async move {
                let message = match super::collect_result(
                    &handle,
                    subscription,
                    run_id.clone(),
                    output_limit,
                )
                .await
                {
                    Ok(result) => ServerMessage::Result(result),
                    Err(error) => error.to_message(Some(run_id)),
                };
                let _ = outbound.send(Outbound::from(message)).await;
            });
        }
        Ok(())
    }

    /// The session a stdin or signal `id` means: a session run of this connection, or a
    /// session id (its running execute).
    fn session_for(&self, id: &str, principal: &Principal) -> Option<SessionHandle> {
        let engine = self.state.engine();
        self.sessions
            .runs
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

    pub(crate) async fn session_stdin(
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
            self.send(stdin_refused(id, refused)).await;
        }
    }

    pub(crate) async fn session_signal(
        &mut self,
        id: String,
        signal: Signal,
        principal: &Principal,
    ) {
        let sent = match self.session_for(&id, principal) {
            Some(session) if session.id() == id => session.signal(signal),
            Some(session) => session.signal_run(&id, signal),
            None => false,
        };
        if !sent {
            self.send(not_found(id)).await;
        }
    }
}

/// A validated session execute, counted against the key's rate (its concurrency is bounded by
/// its sessions: one execute runs at a time in each).
pub(crate) fn session_run(
    state: &AppState,
    request: ExecuteRequest,
    principal: &Principal,
) -> Result<SessionRun, ApiError> {
    let admission = Admission::of(&principal.quota, 0);
    drop(state.quotas().admit(&principal.key_id, admission)?);
    let id = match request.id {
        Some(id) if !id.is_empty() && id.len() <= 128 && !id.chars().any(char::is_control) => id,
        Some(_) => {
            return Err(ApiError::bad_request(
                "invalid `id`: it must be 1 to 128 bytes without control characters",
            ))
        }
        None => generate_id(),
    };
    let files = files_from_wire(request.code, request.files)?;
    let limits = limits_from_wire(
        request.limits,
        request.timeout,
        state.config().default_limits,
        &principal.quota,
    )?;
    Ok(SessionRun {
        id,
        files,
        stdin: request.stdin.map(String::into_bytes),
        args: request.args,
        limits,
    })
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
                let message = super::gap_error(gap).to_message(Some(session.id().to_owned()));
                let _ = outbound.send(Outbound::from(message)).await;
                return;
            }
        };
        for event in events {
            let message: ServerMessage = super::event_message(&session, &event);
            if outbound.send(Outbound::from(message)).await.is_err() {
                return;
            }
        }
    }
}
