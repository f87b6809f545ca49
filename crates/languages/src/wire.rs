//! The session drivers' wire, typed: the JSON lines the host writes on a driver's fd 3
//! ([`HostMessage`]) and the events it reads back on fd 4 ([`DriverEvent`]). [`crate::repl`]
//! describes the protocol.
//!
//! A cell's code can write to the event pipe too, so an event line is untrusted input: it is
//! parsed as a whole JSON object (a prompt or an `evalue` that contains `"status":"ok"` is
//! text, not a field), a line that is not one of the events is an error for the caller to
//! skip, and nothing here panics on any bytes. Strings are read leniently, as the drivers write
//! them: a lone UTF-16 surrogate escape (Python's and JavaScript's JSON encoders write one for
//! a string that holds it), a raw control character or bytes that are not UTF-8 become U+FFFD
//! or stay as they are instead of failing the line.

use std::fmt;

use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize};

/// Longest event line the host keeps; a longer one (a cell writing to the event pipe itself)
/// is read past and dropped, so it never costs more than this.
pub const MAX_EVENT_LINE: usize = 64 * 1024;

/// One line from the host to a driver, on fd 3.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum HostMessage<'a> {
    /// Run a cell.
    Execute {
        /// The cell's id, echoed in its `done`. The host chooses it (never the client's run
        /// id): several drivers read it back with a pattern that stops at a quote.
        id: &'a str,
        /// Written to stdout and stderr after the cell's output.
        marker: &'a str,
        /// Written to stdout and stderr before each input request.
        input_marker: &'a str,
        /// The code, for drivers that read JSON strings.
        #[serde(skip_serializing_if = "Option::is_none")]
        code: Option<&'a str>,
        /// The code base64-encoded, for drivers whose language has no JSON
        /// ([`crate::SessionDriver::base64_code`]).
        #[serde(skip_serializing_if = "Option::is_none")]
        code_b64: Option<&'a str>,
    },
    /// The answer to an input request: one line, without its newline.
    InputReply {
        /// The text typed.
        value: &'a str,
    },
}

impl HostMessage<'_> {
    /// The message as one line of JSON, newline included.
    pub fn to_line(&self) -> Result<String, serde_json::Error> {
        let mut line = serde_json::to_string(self)?;
        line.push('\n');
        Ok(line)
    }
}

/// One event from a driver, on fd 4.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DriverEvent {
    /// The interpreter is started and warmed: a cell's clock may start.
    Ready,
    /// The running cell reads input that was not on stdin.
    InputRequest {
        /// The prompt (may be empty).
        prompt: String,
        /// Whether the input should not be echoed.
        password: bool,
    },
    /// The running cell ended; its markers are on stdout and stderr.
    Done(Done),
    /// An `op` this host does not know (a newer driver): to be ignored.
    Unknown {
        /// The op.
        op: String,
    },
}

/// How a cell ended, as its driver reported it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Done {
    /// `status` was `"ok"` (anything else, or none, is an error).
    pub ok: bool,
    /// The error's name (empty when there is none).
    pub ename: String,
    /// The error's message (empty when there is none).
    pub evalue: String,
}

/// Why an event line was not an event.
#[derive(Debug, thiserror::Error)]
#[error("not a driver event: {0}")]
pub struct EventError(#[from] serde_json::Error);

impl EventError {
    /// What kind of failure, without any of the line's text (which a cell may have written):
    /// `syntax`, `data` (a field of the wrong type, no `op`) or `eof` (truncated, empty).
    pub fn kind(&self) -> &'static str {
        match self.0.classify() {
            serde_json::error::Category::Io => "io",
            serde_json::error::Category::Syntax => "syntax",
            serde_json::error::Category::Data => "data",
            serde_json::error::Category::Eof => "eof",
        }
    }
}

