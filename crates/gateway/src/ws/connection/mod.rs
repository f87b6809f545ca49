//! One WebSocket connection: the state of the socket (its key, its runs, its sessions),
//! authentication, decoding, and dispatch of each action to the part that serves it:
//! [`runs`] (one-shot runs) or [`sessions`] (session actions). Neither calls back into the
//! connection; both answer through the connection's [`Outbox`]. Its [`writer`] task is the
//! only one that writes to the socket.

mod replies;
mod runs;
mod sessions;
mod writer;

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::extract::ws::{Message, WebSocket};
use futures_util::StreamExt;
use runnel_engine::{SessionHandle, Signal};
use runnel_protocol::server::PongMessage;
use runnel_protocol::{decode_client_frame, ClientMessage, DecodeError, ErrorCode, ServerMessage};
use tokio::sync::watch;
use tokio::time::{sleep_until, Instant};
use tracing::Instrument;

use self::runs::Runs;
use self::sessions::Sessions;
use crate::auth::{authenticate, unauthorized, Credentials, Principal};
use crate::door::Ticket;
use crate::socket::close::{self, CLOSE_GOING_AWAY, CLOSE_POLICY};
use crate::state::AppState;
use crate::ws::outbound::Outbox;

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
pub(super) async fn serve_bound(
    socket: WebSocket,
    state: AppState,
    principal: Principal,
    session: SessionHandle,
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
    bound: Option<(Principal, SessionHandle)>,
) {
    let Credentials { key, ticket } = credentials;
    let _open = state.metrics().connection_opened();
    let span = tracing::debug_span!("ws", key_id = tracing::field::Empty);
    let (sink, mut stream) = socket.split();
    let (outbox, outbound) = Outbox::bounded();
    let (stop_writer, stop) = tokio::sync::oneshot::channel();
    let mut writer = tokio::spawn(writer::write_frames(sink, outbound, state.clone(), stop));
    let mut connection = Connection {
        runs: Runs::new(state.clone(), outbox.clone()),
        sessions: Sessions::new(state.clone(), outbox.clone()),
        state,
        outbox,
        principal: None,
        ticket,
    };
    if let Some((principal, session)) = bound {
        connection.principal = Some(principal);
        connection.sessions.bind(&session);
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

/// The reader's side of one socket: what it is authenticated as, and what it runs.
struct Connection {
    state: AppState,
    outbox: Outbox,
    principal: Option<Principal>,
    /// The connection's place at the front door, charged to the key it authenticates with.
    ticket: Option<Arc<Ticket>>,
    /// One-shot runs in flight, by run id.
    runs: Runs,
    /// Sessions this connection follows, and its session runs.
    sessions: Sessions,
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
                    let last_events = self.runs.finished();
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
                () = self.runs.reap() => {}
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
        self.dispatch(message, &principal).await;
        Flow::Continue
    }

    /// Serve one action of an authenticated socket.
    async fn dispatch(&mut self, message: ClientMessage, principal: &Principal) {
        match message {
            // Success needs no answer: the next message is served under the key.
            ClientMessage::Auth { .. } => {}
            ClientMessage::Execute(mut request) => {
                if request.session.is_none() {
                    request.session = self.sessions.bound().map(str::to_owned);
                }
                match request.session.take() {
                    Some(session) => self.sessions.execute(request, &session, principal).await,
                    None => self.runs.execute(request, principal).await,
                }
            }
            ClientMessage::Stdin {
                id,
                data,
                eof,
                stdin_seq,
            } => {
                if self.runs.has(&id) {
                    self.runs.stdin(id, data, eof, stdin_seq).await;
                } else {
                    let sessions = &mut self.sessions;
                    sessions.stdin(id, data, eof, stdin_seq, principal).await;
                }
            }
            ClientMessage::Signal { id, signal } => match Signal::parse(&signal) {
                None => {
                    let message = format!("unknown signal `{signal}` (accepted: {SIGNALS})");
                    let error = ServerMessage::error(ErrorCode::BadRequest, message, Some(id));
                    self.send(error).await;
                }
                Some(signal) if self.runs.has(&id) => self.runs.signal(id, signal).await,
                Some(signal) => self.sessions.signal(id, signal, principal).await,
            },
            ClientMessage::Ping { t } => {
                self.sessions.touch();
                self.send(pong(t)).await;
            }
            ClientMessage::CreateSession(request) => {
                self.sessions.create(request, principal).await;
            }
            ClientMessage::CloseSession { session } => {
                self.sessions.close(session, principal).await;
            }
            ClientMessage::RestartSession { session } => {
                self.sessions.restart(session, principal).await;
            }
            ClientMessage::Resume {
                session: Some(session),
                last_seq,
                ..
            } => self.sessions.resume(&session, last_seq, principal).await,
            ClientMessage::Resume {
                id: Some(id),
                last_seq,
                ..
            } => self.runs.resume(id, last_seq, principal).await,
            ClientMessage::Resume { .. } => {
                let error = crate::error::ApiError::bad_request(
                    "`resume` needs `session` (a session's events) or `id` (a streamed run's)",
                );
                self.send(error.to_message(None)).await;
            }
        }
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

    async fn send_decode_error(&self, error: DecodeError) {
        self.send(ServerMessage::error(error.code(), error.to_string(), None))
            .await;
    }

    async fn send(&self, message: ServerMessage) {
        self.outbox.send(message).await;
    }

    async fn close(&self, code: u16, reason: &'static str) {
        self.outbox.close(code, reason).await;
    }
}

/// Resolves once the server begins shutting down (never, if the sender is gone).
async fn shutting_down(shutdown: &mut watch::Receiver<bool>) {
    if shutdown.wait_for(|down| *down).await.is_err() {
        std::future::pending::<()>().await;
    }
}

fn pong(t: Option<serde_json::Value>) -> ServerMessage {
    let server_time = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |since| since.as_secs_f64() * 1000.0);
    ServerMessage::Pong(PongMessage { t, server_time })
}
