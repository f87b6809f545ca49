//! Runnel's gateway: the axum routes for the WebSocket protocol, the HTTP API, Server-Sent
//! Events, metrics and the console; authentication and per-key quotas; and the conversion of
//! wire messages (`runnel-protocol`) into the engine's domain requests.
//!
//! # Layout
//! - `serve`: the accept loop, HTTP/1.1 with header and body timeouts, graceful shutdown.
//! - [`door`]: caps on open connections: the server's, per address, per key.
//! - `ws`: `/ws` and `/stream/session/:id/execute`: one reader, one writer task and one task
//!   per run on each connection; the streamed runs kept for `resume`.
//! - `socket`: what every WebSocket shares: transport settings and the close handshake.
//! - `http`: `POST /api/v1/execute`, languages, stats, health, metrics.
//! - `sse`: the Server-Sent Events form of `POST /api/v1/execute`.
//! - `execution`: one admitted run driven to a `result` or a stream, and recorded in the store.
//! - `convert`: wire to domain at the edge, with every validation of client input.
//! - `session`: sessions: `/api/v1/sessions*`, files, terminals, and what the WebSocket
//!   actions on sessions share with them.
//! - `output`: chunk encoding, result accumulation and the final figures of a run.
//! - `auth`: where keys come from and checking them (the `Authenticated` and `Operator`
//!   extractors); `quota`: per-key concurrency and rate.
//! - [`metrics`]: the gateway's counters and the Prometheus renderer.
//! - `console`: the web console (`web/dist`, embedded) at `/` and `/assets/*`.
//! - `openapi`: the OpenAPI 3.1 document of the whole surface.
//! - [`error`]: [`ApiError`], the one error type of the edges.

mod auth;
mod console;
mod convert;
pub mod door;
pub mod error;
mod execution;
mod health;
mod http;
pub mod metrics;
mod openapi;
mod output;
mod quota;
mod revocation;
mod serve;
mod session;
mod socket;
mod sse;
mod state;
mod ws;

use std::time::Duration;

use axum::extract::{DefaultBodyLimit, MatchedPath, Request};
use axum::routing::{get, post};
use axum::{middleware, Router};
use tower_http::trace::TraceLayer;

pub use door::DoorConfig;
pub use error::ApiError;
pub use serve::{serve, DEFAULT_BODY_TIMEOUT, DEFAULT_HEADER_TIMEOUT};
pub use state::AppState;

/// Default largest WebSocket frame: 1 MiB.
pub const DEFAULT_MAX_FRAME_BYTES: usize = 1 << 20;
/// Default largest HTTP request body: 4 MiB (programs with a few files, an uploaded file);
/// `DEFAULT_BODY_TIMEOUT` is sized for it.
pub const DEFAULT_MAX_BODY_BYTES: usize = 4 << 20;
/// Default time a WebSocket gets to authenticate: 5 s.
pub const DEFAULT_AUTH_TIMEOUT: Duration = Duration::from_secs(5);
/// Default time a streamed run outlives its dropped socket, waiting for a `resume`: 30 s.
pub const DEFAULT_RUN_GRACE: Duration = Duration::from_secs(30);
/// Default time runs in flight get to finish when the server is asked to stop: 25 s (under
/// the 30 s a Kubernetes pod gets by default between SIGTERM and SIGKILL).
pub const DEFAULT_SHUTDOWN_GRACE: Duration = Duration::from_secs(25);