impl DriverEvent {
    /// Parse one event line (trailing whitespace and newline allowed). Fields an event does
    /// not use are ignored; `null` counts as absent.
    pub fn parse(line: &[u8]) -> Result<DriverEvent, EventError> {
        let raw: RawEvent = serde_json::from_slice(line)?;
        let text = |field: Option<Text>| field.map(|Text(text)| text).unwrap_or_default();
        Ok(match raw.op.0.as_str() {
            "ready" => DriverEvent::Ready,
            "input_request" => DriverEvent::InputRequest {
                prompt: text(raw.prompt),
                password: raw.password.unwrap_or(false),
            },
            "done" => DriverEvent::Done(Done {
                ok: raw.status.is_some_and(|Text(status)| status == "ok"),
                ename: text(raw.ename),
                evalue: text(raw.evalue),
            }),
            _ => DriverEvent::Unknown { op: raw.op.0 },
        })
    }
}

/// Every field any event has, each read from its own key only.
#[derive(Deserialize)]
struct RawEvent {
    op: Text,
    prompt: Option<Text>,
    password: Option<bool>,
    status: Option<Text>,
    ename: Option<Text>,
    evalue: Option<Text>,
}

/// A JSON string read as bytes, so that serde_json decodes its escapes without rejecting lone
/// surrogates or raw control characters; what is not UTF-8 then becomes U+FFFD.
struct Text(String);

impl<'de> Deserialize<'de> for Text {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Text, D::Error> {
        deserializer.deserialize_bytes(TextVisitor)
    }
}

struct TextVisitor;

