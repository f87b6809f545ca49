//! Run output on the wire: a run's logged events as messages ([`RunMeta`]), one accumulated
//! `result` otherwise, and the final `exit`/`result` figures from a [`RunOutcome`].

use base64::Engine as _;
use runnel_engine::log::Entry;
use runnel_engine::run::signal_name;
use runnel_engine::{RunEvent, RunOutcome};
use runnel_protocol::server::{ExitMessage, StartedMessage};
use runnel_protocol::{OutputChunk, ResultMessage, RunStatus, ServerMessage, Stage, StreamName};

/// A run's id, language and version: what its events need to become messages.
#[derive(Debug, Clone)]
pub(crate) struct RunMeta {
    pub(crate) id: String,
    language: String,
    version: String,
}

impl RunMeta {
    /// The run `id` of `language` at `version`.
    pub(crate) fn new(id: String, language: String, version: String) -> RunMeta {
        RunMeta {
            id,
            language,
            version,
        }
    }

    /// The message of one logged event, carrying the event's `seq`.
    pub(crate) fn message(&self, entry: &Entry<RunEvent>) -> ServerMessage {
        let seq = entry.seq;
        match &entry.kind {
            RunEvent::Started => ServerMessage::Started(StartedMessage {
                id: self.id.clone(),
                language: self.language.clone(),
                version: self.version.clone(),
                session: None,
                seq,
            }),
            RunEvent::Output {
                stage,
                stream,
                data,
            } => output_message(self.id.clone(), None, *stage, *stream, data, seq),
            RunEvent::Exit(outcome) => {
                ServerMessage::Exit(exit_message(self.id.clone(), outcome.clone(), seq))
            }
        }
    }
}

/// A `stdout` or `stderr` message of run `id` (in `session`, if any) carrying `data`.
pub(crate) fn output_message(
    id: String,
    session: Option<String>,
    stage: Stage,
    stream: StreamName,
    data: &[u8],
    seq: u64,
) -> ServerMessage {
    let (data, encoding) = encode_chunk(data.to_vec());
    let chunk = OutputChunk {
        id,
        data,
        seq,
        stage: (stage == Stage::Compile).then_some(Stage::Compile),
        encoding,
        session,
    };
    match stream {
        StreamName::Stdout => ServerMessage::Stdout(chunk),
        StreamName::Stderr => ServerMessage::Stderr(chunk),
    }
}

/// The text of a chunk: as is when the bytes are UTF-8, else base64 with `encoding: "base64"`.
pub(crate) fn encode_chunk(data: Vec<u8>) -> (String, Option<String>) {
    match String::from_utf8(data) {
        Ok(text) => (text, None),
        Err(error) => (
            base64::engine::general_purpose::STANDARD.encode(error.as_bytes()),
            Some("base64".to_owned()),
        ),
    }
}

/// Collects a run's output for one `result` message, up to the output limit.
#[derive(Debug)]
pub(crate) struct ResultAccumulator {
    limit: usize,
    stdout: Vec<u8>,
    stderr: Vec<u8>,
    compile: Vec<u8>,
    truncated: bool,
    compile_truncated: bool,
}

impl ResultAccumulator {
    /// Keep at most `limit` bytes of run output (stdout plus stderr), and as much of compile
    /// output.
    pub(crate) fn new(limit: u64) -> ResultAccumulator {
        ResultAccumulator {
            limit: usize::try_from(limit).unwrap_or(usize::MAX),
            stdout: Vec::new(),
            stderr: Vec::new(),
            compile: Vec::new(),
            truncated: false,
            compile_truncated: false,
        }
    }

    /// Add one chunk.
    pub(crate) fn push(&mut self, stage: Stage, stream: StreamName, data: &[u8]) {
        let (buffer, used, truncated) = match (stage, stream) {
            (Stage::Compile, _) => (&mut self.compile, 0, &mut self.compile_truncated),
            (Stage::Run, StreamName::Stdout) => {
                (&mut self.stdout, self.stderr.len(), &mut self.truncated)
            }
            (Stage::Run, StreamName::Stderr) => {
                (&mut self.stderr, self.stdout.len(), &mut self.truncated)
            }
        };
        if *truncated {
            // Once cut, later (smaller) chunks must not fill the gap out of order.
            return;
        }
        let room = self.limit.saturating_sub(used + buffer.len());
        if data.len() > room {
            buffer.extend_from_slice(&data[..room]);
            trim_partial_character(buffer);
            *truncated = true;
        } else {
            buffer.extend_from_slice(data);
        }
    }

    /// The `result` message.
    pub(crate) fn finish(
        self,
        id: String,
        language: String,
        version: String,
        outcome: RunOutcome,
    ) -> ResultMessage {
        let compile_output = (!self.compile.is_empty()).then(|| lossy(self.compile));
        ResultMessage {
            id,
            language,
            version,
            stdout: lossy(self.stdout),
            stderr: lossy(self.stderr),
            compile_output,
            exit_code: outcome.exit_code,
            signal: outcome.signal.map(signal_name),
            status: outcome.status,
            execution_time: millis(outcome.wall_time),
            compile_time: millis(outcome.compile_time),
            cached: outcome.cached,
            cpu_time: millis(outcome.cpu_time),
            memory: outcome.peak_memory,
            truncated: outcome.truncated || self.truncated || self.compile_truncated,
            message: outcome.message,
        }
    }
}

