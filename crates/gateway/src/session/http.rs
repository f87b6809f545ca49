//! The session HTTP API: `POST|GET /api/v1/sessions`, `GET|DELETE /api/v1/sessions/:id`,
//! `POST .../execute` (one `result`), `.../interrupt`, `.../restart`.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use runnel_engine::Signal;
use runnel_protocol::client::CreateSessionRequest;
use runnel_protocol::session::SessionList;
use runnel_protocol::ExecuteRequest;
use serde::de::DeserializeOwned;

use crate::auth::Authenticated;
use crate::error::ApiError;
use crate::http::body_error;
use crate::state::AppState;

pub(crate) fn json_body<T: DeserializeOwned>(
    state: &AppState,
    body: Result<Bytes, BytesRejection>,
) -> Result<T, ApiError> {
    let body = body.map_err(|rejection| body_error(&rejection, state.config().max_body_bytes))?;
    serde_json::from_slice(&body)
        .map_err(|error| ApiError::bad_request(format!("invalid JSON body: {error}")))
}

/// `POST /api/v1/sessions`.
pub(crate) async fn create(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let request: CreateSessionRequest = json_body(&state, body)?;
    let session = super::create(&state, &principal, request).await?;
    Ok((StatusCode::CREATED, Json(super::info(&session))).into_response())
}

/// `GET /api/v1/sessions`.
pub(crate) async fn list(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
) -> Json<SessionList> {
    let sessions = state
        .engine()
        .sessions(&principal.key_id)
        .iter()
        .map(super::info)
        .collect();
    Json(SessionList { sessions })
}

/// `GET /api/v1/sessions/:id`.
pub(crate) async fn get(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Authenticated(principal): Authenticated,
) -> Result<Response, ApiError> {
    let session = super::lookup(&state, &principal, &id)?;
    Ok(Json(super::info(&session)).into_response())
}

/// `DELETE /api/v1/sessions/:id`.
pub(crate) async fn delete(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Authenticated(principal): Authenticated,
) -> Result<StatusCode, ApiError> {
    if state.engine().close_session(&id, &principal.key_id).await {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(super::not_found(&id))
    }
}

/// `POST /api/v1/sessions/:id/execute`: run in the session, answer one `result`. Nobody can
/// answer an input request over HTTP: stdin given up front is all there is.
pub(crate) async fn execute(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Authenticated(principal): Authenticated,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let session = super::lookup(&state, &principal, &id)?;
    let request: ExecuteRequest = json_body(&state, body)?;
    let run = super::session_run(&state, request, &principal)?;
    let run_id = run.id.clone();
    let output_limit = run.limits.output_bytes;
    // Subscribed before the run starts, so that none of its events is missed.
    let subscription = session
        .subscribe(session.last_seq())
        .map_err(super::gap_error)?;
    session.execute(run)?;
    let result = super::collect_result(&session, subscription, run_id, output_limit).await?;
    Ok(Json(result).into_response())
}

/// `POST /api/v1/sessions/:id/interrupt`: SIGINT to the running execute.
pub(crate) async fn interrupt(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Authenticated(principal): Authenticated,
) -> Result<Response, ApiError> {
    let session = super::lookup(&state, &principal, &id)?;
    let interrupted = session.signal(Signal::Interrupt);
    Ok(Json(serde_json::json!({ "interrupted": interrupted })).into_response())
}

/// `POST /api/v1/sessions/:id/restart`: a fresh interpreter, the files kept.
pub(crate) async fn restart(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Authenticated(principal): Authenticated,
) -> Result<Response, ApiError> {
    let session = super::lookup(&state, &principal, &id)?;
    session.restart().await?;
    Ok(Json(super::info(&session)).into_response())
}
