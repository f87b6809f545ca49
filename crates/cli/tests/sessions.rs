//! Sessions end to end against a real `runnel serve`: state that persists per language, errors,
//! input requests, interrupts, restarts, idle expiry, the terminal protocol, files (hostile
//! names and planted symlinks included), ownership, limits, and resume after a dropped
//! connection without losing or repeating a byte.

mod common;

use std::time::Duration;

use base64::Engine as _;
use common::{connect, connect_plain, connect_with_key, recv, send, Server, Socket};
use serde_json::{json, Value};

/// Create a session over `socket`; returns its id.
async fn create_session(socket: &mut Socket, language: &str) -> String {
    send(
        socket,
        json!({"action": "create_session", "language": language, "id": "c"}),
    )
    .await;
    let mut reply = recv(socket).await;
    // A session closed just before on this socket may say so twice (to the close, and to the
    // socket that followed it).
    while reply["type"] == "session" && reply["event"] == "closed" {
        reply = recv(socket).await;
    }
    assert_eq!(reply["type"], "session", "{reply}");
    assert_eq!(reply["event"], "created", "{reply}");
    reply["session"].as_str().expect("session id").to_owned()
}

/// Close a session and wait until it says so.
async fn close_session(socket: &mut Socket, session: &str) {
    send(
        socket,
        json!({"action": "close_session", "session": session, "id": "x"}),
    )
    .await;
    loop {
        let reply = recv(socket).await;
        if reply["type"] == "session" && reply["event"] == "closed" {
            return;
        }
    }
}

/// Execute `code` in `session` and gather its events until `exit`, with the key's largest
/// wall-clock limit: a JVM REPL's first cell on a cold or busy machine can take longer than the
/// 10 s default, and no test here is about that limit.
async fn execute(socket: &mut Socket, session: &str, id: &str, code: &str) -> Vec<Value> {
    send(
        socket,
        json!({"action": "execute", "session": session, "id": id, "code": code, "stream": true,
               "limits": {"wall_ms": 60_000}}),
    )
    .await;
    collect(socket, id).await
}

async fn collect(socket: &mut Socket, id: &str) -> Vec<Value> {
    let mut events = Vec::new();
    loop {
        let message = recv(socket).await;
        if message["type"] == "error" {
            panic!("error during run {id}: {message}");
        }
        if message["id"] != id {
            continue;
        }
        let done = message["type"] == "exit";
        events.push(message);
        if done {
            return events;
        }
    }
}

/// Start a streamed execute `id` of `code` in `session` and wait until it has printed
/// `looping` (so that it runs, and a signal finds it busy).
async fn start_looping(socket: &mut Socket, session: &str, id: &str, code: &str) {
    send(
        socket,
        json!({"action": "execute", "session": session, "id": id, "stream": true, "code": code}),
    )
    .await;
    let mut seen = String::new();
    while !seen.contains("looping") {
        let message = recv(socket).await;
        if message["type"] == "stdout" && message["id"] == id {
            seen.push_str(message["data"].as_str().unwrap_or_default());
        }
    }
}

fn text(events: &[Value], stream: &str) -> String {
    events
        .iter()
        .filter(|event| event["type"] == stream)
        .map(|event| event["data"].as_str().unwrap_or_default())
        .collect()
}

fn exit(events: &[Value]) -> &Value {
    events.last().expect("an exit")
}

fn http() -> reqwest::Client {
    reqwest::Client::new()
}

async fn create_http(server: &Server, key: &str, language: &str) -> String {
    common::create_session_http(server, key, language).await
}

