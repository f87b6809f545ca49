// Syntax highlighting and example programs per language id (the ids of /api/v1/languages).
import type { Extension } from "@codemirror/state";
import { StreamLanguage, type StreamParser } from "@codemirror/language";
import { python } from "@codemirror/lang-python";
import { javascript } from "@codemirror/lang-javascript";
import { rust } from "@codemirror/legacy-modes/mode/rust";
import { go } from "@codemirror/legacy-modes/mode/go";
import { shell } from "@codemirror/legacy-modes/mode/shell";
import { ruby } from "@codemirror/legacy-modes/mode/ruby";
import { lua } from "@codemirror/legacy-modes/mode/lua";
import { perl } from "@codemirror/legacy-modes/mode/perl";
import { r } from "@codemirror/legacy-modes/mode/r";
import { tcl } from "@codemirror/legacy-modes/mode/tcl";
import { sqlite } from "@codemirror/legacy-modes/mode/sql";
import { c, clike, cpp, csharp, java, kotlin, scala } from "@codemirror/legacy-modes/mode/clike";
import { haskell } from "@codemirror/legacy-modes/mode/haskell";
import { clojure } from "@codemirror/legacy-modes/mode/clojure";
import { commonLisp } from "@codemirror/legacy-modes/mode/commonlisp";
import { scheme } from "@codemirror/legacy-modes/mode/scheme";
import { erlang } from "@codemirror/legacy-modes/mode/erlang";
import { oCaml, sml } from "@codemirror/legacy-modes/mode/mllike";
import { pascal } from "@codemirror/legacy-modes/mode/pascal";
import { fortran } from "@codemirror/legacy-modes/mode/fortran";
import { cobol } from "@codemirror/legacy-modes/mode/cobol";
import { d } from "@codemirror/legacy-modes/mode/d";
import { crystal } from "@codemirror/legacy-modes/mode/crystal";
import { groovy } from "@codemirror/legacy-modes/mode/groovy";
import { brainfuck } from "@codemirror/legacy-modes/mode/brainfuck";
import { forth } from "@codemirror/legacy-modes/mode/forth";
import { gas } from "@codemirror/legacy-modes/mode/gas";
import examplesById from "runnel:examples";

const words = (text: string): Record<string, boolean> =>
  Object.fromEntries(text.split(" ").map((word) => [word, true]));

/** PHP as CodeMirror 5 did it: C-like, with `$variables` and `#` comments. */
const php = clike({
  name: "php",
  keywords: words(
    "abstract and array as break case catch class clone const continue declare default do echo else elseif " +
      "empty enddeclare endfor endforeach endif endswitch endwhile enum extends final finally fn for foreach " +
      "function global goto if implements include include_once instanceof insteadof interface isset list " +
      "match namespace new or print private protected public readonly require require_once return static " +
      "switch throw trait try unset use var while xor yield",
  ),
  atoms: words("true false null TRUE FALSE NULL __CLASS__ __DIR__ __FILE__ __LINE__ __METHOD__ __FUNCTION__ __NAMESPACE__"),
  builtin: words("readline fgets trim strlen count printf sprintf implode explode array_map array_filter var_dump print_r"),
  multiLineStrings: true,
  hooks: {
    $: (stream: { eatWhile(match: RegExp): boolean }) => (stream.eatWhile(/[\w\$_]/), "variable"),
    "#": (stream: { skipToEnd(): void }) => (stream.skipToEnd(), "comment"),
    "<": (stream: { match(pattern: string): boolean }) => (stream.match("?php") ? "meta" : false),
    "?": (stream: { match(pattern: string): boolean }) => (stream.match(">") ? "meta" : false),
  },
});

const legacy = (parser: StreamParser<unknown>): (() => Extension) => () =>
  StreamLanguage.define(parser);

/** Highlighting per language id; languages without a mode are edited as plain text. */
const HIGHLIGHT: Record<string, () => Extension> = {
  python: () => python(),
  javascript: () => javascript(),
  typescript: () => javascript({ typescript: true }),
  c: legacy(c as StreamParser<unknown>),
  cpp: legacy(cpp as StreamParser<unknown>),
  java: legacy(java as StreamParser<unknown>),
  rust: legacy(rust as StreamParser<unknown>),
  go: legacy(go as StreamParser<unknown>),
  php: legacy(php as StreamParser<unknown>),
  bash: legacy(shell as StreamParser<unknown>),
  ruby: legacy(ruby as StreamParser<unknown>),
  elixir: legacy(ruby as StreamParser<unknown>),
  lua: legacy(lua as StreamParser<unknown>),
  perl: legacy(perl as StreamParser<unknown>),
  r: legacy(r as StreamParser<unknown>),
  tcl: legacy(tcl as StreamParser<unknown>),
  sql: legacy(sqlite as StreamParser<unknown>),
  csharp: legacy(csharp as StreamParser<unknown>),
  kotlin: legacy(kotlin as StreamParser<unknown>),
  scala: legacy(scala as StreamParser<unknown>),
  haskell: legacy(haskell as StreamParser<unknown>),
  clojure: legacy(clojure as StreamParser<unknown>),
  commonlisp: legacy(commonLisp as StreamParser<unknown>),
  scheme: legacy(scheme as StreamParser<unknown>),
  erlang: legacy(erlang as StreamParser<unknown>),
  ocaml: legacy(oCaml as StreamParser<unknown>),
  sml: legacy(sml as StreamParser<unknown>),
  pascal: legacy(pascal as StreamParser<unknown>),
  fortran: legacy(fortran as StreamParser<unknown>),
  cobol: legacy(cobol as StreamParser<unknown>),
  d: legacy(d as StreamParser<unknown>),
  crystal: legacy(crystal as StreamParser<unknown>),
  groovy: legacy(groovy as StreamParser<unknown>),
  brainfuck: legacy(brainfuck as StreamParser<unknown>),
  forth: legacy(forth as StreamParser<unknown>),
  asm: legacy(gas as StreamParser<unknown>),
  awk: legacy(shell as StreamParser<unknown>),
  nim: () => python(),
  zig: legacy(rust as StreamParser<unknown>),
};

