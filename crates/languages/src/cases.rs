//! The test cases of the language folders, `languages/<id>/cases.toml`, as data: what the
//! conformance suite (`crates/cli/tests/conformance.rs`) runs through a real server, and what
//! the session suite (`crates/languages/tests/repl.rs`) runs through each session driver. The
//! schema is documented in `languages/README.md`.
//!
//! [`load`] reads every folder of a directory; a folder whose `cases.toml` is missing or
//! malformed, or that lacks its one `example.<ext>` (the console's example, which the
//! conformance suite runs too), is an error naming the file, so a suite cannot silently lose a
//! language.

use std::path::{Path, PathBuf};

use serde::Deserialize;

/// Why the cases of a language folder could not be loaded.
#[derive(Debug, thiserror::Error)]
#[error("{}: {message}", .file.display())]
pub struct CasesError {
    /// The `cases.toml` (or the directory) involved.
    pub file: PathBuf,
    /// What is wrong.
    pub message: String,
}

/// The cases of one language folder.
#[derive(Debug, Clone)]
pub struct LanguageCases {
    /// The folder's name: the language id.
    pub id: String,
    /// The `cases.toml` they were read from.
    pub file: PathBuf,
    /// The folder's `example.<ext>`: the console's example, which must run and exit 0.
    pub example: Example,
    /// The conformance checks.
    pub conformance: Conformance,
    /// The session checks, for a language with a session driver.
    pub repl: Option<Repl>,
}

/// A language folder's example program (`example.<ext>`, the console's "Hello").
#[derive(Debug, Clone)]
pub struct Example {
    /// Where it was read from.
    pub file: PathBuf,
    /// The program.
    pub code: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    conformance: Conformance,
    repl: Option<Repl>,
}

/// The programs of the conformance checks of one language. A check that cannot apply is
/// absent and named in `skip` with the reason; nothing is skipped silently.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Conformance {
    /// Whether the language has a compile step (the server's `compiled` flag must agree).
    pub compiled: bool,
    /// Input given to every program except the greeting's second line (sed needs a line to
    /// run at all; empty for everything else).
    #[serde(default)]
    pub feed: String,
    /// Prints `Hello, World!`.
    pub hello: String,
    /// Prints `ready`, reads a line, greets it (`Hello, Ada!`).
    pub greet: String,
    /// Prints `héllo → 世界 🎉`.
    pub unicode: String,
    /// Prints the Unicode line on stdout, `oops` on stderr, exits 3.
    pub split: Option<String>,
    /// Fails to compile (compiled languages) or to parse (interpreted ones).
    pub broken: Option<Broken>,
    /// Fails at run time.
    pub crash: Option<Crash>,
    /// Allocates far more than the memory limit.
    pub memory: Option<String>,
    /// Checks that cannot apply, by name (`split`, `broken`, `crash`, `memory`), with why.
    #[serde(default)]
    pub skip: std::collections::BTreeMap<String, String>,
}

/// A program that does not compile (or parse), and text its diagnostics must contain.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Broken {
    /// The program.
    pub code: String,
    /// Text the compiler's output (or stderr) must contain.
    pub marker: String,
}

/// A program that fails at run time, and how the failure shows: exactly one of `stderr` and
/// `signal`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Crash {
    /// The program.
    pub code: String,
    /// Text its stderr (or compile output) must contain.
    pub stderr: Option<String>,
    /// The signal that kills it (a program with no runtime to print a message).
    pub signal: Option<String>,
}

/// The session checks of one language, each run in a fresh session driver.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Repl {
    /// State persists across cells and across an error.
    pub state: State,
    /// Errors end their cell with a named message.
    #[serde(default)]
    pub error: Vec<ReplError>,
    /// Output without a newline, Unicode whole, on both streams.
    #[serde(default)]
    pub raw: Vec<Raw>,
    /// Reads from stdin, then from the host (`input_request`).
    #[serde(default)]
    pub input: Vec<Input>,
    /// SIGINT ends a running cell; the state lives on.
    #[serde(default)]
    pub interrupt: Vec<Interrupt>,
    /// Free-form sessions: cells and what each must give.
    #[serde(default)]
    pub session: Vec<Session>,
}

/// `define` makes `use` print `42`; `raise` is an error after which `use` still works.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct State {
    /// Defines what `use` needs.
    pub define: String,
    /// Prints `42`.
    #[serde(rename = "use")]
    pub use_it: String,
    /// Fails.
    pub raise: String,
}

/// A cell that fails with error name `ename` and a value containing `evalue`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReplError {
    /// The cell.
    pub code: String,
    /// The error's name.
    pub ename: String,
    /// Text the error's value must contain.
    pub evalue: String,
}

/// A cell that writes `héllo → 世界` to stdout and `e` to stderr, without newlines.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Raw {
    /// The cell.
    pub code: String,
}