#[tokio::test]
async fn state_persists_across_executes_in_each_interpreted_language() {
    let server = Server::start(&[]);
    let mut socket = connect(&server).await;
    let cases = [
        (
            "python",
            "import math\nx = 41\ndef f():\n    return x + 1",
            "print(f())",
        ),
        (
            "javascript",
            "const x = 41; function f() { return x + 1 }",
            "console.log(f())",
        ),
        ("ruby", "x = 41\ndef f(v) = v + 1", "puts f(x)"),
        (
            "php",
            "$x = 41; function f($v) { return $v + 1; }",
            "echo f($x), \"\\n\";",
        ),
        ("bash", "x=41; f() { echo $((x + 1)); }", "f"),
        (
            "lua",
            "x = 41; function f(v) return v + 1 end",
            "print(f(x))",
        ),
        (
            "perl",
            "our $x = 41; sub f { return $_[0] + 1 }",
            "print f($x), \"\\n\";",
        ),
        (
            "r",
            "x <- 41\nf <- function(v) {\n  v + 1\n}",
            "cat(f(x), \"\\n\", sep = \"\")",
        ),
        (
            "tcl",
            "set x 41\nproc f {v} {\n    return [expr {$v + 1}]\n}",
            "puts [f $x]",
        ),
        (
            "sql",
            "CREATE TABLE t(x);\nINSERT INTO t VALUES (41);",
            "SELECT x + 1 FROM t;",
        ),
        (
            "scheme",
            "(define x 41)\n(define (f v)\n  (+ v 1))",
            "(display (f x))\n(newline)",
        ),
        (
            "commonlisp",
            "(defvar *x* 41)\n(defun f (v)\n  (+ v 1))",
            "(format t \"~A~%\" (f *x*))",
        ),
        (
            "ocaml",
            "let x = 41\nlet f v =\n  v + 1",
            "print_int (f x); print_newline ()",
        ),
        (
            "erlang",
            "X = 41.\nf(V) ->\n    V + 1.",
            "io:format(\"~p~n\", [f(X)]).",
        ),
        (
            "elixir",
            "import Enum\nx = 41\ndefmodule M do\n  def f(v), do: v + 1\nend",
            "IO.puts(M.f(x) |> List.wrap() |> sum())",
        ),
        (
            "haskell",
            "import Data.List (sort)\nx = 41\nf :: Int -> Int\nf v =\n  v + 1",
            "print (head (sort [f x]))",
        ),
        (
            "groovy",
            "import groovy.json.JsonOutput\ndef x = 41\ndef f(v) {\n    v + 1\n}",
            "println JsonOutput.toJson(f(x))",
        ),
        (
            "clojure",
            "(require '[clojure.string :as str])\n(def x 41)\n(defn f [v]\n  (+ v 1))",
            "(println (str/trim (str \" \" (f x))))",
        ),
        (
            "java",
            "import java.util.*;\nint x = 41;\nint f(int v) {\n    return v + 1;\n}",
            "System.out.println(new ArrayList<>(List.of(f(x))).get(0));",
        ),
        (
            "prolog",
            ":- use_module(library(lists)).\nx(41).\nf(V, W) :-\n    W is V + 1.",
            ":- x(X), f(X, Y), sum_list([Y], S), format(\"~w~n\", [S]).",
        ),
        (
            "scala",
            "import scala.collection.mutable.ListBuffer\nval x = 41\ndef f(v: Int): Int =\n  v + 1",
            "println(ListBuffer(f(x)).head)",
        ),
        (
            "kotlin",
            "import java.util.ArrayList\nval x = 41\nfun f(v: Int): Int =\n    v + 1",
            "println(ArrayList(listOf(f(x)))[0])",
        ),
    ];
    for (language, define, use_it) in cases {
        let session = create_session(&mut socket, language).await;
        let defined = execute(&mut socket, &session, &format!("{language}-1"), define).await;
        assert_eq!(exit(&defined)["status"], "ok", "{language}: {defined:?}");
        let used = execute(&mut socket, &session, &format!("{language}-2"), use_it).await;
        assert_eq!(text(&used, "stdout"), "42\n", "{language}: {used:?}");
        assert_eq!(exit(&used)["status"], "ok");
        assert!(used
            .iter()
            .all(|event| event["session"] == session.as_str()));
        let seqs: Vec<u64> = used
            .iter()
            .map(|event| event["seq"].as_u64().expect("seq"))
            .collect();
        assert!(
            seqs.windows(2).all(|pair| pair[1] == pair[0] + 1),
            "{seqs:?}"
        );
        // Closed before the next: a key has at most 16 sessions.
        close_session(&mut socket, &session).await;
    }
    // The table covers exactly the languages this server says keep state (`repl`), so a new
    // driver cannot go untested and a listed language cannot silently lose its driver.
    let languages: Value = http()
        .get(server.http_url("/api/v1/languages"))
        .send()
        .await
        .expect("languages")
        .json()
        .await
        .expect("json");
    let mut stateful: Vec<&str> = languages
        .as_array()
        .or_else(|| languages["languages"].as_array())
        .expect("a list of languages")
        .iter()
        .filter(|language| language["repl"] == true)
        .filter_map(|language| language["id"].as_str())
        .collect();
    stateful.sort_unstable();
    let mut tested: Vec<&str> = cases.iter().map(|(language, _, _)| *language).collect();
    tested.sort_unstable();
    assert_eq!(tested, stateful);
}

