//! The HTTP API: `POST /api/v1/execute` (JSON or SSE), languages, stats, health, metrics, the
//! placeholder console page, and the request-counting middleware.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{header, HeaderMap, StatusCode, Uri};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Json;
use runnel_protocol::http::{HealthStatus, StatsResponse};
use runnel_protocol::{ErrorCode, ExecuteRequest};

use crate::auth::{unauthorized, Authenticated, Operator};
use crate::convert::execute_from_wire;
use crate::error::{ApiError, InternalDetail};
use crate::state::AppState;
use crate::{execution, metrics, sse};

/// `POST /api/v1/execute`: one run, answered with the `result` JSON, or streamed as Server-Sent
/// Events when the client accepts `text/event-stream` (or sets `stream: true`).
pub(crate) async fn execute(
    State(state): State<AppState>,
    headers: HeaderMap,
    Authenticated(principal): Authenticated,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let body = body.map_err(|rejection| body_error(&rejection, state.config().max_body_bytes))?;
    let request: ExecuteRequest = serde_json::from_slice(&body)
        .map_err(|error| ApiError::bad_request(format!("invalid JSON body: {error}")))?;
    let config = state.config();
    let mut execute = execute_from_wire(
        request,
        &principal.key_id,
        state.engine(),
        config.default_limits,
        &principal.quota,
    )?;
    // Nobody can send more input over HTTP.
    execute.run.close_stdin = true;
    let streamed = execute.stream || accepts_event_stream(&headers);
    let execution = execution::start(&state, &principal, execute.run)?;
    let mut revoked = state.revocations().subscribe();
    if streamed {
        Ok(sse::respond(execution, (revoked, principal.key_id)))
    } else {
        // A key revoked during the run ends it (dropping the execution kills it).
        tokio::select! {
            result = execution.collect() => Ok(Json(result).into_response()),
            () = revoked.of(Some(&principal.key_id)) => {
                Err(unauthorized("the API key was revoked during the run"))
            }
        }
    }
}

pub(crate) fn body_error(rejection: &BytesRejection, max_body_bytes: usize) -> ApiError {
    if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::new(
            ErrorCode::PayloadTooLarge,
            format!("request body is over the maximum of {max_body_bytes} bytes"),
        )
    } else {
        ApiError::bad_request(format!(
            "unreadable request body: {}",
            rejection.body_text()
        ))
    }
}

/// Whether the `Accept` header asks for Server-Sent Events.
pub(crate) fn accepts_event_stream(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .any(|item| {
            let media = item.split(';').next().unwrap_or_default().trim();
            media.eq_ignore_ascii_case("text/event-stream")
        })
}

/// `GET /api/v1/languages`.
pub(crate) async fn languages(State(state): State<AppState>) -> Response {
    Json(state.engine().languages()).into_response()
}

/// `GET /api/v1/stats`: server-wide figures, for operator keys.
pub(crate) async fn stats(State(state): State<AppState>, _: Operator) -> Json<StatsResponse> {
    let stats = state.engine().stats();
    Json(StatsResponse {
        uptime_seconds: state.started().elapsed().as_secs_f64(),
        executions: stats.executions,
        running: stats.running,
        connections: state.metrics().connections(),
        sessions: state.engine().session_count() as u64,
        languages: u64::try_from(state.engine().languages().len()).unwrap_or(u64::MAX),
        executions_by_language: stats.by_language(),
        version: state.config().version.clone(),
    })
}

/// `GET /healthz`: the engine's real state; 503 when it is `down`.
pub(crate) async fn healthz(State(state): State<AppState>) -> Response {
    let health = crate::health::report(&state);
    let status = if health.status == HealthStatus::Down {
        StatusCode::SERVICE_UNAVAILABLE
    } else {
        StatusCode::OK
    };
    (status, Json(health)).into_response()
}

/// `GET /metrics`: Prometheus text exposition, for operator keys (or open on the separate
/// metrics address, see [`metrics_router`]).
pub(crate) async fn metrics(State(state): State<AppState>, _: Operator) -> Response {
    exposition(&state)
}

/// `GET /metrics` on the metrics address: no key (that address is the operator's to expose).
pub(crate) async fn open_metrics(State(state): State<AppState>) -> Response {
    exposition(&state)
}

fn exposition(state: &AppState) -> Response {
    let counters = state.metrics().snapshot(state.door().open());
    let mut stats = state.engine().stats();
    stats.health = crate::health::report(state).status;
    let text = metrics::render(&stats, &counters, &state.store().history_health());
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        text,
    )
        .into_response()
}

/// Unknown routes.
pub(crate) async fn not_found(uri: Uri) -> ApiError {
    ApiError::new(
        ErrorCode::NotFound,
        format!("no route `{}`; see /api/v1/openapi.json", uri.path()),
    )
}

/// Count each request by matched route and status, and log internal faults' hidden details.
pub(crate) async fn track(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |path| path.as_str().to_owned());
    let response = next.run(request).await;
    if let Some(InternalDetail(detail)) = response.extensions().get::<InternalDetail>() {
        tracing::error!(%route, %detail, "internal error");
    }
    state
        .metrics()
        .http_request(&route, response.status().as_u16());
    response
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    #[test]
    fn event_stream_is_detected_in_accept_lists() {
        let mut headers = HeaderMap::new();
        assert!(!accepts_event_stream(&headers));
        headers.insert(header::ACCEPT, HeaderValue::from_static("application/json"));
        assert!(!accepts_event_stream(&headers));
        headers.insert(
            header::ACCEPT,
            HeaderValue::from_static("application/json, Text/Event-Stream;q=0.9"),
        );
        assert!(accepts_event_stream(&headers));
    }
}
