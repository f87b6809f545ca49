//! The fake session driver, `/fake/repl`.

use crate::backend::fake::FakeBackend;

/// Registers `/fake/repl` on `backend`.
pub(crate) fn install(_backend: &FakeBackend) {}
