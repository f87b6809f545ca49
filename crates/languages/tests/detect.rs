//! Version detection on a loaded host: a check that ran out of time with every other one
//! running is tried again alone before its language counts as missing.

mod common;

use runnel_languages::Registry;

/// A language whose version command is `script` (run by /bin/sh) with a 1 s timeout.
fn demo(script: &str) -> Registry {
    let text = format!(
        r#"
id = "demo"
name = "Demo"
source_file = "main.demo"
[version]
command = ["/bin/sh", "-c", {script:?}]
timeout_ms = 1000
[run]
argv = ["/bin/cat", "{{main}}"]
"#
    );
    let language =
        Registry::parse_file("demo.toml", &text, &common::host_dirs()).expect("a valid file");
    Registry::from_languages(vec![language]).expect("one language")
}

#[test]
fn a_version_check_that_timed_out_once_is_checked_again() {
    let scratch = tempfile::tempdir().expect("a temporary directory");
    let mark = scratch.path().join("checked-once");
    // The first check never answers (it is killed at its timeout); the second answers at once.
    let script = format!(
        "if [ -e '{mark}' ]; then echo demo 1.2.3; else : > '{mark}'; exec sleep 600; fi",
        mark = mark.display()
    );
    let (registry, missing) = demo(&script).detect_with_reasons(&common::host_dirs());
    assert!(missing.is_empty(), "reported missing: {missing:?}");
    let language = registry.get("demo").expect("demo is available");
    assert_eq!(language.version, "1.2.3");
}

#[test]
fn a_version_check_that_never_answers_is_missing_by_name() {
    let (registry, missing) = demo("exec sleep 600").detect_with_reasons(&common::host_dirs());
    assert!(registry.get("demo").is_none());
    let [(id, reason)] = missing.as_slice() else {
        panic!("expected one missing language, got {missing:?}");
    };
    assert_eq!(id, "demo");
    assert!(reason.contains("timed out after 3s"), "{reason}");
}
