//! Session drivers: a persistent interpreter that evaluates cells in one namespace, with a
//! control channel of its own, apart from the user's stdout and stderr.
//!
//! The engine starts the driver (its source written into the work directory under
//! [`SessionDriver::file`]) with stdin, stdout and stderr on pipes and two more pipes:
//!
//! - fd 3, host to driver, one JSON object per line:
//!   `{"op":"execute","id":ID,"code":CODE,"marker":MARKER,"input_marker":IMARKER}` (drivers with
//!   [`SessionDriver::base64_code`] get `code_b64` instead of `code`), and
//!   `{"op":"input_reply","value":TEXT}` answering an input request. ID is the host's own
//!   (`cell-N`, never the client's run id), so a driver may read it back with a plain pattern.
//! - fd 4, driver to host, one JSON object per line: `{"op":"ready"}` once, when the
//!   interpreter is started and warmed (a cell's wall-clock limit starts only after it; the
//!   start has its own deadline), then `{"op":"input_request","prompt":TEXT,"password":BOOL}`
//!   while a cell waits for input, and
//!   `{"op":"done","id":ID,"status":"ok"|"error","ename":NAME,"evalue":TEXT}` after each cell
//!   (`ename` and `evalue` may be `null` or absent when the status is `ok`).
//!
//! [`crate::wire`] has both directions as types; the host parses each event line as a whole
//! JSON object, skips one that is not an event, ignores an unknown `op`, and drops a line
//! longer than [`crate::wire::MAX_EVENT_LINE`].
//!
//! The user's output goes to the real stdout and stderr, unchanged. After each cell the driver
//! flushes both and writes the cell's MARKER (random, chosen by the host) to each, then sends
//! `done`. Before an `input_request`, a driver flushes and writes IMARKER to both streams the
//! same way, so the output that came before the request reaches the client first. The host
//! strips the markers and ends the cell once both markers and `done` arrived,
//! so no output is cut off or given to the wrong cell. SIGINT interrupts the running cell
//! (Python raises `KeyboardInterrupt`) and leaves the driver waiting for the next one. Each
//! driver deletes its own file once started.

/// How the engine starts a session's persistent interpreter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionDriver {
    /// argv of the driver, `argv[0]` absolute, run in the work directory.
    pub argv: Vec<String>,
    /// The name under which the engine writes `source` into the work directory.
    pub file: String,
    /// The driver's source code.
    pub source: &'static str,
    /// The driver wants the cell's code base64-encoded in `code_b64` (its language has no JSON).
    pub base64_code: bool,
}

/// The built-in session drivers, by the name a language file gives in `repl.driver`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ReplDriver {
    Python,
    Node,
    Ruby,
    Php,
    Bash,
    Perl,
    Lua,
    R,
    Tcl,
    Sqlite,
    Guile,
    Sbcl,
    Ocaml,
    Erlang,
    Elixir,
    Ghci,
    Jvm,
    Prolog,
}

impl ReplDriver {
    /// Names accepted in `repl.driver`.
    pub(crate) const NAMES: &'static [&'static str] = &[
        "python", "node", "ruby", "php", "bash", "perl", "lua", "r", "tcl", "sqlite", "guile",
        "sbcl", "ocaml", "erlang", "elixir", "ghci", "jvm", "prolog",
    ];

    pub(crate) fn from_name(name: &str) -> Option<Self> {
        Some(match name {
            "python" => Self::Python,
            "node" => Self::Node,
            "ruby" => Self::Ruby,
            "php" => Self::Php,
            "bash" => Self::Bash,
            "perl" => Self::Perl,
            "lua" => Self::Lua,
            "r" => Self::R,
            "tcl" => Self::Tcl,
            "sqlite" => Self::Sqlite,
            "guile" => Self::Guile,
            "sbcl" => Self::Sbcl,
            "ocaml" => Self::Ocaml,
            "erlang" => Self::Erlang,
            "elixir" => Self::Elixir,
            "ghci" => Self::Ghci,
            "jvm" => Self::Jvm,
            "prolog" => Self::Prolog,
            _ => return None,
        })
    }

    /// Hidden, and deleted by the driver once it runs.
    pub(crate) fn file_name(self) -> &'static str {
        match self {
            Self::Python => ".runnel-session.py",
            Self::Node => ".runnel-session.js",
            Self::Ruby => ".runnel-session.rb",
            Self::Php => ".runnel-session.php",
            Self::Bash => ".runnel-session.sh",
            Self::Perl => ".runnel-session.pl",
            Self::Lua => ".runnel-session.lua",
            Self::R => ".runnel-session.R",
            Self::Tcl => ".runnel-session.tcl",
            Self::Sqlite => ".runnel-session-sqlite.py",
            Self::Guile => ".runnel-session.scm",
            Self::Sbcl => ".runnel-session.lisp",
            Self::Ocaml => ".runnel-session.ml",
            // One driver for both, in Erlang: the file name is fixed in it.
            Self::Erlang | Self::Elixir => ".runnel-session.erl",
            Self::Ghci => ".runnel-session-ghci.py",
            // One driver for Java, Groovy, Clojure, Scala and Kotlin (the language is an
            // argument); the file name is fixed in it.
            Self::Jvm => ".runnel-session.java",
            Self::Prolog => ".runnel-session.pl",
        }
    }

    pub(crate) fn source(self) -> &'static str {
        match self {
            Self::Python => include_str!("drivers/repl_python.py"),
            Self::Node => include_str!("drivers/repl_node.js"),
            Self::Ruby => include_str!("drivers/repl_ruby.rb"),
            Self::Php => include_str!("drivers/repl_php.php"),
            Self::Bash => include_str!("drivers/repl_bash.sh"),
            Self::Perl => include_str!("drivers/repl_perl.pl"),
            Self::Lua => include_str!("drivers/repl_lua.lua"),
            Self::R => include_str!("drivers/repl_r.R"),
            Self::Tcl => include_str!("drivers/repl_tcl.tcl"),
            Self::Sqlite => include_str!("drivers/repl_sqlite.py"),
            Self::Guile => include_str!("drivers/repl_guile.scm"),
            Self::Sbcl => include_str!("drivers/repl_sbcl.lisp"),
            Self::Ocaml => include_str!("drivers/repl_ocaml.ml"),
            Self::Erlang | Self::Elixir => include_str!("drivers/repl_erlang.erl"),
            Self::Ghci => include_str!("drivers/repl_ghci.py"),
            Self::Jvm => include_str!("drivers/repl_jvm.java"),
            Self::Prolog => include_str!("drivers/repl_prolog.pl"),
        }
    }

    pub(crate) fn base64_code(self) -> bool {
        matches!(
            self,
            Self::Bash
                | Self::Lua
                | Self::R
                | Self::Tcl
                | Self::Guile
                | Self::Sbcl
                | Self::Ocaml
                | Self::Erlang
                | Self::Elixir
        )
    }
}
