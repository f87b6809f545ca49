//! The warm-start drivers behave like a plain run: each case runs once as `run_command` would
//! and once through the driver (the launch request arriving on fd 3), in the same directory, and
//! stdout, stderr and the exit status must match.

// Test helpers panic on setup failures; that is the test failing.
#![allow(clippy::unwrap_used)]

mod common;

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use runnel_languages::{Language, Registry, SandboxDirs};

const MEMORY: u64 = 256 * 1024 * 1024;

struct Case {
    name: &'static str,
    source: &'static str,
    args: &'static [&'static str],
    stdin: &'static str,
}

fn language(id: &str) -> Language {
    let registry = Registry::embedded(&common::host_dirs())
        .unwrap()
        .detect(&common::host_dirs());
    registry
        .get(id)
        .unwrap_or_else(|| panic!("{id} is not installed: run scripts/install-languages.sh"))
        .clone()
}

fn spawn(argv: &[String], language: &Language, work: &Path, stdin: &str) -> Output {
    let dirs = SandboxDirs {
        work: work.display().to_string(),
        tmp: work.display().to_string(),
    };
    let mut child = Command::new(&argv[0])
        .args(&argv[1..])
        .env_clear()
        .envs(language.run_environment_in(MEMORY, &dirs))
        .current_dir(work)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

/// Run through the driver: fd 3 is opened on a file holding the launch request (the engine
/// uses a pipe; the driver reads either the same way).
fn spawn_warm(language: &Language, work: &Path, args: &[String], stdin: &str) -> Output {
    let warm = language.warm_start().unwrap();
    std::fs::write(work.join(&warm.driver_file), warm.driver_source).unwrap();
    let request = warm.launch_request(&language.source_file, args);
    std::fs::write(work.join("request.json"), request).unwrap();
    let mut argv = vec![
        "/bin/sh".to_string(),
        "-c".to_string(),
        "exec 3<request.json && exec \"$@\"".to_string(),
        "sh".to_string(),
    ];
    argv.extend(warm.argv.iter().cloned());
    let output = spawn(&argv, language, work, stdin);
    assert!(
        !work.join(&warm.driver_file).exists(),
        "the driver deletes itself"
    );
    output
}

fn check(id: &str, cases: &[Case], compare_stderr: impl Fn(&str, &str) -> bool) {
    let language = language(id);
    for case in cases {
        let work = tempfile::tempdir().unwrap();
        std::fs::write(work.path().join(&language.source_file), case.source).unwrap();
        let args: Vec<String> = case.args.iter().map(|arg| arg.to_string()).collect();
        let files = vec![language.source_file.clone()];
        let plain = spawn(
            &language.run_command(&files, &args),
            &language,
            work.path(),
            case.stdin,
        );
        let warm = spawn_warm(&language, work.path(), &args, case.stdin);
        let (plain_err, warm_err) = (
            String::from_utf8_lossy(&plain.stderr),
            String::from_utf8_lossy(&warm.stderr),
        );
        assert_eq!(
            String::from_utf8_lossy(&plain.stdout),
            String::from_utf8_lossy(&warm.stdout),
            "{id} {}: stdout",
            case.name
        );
        assert!(
            compare_stderr(&plain_err, &warm_err),
            "{id} {}: stderr differs\nplain:\n{plain_err}\nwarm:\n{warm_err}",
            case.name
        );
        assert_eq!(plain.status, warm.status, "{id} {}: exit status", case.name);
    }
}

#[test]
fn python_driver_matches_a_plain_run() {
    let cases = [
        Case {
            name: "hello",
            source: "print(f'Hello, {input()}!')\n",
            args: &[],
            stdin: "World\n",
        },
        Case {
            name: "stdin",
            source: "import sys\nlines = sys.stdin.read().splitlines()\nprint(len(lines), lines)\n",
            args: &[],
            stdin: "a\nb b\n\nc",
        },
        Case {
            name: "argv and globals",
            source: "import sys, os\n\
                     print(sys.argv, __name__, __file__ == os.path.abspath('main.py'))\n\
                     print(sys.path[0] == os.getcwd(), __package__, __spec__, __doc__)\n\
                     print(sorted(k for k in globals()))\n\
                     print(sorted(m for m in ('json', 're', 'runpy', 'types') if m in sys.modules))\n\
                     print(sys.orig_argv[1:], __loader__.name, __loader__.path == __file__)\n",
            args: &["one", "two words", ""],
            stdin: "",
        },
        Case {
            name: "exception",
            source: "def f():\n    raise ValueError('boom')\nprint('before')\nf()\n",
            args: &[],
            stdin: "",
        },
        Case {
            name: "chained exception",
            source: "try:\n    {}['x']\nexcept KeyError as e:\n    raise RuntimeError('wrapped') from e\n",
            args: &[],
            stdin: "",
        },
        Case {
            name: "sys.exit(3)",
            source: "import sys\nprint('out')\nsys.exit(3)\n",
            args: &[],
            stdin: "",
        },
        Case {
            name: "sys.exit(message)",
            source: "import sys\nsys.exit('bye')\n",
            args: &[],
            stdin: "",
        },
        Case {
            name: "syntax error",
            source: "print('never')\nx = = 1\n",
            args: &[],
            stdin: "",
        },
        Case {
            name: "atexit",
            source: "import atexit\natexit.register(lambda: print('bye'))\nraise SystemExit(4)\n",
            args: &[],
            stdin: "",
        },
    ];
    check("python", &cases, |plain, warm| plain == warm);
}

#[test]
fn node_driver_matches_a_plain_run() {
    let cases = [
        Case {
            name: "hello",
            source: "const line = require('fs').readFileSync(0, 'utf8').split('\\n')[0];\n\
                     console.log(`Hello, ${line}!`);\n",
            args: &[],
            stdin: "World\n",
        },
        Case {
            name: "readline",
            source: "const rl = require('readline').createInterface({ input: process.stdin });\n\
                     const lines = [];\nrl.on('line', (l) => lines.push(l));\n\
                     rl.on('close', () => console.log(lines.length, JSON.stringify(lines)));\n",
            args: &[],
            stdin: "a\nb b\n\nc",
        },
        Case {
            name: "argv and module",
            source: "const path = require('path');\n\
                     console.log(process.argv.slice(1).map((a, i) => i ? a : path.basename(a)));\n\
                     console.log(require.main === module, __filename === path.resolve('main.js'));\n\
                     console.log(Object.keys(require.cache).map((f) => path.basename(f)));\n",
            args: &["one", "two words", ""],
            stdin: "",
        },
        Case {
            name: "exception",
            source: "console.log('before');\nfunction f() { throw new Error('boom'); }\nf();\n",
            args: &[],
            stdin: "",
        },
        Case {
            name: "process.exit(3)",
            source: "console.log('out');\nprocess.exit(3);\n",
            args: &[],
            stdin: "",
        },
        Case {
            name: "exitCode and async",
            source: "setTimeout(() => { console.log('later'); process.exitCode = 5; }, 10);\n",
            args: &[],
            stdin: "",
        },
        Case {
            name: "unhandled rejection",
            source: "Promise.reject(new Error('nope'));\n",
            args: &[],
            stdin: "",
        },
    ];
    // Node prints the stack of an uncaught error, whose innermost frames are the program's and
    // whose outermost are Node's own; the driver adds one frame there. Everything else (the
    // source line, the caret, the message, the program's frames) must match.
    check("javascript", &cases, |plain, warm| {
        let keep = |text: &str| -> Vec<String> {
            text.lines()
                .filter(|line| !line.trim_start().starts_with("at ") || line.contains("main.js"))
                .map(str::to_string)
                .collect()
        };
        keep(plain) == keep(warm)
    });
}

#[test]
fn drivers_exit_quietly_when_no_request_comes() {
    for id in ["python", "javascript"] {
        let language = language(id);
        let work = tempfile::tempdir().unwrap();
        let warm = language.warm_start().unwrap();
        std::fs::write(work.path().join(&warm.driver_file), warm.driver_source).unwrap();
        let mut argv = vec![
            "/bin/sh".to_string(),
            "-c".to_string(),
            "exec 3</dev/null && exec \"$@\"".to_string(),
            "sh".to_string(),
        ];
        argv.extend(warm.argv.iter().cloned());
        let output = spawn(&argv, &language, work.path(), "");
        assert!(output.status.success(), "{id}: {output:?}");
        assert!(
            output.stdout.is_empty() && output.stderr.is_empty(),
            "{id}: {output:?}"
        );
    }
}
