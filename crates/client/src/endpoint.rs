//! URL normalisation: what users type (`127.0.0.1:8080`, `http://host`, `ws://host:port`) to
//! the WebSocket endpoint (`ws://host:port/ws`).

use crate::error::ClientError;

/// The path of the protocol v1 endpoint, appended when a URL has no path.
pub const WS_PATH: &str = "/ws";

/// Normalises a server URL to a WebSocket URL.
///
/// - `http://` becomes `ws://` and `https://` becomes `wss://`; no scheme means `ws://`.
/// - An empty path or `/` becomes `/ws`; any other path is kept (for example
///   `/stream/session/ID/execute`). A query string is kept.
pub fn normalize_url(url: &str) -> Result<String, ClientError> {
    let invalid = |reason: &str| ClientError::InvalidUrl {
        url: url.to_owned(),
        reason: reason.to_owned(),
    };
    let trimmed = url.trim();
    let (scheme, rest) = match trimmed.split_once("://") {
        Some((scheme, rest)) => match scheme.to_ascii_lowercase().as_str() {
            "ws" | "http" => ("ws", rest),
            "wss" | "https" => ("wss", rest),
            _ => return Err(invalid("the scheme must be ws, wss, http or https")),
        },
        None => ("ws", trimmed),
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    if authority.is_empty() {
        return Err(invalid("no host"));
    }
    if authority.contains(char::is_whitespace) {
        return Err(invalid("the host contains whitespace"));
    }
    let (path, query) = match tail.find(['?', '#']) {
        Some(index) => tail.split_at(index),
        None => (tail, ""),
    };
    let path = if path.is_empty() || path == "/" {
        WS_PATH
    } else {
        path
    };
    Ok(format!("{scheme}://{authority}{path}{query}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn appends_ws_and_maps_schemes() {
        let cases = [
            ("ws://127.0.0.1:8080", "ws://127.0.0.1:8080/ws"),
            ("ws://127.0.0.1:8080/", "ws://127.0.0.1:8080/ws"),
            ("ws://127.0.0.1:8080/ws", "ws://127.0.0.1:8080/ws"),
            ("127.0.0.1:8080", "ws://127.0.0.1:8080/ws"),
            ("http://localhost:8080", "ws://localhost:8080/ws"),
            ("HTTPS://example.com", "wss://example.com/ws"),
            (
                "wss://example.com/ws?api_key=x",
                "wss://example.com/ws?api_key=x",
            ),
            ("ws://h:1?api_key=x", "ws://h:1/ws?api_key=x"),
            (
                "ws://h:1/stream/session/abc/execute",
                "ws://h:1/stream/session/abc/execute",
            ),
            ("  ws://[::1]:9000  ", "ws://[::1]:9000/ws"),
        ];
        for (input, expected) in cases {
            assert_eq!(normalize_url(input).expect(input), expected, "{input}");
        }
    }

    #[test]
    fn rejects_what_cannot_work() {
        for input in ["ftp://host", "ws://", "", "ws:///ws", "ws://a b"] {
            let error = normalize_url(input).expect_err(input);
            assert!(error.to_string().contains("invalid url"), "{error}");
        }
    }
}
