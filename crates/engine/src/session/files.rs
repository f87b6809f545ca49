//! Files of a session: upload, list and download under `/work`, through the sandbox crate's
//! symlink-proof transfer (`openat2` beneath `/work`, no symlink ever followed by the host).

use runnel_sandbox::FileEntry;

use super::{closed, SessionHandle};
use crate::error::EngineError;
use crate::run::SourceFile;

/// One file of a session's work directory.
#[derive(Debug, Clone, PartialEq, Eq)]
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

    /// Every regular file under `/work` (symlinks and special files are not listed).
    pub async fn list_files(&self) -> Result<Vec<FileInfo>, EngineError> {
        Ok(self
            .read_tree()
            .await?
            .into_iter()
            .map(|entry| FileInfo {
                size: entry.contents.len() as u64,
                path: entry.path,
                executable: entry.executable,
            })
            .collect())
    }

    /// The contents of one regular file; `None` if there is none by that name (a symlink is
    /// never followed, so it reads as absent).
    pub async fn download(&self, path: &str) -> Result<Option<Vec<u8>>, EngineError> {
        Ok(self
            .read_tree()
            .await?
            .into_iter()
            .find(|entry| entry.path == path)
            .map(|entry| entry.contents))
    }

    async fn read_tree(&self) -> Result<Vec<FileEntry>, EngineError> {
        self.touch();
        let max_bytes = self.session.engine.config.work_bytes;
        let sandbox = self.session.sandbox.read().await;
        Ok(sandbox
            .as_ref()
            .ok_or_else(closed)?
            .read_tree(max_bytes)
            .await?)
    }
}
