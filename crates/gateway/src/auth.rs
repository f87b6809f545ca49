//! API keys: where a client may put one (header, query, message), checking it in the store,
//! and charging the connection it came on to the key.
//!
//! A handler that needs a caller takes [`Authenticated`] (or [`Operator`]): the extractor reads
//! the request's key, checks it, and answers a request it refuses with the named error (401
//! `unauthorized`; 403 `forbidden` for a tenant's key where an operator's is needed; 429
//! `concurrency_limit` for a key with its maximum of connections open) before the handler
//! runs. `/ws` takes [`Credentials`] instead: its key may also come in the first message, and a
//! wrong one is answered on the socket, so the connection authenticates itself.

use std::convert::Infallible;
use std::sync::Arc;

use axum::extract::{FromRequestParts, Query};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, Uri};
use runnel_protocol::ErrorCode;
use runnel_store::{KeyQuota, KeyScope};
use serde::Deserialize;

use crate::door::{Place, Ticket};
use crate::error::ApiError;
use crate::state::AppState;

/// An authenticated caller: the key's id (never the key itself), its scope and its quota.
#[derive(Debug, Clone)]
pub(crate) struct Principal {
    /// The store's id of the key.
    pub(crate) key_id: String,
    /// What the key may do besides running code.
    pub(crate) scope: KeyScope,
    /// The key's maximums.
    pub(crate) quota: KeyQuota,
}

/// What a request brings to authenticate with: the key it names, if any, and the connection
/// it came on (absent only when the router is driven without the accept loop, as in tests).
#[derive(Debug, Clone)]
pub(crate) struct Credentials {
    /// The key from `Authorization: Bearer` or `?api_key=`.
    pub(crate) key: Option<String>,
    /// The connection's place at the front door.
    pub(crate) ticket: Option<Arc<Ticket>>,
}

impl<S: Send + Sync> FromRequestParts<S> for Credentials {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(Credentials {
            key: key_from_request(&parts.headers, &parts.uri),
            ticket: Place::of(parts).0,
        })
    }
}

impl Credentials {
    /// The caller, or `unauthorized` when no key was sent or it is wrong.
    async fn principal(&self, state: &AppState) -> Result<Principal, ApiError> {
        let key = self.key.clone().ok_or_else(|| {
            unauthorized("missing API key: send `Authorization: Bearer KEY` or `?api_key=KEY`")
        })?;
        authenticate(state, key, self.ticket.as_deref()).await
    }
}

/// The caller of a request, authenticated by the key the request names; the request is
/// answered `unauthorized` when it names none or a wrong one.
#[derive(Debug, Clone)]
pub(crate) struct Authenticated(pub(crate) Principal);

impl FromRequestParts<AppState> for Authenticated {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let credentials = match Credentials::from_request_parts(parts, state).await {
            Ok(credentials) => credentials,
            Err(never) => match never {},
        };
        credentials.principal(state).await.map(Authenticated)
    }
}

/// A caller holding an operator key: like [`Authenticated`], and a tenant's key is answered
/// `forbidden`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Operator;

impl FromRequestParts<AppState> for Operator {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let Authenticated(principal) = Authenticated::from_request_parts(parts, state).await?;
        if principal.scope != KeyScope::Operator {
            return Err(ApiError::new(
                ErrorCode::Forbidden,
                "this needs an operator key: server-wide figures show every tenant's activity \
                 (`runnel keys create --scope operator`)",
            ));
        }
        Ok(Operator)
    }
}

#[derive(Debug, Deserialize)]
struct KeyQuery {
    api_key: Option<String>,
}

/// The key of a request: `Authorization: Bearer KEY` first, then `?api_key=KEY`.
pub(crate) fn key_from_request(headers: &HeaderMap, uri: &Uri) -> Option<String> {
    bearer_key(headers).or_else(|| query_key(uri))
}

fn bearer_key(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?.trim();
    let (scheme, key) = value.split_once(' ')?;
    let key = key.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !key.is_empty()).then(|| key.to_owned())
}

fn query_key(uri: &Uri) -> Option<String> {
    let Query(query) = Query::<KeyQuery>::try_from_uri(uri).ok()?;
    query.api_key.filter(|key| !key.is_empty())
}

/// Check `key` in the store and charge the connection it came on (`ticket`) to it. The store
/// is SQLite, so the lookup runs on the blocking pool.
pub(crate) async fn authenticate(
    state: &AppState,
    key: String,
    ticket: Option<&Ticket>,
) -> Result<Principal, ApiError> {
    let store = state.store().clone();
    let looked_up = tokio::task::spawn_blocking(move || store.authenticate(&key))
        .await
        .map_err(|error| ApiError::internal(format!("authentication task: {error}")))?;
    match looked_up {
        Ok(Some(record)) if !record.revoked => {
            if let Some(ticket) = ticket {
                ticket.charge(&record.id, record.quota.max_connections)?;
            }
            Ok(Principal {
                key_id: record.id,
                scope: record.scope,
                quota: record.quota,
            })
        }
        Ok(_) => Err(unauthorized("invalid or revoked API key")),
        Err(error) => Err(ApiError::internal(format!("store authenticate: {error}"))),
    }
}

/// `unauthorized` with a message.
pub(crate) fn unauthorized(message: &str) -> ApiError {
    ApiError::new(ErrorCode::Unauthorized, message)
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    fn headers(authorization: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::AUTHORIZATION,
            HeaderValue::from_str(authorization).expect("valid header"),
        );
        headers
    }

    #[test]
    fn bearer_header_is_read() {
        let uri: Uri = "/ws".parse().expect("uri");
        assert_eq!(
            key_from_request(&headers("Bearer rk_abc"), &uri).as_deref(),
            Some("rk_abc")
        );
        assert_eq!(
            key_from_request(&headers("bearer  rk_abc "), &uri).as_deref(),
            Some("rk_abc")
        );
        assert_eq!(key_from_request(&headers("Basic dXNlcg=="), &uri), None);
        assert_eq!(key_from_request(&headers("Bearer "), &uri), None);
        assert_eq!(key_from_request(&HeaderMap::new(), &uri), None);
    }

    #[test]
    fn query_key_is_read_and_decoded() {
        let uri: Uri = "/ws?x=1&api_key=rk%2Bkey".parse().expect("uri");
        assert_eq!(
            key_from_request(&HeaderMap::new(), &uri).as_deref(),
            Some("rk+key")
        );
        let uri: Uri = "/ws?api_key=".parse().expect("uri");
        assert_eq!(key_from_request(&HeaderMap::new(), &uri), None);
    }

    #[test]
    fn header_wins_over_query() {
        let uri: Uri = "/ws?api_key=from_query".parse().expect("uri");
        assert_eq!(
            key_from_request(&headers("Bearer from_header"), &uri).as_deref(),
            Some("from_header")
        );
    }
}