export function highlighting(language: string): Extension {
  const make = HIGHLIGHT[language];
  return make ? make() : [];
}

export interface Example {
  name: string;
  code: string;
}

/** "Hello" for every language Runnel ships: each folder's `languages/<id>/example.<ext>`,
 * bundled by build.mjs. */
const HELLO: Record<string, string> = examplesById;

/** Programs that read a line: the console's stdin at work. */
const INPUT: Record<string, string> = {
  python: `name = input("What is your name? ")\nprint(f"Hello, {name}!")\n`,
  javascript: `const readline = require("readline");
const rl = readline.createInterface({ input: process.stdin, output: process.stdout });
rl.question("What is your name? ", (name) => {
  console.log(\`Hello, \${name}!\`);
  rl.close();
});
`,
  c: `#include <stdio.h>
#include <string.h>

int main(void) {
    char name[100];
    printf("What is your name? ");
    fflush(stdout);
    if (!fgets(name, sizeof name, stdin)) return 1;
    name[strcspn(name, "\\n")] = 0;
    printf("Hello, %s!\\n", name);
    return 0;
}
`,
  cpp: `#include <iostream>
#include <string>

int main() {
    std::string name;
    std::cout << "What is your name? " << std::flush;
    std::getline(std::cin, name);
    std::cout << "Hello, " << name << "!" << std::endl;
}
`,
  go: `package main

import (
\t"bufio"
\t"fmt"
\t"os"
\t"strings"
)

func main() {
\tfmt.Print("What is your name? ")
\tline, _ := bufio.NewReader(os.Stdin).ReadString('\\n')
\tfmt.Printf("Hello, %s!\\n", strings.TrimSpace(line))
}
`,
  rust: `use std::io::{self, Write};

fn main() {
    print!("What is your name? ");
    io::stdout().flush().unwrap();
    let mut name = String::new();
    io::stdin().read_line(&mut name).unwrap();
    println!("Hello, {}!", name.trim());
}
`,
  java: `import java.util.Scanner;

public class Main {
    public static void main(String[] args) {
        System.out.print("What is your name? ");
        System.out.flush();
        String name = new Scanner(System.in).nextLine();
        System.out.println("Hello, " + name + "!");
    }
}
`,
  ruby: `print "What is your name? "\n$stdout.flush\nname = gets.chomp\nputs "Hello, #{name}!"\n`,
  bash: `read -r -p "What is your name? " name\necho "Hello, $name!"\n`,
  php: `<?php\n$name = readline("What is your name? ");\necho "Hello, $name!\\n";\n`,
  perl: `$| = 1;\nprint "What is your name? ";\nmy $name = <STDIN>;\nchomp $name;\nprint "Hello, $name!\\n";\n`,
  lua: `io.write("What is your name? ")\nio.flush()\nlocal name = io.read("l")\nprint("Hello, " .. name .. "!")\n`,
};

/** Output that arrives over time: streaming made visible. */
const STREAM: Record<string, string> = {
  python: `import sys, time

for i in range(1, 6):
    print(f"tick {i}")
    time.sleep(0.4)
print("something on stderr", file=sys.stderr)
`,
  javascript: `let i = 0;
const timer = setInterval(() => {
  console.log(\`tick \${++i}\`);
  if (i === 5) {
    clearInterval(timer);
    console.error("something on stderr");
  }
}, 400);
`,
  bash: `for i in 1 2 3 4 5; do echo "tick $i"; sleep 0.4; done\necho "something on stderr" >&2\n`,
  c: `#include <stdio.h>
#include <unistd.h>

int main(void) {
    for (int i = 1; i <= 5; i++) {
        printf("tick %d\\n", i);
        fflush(stdout);
        usleep(400000);
    }
    fprintf(stderr, "something on stderr\\n");
    return 0;
}
`,
};

/** A mistake, to see how errors look. */
const ERROR: Record<string, string> = {
  python: `def greet(name):\n    return "Hello, " + name\n\nprint(greet(42))\n`,
  c: `#include <stdio.h>

int main(void) {
    printf("%d\\n", undefined_variable);
    return 0
}
`,
  cpp: `#include <iostream>

int main() {
    std::cout << missing << std::endl;
}
`,
  rust: `fn main() {\n    let x: i32 = "not a number";\n    println!("{}", x);\n}\n`,
  javascript: `function f() {\n  return undefinedThing.length;\n}\nf();\n`,
  go: `package main\n\nfunc main() {\n\tx := 1\n}\n`,
  java: `public class Main {\n    public static void main(String[] args) {\n        int x = "text";\n    }\n}\n`,
};

export function examples(language: string): Example[] {
  const list: Example[] = [];
  const hello = HELLO[language];
  list.push({ name: "Hello", code: hello ?? "" });
  if (INPUT[language]) list.push({ name: "Read input", code: INPUT[language] });
  if (STREAM[language]) list.push({ name: "Streaming output", code: STREAM[language] });
  if (ERROR[language]) list.push({ name: "An error", code: ERROR[language] });
  return list;
}
