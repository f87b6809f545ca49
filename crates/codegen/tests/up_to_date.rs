//! The committed generated files are what the protocol's types make now.

#[test]
fn generated_files_are_up_to_date() {
    let root = runnel_codegen::workspace_root();
    let stale = runnel_codegen::stale(&root).expect("generate");
    assert!(
        stale.is_empty(),
        "stale generated files: {stale:?}; run `cargo run -p runnel-codegen` and commit them"
    );
}
