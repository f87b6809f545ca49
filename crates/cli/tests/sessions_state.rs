//! Sessions keep state between executes, end to end against a real `runnel serve`: variables
//! and definitions in every interpreted language, files in a compiled one, and state that
//! survives an exception.

mod common;

use common::session::{close_session, collect, create_session, execute, exit, http, text};
use common::{connect, send, Server};
use serde_json::{json, Value};

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
