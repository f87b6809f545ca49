//! The life of a [`Client`](crate::Client)'s connection, in one supervisor task: read frames
//! and route them to runs and pings, keep a heartbeat, and when the socket is lost, reconnect
//! with backoff and resume every streamed run in flight from the last `seq` it delivered.
//!
//! Exactly-once delivery rests on three things: events at or below a run's last delivered
//! `seq` are dropped; stdin writes carry `stdin_seq` and stay queued until a `resumed` reply
//! says the server applied them; an execute the server never saw (its `resume` answers
//! `not_found` before any event arrived) is sent again, followed by its queued stdin.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Instant;

use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use runnel_protocol::{ClientMessage, ErrorCode, ExecuteRequest, ServerMessage};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot, watch, Notify};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::{HeaderValue, StatusCode};
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::error::ClientError;
use crate::options::ClientOptions;
use crate::routing::{self, Route};

pub(crate) type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;
pub(crate) type Sink = SplitSink<Socket, Message>;
pub(crate) type Stream = SplitStream<Socket>;

/// Where the connection is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConnectionState {
    /// Open and authenticated.
    Connected,
    /// Lost; attempt `attempt` to come back is under way (runs in flight wait).
    Reconnecting {
        /// 1 for the first attempt.
        attempt: u32,
    },
    /// Closed for good (by [`Client::close`](crate::Client::close), a refused key, or after
    /// the last reconnection attempt failed).
    Closed,
}

/// Why the connection ended for good.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Closed {
    /// Closed by the caller, or lost with reconnection off.
    Ended,
    /// The server refused the key.
    Unauthorized,
    /// Every reconnection attempt failed.
    GaveUp {
        /// How many were made.
        attempts: u32,
    },
}

/// What the client and its supervisor share.
pub(crate) struct Inner {
    pub(crate) url: String,
    api_key: String,
    pub(crate) options: ClientOptions,
    /// `None` while reconnecting.
    pub(crate) sink: tokio::sync::Mutex<Option<Sink>>,
    pub(crate) state: Mutex<State>,
    pub(crate) link: watch::Sender<ConnectionState>,
    /// Tells the supervisor to stop (the caller closed the client).
    pub(crate) stop: Notify,
}

/// The routing table and the connection's bookkeeping.
pub(crate) struct State {
    pub(crate) runs: HashMap<String, RunRoute>,
    /// `ping`s awaiting their `pong`, by the `t` they carried.
    pub(crate) pings: HashMap<u64, oneshot::Sender<()>>,
    pub(crate) closed: Option<Closed>,
    /// Reconnections that succeeded.
    pub(crate) reconnects: u64,
    /// When the last frame arrived (for the heartbeat).
    last_frame: Instant,
}

/// One run in flight.
pub(crate) struct RunRoute {
    pub(crate) sender: mpsc::UnboundedSender<ServerMessage>,
    /// Whether a reconnect resumes it (streamed runs); others end with the socket.
    pub(crate) resumable: bool,
    /// The execute, until the first event shows the server has it.
    pub(crate) request: Option<ExecuteRequest>,
    /// The last `seq` delivered.
    last_seq: u64,
    /// The last `stdin_seq` given out.
    next_stdin: u64,
    /// Stdin writes not yet known to be applied.
    unacked: VecDeque<StdinWrite>,
    /// A `resume` was sent and not answered yet.
    resuming: bool,
}

#[derive(Clone)]
struct StdinWrite {
    number: u64,
    data: String,
    eof: bool,
}

impl RunRoute {
    pub(crate) fn new(
        sender: mpsc::UnboundedSender<ServerMessage>,
        request: Option<ExecuteRequest>,
    ) -> RunRoute {
        RunRoute {
            sender,
            resumable: request.is_some(),
            request,
            last_seq: 0,
            next_stdin: 0,
            unacked: VecDeque::new(),
            resuming: false,
        }
    }

