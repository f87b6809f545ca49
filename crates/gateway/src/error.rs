//! `ApiError`: the one error type of the gateway's edges, sent as JSON on HTTP and as an
//! `error` frame on WebSockets.
//!
//! Caller mistakes carry their message verbatim. Internal faults carry a generic message; the
//! details travel in a response extension ([`InternalDetail`]) that the request middleware logs,
//! or are logged when the error is turned into a WebSocket frame.

use std::time::Duration;

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use runnel_engine::api::{Fault, FaultKind};
use runnel_engine::EngineError;
use runnel_protocol::http::HttpError;
use runnel_protocol::{ErrorCode, ServerMessage};

/// A named error answered to a client.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{code:?}: {message}")]
pub struct ApiError {
    /// The named code clients switch on.
    pub code: ErrorCode,
    /// What the client is told.
    pub message: String,
    /// For internal faults: what really happened (logged, never sent).
    pub detail: Option<String>,
    /// For `rate_limited`: when a retry can succeed.
    pub retry_after: Option<Duration>,
}

/// The hidden detail of an internal fault, attached to the response for the logging middleware.
#[derive(Debug, Clone)]
pub struct InternalDetail(pub String);

impl ApiError {
    /// A caller mistake (or a limit), told verbatim.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> ApiError {
        ApiError {
            code,
            message: message.into(),
            detail: None,
            retry_after: None,
        }
    }

    /// `bad_request` with a message naming what was wrong.
    pub fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(ErrorCode::BadRequest, message)
    }

    /// An internal fault: the client gets a generic message, `detail` goes to the log.
    pub fn internal(detail: impl Into<String>) -> ApiError {
        ApiError {
            code: ErrorCode::InternalError,
            message: "internal error; the details are in the server log".to_owned(),
            detail: Some(detail.into()),
            retry_after: None,
        }
    }

    /// Attach a retry hint.
    pub fn with_retry_after(mut self, retry_after: Duration) -> ApiError {
        self.retry_after = Some(retry_after);
        self
    }

    /// The WebSocket `error` frame for this error, about run `id` when known. Internal details
    /// are logged here since no middleware sees WebSocket frames.
    pub fn to_message(&self, id: Option<String>) -> ServerMessage {
        if let Some(detail) = &self.detail {
            tracing::error!(code = self.code.as_str(), %detail, "internal error on websocket");
        }
        ServerMessage::error(self.code, self.message.clone(), id)
    }
}

impl From<EngineError> for ApiError {
    fn from(error: EngineError) -> ApiError {
        ApiError::from(Fault::from(error))
    }
}

/// The one mapping of the engine's faults to client errors, whether the engine answered
/// in-process or across its boundary ([`runnel_engine::api`]).
impl From<Fault> for ApiError {
    fn from(fault: Fault) -> ApiError {
        let code = match fault.kind {
            FaultKind::UnknownLanguage => ErrorCode::UnknownLanguage,
            FaultKind::InvalidRequest => return ApiError::bad_request(fault.message),
            FaultKind::NotFound | FaultKind::Ended => ErrorCode::NotFound,
            FaultKind::Conflict | FaultKind::ProcessLimit => ErrorCode::Conflict,
            FaultKind::QueueFull => ErrorCode::ConcurrencyLimit,
            FaultKind::SessionLimit => ErrorCode::SessionLimit,
            FaultKind::Unavailable | FaultKind::DriverStart => ErrorCode::Unavailable,
            FaultKind::StdinFull => ErrorCode::PayloadTooLarge,
            FaultKind::ReplayGap => match fault.gap {
                Some(gap) => return gap_error(gap),
                None => ErrorCode::ResumeGap,
            },
            FaultKind::Internal => return ApiError::internal(fault.message),
        };
        ApiError::new(code, fault.message)
    }
}

/// `resume_gap`, for events a run or session no longer keeps.
pub(crate) fn gap_error(gap: runnel_engine::ReplayGap) -> ApiError {
    ApiError::new(
        ErrorCode::ResumeGap,
        format!(
            "cannot resume after seq {}: the oldest event kept is {} (the replay buffer was \
             trimmed); resume with last_seq >= {}",
            gap.after,
            gap.oldest,
            gap.oldest.saturating_sub(1)
        ),
    )
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.code.http_status())
            .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let body = HttpError {
            error: self.code,
            message: self.message,
        };
        let mut response = (status, Json(body)).into_response();
        if let Some(retry_after) = self.retry_after {
            let seconds = retry_after.as_secs_f64().ceil().max(1.0) as u64;
            if let Ok(value) = HeaderValue::from_str(&seconds.to_string()) {
                response.headers_mut().insert(header::RETRY_AFTER, value);
            }
        }
        if let Some(detail) = self.detail {
            response.extensions_mut().insert(InternalDetail(detail));
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_details_stay_out_of_the_body() {
        let response = ApiError::internal("sqlite: disk I/O error at /var/x").into_response();
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
        let detail = response
            .extensions()
            .get::<InternalDetail>()
            .expect("detail attached");
        assert!(detail.0.contains("sqlite"));
    }

    #[test]
    fn rate_limited_sets_retry_after() {
        let response = ApiError::new(ErrorCode::RateLimited, "slow down")
            .with_retry_after(Duration::from_millis(1500))
            .into_response();
        assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(response.headers()[header::RETRY_AFTER], "2");
    }

    #[test]
    fn engine_errors_map_to_codes() {
        let error = ApiError::from(EngineError::UnknownLanguage("cobol".into()));
        assert_eq!(error.code, ErrorCode::UnknownLanguage);
        assert!(error.message.contains("cobol"));
        let error = ApiError::from(EngineError::Unavailable("shutting down".into()));
        assert_eq!(error.code, ErrorCode::Unavailable);
        assert_eq!(error.message, "shutting down");
        let error = ApiError::from(EngineError::InvalidRequest("no code".into()));
        assert_eq!(
            (error.code, error.message.as_str()),
            (ErrorCode::BadRequest, "no code")
        );
    }

    #[test]
    fn faults_from_across_the_boundary_map_like_engine_errors() {
        let gap = runnel_engine::ReplayGap {
            after: 3,
            oldest: 10,
        };
        let error = ApiError::from(Fault::from(gap));
        assert_eq!(error.code, ErrorCode::ResumeGap);
        assert!(error.message.contains("last_seq >= 9"), "{}", error.message);
        let full = runnel_engine::StdinRefused::Full { max_bytes: 1024 };
        assert_eq!(
            ApiError::from(Fault::from(full)).code,
            ErrorCode::PayloadTooLarge
        );
        let ended = Fault::from(runnel_engine::StdinRefused::Closed);
        assert_eq!(ApiError::from(ended).code, ErrorCode::NotFound);
        let internal = ApiError::from(Fault::new(FaultKind::Internal, "engine: disk"));
        assert_eq!(internal.code, ErrorCode::InternalError);
        assert_eq!(internal.detail.as_deref(), Some("engine: disk"));
    }
}
