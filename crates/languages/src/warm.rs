//! Warm start: an interpreter started before its program arrives.
//!
//! The engine's warm pool starts the driver in a fresh sandbox with the run step's environment
//! and stdio already connected, and a pipe on fd 3. The driver starts the interpreter, then
//! blocks reading fd 3 until it gets ONE line of JSON:
//!
//! ```json
//! {"main": "main.py", "argv": ["arg 1", "arg2"]}
//! ```
//!
//! `main` is the main file, relative to the work directory, where the program's files have
//! already been written; `argv` holds the program's arguments only (not the interpreter, not
//! `main`). [`WarmStart::launch_request`] builds that line. The driver closes fd 3, deletes its
//! own file, and runs the program exactly as `python3 main.py arg...` or `node main.js arg...`
//! would: same `sys.argv`/`process.argv`, same tracebacks (the driver's frames are hidden), same
//! exit status, nothing imported that a plain run would not import. EOF on fd 3 without a
//! request makes the driver exit 0 quietly (the pool discards it).
//!
//! In a compiled language the warm driver is the compiler instead (Kotlin's and Scala's, whose
//! cold starts cost seconds): started with the compile step's environment and limits, warmed by compiling
//! a throwaway program, it gets the compile command's arguments (after `argv[0]`) in `argv`,
//! compiles once and exits with the compiler's status. The run step then starts as usual.

/// How the engine starts a warm interpreter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WarmStart {
    /// argv of the driver, `argv[0]` absolute, run in the work directory.
    pub argv: Vec<String>,
    /// The name under which the engine writes `driver_source` into the work directory.
    pub driver_file: String,
    /// The driver's source code.
    pub driver_source: &'static str,
}

impl WarmStart {
    /// The launch request to write to the driver's fd 3, newline included.
    pub fn launch_request(&self, main: &str, args: &[String]) -> String {
        // Built as a `Value`, whose text form cannot fail (keys come out sorted).
        let mut request = serde_json::Map::new();
        request.insert("main".to_owned(), serde_json::Value::from(main));
        request.insert("argv".to_owned(), serde_json::Value::from(args.to_vec()));
        let mut line = serde_json::Value::Object(request).to_string();
        line.push('\n');
        line
    }
}

/// The built-in drivers, by the name a language file gives in `warm.driver`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Driver {
    Python,
    Node,
    /// A compiler kept warm: the Kotlin compiler, loaded and JIT-warmed, compiling once.
    Kotlinc,
    /// The same for Scala's compiler.
    Scalac,
}

impl Driver {
    /// Names accepted in `warm.driver`.
    pub(crate) const NAMES: &'static [&'static str] = &["python", "node", "kotlinc", "scalac"];

    pub(crate) fn from_name(name: &str) -> Option<Self> {
        match name {
            "python" => Some(Self::Python),
            "node" => Some(Self::Node),
            "kotlinc" => Some(Self::Kotlinc),
            "scalac" => Some(Self::Scalac),
            _ => None,
        }
    }

    /// Hidden, so that a program listing its directory is unlikely to trip on it before the
    /// driver deletes it.
    pub(crate) fn file_name(self) -> &'static str {
        match self {
            Self::Python => ".runnel-warm.py",
            Self::Node => ".runnel-warm.js",
            Self::Kotlinc | Self::Scalac => ".runnel-warm-jvm-compiler.java",
        }
    }

    pub(crate) fn source(self) -> &'static str {
        match self {
            Self::Python => include_str!("drivers/warm.py"),
            Self::Node => include_str!("drivers/warm.js"),
            Self::Kotlinc | Self::Scalac => include_str!("drivers/warm_jvm_compiler.java"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn launch_requests_are_one_line_of_json() {
        let warm = WarmStart {
            argv: Vec::new(),
            driver_file: String::new(),
            driver_source: "",
        };
        let args = vec!["a b".to_string(), "q\"\\\n\u{1}é".to_string()];
        assert_eq!(
            warm.launch_request("main.py", &args),
            "{\"argv\":[\"a b\",\"q\\\"\\\\\\n\\u0001é\"],\"main\":\"main.py\"}\n"
        );
        assert_eq!(
            warm.launch_request("m.js", &[]),
            "{\"argv\":[],\"main\":\"m.js\"}\n"
        );
    }
}
