//! Language conformance: every language in the registry, run end to end through one real server
//! and the real sandbox, over one WebSocket.
//!
//! Each row of [`cases`] holds the programs of one language and says which checks apply. The
//! checks, in order:
//! - `hello`: prints `Hello, World!`; status ok, exit 0, nothing on stderr.
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
//! A check that cannot apply to a language is a [`Check::Skip`] with the reason; nothing is
//! skipped silently. All failures of all languages are collected and reported together.
//!
//! `RUNNEL_CONFORMANCE_ONLY=go,rust` restricts the run to some languages (while iterating);
//! the registry-wide checks then still require every row to be available.

// A test reads its own knob from the environment, not the server's configuration.
#![allow(clippy::disallowed_methods)]

mod common;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::OnceLock;

use common::*;
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

/// Memory limit of the memory check, MiB.
const MEMORY_MB: u64 = 128;

const UNICODE: &str = "héllo → 世界 🎉";

/// One check of one language: the program, or why the check cannot apply.
enum Check<T> {
    Run(T),
    Skip(&'static str),
}

/// How a runtime error shows.
enum Crash {
    /// This text on stderr.
    Stderr(&'static str),
    /// Killed by this signal (a program with no runtime to print a message).
    Signal(&'static str),
}

struct Case {
    id: &'static str,
    compiled: bool,
    /// Input given to every program except the greeting's second line (sed needs a line to
    /// run at all; "" for everything else).
    feed: &'static str,
    hello: String,
    greet: String,
    unicode: String,
    split: Check<String>,
    /// Program, and text the compiler's output (or stderr) must contain.
    broken: Check<(String, &'static str)>,
    crash: Check<(String, Crash)>,
    memory: Check<String>,
}

fn s(text: &str) -> String {
    text.to_owned()
}

/// A Brainf*ck program that prints `text` (cell 0 set from zero for every byte).
fn bf_print(text: &str) -> String {
    text.bytes()
        .map(|byte| format!("[-]{}.", "+".repeat(usize::from(byte))))
        .collect()
}

#[allow(clippy::too_many_lines)]
fn cases() -> Vec<Case> {
    use Check::{Run, Skip};
    vec![
        Case {
            id: "python",
            compiled: false,
            feed: "",
            hello: s("print('Hello, World!')"),
            greet: s("print('ready')\nname = input()\nprint(f'Hello, {name}!')"),
            unicode: s("print('héllo → 世界 🎉')"),
            split: Run(s("import sys\nprint('héllo → 世界 🎉')\nprint('oops', file=sys.stderr)\nsys.exit(3)")),
            broken: Run((s("print('unclosed'\n"), "SyntaxError")),
            crash: Run((s("raise ValueError('boom')"), Crash::Stderr("ValueError: boom"))),
            memory: Run(s("chunks = []\nwhile True:\n    chunks.append(bytearray(b'x' * (1 << 20)))")),
        },
        Case {
            id: "javascript",
            compiled: false,
            feed: "",
            hello: s("console.log('Hello, World!');"),
            greet: s("const rl = require('readline').createInterface({ input: process.stdin });\nconsole.log('ready');\nrl.once('line', (name) => { console.log(`Hello, ${name}!`); rl.close(); });"),
            unicode: s("console.log('héllo → 世界 🎉');"),
            split: Run(s("console.log('héllo → 世界 🎉');\nconsole.error('oops');\nprocess.exitCode = 3;")),
            broken: Run((s("console.log('unclosed';\n"), "SyntaxError")),
            crash: Run((s("throw new Error('boom');"), Crash::Stderr("Error: boom"))),
            memory: Run(s("const keep = [];\nwhile (true) keep.push(new Array(1 << 17).fill(1.5));")),
        },
        Case {
            id: "typescript",
            compiled: true,
            feed: "",
            hello: s("const greeting: string = 'Hello, World!';\nconsole.log(greeting);"),
            greet: s("import * as readline from 'readline';\nconst rl = readline.createInterface({ input: process.stdin });\nconsole.log('ready');\nrl.once('line', (name: string) => { console.log(`Hello, ${name}!`); rl.close(); });"),
            unicode: s("const text: string = 'héllo → 世界 🎉';\nconsole.log(text);"),
            split: Run(s("console.log('héllo → 世界 🎉');\nconsole.error('oops');\nprocess.exitCode = 3;")),
            broken: Run((s("const x: number = ;\n"), "Unexpected")),
            crash: Run((s("function fail(): never { throw new Error('boom'); }\nfail();"), Crash::Stderr("Error: boom"))),
            memory: Run(s("const keep: number[][] = [];\nwhile (true) keep.push(new Array(1 << 17).fill(1.5));")),
        },
        Case {
            id: "c",
            compiled: true,
            feed: "",
            hello: s("#include <stdio.h>\nint main(void) { puts(\"Hello, World!\"); return 0; }"),
            greet: s("#include <stdio.h>\nint main(void) {\n  char name[64];\n  puts(\"ready\");\n  if (scanf(\"%63s\", name) != 1) return 1;\n  printf(\"Hello, %s!\\n\", name);\n  return 0;\n}"),
            unicode: s("#include <stdio.h>\nint main(void) { puts(\"héllo → 世界 🎉\"); return 0; }"),
            split: Run(s("#include <stdio.h>\nint main(void) { puts(\"héllo → 世界 🎉\"); fputs(\"oops\\n\", stderr); return 3; }")),
            broken: Run((s("int main(void) { return undeclared_name; }"), "undeclared_name")),
            crash: Run((s("#include <assert.h>\nint main(void) { int boom = 0; assert(boom); return 0; }"), Crash::Stderr("Assertion `boom' failed"))),
            memory: Run(s("#include <stdlib.h>\n#include <string.h>\nint main(void) { for (;;) { char *p = malloc(1 << 20); if (!p) return 1; memset(p, 1, 1 << 20); } }")),
        },
        Case {
            id: "cpp",
            compiled: true,
            feed: "",
            hello: s("#include <iostream>\nint main() { std::cout << \"Hello, World!\" << std::endl; }"),
            greet: s("#include <iostream>\n#include <string>\nint main() {\n  std::cout << \"ready\\n\";\n  std::string name;\n  std::getline(std::cin, name);\n  std::cout << \"Hello, \" << name << \"!\\n\";\n}"),
            unicode: s("#include <iostream>\nint main() { std::cout << \"héllo → 世界 🎉\\n\"; }"),
            split: Run(s("#include <iostream>\nint main() { std::cout << \"héllo → 世界 🎉\\n\"; std::cerr << \"oops\\n\"; return 3; }")),
            broken: Run((s("int main() { return undeclared_name; }"), "undeclared_name")),
            crash: Run((s("#include <stdexcept>\nint main() { throw std::runtime_error(\"boom\"); }"), Crash::Stderr("boom"))),
            memory: Run(s("#include <vector>\nint main() { std::vector<std::vector<char>> keep; for (;;) keep.emplace_back(1 << 20, 'x'); }")),
        },
        Case {
            id: "java",
            compiled: true,
            feed: "",
            hello: s("public class Main {\n  public static void main(String[] args) { System.out.println(\"Hello, World!\"); }\n}"),
            greet: s("import java.util.Scanner;\npublic class Main {\n  public static void main(String[] args) {\n    System.out.println(\"ready\");\n    String name = new Scanner(System.in).nextLine();\n    System.out.println(\"Hello, \" + name + \"!\");\n  }\n}"),
            unicode: s("public class Main {\n  public static void main(String[] args) { System.out.println(\"héllo → 世界 🎉\"); }\n}"),
            split: Run(s("public class Main {\n  public static void main(String[] args) {\n    System.out.println(\"héllo → 世界 🎉\");\n    System.err.println(\"oops\");\n    System.exit(3);\n  }\n}")),
            broken: Run((s("public class Main {\n  public static void main(String[] args) { int x = undeclaredName; }\n}"), "undeclaredName")),
            crash: Run((s("public class Main {\n  public static void main(String[] args) { throw new IllegalStateException(\"boom\"); }\n}"), Crash::Stderr("IllegalStateException: boom"))),
            memory: Run(s("import java.util.*;\npublic class Main {\n  public static void main(String[] args) {\n    List<byte[]> keep = new ArrayList<>();\n    while (true) { byte[] b = new byte[1 << 20]; Arrays.fill(b, (byte) 1); keep.add(b); }\n  }\n}")),
        },
        Case {
            id: "kotlin",
            compiled: true,
            feed: "",
            hello: s("fun main() {\n    println(\"Hello, World!\")\n}"),
            greet: s("fun main() {\n    println(\"ready\")\n    val name = readLine()!!\n    println(\"Hello, $name!\")\n}"),
            unicode: s("fun main() {\n    println(\"héllo → 世界 🎉\")\n}"),
            split: Run(s("import kotlin.system.exitProcess\n\nfun main() {\n    println(\"héllo → 世界 🎉\")\n    System.err.println(\"oops\")\n    exitProcess(3)\n}")),
            broken: Run((s("fun main() {\n    println(undeclaredName)\n}"), "undeclaredName")),
            crash: Run((s("fun main() {\n    throw IllegalStateException(\"boom\")\n}"), Crash::Stderr("IllegalStateException: boom"))),
            memory: Run(s("fun main() {\n    val keep = ArrayList<ByteArray>()\n    while (true) keep.add(ByteArray(1 shl 20) { 1 })\n}")),
        },
        Case {
            id: "go",
            compiled: true,
            feed: "",
            hello: s("package main\n\nimport \"fmt\"\n\nfunc main() { fmt.Println(\"Hello, World!\") }"),
            greet: s("package main\n\nimport (\n\t\"bufio\"\n\t\"fmt\"\n\t\"os\"\n\t\"strings\"\n)\n\nfunc main() {\n\tfmt.Println(\"ready\")\n\tline, _ := bufio.NewReader(os.Stdin).ReadString('\\n')\n\tfmt.Printf(\"Hello, %s!\\n\", strings.TrimSpace(line))\n}"),
            unicode: s("package main\n\nimport \"fmt\"\n\nfunc main() { fmt.Println(\"héllo → 世界 🎉\") }"),
            split: Run(s("package main\n\nimport (\n\t\"fmt\"\n\t\"os\"\n)\n\nfunc main() {\n\tfmt.Println(\"héllo → 世界 🎉\")\n\tfmt.Fprintln(os.Stderr, \"oops\")\n\tos.Exit(3)\n}")),
            broken: Run((s("package main\n\nfunc main() { _ = undeclaredName }"), "undeclaredName")),
            crash: Run((s("package main\n\nfunc main() { panic(\"boom\") }"), Crash::Stderr("panic: boom"))),
            memory: Run(s("package main\n\nfunc main() {\n\tvar keep [][]byte\n\tfor {\n\t\tb := make([]byte, 1<<20)\n\t\tfor i := range b {\n\t\t\tb[i] = 1\n\t\t}\n\t\tkeep = append(keep, b)\n\t}\n}")),
        },
        Case {
            id: "rust",
            compiled: true,
            feed: "",
            hello: s("fn main() {\n    println!(\"Hello, World!\");\n}"),
            greet: s("fn main() {\n    println!(\"ready\");\n    let mut name = String::new();\n    std::io::stdin().read_line(&mut name).unwrap();\n    println!(\"Hello, {}!\", name.trim_end());\n}"),
            unicode: s("fn main() {\n    println!(\"héllo → 世界 🎉\");\n}"),
            split: Run(s("fn main() {\n    println!(\"héllo → 世界 🎉\");\n    eprintln!(\"oops\");\n    std::process::exit(3);\n}")),
            broken: Run((s("fn main() {\n    let x: i32 = undeclared_name;\n}"), "undeclared_name")),
            crash: Run((s("fn main() {\n    panic!(\"boom\");\n}"), Crash::Stderr("boom"))),
            memory: Run(s("fn main() {\n    let mut keep: Vec<Vec<u8>> = Vec::new();\n    loop {\n        keep.push(vec![1u8; 1 << 20]);\n    }\n}")),
        },
        Case {
            id: "ruby",
            compiled: false,
            feed: "",
            hello: s("puts 'Hello, World!'"),
            greet: s("puts 'ready'\nname = gets.chomp\nputs \"Hello, #{name}!\""),
            unicode: s("puts 'héllo → 世界 🎉'"),
            split: Run(s("puts 'héllo → 世界 🎉'\n$stderr.puts 'oops'\nexit 3")),
            broken: Run((s("def oops(\n"), "syntax error")),
            crash: Run((s("raise ArgumentError, 'boom'"), Crash::Stderr("boom (ArgumentError)"))),
            memory: Run(s("keep = []\nloop { keep << ('x' * (1 << 20)) }")),
        },
        Case {
            id: "php",
            compiled: false,
            feed: "",
            hello: s("<?php\necho \"Hello, World!\\n\";"),
            greet: s("<?php\necho \"ready\\n\";\n$name = trim(fgets(STDIN));\necho \"Hello, $name!\\n\";"),
            unicode: s("<?php\necho \"héllo → 世界 🎉\\n\";"),
            split: Run(s("<?php\necho \"héllo → 世界 🎉\\n\";\nfwrite(STDERR, \"oops\\n\");\nexit(3);")),
            broken: Run((s("<?php\necho 'unclosed'\n"), "syntax error")),
            crash: Run((s("<?php\nthrow new RuntimeException('boom');"), Crash::Stderr("RuntimeException: boom"))),
            memory: Run(s("<?php\n$keep = [];\nwhile (true) { $keep[] = str_repeat('x', 1 << 20); }")),
        },
        Case {
            id: "bash",
            compiled: false,
            feed: "",
            hello: s("echo 'Hello, World!'"),
            greet: s("echo ready\nread -r name\necho \"Hello, $name!\""),
            unicode: s("echo 'héllo → 世界 🎉'"),
            split: Run(s("echo 'héllo → 世界 🎉'\necho oops >&2\nexit 3")),
            broken: Run((s("if then fi\n"), "syntax error")),
            crash: Run((s("set -e\nundeclared_command_xyz\necho unreachable"), Crash::Stderr("undeclared_command_xyz: command not found"))),
            memory: Run(s("x=xxxxxxxx\nwhile :; do x=$x$x; done")),
        },
        Case {
            id: "perl",
            compiled: false,
            feed: "",
            hello: s("print \"Hello, World!\\n\";"),
            greet: s("print \"ready\\n\";\nmy $name = <STDIN>;\nchomp $name;\nprint \"Hello, $name!\\n\";"),
            unicode: s("print \"héllo → 世界 🎉\\n\";"),
            split: Run(s("print \"héllo → 世界 🎉\\n\";\nprint STDERR \"oops\\n\";\nexit 3;")),
            broken: Run((s("print 'x' +;\n"), "syntax error")),
            crash: Run((s("die \"boom\\n\";"), Crash::Stderr("boom"))),
            memory: Run(s("my @keep;\nwhile (1) { push @keep, 'x' x (1 << 20); }")),
        },
        Case {
            id: "lua",
            compiled: false,
            feed: "",
            hello: s("print('Hello, World!')"),
            greet: s("print('ready')\nlocal name = io.read('l')\nprint('Hello, ' .. name .. '!')"),
            unicode: s("print('héllo → 世界 🎉')"),
            split: Run(s("print('héllo → 世界 🎉')\nio.stderr:write('oops\\n')\nos.exit(3)")),
            broken: Run((s("print('unclosed'\n"), "expected")),
            crash: Run((s("error('boom')"), Crash::Stderr("boom"))),
            memory: Run(s("local keep = {}\nwhile true do keep[#keep + 1] = string.rep('x', 1 << 20) .. #keep end")),
        },
        Case {
            id: "r",
            compiled: false,
            feed: "",
            hello: s("cat('Hello, World!\\n')"),
            greet: s("cat('ready\\n')\nname <- readLines(file('stdin'), n = 1)\ncat('Hello, ', name, '!\\n', sep = '')"),
            unicode: s("cat('héllo → 世界 🎉\\n')"),
            split: Run(s("cat('héllo → 世界 🎉\\n')\ncat('oops\\n', file = stderr())\nquit(status = 3)")),
            broken: Run((s("cat('unclosed'\n"), "unexpected")),
            crash: Run((s("stop('boom')"), Crash::Stderr("boom"))),
            memory: Run(s("keep <- list()\ni <- 0\nrepeat { i <- i + 1; keep[[i]] <- runif(131072) }")),
        },
        Case {
            id: "haskell",
            compiled: true,
            feed: "",
            hello: s("main :: IO ()\nmain = putStrLn \"Hello, World!\""),
            greet: s("main :: IO ()\nmain = do\n  putStrLn \"ready\"\n  name <- getLine\n  putStrLn (\"Hello, \" ++ name ++ \"!\")"),
            unicode: s("main :: IO ()\nmain = putStrLn \"héllo → 世界 🎉\""),
            split: Run(s("import System.Exit\nimport System.IO\n\nmain :: IO ()\nmain = do\n  putStrLn \"héllo → 世界 🎉\"\n  hPutStrLn stderr \"oops\"\n  exitWith (ExitFailure 3)")),
            broken: Run((s("main :: IO ()\nmain = putStrLn undeclaredName"), "undeclaredName")),
            crash: Run((s("main :: IO ()\nmain = error \"boom\""), Crash::Stderr("boom"))),
            memory: Run(s("main :: IO ()\nmain = do\n  let xs = [1 .. 100000000] :: [Int]\n  print (sum xs + length xs)")),
        },
        Case {
            id: "ocaml",
            compiled: true,
            feed: "",
            hello: s("let () = print_endline \"Hello, World!\""),
            greet: s("let () =\n  print_endline \"ready\";\n  let name = read_line () in\n  Printf.printf \"Hello, %s!\\n\" name"),
            unicode: s("let () = print_endline \"héllo → 世界 🎉\""),
            split: Run(s("let () =\n  print_endline \"héllo → 世界 🎉\";\n  prerr_endline \"oops\";\n  exit 3")),
            broken: Run((s("let () = print_endline undeclared_name"), "undeclared_name")),
            crash: Run((s("let () = failwith \"boom\""), Crash::Stderr("boom"))),
            memory: Run(s("let () =\n  let keep = ref [] in\n  while true do keep := Bytes.make (1 lsl 20) 'x' :: !keep done")),
        },
        Case {
            id: "erlang",
            compiled: false,
            feed: "",
            hello: s("main(_) -> io:format(\"Hello, World!~n\")."),
            greet: s("main(_) ->\n    io:format(\"ready~n\"),\n    Name = string:trim(io:get_line(\"\")),\n    io:format(\"Hello, ~s!~n\", [Name])."),
            unicode: s("main(_) -> io:format(\"~ts~n\", [\"héllo → 世界 🎉\"])."),
            split: Run(s("main(_) ->\n    io:format(\"~ts~n\", [\"héllo → 世界 🎉\"]),\n    io:format(standard_error, \"oops~n\", []),\n    halt(3).")),
            broken: Run((s("main(_) -> io:format(\"unclosed\".\n"), "syntax error")),
            crash: Run((s("main(_) -> erlang:error(boom)."), Crash::Stderr("boom"))),
            memory: Run(s("main(_) -> loop([]).\nloop(Keep) -> loop([binary:copy(<<1>>, 1048576) | Keep]).")),
        },
        Case {
            id: "elixir",
            compiled: false,
            feed: "",
            hello: s("IO.puts(\"Hello, World!\")"),
            greet: s("IO.puts(\"ready\")\nname = IO.gets(\"\") |> String.trim()\nIO.puts(\"Hello, #{name}!\")"),
            unicode: s("IO.puts(\"héllo → 世界 🎉\")"),
            split: Run(s("IO.puts(\"héllo → 世界 🎉\")\nIO.puts(:stderr, \"oops\")\nSystem.halt(3)")),
            broken: Run((s("defmodule Broken do\n  def x, do: 1\n"), "missing terminator")),
            crash: Run((s("raise \"boom\""), Crash::Stderr("(RuntimeError) boom"))),
            memory: Run(s("Stream.repeatedly(fn -> :binary.copy(<<1>>, 1_048_576) end)\n|> Enum.reduce([], fn b, keep -> [b | keep] end)")),
        },
        Case {
            id: "scala",
            compiled: true,
            feed: "",
            hello: s("object Main {\n  def main(args: Array[String]): Unit = println(\"Hello, World!\")\n}"),
            greet: s("object Main {\n  def main(args: Array[String]): Unit = {\n    println(\"ready\")\n    val name = scala.io.StdIn.readLine()\n    println(s\"Hello, $name!\")\n  }\n}"),
            unicode: s("object Main {\n  def main(args: Array[String]): Unit = println(\"héllo → 世界 🎉\")\n}"),
            split: Run(s("object Main {\n  def main(args: Array[String]): Unit = {\n    println(\"héllo → 世界 🎉\")\n    System.err.println(\"oops\")\n    sys.exit(3)\n  }\n}")),
            broken: Run((s("object Main {\n  def main(args: Array[String]): Unit = println(undeclaredName)\n}"), "undeclaredName")),
            crash: Run((s("object Main {\n  def main(args: Array[String]): Unit = throw new IllegalStateException(\"boom\")\n}"), Crash::Stderr("IllegalStateException: boom"))),
            memory: Run(s("object Main {\n  def main(args: Array[String]): Unit = {\n    val keep = scala.collection.mutable.ArrayBuffer[Array[Byte]]()\n    while (true) keep += Array.fill[Byte](1 << 20)(1)\n  }\n}")),
        },
        Case {
            id: "clojure",
            compiled: false,
            feed: "",
            hello: s("(println \"Hello, World!\")"),
            greet: s("(println \"ready\")\n(let [name (read-line)]\n  (println (str \"Hello, \" name \"!\")))"),
            unicode: s("(println \"héllo → 世界 🎉\")"),
            split: Run(s("(println \"héllo → 世界 🎉\")\n(binding [*out* *err*] (println \"oops\"))\n(System/exit 3)")),
            broken: Run((s("(println \"unclosed\"\n"), "EOF while reading")),
            crash: Run((s("(throw (IllegalStateException. \"boom\"))"), Crash::Stderr("boom"))),
            memory: Run(s("(loop [keep []]\n  (recur (conj keep (byte-array (bit-shift-left 1 20) (byte 1)))))")),
        },
        Case {
            id: "groovy",
            compiled: false,
            feed: "",
            hello: s("println 'Hello, World!'"),
            greet: s("println 'ready'\ndef name = System.in.newReader().readLine()\nprintln \"Hello, ${name}!\""),
            unicode: s("println 'héllo → 世界 🎉'"),
            split: Run(s("println 'héllo → 世界 🎉'\nSystem.err.println 'oops'\nSystem.exit(3)")),
            broken: Run((s("def x = {\n"), "unexpected")),
            crash: Run((s("throw new IllegalStateException('boom')"), Crash::Stderr("IllegalStateException: boom"))),
            memory: Run(s("def keep = []\nwhile (true) { byte[] b = new byte[1 << 20]; Arrays.fill(b, (byte) 1); keep << b }")),
        },
        Case {
            id: "csharp",
            compiled: true,
            feed: "",
            hello: s("class Program {\n  static void Main() { System.Console.WriteLine(\"Hello, World!\"); }\n}"),
            greet: s("using System;\nclass Program {\n  static void Main() {\n    Console.WriteLine(\"ready\");\n    string name = Console.ReadLine();\n    Console.WriteLine(\"Hello, \" + name + \"!\");\n  }\n}"),
            unicode: s("class Program {\n  static void Main() { System.Console.WriteLine(\"héllo → 世界 🎉\"); }\n}"),
            split: Run(s("using System;\nclass Program {\n  static int Main() {\n    Console.WriteLine(\"héllo → 世界 🎉\");\n    Console.Error.WriteLine(\"oops\");\n    return 3;\n  }\n}")),
            broken: Run((s("class Program {\n  static void Main() { System.Console.WriteLine(undeclaredName); }\n}"), "undeclaredName")),
            crash: Run((s("class Program {\n  static void Main() { throw new System.InvalidOperationException(\"boom\"); }\n}"), Crash::Stderr("InvalidOperationException: boom"))),
            memory: Run(s("using System.Collections.Generic;\nclass Program {\n  static void Main() {\n    var keep = new List<byte[]>();\n    while (true) { var b = new byte[1 << 20]; for (int i = 0; i < b.Length; i += 4096) b[i] = 1; keep.Add(b); }\n  }\n}")),
        },
        Case {
            id: "nim",
            compiled: true,
            feed: "",
            hello: s("echo \"Hello, World!\""),
            greet: s("echo \"ready\"\nlet name = readLine(stdin)\necho \"Hello, \", name, \"!\""),
            unicode: s("echo \"héllo → 世界 🎉\""),
            split: Run(s("echo \"héllo → 世界 🎉\"\nstderr.writeLine(\"oops\")\nquit(3)")),
            broken: Run((s("echo undeclaredName"), "undeclaredName")),
            crash: Run((s("raise newException(ValueError, \"boom\")"), Crash::Stderr("boom"))),
            memory: Run(s("var keep: seq[string]\nwhile true:\n  keep.add(newString(1 shl 20))")),
        },
        Case {
            id: "d",
            compiled: true,
            feed: "",
            hello: s("import std.stdio;\n\nvoid main() { writeln(\"Hello, World!\"); }"),
            greet: s("import std.stdio, std.string;\n\nvoid main() {\n    writeln(\"ready\");\n    auto name = readln().strip;\n    writeln(\"Hello, \", name, \"!\");\n}"),
            unicode: s("import std.stdio;\n\nvoid main() { writeln(\"héllo → 世界 🎉\"); }"),
            split: Run(s("import std.stdio;\n\nint main() {\n    writeln(\"héllo → 世界 🎉\");\n    stderr.writeln(\"oops\");\n    return 3;\n}")),
            broken: Run((s("import std.stdio;\n\nvoid main() { writeln(undeclaredName); }"), "undeclaredName")),
            crash: Run((s("void main() { throw new Exception(\"boom\"); }"), Crash::Stderr("boom"))),
            memory: Run(s("void main() {\n    ubyte[][] keep;\n    while (true) { auto b = new ubyte[1 << 20]; b[] = 1; keep ~= b; }\n}")),
        },
        Case {
            id: "fortran",
            compiled: true,
            feed: "",
            hello: s("program hello\n  print '(a)', 'Hello, World!'\nend program hello"),
            greet: s("program greet\n  character(len=100) :: name\n  print '(a)', 'ready'\n  read (*, '(a)') name\n  print '(a)', 'Hello, ' // trim(name) // '!'\nend program greet"),
            unicode: s("program uni\n  print '(a)', 'héllo → 世界 🎉'\nend program uni"),
            split: Run(s("program split\n  use iso_fortran_env, only: error_unit\n  print '(a)', 'héllo → 世界 🎉'\n  write (error_unit, '(a)') 'oops'\n  call exit(3)\nend program split")),
            broken: Run((s("program broken\n  implicit none\n  print *, undeclared_name\nend program broken"), "undeclared_name")),
            crash: Run((s("program crash\n  error stop 'boom'\nend program crash"), Crash::Stderr("boom"))),
            memory: Run(s("program mem\n  real(8), allocatable :: a(:)\n  allocate (a(300000000))\n  a = 1.0d0\n  print *, sum(a)\nend program mem")),
        },
        Case {
            id: "pascal",
            compiled: true,
            feed: "",
            hello: s("program Hello;\nbegin\n  WriteLn('Hello, World!');\nend."),
            greet: s("program Greet;\nvar name: string;\nbegin\n  WriteLn('ready');\n  ReadLn(name);\n  WriteLn('Hello, ', name, '!');\nend."),
            unicode: s("program Uni;\nbegin\n  WriteLn('héllo → 世界 🎉');\nend."),
            split: Run(s("program Split;\nbegin\n  WriteLn('héllo → 世界 🎉');\n  WriteLn(StdErr, 'oops');\n  Halt(3);\nend.")),
            broken: Run((s("program Broken;\nbegin\n  WriteLn(undeclaredName);\nend."), "undeclaredName")),
            crash: Run((s("program Crash;\nvar x, y: Integer;\nbegin\n  x := 0;\n  y := 10 div x;\n  WriteLn(y);\nend."), Crash::Stderr("Runtime error 200"))),
            memory: Run(s("program Mem;\nvar p: PByte;\nbegin\n  while True do\n  begin\n    GetMem(p, 1 shl 20);\n    FillChar(p^, 1 shl 20, 1);\n  end;\nend.")),
        },
        Case {
            id: "cobol",
            compiled: true,
            feed: "",
            hello: s("       IDENTIFICATION DIVISION.\n       PROGRAM-ID. HELLO.\n       PROCEDURE DIVISION.\n           DISPLAY \"Hello, World!\".\n           STOP RUN.\n"),
            greet: s("       IDENTIFICATION DIVISION.\n       PROGRAM-ID. GREET.\n       DATA DIVISION.\n       WORKING-STORAGE SECTION.\n       01 WS-NAME PIC X(64).\n       PROCEDURE DIVISION.\n           DISPLAY \"ready\".\n           ACCEPT WS-NAME.\n           DISPLAY \"Hello, \" FUNCTION TRIM(WS-NAME) \"!\".\n           STOP RUN.\n"),
            unicode: s("       IDENTIFICATION DIVISION.\n       PROGRAM-ID. UNI.\n       PROCEDURE DIVISION.\n           DISPLAY \"héllo → 世界 🎉\".\n           STOP RUN.\n"),
            split: Run(s("       IDENTIFICATION DIVISION.\n       PROGRAM-ID. SPLIT.\n       PROCEDURE DIVISION.\n           DISPLAY \"héllo → 世界 🎉\".\n           DISPLAY \"oops\" UPON SYSERR.\n           MOVE 3 TO RETURN-CODE.\n           STOP RUN.\n")),
            broken: Run((s("       IDENTIFICATION DIVISION.\n       PROGRAM-ID. BROKEN.\n       PROCEDURE DIVISION.\n           DISPLAY UNDECLARED-NAME.\n           STOP RUN.\n"), "UNDECLARED-NAME")),
            crash: Run((s("       IDENTIFICATION DIVISION.\n       PROGRAM-ID. CRASH.\n       PROCEDURE DIVISION.\n           CALL \"undeclared_module\".\n           STOP RUN.\n"), Crash::Stderr("undeclared_module"))),
            memory: Run(s("       IDENTIFICATION DIVISION.\n       PROGRAM-ID. MEM.\n       DATA DIVISION.\n       WORKING-STORAGE SECTION.\n       01 WS-PTR USAGE POINTER.\n       PROCEDURE DIVISION.\n       GROW.\n           ALLOCATE 1048576 CHARACTERS INITIALIZED RETURNING WS-PTR.\n           GO TO GROW.\n")),
        },
        Case {
            id: "prolog",
            compiled: false,
            feed: "",
            hello: s(":- initialization(main, main).\n\nmain :- writeln('Hello, World!')."),
            greet: s(":- initialization(main, main).\n\nmain :-\n    writeln(ready),\n    read_line_to_string(user_input, Name),\n    format(\"Hello, ~w!~n\", [Name])."),
            unicode: s(":- initialization(main, main).\n\nmain :- writeln(\"héllo → 世界 🎉\")."),
            split: Run(s(":- initialization(main, main).\n\nmain :-\n    writeln(\"héllo → 世界 🎉\"),\n    format(user_error, \"oops~n\", []),\n    halt(3).")),
            broken: Run((s(":- initialization(main, main).\n\nmain :- writeln('unclosed'.\n"), "Syntax error")),
            crash: Run((s(":- initialization(main, main).\n\nmain :- X is 1 / 0, writeln(X)."), Crash::Stderr("zero_divisor"))),
            memory: Run(s(":- initialization(main, main).\n\nmain :- numlist(1, 100000000, L), sum_list(L, S), writeln(S).")),
        },
        Case {
            id: "commonlisp",
            compiled: false,
            feed: "",
            hello: s("(format t \"Hello, World!~%\")"),
            greet: s("(format t \"ready~%\")\n(let ((name (read-line)))\n  (format t \"Hello, ~a!~%\" name))"),
            unicode: s("(format t \"héllo → 世界 🎉~%\")"),
            split: Run(s("(format t \"héllo → 世界 🎉~%\")\n(format *error-output* \"oops~%\")\n(sb-ext:exit :code 3)")),
            broken: Run((s("(format t \"unclosed\"\n"), "end of file")),
            crash: Run((s("(error \"boom\")"), Crash::Stderr("boom"))),
            memory: Run(s("(let ((keep nil))\n  (loop (push (make-array (* 1024 1024) :element-type '(unsigned-byte 8) :initial-element 1) keep)))")),
        },
        Case {
            id: "scheme",
            compiled: false,
            feed: "",
            hello: s("(display \"Hello, World!\")\n(newline)"),
            greet: s("(use-modules (ice-9 rdelim))\n(display \"ready\")\n(newline)\n(let ((name (read-line)))\n  (display (string-append \"Hello, \" name \"!\"))\n  (newline))"),
            unicode: s("(display \"héllo → 世界 🎉\")\n(newline)"),
            split: Run(s("(display \"héllo → 世界 🎉\")\n(newline)\n(display \"oops\\n\" (current-error-port))\n(exit 3)")),
            broken: Run((s("(display \"unclosed\"\n"), "end of input")),
            crash: Run((s("(error \"boom\")"), Crash::Stderr("boom"))),
            memory: Run(s("(use-modules (rnrs bytevectors))\n(let loop ((keep '()))\n  (loop (cons (make-bytevector 1048576 1) keep)))")),
        },
        Case {
            id: "tcl",
            compiled: false,
            feed: "",
            hello: s("puts {Hello, World!}"),
            greet: s("puts ready\ngets stdin name\nputs \"Hello, $name!\""),
            unicode: s("puts {héllo → 世界 🎉}"),
            split: Run(s("puts {héllo → 世界 🎉}\nputs stderr oops\nexit 3")),
            broken: Run((s("puts \"unclosed\n"), "missing \"")),
            crash: Run((s("error boom"), Crash::Stderr("boom"))),
            memory: Run(s("set keep {}\nwhile 1 { lappend keep [string repeat x 1048576] }")),
        },
        Case {
            id: "sql",
            compiled: false,
            feed: "",
            hello: s("SELECT 'Hello, World!';"),
            greet: s("SELECT 'ready';\nCREATE TABLE input(line TEXT);\n.import /dev/stdin input\nSELECT 'Hello, ' || line || '!' FROM input;"),
            unicode: s("SELECT 'héllo → 世界 🎉';"),
            split: Run(s("SELECT 'héllo → 世界 🎉';\n.output /dev/stderr\nSELECT 'oops';\n.output stdout\n.exit 3")),
            broken: Run((s("SELEC 'x';"), "syntax error")),
            crash: Run((s("SELECT * FROM undeclared_table;"), Crash::Stderr("no such table: undeclared_table"))),
            memory: Run(s("SELECT length(randomblob(500000000));")),
        },
        Case {
            id: "brainfuck",
            compiled: true,
            feed: "",
            hello: bf_print("Hello, World!\n"),
            // Prints "ready", then echoes one line of input between "Hello, " and "!".
            greet: format!(
                "{}{},----------[++++++++++.,----------]{}",
                bf_print("ready\n"),
                bf_print("Hello, "),
                bf_print("!\n")
            ),
            unicode: bf_print("héllo → 世界 🎉\n"),
            split: Skip("Brainf*ck has neither stderr nor an exit status"),
            broken: Run((s("+[.\n"), "expected")),
            // Left of cell 0 is a guard page: no runtime prints a message, the signal is the report.
            crash: Run((s("<+"), Crash::Signal("SIGSEGV"))),
            memory: Run(s("+[>+]")),
        },
        Case {
            id: "crystal",
            compiled: true,
            feed: "",
            hello: s("puts \"Hello, World!\""),
            greet: s("puts \"ready\"\nname = gets.to_s.chomp\nputs \"Hello, #{name}!\""),
            unicode: s("puts \"héllo → 世界 🎉\""),
            split: Run(s("puts \"héllo → 世界 🎉\"\nSTDERR.puts \"oops\"\nexit 3")),
            broken: Run((s("puts undeclared_name"), "undeclared_name")),
            crash: Run((s("raise \"boom\""), Crash::Stderr("boom"))),
            memory: Run(s("keep = [] of Bytes\nloop { keep << Bytes.new(1 << 20, 1_u8) }")),
        },
        Case {
            id: "asm",
            compiled: true,
            feed: "",
            hello: asm_print("Hello, World!\\n", 1, 0),
            greet: s(ASM_GREET),
            unicode: asm_print("héllo → 世界 🎉\\n", 1, 0),
            split: Run(s(ASM_SPLIT)),
            broken: Run((s("section .text\nglobal _start\n_start:\n  mov eax, undeclared_label\n"), "undeclared_label")),
            // A segfault: no runtime prints a message, the signal is the report.
            crash: Run((s("section .text\nglobal _start\n_start:\n  mov rax, [0]\n"), Crash::Signal("SIGSEGV"))),
            memory: Run(s(ASM_MEMORY)),
        },
        Case {
            id: "awk",
            compiled: false,
            feed: "",
            hello: s("BEGIN { print \"Hello, World!\" }"),
            greet: s("BEGIN {\n  print \"ready\"\n  getline name\n  print \"Hello, \" name \"!\"\n}"),
            unicode: s("BEGIN { print \"héllo → 世界 🎉\" }"),
            split: Run(s("BEGIN {\n  print \"héllo → 世界 🎉\"\n  print \"oops\" > \"/dev/stderr\"\n  exit 3\n}")),
            broken: Run((s("BEGIN { print ( }"), "syntax error")),
            crash: Run((s("BEGIN { x = 0; print 1 / x }"), Crash::Stderr("division by zero"))),
            memory: Run(s("BEGIN { s = \"x\"; while (1) s = s s }")),
        },
        Case {
            id: "sed",
            compiled: false,
            // sed does nothing until it has read a line: every program gets one first.
            feed: "World\n",
            hello: s("s/.*/Hello, &!/"),
            greet: s("1s/.*/ready/\n2,$s/.*/Hello, &!/"),
            unicode: s("s/.*/héllo → 世界 🎉/"),
            split: Run(s("h\ns/.*/oops/w /dev/stderr\ng\ns/.*/héllo → 世界 🎉/\nq3")),
            broken: Run((s("s/unterminated/"), "unterminated `s' command")),
            crash: Run((s("w /nonexistent-dir/out"), Crash::Stderr("couldn't open file /nonexistent-dir/out"))),
            memory: Run(s(":grow\ns/.*/&&/\nb grow")),
        },
        Case {
            id: "zig",
            compiled: true,
            feed: "",
            hello: zig_print("Hello, World!\\n", ""),
            greet: s(ZIG_GREET),
            unicode: zig_print("héllo → 世界 🎉\\n", ""),
            split: Run(zig_print("héllo → 世界 🎉\\n", "    std.debug.print(\"oops\\n\", .{});\n    std.process.exit(3);\n")),
            broken: Run((s("pub fn main() void {\n    _ = undeclared_name;\n}"), "undeclared_name")),
            crash: Run((s("pub fn main() void {\n    @panic(\"boom\");\n}"), Crash::Stderr("boom"))),
            memory: Run(s("const std = @import(\"std\");\n\npub fn main() !void {\n    while (true) {\n        const block = try std.heap.page_allocator.alloc(u8, 1 << 20);\n        @memset(block, 1);\n    }\n}")),
        },
        Case {
            id: "forth",
            compiled: false,
            feed: "",
            hello: s(".( Hello, World!) cr"),
            greet: s(": greet\n  .\" ready\" cr\n  pad 64 stdin read-line throw drop\n  .\" Hello, \" pad swap type .\" !\" cr ;\ngreet"),
            unicode: s(".( héllo → 世界 🎉) cr"),
            split: Run(s(".( héllo → 世界 🎉) cr\ns\\\" oops\\n\" stderr write-file throw\n3 (bye)")),
            broken: Run((s(": main undeclared-word ;\nmain"), "Undefined word")),
            crash: Run((s(": main 1 0 / . ;\nmain"), Crash::Stderr("Division by zero"))),
            memory: Run(s(": grow begin 1048576 allocate throw 1048576 1 fill again ;\ngrow")),
        },
        Case {
            id: "sml",
            compiled: false,
            feed: "",
            hello: s("print \"Hello, World!\\n\";"),
            greet: s("print \"ready\\n\";\nval name = case TextIO.inputLine TextIO.stdIn of\n    SOME line => String.substring (line, 0, size line - 1)\n  | NONE => \"\";\nprint (\"Hello, \" ^ name ^ \"!\\n\");"),
            // Poly/ML rejects non-ASCII bytes in string literals: decimal escapes give the same bytes.
            unicode: s(SML_UNICODE),
            split: Run(format!("{SML_UNICODE}\nTextIO.output (TextIO.stdErr, \"oops\\n\");\nTextIO.flushOut TextIO.stdOut;\nPosix.Process.exit 0w3;")),
            broken: Run((s("val x = undeclaredName;"), "undeclaredName")),
            crash: Run((s("raise Fail \"boom\";"), Crash::Stderr("boom"))),
            memory: Run(s("fun grow keep = grow (Array.array (131072, 0) :: keep);\ngrow [];")),
        },
    ]
}

/// A NASM program that writes `text` (NASM string escapes allowed, in backquotes) to `fd` and
/// exits with `status`.
fn asm_print(text: &str, fd: u8, status: u8) -> String {
    format!(
        "section .data\nmsg: db `{text}`\nlen equ $ - msg\n\nsection .text\nglobal _start\n_start:\n  mov eax, 1\n  mov edi, {fd}\n  lea rsi, [rel msg]\n  mov edx, len\n  syscall\n  mov eax, 60\n  mov edi, {status}\n  syscall\n"
    )
}

const SML_UNICODE: &str =
    "print \"h\\195\\169llo \\226\\134\\146 \\228\\184\\150\\231\\149\\140 \\240\\159\\142\\137\\n\";";

const ASM_GREET: &str = "section .data
ready: db `ready\\n`
hello: db `Hello, `
bang: db `!\\n`

section .bss
name: resb 64

section .text
global _start
_start:
  mov eax, 1
  mov edi, 1
  lea rsi, [rel ready]
  mov edx, 6
  syscall
  xor eax, eax
  xor edi, edi
  lea rsi, [rel name]
  mov edx, 64
  syscall
  mov r12, rax
  test r12, r12
  jle .greet
  cmp byte [name + r12 - 1], 10
  jne .greet
  dec r12
.greet:
  mov eax, 1
  mov edi, 1
  lea rsi, [rel hello]
  mov edx, 7
  syscall
  mov eax, 1
  mov edi, 1
  lea rsi, [rel name]
  mov rdx, r12
  syscall
  mov eax, 1
  mov edi, 1
  lea rsi, [rel bang]
  mov edx, 2
  syscall
  mov eax, 60
  xor edi, edi
  syscall
";

const ASM_SPLIT: &str = "section .data
out: db `héllo → 世界 🎉\\n`
outlen equ $ - out
err: db `oops\\n`

section .text
global _start
_start:
  mov eax, 1
  mov edi, 1
  lea rsi, [rel out]
  mov edx, outlen
  syscall
  mov eax, 1
  mov edi, 2
  lea rsi, [rel err]
  mov edx, 5
  syscall
  mov eax, 60
  mov edi, 3
  syscall
";

/// mmap 2 GiB and touch every page.
const ASM_MEMORY: &str = "section .text
global _start
_start:
  mov eax, 9
  xor edi, edi
  mov rsi, 0x80000000
  mov edx, 3
  mov r10d, 0x22
  mov r8, -1
  xor r9d, r9d
  syscall
  mov rbx, rax
  mov rcx, 0x80000000
.touch:
  mov byte [rbx], 1
  add rbx, 4096
  sub rcx, 4096
  jnz .touch
  mov eax, 60
  xor edi, edi
  syscall
";

/// A Zig 0.17 program that prints `text` (a Zig string literal body) to stdout, flushes, then
/// runs `after`.
fn zig_print(text: &str, after: &str) -> String {
    format!(
        "const std = @import(\"std\");\n\npub fn main(init: std.process.Init) !void {{\n    var buffer: [256]u8 = undefined;\n    var stdout: std.Io.File.Writer = .init(.stdout(), init.io, &buffer);\n    try stdout.interface.print(\"{text}\", .{{}});\n    try stdout.interface.flush();\n{after}}}\n"
    )
}

const ZIG_GREET: &str = "const std = @import(\"std\");

pub fn main(init: std.process.Init) !void {
    var out_buffer: [256]u8 = undefined;
    var stdout: std.Io.File.Writer = .init(.stdout(), init.io, &out_buffer);
    var in_buffer: [256]u8 = undefined;
    var stdin: std.Io.File.Reader = .init(.stdin(), init.io, &in_buffer);
    try stdout.interface.print(\"ready\\n\", .{});
    try stdout.interface.flush();
    const name = try stdin.interface.takeDelimiterExclusive('\\n');
    try stdout.interface.print(\"Hello, {s}!\\n\", .{name});
    try stdout.interface.flush();
}
";

/// One server for every test of this file: one detection of the installed runtimes.
fn server() -> &'static Server {
    static SERVER: OnceLock<Server> = OnceLock::new();
    SERVER.get_or_init(|| Server::start(&["--pool-size", "0"]))
}

fn request(id: &str, language: &str, code: &str, stdin: &str) -> Value {
    json!({
        "action": "execute", "id": id, "language": language, "code": code, "stdin": stdin,
        "limits": {"wall_ms": 30000},
    })
}

fn text<'a>(result: &'a Value, field: &str) -> &'a str {
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
async fn streams(socket: &mut Socket, case: &Case) -> Result<(), String> {
    let id = format!("stream-{}", case.id);
    send(
        socket,
        json!({"action": "execute", "id": id, "language": case.id, "code": case.greet,
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
async fn conform(socket: &mut Socket, case: &Case) -> Vec<String> {
    let mut failures = Vec::new();
    let id = case.id;
    let mut note = |check: &str, result: Result<(), String>| {
        if let Err(error) = result {
            failures.push(format!("{id} {check}: {error}"));
        }
    };

    let hello = run_once(socket, request("hello", id, &case.hello, case.feed)).await;
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

    let mut smallest = request("floors", id, &case.hello, case.feed);
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
        let again = run_once(socket, request("hello-cached", id, &case.hello, case.feed)).await;
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

    note("stream", streams(socket, case).await);

    let unicode = run_once(socket, request("unicode", id, &case.unicode, case.feed)).await;
    note(
        "unicode",
        expect(
            unicode["status"] == "ok" && text(&unicode, "stdout") == format!("{UNICODE}\n"),
            "want the Unicode line intact",
            &unicode,
        ),
    );

    if let Check::Run(code) = &case.split {
        let split = run_once(socket, request("split", id, code, case.feed)).await;
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

    if let Check::Run((code, marker)) = &case.broken {
        let broken = run_once(socket, request("broken", id, code, case.feed)).await;
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
                    && text(&broken, place).contains(marker),
                &format!("want {status} with {marker:?} in {place}"),
                &broken,
            ),
        );
    }

    if let Check::Run((code, crash)) = &case.crash {
        let result = run_once(socket, request("crash", id, code, case.feed)).await;
        let shown = match crash {
            Crash::Stderr(_) => {
                result["exit_code"].as_i64().is_some_and(|code| code != 0)
                    || result["signal"].is_string()
            }
            Crash::Signal(signal) => result["signal"] == *signal,
        };
        let message = match crash {
            Crash::Stderr(marker) => diagnostics(&result).contains(marker),
            Crash::Signal(_) => true,
        };
        note(
            "crash",
            expect(
                result["status"] == "runtime_error" && shown && message,
                "want runtime_error, a failure status and the error's message",
                &result,
            ),
        );
    }

    if let Check::Run(code) = &case.memory {
        let mut request = request("memory", id, code, case.feed);
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
    let rows: Vec<&str> = cases.iter().map(|case| case.id).collect();
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
        assert!(rows.contains(&id.as_str()), "{id} has no conformance row");
    }

    let mut socket = connect(server).await;
    let mut failures = Vec::new();
    let mut summary = String::new();
    for case in &cases {
        if only
            .as_ref()
            .is_some_and(|only| !only.iter().any(|id| id == case.id))
        {
            continue;
        }
        assert_eq!(
            listed[case.id]["compiled"], case.compiled,
            "{}: compiled flag",
            case.id
        );
        let started = std::time::Instant::now();
        let found = conform(&mut socket, case).await;
        let skipped: Vec<String> = [
            ("split", skip_reason(&case.split)),
            ("broken", skip_reason(&case.broken)),
            ("crash", skip_reason(&case.crash)),
            ("memory", skip_reason(&case.memory)),
        ]
        .into_iter()
        .filter_map(|(check, reason)| reason.map(|reason| format!("{check}: {reason}")))
        .collect();
        let _ = writeln!(
            summary,
            "{:<11} {:>6.1} s  {}  skipped: {}",
            case.id,
            started.elapsed().as_secs_f64(),
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

fn skip_reason<T>(check: &Check<T>) -> Option<&'static str> {
    match check {
        Check::Run(_) => None,
        Check::Skip(reason) => Some(reason),
    }
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
