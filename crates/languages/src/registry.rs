//! The set of languages.
/// All languages.
#[derive(Debug, Clone, Default)]
pub struct Registry;
