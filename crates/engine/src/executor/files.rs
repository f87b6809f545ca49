//! File names of a request, checked before anything reaches a sandbox.

use runnel_languages::Language;
use runnel_sandbox::FileEntry;

use crate::error::EngineError;
use crate::run::SourceFile;

/// Longest a file name (with its directories) may be.
const MAX_FILE_NAME_BYTES: usize = 255;

/// Check file names and turn the request's files into sandbox files.
pub(crate) fn prepare_files(
    language: &Language,
    files: &[SourceFile],
) -> Result<Vec<FileEntry>, EngineError> {
    if files.is_empty() {
        return Err(EngineError::InvalidRequest(
            "no program: send `code` or `files`".to_owned(),
        ));
    }
    let mut entries = Vec::with_capacity(files.len());
    for (index, file) in files.iter().enumerate() {
        let name = if index == 0 && file.name.is_empty() {
            language.source_file.clone()
        } else {
            file.name.clone()
        };
        validate_file_name(&name)?;
        if entries.iter().any(|entry: &FileEntry| entry.path == name) {
            return Err(EngineError::InvalidRequest(format!(
                "file `{name}` appears twice"
            )));
        }
        entries.push(FileEntry {
            path: name,
            contents: file.contents.clone(),
            executable: false,
        });
    }
    Ok(entries)
}

fn validate_file_name(name: &str) -> Result<(), EngineError> {
    let invalid = |why: &str| {
        Err(EngineError::InvalidRequest(format!(
            "file name `{}` {why}",
            name.escape_debug()
        )))
    };
    if name.is_empty() {
        return invalid("is empty");
    }
    if name.len() > MAX_FILE_NAME_BYTES {
        return invalid("is too long");
    }
    if name.starts_with('/') {
        return invalid("must be relative");
    }
    if name.contains('\0') || name.contains('\\') {
        return invalid("contains a forbidden character");
    }
    if name
        .split('/')
        .any(|part| part.is_empty() || part == "." || part == "..")
    {
        return invalid("has an empty, `.` or `..` component");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostile_file_names_are_refused() {
        for name in [
            "/etc/passwd",
            "../x",
            "a/../../x",
            "a//b",
            "./a",
            "a\\b",
            "nul\0",
            "",
        ] {
            assert!(validate_file_name(name).is_err(), "{name:?} accepted");
        }
        for name in ["main.py", "src/lib.rs", "a.b/c-d_e.txt", "ünïcode.py"] {
            assert!(validate_file_name(name).is_ok(), "{name:?} refused");
        }
    }
}
