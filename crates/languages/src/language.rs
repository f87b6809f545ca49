//! One language: how to compile and run it, with which environment and limits.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use crate::template;
use crate::warm::{Driver, WarmStart};

/// PATH inside the sandbox, after the language's own `path` entries.
pub const SANDBOX_PATH: &str = "/usr/local/bin:/usr/bin:/bin";

const MIB: u64 = 1024 * 1024;

/// The smallest heap hint ever given, MiB, however small the memory limit.
const MIN_HEAP_MB: u64 = 8;

/// A language, validated and (after detection) with the installed runtime's version.
#[derive(Debug, Clone, PartialEq)]
pub struct Language {
    /// Lowercase id (`python`).
    pub id: String,
    /// Display name (`Python`).
    pub name: String,
    /// Aliases (`py`, `python3`).
    pub aliases: Vec<String>,
    /// Source file name for single-file programs (`main.py`, `Main.java`).
    pub source_file: String,
    /// The installed version ("" before detection).
    pub version: String,
    /// Read-only binds the toolchain needs besides `/usr`, `/lib*`, `/bin`, `/etc` basics:
    /// absolute host paths, symlinks resolved, bound at the same path inside the sandbox.
    pub binds: Vec<PathBuf>,
    /// Whether a compile step runs first.
    pub compiled: bool,
    /// Minimum pids the runtime needs to start (JVM about 16 with the tuned flags).
    pub min_pids: u32,
    /// Minimum memory the runtime needs to start, bytes.
    pub min_memory_bytes: u64,
    /// How to start a persistent interpreter for sessions, if the language has one.
    pub repl: Option<ReplSpec>,
    pub(crate) file: String,
    pub(crate) version_check: VersionCheck,
    pub(crate) requires: Vec<PathBuf>,
    pub(crate) path_prefix: Vec<String>,
    pub(crate) heap_percent: u64,
    pub(crate) env: BTreeMap<String, String>,
    pub(crate) compile: Option<CompileSpec>,
    pub(crate) run: StepSpec,
    pub(crate) warm: Option<WarmSpec>,
}

/// A language's interactive interpreter (the terminal service of a session) and its session
/// driver (state kept across executes), when it has them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplSpec {
    /// argv of the interactive interpreter, `argv[0]` absolute (run on a terminal).
    pub argv: Vec<String>,
    /// The session driver, if the language has one (see [`crate::SessionDriver`]).
    pub driver: Option<crate::repl::SessionDriver>,
}

/// Limits of the (sandboxed) compile step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CompileLimits {
    /// Wall-clock deadline.
    pub wall: Duration,
    /// Memory limit, bytes.
    pub memory_bytes: u64,
    /// Maximum processes plus threads.
    pub pids: u32,
}

impl CompileLimits {
    /// Compile limits when a language's file says nothing: 30 s, 512 MiB, 64 tasks.
    pub const DEFAULT: CompileLimits = CompileLimits {
        wall: Duration::from_secs(30),
        memory_bytes: 512 * 1024 * 1024,
        pids: 64,
    };
}

/// Where the sandbox's writable directories are. The engine uses the defaults; host-side tests
/// point them at a temporary directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SandboxDirs {
    /// The program's directory: cwd and HOME (`/work`).
    pub work: String,
    /// Scratch space: TMPDIR (`/tmp`).
    pub tmp: String,
}

impl Default for SandboxDirs {
    fn default() -> Self {
        Self {
            work: "/work".to_string(),
            tmp: "/tmp".to_string(),
        }
    }
}

/// How detection proves the toolchain works and reads its version.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct VersionCheck {
    pub(crate) command: Vec<String>,
    pub(crate) file: Option<PathBuf>,
    pub(crate) prefix: Option<String>,
    pub(crate) timeout: Duration,
}

/// argv and environment templates of one step.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct StepSpec {
    pub(crate) argv: Vec<String>,
    pub(crate) env: BTreeMap<String, String>,
}

/// The compile step.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct CompileSpec {
    pub(crate) step: StepSpec,
    /// Patterns of the files the run step needs (see `artifact`).
    pub(crate) artifacts: Vec<String>,
    pub(crate) source_extensions: Vec<String>,
    pub(crate) limits: CompileLimits,
}

