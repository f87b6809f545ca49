//! Wire to domain, at the edge: an `execute` message (or HTTP body) becomes a validated
//! [`RunRequest`] for the engine, or a named [`ApiError`] saying what was wrong.
//!
//! Everything a client controls is checked here: the language, file names (relative, no `..`,
//! no control characters, bounded length), file encodings, ids, and limits, which are filled
//! from the server's defaults and capped by the key's quota.

use std::collections::HashSet;
use std::time::Duration;

use base64::Engine as _;
use runnel_engine::{Limits, RunRequest, SourceFile};
use runnel_protocol::http::LanguageInfo;
use runnel_protocol::{ErrorCode, ExecuteRequest, FileSpec, LimitsSpec};
use runnel_store::KeyQuota;

use crate::error::ApiError;

use runnel_protocol::client::{MAX_COMPONENT_BYTES, MAX_FILES, MAX_FILE_NAME_BYTES, MAX_ID_BYTES};

/// The languages the engine has, as the conversion needs them (a trait so tests need no engine).
pub(crate) trait LanguageCatalog {
    /// The canonical id of an id or alias, if installed.
    fn resolve(&self, id_or_alias: &str) -> Option<String>;
    /// Every installed language.
    fn installed(&self) -> Vec<LanguageInfo>;
}

impl LanguageCatalog for runnel_engine::Engine {
    fn resolve(&self, id_or_alias: &str) -> Option<String> {
        self.resolve_language(id_or_alias)
    }

    fn installed(&self) -> Vec<LanguageInfo> {
        self.languages()
    }
}

/// A validated `execute`.
#[derive(Debug)]
pub(crate) struct Execute {
    /// What the engine runs.
    pub(crate) run: RunRequest,
    /// Whether the client asked for a stream of events rather than one result.
    pub(crate) stream: bool,
}

/// Convert an `execute` request of `owner` (a key id). `stdin` is closed after the up-front text for non-streamed
/// runs (nobody can send more), and kept open for streamed ones.
pub(crate) fn execute_from_wire(
    request: ExecuteRequest,
    owner: &str,
    catalog: &dyn LanguageCatalog,
    defaults: Limits,
    quota: &KeyQuota,
) -> Result<Execute, ApiError> {
    if request.session.is_some() {
        // The WebSocket routes session executes before converting; over HTTP a session run
        // has its own route.
        return Err(ApiError::bad_request(
            "`session` is not accepted here: POST /api/v1/sessions/{id}/execute runs in a session",
        ));
    }
    let id = match request.id {
        Some(id) => validate_id(id)?,
        None => generate_id(),
    };
    let language = resolve_language(&request.language, request.version.as_deref(), catalog)?;
    let files = files_from_wire(request.code, request.files)?;
    let limits = limits_from_wire(request.limits, request.timeout, defaults, quota)?;
    let run = RunRequest {
        id,
        owner: owner.to_owned(),
        language,
        files,
        stdin: request.stdin.map(String::into_bytes),
        close_stdin: !request.stream,
        args: request.args,
        compiler_args: request.compiler_args,
        limits,
        replay_bytes: 0,
    };
    Ok(Execute {
        run,
        stream: request.stream,
    })
}

/// A fresh server-side run id.
pub(crate) fn generate_id() -> String {
    format!("run-{:016x}", rand::random::<u64>())
}

fn validate_id(id: String) -> Result<String, ApiError> {
    if id.is_empty() || id.len() > MAX_ID_BYTES || id.chars().any(char::is_control) {
        return Err(ApiError::bad_request(format!(
            "invalid `id`: it must be 1 to {MAX_ID_BYTES} bytes without control characters"
        )));
    }
    Ok(id)
}

