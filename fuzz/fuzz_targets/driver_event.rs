//! Bytes on a session driver's event pipe (which a cell can write to), split into lines and
//! parsed as the engine parses them: never a panic, and what parses reads back the same once
//! written again as JSON.

#![no_main]

use libfuzzer_sys::fuzz_target;
use runnel_languages::wire::{DriverEvent, MAX_EVENT_LINE};
use serde_json::json;

fuzz_target!(|data: &[u8]| {
    for line in data.split_inclusive(|&byte| byte == b'\n') {
        if line.len() > MAX_EVENT_LINE {
            continue;
        }
        let Ok(event) = DriverEvent::parse(line) else {
            continue;
        };
        let written = match &event {
            DriverEvent::Ready => json!({"op": "ready"}),
            DriverEvent::InputRequest { prompt, password } => {
                json!({"op": "input_request", "prompt": prompt, "password": password})
            }
            DriverEvent::Done(done) => json!({
                "op": "done",
                "status": if done.ok { "ok" } else { "error" },
                "ename": done.ename,
                "evalue": done.evalue,
            }),
            DriverEvent::Unknown { op } => json!({"op": op}),
        };
        let again = DriverEvent::parse(written.to_string().as_bytes());
        assert_eq!(again.ok().as_ref(), Some(&event), "{written}");
    }
});