/// The warm-start driver.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct WarmSpec {
    pub(crate) driver: Driver,
    pub(crate) argv: Vec<String>,
}

impl Language {
    /// argv of the compile step (`argv[0]` absolute), given the program's file names (first =
    /// main) and extra compiler flags. `None` for interpreted languages.
    pub fn compile_command(
        &self,
        files: &[String],
        compiler_args: &[String],
    ) -> Option<Vec<String>> {
        let compile = self.compile.as_ref()?;
        let sources: Vec<String> = files
            .iter()
            .filter(|file| {
                compile.source_extensions.is_empty()
                    || compile
                        .source_extensions
                        .iter()
                        .any(|extension| file.ends_with(extension.as_str()))
            })
            .cloned()
            .collect();
        Some(self.expand_step_argv(&compile.step.argv, files, &sources, compiler_args, &[]))
    }

    /// argv of the run step, given file names (first = main) and program arguments. `argv[0]` is
    /// absolute, or `./main` for a binary the compile step left in the work directory.
    pub fn run_command(&self, files: &[String], args: &[String]) -> Vec<String> {
        self.expand_step_argv(&self.run.argv, files, files, &[], args)
    }

    /// Complete environment of the run step under a memory limit, for the sandbox's
    /// directories (`/work`, `/tmp`). Sorted by name.
    pub fn run_environment(&self, memory_bytes: u64) -> Vec<(String, String)> {
        self.run_environment_in(memory_bytes, &SandboxDirs::default())
    }

    /// [`Language::run_environment`] with other directories (host-side tests).
    pub fn run_environment_in(
        &self,
        memory_bytes: u64,
        dirs: &SandboxDirs,
    ) -> Vec<(String, String)> {
        self.environment(&self.run.env, memory_bytes, dirs)
    }

    /// Environment of the compile step under its memory limit (see [`Language::compile_limits`]).
    pub fn compile_environment(&self, memory_bytes: u64) -> Vec<(String, String)> {
        self.compile_environment_in(memory_bytes, &SandboxDirs::default())
    }

    /// [`Language::compile_environment`] with other directories (host-side tests).
    pub fn compile_environment_in(
        &self,
        memory_bytes: u64,
        dirs: &SandboxDirs,
    ) -> Vec<(String, String)> {
        let step_env = self.compile.as_ref().map(|compile| &compile.step.env);
        self.environment(step_env.unwrap_or(&BTreeMap::new()), memory_bytes, dirs)
    }

    /// Limits the compile step needs (the defaults for interpreted languages).
    pub fn compile_limits(&self) -> CompileLimits {
        self.compile
            .as_ref()
            .map(|compile| compile.limits)
            .unwrap_or(CompileLimits::DEFAULT)
    }

    /// Whether `path` (relative to the work dir) is one of the files the compile step leaves
    /// for the run step (`compile.artifacts`): only those are kept in the compile cache.
    /// Always false for interpreted languages.
    pub fn is_artifact(&self, path: &str) -> bool {
        self.compile.as_ref().is_some_and(|compile| {
            compile
                .artifacts
                .iter()
                .any(|pattern| crate::artifact::matches(pattern, path))
        })
    }

    /// A key that changes whenever the toolchain changes: id, version and a hash of the compile
    /// argv and environment templates, for the compile cache.
    pub fn toolchain_key(&self) -> String {
        let mut hash = Fnv::new();
        hash.write(self.id.as_bytes());
        hash.write(self.version.as_bytes());
        if let Some(compile) = &self.compile {
            for item in &compile.step.argv {
                hash.write(item.as_bytes());
            }
            for (name, value) in self.env.iter().chain(&compile.step.env) {
                hash.write(name.as_bytes());
                hash.write(value.as_bytes());
            }
            for extension in &compile.source_extensions {
                hash.write(extension.as_bytes());
            }
            for pattern in &compile.artifacts {
                hash.write(pattern.as_bytes());
            }
        }
        for bind in &self.binds {
            hash.write(bind.as_os_str().as_encoded_bytes());
        }
        format!("{}-{}-{:016x}", self.id, self.version, hash.finish())
    }