/// A cell that reads twice: `stdin` (given before the cell) answers the first read when not
/// empty; the next read asks the host with `prompt`, and gets `reply`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Input {
    /// The cell.
    pub code: String,
    /// The prompt of the `input_request`.
    pub prompt: String,
    /// The cell's whole stdout.
    pub expected: String,
    /// Written to the driver's stdin before the cell.
    #[serde(default = "default_stdin")]
    pub stdin: String,
    /// The host's answer.
    #[serde(default = "default_reply")]
    pub reply: String,
}

fn default_stdin() -> String {
    "ada\n".to_string()
}

fn default_reply() -> String {
    "bob".to_string()
}

/// `define` sets what `use` prints (`42`); `looping` prints `looping` and a newline, then never
/// ends, until `burst` SIGINTs end it as `KeyboardInterrupt`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Interrupt {
    /// Defines what `use` needs.
    pub define: String,
    /// Prints `looping`, then loops.
    pub looping: String,
    /// Prints `42`.
    #[serde(rename = "use")]
    pub use_it: String,
    /// SIGINTs sent one after another (default 12: a user pressing Ctrl-C again and again).
    #[serde(default = "default_burst")]
    pub burst: usize,
}

fn default_burst() -> usize {
    12
}

/// Cells run one after another in one driver.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Session {
    /// What the session shows.
    pub about: String,
    /// Written to the driver's stdin before the first cell.
    #[serde(default)]
    pub stdin: String,
    /// The cells, in order.
    pub cell: Vec<Cell>,
}

/// One cell of a [`Session`] and what it must give; a field left out is not checked.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Cell {
    /// The cell.
    pub code: String,
    /// Its whole stdout.
    pub stdout: Option<String>,
    /// Its whole stderr.
    pub stderr: Option<String>,
    /// Its `done` status (`ok`, `error`).
    pub status: Option<String>,
    /// Its error's name.
    pub ename: Option<String>,
    /// Its error's whole value.
    pub evalue: Option<String>,
}

/// The cases of every folder of `dir` (sorted by id). Every folder must hold a valid
/// `cases.toml`.
pub fn load(dir: &Path) -> Result<Vec<LanguageCases>, CasesError> {
    let error = |file: &Path, message: String| CasesError {
        file: file.to_path_buf(),
        message,
    };
    let entries = std::fs::read_dir(dir).map_err(|e| error(dir, e.to_string()))?;
    let mut folders = Vec::new();
    for entry in entries {
        let path = entry.map_err(|e| error(dir, e.to_string()))?.path();
        if path.is_dir() {
            folders.push(path);
        }
    }
    folders.sort();
    let mut all = Vec::with_capacity(folders.len());
    for folder in folders {
        let file = folder.join("cases.toml");
        let id = folder
            .file_name()
            .map(|name| name.to_string_lossy().into_owned())
            .unwrap_or_default();
        let text = std::fs::read_to_string(&file).map_err(|e| error(&file, e.to_string()))?;
        let parsed = parse(&text).map_err(|message| error(&file, message))?;
        let example = example(&folder)?;
        all.push(LanguageCases {
            id,
            file,
            example,
            conformance: parsed.conformance,
            repl: parsed.repl,
        });
    }
    Ok(all)
}

/// The one `example.<ext>` of a folder.
fn example(folder: &Path) -> Result<Example, CasesError> {
    let error = |file: &Path, message: String| CasesError {
        file: file.to_path_buf(),
        message,
    };
    let entries = std::fs::read_dir(folder).map_err(|e| error(folder, e.to_string()))?;
    let mut found = Vec::new();
    for entry in entries {
        let path = entry.map_err(|e| error(folder, e.to_string()))?.path();
        if path
            .file_stem()
            .is_some_and(|stem| stem == "example" && path.extension().is_some())
        {
            found.push(path);
        }
    }
    match found.as_slice() {
        [file] => Ok(Example {
            code: std::fs::read_to_string(file).map_err(|e| error(file, e.to_string()))?,
            file: file.clone(),
        }),
        _ => Err(error(
            folder,
            format!("needs exactly one example.<ext>, has {}", found.len()),
        )),
    }
}

fn parse(text: &str) -> Result<File, String> {
    let file: File = toml::from_str(text).map_err(|e| e.to_string())?;
    let conformance = &file.conformance;
    let checks = [
        ("split", conformance.split.is_some()),
        ("broken", conformance.broken.is_some()),
        ("crash", conformance.crash.is_some()),
        ("memory", conformance.memory.is_some()),
    ];
    for name in conformance.skip.keys() {
        if !checks.iter().any(|(check, _)| check == name) {
            return Err(format!(
                "conformance.skip.{name}: not a check that may be skipped"
            ));
        }
    }
    for (check, present) in checks {
        match (present, conformance.skip.contains_key(check)) {
            (true, true) => {
                return Err(format!("conformance.{check}: both given and skipped"));
            }
            (false, false) => {
                return Err(format!(
                    "conformance.{check}: missing (give it, or say why in conformance.skip)"
                ));
            }
            _ => {}
        }
    }
    if let Some(crash) = &conformance.crash {
        if crash.stderr.is_some() == crash.signal.is_some() {
            return Err("conformance.crash: needs exactly one of `stderr` and `signal`".into());
        }
    }
    Ok(file)
}
