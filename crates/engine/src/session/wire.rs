//! The session driver's wire, host side: building `execute` lines, reading the driver's JSON
//! events, and reading stdout and stderr up to each cell's marker (and past input markers).

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use base64::Engine as _;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};
use tokio::net::unix::pipe;

use super::repl::CellEvent;
use crate::output::Utf8Chunker;

/// Longest an input request waits for the output written before it.
const INPUT_SYNC_WAIT: Duration = Duration::from_millis(500);
/// One read from stdout or stderr.
const READ_BYTES: usize = 64 * 1024;
/// Longest driver event line kept; a longer one (a cell writing to the event pipe itself) is
/// read past and dropped, so it never costs more than this.
pub(super) const MAX_EVENT_LINE: usize = 64 * 1024;

/// `done` as the driver reported it.
pub(super) struct Done {
    pub(super) ok: bool,
    pub(super) ename: String,
    pub(super) evalue: String,
}

/// How many input markers each output stream has passed: an input request is told to the
/// client only once the output written before it (which the driver flushed, then marked) is out.
#[derive(Default)]
pub(super) struct InputSync {
    passed: std::sync::atomic::AtomicU32,
    notify: tokio::sync::Notify,
}

impl InputSync {
    pub(super) fn pass(&self) {
        self.passed.fetch_add(1, Ordering::AcqRel);
        self.notify.notify_waiters();
    }

    /// Wait until both streams passed `requests` input markers (bounded: a driver that writes
    /// none only costs the wait).
    pub(super) async fn wait_for(&self, requests: u32) {
        let wanted = requests * 2;
        let _ = tokio::time::timeout(INPUT_SYNC_WAIT, async {
            loop {
                let notified = self.notify.notified();
                if self.passed.load(Ordering::Acquire) >= wanted {
                    return;
                }
                notified.await;
            }
        })
        .await;
    }
}

/// Read driver events until `done`; `None` if the driver went away first.
pub(super) async fn read_done(
    events: &mut BufReader<pipe::Receiver>,
    waiting_for_input: &AtomicBool,
    synced: &InputSync,
    emit: &(dyn Fn(CellEvent) + Sync),
) -> Option<Done> {
    let mut line = String::new();
    let mut requests = 0_u32;
    loop {
        match read_event_line(events, &mut line).await {
            Ok(false) | Err(_) => return None,
            Ok(true) => {}
        }
        let Some(op) = json_field(&line, "op") else {
            continue;
        };
        match op.as_str() {
            "input_request" => {
                requests += 1;
                synced.wait_for(requests).await;
                waiting_for_input.store(true, Ordering::Release);
                emit(CellEvent::InputRequest {
                    prompt: json_field(&line, "prompt").unwrap_or_default(),
                    password: line.contains("\"password\":true")
                        || line.contains("\"password\": true"),
                });
            }
            "done" => {
                return Some(Done {
                    ok: json_field(&line, "status").as_deref() == Some("ok"),
                    ename: json_field(&line, "ename").unwrap_or_default(),
                    evalue: json_field(&line, "evalue").unwrap_or_default(),
                });
            }
            _ => {}
        }
    }
}

/// Read one line of at most [`MAX_EVENT_LINE`] bytes into `line`; a longer line is consumed
/// whole and leaves `line` empty. False at the end of the pipe.
pub(super) async fn read_event_line(
    events: &mut BufReader<pipe::Receiver>,
    line: &mut String,
) -> std::io::Result<bool> {
    line.clear();
    let mut bytes = Vec::new();
    let mut oversized = false;
    let mut any = false;
    loop {
        let buffer = events.fill_buf().await?;
        if buffer.is_empty() {
            break;
        }
        any = true;
        let (take, done) = match buffer.iter().position(|&byte| byte == b'\n') {
            Some(end) => (end + 1, true),
            None => (buffer.len(), false),
        };
        if !oversized && bytes.len() + take <= MAX_EVENT_LINE {
            bytes.extend_from_slice(&buffer[..take]);
        } else {
            oversized = true;
            bytes = Vec::new();
        }
        events.consume(take);
        if done {
            break;
        }
    }
    if !oversized {
        *line = String::from_utf8_lossy(&bytes).into_owned();
    }
    Ok(any)
}

/// A pipe read up to each cell's marker, which is stripped. Bytes after a marker stay for the
/// next cell; a tail that could be the start of the marker is held back until it is decided.
pub(super) struct MarkedStream {
    pub(super) pipe: pipe::Receiver,
    pending: Vec<u8>,
    chunker: Utf8Chunker,
}

impl MarkedStream {
    pub(super) fn new(pipe: pipe::Receiver) -> MarkedStream {
        MarkedStream {
            pipe,
            pending: Vec::new(),
            chunker: Utf8Chunker::default(),
        }
    }