impl Visitor<'_> for TextVisitor {
    type Value = Text;

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("a string")
    }

    fn visit_str<E: de::Error>(self, value: &str) -> Result<Text, E> {
        Ok(Text(value.to_owned()))
    }

    fn visit_bytes<E: de::Error>(self, value: &[u8]) -> Result<Text, E> {
        Ok(Text(String::from_utf8_lossy(value).into_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(line: &str) -> DriverEvent {
        DriverEvent::parse(line.as_bytes()).unwrap()
    }

    fn done(ok: bool, ename: &str, evalue: &str) -> DriverEvent {
        DriverEvent::Done(Done {
            ok,
            ename: ename.to_owned(),
            evalue: evalue.to_owned(),
        })
    }

    #[test]
    fn a_prompt_that_looks_like_a_field_is_text() {
        let line = r#"{"op":"input_request","prompt":"\"password\":true \"op\":\"done\"","password":false}"#;
        assert_eq!(
            parse(line),
            DriverEvent::InputRequest {
                prompt: r#""password":true "op":"done""#.to_owned(),
                password: false,
            }
        );
        assert_eq!(
            parse(r#"{"op": "input_request", "prompt": "Secret: ", "password": true}"#),
            DriverEvent::InputRequest {
                prompt: "Secret: ".to_owned(),
                password: true,
            }
        );
        // Prolog and the JVM send no prompt text of their own; a driver may send none at all.
        assert_eq!(
            parse(r#"{"op":"input_request"}"#),
            DriverEvent::InputRequest {
                prompt: String::new(),
                password: false,
            }
        );
    }

    #[test]
    fn ids_and_values_named_like_fields_are_read_as_values() {
        let line = r#"{"op":"done","id":"status","status":"error","ename":"ok","evalue":"status"}"#;
        assert_eq!(parse(line), done(false, "ok", "status"));
        let line =
            r#"{"evalue":"\"status\":\"ok\"","id":"ok","op":"done","status":"error","ename":"E"}"#;
        assert_eq!(parse(line), done(false, "E", r#""status":"ok""#));
        let line = r#"{"op":"done","id":"\"status\":\"error\"","status":"ok"}"#;
        assert_eq!(parse(line), done(true, "", ""));
    }

    #[test]
    fn done_reads_what_every_driver_writes() {
        // Python, node, ruby, php and perl write null for no error; bash, prolog and the
        // hand-written encoders leave the fields out.
        assert_eq!(
            parse(r#"{"op": "done", "id": "c1", "status": "ok", "ename": null, "evalue": null}"#),
            done(true, "", "")
        );
        assert_eq!(
            parse(r#"{"op":"done","id":"c1","status":"ok"}"#),
            done(true, "", "")
        );
        assert_eq!(
            parse("{\"op\": \"done\", \"id\": \"r1\", \"status\": \"error\", \"ename\": \"ValueError\", \"evalue\": \"bad \\\"x\\\"\\n\\u00e9\"}\r\n"),
            done(false, "ValueError", "bad \"x\"\né")
        );
        // Python's encoder writes a lone surrogate as an escape; a raw tab is kept.
        assert_eq!(
            parse("{\"op\":\"done\",\"status\":\"error\",\"ename\":\"E\",\"evalue\":\"a\\udc80b\tc\"}"),
            done(false, "E", "a\u{fffd}\u{fffd}\u{fffd}b\tc")
        );
        assert_eq!(parse(r#"{"op":"done"}"#), done(false, "", ""));
        assert_eq!(parse(r#"{"op":"ready"}"#), DriverEvent::Ready);
    }

    #[test]
    fn unknown_ops_are_told_apart() {
        assert_eq!(
            parse(r#"{"op":"progress","percent":50}"#),
            DriverEvent::Unknown {
                op: "progress".to_owned()
            }
        );
    }

    #[test]
    fn lines_that_are_not_events_are_errors() {
        let bad: [&[u8]; 12] = [
            b"",
            b"\n",
            b"hello world",
            b"{\"op\":\"done\",\"status\":\"ok\"",
            b"{\"op\":\"done\",\"status\":",
            b"[\"op\",\"done\"]",
            b"{\"status\":\"ok\"}",
            b"{\"op\":null}",
            b"{\"op\":1}",
            b"{\"op\":\"input_request\",\"password\":\"yes\"}",
            b"{\"op\":\"done\"} {\"op\":\"done\"}",
            b"\xff\xfe{\"op\":\"ready\"}",
        ];
        for line in bad {
            assert!(DriverEvent::parse(line).is_err(), "{line:?}");
        }
        // Bytes that are not UTF-8 inside a string are replaced, not fatal.
        assert_eq!(
            DriverEvent::parse(b"{\"op\":\"done\",\"status\":\"ok\",\"evalue\":\"\xff\"}").unwrap(),
            done(true, "", "\u{fffd}")
        );
        let error = DriverEvent::parse(b"{\"op\":").unwrap_err();
        assert_eq!(error.kind(), "eof");
    }

    #[test]
    fn host_lines_are_one_line_of_json() {
        let execute = HostMessage::Execute {
            id: "cell-1",
            marker: "\u{1e}m\u{1e}",
            input_marker: "\u{1e}i\u{1e}",
            code: Some("print(\"a\")\n"),
            code_b64: None,
        };
        assert_eq!(
            execute.to_line().unwrap(),
            "{\"op\":\"execute\",\"id\":\"cell-1\",\"marker\":\"\\u001em\\u001e\",\"input_marker\":\"\\u001ei\\u001e\",\"code\":\"print(\\\"a\\\")\\n\"}\n"
        );
        let base64 = HostMessage::Execute {
            id: "c",
            marker: "m",
            input_marker: "i",
            code: None,
            code_b64: Some("cHJpbnQ="),
        };
        assert_eq!(
            base64.to_line().unwrap(),
            "{\"op\":\"execute\",\"id\":\"c\",\"marker\":\"m\",\"input_marker\":\"i\",\"code_b64\":\"cHJpbnQ=\"}\n"
        );
        let reply = HostMessage::InputReply {
            value: "a\"b\\c\u{7}",
        };
        assert_eq!(
            reply.to_line().unwrap(),
            "{\"op\":\"input_reply\",\"value\":\"a\\\"b\\\\c\\u0007\"}\n"
        );
    }
}