#[tokio::test]
async fn compiled_session_keeps_its_files_between_runs() {
    let server = Server::start(&[]);
    let mut socket = connect(&server).await;
    let session = create_session(&mut socket, "c").await;
    let write = r#"#include <stdio.h>
int main(void) { FILE *f = fopen("note.txt", "w"); fputs("kept", f); fclose(f); puts("written"); return 0; }"#;
    let events = execute(&mut socket, &session, "w", write).await;
    assert_eq!(text(&events, "stdout"), "written\n", "{events:?}");
    let read = r#"#include <stdio.h>
int main(void) { char b[16] = {0}; FILE *f = fopen("note.txt", "r"); fgets(b, 16, f); printf("%s\n", b); return 0; }"#;
    let events = execute(&mut socket, &session, "r", read).await;
    assert_eq!(text(&events, "stdout"), "kept\n", "{events:?}");
    assert_eq!(exit(&events)["status"], "ok");
    // Stdin given up front reaches the program once.
    let echo = r#"#include <stdio.h>
int main(void) { char b[64]; while (fgets(b, sizeof b, stdin)) fputs(b, stdout); return 0; }"#;
    send(
        &mut socket,
        json!({"action": "execute", "session": session, "id": "e", "code": echo, "stdin": "once\n", "stream": true}),
    )
    .await;
    send(
        &mut socket,
        json!({"action": "stdin", "id": "e", "data": "", "eof": true}),
    )
    .await;
    let events = collect(&mut socket, "e").await;
    assert_eq!(text(&events, "stdout"), "once\n", "{events:?}");
}

#[tokio::test]
async fn an_exception_ends_its_cell_and_state_survives() {
    let server = Server::start(&[]);
    let mut socket = connect(&server).await;
    let session = create_session(&mut socket, "python").await;
    execute(&mut socket, &session, "a", "x = 42").await;
    let failed = execute(
        &mut socket,
        &session,
        "b",
        "print('before')\nraise ValueError('boom')",
    )
    .await;
    assert_eq!(text(&failed, "stdout"), "before\n");
    assert!(
        text(&failed, "stderr").contains("ValueError: boom"),
        "{failed:?}"
    );
    assert_eq!(exit(&failed)["status"], "runtime_error");
    assert_eq!(exit(&failed)["message"], "ValueError: boom");
    let after = execute(&mut socket, &session, "c", "print(x)").await;
    assert_eq!(text(&after, "stdout"), "42\n");
}

#[tokio::test]
async fn input_asks_the_client_and_the_reply_answers_it() {
    let server = Server::start(&[]);
    let mut socket = connect(&server).await;
    let session = create_session(&mut socket, "python").await;
    send(
        &mut socket,
        json!({"action": "execute", "session": session, "id": "q", "stream": true, "code": "print('ready')\nname = input('who? ')\nprint('hi', name)"}),
    )
    .await;
    let mut before = String::new();
    loop {
        let message = recv(&mut socket).await;
        if message["type"] == "stdout" {
            before.push_str(message["data"].as_str().expect("data"));
        }
        if message["type"] == "input_request" {
            assert_eq!(
                before, "ready\n",
                "output before input() comes before the request"
            );
            assert_eq!(message["prompt"], "who? ");
            assert_eq!(message["id"], "q");
            break;
        }
    }
    send(
        &mut socket,
        json!({"action": "stdin", "id": "q", "data": "ada\n"}),
    )
    .await;
    let events = collect(&mut socket, "q").await;
    assert_eq!(text(&events, "stdout"), "hi ada\n", "{events:?}");
    assert_eq!(exit(&events)["status"], "ok");
}

#[tokio::test]
async fn sigint_interrupts_a_cell_and_state_lives_on() {
    let server = Server::start(&[]);
    let mut socket = connect(&server).await;
    let session = create_session(&mut socket, "python").await;
    execute(&mut socket, &session, "a", "x = 42").await;
    start_looping(
        &mut socket,
        &session,
        "loop",
        "import time\nprint('looping', flush=True)\nwhile True:\n    time.sleep(0.01)",
    )
    .await;
    send(
        &mut socket,
        json!({"action": "signal", "id": "loop", "signal": "SIGINT"}),
    )
    .await;
    let events = collect(&mut socket, "loop").await;
    assert!(
        text(&events, "stderr").contains("KeyboardInterrupt"),
        "{events:?}"
    );
    assert_eq!(exit(&events)["message"], "KeyboardInterrupt");
    let after = execute(&mut socket, &session, "b", "print(x)").await;
    assert_eq!(text(&after, "stdout"), "42\n");
}

