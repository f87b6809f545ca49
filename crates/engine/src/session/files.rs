//! Files of a session: upload, list and download under `/work`, through the sandbox crate's
//! symlink-proof transfer (`openat2` beneath `/work`, no symlink ever followed by the host).

use super::{closed, SessionHandle};
use crate::error::EngineError;
use crate::run::SourceFile;

/// The files of a session's work directory, as far as a listing goes.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct FileListing {
    /// The files.
    pub files: Vec<FileInfo>,
    /// There were more than a listing returns.
    pub truncated: bool,
}

/// One file of a session's work directory.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct FileInfo {
    /// Path relative to `/work`.
    pub path: String,
    /// Size in bytes.
    pub size: u64,
    /// Whether the executable bit is set.
    pub executable: bool,
}

impl SessionHandle {
    /// Write files under `/work` (names validated: relative, no `..`, no NUL; a symlink on the
    /// path makes the write fail).
    pub async fn upload(&self, files: &[SourceFile]) -> Result<(), EngineError> {
        self.touch();
        if files.is_empty() {
            return Err(EngineError::InvalidRequest("no files to upload".to_owned()));
        }
        let entries = crate::executor::prepare_files(&self.session.language, files)?;
        let sandbox = self.session.sandbox.read().await;
        match sandbox
            .as_ref()
            .ok_or_else(closed)?
            .write_files(&entries)
            .await
        {
            Ok(()) => Ok(()),
            // The session's own doing (a symlink or a directory in the way, a full disk): the
            // caller's to fix, not an engine fault.
            Err(runnel_sandbox::SandboxError::WriteFile { path, source, .. }) => Err(
                EngineError::InvalidRequest(format!("cannot write `{path}`: {source}")),
            ),
            Err(error) => Err(error.into()),
        }
    }

    /// The regular files under `/work`, stat'ed only (symlinks and special files are not
    /// listed), at most 10,000: `truncated` says there were more.
    pub async fn list_files(&self) -> Result<FileListing, EngineError> {
        self.touch();
        let sandbox = self.session.sandbox.read().await;
        let listing = sandbox.as_ref().ok_or_else(closed)?.list_tree().await?;
        Ok(FileListing {
            files: listing
                .files
                .into_iter()
                .map(|file| FileInfo {
                    path: file.path,
                    size: file.size,
                    executable: file.executable,
                })
                .collect(),
            truncated: listing.truncated,
        })
    }

    /// One regular file, opened for streaming, with its size when opened; `None` if there is
    /// none by that name (a symlink on the path is never followed, so it reads as absent).
    pub async fn download(
        &self,
        path: &str,
    ) -> Result<Option<(tokio::fs::File, u64)>, EngineError> {
        self.touch();
        let sandbox = self.session.sandbox.read().await;
        let opened = sandbox.as_ref().ok_or_else(closed)?.open_file(path).await;
        match opened {
            Ok(file) => Ok(file.map(|(file, size)| (tokio::fs::File::from_std(file), size))),
            Err(runnel_sandbox::SandboxError::InvalidPath { path, reason, .. }) => Err(
                EngineError::InvalidRequest(format!("file path `{path}`: {reason}")),
            ),
            Err(error) => Err(error.into()),
        }
    }
}
