//! Sessions on the fake backend.
