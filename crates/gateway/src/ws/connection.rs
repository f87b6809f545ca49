//! One WebSocket connection: authentication, decoding, and dispatch of each action.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::extract::ws::{Message, WebSocket};
use futures_util::StreamExt;
use runnel_engine::{RunController, Signal, StdinRefused};
use runnel_protocol::server::PongMessage;
use runnel_protocol::{
    decode_client_frame, ClientMessage, DecodeError, ErrorCode, ExecuteRequest, ServerMessage,
};
use tokio::sync::{mpsc, watch};
use tokio::task::{Id as TaskId, JoinSet};
use tokio::time::{sleep_until, Instant};
use tracing::Instrument;

use super::outbound::Outbound;
use super::resumable::{self, RunLog};
use super::{write_frames, OUTBOUND_CAPACITY};
use crate::auth::{authenticate, unauthorized, Credentials, Principal};
use crate::convert::execute_from_wire;
use crate::door::Ticket;
use crate::execution;
use crate::session::ws::SessionLinks;
use crate::socket::close::{self, CLOSE_GOING_AWAY, CLOSE_POLICY};
use crate::state::AppState;

/// How long the writer gets to flush the last frames (a close) after the reader ends.
const WRITER_GRACE: Duration = Duration::from_secs(2);
/// How long, at shutdown, a connection waits for its runs' last events before it closes.
const LAST_EVENTS_PATIENCE: Duration = Duration::from_secs(2);
/// Signal names accepted by `signal`, for error messages.
const SIGNALS: &str = "SIGINT, SIGTERM, SIGKILL, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2";

/// WebSocket close code for "try again later": the key has its maximum of connections open.
const CLOSE_TRY_AGAIN_LATER: u16 = 1013;

/// Serve one upgraded socket until it closes. The key came with the upgrade request, if any;
/// the ticket is the connection's place at the front door, charged to the key it
/// authenticates with.
pub(super) async fn serve(socket: WebSocket, state: AppState, credentials: Credentials) {
    serve_with(socket, state, credentials, None).await;
}

/// Serve a socket already authenticated and bound to one session
/// (`/stream/session/:id/execute`): its executes run in that session, and the session's live
/// events are forwarded from the start.
pub(crate) async fn serve_bound(
    socket: WebSocket,
    state: AppState,
    principal: Principal,
    session: runnel_engine::SessionHandle,
) {
    let credentials = Credentials {
        key: None,
        ticket: None,
    };
    serve_with(socket, state, credentials, Some((principal, session))).await;
}

async fn serve_with(
    socket: WebSocket,
    state: AppState,
    credentials: Credentials,
    bound: Option<(Principal, runnel_engine::SessionHandle)>,
) {
    let Credentials { key, ticket } = credentials;
    let _open = state.metrics().connection_opened();
    let span = tracing::debug_span!("ws", key_id = tracing::field::Empty);
    let (sink, mut stream) = socket.split();
    let (outbound, outbound_receiver) = mpsc::channel(OUTBOUND_CAPACITY);
    let (stop_writer, stop) = tokio::sync::oneshot::channel();
    let mut writer = tokio::spawn(write_frames(sink, outbound_receiver, state.clone(), stop));
    let mut connection = Connection {
        state,
        outbound,
        principal: None,
        ticket,
        runs: HashMap::new(),
        logs: HashMap::new(),
        tasks: JoinSet::new(),
        task_runs: HashMap::new(),
        sessions: SessionLinks::default(),
    };
    if let Some((principal, session)) = bound {
        connection.principal = Some(principal);
        connection.sessions.bound = Some(session.id().to_owned());
        connection.follow(&session, session.last_seq());
    }
    connection
        .read_frames(&mut stream, key)
        .instrument(span)
        .await;
    // Dropping the connection aborts its run tasks (killing the runs) and detaches its
    // streamed runs; the writer writes what is queued, then answers the client's close frame
    // or sends its own. Then, for the server's close, the client's reply is awaited.
    drop(connection);
    let _ = stop_writer.send(());
    if tokio::time::timeout(WRITER_GRACE, &mut writer)
        .await
        .is_err()
    {
        writer.abort();
    }
    close::await_reply(&mut stream).await;
}

/// Whether to keep reading.
#[derive(Debug, PartialEq, Eq)]
enum Flow {
    Continue,
    Close,
}

