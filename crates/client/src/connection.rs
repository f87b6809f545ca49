//! [`Client`]: one logical connection to a Runnel server. Sends go straight from the caller's
//! task (no hop through a writer task on the hot path); a supervisor task ([`link`]) reads
//! frames, routes them by run id, keeps a heartbeat, and reconnects and resumes when the socket
//! is lost.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, MutexGuard};
use std::time::{Duration, Instant};

use futures_util::SinkExt;
use runnel_protocol::{ClientMessage, ErrorCode, ExecuteRequest, ResultMessage, ServerMessage};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::Message;

use crate::endpoint::normalize_url;
use crate::error::ClientError;
use crate::link::{self, Closed, ConnectionState, Inner, RunRoute, State};
use crate::options::ClientOptions;

/// How long [`Client::ping`] waits for its `pong`.
pub const PING_TIMEOUT: Duration = Duration::from_secs(10);

/// A connection to a Runnel server (protocol v1). Cheap to clone; clones share the socket.
#[derive(Clone)]
pub struct Client {
    shared: Arc<Shared>,
}

struct Shared {
    inner: Arc<Inner>,
    next_id: AtomicU64,
    /// A random prefix for run ids: a reconnecting client resumes runs by id, so ids must not
    /// collide with other clients of the same key.
    id_prefix: String,
    supervisor: JoinHandle<()>,
}

impl Drop for Shared {
    fn drop(&mut self) {
        self.supervisor.abort();
    }
}

impl Client {
    /// Connects and authenticates with `Authorization: Bearer`, with the default options
    /// (reconnect and resume, heartbeat). `url` is like `ws://127.0.0.1:8080` or
    /// `ws://host:port/ws` (`/ws` is appended when there is no path).
    pub async fn connect(url: &str, api_key: &str) -> Result<Client, ClientError> {
        Client::connect_with(url, api_key, ClientOptions::DEFAULT).await
    }

    /// Connects with `options`.
    pub async fn connect_with(
        url: &str,
        api_key: &str,
        options: ClientOptions,
    ) -> Result<Client, ClientError> {
        let url = normalize_url(url)?;
        let (sink, stream) = link::open_socket(&url, api_key).await?;
        let inner = Arc::new(Inner::new(url.clone(), api_key.to_owned(), options, sink));
        let supervisor = tokio::spawn(link::supervise(Arc::clone(&inner), stream));
        tracing::debug!(url = %url, "connected");
        Ok(Client {
            shared: Arc::new(Shared {
                inner,
                next_id: AtomicU64::new(1),
                id_prefix: format!("r{:012x}", rand::random::<u64>() >> 16),
                supervisor,
            }),
        })
    }

    /// Where the connection is now.
    pub fn connection_state(&self) -> ConnectionState {
        *self.shared.inner.link.borrow()
    }

    /// Follows the connection's state (`Connected`, `Reconnecting`, `Closed`) as it changes.
    pub fn watch_connection(&self) -> watch::Receiver<ConnectionState> {
        self.shared.inner.link.subscribe()
    }

    /// How many times the client has reconnected.
    pub fn reconnects(&self) -> u64 {
        self.state().reconnects
    }

    /// The normalised URL this client is connected to.
    pub fn url(&self) -> &str {
        &self.shared.inner.url
    }