    /// Optional warm start: a driver that starts the interpreter ahead of time, then blocks
    /// reading one launch request on fd 3 (see [`WarmStart`]). Its environment is the run
    /// step's, or in a compiled language (where the driver is the compiler) the compile
    /// step's. `None` if the language has none.
    pub fn warm_start(&self) -> Option<WarmStart> {
        let warm = self.warm.as_ref()?;
        let driver_file = warm.driver.file_name().to_string();
        let scalars = BTreeMap::from([("driver", driver_file.clone())]);
        let argv = template::expand_argv(&warm.argv, &scalars, &BTreeMap::new());
        Some(WarmStart {
            argv,
            driver_file,
            driver_source: warm.driver.source(),
        })
    }

    /// The file this language was loaded from (`python/language.toml` when embedded).
    pub fn file(&self) -> &str {
        &self.file
    }

    /// Host paths that must exist for the toolchain to work (`argv[0]`s, binds, `requires`).
    pub fn required_paths(&self) -> &[PathBuf] {
        &self.requires
    }

    fn expand_step_argv(
        &self,
        argv: &[String],
        files: &[String],
        sources: &[String],
        compiler_args: &[String],
        args: &[String],
    ) -> Vec<String> {
        let main = files
            .first()
            .cloned()
            .unwrap_or_else(|| self.source_file.clone());
        let scalars = BTreeMap::from([("main_stem", stem(&main).to_string()), ("main", main)]);
        let lists = BTreeMap::from([
            ("files", files),
            ("sources", sources),
            ("compiler_args", compiler_args),
            ("args", args),
        ]);
        template::expand_argv(argv, &scalars, &lists)
    }

    fn environment(
        &self,
        step_env: &BTreeMap<String, String>,
        memory_bytes: u64,
        dirs: &SandboxDirs,
    ) -> Vec<(String, String)> {
        let heap_bytes =
            u64::try_from(u128::from(memory_bytes) * u128::from(self.heap_percent) / 100)
                .unwrap_or(u64::MAX)
                .max(MIN_HEAP_MB * MIB);
        let values = BTreeMap::from([
            ("memory_mb", (memory_bytes / MIB).to_string()),
            ("memory_bytes", memory_bytes.to_string()),
            ("heap_mb", (heap_bytes / MIB).to_string()),
            ("heap_bytes", heap_bytes.to_string()),
            ("work", dirs.work.clone()),
            ("tmp", dirs.tmp.clone()),
        ]);
        let mut path = self.path_prefix.clone();
        path.push(SANDBOX_PATH.to_string());
        let mut env = BTreeMap::from([
            ("PATH".to_string(), path.join(":")),
            ("HOME".to_string(), dirs.work.clone()),
            ("LANG".to_string(), "C.UTF-8".to_string()),
            ("TMPDIR".to_string(), dirs.tmp.clone()),
        ]);
        for (name, value) in self.env.iter().chain(step_env) {
            if value.is_empty() {
                env.remove(name);
            } else {
                env.insert(name.clone(), template::expand_scalar(value, &values));
            }
        }
        env.into_iter().collect()
    }
}

/// `dir/main.ts` -> `dir/main`.
fn stem(file: &str) -> &str {
    let name_start = file.rfind('/').map_or(0, |slash| slash + 1);
    match file[name_start..].rfind('.') {
        Some(dot) if dot > 0 => &file[..name_start + dot],
        _ => file,
    }
}

/// FNV-1a, 64 bits: stable across Rust versions, unlike `DefaultHasher`, so cache keys survive
/// an upgrade of Runnel itself.
struct Fnv(u64);

impl Fnv {
    fn new() -> Self {
        Self(0xcbf2_9ce4_8422_2325)
    }

    /// Hash `bytes` followed by a separator, so that ("ab", "c") and ("a", "bc") differ.
    fn write(&mut self, bytes: &[u8]) {
        for &byte in bytes.iter().chain(&[0xff]) {
            self.0 ^= u64::from(byte);
            self.0 = self.0.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stems_drop_only_the_extension() {
        assert_eq!(stem("main.ts"), "main");
        assert_eq!(stem("src/main.ts"), "src/main");
        assert_eq!(stem("a.b/main"), "a.b/main");
        assert_eq!(stem(".hidden"), ".hidden");
    }

    #[test]
    fn fnv_separates_items() {
        let mut one = Fnv::new();
        one.write(b"ab");
        one.write(b"c");
        let mut two = Fnv::new();
        two.write(b"a");
        two.write(b"bc");
        assert_ne!(one.finish(), two.finish());
    }
}
