//! Reading a program's pipes into UTF-8-aligned chunks, under a shared output cap.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use runnel_protocol::{Stage, StreamName};
use tokio::io::AsyncReadExt;
use tokio::sync::mpsc;

use crate::run::RunEvent;

/// Size of one read from a pipe; also the largest chunk sent to a client.
const READ_BUFFER_BYTES: usize = 64 * 1024;

/// The output budget of one run, shared by stdout and stderr.
#[derive(Debug)]
pub(crate) struct OutputBudget {
    remaining: AtomicU64,
    exceeded: AtomicBool,
    /// Woken when the budget runs out, so the run can be killed at once.
    pub(crate) exceeded_notify: tokio::sync::Notify,
}

impl OutputBudget {
    pub(crate) fn new(limit: u64) -> Arc<Self> {
        Arc::new(OutputBudget {
            remaining: AtomicU64::new(limit),
            exceeded: AtomicBool::new(false),
            exceeded_notify: tokio::sync::Notify::new(),
        })
    }

    /// Take up to `wanted` bytes of budget; returns how many may be sent.
    fn take(&self, wanted: usize) -> usize {
        let wanted = wanted as u64;
        let mut current = self.remaining.load(Ordering::Relaxed);
        loop {
            let granted = current.min(wanted);
            match self.remaining.compare_exchange_weak(
                current,
                current - granted,
                Ordering::AcqRel,
                Ordering::Relaxed,
            ) {
                Ok(_) => {
                    if granted < wanted {
                        self.exceeded.store(true, Ordering::Release);
                        self.exceeded_notify.notify_one();
                    }
                    // `granted` is at most `wanted`, which came from a usize.
                    return usize::try_from(granted).unwrap_or(usize::MAX);
                }
                Err(actual) => current = actual,
            }
        }
    }

    pub(crate) fn exceeded(&self) -> bool {
        self.exceeded.load(Ordering::Acquire)
    }
}

/// Splits a byte stream into chunks that never end inside a UTF-8 character.
///
/// Bytes that are not UTF-8 at all pass through unchanged (the gateway sends such chunks as
/// base64), so nothing is ever lost or altered.
#[derive(Debug, Default)]
pub(crate) struct Utf8Chunker {
    pending: Vec<u8>,
}

impl Utf8Chunker {
    /// Append `bytes` and return what can be emitted now.
    pub(crate) fn push(&mut self, bytes: &[u8]) -> Vec<u8> {
        self.pending.extend_from_slice(bytes);
        let keep = incomplete_tail(&self.pending);
        let emit_len = self.pending.len() - keep;
        let rest = self.pending.split_off(emit_len);
        std::mem::replace(&mut self.pending, rest)
    }

    /// Whatever is left at end of stream.
    pub(crate) fn finish(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.pending)
    }
}

/// Length of a trailing, possibly incomplete UTF-8 sequence (0 to 3 bytes) worth holding back.
fn incomplete_tail(bytes: &[u8]) -> usize {
    // Look at most 3 bytes back for the start of a multi-byte sequence.
    for back in 1..=bytes.len().min(3) {
        let byte = bytes[bytes.len() - back];
        if byte & 0b1100_0000 == 0b1000_0000 {
            continue; // continuation byte: keep looking for the lead byte
        }
        let needed = if byte & 0b1110_0000 == 0b1100_0000 {
            2
        } else if byte & 0b1111_0000 == 0b1110_0000 {
            3
        } else if byte & 0b1111_1000 == 0b1111_0000 {
            4
        } else {
            return 0; // ASCII or an invalid lead byte: nothing to wait for
        };
        return if back < needed { back } else { 0 };
    }
    0
}

/// Read one pipe to its end, sending chunks as events. Returns when the pipe closes or the
/// receiver of events is gone.
pub(crate) async fn pump(
    mut pipe: tokio::net::unix::pipe::Receiver,
    stage: Stage,
    stream: StreamName,
    budget: Arc<OutputBudget>,
    events: mpsc::Sender<RunEvent>,
) {
    let mut buffer = vec![0u8; READ_BUFFER_BYTES];
    let mut chunker = Utf8Chunker::default();
    loop {
        let read = match pipe.read(&mut buffer).await {
            Ok(0) | Err(_) => break,
            Ok(read) => read,
        };
        if budget.exceeded() {
            continue; // keep draining so the writer never blocks; send nothing more
        }
        let allowed = budget.take(read);
        let data = chunker.push(&buffer[..allowed]);
        if !data.is_empty() {
            let event = RunEvent::Output {
                stage,
                stream,
                data,
            };
            if events.send(event).await.is_err() {
                return;
            }
        }
    }
    let rest = chunker.finish();
    if !rest.is_empty() {
        let _ = events
            .send(RunEvent::Output {
                stage,
                stream,
                data: rest,
            })
            .await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunker_holds_back_split_characters() {
        let text = "héllo → wörld 🎉".as_bytes();
        for split in 0..text.len() {
            let mut chunker = Utf8Chunker::default();
            let first = chunker.push(&text[..split]);
            let second = chunker.push(&text[split..]);
            let last = chunker.finish();
            assert!(std::str::from_utf8(&first).is_ok(), "split at {split}");
            assert!(std::str::from_utf8(&second).is_ok(), "split at {split}");
            assert!(last.is_empty());
            assert_eq!([first, second].concat(), text);
        }
    }

    #[test]
    fn chunker_passes_invalid_bytes_through() {
        let mut chunker = Utf8Chunker::default();
        let bytes = [0xff, 0xfe, b'a', 0x80];
        let emitted = chunker.push(&bytes);
        let rest = chunker.finish();
        assert_eq!([emitted, rest].concat(), bytes);
    }

    #[test]
    fn budget_grants_up_to_the_limit_then_flags() {
        let budget = OutputBudget::new(10);
        assert_eq!(budget.take(4), 4);
        assert!(!budget.exceeded());
        assert_eq!(budget.take(10), 6);
        assert!(budget.exceeded());
        assert_eq!(budget.take(1), 0);
    }
}