fn resolve_language(
    requested: &str,
    version: Option<&str>,
    catalog: &dyn LanguageCatalog,
) -> Result<String, ApiError> {
    if requested.trim().is_empty() {
        return Err(ApiError::bad_request("missing field `language`"));
    }
    let Some(id) = catalog.resolve(requested.trim()) else {
        let installed: Vec<String> = catalog
            .installed()
            .into_iter()
            .map(|info| info.id)
            .collect();
        return Err(ApiError::new(
            ErrorCode::UnknownLanguage,
            format!(
                "unknown language `{requested}` (available: {})",
                installed.join(", ")
            ),
        ));
    };
    if let Some(wanted) = version
        .map(str::trim)
        .filter(|v| !v.is_empty() && *v != "*")
    {
        let installed = catalog
            .installed()
            .into_iter()
            .find(|info| info.id == id)
            .map(|info| info.version)
            .unwrap_or_default();
        if !version_matches(wanted, &installed) {
            return Err(ApiError::new(
                ErrorCode::UnknownLanguage,
                format!("{id} {wanted} is not installed (installed: {id} {installed})"),
            ));
        }
    }
    Ok(id)
}

/// `3` and `3.11` match `3.11.2`; `3.1` does not.
fn version_matches(wanted: &str, installed: &str) -> bool {
    installed == wanted
        || installed
            .strip_prefix(wanted)
            .is_some_and(|rest| rest.starts_with('.'))
}

/// `code` or `files`, decoded and with names checked. With `code`, the single file's name is
/// empty: the engine uses the language's default source file.
pub(crate) fn files_from_wire(
    code: Option<String>,
    files: Vec<FileSpec>,
) -> Result<Vec<SourceFile>, ApiError> {
    match (code, files.is_empty()) {
        (Some(_), false) => Err(ApiError::bad_request(
            "give either `code` or `files`, not both",
        )),
        (None, true) => Err(ApiError::bad_request(
            "missing field `code` (or `files`: [{name, content, encoding?}])",
        )),
        (Some(code), true) => Ok(vec![SourceFile {
            name: String::new(),
            contents: code.into_bytes(),
        }]),
        (None, false) => {
            if files.len() > MAX_FILES {
                return Err(ApiError::bad_request(format!(
                    "too many files: {} (at most {MAX_FILES})",
                    files.len()
                )));
            }
            let mut seen = HashSet::new();
            let mut decoded = Vec::with_capacity(files.len());
            for (index, file) in files.into_iter().enumerate() {
                validate_file_name(&file.name).map_err(|problem| {
                    ApiError::bad_request(format!("files[{index}].name: {problem}"))
                })?;
                if !seen.insert(file.name.clone()) {
                    return Err(ApiError::bad_request(format!(
                        "files[{index}].name: duplicate file `{}`",
                        file.name
                    )));
                }
                let contents =
                    decode_content(&file.content, file.encoding.as_deref()).map_err(|problem| {
                        ApiError::bad_request(format!("files[{index}] `{}`: {problem}", file.name))
                    })?;
                decoded.push(SourceFile {
                    name: file.name,
                    contents,
                });
            }
            Ok(decoded)
        }
    }
}

/// Check a client file name: a relative path of plain components.
pub(crate) fn validate_file_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("file name is empty".to_owned());
    }
    if name.len() > MAX_FILE_NAME_BYTES {
        return Err(format!(
            "file name is {} bytes (at most {MAX_FILE_NAME_BYTES})",
            name.len()
        ));
    }
    if let Some(bad) = name.chars().find(|c| c.is_control()) {
        return Err(format!(
            "file name contains control character U+{:04X}",
            u32::from(bad)
        ));
    }
    if name.contains('\\') {
        return Err(format!("file name `{name}` contains `\\`: use `/`"));
    }
    if name.starts_with('/') {
        return Err(format!(
            "file name `{name}` is absolute: it must be relative"
        ));
    }
    for component in name.split('/') {
        match component {
            "" => return Err(format!("file name `{name}` has an empty path component")),
            "." | ".." => {
                return Err(format!(
                    "file name `{name}` contains `{component}`: use plain relative paths"
                ))
            }
            _ if component.len() > MAX_COMPONENT_BYTES => {
                return Err(format!(
                    "file name `{name}` has a component over {MAX_COMPONENT_BYTES} bytes"
                ))
            }
            _ => {}
        }
    }
    Ok(())
}

