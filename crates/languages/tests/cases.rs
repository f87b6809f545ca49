//! The loader of `languages/<id>/cases.toml`: the repository's folders load, and a folder
//! whose cases are missing or malformed is an error naming the file.

// Test helpers panic on setup failures; that is the test failing.
#![allow(clippy::unwrap_used)]

use runnel_languages::cases;

const VALID: &str = r#"
[conformance]
compiled = false
hello = "hello"
greet = "greet"
unicode = "unicode"
memory = "memory"
[conformance.broken]
code = "broken"
marker = "marker"
[conformance.crash]
code = "crash"
signal = "SIGSEGV"
[conformance.skip]
split = "no stderr"
"#;

fn folder_with(text: Option<&str>) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("demo")).unwrap();
    if let Some(text) = text {
        std::fs::write(dir.path().join("demo/cases.toml"), text).unwrap();
    }
    std::fs::write(dir.path().join("demo/example.demo"), "hello").unwrap();
    dir
}

fn error_of(text: Option<&str>) -> String {
    let dir = folder_with(text);
    let message = cases::load(dir.path()).unwrap_err().to_string();
    assert!(
        message.contains("demo/cases.toml"),
        "the file is named: {message}"
    );
    message
}

#[test]
fn the_repository_folders_all_have_valid_cases() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../languages");
    let all = cases::load(&dir).unwrap_or_else(|error| panic!("{error}"));
    assert!(all.len() >= 40, "only {} folders", all.len());
    assert!(all
        .iter()
        .any(|case| case.id == "python" && case.repl.is_some()));
}

#[test]
fn a_valid_file_loads_with_its_defaults() {
    let dir = folder_with(Some(VALID));
    let all = cases::load(dir.path()).unwrap();
    assert_eq!(all.len(), 1);
    assert_eq!(all[0].id, "demo");
    assert_eq!(all[0].conformance.feed, "");
    assert_eq!(all[0].conformance.skip["split"], "no stderr");
    assert!(all[0].repl.is_none());
    assert_eq!(all[0].example.code, "hello");
}

#[test]
fn a_folder_needs_exactly_one_example() {
    let dir = folder_with(Some(VALID));
    std::fs::write(dir.path().join("demo/example.other"), "").unwrap();
    let message = cases::load(dir.path()).unwrap_err().to_string();
    assert!(
        message.contains("demo") && message.contains("example"),
        "{message}"
    );
    let dir = folder_with(Some(VALID));
    std::fs::remove_file(dir.path().join("demo/example.demo")).unwrap();
    let message = cases::load(dir.path()).unwrap_err().to_string();
    assert!(
        message.contains("demo") && message.contains("example"),
        "{message}"
    );
}

#[test]
fn missing_or_malformed_cases_name_the_file() {
    error_of(None);
    error_of(Some("[conformance"));
    assert!(error_of(Some(&VALID.replace("hello = ", "helo = "))).contains("helo"));
    assert!(error_of(Some(&VALID.replace("memory = \"memory\"\n", ""))).contains("memory"));
    assert!(error_of(Some(&format!("{VALID}memory = \"x\"\n"))).contains("memory"));
    let both = VALID.replace(
        "signal = \"SIGSEGV\"",
        "signal = \"SIGSEGV\"\nstderr = \"x\"",
    );
    assert!(error_of(Some(&both)).contains("crash"));
    let given_and_skipped = VALID.replace("hello = \"hello\"", "hello = \"hello\"\nsplit = \"x\"");
    assert!(error_of(Some(&given_and_skipped)).contains("split"));
}
