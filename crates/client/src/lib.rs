//! runnel-client (being written).