/// SIGINT through the real sandbox in every driver that takes it (each has its own way: BEAM
/// through a shell wrapper, GHCi under a Python wrapper, node's watchdog, lua5.4 which takes one
/// SIGINT only, bash whose loops of builtins go on after a trap, TclX for Tcl, ...). The
/// client sends a burst of signals, as a user pressing Ctrl-C again and again does: the cell
/// ends once, and the next cell runs untouched by the rest.
#[tokio::test]
async fn sigint_interrupts_a_cell_in_the_other_drivers() {
    let server = Server::start(&[]);
    let mut socket = connect(&server).await;
    let cases = [
        (
            "javascript",
            "let x = 42",
            "console.log('looping'); while (true) {}",
            "console.log(x)",
        ),
        (
            "lua",
            "x = 42",
            "print('looping'); io.stdout:flush(); while true do end",
            "print(x)",
        ),
        ("bash", "x=42", "echo looping; while :; do :; done", "echo $x"),
        ("bash", "x=42", "echo looping; sleep 600", "echo $x"),
        (
            "python",
            "x = 42",
            "print('looping', flush=True)\nwhile True:\n    pass",
            "print(x)",
        ),
        (
            "ruby",
            "x = 42",
            "puts 'looping'; $stdout.flush; loop {}",
            "puts x",
        ),
        (
            "php",
            "$x = 42;",
            "echo \"looping\\n\"; while (true) {}",
            "echo $x, \"\\n\";",
        ),
        (
            "perl",
            "our $x = 42;",
            "$| = 1; print \"looping\\n\"; while (1) {}",
            "print $x, \"\\n\";",
        ),
        (
            "r",
            "x <- 42",
            "cat('looping\\n'); repeat {}",
            "cat(x, \"\\n\", sep = \"\")",
        ),
        (
            "tcl",
            "set x 42",
            "puts looping; flush stdout; while 1 {}",
            "puts $x",
        ),
        (
            "scheme",
            "(define x 42)",
            "(display \"looping\")\n(newline)\n(let spin () (spin))",
            "(display x)\n(newline)",
        ),
        (
            "commonlisp",
            "(defvar *x* 42)",
            "(format t \"looping~%\")\n(finish-output)\n(loop)",
            "(format t \"~A~%\" *x*)",
        ),
        (
            "ocaml",
            "let x = 42",
            "let () = print_endline \"looping\"; while true do () done",
            "print_int x; print_newline ()",
        ),
        (
            "erlang",
            "X = 42.\nspin() -> spin().",
            "io:format(\"looping~n\"), spin().",
            "io:format(\"~p~n\", [X]).",
        ),
        (
            "haskell",
            "x = 42",
            "let spin n = if n < (0 :: Int) then n else spin (n + 1)\nputStrLn \"looping\"\nprint (spin 0)",
            "print x",
        ),
        (
            "prolog",
            "x(42).\nspin :- spin.",
            ":- writeln(looping), flush_output, spin.",
            ":- x(X), writeln(X).",
        ),
        (
            "groovy",
            "x = 42",
            "println 'looping'; while (true) { }",
            "println x",
        ),
    ];
    for (case, (language, define, looping, use_it)) in cases.into_iter().enumerate() {
        let session = create_session(&mut socket, language).await;
        let defined = execute(&mut socket, &session, &format!("{case}-a"), define).await;
        assert_eq!(exit(&defined)["status"], "ok", "{language}: {defined:?}");
        let id = format!("{case}-{language}-loop");
        start_looping(&mut socket, &session, &id, looping).await;
        for _ in 0..5 {
            send(
                &mut socket,
                json!({"action": "signal", "id": id, "signal": "SIGINT"}),
            )
            .await;
        }
        // A signal that comes after the cell ended is answered `not_found`; nothing else. The
        // `pong` to a ping sent after the signals comes after all their answers.
        send(&mut socket, json!({"action": "ping"})).await;
        let mut events = Vec::new();
        let mut ponged = false;
        while !ponged
            || events
                .last()
                .is_none_or(|last: &Value| last["type"] != "exit")
        {
            let message = recv(&mut socket).await;
            if message["type"] == "error" {
                assert_eq!(
                    (message["code"].as_str(), message["id"].as_str()),
                    (Some("not_found"), Some(id.as_str())),
                    "{language}: {message}"
                );
            } else if message["type"] == "pong" {
                ponged = true;
            } else if message["id"] == id.as_str() {
                events.push(message);
            }
        }
        assert_eq!(
            (
                exit(&events)["status"].as_str(),
                exit(&events)["message"].as_str()
            ),
            (Some("killed"), Some("KeyboardInterrupt")),
            "{id}: {events:?}"
        );
        let after = execute(&mut socket, &session, &format!("{case}-b"), use_it).await;
        assert_eq!(text(&after, "stdout"), "42\n", "{language}: {after:?}");
        close_session(&mut socket, &session).await;
    }
}

