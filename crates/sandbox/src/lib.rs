//! runnel-sandbox (being written).
pub mod spec;
