// Generated from crates/protocol by `cargo run -p runnel-codegen`: do not edit.
// The wire types of protocol v1 (snake_case, as sent); docs/protocol.md has the prose.
export {};
//# sourceMappingURL=protocol.js.map