/// SQL's sqlite3 shell ends on SIGINT: the cell says so by name, and the next cell gets a
/// fresh interpreter (its database is gone) instead of an error.
#[tokio::test]
async fn a_sigint_that_ends_the_interpreter_is_reported_and_the_next_cell_starts_fresh() {
    let server = Server::start(&[]);
    let mut socket = connect(&server).await;
    let session = create_session(&mut socket, "sql").await;
    let made = execute(&mut socket, &session, "a", "CREATE TABLE t(x);").await;
    assert_eq!(exit(&made)["status"], "ok", "{made:?}");
    start_looping(
        &mut socket,
        &session,
        "loop",
        "SELECT 'looping';\nWITH RECURSIVE c(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM c) SELECT count(*) FROM c;",
    )
    .await;
    send(
        &mut socket,
        json!({"action": "signal", "id": "loop", "signal": "SIGINT"}),
    )
    .await;
    let events = collect(&mut socket, "loop").await;
    assert_eq!(
        (
            exit(&events)["status"].as_str(),
            exit(&events)["message"].as_str()
        ),
        (
            Some("killed"),
            Some("the interpreter ended on SIGINT; its state was lost")
        ),
        "{events:?}"
    );
    let after = execute(&mut socket, &session, "b", "SELECT count(*) FROM t;").await;
    assert!(
        text(&after, "stderr").contains("no such table"),
        "a fresh database: {after:?}"
    );
    let fresh = execute(&mut socket, &session, "c", "SELECT 6 * 7;").await;
    assert_eq!(text(&fresh, "stdout"), "42\n", "{fresh:?}");
}

/// Input asks the client in the drivers that hook their language's stdin reads.
#[tokio::test]
async fn input_asks_the_client_in_the_other_drivers() {
    let server = Server::start(&[]);
    let mut socket = connect(&server).await;
    let cases = [
        (
            "elixir",
            "name = IO.gets(\"who? \")\nIO.write(\"hi #{name}\")",
            "who? ",
        ),
        (
            "java",
            "var r = new java.io.BufferedReader(new java.io.InputStreamReader(System.in));\n\
             System.out.println(\"hi \" + r.readLine());",
            "",
        ),
        (
            "prolog",
            ":- read_line_to_string(user_input, L), format(\"hi ~w~n\", [L]).",
            "",
        ),
    ];
    for (language, code, prompt) in cases {
        let session = create_session(&mut socket, language).await;
        let id = format!("{language}-in");
        send(
            &mut socket,
            json!({"action": "execute", "session": session, "id": id, "stream": true, "code": code}),
        )
        .await;
        loop {
            let message = recv(&mut socket).await;
            if message["type"] == "input_request" && message["id"] == id.as_str() {
                assert_eq!(message["prompt"], prompt, "{language}: {message}");
                break;
            }
        }
        send(
            &mut socket,
            json!({"action": "stdin", "id": id, "data": "ada\n"}),
        )
        .await;
        let events = collect(&mut socket, &id).await;
        assert_eq!(
            text(&events, "stdout"),
            "hi ada\n",
            "{language}: {events:?}"
        );
        assert_eq!(exit(&events)["status"], "ok", "{language}");
        close_session(&mut socket, &session).await;
    }
}

#[tokio::test]
async fn restart_forgets_state_and_keeps_files() {
    let server = Server::start(&[]);
    let mut socket = connect(&server).await;
    let session = create_session(&mut socket, "python").await;
    execute(
        &mut socket,
        &session,
        "a",
        "x = 1\nopen('kept.txt', 'w').write('files stay')",
    )
    .await;
    send(
        &mut socket,
        json!({"action": "restart_session", "session": session}),
    )
    .await;
    loop {
        let message = recv(&mut socket).await;
        if message["type"] == "session" && message["event"] == "restarted" {
            break;
        }
    }
    let events = execute(
        &mut socket,
        &session,
        "b",
        "print(open('kept.txt').read())\nprint(x)",
    )
    .await;
    assert_eq!(text(&events, "stdout"), "files stay\n");
    assert!(text(&events, "stderr").contains("NameError"), "{events:?}");
}