/// The gateway's settings, built by the `cli` from its `Config`.
#[derive(Debug, Clone)]
pub struct GatewayConfig {
    /// Largest WebSocket text frame answered normally; larger ones get `payload_too_large`.
    pub max_frame_bytes: usize,
    /// Largest HTTP request body; larger ones get 413 `payload_too_large`.
    pub max_body_bytes: usize,
    /// How long an unauthenticated WebSocket may stay open.
    pub auth_timeout: Duration,
    /// How long a streamed one-shot run outlives its dropped socket (and a finished one's
    /// events are kept) for a `resume` from a reconnecting client.
    pub run_grace: Duration,
    /// Limits of runs that ask for none (still capped by each key's quota).
    pub default_limits: runnel_engine::Limits,
    /// The server version reported by `/api/v1/stats` and the console.
    pub version: String,
    /// The front door's caps on open connections.
    pub door: DoorConfig,
    /// How long a client has to send a request's headers, and how long a keep-alive
    /// connection may stay idle between requests.
    pub header_timeout: Duration,
    /// How long a client has to send a request's whole body.
    pub body_timeout: Duration,
    /// How long runs in flight get to finish once the server is asked to stop.
    pub shutdown_grace: Duration,
}

impl Default for GatewayConfig {
    fn default() -> Self {
        GatewayConfig {
            max_frame_bytes: DEFAULT_MAX_FRAME_BYTES,
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            auth_timeout: DEFAULT_AUTH_TIMEOUT,
            run_grace: DEFAULT_RUN_GRACE,
            default_limits: runnel_engine::Limits::DEFAULT,
            version: env!("CARGO_PKG_VERSION").to_owned(),
            door: DoorConfig::default(),
            header_timeout: DEFAULT_HEADER_TIMEOUT,
            body_timeout: DEFAULT_BODY_TIMEOUT,
            shutdown_grace: DEFAULT_SHUTDOWN_GRACE,
        }
    }
}

/// The routes of the separate metrics address (`--metrics-listen`): `/metrics` without a key,
/// and `/healthz`. That address is for the operator's monitoring network only.
pub fn metrics_router(state: AppState) -> Router {
    Router::new()
        .route("/metrics", get(http::open_metrics))
        .route("/healthz", get(http::healthz))
        .fallback(http::not_found)
        .with_state(state)
}

/// Serve [`metrics_router`] on `listener` until `shutdown` resolves.
pub async fn serve_metrics(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, metrics_router(state))
        .with_graceful_shutdown(shutdown)
        .await
}

/// Every route of the gateway, with tracing, request metrics and the body limit.
pub fn router(state: AppState) -> Router {
    let max_body_bytes = state.config().max_body_bytes;
    Router::new()
        .route("/", get(console::index))
        .route("/assets/{*path}", get(console::asset))
        .route("/ws", get(ws::handler))
        .route("/api/v1/execute", post(http::execute))
        .route(
            "/api/v1/sessions",
            post(session::http::create).get(session::http::list),
        )
        .route(
            "/api/v1/sessions/{id}",
            get(session::http::get).delete(session::http::delete),
        )
        .route(
            "/api/v1/sessions/{id}/execute",
            post(session::http::execute),
        )
        .route(
            "/api/v1/sessions/{id}/interrupt",
            post(session::http::interrupt),
        )
        .route(
            "/api/v1/sessions/{id}/restart",
            post(session::http::restart),
        )
        .route(
            "/api/v1/sessions/{id}/files",
            get(session::files::list).post(session::files::upload),
        )
        .route(
            "/api/v1/sessions/{id}/files/{*path}",
            get(session::files::download).put(session::files::put),
        )
        .route("/stream/session/{id}/execute", get(ws::execute_stream))
        .route("/stream/session/{id}/pty", get(session::pty::handler))
        .route("/api/v1/languages", get(http::languages))
        .route("/api/v1/stats", get(http::stats))
        .route("/api/v1/openapi.json", get(openapi::document))
        .route("/healthz", get(http::healthz))
        .route("/metrics", get(http::metrics))
        .fallback(http::not_found)
        .layer(DefaultBodyLimit::max(max_body_bytes))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            serve::body_deadline,
        ))
        .layer(middleware::from_fn_with_state(state.clone(), http::track))
        .layer(
            TraceLayer::new_for_http().make_span_with(|request: &Request| {
                // The path only: the query may carry an API key.
                let route = request
                    .extensions()
                    .get::<MatchedPath>()
                    .map(MatchedPath::as_str);
                tracing::debug_span!("http", method = %request.method(), matched_path = route)
            }),
        )
        .with_state(state)
}
