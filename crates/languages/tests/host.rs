//! Host-side checks (no sandbox): the toolchains of the required languages are installed and
//! work, and each language's compile and run commands, with its environment (only the sandbox
//! directories swapped for a temporary one), really compile and run a program.
//!
//! These are real tests: CI runs `scripts/install-languages.sh` first, and a missing toolchain
//! fails them, naming the language and why.

// Test helpers panic on setup failures; that is the test failing.
#![allow(clippy::unwrap_used)]

mod common;

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use runnel_languages::{Language, Registry, SandboxDirs};

const REQUIRED: &[&str] = &[
    "python",
    "javascript",
    "typescript",
    "c",
    "cpp",
    "java",
    "go",
    "rust",
    "bash",
];

const RUN_MEMORY: u64 = 256 * 1024 * 1024;

/// A program that reads one line and greets it, per language id.
fn hello(id: &str) -> Option<&'static str> {
    Some(match id {
        "python" => "print(f\"Hello, {input()}!\")\n",
        "javascript" => {
            "const line = require('fs').readFileSync(0, 'utf8').split('\\n')[0];\n\
             console.log(`Hello, ${line}!`);\n"
        }
        "typescript" => {
            "import * as fs from 'fs';\n\
             const line: string = fs.readFileSync(0, 'utf8').split('\\n')[0];\n\
             console.log(`Hello, ${line}!`);\n"
        }
        "c" => {
            "#include <stdio.h>\n#include <string.h>\n\
             int main(void) { char s[256]; if (!fgets(s, sizeof s, stdin)) return 1;\n\
             s[strcspn(s, \"\\n\")] = 0; printf(\"Hello, %s!\\n\", s); return 0; }\n"
        }
        "cpp" => {
            "#include <iostream>\n#include <string>\n\
             int main() { std::string s; std::getline(std::cin, s);\n\
             std::cout << \"Hello, \" << s << \"!\" << std::endl; }\n"
        }
        "java" => {
            "import java.util.Scanner;\n\
             public class Main { public static void main(String[] args) {\n\
             String s = new Scanner(System.in).nextLine();\n\
             System.out.println(\"Hello, \" + s + \"!\"); } }\n"
        }
        "go" => {
            "package main\nimport (\"bufio\"; \"fmt\"; \"os\"; \"strings\")\n\
             func main() { line, _ := bufio.NewReader(os.Stdin).ReadString('\\n');\n\
             fmt.Printf(\"Hello, %s!\\n\", strings.TrimRight(line, \"\\n\")) }\n"
        }
        "rust" => {
            "fn main() { let mut s = String::new(); std::io::stdin().read_line(&mut s).unwrap();\n\
             println!(\"Hello, {}!\", s.trim_end()); }\n"
        }
        "bash" => "read -r name\necho \"Hello, $name!\"\n",
        "ruby" => "puts \"Hello, #{gets.chomp}!\"\n",
        "php" => "<?php $l = trim(fgets(STDIN)); echo \"Hello, $l!\\n\";\n",
        "lua" => "print(\"Hello, \" .. io.read(\"l\") .. \"!\")\n",
        "perl" => "my $l = <STDIN>; chomp $l; print \"Hello, $l!\\n\";\n",
        _ => return None,
    })
}

fn detected() -> (Registry, Vec<(String, String)>) {
    Registry::embedded(&common::host_dirs())
        .expect("embedded files are valid")
        .detect_with_reasons(&common::host_dirs())
}

fn dirs(work: &Path) -> SandboxDirs {
    let tmp = work.join(".tmp");
    std::fs::create_dir_all(&tmp).unwrap();
    SandboxDirs {
        work: work.display().to_string(),
        tmp: tmp.display().to_string(),
    }
}

fn run(argv: &[String], env: Vec<(String, String)>, cwd: &Path, stdin: &[u8]) -> Output {
    let mut child = Command::new(&argv[0])
        .args(&argv[1..])
        .env_clear()
        .envs(env)
        .current_dir(cwd)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|error| panic!("start {argv:?}: {error}"));
    child.stdin.take().unwrap().write_all(stdin).unwrap();
    child.wait_with_output().unwrap()
}

