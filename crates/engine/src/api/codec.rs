//! The boundary's messages as bytes for a bus: MessagePack (`rmp-serde`), with named fields
//! and bytes as MessagePack `bin`.
//!
//! Why this encoding: output, stdin and files are bytes, which JSON can only carry as arrays of
//! numbers or as base64 (a 64 KiB chunk becomes about 87 KiB of base64, or 200 KiB or more as
//! an array); MessagePack carries them as they are, with a few bytes of header. Fields go by
//! name, not position, so a node and a gateway of different versions still read each other:
//! a field one side does not know is skipped, one it lacks takes its default where the type
//! has one. Decoding is bounded: a message over [`MAX_MESSAGE_BYTES`] is refused before it is
//! read, and a malformed one is a named [`DecodeError`], never a panic.

use serde::de::DeserializeOwned;
use serde::Serialize;

/// The largest message [`decode`] reads: a run request at the gateway's largest body, with
/// room for its framing.
pub const MAX_MESSAGE_BYTES: usize = 16 << 20;

/// Why bytes are not a message.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    /// Larger than [`MAX_MESSAGE_BYTES`].
    #[error("a message of {len} bytes is larger than the {max} a message may be")]
    TooLarge {
        /// Its size.
        len: usize,
        /// The bound.
        max: usize,
    },
    /// Not a message of the type expected.
    #[error("not a valid message: {0}")]
    Malformed(#[from] rmp_serde::decode::Error),
}

/// `message` as MessagePack, fields by name. Every type of the boundary encodes (writing to
/// memory cannot fail, and none has a sequence of unknown length); an error is a bug.
pub fn encode<T: Serialize>(message: &T) -> Result<Vec<u8>, rmp_serde::encode::Error> {
    let mut bytes = Vec::new();
    message.serialize(&mut rmp_serde::Serializer::new(&mut bytes).with_struct_map())?;
    Ok(bytes)
}

/// A message of type `T` from `bytes`.
pub fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, DecodeError> {
    if bytes.len() > MAX_MESSAGE_BYTES {
        return Err(DecodeError::TooLarge {
            len: bytes.len(),
            max: MAX_MESSAGE_BYTES,
        });
    }
    Ok(rmp_serde::from_slice(bytes)?)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use runnel_protocol::{Stage, StreamName};

    use super::*;
    use crate::api::{Event, Follow, LogId, Request, Response};
    use crate::log::Entry;
    use crate::run::RunEvent;

    fn output(len: usize) -> Event {
        Event::Run(Entry {
            seq: 7,
            kind: RunEvent::Output {
                stage: Stage::Run,
                stream: StreamName::Stdout,
                data: vec![0xff; len],
            },
        })
    }

    #[test]
    fn bytes_travel_as_bytes_with_a_few_bytes_of_framing() {
        let event = output(64 * 1024);
        let bytes = encode(&event).expect("encodes");
        assert!(
            bytes.len() < 64 * 1024 + 100,
            "a 64 KiB chunk took {} bytes",
            bytes.len()
        );
        let json = serde_json::to_vec(&event).expect("as JSON too");
        assert!(json.len() > 3 * bytes.len(), "JSON: {} bytes", json.len());
        assert_eq!(decode::<Event>(&bytes).expect("decodes"), event);
    }

    #[test]
    fn fields_go_by_name_so_an_unknown_one_is_skipped() {
        // What a newer gateway might send: a field this version does not know.
        #[derive(Serialize)]
        struct NewerFollow {
            owner: String,
            priority: u8,
            log: LogId,
            after: u64,
        }
        let newer = NewerFollow {
            owner: "k1".into(),
            priority: 3,
            log: LogId::Session("s1".into()),
            after: 12,
        };
        let read: Follow = decode(&encode(&newer).expect("encodes")).expect("decodes");
        assert_eq!(
            read,
            Follow {
                owner: "k1".into(),
                log: LogId::Session("s1".into()),
                after: 12
            }
        );
    }

    #[test]
    fn an_oversized_or_malformed_message_is_a_named_error() {
        let huge = vec![0u8; MAX_MESSAGE_BYTES + 1];
        assert!(matches!(
            decode::<Request>(&huge),
            Err(DecodeError::TooLarge { len, max }) if len == MAX_MESSAGE_BYTES + 1 && max == MAX_MESSAGE_BYTES
        ));
        let event = encode(&output(10)).expect("encodes");
        let error = decode::<Request>(&event).expect_err("an event is not a request");
        assert!(
            error.to_string().starts_with("not a valid message"),
            "{error}"
        );
        let cut = &event[..event.len() - 3];
        assert!(matches!(
            decode::<Event>(cut),
            Err(DecodeError::Malformed(_))
        ));
    }

    proptest! {
        #[test]
        fn no_bytes_make_decoding_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = decode::<Request>(&bytes);
            let _ = decode::<Response>(&bytes);
            let _ = decode::<Event>(&bytes);
            let _ = decode::<Follow>(&bytes);
        }

        #[test]
        fn a_cut_or_flipped_request_never_panics(cut in 0usize..200, flip in 0usize..200, bit in 0u8..8) {
            let request = Request::RunInput {
                owner: "k1".into(),
                run: "r1".into(),
                input: crate::api::Input::Stdin { data: b"hello\n".to_vec(), eof: true },
                stdin_seq: Some(4),
            };
            let mut bytes = encode(&request).expect("encodes");
            if let Some(byte) = bytes.get_mut(flip) {
                *byte ^= 1 << bit;
            }
            bytes.truncate(cut);
            let _ = decode::<Request>(&bytes);
        }
    }
}