    /// Number a stdin write and keep it until it is known to be applied; the frame to send.
    pub(crate) fn stdin(&mut self, id: &str, data: &str, eof: bool) -> ClientMessage {
        self.next_stdin += 1;
        let write = StdinWrite {
            number: self.next_stdin,
            data: data.to_owned(),
            eof,
        };
        let message = stdin_message(id, &write);
        if self.resumable {
            self.unacked.push_back(write);
        }
        message
    }
}

fn stdin_message(id: &str, write: &StdinWrite) -> ClientMessage {
    ClientMessage::Stdin {
        id: id.to_owned(),
        data: write.data.clone(),
        eof: write.eof,
        stdin_seq: Some(write.number),
    }
}

impl Inner {
    pub(crate) fn new(url: String, api_key: String, options: ClientOptions, sink: Sink) -> Inner {
        Inner {
            url,
            api_key,
            options,
            sink: tokio::sync::Mutex::new(Some(sink)),
            state: Mutex::new(State {
                runs: HashMap::new(),
                pings: HashMap::new(),
                closed: None,
                reconnects: 0,
                last_frame: Instant::now(),
            }),
            link: watch::Sender::new(ConnectionState::Connected),
            stop: Notify::new(),
        }
    }

    pub(crate) fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Send frames on the current socket; false if there is none or it failed.
    async fn send_all(&self, messages: &[ClientMessage]) -> bool {
        let mut sink = self.sink.lock().await;
        let Some(sink) = sink.as_mut() else {
            return false;
        };
        for message in messages {
            if sink.send(Message::text(to_json(message))).await.is_err() {
                return false;
            }
        }
        true
    }
}

/// Serializing these plain structs cannot fail (string keys, no custom serializers).
pub(crate) fn to_json(message: &ClientMessage) -> String {
    serde_json::to_string(message).unwrap_or_default()
}

/// Open and authenticate one socket (`Authorization: Bearer`, TCP_NODELAY), split.
pub(crate) async fn open_socket(url: &str, api_key: &str) -> Result<(Sink, Stream), ClientError> {
    Ok(open(url, api_key).await?.split())
}

/// Open and authenticate one socket (`Authorization: Bearer`, TCP_NODELAY).
pub(crate) async fn open(url: &str, api_key: &str) -> Result<Socket, ClientError> {
    let connect_error = |source: tungstenite::Error| match &source {
        tungstenite::Error::Http(response) if response.status() == StatusCode::UNAUTHORIZED => {
            ClientError::Unauthorized {
                url: url.to_owned(),
            }
        }
        _ => ClientError::Connect {
            url: url.to_owned(),
            source: Box::new(source),
        },
    };
    let mut request = url.into_client_request().map_err(connect_error)?;
    let bearer = HeaderValue::from_str(&format!("Bearer {api_key}")).map_err(|_| {
        ClientError::InvalidUrl {
            url: url.to_owned(),
            reason: "the api key is not a valid header value".to_owned(),
        }
    })?;
    request.headers_mut().insert("authorization", bearer);
    // TCP_NODELAY: without it, Nagle's algorithm and delayed ACKs add up to 40 ms per small
    // frame (see notes/baselines.md).
    let (socket, _response) = tokio_tungstenite::connect_async_with_config(request, None, true)
        .await
        .map_err(connect_error)?;
    Ok(socket)
}

/// How one socket's reading ended.
#[derive(Debug, PartialEq, Eq)]
enum Ended {
    /// The caller closed the client.
    Stopped,
    /// The socket closed, failed or went silent.
    Lost,
}

/// The supervisor: read, and reconnect when the socket is lost, until closed for good.
pub(crate) async fn supervise(inner: Arc<Inner>, mut stream: Stream) {
    loop {
        let ended = read_until_lost(&inner, &mut stream).await;
        let closed = inner.state().closed.is_some();
        if ended == Ended::Stopped || closed || inner.options.reconnect.is_none() {
            break;
        }
        tracing::debug!(url = %inner.url, "connection lost; reconnecting");
        match reconnect(&inner).await {
            Some(next) => stream = next,
            None => break,
        }
    }
    finish(&inner);
}

