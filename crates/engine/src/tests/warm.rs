//! The fake warm driver, `/fake/warm`.

use crate::backend::fake::FakeBackend;

/// Registers `/fake/warm` on `backend`.
pub(crate) fn install(_backend: &FakeBackend) {}
