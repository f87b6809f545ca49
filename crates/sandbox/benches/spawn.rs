//! Spawn benchmark (written next).
fn main() {}
