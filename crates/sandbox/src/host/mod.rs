//! The server side of the sandbox layer: async handles over the spawner's socket and each
//! sandbox's agent socket. Nothing here forks or mounts.

pub(crate) mod conn;
pub(crate) mod files;
pub(crate) mod instance;
pub(crate) mod process;
pub(crate) mod pty;
pub(crate) mod sandbox;
pub(crate) mod spawner;
pub(crate) mod tree;
