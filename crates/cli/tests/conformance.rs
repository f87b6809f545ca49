//! Language conformance: every language in the registry, run end to end through one real server
//! and the real sandbox, over one WebSocket.
//!
//! Each language's programs are data: the `[conformance]` table of its
//! `languages/<id>/cases.toml` (schema in `languages/README.md`), which also says which checks
//! cannot apply. The checks, in order:
//! - `hello`: prints `Hello, World!`; status ok, exit 0, nothing on stderr.
//! - `example`: the console's example, `languages/<id>/example.<ext>`, exits 0, status ok.
//! - `stdin`: prints `ready`, reads a line, greets it (`Hello, Ada!`), with stdin given up front.
//! - `stream`: the same program, streamed: `ready` must arrive BEFORE the test sends the line
//!   that lets the program finish (this proves streaming without any timing).
//! - `unicode`: `héllo → 世界 🎉` arrives byte for byte.
//! - `split`: stdout and stderr kept apart, and `exit 3` gives exit_code 3, runtime_error.
//! - `broken`: a compile error is `compile_error` with the compiler's message (compiled
//!   languages); a syntax error is `runtime_error` with the message on stderr (interpreted ones).
//! - `crash`: a runtime error: runtime_error, non-zero exit (or a signal), the message on stderr.
//! - `memory`: allocating far more than `limits.memory_mb` gives `memory_limit`.
//! - `floors`: hello with the smallest limits a client may ask for (`pids: 1`, `memory_mb: 1`)
//!   still runs: the engine raises them to the language's floors (`min_pids`,
//!   `min_memory_mb`), for the sandbox and for the runtime's own settings (`-Xmx`, V8's heap).
//!
//! A check that cannot apply to a language is named in `conformance.skip` with the reason;
//! nothing is skipped silently. All failures of all languages are collected and reported together.
//!
//! `RUNNEL_CONFORMANCE_ONLY=go,rust` restricts the run to some languages (while iterating);
//! the registry-wide checks then still require every row to be available.

// A test reads its own knob from the environment, not the server's configuration.
#![allow(clippy::disallowed_methods)]

#[path = "conformance/checks.rs"]
mod checks;
mod common;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::OnceLock;

use checks::{conform, text};
use common::*;
use runnel_languages::cases::{self, LanguageCases};
use serde_json::{json, Value};

/// The eleven languages the product promises by name.
const PROMISED: [&str; 11] = [
    "python",
    "javascript",
    "typescript",
    "c",
    "cpp",
    "java",
    "kotlin",
    "go",
    "rust",
    "ruby",
    "php",
];

/// The conformance cases of every `languages/<id>/cases.toml`; a folder without valid cases
/// fails the suite, naming its file.
fn cases() -> Vec<LanguageCases> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../languages");
    cases::load(&dir).unwrap_or_else(|error| panic!("{error}"))
}

/// One server for every test of this file: one detection of the installed runtimes.
fn server() -> &'static Server {
    static SERVER: OnceLock<Server> = OnceLock::new();
    SERVER.get_or_init(|| Server::start(&["--pool-size", "0"]))
}

