//! A client's WebSocket text frame, decoded as the gateway decodes it: any text gives a
//! message or a named error, never a panic, and the size cap holds.

#![no_main]

use libfuzzer_sys::fuzz_target;
use runnel_protocol::{decode_client_frame, DecodeError};

/// The gateway's default largest frame.
const MAX_FRAME_BYTES: usize = 1 << 20;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = decode_client_frame(text, MAX_FRAME_BYTES);
    if !text.is_empty() {
        let capped = decode_client_frame(text, text.len() - 1);
        assert!(
            matches!(capped, Err(DecodeError::TooLarge { .. })),
            "a frame over the cap was decoded: {capped:?}"
        );
    }
});
