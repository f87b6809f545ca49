//! `GET /stream/session/:id/pty?app=:service`: a terminal in the session's sandbox over a
//! WebSocket, in the seed's protocol word for word. Client: `stdin` (base64 `chars`),
//! `resize` (`rows`, `cols`), `ping`, `restart`. Server: `out` (base64 `data`), `error`
//! (`data`, a message). Output is xterm-compatible (`TERM=xterm-256color`).

use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, Query, State};
use axum::response::Response;
use base64::Engine as _;
use futures_util::{SinkExt, StreamExt};
use runnel_engine::{PtyProcess, SessionHandle};
use runnel_protocol::session::{PtyClientMessage, PtyServerMessage};
use serde::Deserialize;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::auth::Authenticated;
use crate::door::Place;
use crate::error::ApiError;
use crate::revocation::Revoked;
use crate::socket::close::{self, CLOSE_GOING_AWAY, CLOSE_POLICY};
use crate::state::AppState;

/// Terminal size until the client says otherwise.
const DEFAULT_ROWS: u16 = 24;
const DEFAULT_COLS: u16 = 80;
/// One read from the terminal.
const READ_BYTES: usize = 16 * 1024;

#[derive(Debug, Deserialize)]
pub(crate) struct PtyQuery {
    app: Option<String>,
}

/// Upgrade after checking the key, the session and the service.
pub(crate) async fn handler(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Query(query): Query<PtyQuery>,
    Place(ticket): Place,
    upgrade: WebSocketUpgrade,
    Authenticated(principal): Authenticated,
) -> Result<Response, ApiError> {
    let session = super::lookup(&state, &principal, &id)?;
    let service = query.app.unwrap_or_else(|| "shell".to_owned());
    if !session.services().contains(&service) {
        return Err(ApiError::new(
            runnel_protocol::ErrorCode::NotFound,
            format!(
                "no service `{service}` in session `{id}` (services: {})",
                session.services().join(", ")
            ),
        ));
    }
    let revoked = state.revocations().subscribe();
    let shutdown = state.shutdown_signal();
    // The terminal's socket holds the connection's place at the door while it is open.
    Ok(
        crate::socket::configure(upgrade, &state).on_upgrade(move |socket| async move {
            let _ticket = ticket;
            let _open = state.metrics().connection_opened();
            serve(
                socket,
                session,
                service,
                (revoked, principal.key_id),
                shutdown,
            )
            .await;
        }),
    )
}

async fn serve(
    socket: WebSocket,
    session: SessionHandle,
    service: String,
    (mut revoked, key_id): (Revoked, String),
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) {
    let (mut sink, mut stream) = socket.split();
    let mut size = (DEFAULT_ROWS, DEFAULT_COLS);
    let mut terminal = match session.open_pty(&service, size.0, size.1).await {
        Ok(terminal) => Some(terminal),
        Err(error) => {
            let _ = send(
                &mut sink,
                error_message(&format!(
                    "cannot start `{service}`: {}",
                    ApiError::from(error).message
                )),
            )
            .await;
            None
        }
    };
    let mut buffer = vec![0u8; READ_BYTES];
    loop {
        let read = async {
            match terminal.as_mut() {
                Some(terminal) => terminal.master.read(&mut buffer).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            true = async { shutdown.wait_for(|stopping| *stopping).await.is_ok() } => {
                let _ = send(&mut sink, error_message("the server is shutting down; reconnect later")).await;
                close::send(&mut sink, CLOSE_GOING_AWAY, "shutting down").await;
                close::await_reply(&mut stream).await;
                return;
            }
            () = revoked.of(Some(&key_id)) => {
                let _ = send(&mut sink, error_message("this socket's API key was revoked")).await;
                close::send(&mut sink, CLOSE_POLICY, "key revoked").await;
                close::await_reply(&mut stream).await;
                return;
            }
            read = read => match read {
                Ok(0) | Err(_) => {
                    let status = match terminal.take() {
                        Some(mut ended) => wait_quietly(&mut ended).await,
                        None => -1,
                    };
                    let message = format!("`{service}` exited with status {status}; send `restart` for a new one");
                    if send(&mut sink, error_message(&message)).await.is_err() {
                        return;
                    }
                }
                Ok(count) => {
                    let data = base64::engine::general_purpose::STANDARD.encode(&buffer[..count]);
                    if send(&mut sink, PtyServerMessage::Out { data }).await.is_err() {
                        return;
                    }
                }
            },
            frame = stream.next() => {
                let text = match frame {
                    Some(Ok(Message::Text(text))) => text,
                    Some(Ok(Message::Close(_))) => {
                        // Answer it (tungstenite queued the echo of the client's code).
                        close::send(&mut sink, close::CLOSE_NORMAL, "").await;
                        return;
                    }
                    Some(Err(error)) => {
                        if let Some((code, reason)) = close::code_for_read_error(&error) {
                            close::send(&mut sink, code, reason).await;
                            close::await_reply(&mut stream).await;
                        }
                        return;
                    }
                    None => return,
                    Some(Ok(_)) => continue,
                };
                session.touch();
                let message = match serde_json::from_str::<PtyClientMessage>(text.as_str()) {
                    Ok(message) => message,
                    Err(error) => {
                        let problem = format!("bad message: {error} (expected `stdin`, `resize`, `ping` or `restart`)");
                        if send(&mut sink, error_message(&problem)).await.is_err() {
                            return;
                        }
                        continue;
                    }
                };
                let problem = match message {
                    PtyClientMessage::Stdin { chars } => {
                        match base64::engine::general_purpose::STANDARD.decode(chars.as_bytes()) {
                            Ok(bytes) => match terminal.as_mut() {
                                Some(terminal) => terminal.master.write_all(&bytes).await.err().map(|error| format!("write to the terminal: {error}")),
                                None => Some("no program is running: send `restart`".to_owned()),
                            },
                            Err(error) => Some(format!("`chars` is not base64: {error}")),
                        }
                    }
                    PtyClientMessage::Resize { rows, cols } => {
                        size = (rows.max(1), cols.max(1));
                        terminal.as_ref().and_then(|terminal| terminal.master.resize(size.0, size.1).err().map(|error| format!("resize: {error}")))
                    }
                    PtyClientMessage::Ping => None,
                    PtyClientMessage::Restart => {
                        drop(terminal.take());
                        match session.open_pty(&service, size.0, size.1).await {
                            Ok(fresh) => {
                                terminal = Some(fresh);
                                None
                            }
                            Err(error) => Some(format!("cannot start `{service}`: {}", ApiError::from(error).message)),
                        }
                    }
                };
                if let Some(problem) = problem {
                    if send(&mut sink, error_message(&problem)).await.is_err() {
                        return;
                    }
                }
            }
        }
    }
}

async fn wait_quietly(terminal: &mut PtyProcess) -> i32 {
    tokio::time::timeout(std::time::Duration::from_secs(2), terminal.wait())
        .await
        .unwrap_or(-1)
}

fn error_message(message: &str) -> PtyServerMessage {
    PtyServerMessage::Error {
        data: message.to_owned(),
    }
}

async fn send(
    sink: &mut futures_util::stream::SplitSink<WebSocket, Message>,
    message: PtyServerMessage,
) -> Result<(), axum::Error> {
    let text = serde_json::to_string(&message).unwrap_or_default();
    sink.send(Message::Text(text.into())).await
}