#[tokio::test]
async fn every_language_conforms() {
    let server = server();
    let listed: Value = reqwest::get(server.http_url("/api/v1/languages"))
        .await
        .expect("GET /api/v1/languages")
        .json()
        .await
        .expect("JSON");
    let listed: BTreeMap<String, Value> = listed
        .as_array()
        .expect("a list")
        .iter()
        .map(|language| (text(language, "id").to_owned(), language.clone()))
        .collect();
    let cases = cases();
    let only: Option<Vec<String>> = std::env::var("RUNNEL_CONFORMANCE_ONLY")
        .ok()
        .map(|ids| ids.split(',').map(str::to_owned).collect());

    // Every language the server lists has a row, and every row is listed (installed).
    let rows: Vec<&str> = cases.iter().map(|case| case.id.as_str()).collect();
    let unlisted: Vec<&str> = rows
        .iter()
        .copied()
        .filter(|id| !listed.contains_key(*id))
        .collect();
    assert!(
        unlisted.is_empty(),
        "not available on this host: {unlisted:?}; run scripts/install-languages.sh"
    );
    for id in listed.keys() {
        assert!(
            rows.contains(&id.as_str()),
            "{id} has no languages/{id}/cases.toml"
        );
    }

    let selected: Vec<&LanguageCases> = cases
        .iter()
        .filter(|case| only.as_ref().is_none_or(|only| only.contains(&case.id)))
        .collect();
    for case in &selected {
        assert_eq!(
            listed[&case.id]["compiled"],
            case.conformance.compiled,
            "{}: compiled flag",
            case.file.display()
        );
    }
    // Two languages at a time, each worker on its own socket: most checks are one process
    // on one core (a compile, an interpreter's start), and the machines have two.
    let next = std::sync::Mutex::new(selected.iter());
    let worker = || async {
        let mut socket = connect(server).await;
        let mut done = Vec::new();
        loop {
            let Some(case) = next.lock().expect("the queue").next().copied() else {
                return done;
            };
            let started = std::time::Instant::now();
            let found = conform(&mut socket, case).await;
            done.push((case, started.elapsed(), found));
        }
    };
    let (first, second) = tokio::join!(worker(), worker());
    let mut results: Vec<_> = first.into_iter().chain(second).collect();
    results.sort_by(|a, b| a.0.id.cmp(&b.0.id));
    let mut failures = Vec::new();
    let mut summary = String::new();
    for (case, took, found) in results {
        let skipped: Vec<String> = case
            .conformance
            .skip
            .iter()
            .map(|(check, reason)| format!("{check}: {reason}"))
            .collect();
        let _ = writeln!(
            summary,
            "{:<11} {:>6.1} s  {}  skipped: {}",
            case.id,
            took.as_secs_f64(),
            if found.is_empty() { "ok  " } else { "FAIL" },
            if skipped.is_empty() {
                "-".to_owned()
            } else {
                skipped.join("; ")
            }
        );
        failures.extend(found);
    }
    eprintln!("{summary}");
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[tokio::test]
async fn the_registry_lists_at_least_forty_working_languages_with_versions() {
    let server = server();
    let listed: Value = reqwest::get(server.http_url("/api/v1/languages"))
        .await
        .expect("GET /api/v1/languages")
        .json()
        .await
        .expect("JSON");
    let listed = listed.as_array().expect("a list");
    assert!(listed.len() >= 40, "only {} languages", listed.len());
    for id in PROMISED {
        assert!(
            listed.iter().any(|language| language["id"] == id),
            "{id} is not listed"
        );
    }
    for language in listed {
        let version = text(language, "version");
        let plausible = version.split('.').count() >= 2
            && version.split('.').all(|part| part.parse::<u32>().is_ok());
        assert!(plausible, "implausible version: {language}");
    }
    // The command line lists the same runtimes.
    let output = std::process::Command::new(RUNNEL)
        .arg("languages")
        .env("RUNNEL_LOG", "warn")
        .output()
        .expect("runnel languages");
    assert!(output.status.success(), "{output:?}");
    let table = String::from_utf8_lossy(&output.stdout);
    for language in listed {
        let id = text(language, "id");
        assert!(
            table
                .lines()
                .any(|line| line.split_whitespace().next() == Some(id)
                    && line.contains(text(language, "version"))),
            "`runnel languages` lacks {id}:\n{table}"
        );
    }
}

fn files(files: &[(&str, &str)]) -> Value {
    Value::Array(
        files
            .iter()
            .map(|(name, content)| json!({"name": name, "content": content}))
            .collect(),
    )
}

/// Programs of several files (first = main) print `Hello, Ada!` through a helper in another file.
#[tokio::test]
async fn multi_file_programs_work() {
    let programs: &[(&str, &[(&str, &str)])] = &[
        ("python", &[("main.py", "from greet import greet\nprint(greet('Ada'))"), ("greet.py", "def greet(name):\n    return f'Hello, {name}!'")]),
        ("javascript", &[("main.js", "const { greet } = require('./greet');\nconsole.log(greet('Ada'));"), ("greet.js", "exports.greet = (name) => `Hello, ${name}!`;")]),
        ("typescript", &[("main.ts", "import { greet } from './greet';\nconsole.log(greet('Ada'));"), ("greet.ts", "export function greet(name: string): string { return `Hello, ${name}!`; }")]),
        ("c", &[("main.c", "#include <stdio.h>\n#include \"greet.h\"\nint main(void) { greet(\"Ada\"); return 0; }"), ("greet.c", "#include <stdio.h>\n#include \"greet.h\"\nvoid greet(const char *name) { printf(\"Hello, %s!\\n\", name); }"), ("greet.h", "void greet(const char *name);")]),
        ("cpp", &[("main.cpp", "#include \"greet.hpp\"\nint main() { greet(\"Ada\"); }"), ("greet.cpp", "#include <iostream>\n#include \"greet.hpp\"\nvoid greet(const std::string &name) { std::cout << \"Hello, \" << name << \"!\\n\"; }"), ("greet.hpp", "#include <string>\nvoid greet(const std::string &name);")]),
        ("java", &[("Main.java", "public class Main {\n  public static void main(String[] args) { System.out.println(Greeter.greet(\"Ada\")); }\n}"), ("Greeter.java", "public class Greeter {\n  static String greet(String name) { return \"Hello, \" + name + \"!\"; }\n}")]),
        ("kotlin", &[("main.kt", "fun main() {\n    println(greet(\"Ada\"))\n}"), ("greet.kt", "fun greet(name: String) = \"Hello, $name!\"")]),
        ("go", &[("main.go", "package main\n\nimport \"fmt\"\n\nfunc main() { fmt.Println(greet(\"Ada\")) }"), ("greet.go", "package main\n\nfunc greet(name string) string { return \"Hello, \" + name + \"!\" }")]),
        ("rust", &[("main.rs", "mod greet;\n\nfn main() {\n    println!(\"{}\", greet::greet(\"Ada\"));\n}"), ("greet.rs", "pub fn greet(name: &str) -> String {\n    format!(\"Hello, {name}!\")\n}")]),
        ("ruby", &[("main.rb", "require_relative 'greet'\nputs greet('Ada')"), ("greet.rb", "def greet(name) = \"Hello, #{name}!\"")]),
        ("php", &[("main.php", "<?php\nrequire __DIR__ . '/greet.php';\necho greet('Ada'), \"\\n\";"), ("greet.php", "<?php\nfunction greet($name) { return \"Hello, $name!\"; }")]),
        ("lua", &[("main.lua", "local greet = require('greet')\nprint(greet('Ada'))"), ("greet.lua", "return function(name) return 'Hello, ' .. name .. '!' end")]),
        ("bash", &[("main.sh", "source ./greet.sh\ngreet Ada"), ("greet.sh", "greet() { echo \"Hello, $1!\"; }")]),
        ("ocaml", &[("main.ml", "let () = print_endline (Greet.greet \"Ada\")"), ("greet.ml", "let greet name = \"Hello, \" ^ name ^ \"!\"")]),
        ("haskell", &[("main.hs", "import Greet (greet)\n\nmain :: IO ()\nmain = putStrLn (greet \"Ada\")"), ("Greet.hs", "module Greet (greet) where\n\ngreet :: String -> String\ngreet name = \"Hello, \" ++ name ++ \"!\"")]),
        ("csharp", &[("main.cs", "class Program {\n  static void Main() { System.Console.WriteLine(Greeter.Greet(\"Ada\")); }\n}"), ("greet.cs", "static class Greeter {\n  public static string Greet(string name) { return \"Hello, \" + name + \"!\"; }\n}")]),
        ("nim", &[("main.nim", "import greet\necho greet(\"Ada\")"), ("greet.nim", "proc greet*(name: string): string = \"Hello, \" & name & \"!\"")]),
        ("d", &[("main.d", "import std.stdio;\nimport greeting;\n\nvoid main() { writeln(greet(\"Ada\")); }"), ("greeting.d", "module greeting;\n\nstring greet(string name) { return \"Hello, \" ~ name ~ \"!\"; }")]),
        ("fortran", &[("main.f90", "program main\n  use greeting\n  print '(a)', greet('Ada')\nend program main"), ("greeting.f90", "module greeting\ncontains\n  function greet(name) result(text)\n    character(len=*), intent(in) :: name\n    character(len=:), allocatable :: text\n    text = 'Hello, ' // name // '!'\n  end function greet\nend module greeting")]),
        ("pascal", &[("main.pas", "program Main;\nuses Greeting;\nbegin\n  WriteLn(Greet('Ada'));\nend."), ("greeting.pas", "unit Greeting;\ninterface\nfunction Greet(const name: string): string;\nimplementation\nfunction Greet(const name: string): string;\nbegin\n  Greet := 'Hello, ' + name + '!';\nend;\nend.")]),
        ("crystal", &[("main.cr", "require \"./greet\"\nputs greet(\"Ada\")"), ("greet.cr", "def greet(name)\n  \"Hello, #{name}!\"\nend")]),
        ("zig", &[("main.zig", "const std = @import(\"std\");\nconst greet = @import(\"greet.zig\");\n\npub fn main(init: std.process.Init) !void {\n    var buffer: [256]u8 = undefined;\n    var stdout: std.Io.File.Writer = .init(.stdout(), init.io, &buffer);\n    try greet.greet(&stdout.interface, \"Ada\");\n    try stdout.interface.flush();\n}"), ("greet.zig", "const std = @import(\"std\");\n\npub fn greet(out: *std.Io.Writer, name: []const u8) !void {\n    try out.print(\"Hello, {s}!\\n\", .{name});\n}")]),
        ("elixir", &[("main.exs", "Code.require_file(\"greet.exs\", __DIR__)\nIO.puts(Greet.greet(\"Ada\"))"), ("greet.exs", "defmodule Greet do\n  def greet(name), do: \"Hello, #{name}!\"\nend")]),
        ("sml", &[("main.sml", "use \"greet.sml\";\nprint (greet \"Ada\");"), ("greet.sml", "fun greet name = \"Hello, \" ^ name ^ \"!\\n\";")]),
    ];
    let server = server();
    let mut socket = connect(server).await;
    let mut failures = Vec::new();
    for (language, program) in programs {
        let result = run_once(
            &mut socket,
            json!({"action": "execute", "language": language, "files": files(program),
                   "limits": {"wall_ms": 30000}}),
        )
        .await;
        if result["status"] != "ok" || text(&result, "stdout") != "Hello, Ada!\n" {
            failures.push(format!("{language}: {result}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Program arguments arrive as given (spaces, empty strings and Unicode kept), and compiler
/// flags reach the compiler.
#[tokio::test]
async fn program_arguments_and_compiler_flags_arrive_intact() {
    let programs: &[(&str, &str)] = &[
        ("python", "import sys\nfor arg in sys.argv[1:]: print(f'[{arg}]')"),
        ("javascript", "for (const arg of process.argv.slice(2)) console.log(`[${arg}]`);"),
        ("typescript", "for (const arg of process.argv.slice(2)) console.log(`[${arg}]`);"),
        ("c", "#include <stdio.h>\nint main(int argc, char **argv) { for (int i = 1; i < argc; i++) printf(\"[%s]\\n\", argv[i]); return 0; }"),
        ("cpp", "#include <iostream>\nint main(int argc, char **argv) { for (int i = 1; i < argc; i++) std::cout << '[' << argv[i] << \"]\\n\"; }"),
        ("java", "public class Main {\n  public static void main(String[] args) { for (String arg : args) System.out.println(\"[\" + arg + \"]\"); }\n}"),
        ("kotlin", "fun main(args: Array<String>) {\n    for (arg in args) println(\"[$arg]\")\n}"),
        ("go", "package main\n\nimport (\n\t\"fmt\"\n\t\"os\"\n)\n\nfunc main() {\n\tfor _, arg := range os.Args[1:] {\n\t\tfmt.Printf(\"[%s]\\n\", arg)\n\t}\n}"),
        ("rust", "fn main() {\n    for arg in std::env::args().skip(1) {\n        println!(\"[{arg}]\");\n    }\n}"),
        ("ruby", "ARGV.each { |arg| puts \"[#{arg}]\" }"),
        ("php", "<?php\nforeach (array_slice($argv, 1) as $arg) echo \"[$arg]\\n\";"),
        ("bash", "for arg in \"$@\"; do echo \"[$arg]\"; done"),
        ("perl", "print \"[$_]\\n\" for @ARGV;"),
        ("lua", "for _, arg in ipairs(arg) do print('[' .. arg .. ']') end"),
        ("r", "for (arg in commandArgs(trailingOnly = TRUE)) cat('[', arg, ']\\n', sep = '')"),
        ("tcl", "foreach arg $argv { puts \"\\[$arg\\]\" }"),
        ("erlang", "main(Args) -> [io:format(\"[~ts]~n\", [A]) || A <- Args]."),
        ("elixir", "for arg <- System.argv(), do: IO.puts(\"[#{arg}]\")"),
        ("haskell", "import System.Environment\n\nmain :: IO ()\nmain = getArgs >>= mapM_ (\\arg -> putStrLn (\"[\" ++ arg ++ \"]\"))"),
        ("csharp", "class Program {\n  static void Main(string[] args) { foreach (var arg in args) System.Console.WriteLine(\"[\" + arg + \"]\"); }\n}"),
        ("scala", "object Main {\n  def main(args: Array[String]): Unit = args.foreach(arg => println(s\"[$arg]\"))\n}"),
        ("crystal", "ARGV.each { |arg| puts \"[#{arg}]\" }"),
        ("nim", "import os\nfor arg in commandLineParams(): echo \"[\", arg, \"]\""),
        ("d", "import std.stdio;\n\nvoid main(string[] args) { foreach (arg; args[1 .. $]) writeln(\"[\", arg, \"]\"); }"),
        ("ocaml", "let () = Array.iteri (fun i arg -> if i > 0 then Printf.printf \"[%s]\\n\" arg) Sys.argv"),
    ];
    let args = ["a b", "", "ü → 世"];
    let expected = "[a b]\n[]\n[ü → 世]\n";
    let server = server();
    let mut socket = connect(server).await;
    let mut failures = Vec::new();
    for (language, code) in programs {
        let result = run_once(
            &mut socket,
            json!({"action": "execute", "language": language, "code": code, "args": args,
                   "limits": {"wall_ms": 30000}}),
        )
        .await;
        if result["status"] != "ok" || text(&result, "stdout") != expected {
            failures.push(format!("{language}: {result}"));
        }
    }

    // Compiler flags, one with a space in it, reach the compiler as single items.
    let flagged: &[(&str, &str, &[&str])] = &[
        (
            "c",
            "#include <stdio.h>\nint main(void) { puts(GREETING); return 0; }",
            &["-DGREETING=\"Hello, flags!\""],
        ),
        (
            "cpp",
            "#include <iostream>\nint main() { std::cout << GREETING << '\\n'; }",
            &["-DGREETING=\"Hello, flags!\""],
        ),
        (
            "rust",
            "fn main() {\n    #[cfg(flagged)]\n    println!(\"Hello, flags!\");\n}",
            &["--cfg", "flagged"],
        ),
        (
            "fortran",
            "program main\n  print '(a)', GREETING\nend program main",
            &["-cpp", "-DGREETING=\"Hello, flags!\""],
        ),
    ];
    for (language, code, compiler_args) in flagged {
        let result = run_once(
            &mut socket,
            json!({"action": "execute", "language": language, "code": code,
                   "compiler_args": compiler_args, "limits": {"wall_ms": 30000}}),
        )
        .await;
        if result["status"] != "ok" || text(&result, "stdout") != "Hello, flags!\n" {
            failures.push(format!("{language} with {compiler_args:?}: {result}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