#[tokio::test]
async fn idle_sessions_expire_and_pings_keep_them() {
    let server = Server::start(&["--session-idle-timeout", "1.5"]);
    let idle = create_http(&server, &server.key, "bash").await;
    let mut socket = connect(&server).await;
    let kept = create_session(&mut socket, "bash").await;
    for _ in 0..12 {
        send(&mut socket, json!({"action": "ping"})).await;
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let status = |id: String| {
        let url = server.http_url(&format!("/api/v1/sessions/{id}"));
        let key = server.key.clone();
        async move {
            http()
                .get(url)
                .bearer_auth(key)
                .send()
                .await
                .expect("get")
                .status()
        }
    };
    assert_eq!(status(idle).await, 404, "the idle session expired");
    assert_eq!(status(kept).await, 200, "pings kept the session alive");
}

async fn pty_out_until(socket: &mut Socket, wanted: &str) -> String {
    let mut seen = Vec::new();
    loop {
        let message = recv(socket).await;
        assert_eq!(message["type"], "out", "{message}");
        let data = base64::engine::general_purpose::STANDARD
            .decode(message["data"].as_str().expect("data"))
            .expect("out data is base64");
        seen.extend(data);
        let text = String::from_utf8_lossy(&seen).into_owned();
        if text.contains(wanted) {
            return text;
        }
    }
}

async fn type_keys(socket: &mut Socket, keys: &str) {
    let chars = base64::engine::general_purpose::STANDARD.encode(keys);
    send(socket, json!({"type": "stdin", "chars": chars})).await;
}

#[tokio::test]
async fn pty_speaks_the_seed_protocol() {
    let server = Server::start(&[]);
    let session = create_http(&server, &server.key, "python").await;
    let url = format!(
        "ws://{}/stream/session/{session}/pty?app=shell&api_key={}",
        server.address, server.key
    );
    let mut socket = connect_plain(&url).await;
    type_keys(&mut socket, "echo hi\r").await;
    let shown = pty_out_until(&mut socket, "hi\r\n").await;
    assert!(
        shown.contains("echo hi"),
        "the terminal echoes what is typed: {shown:?}"
    );
    send(
        &mut socket,
        json!({"type": "resize", "rows": 33, "cols": 101}),
    )
    .await;
    type_keys(&mut socket, "stty size; echo $TERM\r").await;
    pty_out_until(&mut socket, "33 101\r\nxterm-256color").await;
    send(&mut socket, json!({"type": "ping"})).await;
    type_keys(&mut socket, "export MARK=before\r").await;
    send(&mut socket, json!({"type": "restart"})).await;
    type_keys(&mut socket, "echo ${MARK:-fresh}-shell\r").await;
    pty_out_until(&mut socket, "fresh-shell").await;
    send(&mut socket, json!({"type": "nonsense"})).await;
    loop {
        let message = recv(&mut socket).await;
        if message["type"] == "error" {
            assert!(message["data"]
                .as_str()
                .expect("data")
                .contains("bad message"));
            break;
        }
    }
    let repl_url = format!(
        "ws://{}/stream/session/{session}/pty?app=python&api_key={}",
        server.address, server.key
    );
    let mut repl = connect_plain(&repl_url).await;
    type_keys(&mut repl, "6 * 7\r").await;
    pty_out_until(&mut repl, "42").await;
}

#[tokio::test]
async fn files_go_in_and_out_and_hostile_names_and_links_are_refused() {
    let server = Server::start(&[]);
    let session = create_http(&server, &server.key, "bash").await;
    let files = server.http_url(&format!("/api/v1/sessions/{session}/files"));
    let upload = |body: Value| {
        http()
            .post(files.clone())
            .bearer_auth(server.key.clone())
            .json(&body)
            .send()
    };
    let response = upload(json!({"files": [
        {"name": "a.txt", "content": "alpha"},
        {"name": "dir/b.bin", "content": "AAEC", "encoding": "base64"}
    ]}))
    .await
    .expect("upload");
    assert_eq!(response.status(), 204);
    let put = http()
        .put(format!("{files}/raw/c.txt"))
        .bearer_auth(&server.key)
        .body("raw body")
        .send()
        .await
        .expect("put");
    assert_eq!(put.status(), 204);
    let listed: Value = http()
        .get(&files)
        .bearer_auth(&server.key)
        .send()
        .await
        .expect("list")
        .json()
        .await
        .expect("json");
    let mut names: Vec<&str> = listed["files"]
        .as_array()
        .expect("files")
        .iter()
        .map(|file| file["name"].as_str().expect("name"))
        .collect();
    names.sort_unstable();
    assert_eq!(names, ["a.txt", "dir/b.bin", "raw/c.txt"]);
    let get = |path: &str| {
        http()
            .get(format!("{files}/{path}"))
            .bearer_auth(server.key.clone())
            .send()
    };
    let body = get("dir/b.bin")
        .await
        .expect("get")
        .bytes()
        .await
        .expect("bytes");
    assert_eq!(body.as_ref(), [0, 1, 2]);
    for name in ["../x", "/etc/passwd", "a\u{0}b", "a/../../x", ""] {
        let response = upload(json!({"files": [{"name": name, "content": "x"}]}))
            .await
            .expect("upload");
        assert_eq!(response.status(), 400, "{name:?} accepted");
    }
    let response = get("a%00b").await.expect("get");
    assert_eq!(response.status(), 400);

    // A link planted by the session to a host-only file: never followed by the host.
    let secret = server.data_dir.path().join("host-secret.txt");
    std::fs::write(&secret, "host-only secret").expect("write secret");
    let code = format!(
        "ln -s {} leak && ln -s /etc/passwd pw && ln -s /work/a.txt same && echo linked",
        secret.display()
    );
    let result: Value = http()
        .post(server.http_url(&format!("/api/v1/sessions/{session}/execute")))
        .bearer_auth(&server.key)
        .json(&json!({"code": code}))
        .send()
        .await
        .expect("execute")
        .json()
        .await
        .expect("json");
    assert_eq!(result["stdout"], "linked\n", "{result}");
    for link in ["leak", "pw", "same"] {
        let response = get(link).await.expect("get");
        let status = response.status();
        let body = response.text().await.expect("text");
        assert!(
            !body.contains("host-only secret") && !body.contains("root:"),
            "{link}: {body}"
        );
        assert_eq!(status, 404, "{link}: {body}");
    }
    let response = upload(json!({"files": [{"name": "leak", "content": "overwrite"}]}))
        .await
        .expect("upload");
    assert_ne!(
        response.status(),
        204,
        "a write through a planted link must fail"
    );
    assert_eq!(
        std::fs::read_to_string(&secret).expect("secret"),
        "host-only secret"
    );
}

#[tokio::test]
async fn another_key_sees_no_session() {
    let server = Server::start(&[]);
    let session = create_http(&server, &server.key, "python").await;
    let other = server.create_key(&[]);
    for (method, path) in [
        ("GET", format!("/api/v1/sessions/{session}")),
        ("DELETE", format!("/api/v1/sessions/{session}")),
        ("POST", format!("/api/v1/sessions/{session}/restart")),
        ("GET", format!("/api/v1/sessions/{session}/files")),
    ] {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let response = http()
            .request(method, server.http_url(&path))
            .bearer_auth(&other)
            .send()
            .await
            .expect("request");
        assert_eq!(response.status(), 404, "{path}");
    }
    let listed: Value = http()
        .get(server.http_url("/api/v1/sessions"))
        .bearer_auth(&other)
        .send()
        .await
        .expect("list")
        .json()
        .await
        .expect("json");
    assert_eq!(listed["sessions"], json!([]));
    let mut socket = connect_with_key(&server, &other).await;
    send(
        &mut socket,
        json!({"action": "execute", "session": session, "id": "x", "code": "print(1)"}),
    )
    .await;
    let reply = recv(&mut socket).await;
    assert_eq!(reply["code"], "not_found", "{reply}");
    send(
        &mut socket,
        json!({"action": "resume", "session": session, "last_seq": 0}),
    )
    .await;
    assert_eq!(recv(&mut socket).await["code"], "not_found");
    let pty = format!(
        "ws://{}/stream/session/{session}/pty?app=shell&api_key={other}",
        server.address
    );
    assert!(
        tokio_tungstenite::connect_async(pty).await.is_err(),
        "pty refused"
    );
    // The owner still has it.
    let response = http()
        .get(server.http_url(&format!("/api/v1/sessions/{session}")))
        .bearer_auth(&server.key)
        .send()
        .await
        .expect("get");
    assert_eq!(response.status(), 200);
}

#[tokio::test]
async fn a_key_has_at_most_its_sessions() {
    let server = Server::start(&[]);
    let key = server.create_key(&["--max-sessions", "1"]);
    create_http(&server, &key, "bash").await;
    let response = http()
        .post(server.http_url("/api/v1/sessions"))
        .bearer_auth(&key)
        .json(&json!({"language": "bash"}))
        .send()
        .await
        .expect("create");
    assert_eq!(response.status(), 429);
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["error"], "session_limit");
    // Session executes count against the key's rate like one-shot runs.
    let slow = server.create_key(&["--rate-per-minute", "2"]);
    let session = create_http(&server, &slow, "bash").await;
    let mut statuses = Vec::new();
    for _ in 0..3 {
        let response = http()
            .post(server.http_url(&format!("/api/v1/sessions/{session}/execute")))
            .bearer_auth(&slow)
            .json(&json!({"code": "echo hi"}))
            .send()
            .await
            .expect("execute");
        statuses.push(response.status().as_u16());
    }
    assert_eq!(statuses, [200, 200, 429]);
    let mut socket = connect_with_key(&server, &key).await;
    send(
        &mut socket,
        json!({"action": "create_session", "language": "bash", "id": "s2"}),
    )
    .await;
    let reply = recv(&mut socket).await;
    assert_eq!(
        (reply["code"].as_str(), reply["id"].as_str()),
        (Some("session_limit"), Some("s2"))
    );
}