pub(crate) struct Connection {
    pub(crate) state: AppState,
    pub(crate) outbound: mpsc::Sender<Outbound>,
    principal: Option<Principal>,
    /// The connection's place at the front door, charged to the key it authenticates with.
    ticket: Option<Arc<Ticket>>,
    /// Runs in flight by run id.
    runs: HashMap<String, RunController>,
    /// The streamed (resumable) runs attached to this socket, by run id.
    logs: HashMap<String, Arc<RunLog>>,
    /// One task per run; dropped (aborted) with the connection.
    tasks: JoinSet<()>,
    /// Which run each task drives.
    task_runs: HashMap<TaskId, String>,
    /// Sessions this connection follows, and its session runs.
    pub(crate) sessions: SessionLinks,
}

impl Connection {
    async fn read_frames(
        &mut self,
        stream: &mut futures_util::stream::SplitStream<WebSocket>,
        key: Option<String>,
    ) {
        if let Some(key) = key {
            if Box::pin(self.authenticate(key)).await == Flow::Close {
                return;
            }
        }
        let deadline = Instant::now() + self.state.config().auth_timeout;
        let mut shutdown = self.state.shutdown_signal();
        let mut revoked = self.state.revocations().subscribe();
        loop {
            let key_id = self
                .principal
                .as_ref()
                .map(|principal| principal.key_id.clone());
            tokio::select! {
                biased;
                () = shutting_down(&mut shutdown) => {
                    // The engine has stopped every run: let their tasks send the last events
                    // (each run's `exit`) first.
                    let last_events = async {
                        while self.tasks.join_next().await.is_some() {}
                    };
                    let _ = tokio::time::timeout(LAST_EVENTS_PATIENCE, last_events).await;
                    let message = "the server is shutting down; reconnect later";
                    self.send(ServerMessage::error(ErrorCode::Unavailable, message, None)).await;
                    self.close(CLOSE_GOING_AWAY, "shutting down").await;
                    return;
                }
                () = revoked.of(key_id.as_deref()) => {
                    let message = "this socket's API key was revoked";
                    self.send(ServerMessage::error(ErrorCode::Unauthorized, message, None)).await;
                    self.close(CLOSE_POLICY, "key revoked").await;
                    return;
                }
                Some(finished) = self.tasks.join_next_with_id(), if !self.tasks.is_empty() => {
                    let task = match finished {
                        Ok((task, ())) => task,
                        Err(error) => {
                            tracing::error!(%error, "run task failed");
                            error.id()
                        }
                    };
                    if let Some(run_id) = self.task_runs.remove(&task) {
                        self.runs.remove(&run_id);
                        self.logs.remove(&run_id);
                    }
                }
                () = sleep_until(deadline), if self.principal.is_none() => {
                    let message = format!(
                        "no API key within {} s: send `auth` with `api_key`, or put `api_key` \
                         in the first message",
                        self.state.config().auth_timeout.as_secs_f64()
                    );
                    self.send(ServerMessage::error(ErrorCode::AuthTimeout, message, None)).await;
                    self.close(CLOSE_POLICY, "auth_timeout").await;
                    return;
                }
                frame = stream.next() => {
                    let flow = match frame {
                        Some(Ok(Message::Text(text))) => {
                            self.state.metrics().frame_in();
                            // Boxed: an idle socket's task holds only the wait, not the
                            // state of handling a message.
                            Box::pin(self.on_text(text.as_str())).await
                        }
                        Some(Ok(Message::Binary(_))) => {
                            self.state.metrics().frame_in();
                            self.send_decode_error(DecodeError::Binary).await;
                            Flow::Continue
                        }
                        Some(Ok(Message::Ping(_) | Message::Pong(_))) => Flow::Continue,
                        Some(Ok(Message::Close(_))) | None => Flow::Close,
                        Some(Err(error)) => {
                            tracing::debug!(%error, "websocket read failed");
                            if let Some((code, reason)) = close::code_for_read_error(&error) {
                                self.close(code, reason).await;
                            }
                            Flow::Close
                        }
                    };
                    if flow == Flow::Close {
                        return;
                    }
                }
            }
        }
    }

