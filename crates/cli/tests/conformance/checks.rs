//! The checks of one language in the conformance suite (see `conformance.rs` for the list):
//! each sends the language's case programs over a real socket and names what went wrong.

use serde_json::{json, Value};

use crate::common::*;
use runnel_languages::cases::{self, LanguageCases};

/// Memory limit of the memory check, MiB.
const MEMORY_MB: u64 = 128;

const UNICODE: &str = "héllo → 世界 🎉";

/// An `execute` of `code` in `language` with `stdin`, its id `{id}-{language}`.
pub(crate) fn request(id: &str, language: &str, code: &str, stdin: &str) -> Value {
    json!({
        "action": "execute", "id": format!("{id}-{language}"), "language": language,
        "code": code, "stdin": stdin,
        "limits": {"wall_ms": 30000},
    })
}

pub(crate) fn text<'a>(result: &'a Value, field: &str) -> &'a str {
    result[field].as_str().unwrap_or_default()
}

/// Everything the compiler said (compiled languages) or the program's stderr.
fn diagnostics(result: &Value) -> String {
    format!(
        "{}{}",
        text(result, "compile_output"),
        text(result, "stderr")
    )
}

fn expect(ok: bool, what: &str, result: &Value) -> Result<(), String> {
    if ok {
        Ok(())
    } else {
        let mut shown = result.clone();
        if let Some(object) = shown.as_object_mut() {
            object.retain(|key, _| {
                matches!(
                    key.as_str(),
                    "status"
                        | "exit_code"
                        | "signal"
                        | "stdout"
                        | "stderr"
                        | "compile_output"
                        | "message"
                )
            });
        }
        Err(format!("{what}: {shown}"))
    }
}

/// The streaming check: `ready` must arrive while the program still waits for its input.
async fn streams(socket: &mut Socket, case: &LanguageCases) -> Result<(), String> {
    let id = format!("stream-{}", case.id);
    let case_id = case.id.as_str();
    let case = &case.conformance;
    send(
        socket,
        json!({"action": "execute", "id": id, "language": case_id, "code": case.greet,
               "stream": true, "limits": {"wall_ms": 30000}}),
    )
    .await;
    if !case.feed.is_empty() {
        send(
            socket,
            json!({"action": "stdin", "id": id, "data": case.feed}),
        )
        .await;
    }
    let mut seen = String::new();
    while !seen.contains("ready") {
        let message = recv(socket).await;
        if message["id"] != id.as_str() {
            continue;
        }
        if message["type"] == "exit" || message["type"] == "error" {
            return Err(format!(
                "ended before printing `ready` (output so far {seen:?}): {message}"
            ));
        }
        if message["type"] == "stdout" && message.get("stage").is_none() {
            seen.push_str(message["data"].as_str().unwrap_or_default());
        }
    }
    send(
        socket,
        json!({"action": "stdin", "id": id, "data": "Ada\n", "eof": true}),
    )
    .await;
    let messages = collect_run(socket, &id).await;
    let exit = messages.last().cloned().unwrap_or_default();
    let rest = stream_text(&messages, "stdout");
    expect(
        exit["status"] == "ok" && rest.contains("Hello, Ada!"),
        &format!("after the input: stdout {rest:?}"),
        &exit,
    )
}

