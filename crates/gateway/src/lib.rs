//! runnel-gateway (being written).