/// The `exit` message of a streamed run.
pub(crate) fn exit_message(id: String, outcome: RunOutcome, seq: u64) -> ExitMessage {
    ExitMessage {
        id,
        exit_code: outcome.exit_code,
        signal: outcome.signal.map(signal_name),
        status: outcome.status,
        execution_time: millis(outcome.wall_time),
        compile_time: millis(outcome.compile_time),
        cached: outcome.cached,
        cpu_time: millis(outcome.cpu_time),
        memory: outcome.peak_memory,
        truncated: outcome.truncated,
        message: outcome.message,
        seq,
        session: None,
    }
}

/// The outcome reported when the engine's event stream ends without an exit (an engine fault).
pub(crate) fn lost_outcome() -> RunOutcome {
    RunOutcome {
        status: RunStatus::InternalError,
        exit_code: None,
        signal: None,
        wall_time: std::time::Duration::ZERO,
        cpu_time: std::time::Duration::ZERO,
        peak_memory: 0,
        compile_time: std::time::Duration::ZERO,
        cached: false,
        truncated: false,
        message: Some("the run ended without an exit status".to_owned()),
    }
}

/// Milliseconds as a float, the unit of every time on the wire.
pub(crate) fn millis(duration: std::time::Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}

fn lossy(bytes: Vec<u8>) -> String {
    String::from_utf8(bytes)
        .unwrap_or_else(|error| String::from_utf8_lossy(error.as_bytes()).into_owned())
}

/// Drop an incomplete UTF-8 sequence left at the end by a cut, so the result does not end in a
/// replacement character the program never wrote.
fn trim_partial_character(buffer: &mut Vec<u8>) {
    if let Err(error) = std::str::from_utf8(buffer) {
        if error.error_len().is_none() {
            buffer.truncate(error.valid_up_to());
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn outcome() -> RunOutcome {
        RunOutcome {
            status: RunStatus::RuntimeError,
            exit_code: None,
            signal: Some(11),
            wall_time: Duration::from_micros(1500),
            cpu_time: Duration::from_millis(1),
            peak_memory: 4096,
            compile_time: Duration::ZERO,
            cached: false,
            truncated: false,
            message: None,
        }
    }

    #[test]
    fn chunks_are_text_when_utf8_else_base64() {
        assert_eq!(encode_chunk("héllo\n".into()), ("héllo\n".to_owned(), None));
        let (data, encoding) = encode_chunk(vec![0xff, 0xfe, b'a']);
        assert_eq!(data, "//5h");
        assert_eq!(encoding.as_deref(), Some("base64"));
        assert_eq!(encode_chunk(Vec::new()), (String::new(), None));
    }

    #[test]
    fn result_accumulates_streams_and_stages() {
        let mut accumulator = ResultAccumulator::new(1 << 20);
        accumulator.push(Stage::Compile, StreamName::Stderr, b"warning\n");
        accumulator.push(Stage::Run, StreamName::Stdout, b"a");
        accumulator.push(Stage::Run, StreamName::Stderr, b"err");
        // A character split across two chunks is joined before decoding.
        accumulator.push(Stage::Run, StreamName::Stdout, &"é".as_bytes()[..1]);
        accumulator.push(Stage::Run, StreamName::Stdout, &"é".as_bytes()[1..]);
        let result = accumulator.finish("r".into(), "c".into(), "12".into(), outcome());
        assert_eq!(result.stdout, "aé");
        assert_eq!(result.stderr, "err");
        assert_eq!(result.compile_output.as_deref(), Some("warning\n"));
        assert_eq!(result.signal.as_deref(), Some("SIGSEGV"));
        assert_eq!(result.execution_time, 1.5);
        assert_eq!(result.memory, 4096);
        assert!(!result.truncated);
    }

    #[test]
    fn result_truncates_at_the_limit_on_a_character_boundary() {
        let mut accumulator = ResultAccumulator::new(5);
        accumulator.push(Stage::Run, StreamName::Stdout, b"abc");
        accumulator.push(Stage::Run, StreamName::Stderr, "dé!".as_bytes());
        accumulator.push(Stage::Run, StreamName::Stdout, b"more");
        let result = accumulator.finish("r".into(), "c".into(), "1".into(), outcome());
        assert_eq!(result.stdout, "abc");
        // "d" fits, half of "é" would: it is dropped rather than shown as U+FFFD.
        assert_eq!(result.stderr, "d");
        assert!(result.truncated);
        assert_eq!(result.compile_output, None);
    }

    #[test]
    fn invalid_utf8_in_results_is_lossy() {
        let mut accumulator = ResultAccumulator::new(100);
        accumulator.push(Stage::Run, StreamName::Stdout, &[b'a', 0xff, b'b']);
        let result = accumulator.finish("r".into(), "c".into(), "1".into(), outcome());
        assert_eq!(result.stdout, "a\u{fffd}b");
    }

    #[test]
    fn exit_carries_the_outcome() {
        let exit = exit_message("r".into(), outcome(), 7);
        assert_eq!(exit.seq, 7);
        assert_eq!(exit.status, RunStatus::RuntimeError);
        assert_eq!(exit.signal.as_deref(), Some("SIGSEGV"));
        assert_eq!(exit.cpu_time, 1.0);
        assert_eq!(lost_outcome().status, RunStatus::InternalError);
    }
}
