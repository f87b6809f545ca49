//! What a client sends to a run (stdin and signals), bounded: a run holds at most
//! [`MAX_PENDING_STDIN`] bytes of stdin its program has not taken yet, and at most
//! [`MAX_PENDING_INPUTS`] messages not yet handled. Past either, a write is refused by name, so a
//! program that never reads its stdin cannot make the server hold what a client keeps sending.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use tokio::sync::mpsc;

use crate::signal::Signal;

/// Most stdin bytes (plus [`CHUNK_OVERHEAD`] per write) a run holds before its program reads
/// them.
pub const MAX_PENDING_STDIN: usize = 1 << 20;
/// Most messages (stdin writes and signals) waiting for a run to handle them.
pub(crate) const MAX_PENDING_INPUTS: usize = 1024;
/// What each stdin write costs besides its bytes, so that empty writes are bounded too.
const CHUNK_OVERHEAD: usize = 64;

/// Why a write to a run's stdin was not taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum StdinRefused {
    /// The run has ended (or never existed here).
    #[error("the run has ended")]
    Closed,
    /// The program has not read what was sent before: at most `max_bytes` wait for it.
    #[error(
        "{max_bytes} bytes of stdin already wait for the program to read them; send more once it reads"
    )]
    Full {
        /// The bound.
        max_bytes: usize,
    },
}

/// A stdin write on its way to the program; its bytes count against the run's bound until it
/// is dropped (written to the program's pipe, or given up).
#[derive(Debug)]
pub(crate) struct StdinChunk {
    pub(crate) data: Vec<u8>,
    pub(crate) eof: bool,
    /// Told once the bytes are in the program's pipe (or given up).
    pub(crate) written: Option<tokio::sync::oneshot::Sender<()>>,
    _charge: Charge,
}

impl StdinChunk {
    /// A chunk that counts against no bound (stdin given up front, already bounded by the
    /// request's size).
    pub(crate) fn unbounded(data: Vec<u8>, eof: bool) -> StdinChunk {
        StdinChunk {
            data,
            eof,
            written: None,
            _charge: Charge {
                pending: None,
                bytes: 0,
            },
        }
    }
}

#[derive(Debug)]
struct Charge {
    pending: Option<Arc<AtomicUsize>>,
    bytes: usize,
}

impl Drop for Charge {
    fn drop(&mut self) {
        if let Some(pending) = &self.pending {
            pending.fetch_sub(self.bytes, Ordering::AcqRel);
        }
    }
}

/// One message for a run.
#[derive(Debug)]
pub(crate) enum RunInput {
    Stdin(StdinChunk),
    Signal(Signal),
}

/// The sending side of a run's input; cheap to clone.
#[derive(Debug, Clone)]
pub(crate) struct InputSender {
    sender: mpsc::Sender<RunInput>,
    pending: Arc<AtomicUsize>,
}

/// A run's input channel.
pub(crate) fn channel() -> (InputSender, mpsc::Receiver<RunInput>) {
    let (sender, receiver) = mpsc::channel(MAX_PENDING_INPUTS);
    let sender = InputSender {
        sender,
        pending: Arc::new(AtomicUsize::new(0)),
    };
    (sender, receiver)
}

impl InputSender {
    /// Queue `data` for the program's stdin (and close it after when `eof`).
    pub(crate) fn stdin(&self, data: Vec<u8>, eof: bool) -> Result<(), StdinRefused> {
        if self.sender.is_closed() {
            return Err(StdinRefused::Closed);
        }
        let bytes = data.len() + CHUNK_OVERHEAD;
        let before = self.pending.fetch_add(bytes, Ordering::AcqRel);
        let charge = Charge {
            pending: Some(Arc::clone(&self.pending)),
            bytes,
        };
        let full = StdinRefused::Full {
            max_bytes: MAX_PENDING_STDIN,
        };
        // One write larger than the bound is taken when nothing else waits: the client's
        // frame limit bounds it.
        if before > 0 && before + bytes > MAX_PENDING_STDIN {
            return Err(full);
        }
        let chunk = StdinChunk {
            data,
            eof,
            written: None,
            _charge: charge,
        };
        match self.sender.try_send(RunInput::Stdin(chunk)) {
            Ok(()) => Ok(()),
            Err(mpsc::error::TrySendError::Full(_)) => Err(full),
            Err(mpsc::error::TrySendError::Closed(_)) => Err(StdinRefused::Closed),
        }
    }

    /// Send a signal; false when the run has ended or too many messages wait.
    pub(crate) fn signal(&self, signal: Signal) -> bool {
        self.sender.try_send(RunInput::Signal(signal)).is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unread_stdin_is_bounded_and_freed_when_taken() {
        let (sender, mut receiver) = channel();
        let half = vec![b'x'; MAX_PENDING_STDIN / 2];
        assert_eq!(sender.stdin(half.clone(), false), Ok(()));
        assert_eq!(
            sender.stdin(half.clone(), false),
            Err(StdinRefused::Full {
                max_bytes: MAX_PENDING_STDIN
            })
        );
        // A refused write costs nothing; taking the first frees its bytes.
        drop(receiver.try_recv().expect("the first write waits"));
        assert_eq!(sender.stdin(half, false), Ok(()));
        // One write over the bound is taken when nothing waits before it.
        drop(receiver.try_recv().expect("the second write waits"));
        assert_eq!(sender.stdin(vec![0; MAX_PENDING_STDIN * 2], true), Ok(()));
        drop(receiver);
        assert_eq!(sender.stdin(Vec::new(), true), Err(StdinRefused::Closed));
    }

    #[test]
    fn messages_are_bounded_in_number() {
        let (sender, _receiver) = channel();
        for _ in 0..MAX_PENDING_INPUTS {
            assert!(sender.signal(Signal::Interrupt));
        }
        assert!(!sender.signal(Signal::Interrupt));
        assert!(matches!(
            sender.stdin(Vec::new(), false),
            Err(StdinRefused::Full { .. })
        ));
    }
}