#[tokio::test]
async fn resume_after_a_cut_connection_delivers_every_line_once_in_order() {
    const LINES: usize = 400;
    let server = Server::start(&[]);
    let mut socket = connect(&server).await;
    let session = create_session(&mut socket, "python").await;
    let code = format!(
        "import time\nfor i in range({LINES}):\n    print(f'line {{i}}', flush=True)\n    time.sleep(0.003)"
    );
    send(
        &mut socket,
        json!({"action": "execute", "session": session, "id": "n", "code": code, "stream": true}),
    )
    .await;
    let mut stdout = String::new();
    let mut last_seq = 0;
    while stdout.lines().count() < 40 {
        let message = recv(&mut socket).await;
        last_seq = message["seq"].as_u64().unwrap_or(last_seq);
        if message["type"] == "stdout" {
            stdout.push_str(message["data"].as_str().expect("data"));
        }
    }
    // Cut the connection mid-run, without a close handshake.
    drop(socket);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut socket = connect(&server).await;
    send(
        &mut socket,
        json!({"action": "resume", "session": session, "last_seq": last_seq}),
    )
    .await;
    let resumed = recv(&mut socket).await;
    assert_eq!(
        (resumed["type"].as_str(), resumed["event"].as_str()),
        (Some("session"), Some("resumed")),
        "{resumed}"
    );
    let mut expected_seq = last_seq + 1;
    loop {
        let message = recv(&mut socket).await;
        assert_eq!(message["seq"].as_u64(), Some(expected_seq), "{message}");
        expected_seq += 1;
        if message["type"] == "stdout" {
            stdout.push_str(message["data"].as_str().expect("data"));
        }
        if message["type"] == "exit" {
            assert_eq!(message["status"], "ok");
            break;
        }
    }
    let expected: Vec<String> = (0..LINES).map(|i| format!("line {i}")).collect();
    assert_eq!(stdout.lines().collect::<Vec<_>>(), expected);
}