    /// A one-shot run with `stream: false`: waits for its `result` message. Such a run ends
    /// with its socket (an `unavailable` error if the connection is lost).
    pub async fn run(&self, mut request: ExecuteRequest) -> Result<ResultMessage, ClientError> {
        request.stream = false;
        let id = self.assign_id(&mut request);
        let mut events = self.register(&id, None)?;
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
                    what: format!("ping to {}", self.shared.inner.url),
                    after: PING_TIMEOUT,
                })
            }
        }
    }

    /// Closes the connection (a close frame, then the socket); no reconnect follows. Runs in
    /// flight get an `unavailable` error event.
    pub async fn close(&self) {
        self.state().closed.get_or_insert(Closed::Ended);
        self.shared.inner.stop.notify_one();
        let mut sink = self.shared.inner.sink.lock().await;
        if let Some(sink) = sink.as_mut() {
            // Errors here mean the socket is already gone, which is what was asked for.
            let _ = sink.send(Message::Close(None)).await;
            let _ = sink.close().await;
        }
    }

    /// Sends one frame; while reconnecting, waits for the new socket.
    pub(crate) async fn send(&self, message: &ClientMessage) -> Result<(), ClientError> {
        let text = link::to_json(message);
        let mut link = self.shared.inner.link.subscribe();
        loop {
            if self.state().closed.is_some() {
                return Err(self.closed_error());
            }
            {
                let mut sink = self.shared.inner.sink.lock().await;
                if let Some(sink) = sink.as_mut() {
                    match sink.send(Message::text(text.clone())).await {
                        Ok(()) => return Ok(()),
                        Err(source) if self.shared.inner.options.reconnect.is_none() => {
                            return Err(ClientError::Send {
                                url: self.shared.inner.url.clone(),
                                source: Box::new(source),
                            });
                        }
                        // The supervisor notices the loss and reconnects: wait for it.
                        Err(_) => {}
                    }
                }
            }
            if link.changed().await.is_err() {
                return Err(self.closed_error());
            }
        }
    }

    /// Sends a frame that the resume machinery re-sends if it is lost (an execute, or stdin
    /// kept in its run's queue): while reconnecting, or if the socket fails, there is nothing
    /// more to do now.
    pub(crate) async fn send_recoverable(
        &self,
        message: &ClientMessage,
    ) -> Result<(), ClientError> {
        if self.shared.inner.options.reconnect.is_none() {
            return self.send(message).await;
        }
        if self.state().closed.is_some() {
            return Err(self.closed_error());
        }
        let mut sink = self.shared.inner.sink.lock().await;
        if let Some(sink) = sink.as_mut() {
            let _ = sink.send(Message::text(link::to_json(message))).await;
        }
        Ok(())
    }

    /// Writes to run `id`'s stdin, numbered so that a re-send after a reconnect applies once.
    pub(crate) async fn write_stdin(
        &self,
        id: &str,
        data: &str,
        eof: bool,
    ) -> Result<(), ClientError> {
        let message = {
            let mut state = self.state();
            match state.runs.get_mut(id) {
                Some(route) => route.stdin(id, data, eof),
                None => ClientMessage::Stdin {
                    id: id.to_owned(),
                    data: data.to_owned(),
                    eof,
                    stdin_seq: None,
                },
            }
        };
        self.send_recoverable(&message).await
    }

    /// Drops a run's route (when its [`Run`] is dropped before the end).
    pub(crate) fn unregister(&self, id: &str) {
        self.state().runs.remove(id);
    }

    /// The error for a protocol `error` message.
    pub(crate) fn server_error(&self, error: runnel_protocol::ErrorMessage) -> ClientError {
        if error.code == ErrorCode::Unauthorized {
            return ClientError::Unauthorized {
                url: self.shared.inner.url.clone(),
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
        let url = self.shared.inner.url.clone();
        match self.state().closed {
            Some(Closed::Unauthorized) => ClientError::Unauthorized { url },
            Some(Closed::GaveUp { attempts }) => ClientError::GaveUp { url, attempts },
            _ => ClientError::Closed { url },
        }
    }

    pub(crate) fn assign_id(&self, request: &mut ExecuteRequest) -> String {
        request
            .id
            .get_or_insert_with(|| {
                let number = self.shared.next_id.fetch_add(1, Ordering::Relaxed);
                format!("{}-{number}", self.shared.id_prefix)
            })
            .clone()
    }

    pub(crate) fn register(
        &self,
        id: &str,
        request: Option<ExecuteRequest>,
    ) -> Result<mpsc::UnboundedReceiver<ServerMessage>, ClientError> {
        let mut state = self.state();
        if state.closed.is_some() {
            drop(state);
            return Err(self.closed_error());
        }
        if state.runs.contains_key(id) {
            return Err(ClientError::DuplicateRunId { id: id.to_owned() });
        }
        let (sender, receiver) = mpsc::unbounded_channel();
        state
            .runs
            .insert(id.to_owned(), RunRoute::new(sender, request));
        Ok(receiver)
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.shared.inner.state()
    }
}

impl std::fmt::Debug for Client {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("Client")
            .field("url", &self.shared.inner.url)
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
