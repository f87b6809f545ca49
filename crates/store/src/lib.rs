//! runnel-store (being written).
