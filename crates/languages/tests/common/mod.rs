//! What the test files share: the host's directories, read as the cli's `Config` reads them.

use runnel_languages::HostDirs;

/// This user's home (`~` in language files: the rustup toolchain) and temporary directory.
// The tests stand in for the cli's Config, the one other place these may be read.
#[allow(clippy::disallowed_methods)]
pub(crate) fn host_dirs() -> HostDirs {
    HostDirs {
        home: std::env::home_dir(),
        scratch: std::env::temp_dir(),
    }
}