async fn read_until_lost(inner: &Inner, stream: &mut Stream) -> Ended {
    let mut heartbeat = inner.options.heartbeat.map(|heartbeat| {
        let first = tokio::time::Instant::now() + heartbeat.interval;
        (
            tokio::time::interval_at(first, heartbeat.interval),
            heartbeat,
        )
    });
    let mut next_ping = u64::MAX / 2;
    loop {
        tokio::select! {
            frame = stream.next() => {
                let text = match frame {
                    Some(Ok(Message::Text(text))) => text,
                    Some(Ok(Message::Close(_)) | Err(_)) | None => return Ended::Lost,
                    Some(Ok(_)) => {
                        inner.state().last_frame = Instant::now();
                        continue;
                    }
                };
                let message: ServerMessage = match serde_json::from_str(text.as_str()) {
                    Ok(message) => message,
                    Err(error) => {
                        tracing::warn!(url = %inner.url, %error, "undecodable server frame");
                        continue;
                    }
                };
                let replies = {
                    let mut state = inner.state();
                    state.last_frame = Instant::now();
                    dispatch(&mut state, message, &inner.url)
                };
                if !replies.is_empty() && !inner.send_all(&replies).await {
                    return Ended::Lost;
                }
            }
            () = tick(&mut heartbeat) => {
                let Some((_, settings)) = &heartbeat else { continue };
                if inner.state().last_frame.elapsed() > settings.timeout {
                    tracing::debug!(url = %inner.url, "no frame within the heartbeat timeout");
                    return Ended::Lost;
                }
                next_ping += 1;
                let ping = ClientMessage::Ping { t: Some(serde_json::Value::from(next_ping)) };
                let sent = tokio::time::timeout(settings.timeout, inner.send_all(&[ping])).await;
                if !matches!(sent, Ok(true)) {
                    return Ended::Lost;
                }
            }
            () = inner.stop.notified() => return Ended::Stopped,
        }
    }
}

async fn tick(heartbeat: &mut Option<(tokio::time::Interval, crate::options::Heartbeat)>) {
    match heartbeat {
        Some((interval, _)) => {
            interval.tick().await;
        }
        None => std::future::pending().await,
    }
}

/// Come back with backoff; resume the runs in flight before anything else is sent. `None`
/// when giving up (or told to stop).
async fn reconnect(inner: &Inner) -> Option<Stream> {
    let backoff = inner.options.reconnect?;
    *inner.sink.lock().await = None;
    fail_unresumable(inner);
    for attempt in 1..=backoff.max_retries {
        inner
            .link
            .send_replace(ConnectionState::Reconnecting { attempt });
        let delay = backoff.delay(attempt, rand::random::<f64>());
        tokio::select! {
            () = tokio::time::sleep(delay) => {}
            () = inner.stop.notified() => return None,
        }
        let (mut sink, stream) = match open_socket(&inner.url, &inner.api_key).await {
            Ok(socket) => socket,
            Err(ClientError::Unauthorized { .. }) => {
                inner.state().closed = Some(Closed::Unauthorized);
                return None;
            }
            Err(error) => {
                tracing::debug!(url = %inner.url, attempt, %error, "reconnection attempt failed");
                continue;
            }
        };
        let resumes: Vec<ClientMessage> = {
            let mut state = inner.state();
            state
                .runs
                .iter_mut()
                .map(|(id, route)| {
                    route.resuming = true;
                    ClientMessage::Resume {
                        session: None,
                        id: Some(id.clone()),
                        last_seq: route.last_seq,
                    }
                })
                .collect()
        };
        let mut sent = true;
        for resume in &resumes {
            if sink.send(Message::text(to_json(resume))).await.is_err() {
                sent = false;
                break;
            }
        }
        if !sent {
            continue;
        }
        *inner.sink.lock().await = Some(sink);
        {
            let mut state = inner.state();
            state.reconnects += 1;
            state.last_frame = Instant::now();
        }
        inner.link.send_replace(ConnectionState::Connected);
        tracing::debug!(url = %inner.url, attempt, runs = resumes.len(), "reconnected");
        return Some(stream);
    }
    inner.state().closed = Some(Closed::GaveUp {
        attempts: backoff.max_retries,
    });
    None
}

