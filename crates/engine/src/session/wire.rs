//! The session driver's wire, host side: reading the driver's event lines (bounded, each
//! parsed as a [`DriverEvent`]) and reading stdout and stderr up to each cell's marker (and
//! past input markers). The lines' types are `runnel_languages::wire`.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use runnel_languages::wire::{Done, DriverEvent, MAX_EVENT_LINE};
use runnel_protocol::StreamName;
use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncReadExt};
use tokio::net::unix::pipe;

use crate::output::Utf8Chunker;

/// What a cell sends out while it runs.
pub(crate) enum CellEvent {
    Output(StreamName, Vec<u8>),
    InputRequest { prompt: String, password: bool },
}

/// Longest an input request waits for the output written before it.
const INPUT_SYNC_WAIT: Duration = Duration::from_millis(500);
/// One read from stdout or stderr.
const READ_BYTES: usize = 64 * 1024;
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
    events: &mut (impl AsyncBufRead + Unpin),
    waiting_for_input: &AtomicBool,
    synced: &InputSync,
    emit: &(dyn Fn(CellEvent) + Sync),
) -> Option<Done> {
    let mut line = Vec::new();
    let mut requests = 0_u32;
    loop {
        match next_event(events, &mut line).await? {
            DriverEvent::InputRequest { prompt, password } => {
                requests += 1;
                synced.wait_for(requests).await;
                waiting_for_input.store(true, Ordering::Release);
                emit(CellEvent::InputRequest { prompt, password });
            }
            DriverEvent::Done(done) => return Some(done),
            DriverEvent::Ready => tracing::debug!("driver said ready again; ignored"),
            // Its text is a cell's to write, so it is logged at trace only.
            DriverEvent::Unknown { op } => {
                tracing::trace!(op = %op.escape_debug(), "unknown driver event; ignored")
            }
        }
    }
}

/// The next driver event, skipping (and logging at debug) the lines that are not one: too
/// long, not JSON, not an event. `None` at the end of the pipe or on a read error.
pub(super) async fn next_event(
    events: &mut (impl AsyncBufRead + Unpin),
    line: &mut Vec<u8>,
) -> Option<DriverEvent> {
    loop {
        match read_event_line(events, line).await {
            Ok(EventLine::End) => return None,
            Err(error) => {
                tracing::debug!(%error, "driver event pipe read failed");
                return None;
            }
            Ok(EventLine::TooLong) => {
                tracing::debug!(
                    limit = MAX_EVENT_LINE,
                    "driver event line too long; dropped"
                );
            }
            Ok(EventLine::Line) => match DriverEvent::parse(line) {
                Ok(event) => return Some(event),
                // The line's text is not logged: a cell may have written it.
                Err(error) => tracing::debug!(
                    kind = error.kind(),
                    bytes = line.len(),
                    "driver event line is not an event; skipped"
                ),
            },
        }
    }
}

/// What [`read_event_line`] read.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum EventLine {
    /// A line (its newline included when it had one) is in the buffer.
    Line,
    /// A line longer than [`MAX_EVENT_LINE`] was read past; the buffer is empty.
    TooLong,
    /// The pipe ended.
    End,
}

