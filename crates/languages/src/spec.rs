//! The TOML schema of `languages/<id>/language.toml` (see `languages/README.md`) and its validation into a
//! [`Language`].
//!
//! Parsing is two steps: serde reads the raw shape (unknown fields are errors, so a typo is
//! caught), then [`parse`] checks the values, resolves host paths and fills the private fields.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::artifact;
use crate::error::LanguageError;
use crate::host_path;
use crate::language::{
    CompileLimits, CompileSpec, Language, ReplSpec, StepSpec, VersionCheck, WarmSpec,
};
use crate::repl::{ReplDriver, SessionDriver};
use crate::template;
use crate::warm::Driver;

/// Version command timeout when a file says nothing. Generous: ~40 version commands start in
/// parallel at start-up (JVMs and BEAM among them), and on a loaded 2-core machine a slow start
/// must not make a working toolchain look missing.
const DEFAULT_VERSION_TIMEOUT: Duration = Duration::from_secs(20);

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLanguage {
    id: String,
    name: String,
    #[serde(default)]
    aliases: Vec<String>,
    source_file: String,
    /// Read by build.rs (the clients' extension map); validated here.
    extensions: Option<Vec<String>>,
    #[serde(default)]
    binds: Vec<String>,
    #[serde(default)]
    requires: Vec<String>,
    #[serde(default)]
    path: Vec<String>,
    #[serde(default = "default_min_pids")]
    min_pids: u32,
    #[serde(default = "default_min_memory_mb")]
    min_memory_mb: u64,
    #[serde(default = "default_heap_percent")]
    heap_percent: u64,
    #[serde(default)]
    paths: BTreeMap<String, Vec<String>>,
    version: RawVersion,
    #[serde(default)]
    env: BTreeMap<String, String>,
    compile: Option<RawCompile>,
    run: RawStep,
    warm: Option<RawWarm>,
    repl: Option<RawRepl>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawVersion {
    #[serde(default)]
    command: Vec<String>,
    file: Option<String>,
    prefix: Option<String>,
    timeout_ms: Option<u64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStep {
    argv: Vec<String>,
    #[serde(default)]
    env: BTreeMap<String, String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCompile {
    argv: Vec<String>,
    #[serde(default)]
    env: BTreeMap<String, String>,
    #[serde(default)]
    source_extensions: Vec<String>,
    wall_ms: Option<u64>,
    memory_mb: Option<u64>,
    pids: Option<u32>,
    artifacts: Option<Vec<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWarm {
    driver: String,
    argv: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRepl {
    argv: Vec<String>,
    driver: Option<String>,
    #[serde(default)]
    driver_argv: Vec<String>,
}

fn default_min_pids() -> u32 {
    1
}

fn default_min_memory_mb() -> u64 {
    16
}

fn default_heap_percent() -> u64 {
    75
}

/// Parse and validate the text of one language file. `file` names it in errors.
pub(crate) fn parse(
    file: &str,
    text: &str,
    home: Option<&Path>,
) -> Result<Language, LanguageError> {
    let invalid = |message: String| LanguageError::Invalid {
        file: file.to_string(),
        message,
    };
    let raw: RawLanguage = toml::from_str(text).map_err(|error| {
        invalid(
            error
                .to_string()
                .trim_end()
                .replace('\n', " ")
                .replace("  ", " "),
        )
    })?;
    Checker { file, raw, home }.check().map_err(invalid)
}

struct Checker<'a> {
    file: &'a str,
    raw: RawLanguage,
    /// What `~` in host paths stands for.
    home: Option<&'a Path>,
}

impl Checker<'_> {
    fn check(self) -> Result<Language, String> {
        let home = self.home;
        let raw = self.raw;
        check_name("id", &raw.id)?;
        for (index, alias) in raw.aliases.iter().enumerate() {
            check_alias(&format!("aliases[{index}]"), alias)?;
        }
        if raw.name.trim().is_empty() {
            return Err("field `name`: must not be empty".to_string());
        }
        if raw.source_file.is_empty() || raw.source_file.contains('/') {
            return Err("field `source_file`: must be a plain file name".to_string());
        }
        for (index, extension) in raw.extensions.iter().flatten().enumerate() {
            let plain = !extension.is_empty()
                && !extension.contains(['.', '/'])
                && extension.to_lowercase() == *extension;
            if !plain {
                return Err(format!(
                    "field `extensions[{index}]`: {extension:?} must be lowercase, without a dot"
                ));
            }
        }
        if raw.heap_percent == 0 || raw.heap_percent > 100 {
            return Err("field `heap_percent`: must be between 1 and 100".to_string());
        }

        // Named host paths first: every other template may use them.
        let mut paths = BTreeMap::new();
        for (name, candidates) in &raw.paths {
            if template::LIST_PLACEHOLDERS
                .iter()
                .chain(template::ARGV_SCALARS)
                .chain(template::ENV_SCALARS)
                .any(|reserved| reserved == name)
            {
                return Err(format!(
                    "field `paths.{name}`: name is a reserved placeholder"
                ));
            }
            if candidates.is_empty() {
                return Err(format!(
                    "field `paths.{name}`: needs at least one candidate"
                ));
            }
            let resolved = host_path::resolve_first(candidates, home).unwrap_or_default();
            paths.insert(name.as_str(), resolved);
        }
        let path_names: Vec<&str> = paths.keys().copied().collect();
        let argv = |field: &str, argv: &[String]| -> Result<Vec<String>, String> {
            if argv.is_empty() {
                return Err(format!("field `{field}`: must not be empty"));
            }
            template::check_argv(argv, &path_names).map_err(|e| format!("field `{field}`: {e}"))?;
            let argv: Vec<String> = argv
                .iter()
                .map(|item| template::expand_scalar(item, &paths))
                .collect();
            let first = &argv[0];
            if !first.starts_with('/') && !first.starts_with("./") {
                return Err(format!(
                    "field `{field}`: argv[0] {first:?} must be an absolute path (or ./ for a \
                     compiled program)"
                ));
            }
            Ok(argv)
        };
        let env = |field: &str, env: &BTreeMap<String, String>| {
            let mut out = BTreeMap::new();
            for (name, value) in env {
                if name.is_empty() || name.contains('=') {
                    return Err(format!("field `{field}.{name}`: bad variable name"));
                }
                template::check_env(value, &path_names)
                    .map_err(|e| format!("field `{field}.{name}`: {e}"))?;
                out.insert(name.clone(), template::expand_scalar(value, &paths));
            }
            Ok::<_, String>(out)
        };
        let host_path_of = |field: &str, value: &str| -> Result<String, String> {
            template::check_env(value, &path_names).map_err(|e| format!("field `{field}`: {e}"))?;
            let expanded = template::expand_scalar(value, &paths);
            let resolved = host_path::resolve(&expanded, home)
                .unwrap_or_else(|| host_path::expand_home(&expanded, home));
            if !resolved.starts_with('/') {
                return Err(format!(
                    "field `{field}`: {value:?} must be an absolute path"
                ));
            }
            Ok(resolved)
        };

        let version_command = if raw.version.command.is_empty() {
            Vec::new()
        } else {
            argv("version.command", &raw.version.command)?
        };
        if version_command.is_empty() && raw.version.file.is_none() {
            return Err("field `version`: needs `command`, `file` or both".to_string());
        }
        let version_file = match &raw.version.file {
            Some(file) => Some(PathBuf::from(host_path_of("version.file", file)?)),
            None => None,
        };
        let compile = match &raw.compile {
            Some(compile) => Some(CompileSpec {
                artifacts: artifacts(compile.artifacts.as_deref())?,
                step: StepSpec {
                    argv: argv("compile.argv", &compile.argv)?,
                    env: env("compile.env", &compile.env)?,
                },
                source_extensions: compile.source_extensions.clone(),
                limits: CompileLimits {
                    wall: compile
                        .wall_ms
                        .map_or(CompileLimits::DEFAULT.wall, Duration::from_millis),
                    memory_bytes: compile
                        .memory_mb
                        .map_or(CompileLimits::DEFAULT.memory_bytes, |mb| mb * 1024 * 1024),
                    pids: compile.pids.unwrap_or(CompileLimits::DEFAULT.pids),
                },
            }),
            None => None,
        };
        let run = StepSpec {
            argv: argv("run.argv", &raw.run.argv)?,
            env: env("run.env", &raw.run.env)?,
        };
        let warm = match &raw.warm {
            Some(warm) => Some(WarmSpec {
                driver: Driver::from_name(&warm.driver).ok_or_else(|| {
                    format!(
                        "field `warm.driver`: unknown driver {:?} (known: {})",
                        warm.driver,
                        Driver::NAMES.join(", ")
                    )
                })?,
                argv: argv("warm.argv", &warm.argv)?,
            }),
            None => None,
        };
        let repl = match &raw.repl {
            Some(repl) => {
                let driver = match &repl.driver {
                    Some(name) => {
                        let kind = ReplDriver::from_name(name).ok_or_else(|| {
                            format!(
                                "field `repl.driver`: unknown driver {name:?} (known: {})",
                                ReplDriver::NAMES.join(", ")
                            )
                        })?;
                        let file = kind.file_name().to_string();
                        let scalars = BTreeMap::from([("driver", file.clone())]);
                        let driver_argv = argv("repl.driver_argv", &repl.driver_argv)?;
                        Some(SessionDriver {
                            argv: template::expand_argv(&driver_argv, &scalars, &BTreeMap::new()),
                            file,
                            source: kind.source(),
                            base64_code: kind.base64_code(),
                        })
                    }
                    None if repl.driver_argv.is_empty() => None,
                    None => {
                        return Err("field `repl.driver_argv`: needs `repl.driver` too".to_string())
                    }
                };
                Some(ReplSpec {
                    argv: argv("repl.argv", &repl.argv)?,
                    driver,
                })
            }
            None => None,
        };

        let mut binds = Vec::new();
        for (index, bind) in raw.binds.iter().enumerate() {
            binds.push(PathBuf::from(host_path_of(
                &format!("binds[{index}]"),
                bind,
            )?));
        }
        let mut requires = Vec::new();
        for (index, required) in raw.requires.iter().enumerate() {
            requires.push(PathBuf::from(host_path_of(
                &format!("requires[{index}]"),
                required,
            )?));
        }
        let argv0s = [Some(&run.argv), compile.as_ref().map(|c| &c.step.argv)];
        for first in argv0s.into_iter().flatten().chain([&version_command]) {
            if let Some(program) = first.first().filter(|program| program.starts_with('/')) {
                requires.push(PathBuf::from(program));
            }
        }
        requires.extend(binds.iter().cloned());
        requires.extend(version_file.iter().cloned());
        requires.sort();
        requires.dedup();
        let mut path_prefix = Vec::new();
        for (index, dir) in raw.path.iter().enumerate() {
            path_prefix.push(host_path_of(&format!("path[{index}]"), dir)?);
        }

        Ok(Language {
            id: raw.id,
            name: raw.name,
            aliases: raw
                .aliases
                .iter()
                .map(|alias| alias.to_lowercase())
                .collect(),
            source_file: raw.source_file,
            version: String::new(),
            binds,
            compiled: compile.is_some(),
            min_pids: raw.min_pids.max(1),
            min_memory_bytes: raw.min_memory_mb * 1024 * 1024,
            repl,
            file: self.file.to_string(),
            version_check: VersionCheck {
                command: version_command,
                file: version_file,
                prefix: raw.version.prefix,
                timeout: raw
                    .version
                    .timeout_ms
                    .map_or(DEFAULT_VERSION_TIMEOUT, Duration::from_millis),
            },
            requires,
            path_prefix,
            heap_percent: raw.heap_percent,
            env: env("env", &raw.env)?,
            compile,
            run,
            warm,
        })
    }
}

/// The checked `compile.artifacts` patterns, or the default.
fn artifacts(declared: Option<&[String]>) -> Result<Vec<String>, String> {
    let Some(declared) = declared else {
        return Ok(artifact::DEFAULT_ARTIFACTS
            .iter()
            .map(|pattern| (*pattern).to_owned())
            .collect());
    };
    if declared.is_empty() {
        return Err("field `compile.artifacts`: must name at least one pattern".to_string());
    }
    for (index, pattern) in declared.iter().enumerate() {
        artifact::check_pattern(pattern)
            .map_err(|error| format!("field `compile.artifacts[{index}]`: {error}"))?;
    }
    Ok(declared.to_vec())
}

/// Ids are lowercase ASCII letters, digits and `-`, starting with a letter.
fn check_name(field: &str, value: &str) -> Result<(), String> {
    let mut chars = value.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_lowercase());
    if !first_ok || !chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-') {
        return Err(format!(
            "field `{field}`: {value:?} must be lowercase letters, digits and '-', starting \
             with a letter"
        ));
    }
    Ok(())
}

/// Aliases may also hold `+` and `#` (`c++`, `c#`), but no spaces or slashes.
fn check_alias(field: &str, value: &str) -> Result<(), String> {
    if value.is_empty() || !value.chars().all(|c| c.is_ascii_graphic() && c != '/') {
        return Err(format!("field `{field}`: {value:?} is not a valid alias"));
    }
    Ok(())
}