/// Runs that cannot be resumed (`stream: false`) end when their socket does.
fn fail_unresumable(inner: &Inner) {
    let mut state = inner.state();
    let lost: Vec<String> = state
        .runs
        .iter()
        .filter(|(_, route)| !route.resumable)
        .map(|(id, _)| id.clone())
        .collect();
    for id in lost {
        if let Some(route) = state.runs.remove(&id) {
            let message = format!(
                "the connection to {} was lost during a `stream: false` run, which cannot be \
                 resumed; use a streamed run to survive reconnects",
                inner.url
            );
            let _ = route.sender.send(ServerMessage::error(
                ErrorCode::Unavailable,
                message,
                Some(id),
            ));
        }
    }
}

/// Closed for good: every run in flight gets an `error` saying why.
fn finish(inner: &Inner) {
    let mut state = inner.state();
    let closed = *state.closed.get_or_insert(Closed::Ended);
    let (code, reason) = match closed {
        Closed::Unauthorized => (
            ErrorCode::Unauthorized,
            "the server refused the key".to_owned(),
        ),
        Closed::GaveUp { attempts } => (
            ErrorCode::Unavailable,
            format!("gave up reconnecting after {attempts} attempts"),
        ),
        Closed::Ended => (ErrorCode::Unavailable, "the connection closed".to_owned()),
    };
    for (id, route) in state.runs.drain() {
        let message = format!("{reason} ({}) before the run ended", inner.url);
        let _ = route
            .sender
            .send(ServerMessage::error(code, message, Some(id)));
    }
    state.pings.clear();
    drop(state);
    inner.link.send_replace(ConnectionState::Closed);
    tracing::debug!(url = %inner.url, ?closed, "connection closed");
}

/// Route one server message; returns frames to send in reply (stdin re-sent after a
/// `resumed`, an execute the server never saw).
fn dispatch(state: &mut State, message: ServerMessage, url: &str) -> Vec<ClientMessage> {
    match routing::route(&message) {
        Route::Run { id, terminal } => {
            let id = id.to_owned();
            let Some(route) = state.runs.get_mut(&id) else {
                tracing::trace!(url = %url, "event for a run no longer followed");
                return Vec::new();
            };
            match &message {
                ServerMessage::Resumed(resumed) => {
                    route.resuming = false;
                    route.request = None;
                    route
                        .unacked
                        .retain(|write| write.number > resumed.stdin_seq);
                    return route
                        .unacked
                        .iter()
                        .map(|write| stdin_message(&id, write))
                        .collect();
                }
                ServerMessage::Error(error)
                    if route.resuming && error.code == ErrorCode::NotFound =>
                {
                    route.resuming = false;
                    if let Some(request) = route.request.clone() {
                        // The execute was lost with the old socket: send it again, then the
                        // stdin written so far.
                        let mut replies = vec![ClientMessage::Execute(request)];
                        replies.extend(route.unacked.iter().map(|write| stdin_message(&id, write)));
                        return replies;
                    }
                }
                _ => {}
            }
            if let Some(seq) = routing::seq(&message) {
                if seq <= route.last_seq {
                    return Vec::new();
                }
                route.last_seq = seq;
                route.request = None;
            }
            let delivered = route.sender.send(message).is_ok();
            if terminal || !delivered {
                state.runs.remove(&id);
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
    Vec::new()
}