/// Read one line of at most [`MAX_EVENT_LINE`] bytes into `line`; a longer line is consumed
/// whole without being kept.
pub(super) async fn read_event_line(
    events: &mut (impl AsyncBufRead + Unpin),
    line: &mut Vec<u8>,
) -> std::io::Result<EventLine> {
    line.clear();
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
        if !oversized && line.len() + take <= MAX_EVENT_LINE {
            line.extend_from_slice(&buffer[..take]);
        } else {
            oversized = true;
            line.clear();
        }
        events.consume(take);
        if done {
            break;
        }
    }
    Ok(match (any, oversized) {
        (false, _) => EventLine::End,
        (true, true) => EventLine::TooLong,
        (true, false) => EventLine::Line,
    })
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

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;

    /// Every event `read_done` emits, and its `done`, for `input` read `chunk` bytes at a time.
    async fn read_all(input: &[u8], chunk: usize) -> (Vec<(String, bool)>, Option<Done>) {
        let mut events = tokio::io::BufReader::with_capacity(chunk, input);
        let requests = Mutex::new(Vec::new());
        let synced = InputSync::default();
        // Both streams passed every input marker already: no request waits for them.
        for _ in 0..8 {
            synced.pass();
        }
        let emit = |event: CellEvent| {
            if let CellEvent::InputRequest { prompt, password } = event {
                requests.lock().unwrap().push((prompt, password));
            }
        };
        let done = read_done(&mut events, &AtomicBool::new(false), &synced, &emit).await;
        (requests.into_inner().unwrap(), done)
    }

    #[tokio::test]
    async fn field_text_inside_values_changes_nothing() {
        let input = concat!(
            r#"{"op":"input_request","prompt":"say \"password\":true","password":false}"#,
            "\n",
            r#"{"op":"done","id":"status","status":"error","ename":"ok","evalue":"status"}"#,
            "\n",
        );
        let (requests, done) = read_all(input.as_bytes(), 4096).await;
        assert_eq!(requests, [(r#"say "password":true"#.to_owned(), false)]);
        let done = done.unwrap();
        assert!(!done.ok);
        assert_eq!(
            (done.ename.as_str(), done.evalue.as_str()),
            ("ok", "status")
        );
    }

    #[tokio::test]
    async fn an_oversized_line_is_dropped_and_the_next_one_read() {
        // Read 1000 bytes at a time: the long line spans many reads.
        let mut input = format!(
            r#"{{"op":"done","status":"ok","evalue":"{}"}}"#,
            "x".repeat(MAX_EVENT_LINE)
        );
        input.push('\n');
        input.push_str("{\"op\":\"done\",\"status\":\"error\",\"ename\":\"E\"}\n");
        let (_, done) = read_all(input.as_bytes(), 1000).await;
        let done = done.unwrap();
        assert_eq!((done.ok, done.ename.as_str()), (false, "E"));

        let mut events = tokio::io::BufReader::with_capacity(1000, input.as_bytes());
        let mut line = Vec::new();
        let first = read_event_line(&mut events, &mut line).await.unwrap();
        assert_eq!((first, line.len()), (EventLine::TooLong, 0));
        let second = read_event_line(&mut events, &mut line).await.unwrap();
        assert_eq!(second, EventLine::Line);
        assert!(line.starts_with(b"{\"op\":\"done\",\"status\":\"error\""));
        let end = read_event_line(&mut events, &mut line).await.unwrap();
        assert_eq!(end, EventLine::End);
    }

    #[tokio::test]
    async fn a_line_of_exactly_the_limit_is_kept() {
        let head = r#"{"op":"done","status":"ok","evalue":""#;
        let tail = "\"}\n";
        let fill = MAX_EVENT_LINE - head.len() - tail.len();
        let input = format!("{head}{}{tail}", "y".repeat(fill));
        assert_eq!(input.len(), MAX_EVENT_LINE);
        let (_, done) = read_all(input.as_bytes(), 777).await;
        assert_eq!(done.unwrap().evalue.len(), fill);
    }

    #[tokio::test]
    async fn lines_that_are_not_events_are_skipped() {
        let mut input: Vec<u8> = Vec::new();
        for bad in [
            &b"garbage"[..],
            b"\xff\xfe\x00\x01",
            b"{\"op\":\"done\",\"status\":",
            b"",
            b"{\"op\":\"progress\",\"percent\":5}",
            b"{\"op\":\"ready\"}",
            b"{\"op\":\"input_request\",\"prompt\":\"\xffname? \",\"password\":true}",
            b"[1,2,3]",
            b"{\"op\":\"done\",\"status\":\"ok\"}",
        ] {
            input.extend_from_slice(bad);
            input.push(b'\n');
        }
        let (requests, done) = read_all(&input, 3).await;
        assert_eq!(requests, [("\u{fffd}name? ".to_owned(), true)]);
        assert!(done.unwrap().ok);
    }

    #[tokio::test]
    async fn a_truncated_last_line_ends_without_done() {
        let (requests, done) = read_all(b"{\"op\":\"done\",\"status\":\"ok\"", 64).await;
        assert!(requests.is_empty());
        assert!(done.is_none());
    }

    #[test]
    fn partial_markers_are_held_back() {
        let marker = b"\x1erunnel-ab\x1e";
        assert_eq!(partial_marker_len(b"hello\x1erun", marker), 4);
        assert_eq!(partial_marker_len(b"hello", marker), 0);
        assert_eq!(partial_marker_len(b"\x1e", marker), 1);
    }
}
