//! Serving the router over TCP: the accept loop with the front door's caps ([`crate::door`]),
//! HTTP/1.1 with a header timeout (which also closes idle keep-alive connections), a deadline
//! on request bodies, upgrades to WebSockets, and graceful shutdown.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::Response;
use axum::Router;
use futures_util::StreamExt;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinSet;
use tower::ServiceExt;

use crate::door::Ticket;
use crate::state::AppState;
use crate::{revocation, router};

/// Default time a client has to send a request's headers, and that a keep-alive connection
/// may stay idle between requests: 10 s.
pub const DEFAULT_HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// Default time a client has to send a request's whole body: 60 s (about the default largest
/// body, `DEFAULT_MAX_BODY_BYTES` = 4 MiB, at 0.5 Mbit/s).
pub const DEFAULT_BODY_TIMEOUT: Duration = Duration::from_secs(60);
/// Pause after a failed `accept` (a connection reset before it was taken, or no descriptor
/// left despite the cap) before accepting again.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(20);
/// Bytes of a refused connection's request read (and dropped) before it is closed, so that
/// the close is a FIN after the answer and not a reset that may hide it.
const REFUSED_DRAIN_BYTES: usize = 16 << 10;

/// How long, at the end of a shutdown, the WebSockets get to send their last events and close
/// (1001) before the server stops anyway.
const CLOSE_PATIENCE: Duration = Duration::from_secs(5);

/// Serve `state`'s router on `listener`, with `TCP_NODELAY` set on every accepted socket
/// (small frames must not wait for Nagle's algorithm), until `shutdown` resolves; then drain
/// and stop the engine (see [`drain`]). `now` cuts the drain short (a second signal).
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
    now: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let app = router(state.clone());
    // Revoking a key ends its open sockets, sessions and runs, not only its next request.
    tokio::spawn(revocation::watcher::watch(state.clone()));
    let door = Arc::clone(state.door());
    let header_timeout = state.config().header_timeout;
    let (closing, closed) = watch::channel(false);
    let mut connections = JoinSet::new();
    let shutdown = std::pin::pin!(shutdown);
    let mut shutdown = shutdown;
    loop {
        let accepted = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => accepted,
        };
        // Reap finished connections, so that the set holds only open ones.
        while connections.try_join_next().is_some() {}
        let (tcp, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(error) => {
                tracing::warn!(%error, "accept failed");
                tokio::time::sleep(ACCEPT_BACKOFF).await;
                continue;
            }
        };
        if let Err(error) = tcp.set_nodelay(true) {
            tracing::debug!(%error, "could not set TCP_NODELAY");
        }
        match door.admit(peer.ip()) {
            Ok(ticket) => {
                let connection = serve_connection(
                    tcp,
                    peer,
                    ticket,
                    app.clone(),
                    header_timeout,
                    closed.clone(),
                );
                connections.spawn(connection);
            }
            Err(refused) => {
                state.metrics().connection_refused(refused);
                tracing::debug!(%peer, ?refused, "connection refused at the door");
                refuse(tcp, refused.response(door.config()));
            }
        }
    }
    drop(listener);
    // HTTP connections finish the request in flight, then close.
    closing.send_replace(true);
    drain(&state, now).await;
    while connections.join_next().await.is_some() {}
    Ok(())
}

/// A graceful stop, once no connection is accepted any more: the engine refuses new work
/// (`unavailable`) while what runs goes on, for up to the shutdown grace (or until `now`);
/// then the engine stops what still runs (each run ends with its `exit`, each session with
/// `shutdown`), and every WebSocket, having sent those last events, closes with 1001.
async fn drain(state: &AppState, now: impl Future<Output = ()>) {
    let engine = state.engine();
    engine.begin_drain();
    let grace = state.config().shutdown_grace;
    tracing::info!(
        grace_seconds = grace.as_secs_f64(),
        "draining: new work is refused"
    );
    tokio::select! {
        () = engine.drained() => tracing::info!("drained: nothing runs"),
        () = tokio::time::sleep(grace) => {
            tracing::warn!("the shutdown grace is over: stopping the runs still going");
        }
        () = now => tracing::info!("stopping at once (a second signal, or stdin closed)"),
    }
    engine.shutdown().await;
    // Upgraded WebSockets outlive their HTTP connection, so they are told separately.
    state.begin_shutdown();
    let deadline = tokio::time::Instant::now() + CLOSE_PATIENCE;
    while state.metrics().connections() > 0 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Answer a refused connection and close it, without waiting for it.
fn refuse(tcp: TcpStream, response: Vec<u8>) {
    let mut drained = [0u8; 4096];
    let mut read = 0;
    while read < REFUSED_DRAIN_BYTES {
        match tcp.try_read(&mut drained) {
            Ok(0) | Err(_) => break,
            Ok(count) => read += count,
        }
    }
    // The socket's send buffer is empty: the answer fits in one write that does not block.
    let _ = tcp.try_write(&response);
    if let Ok(tcp) = tcp.into_std() {
        let _ = tcp.shutdown(std::net::Shutdown::Write);
    }
}

/// One HTTP/1.1 connection: requests carry its `ticket`; the header timeout closes it when a
/// request's headers (or, between requests, the next request) do not arrive in time.
async fn serve_connection(
    tcp: TcpStream,
    peer: SocketAddr,
    ticket: Arc<Ticket>,
    app: Router,
    header_timeout: Duration,
    mut closing: watch::Receiver<bool>,
) {
    let service = hyper::service::service_fn(move |mut request: Request<Incoming>| {
        request.extensions_mut().insert(Arc::clone(&ticket));
        app.clone().oneshot(request)
    });
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(header_timeout)
        .keep_alive(true);
    let connection = builder
        .serve_connection(TokioIo::new(tcp), service)
        .with_upgrades();
    let mut connection = std::pin::pin!(connection);
    let mut draining = false;
    loop {
        tokio::select! {
            result = connection.as_mut() => {
                if let Err(error) = result {
                    tracing::debug!(%peer, %error, "connection ended");
                }
                return;
            }
            changed = closing.wait_for(|closing| *closing), if !draining => {
                draining = true;
                if changed.is_ok() {
                    // Finish the request in flight, then close.
                    connection.as_mut().graceful_shutdown();
                }
            }
        }
    }
}

/// Middleware: a request's body must arrive within the body timeout; one that does not fails
/// the body's read (answered `bad_request`, naming the timeout).
pub(crate) async fn body_deadline(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let timeout = state.config().body_timeout;
    let has_body = request.headers().contains_key(header::TRANSFER_ENCODING)
        || request
            .headers()
            .get(header::CONTENT_LENGTH)
            .is_some_and(|length| length.as_bytes() != b"0");
    if !has_body {
        return next.run(request).await;
    }
    let deadline = tokio::time::Instant::now() + timeout;
    let (parts, body) = request.into_parts();
    let frames =
        futures_util::stream::unfold(Some(body.into_data_stream()), move |frames| async move {
            let mut frames = frames?;
            match tokio::time::timeout_at(deadline, frames.next()).await {
                Ok(Some(frame)) => Some((frame, Some(frames))),
                Ok(None) => None,
                Err(_) => Some((Err(axum::Error::new(BodyTimeout(timeout))), None)),
            }
        });
    next.run(Request::from_parts(parts, Body::from_stream(frames)))
        .await
}

/// The body did not arrive in time.
#[derive(Debug, thiserror::Error)]
#[error("the request body did not arrive within {} s", .0.as_secs_f64())]
struct BodyTimeout(Duration);