    async fn on_text(&mut self, text: &str) -> Flow {
        let message = match decode_client_frame(text, self.state.config().max_frame_bytes) {
            Ok(message) => message,
            Err(error) => {
                self.send_decode_error(error).await;
                return Flow::Continue;
            }
        };
        // A key in the message authenticates the socket; once authenticated, only an explicit
        // `auth` switches keys (so the seed's key-in-every-execute costs one lookup).
        let explicit = matches!(message, ClientMessage::Auth { .. });
        if let Some(key) = message.api_key() {
            if (self.principal.is_none() || explicit)
                && self.authenticate(key.to_owned()).await == Flow::Close
            {
                return Flow::Close;
            }
        }
        let Some(principal) = self.principal.clone() else {
            if let ClientMessage::Ping { t } = message {
                self.send(pong(t)).await;
            } else {
                let error = unauthorized(
                    "authenticate first: send `auth` with `api_key`, put `api_key` in this \
                     message, or connect with `Authorization: Bearer KEY` or `?api_key=KEY`",
                );
                self.send(error.to_message(None)).await;
            }
            return Flow::Continue;
        };
        match message {
            // Success needs no answer: the next message is served under the key.
            ClientMessage::Auth { .. } => {}
            ClientMessage::Execute(mut request) => {
                if request.session.is_none() {
                    request.session.clone_from(&self.sessions.bound);
                }
                match request.session.take() {
                    Some(session) => self.session_execute(request, &session, &principal).await,
                    None => self.execute(request, &principal).await,
                }
            }
            ClientMessage::Stdin {
                id,
                data,
                eof,
                stdin_seq,
            } => match self.runs.get(&id).cloned() {
                Some(controller) => {
                    let repeat = match (stdin_seq, self.logs.get(&id)) {
                        (Some(number), Some(log)) => !log.accept_stdin_seq(number),
                        _ => false,
                    };
                    if !repeat {
                        if let Err(refused) = controller.write_stdin(data.into_bytes(), eof) {
                            self.send(stdin_refused(id, refused)).await;
                        }
                    }
                }
                None => {
                    self.session_stdin(id, data, eof, stdin_seq, &principal)
                        .await;
                }
            },
            ClientMessage::Signal { id, signal } => self.signal(id, &signal, &principal).await,
            ClientMessage::Ping { t } => {
                self.sessions.touch();
                self.send(pong(t)).await;
            }
            other => self.session_action(other, &principal).await,
        }
        Flow::Continue
    }

    /// Authenticate with `key`. A wrong key answers `unauthorized` and closes.
    async fn authenticate(&mut self, key: String) -> Flow {
        match authenticate(&self.state, key, self.ticket.as_deref()).await {
            Ok(principal) => {
                tracing::Span::current().record("key_id", principal.key_id.as_str());
                self.principal = Some(principal);
                Flow::Continue
            }
            Err(error) if error.code == ErrorCode::Unauthorized => {
                self.send(error.to_message(None)).await;
                self.close(CLOSE_POLICY, "unauthorized").await;
                Flow::Close
            }
            // The key has its maximum of connections open: this one is not kept waiting.
            Err(error) if error.code == ErrorCode::ConcurrencyLimit => {
                self.send(error.to_message(None)).await;
                self.close(CLOSE_TRY_AGAIN_LATER, "too many connections")
                    .await;
                Flow::Close
            }
            // The store failed: say so, and let the client try again.
            Err(error) => {
                self.send(error.to_message(None)).await;
                Flow::Continue
            }
        }
    }