/// Decode file content given as `utf8` (default), `base64` or `hex`.
pub(crate) fn decode_content(content: &str, encoding: Option<&str>) -> Result<Vec<u8>, String> {
    match encoding.map(str::to_ascii_lowercase).as_deref() {
        None | Some("utf8") | Some("utf-8") | Some("text") => Ok(content.as_bytes().to_vec()),
        Some("base64") => base64::engine::general_purpose::STANDARD
            .decode(content.trim())
            .map_err(|error| format!("invalid base64: {error}")),
        Some("hex") => hex::decode(content.trim()).map_err(|error| format!("invalid hex: {error}")),
        Some(other) => Err(format!(
            "unknown encoding `{other}` (expected utf8, base64 or hex)"
        )),
    }
}

/// The most output a run may have whatever its key allows (a `result` holds it all, so it is
/// server memory): 64 MiB.
pub(crate) const OUTPUT_CEILING: u64 = 64 << 20;

/// The run's limits: the request's (with `limits.wall_ms` over `timeout` seconds), else the
/// server's defaults; then each capped by the key's maximum (0 in the quota: no maximum), and
/// the output by [`OUTPUT_CEILING`].
pub(crate) fn limits_from_wire(
    spec: Option<LimitsSpec>,
    timeout: Option<f64>,
    defaults: Limits,
    quota: &KeyQuota,
) -> Result<Limits, ApiError> {
    let spec = spec.unwrap_or_default();
    let positive = |name: &str, value: Option<u64>| match value {
        Some(0) => Err(ApiError::bad_request(format!(
            "`limits.{name}` must be positive"
        ))),
        other => Ok(other),
    };
    let timeout_wall = match timeout {
        None => None,
        Some(seconds) if seconds.is_finite() && seconds > 0.0 => {
            // Saturating: a huge timeout is capped by the quota below anyway.
            Some(Duration::try_from_secs_f64(seconds).unwrap_or(Duration::MAX))
        }
        Some(seconds) => {
            return Err(ApiError::bad_request(format!(
                "`timeout` must be a positive number of seconds, got {seconds}"
            )))
        }
    };
    let wall = positive("wall_ms", spec.wall_ms)?
        .map(Duration::from_millis)
        .or(timeout_wall)
        .unwrap_or(defaults.wall);
    let cpu = positive("cpu_ms", spec.cpu_ms)?
        .map(Duration::from_millis)
        .unwrap_or(defaults.cpu);
    let memory_bytes = positive("memory_mb", spec.memory_mb)?
        .map(|mb| mb.saturating_mul(1 << 20))
        .unwrap_or(defaults.memory_bytes);
    let pids = positive("pids", spec.pids.map(u64::from))?
        .map(|pids| u32::try_from(pids).unwrap_or(u32::MAX))
        .unwrap_or(defaults.pids);
    let output_bytes =
        positive("output_bytes", spec.output_bytes)?.unwrap_or(defaults.output_bytes);
    Ok(Limits {
        wall: cap(wall, quota.max_wall_ms, Duration::from_millis),
        cpu: cap(cpu, quota.max_cpu_ms, Duration::from_millis),
        memory_bytes: cap(memory_bytes, quota.max_memory_mb, |mb| {
            mb.saturating_mul(1 << 20)
        }),
        pids: cap(pids, quota.max_pids, |pids| pids),
        output_bytes: cap(output_bytes, quota.max_output_bytes, |bytes| bytes).min(OUTPUT_CEILING),
    })
}

fn cap<T: Ord, Q: PartialEq + Default>(value: T, maximum: Q, to_value: impl Fn(Q) -> T) -> T {
    if maximum == Q::default() {
        value
    } else {
        value.min(to_value(maximum))
    }
}

#[cfg(test)]
#[path = "convert_tests.rs"]
mod tests;
