//! Strict decoding of client frames, with errors that name what was wrong.
//!
//! The gateway answers every [`DecodeError`] with `{"type":"error","code":"bad_request"}` (or
//! `payload_too_large`) and keeps the connection up.

use std::fmt;

use crate::client::ClientMessage;
use crate::status::ErrorCode;

/// Actions a client may send, for error messages.
pub const ACTIONS: [&str; 9] = [
    "auth",
    "execute",
    "stdin",
    "signal",
    "ping",
    "create_session",
    "close_session",
    "restart_session",
    "resume",
];

/// Why a frame could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DecodeError {
    /// The frame is larger than the configured maximum.
    TooLarge {
        /// Size of the frame in bytes.
        size: usize,
        /// The maximum.
        max: usize,
    },
    /// A binary frame where JSON text was expected.
    Binary,
    /// Not JSON at all.
    NotJson(String),
    /// JSON, but not an object.
    NotObject,
    /// No `action` field (or not a string).
    MissingAction,
    /// An `action` this server does not know.
    UnknownAction(String),
    /// The action is known but a field is missing or has the wrong type.
    InvalidFields {
        /// The action.
        action: String,
        /// serde's description, which names the field.
        detail: String,
    },
}

impl DecodeError {
    /// The error code to send back.
    pub fn code(&self) -> ErrorCode {
        match self {
            DecodeError::TooLarge { .. } => ErrorCode::PayloadTooLarge,
            _ => ErrorCode::BadRequest,
        }
    }
}

impl fmt::Display for DecodeError {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecodeError::TooLarge { size, max } => {
                write!(
                    formatter,
                    "frame of {size} bytes is over the maximum of {max} bytes"
                )
            }
            DecodeError::Binary => {
                write!(formatter, "binary frames are not accepted: send JSON text")
            }
            DecodeError::NotJson(detail) => write!(formatter, "frame is not valid JSON: {detail}"),
            DecodeError::NotObject => write!(formatter, "frame must be a JSON object"),
            DecodeError::MissingAction => {
                write!(
                    formatter,
                    "missing string field `action` (one of {})",
                    ACTIONS.join(", ")
                )
            }
            DecodeError::UnknownAction(action) => write!(
                formatter,
                "unknown action `{action}` (expected one of {})",
                ACTIONS.join(", ")
            ),
            DecodeError::InvalidFields { action, detail } => {
                write!(formatter, "invalid `{action}` message: {detail}")
            }
        }
    }
}

impl std::error::Error for DecodeError {}

/// Decode one text frame into a [`ClientMessage`].
pub fn decode_client_frame(text: &str, max_bytes: usize) -> Result<ClientMessage, DecodeError> {
    if text.len() > max_bytes {
        return Err(DecodeError::TooLarge {
            size: text.len(),
            max: max_bytes,
        });
    }
    let value: serde_json::Value =
        serde_json::from_str(text).map_err(|error| DecodeError::NotJson(error.to_string()))?;
    let object = value.as_object().ok_or(DecodeError::NotObject)?;
    let action = object
        .get("action")
        .and_then(|action| action.as_str())
        .ok_or(DecodeError::MissingAction)?
        .to_owned();
    if !ACTIONS.contains(&action.as_str()) {
        return Err(DecodeError::UnknownAction(action));
    }
    serde_json::from_value(value).map_err(|error| DecodeError::InvalidFields {
        action,
        detail: error.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn seed_quickstart_frame_decodes() {
        let frame = r#"{"action":"execute","language":"python","code":"print(\"Hello from WebSocket!\")","api_key":"your-api-key"}"#;
        let message = decode_client_frame(frame, 1 << 20).expect("seed frame decodes");
        match message {
            ClientMessage::Execute(request) => {
                assert_eq!(request.language, "python");
                assert_eq!(request.api_key.as_deref(), Some("your-api-key"));
                assert!(!request.stream);
            }
            other => panic!("decoded as {other:?}"),
        }
    }

    #[test]
    fn errors_name_the_problem() {
        let cases: [(&str, &str); 8] = [
            ("not json", "not valid JSON"),
            ("[1,2]", "JSON object"),
            (r#"{"language":"python"}"#, "missing string field `action`"),
            (r#"{"action":"explode"}"#, "unknown action `explode`"),
            (r#"{"action":"stdin","data":"x"}"#, "missing field `id`"),
            (
                r#"{"action":"execute","language":5}"#,
                "invalid `execute` message",
            ),
            // serde's sequence form of a struct is not a way to give limits.
            (
                r#"{"action":"execute","language":"python","code":"1","limits":[1]}"#,
                "an object of limits",
            ),
            (
                r#"{"action":"create_session","language":"python","limits":[1, 2]}"#,
                "an object of limits",
            ),
        ];
        for (frame, expected) in cases {
            let error = decode_client_frame(frame, 1 << 20).expect_err(frame);
            assert!(
                error.to_string().contains(expected),
                "{frame}: {error} should contain {expected}"
            );
            assert_eq!(error.code(), ErrorCode::BadRequest);
        }
    }

    #[test]
    fn oversized_frame_is_payload_too_large() {
        let error = decode_client_frame(&"x".repeat(100), 10).expect_err("too large");
        assert_eq!(error.code(), ErrorCode::PayloadTooLarge);
    }

    proptest! {
        #[test]
        fn arbitrary_text_never_panics(text in ".{0,200}") {
            let _ = decode_client_frame(&text, 1 << 20);
        }

        #[test]
        fn arbitrary_json_objects_never_panic(
            action in prop::sample::select(ACTIONS.to_vec()),
            key in "[a-z_]{1,10}",
            value in prop_oneof![
                Just(serde_json::json!(null)),
                any::<i64>().prop_map(|n| serde_json::json!(n)),
                ".{0,20}".prop_map(|s| serde_json::json!(s)),
                Just(serde_json::json!([1, "a", {}])),
            ],
        ) {
            let frame = serde_json::json!({"action": action, key: value}).to_string();
            match decode_client_frame(&frame, 1 << 20) {
                Ok(message) => prop_assert_eq!(message.action(), action),
                Err(error) => prop_assert_eq!(error.code(), ErrorCode::BadRequest),
            }
        }

        #[test]
        fn execute_round_trips(
            language in "[a-z+]{1,10}",
            code in ".{0,100}",
            stream in any::<bool>(),
            id in proptest::option::of("[a-z0-9]{1,8}"),
        ) {
            let message = ClientMessage::Execute(crate::ExecuteRequest {
                id, language, code: Some(code), stream, ..Default::default()
            });
            let text = serde_json::to_string(&message).expect("serializes");
            prop_assert_eq!(decode_client_frame(&text, 1 << 20).expect("decodes"), message);
        }
    }
}