/// All checks of one language; the failures, each naming its check.
pub(crate) async fn conform(socket: &mut Socket, language: &LanguageCases) -> Vec<String> {
    let mut failures = Vec::new();
    let id = language.id.as_str();
    let case = &language.conformance;
    let mut note = |check: &str, result: Result<(), String>| {
        if let Err(error) = result {
            failures.push(format!("{id} {check}: {error}"));
        }
    };

    let hello = run_once(socket, request("hello", id, &case.hello, &case.feed)).await;
    note(
        "hello",
        expect(
            hello["status"] == "ok"
                && hello["exit_code"] == 0
                && text(&hello, "stdout") == "Hello, World!\n",
            "want `Hello, World!`, ok",
            &hello,
        ),
    );

    let mut smallest = request("floors", id, &case.hello, &case.feed);
    smallest["limits"]["pids"] = json!(1);
    smallest["limits"]["memory_mb"] = json!(1);
    let floors = run_once(socket, smallest).await;
    note(
        "floors",
        expect(
            floors["status"] == "ok" && text(&floors, "stdout") == "Hello, World!\n",
            "want `Hello, World!`, ok, with limits {pids: 1, memory_mb: 1} raised to the floors",
            &floors,
        ),
    );

    if case.compiled {
        // Again, from the compile cache: only the declared artifacts were kept, and they run.
        let again = run_once(socket, request("hello-cached", id, &case.hello, &case.feed)).await;
        note(
            "cached",
            expect(
                again["status"] == "ok"
                    && again["cached"] == true
                    && text(&again, "stdout") == "Hello, World!\n",
                "want `Hello, World!` from the compile cache (cached: true)",
                &again,
            ),
        );
    }

    // The console's example (languages/<id>/example.<ext>) runs and exits 0.
    let example = run_once(
        socket,
        request("example", id, &language.example.code, &case.feed),
    )
    .await;
    note(
        "example",
        expect(
            example["status"] == "ok" && example["exit_code"] == 0,
            &format!("want {} to exit 0, ok", language.example.file.display()),
            &example,
        ),
    );

    let stdin = format!("{}Ada\n", case.feed);
    let greet = run_once(socket, request("greet", id, &case.greet, &stdin)).await;
    note(
        "stdin",
        expect(
            greet["status"] == "ok" && text(&greet, "stdout") == "ready\nHello, Ada!\n",
            "want `ready` then `Hello, Ada!`",
            &greet,
        ),
    );

    note("stream", streams(socket, language).await);

    let unicode = run_once(socket, request("unicode", id, &case.unicode, &case.feed)).await;
    note(
        "unicode",
        expect(
            unicode["status"] == "ok" && text(&unicode, "stdout") == format!("{UNICODE}\n"),
            "want the Unicode line intact",
            &unicode,
        ),
    );

    if let Some(code) = &case.split {
        let split = run_once(socket, request("split", id, code, &case.feed)).await;
        note(
            "split",
            expect(
                split["status"] == "runtime_error"
                    && split["exit_code"] == 3
                    && text(&split, "stdout") == format!("{UNICODE}\n")
                    && text(&split, "stderr").contains("oops")
                    && !text(&split, "stderr").contains(UNICODE),
                "want stdout and stderr apart, exit 3, runtime_error",
                &split,
            ),
        );
    }

    if let Some(cases::Broken { code, marker }) = &case.broken {
        let broken = run_once(socket, request("broken", id, code, &case.feed)).await;
        let (status, place) = if case.compiled {
            ("compile_error", "compile_output")
        } else {
            ("runtime_error", "stderr")
        };
        note(
            "broken",
            expect(
                broken["status"] == status
                    && !text(&broken, place).trim().is_empty()
                    && text(&broken, place).contains(marker.as_str()),
                &format!("want {status} with {marker:?} in {place}"),
                &broken,
            ),
        );
    }

    if let Some(crash) = &case.crash {
        let result = run_once(socket, request("crash", id, &crash.code, &case.feed)).await;
        let shown = match &crash.signal {
            None => {
                result["exit_code"].as_i64().is_some_and(|code| code != 0)
                    || result["signal"].is_string()
            }
            Some(signal) => result["signal"] == signal.as_str(),
        };
        let message = crash
            .stderr
            .as_ref()
            .is_none_or(|marker| diagnostics(&result).contains(marker.as_str()));
        note(
            "crash",
            expect(
                result["status"] == "runtime_error" && shown && message,
                "want runtime_error, a failure status and the error's message",
                &result,
            ),
        );
    }

    if let Some(code) = &case.memory {
        let mut request = request("memory", id, code, &case.feed);
        request["limits"]["memory_mb"] = json!(MEMORY_MB);
        let memory = run_once(socket, request).await;
        note(
            "memory",
            expect(
                memory["status"] == "memory_limit",
                "want memory_limit",
                &memory,
            ),
        );
    }
    failures
}
