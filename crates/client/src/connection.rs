//! [`Client`]: one WebSocket, a reader task that routes server frames by run id, and sends
//! made directly from the caller's task (no hop through a writer task on the hot path).
//!
//! Reconnecting with `resume` is not done yet; the pieces it needs are here: every [`Run`]
//! keeps the last `seq` it saw, and the routing table outlives a single socket's reader.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use runnel_protocol::{ClientMessage, ErrorCode, ExecuteRequest, ResultMessage, ServerMessage};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::{HeaderValue, StatusCode};
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::endpoint::normalize_url;
use crate::error::ClientError;
use crate::run::Run;
use crate::{routing, routing::Route};

type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// How long [`Client::ping`] waits for its `pong`.
pub const PING_TIMEOUT: Duration = Duration::from_secs(10);

/// A connection to a Runnel server (protocol v1). Cheap to clone; clones share the socket.
#[derive(Clone)]
pub struct Client {
    shared: Arc<Shared>,
}

struct Shared {
    url: String,
    sink: tokio::sync::Mutex<SplitSink<Socket, Message>>,
    state: Arc<Mutex<State>>,
    next_id: AtomicU64,
    reader: JoinHandle<()>,
}

impl Drop for Shared {
    fn drop(&mut self) {
        self.reader.abort();
    }
}

/// Why the connection ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Closed {
    /// Closed by either side or lost.
    Closed,
    /// The server refused the key.
    Unauthorized,
}

/// The routing table, shared with the reader task.
#[derive(Default)]
pub(crate) struct State {
    /// Event senders of the runs in flight, by run id.
    runs: HashMap<String, mpsc::UnboundedSender<ServerMessage>>,
    /// `ping`s awaiting their `pong`, by the `t` they carried.
    pings: HashMap<u64, oneshot::Sender<()>>,
    closed: Option<Closed>,
}

impl Client {
    /// Connects and authenticates with `Authorization: Bearer`. `url` is like
    /// `ws://127.0.0.1:8080` or `ws://host:port/ws` (`/ws` is appended when there is no path).
    pub async fn connect(url: &str, api_key: &str) -> Result<Client, ClientError> {
        let url = normalize_url(url)?;
        let connect_error = |source: tungstenite::Error| match &source {
            tungstenite::Error::Http(response) if response.status() == StatusCode::UNAUTHORIZED => {
                ClientError::Unauthorized { url: url.clone() }
            }
            _ => ClientError::Connect {
                url: url.clone(),
                source: Box::new(source),
            },
        };
        let mut request = url.as_str().into_client_request().map_err(connect_error)?;
        let bearer = HeaderValue::from_str(&format!("Bearer {api_key}")).map_err(|_| {
            ClientError::InvalidUrl {
                url: url.clone(),
                reason: "the api key is not a valid header value".to_owned(),
            }
        })?;
        request.headers_mut().insert("authorization", bearer);
        // TCP_NODELAY: without it, Nagle's algorithm and delayed ACKs add up to 40 ms per
        // small frame (see notes/baselines.md).
        let (socket, _response) = tokio_tungstenite::connect_async_with_config(request, None, true)
            .await
            .map_err(connect_error)?;
        let (sink, stream) = socket.split();
        let state = Arc::new(Mutex::new(State::default()));
        let reader = tokio::spawn(read_loop(stream, Arc::clone(&state), url.clone()));
        tracing::debug!(url = %url, "connected");
        Ok(Client {
            shared: Arc::new(Shared {
                url,
                sink: tokio::sync::Mutex::new(sink),
                state,
                next_id: AtomicU64::new(1),
                reader,
            }),
        })
    }

    /// The normalised URL this client is connected to.
    pub fn url(&self) -> &str {
        &self.shared.url
    }

