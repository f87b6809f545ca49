//! `/ws`: protocol v1 over one WebSocket per client, and `/stream/session/:id/execute`, the
//! same protocol on a socket bound to one session.
//!
//! Each connection ([`connection`]) has one reader (the connection task), one writer task fed
//! by a bounded queue of [`outbound::Outbound`] frames (so a slow client pushes back on its
//! runs), and one task per run in flight. Closing the socket aborts the tasks of its
//! non-streamed runs, which drops their handles and so kills the runs; streamed runs outlive it
//! for the run grace period, waiting for a `resume` ([`resumable`]).

pub(crate) mod connection;
pub(crate) mod outbound;
pub(crate) mod resumable;

use axum::extract::ws::WebSocketUpgrade;
use axum::extract::{Path, State};
use axum::response::Response;

use crate::auth::{Authenticated, Credentials};
use crate::door::Place;
use crate::error::ApiError;
use crate::state::AppState;
use crate::{session, socket};

/// `GET /ws`: upgrade, taking the key from the header or the query when given there. The key
/// is checked on the socket, not here: it may also come in the first message, and a wrong one
/// is answered with an `unauthorized` frame and the close code 1008.
pub(crate) async fn handler(
    State(state): State<AppState>,
    credentials: Credentials,
    upgrade: WebSocketUpgrade,
) -> Response {
    socket::configure(upgrade, &state)
        .on_failed_upgrade(|error| tracing::debug!(%error, "websocket upgrade failed"))
        .on_upgrade(move |socket| connection::serve(socket, state, credentials))
}

/// `GET /stream/session/:id/execute`: a WebSocket bound to one session, after checking the key
/// and the session.
pub(crate) async fn execute_stream(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Place(ticket): Place,
    upgrade: WebSocketUpgrade,
    Authenticated(principal): Authenticated,
) -> Result<Response, ApiError> {
    let session = session::lookup(&state, &principal, &id)?;
    // The socket holds the connection's place at the door while it is open.
    Ok(
        socket::configure(upgrade, &state).on_upgrade(move |socket| async move {
            let _ticket = ticket;
            connection::serve_bound(socket, state, principal, session).await;
        }),
    )
}