/// Compile (if needed) `files` in `work` and run the program; the run's output.
fn compile_and_run(language: &Language, work: &Path, files: &[String], args: &[String]) -> Output {
    let dirs = dirs(work);
    if let Some(compile) = language.compile_command(files, &[]) {
        let env = language.compile_environment_in(language.compile_limits().memory_bytes, &dirs);
        let output = run(&compile, env, work, b"");
        assert!(
            output.status.success(),
            "{}: compile {compile:?} failed: {}{}",
            language.id,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let argv = language.run_command(files, args);
    run(
        &argv,
        language.run_environment_in(RUN_MEMORY, &dirs),
        work,
        b"World\n",
    )
}

#[test]
fn every_required_language_is_detected_with_a_plausible_version() {
    let (registry, reasons) = detected();
    let mut missing = Vec::new();
    for id in REQUIRED {
        match registry.get(id) {
            Some(language) => {
                let version = &language.version;
                let plausible = version.split('.').count() >= 2
                    && version.split('.').all(|part| part.parse::<u32>().is_ok());
                assert!(plausible, "{id}: implausible version {version:?}");
            }
            None => {
                let reason = reasons
                    .iter()
                    .find(|(other, _)| other == id)
                    .map(|(_, r)| r.as_str());
                missing.push(format!("{id} ({})", reason.unwrap_or("unknown")));
            }
        }
    }
    assert!(
        missing.is_empty(),
        "missing toolchains: {}; run scripts/install-languages.sh",
        missing.join(", ")
    );
}

#[test]
fn hello_world_compiles_and_runs_in_every_detected_language() {
    let (registry, _) = detected();
    let failures: Vec<String> = std::thread::scope(|scope| {
        let handles: Vec<_> = registry
            .languages()
            .iter()
            .filter_map(|language| Some((language, hello(&language.id)?)))
            .map(|(language, source)| {
                scope.spawn(move || {
                    let work = tempfile::tempdir().unwrap();
                    std::fs::write(work.path().join(&language.source_file), source).unwrap();
                    let files = vec![language.source_file.clone()];
                    let started = Instant::now();
                    let output = compile_and_run(language, work.path(), &files, &[]);
                    let stdout = String::from_utf8_lossy(&output.stdout);
                    eprintln!("{}: {:?}", language.id, started.elapsed());
                    if output.status.success() && stdout == "Hello, World!\n" {
                        None
                    } else {
                        Some(format!(
                            "{}: {} stdout {stdout:?} stderr {:?}",
                            language.id,
                            output.status,
                            String::from_utf8_lossy(&output.stderr)
                        ))
                    }
                })
            })
            .collect();
        handles
            .into_iter()
            .filter_map(|handle| handle.join().unwrap())
            .collect()
    });
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn java_finds_the_main_class_whatever_the_file_is_called() {
    let (registry, _) = detected();
    let java = registry.get("java").expect("java is installed");
    let work = tempfile::tempdir().unwrap();
    let source = "package demo;\nimport java.util.*;\n\
                  class Helper { static String greet(String s) { return \"Hello, \" + s + \"!\"; } }\n\
                  public final class Solution {\n  public static void main(String[] args) {\n\
                  System.out.println(Helper.greet(new Scanner(System.in).nextLine()) + args.length); } }\n";
    std::fs::write(work.path().join("Main.java"), source).unwrap();
    let files = vec!["Main.java".to_string()];
    let output = compile_and_run(java, work.path(), &files, &["a b".to_string()]);
    assert_eq!(String::from_utf8_lossy(&output.stdout), "Hello, World!1\n");
    assert!(
        output.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn c_output_reaches_the_pipe_before_the_program_ends() {
    let (registry, _) = detected();
    let c = registry.get("c").expect("c is installed");
    let work = tempfile::tempdir().unwrap();
    let source = "#include <stdio.h>\n#include <unistd.h>\n\
                  int main(void) { printf(\"first\\n\"); sleep(3); printf(\"second\\n\"); return 0; }\n";
    std::fs::write(work.path().join("main.c"), source).unwrap();
    let files = vec!["main.c".to_string()];
    let dirs = dirs(work.path());
    let compile = c.compile_command(&files, &[]).unwrap();
    let env = c.compile_environment_in(c.compile_limits().memory_bytes, &dirs);
    assert!(run(&compile, env, work.path(), b"").status.success());
    let argv = c.run_command(&files, &[]);
    let started = Instant::now();
    let mut child = Command::new(&argv[0])
        .env_clear()
        .envs(c.run_environment_in(RUN_MEMORY, &dirs))
        .current_dir(work.path())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(child.stdout.as_mut().unwrap())
        .read_line(&mut first)
        .unwrap();
    let elapsed = started.elapsed();
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(first, "first\n");
    assert!(
        elapsed < Duration::from_secs(2),
        "first line took {elapsed:?}: stdout is buffered"
    );
}

/// The sandbox binds /usr but not /etc/alternatives, so no program the engine starts may reach
/// its binary through a symlink into /etc.
#[test]
fn no_command_goes_through_etc_alternatives() {
    let (registry, _) = detected();
    for language in registry.languages() {
        let files = vec![language.source_file.clone()];
        let mut programs = vec![language.run_command(&files, &[])[0].clone()];
        programs.extend(
            language
                .compile_command(&files, &[])
                .map(|argv| argv[0].clone()),
        );
        programs.extend(
            language
                .required_paths()
                .iter()
                .map(|p| p.display().to_string()),
        );
        for program in programs.iter().filter(|program| program.starts_with('/')) {
            let mut path = std::path::PathBuf::from(program);
            for _ in 0..16 {
                let Ok(target) = std::fs::read_link(&path) else {
                    break;
                };
                let next = path.parent().unwrap().join(target);
                assert!(
                    !next.starts_with("/etc/alternatives"),
                    "{}: {program} resolves through {}",
                    language.id,
                    next.display()
                );
                path = next;
            }
        }
    }
}