    /// Starts a streamed run (`stream` is forced on; an id is made when absent). Its events
    /// are `started`, `stdout`, `stderr`, `input_request`, then `exit` or `error`.
    pub async fn execute(&self, mut request: ExecuteRequest) -> Result<Run, ClientError> {
        request.stream = true;
        let id = self.assign_id(&mut request);
        let events = self.register(&id)?;
        if let Err(error) = self.send(&ClientMessage::Execute(request)).await {
            self.unregister(&id);
            return Err(error);
        }
        Ok(Run::new(id, self.clone(), events))
    }

    /// A one-shot run with `stream: false`: waits for its `result` message.
    pub async fn run(&self, mut request: ExecuteRequest) -> Result<ResultMessage, ClientError> {
        request.stream = false;
        let id = self.assign_id(&mut request);
        let mut events = self.register(&id)?;
        // Drops the route however this ends, including when the caller gives up waiting.
        let _route = RouteGuard {
            client: self,
            id: &id,
        };
        self.send(&ClientMessage::Execute(request)).await?;
        match events.recv().await {
            Some(ServerMessage::Result(result)) => Ok(result),
            Some(ServerMessage::Error(error)) => Err(self.server_error(error)),
            Some(other) => Err(ClientError::Unexpected {
                id: id.clone(),
                expected: "result",
                got: other.kind().to_owned(),
            }),
            None => Err(self.closed_error()),
        }
    }

    /// One `ping` round trip, timed from just before the send to the `pong`'s arrival.
    pub async fn ping(&self) -> Result<Duration, ClientError> {
        let t = self.shared.next_id.fetch_add(1, Ordering::Relaxed);
        let (sender, receiver) = oneshot::channel();
        {
            let mut state = self.state();
            if state.closed.is_some() {
                drop(state);
                return Err(self.closed_error());
            }
            state.pings.insert(t, sender);
        }
        let start = Instant::now();
        let message = ClientMessage::Ping {
            t: Some(serde_json::Value::from(t)),
        };
        if let Err(error) = self.send(&message).await {
            self.state().pings.remove(&t);
            return Err(error);
        }
        match tokio::time::timeout(PING_TIMEOUT, receiver).await {
            Ok(Ok(())) => Ok(start.elapsed()),
            Ok(Err(_)) => Err(self.closed_error()),
            Err(_) => {
                self.state().pings.remove(&t);
                Err(ClientError::Timeout {
                    what: format!("ping to {}", self.shared.url),
                    after: PING_TIMEOUT,
                })
            }
        }
    }

    /// Closes the connection (a close frame, then the socket). Runs in flight get an
    /// `unavailable` error event.
    pub async fn close(&self) {
        let mut sink = self.shared.sink.lock().await;
        // Errors here mean the socket is already gone, which is what was asked for.
        let _ = sink.send(Message::Close(None)).await;
        let _ = sink.close().await;
        self.state().closed.get_or_insert(Closed::Closed);
    }

    /// Sends one frame.
    pub(crate) async fn send(&self, message: &ClientMessage) -> Result<(), ClientError> {
        if self.state().closed.is_some() {
            return Err(self.closed_error());
        }
        // Serializing these plain structs cannot fail (string keys, no custom serializers).
        let text = serde_json::to_string(message).unwrap_or_default();
        let mut sink = self.shared.sink.lock().await;
        sink.send(Message::text(text))
            .await
            .map_err(|source| ClientError::Send {
                url: self.shared.url.clone(),
                source: Box::new(source),
            })
    }

    /// Drops a run's route (when its [`Run`] is dropped before the end).
    pub(crate) fn unregister(&self, id: &str) {
        self.state().runs.remove(id);
    }

    /// The error for a protocol `error` message.
    pub(crate) fn server_error(&self, error: runnel_protocol::ErrorMessage) -> ClientError {
        if error.code == ErrorCode::Unauthorized {
            return ClientError::Unauthorized {
                url: self.shared.url.clone(),
            };
        }
        ClientError::Server {
            code: error.code,
            message: error.message,
            id: error.id,
        }
    }