    async fn execute(&mut self, request: ExecuteRequest, principal: &Principal) {
        let client_id = request.id.clone();
        if let Some(id) = &client_id {
            if self.runs.contains_key(id) || self.state.runs().is_live(&principal.key_id, id) {
                let message = format!("run `{id}` is still in flight on this connection");
                self.send(ServerMessage::error(
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
        .and_then(|execute| {
            let stream = execute.stream;
            execution::start(&self.state, principal, execute.run).map(|run| (run, stream))
        });
        let (execution, stream) = match started {
            Ok(started) => started,
            Err(error) => {
                self.send(error.to_message(client_id)).await;
                return;
            }
        };
        let run_id = execution.id().to_owned();
        if stream {
            let log = resumable::drive::start(
                &self.state,
                &principal.key_id,
                execution,
                self.outbound.clone(),
            );
            self.track(run_id, log);
            return;
        }
        let controller = execution.controller();
        let span = tracing::debug_span!("run", run_id = %run_id, stream);
        let outbound = self.outbound.clone();
        let task = self.tasks.spawn(
            async move {
                let result = execution.collect().await;
                let _ = outbound.send(ServerMessage::Result(result).into()).await;
            }
            .instrument(span),
        );
        self.runs.insert(run_id.clone(), controller);
        self.task_runs.insert(task.id(), run_id);
    }

    /// Keep a resumable run attached to this socket for stdin and signals until it ends.
    fn track(&mut self, run_id: String, log: Arc<RunLog>) {
        let finished = Arc::clone(&log);
        let task = self.tasks.spawn(async move { finished.finished().await });
        self.runs.insert(run_id.clone(), log.controller().clone());
        self.logs.insert(run_id.clone(), log);
        self.task_runs.insert(task.id(), run_id);
    }

    /// `resume` with a run `id`: re-attach a streamed run of this key to this socket.
    pub(crate) async fn resume_run(&mut self, id: String, last_seq: u64, principal: &Principal) {
        let Some(log) = self.state.runs().get(&principal.key_id, &id) else {
            let message = format!(
                "no resumable run `{id}` for this key: only `stream: true` runs on /ws are kept, \
                 for {} s after their socket dropped or they ended",
                self.state.config().run_grace.as_secs_f64()
            );
            self.send(ServerMessage::error(ErrorCode::NotFound, message, Some(id)))
                .await;
            return;
        };
        if let Err(oldest) = log.resume(self.outbound.clone(), last_seq) {
            let message = format!(
                "cannot resume run `{id}` after seq {last_seq}: the oldest event kept is {oldest} \
                 (a run keeps its newest {} KiB of events); resume with last_seq >= {}",
                super::resumable::RING_BYTES >> 10,
                oldest - 1
            );
            self.send(ServerMessage::error(
                ErrorCode::ResumeGap,
                message,
                Some(id),
            ))
            .await;
            return;
        }
        if !log.is_finished() && !self.runs.contains_key(&id) {
            self.track(id, log);
        }
    }

    async fn signal(&mut self, id: String, name: &str, principal: &Principal) {
        let Some(signal) = Signal::parse(name) else {
            let message = format!("unknown signal `{name}` (accepted: {SIGNALS})");
            self.send(ServerMessage::error(
                ErrorCode::BadRequest,
                message,
                Some(id),
            ))
            .await;
            return;
        };
        match self.runs.get(&id) {
            Some(controller) if controller.signal(signal) => {}
            Some(_) => self.send(not_found(id)).await,
            None => self.session_signal(id, signal, principal).await,
        }
    }

    async fn send_decode_error(&self, error: DecodeError) {
        self.send(ServerMessage::error(error.code(), error.to_string(), None))
            .await;
    }

    pub(crate) async fn send(&self, message: ServerMessage) {
        // Fails only when the writer is gone, and then the reader ends soon too.
        let _ = self.outbound.send(Outbound::from(message)).await;
    }

    async fn close(&self, code: u16, reason: &'static str) {
        let close = Outbound::Close { code, reason };
        let _ = self.outbound.send(close).await;
    }
}

impl Drop for Connection {
    /// Streamed runs go on without this socket, for the grace period.
    fn drop(&mut self) {
        for log in self.logs.values() {
            log.detach(&self.outbound);
        }
    }
}

/// Resolves once the server begins shutting down (never, if the sender is gone).
async fn shutting_down(shutdown: &mut watch::Receiver<bool>) {
    if shutdown.wait_for(|down| *down).await.is_err() {
        std::future::pending::<()>().await;
    }
}

/// The answer to stdin a run did not take: `not_found` when it has ended, `payload_too_large`
/// when what was sent before still waits for the program to read it.
pub(crate) fn stdin_refused(id: String, refused: StdinRefused) -> ServerMessage {
    match refused {
        StdinRefused::Closed => not_found(id),
        full @ StdinRefused::Full { .. } => ServerMessage::error(
            ErrorCode::PayloadTooLarge,
            format!("stdin for `{id}` not taken: {full}"),
            Some(id),
        ),
    }
}

pub(crate) fn not_found(id: String) -> ServerMessage {
    let message = format!("no run `{id}` in flight on this connection");
    ServerMessage::error(ErrorCode::NotFound, message, Some(id))
}

fn pong(t: Option<serde_json::Value>) -> ServerMessage {
    let server_time = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |since| since.as_secs_f64() * 1000.0);
    ServerMessage::Pong(PongMessage { t, server_time })
}