#[tokio::test]
async fn resume_past_the_replay_buffer_is_a_named_error() {
    let server = Server::start(&["--session-log-bytes", "4096"]);
    let mut socket = connect(&server).await;
    let session = create_session(&mut socket, "python").await;
    let code = "import time\ntime.sleep(0.5)\nfor i in range(2000):\n    print('x' * 50)";
    send(
        &mut socket,
        json!({"action": "execute", "session": session, "id": "big", "code": code}),
    )
    .await;
    // Nobody follows the session while it prints far more than the buffer keeps.
    drop(socket);
    tokio::time::sleep(Duration::from_secs(3)).await;
    let mut socket = connect(&server).await;
    send(
        &mut socket,
        json!({"action": "resume", "session": session, "last_seq": 1}),
    )
    .await;
    let reply = recv(&mut socket).await;
    assert_eq!(reply["code"], "resume_gap", "{reply}");
}

#[tokio::test]
async fn the_session_execute_stream_and_http_execute_run_in_the_session() {
    let server = Server::start(&[]);
    let session = create_http(&server, &server.key, "python").await;
    let result: Value = http()
        .post(server.http_url(&format!("/api/v1/sessions/{session}/execute")))
        .bearer_auth(&server.key)
        .json(&json!({"code": "y = 6 * 7\nprint(y)"}))
        .send()
        .await
        .expect("execute")
        .json()
        .await
        .expect("json");
    assert_eq!(
        (result["stdout"].as_str(), result["status"].as_str()),
        (Some("42\n"), Some("ok")),
        "{result}"
    );
    // Stdin given up front answers input(), line by line, as in a plain run.
    let result: Value = http()
        .post(server.http_url(&format!("/api/v1/sessions/{session}/execute")))
        .bearer_auth(&server.key)
        .json(&json!({"code": "a = input('a? ')\nb = input()\nprint(int(a) + int(b))", "stdin": "40\n2\n"}))
        .send()
        .await
        .expect("execute")
        .json()
        .await
        .expect("json");
    assert_eq!(result["stdout"], "a? 42\n", "{result}");
    let url = format!(
        "ws://{}/stream/session/{session}/execute?api_key={}",
        server.address, server.key
    );
    let mut socket = connect_plain(&url).await;
    send(
        &mut socket,
        json!({"action": "execute", "id": "s", "code": "print(y + 1)"}),
    )
    .await;
    let events = collect(&mut socket, "s").await;
    assert_eq!(text(&events, "stdout"), "43\n");
    let info: Value = http()
        .get(server.http_url(&format!("/api/v1/sessions/{session}")))
        .bearer_auth(&server.key)
        .send()
        .await
        .expect("get")
        .json()
        .await
        .expect("json");
    assert_eq!(info["services"], json!(["shell", "python"]));
    assert_eq!(info["stateful"], true);
    let deleted = http()
        .delete(server.http_url(&format!("/api/v1/sessions/{session}")))
        .bearer_auth(&server.key)
        .send()
        .await
        .expect("delete");
    assert_eq!(deleted.status(), 204);
}