    /// The error for a closed connection, saying why it closed.
    pub(crate) fn closed_error(&self) -> ClientError {
        let url = self.shared.url.clone();
        match self.state().closed {
            Some(Closed::Unauthorized) => ClientError::Unauthorized { url },
            _ => ClientError::Closed { url },
        }
    }

    fn assign_id(&self, request: &mut ExecuteRequest) -> String {
        request
            .id
            .get_or_insert_with(|| {
                format!("r{}", self.shared.next_id.fetch_add(1, Ordering::Relaxed))
            })
            .clone()
    }

    fn register(&self, id: &str) -> Result<mpsc::UnboundedReceiver<ServerMessage>, ClientError> {
        let mut state = self.state();
        if state.closed.is_some() {
            drop(state);
            return Err(self.closed_error());
        }
        if state.runs.contains_key(id) {
            return Err(ClientError::DuplicateRunId { id: id.to_owned() });
        }
        let (sender, receiver) = mpsc::unbounded_channel();
        state.runs.insert(id.to_owned(), sender);
        Ok(receiver)
    }

    fn state(&self) -> MutexGuard<'_, State> {
        lock(&self.shared.state)
    }
}

impl std::fmt::Debug for Client {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("Client")
            .field("url", &self.shared.url)
            .finish_non_exhaustive()
    }
}

/// Removes a run's route when dropped.
struct RouteGuard<'a> {
    client: &'a Client,
    id: &'a str,
}

impl Drop for RouteGuard<'_> {
    fn drop(&mut self) {
        self.client.unregister(self.id);
    }
}

/// The routing table's lock. Nothing panics while holding it, and the table stays consistent
/// if something did, so a poisoned lock is still used.
fn lock(state: &Mutex<State>) -> MutexGuard<'_, State> {
    state
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Reads frames until the socket ends, routing each to its run or ping.
async fn read_loop(mut stream: SplitStream<Socket>, state: Arc<Mutex<State>>, url: String) {
    while let Some(frame) = stream.next().await {
        let text = match frame {
            Ok(Message::Text(text)) => text,
            Ok(Message::Close(_)) => break,
            Ok(_) => continue,
            Err(error) => {
                tracing::debug!(url = %url, error = %error, "websocket read failed");
                break;
            }
        };
        let message: ServerMessage = match serde_json::from_str(text.as_str()) {
            Ok(message) => message,
            Err(error) => {
                tracing::warn!(url = %url, error = %error, "undecodable server frame");
                continue;
            }
        };
        dispatch(&mut lock(&state), message, &url);
    }
    let mut state = lock(&state);
    state.closed.get_or_insert(Closed::Closed);
    let code = match state.closed {
        Some(Closed::Unauthorized) => ErrorCode::Unauthorized,
        _ => ErrorCode::Unavailable,
    };
    for (id, sender) in state.runs.drain() {
        let _ = sender.send(ServerMessage::error(
            code,
            format!("connection to {url} closed before the run ended"),
            Some(id),
        ));
    }
    state.pings.clear();
    tracing::debug!(url = %url, "connection closed");
}

/// Routes one server message. Terminal events remove the run's route.
fn dispatch(state: &mut State, message: ServerMessage, url: &str) {
    match routing::route(&message) {
        Route::Run { id, terminal } => {
            let delivered = match state.runs.get(id) {
                Some(sender) => {
                    let id = id.to_owned();
                    let delivered = sender.send(message).is_ok();
                    if terminal || !delivered {
                        state.runs.remove(&id);
                    }
                    delivered
                }
                None => false,
            };
            if !delivered {
                tracing::trace!(url = %url, "event for a run no longer followed");
            }
        }
        Route::Pong(t) => {
            if let Some(sender) = t.and_then(|t| state.pings.remove(&t)) {
                let _ = sender.send(());
            }
        }
        Route::Connection => {
            if let ServerMessage::Error(error) = &message {
                if error.code == ErrorCode::Unauthorized {
                    state.closed = Some(Closed::Unauthorized);
                }
                tracing::warn!(url = %url, code = error.code.as_str(), message = %error.message, "server error");
            }
        }
    }
}
