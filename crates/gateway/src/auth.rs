//! API keys: where a client may put one (header, query, message) and checking it in the store.

use axum::extract::Query;
use axum::http::{header, HeaderMap, Uri};
use runnel_protocol::ErrorCode;
use runnel_store::KeyQuota;
use serde::Deserialize;

use crate::error::ApiError;
use crate::state::AppState;

/// An authenticated caller: the key's id (never the key itself) and its quota.
#[derive(Debug, Clone)]
pub(crate) struct Principal {
    /// The store's id of the key.
    pub(crate) key_id: String,
    /// The key's maximums.
    pub(crate) quota: KeyQuota,
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

/// Check `key` in the store. The store is SQLite, so the lookup runs on the blocking pool.
pub(crate) async fn authenticate(state: &AppState, key: String) -> Result<Principal, ApiError> {
    let store = state.store().clone();
    let looked_up = tokio::task::spawn_blocking(move || store.authenticate(&key))
        .await
        .map_err(|error| ApiError::internal(format!("authentication task: {error}")))?;
    match looked_up {
        Ok(Some(record)) if !record.revoked => Ok(Principal {
            key_id: record.id,
            quota: record.quota,
        }),
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