    /// Emit output up to `marker`; false if the pipe ended first. Each `input_marker` on the
    /// way is stripped and counted in `synced`.
    pub(super) async fn read_to_marker(
        &mut self,
        marker: &str,
        input_marker: &str,
        synced: &InputSync,
        mut emit: impl FnMut(Vec<u8>),
    ) -> bool {
        let marker = marker.as_bytes();
        let input_marker = input_marker.as_bytes();
        let mut buffer = vec![0u8; READ_BYTES];
        loop {
            while let Some(position) = find(&self.pending, input_marker) {
                let rest = self.pending.split_off(position + input_marker.len());
                self.pending.truncate(position);
                let before = std::mem::replace(&mut self.pending, rest);
                let data = self.chunker.push(&before);
                if !data.is_empty() {
                    emit(data);
                }
                synced.pass();
            }
            if let Some(position) = find(&self.pending, marker) {
                let rest = self.pending.split_off(position + marker.len());
                self.pending.truncate(position);
                let before = std::mem::replace(&mut self.pending, rest);
                let mut data = self.chunker.push(&before);
                data.extend(self.chunker.finish());
                if !data.is_empty() {
                    emit(data);
                }
                return true;
            }
            let hold = partial_marker_len(&self.pending, marker)
                .max(partial_marker_len(&self.pending, input_marker));
            let ready = self.pending.len() - hold;
            if ready > 0 {
                let rest = self.pending.split_off(ready);
                let data = self
                    .chunker
                    .push(&std::mem::replace(&mut self.pending, rest));
                if !data.is_empty() {
                    emit(data);
                }
            }
            match self.pipe.read(&mut buffer).await {
                Ok(0) | Err(_) => {
                    let mut data = std::mem::take(&mut self.pending);
                    data = [self.chunker.push(&data), self.chunker.finish()].concat();
                    if !data.is_empty() {
                        emit(data);
                    }
                    return false;
                }
                Ok(read) => self.pending.extend_from_slice(&buffer[..read]),
            }
        }
    }
}

pub(super) fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack
        .windows(needle.len())
        .position(|window| window == needle)
}

/// Length of the longest suffix of `data` that is a proper prefix of `marker`.
pub(super) fn partial_marker_len(data: &[u8], marker: &[u8]) -> usize {
    let longest = data.len().min(marker.len().saturating_sub(1));
    (1..=longest)
        .rev()
        .find(|&length| data.ends_with(&marker[..length]))
        .unwrap_or(0)
}

/// The `execute` line for the driver.
pub(super) fn serde_json_line(
    run_id: &str,
    marker: &str,
    input_marker: &str,
    code: &str,
    base64_code: bool,
) -> String {
    let code_field = if base64_code {
        format!(
            "\"code_b64\":\"{}\"",
            base64::engine::general_purpose::STANDARD.encode(code)
        )
    } else {
        format!("\"code\":{}", json_string(code))
    };
    format!(
        "{{\"op\":\"execute\",\"id\":{},\"marker\":{},\"input_marker\":{},{code_field}}}",
        json_string(run_id),
        json_string(marker),
        json_string(input_marker)
    )
}

/// `value` as a JSON string literal.
pub(super) fn json_string(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('"');
    for c in value.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if u32::from(c) < 0x20 || c == '\u{7f}' => {
                out.push_str(&format!("\\u{:04x}", u32::from(c)));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A string field of a one-line JSON object written by a driver (`null` gives `None`).
pub(super) fn json_field(line: &str, name: &str) -> Option<String> {
    let key = format!("\"{name}\"");
    let start = line.find(&key)? + key.len();
    let rest = line[start..].trim_start().strip_prefix(':')?.trim_start();
    let rest = rest.strip_prefix('"')?;
    let mut out = String::new();
    let mut chars = rest.chars();
    while let Some(c) = chars.next() {
        match c {
            '"' => return Some(out),
            '\\' => match chars.next()? {
                'n' => out.push('\n'),
                'r' => out.push('\r'),
                't' => out.push('\t'),
                'b' => out.push('\u{8}'),
                'f' => out.push('\u{c}'),
                'u' => {
                    let hex: String = chars.by_ref().take(4).collect();
                    let unit = u32::from_str_radix(&hex, 16).ok()?;
                    out.push(char::from_u32(unit).unwrap_or('\u{fffd}'));
                }
                other => out.push(other),
            },
            c => out.push(c),
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn driver_fields_are_read() {
        let line = r#"{"op": "done", "id": "r1", "status": "error", "ename": "ValueError", "evalue": "bad \"x\"\n\u00e9"}"#;
        assert_eq!(json_field(line, "op").as_deref(), Some("done"));
        assert_eq!(json_field(line, "evalue").as_deref(), Some("bad \"x\"\né"));
        assert_eq!(json_field(r#"{"ename":null}"#, "ename"), None);
    }

    #[test]
    fn partial_markers_are_held_back() {
        let marker = b"\x1erunnel-ab\x1e";
        assert_eq!(partial_marker_len(b"hello\x1erun", marker), 4);
        assert_eq!(partial_marker_len(b"hello", marker), 0);
        assert_eq!(partial_marker_len(b"\x1e", marker), 1);
    }

    #[test]
    fn execute_lines_escape_code() {
        let line = serde_json_line(
            "r",
            "\u{1e}m\u{1e}",
            "\u{1e}i\u{1e}",
            "print(\"a\")\n",
            false,
        );
        assert_eq!(
            line,
            r#"{"op":"execute","id":"r","marker":"\u001em\u001e","input_marker":"\u001ei\u001e","code":"print(\"a\")\n"}"#
        );
    }
}
