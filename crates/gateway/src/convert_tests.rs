//! Tests of the wire-to-domain conversion.

use super::*;

struct Catalog;

impl LanguageCatalog for Catalog {
    fn resolve(&self, id_or_alias: &str) -> Option<String> {
        match id_or_alias {
            "python" | "py" => Some("python".to_owned()),
            "c" => Some("c".to_owned()),
            _ => None,
        }
    }

    fn installed(&self) -> Vec<LanguageInfo> {
        [("python", "3.11.2"), ("c", "12.2.0")]
            .into_iter()
            .map(|(id, version)| LanguageInfo {
                id: id.to_owned(),
                name: id.to_owned(),
                version: version.to_owned(),
                aliases: Vec::new(),
                compiled: id == "c",
                repl: false,
                source_file: "main".to_owned(),
            })
            .collect()
    }
}

const QUOTA: KeyQuota = KeyQuota {
    max_concurrency: 4,
    rate_per_minute: 60,
    max_wall_ms: 20_000,
    max_cpu_ms: 5_000,
    max_memory_mb: 512,
    max_pids: 100,
    max_output_bytes: 1 << 20,
    max_sessions: 2,
    max_connections: 8,
    cpu_ms_per_minute: 0,
    max_total_memory_mb: 0,
};

fn execute(json: &str) -> Result<Execute, ApiError> {
    let request: ExecuteRequest = serde_json::from_str(json).expect("test JSON parses");
    execute_from_wire(request, "key-1", &Catalog, Limits::DEFAULT, &QUOTA)
}

#[test]
fn seed_quickstart_converts() {
    let execute = execute(r#"{"language":"py","code":"print('hi')","api_key":"k"}"#)
        .expect("seed request is valid");
    assert!(!execute.stream);
    assert_eq!(execute.run.language, "python");
    assert!(execute.run.id.starts_with("run-"));
    assert!(execute.run.close_stdin);
    assert_eq!(execute.run.files.len(), 1);
    assert_eq!(execute.run.files[0].name, "");
    assert_eq!(execute.run.files[0].contents, b"print('hi')");
    assert_eq!(execute.run.limits.wall, Duration::from_secs(10));
}

#[test]
fn streamed_runs_keep_stdin_open() {
    let execute =
        execute(r#"{"language":"python","code":"","stream":true,"stdin":"a\n","id":"r1"}"#)
            .expect("valid");
    assert!(execute.stream);
    assert!(!execute.run.close_stdin);
    assert_eq!(execute.run.stdin.as_deref(), Some(&b"a\n"[..]));
    assert_eq!(execute.run.id, "r1");
}

#[test]
fn unknown_language_names_it_and_lists_installed() {
    let error = execute(r#"{"language":"cobol","code":"x"}"#).expect_err("unknown");
    assert_eq!(error.code, ErrorCode::UnknownLanguage);
    assert!(error.message.contains("`cobol`"), "{}", error.message);
    assert!(error.message.contains("python, c"), "{}", error.message);
    let error = execute(r#"{"code":"x"}"#).expect_err("missing");
    assert_eq!(error.code, ErrorCode::BadRequest);
    assert!(error.message.contains("language"));
}

#[test]
fn versions_match_by_prefix() {
    assert!(execute(r#"{"language":"python","version":"3.11","code":""}"#).is_ok());
    assert!(execute(r#"{"language":"python","version":"*","code":""}"#).is_ok());
    let error = execute(r#"{"language":"python","version":"3.1","code":""}"#).expect_err("3.1");
    assert_eq!(error.code, ErrorCode::UnknownLanguage);
    assert!(error.message.contains("3.11.2"));
}

#[test]
fn code_or_files_but_not_both() {
    let both = r#"{"language":"c","code":"x","files":[{"name":"a.c","content":""}]}"#;
    assert!(execute(both)
        .expect_err("both")
        .message
        .contains("not both"));
    assert!(execute(r#"{"language":"c"}"#)
        .expect_err("none")
        .message
        .contains("`code`"));
}

#[test]
fn files_decode_each_encoding() {
    let execute = execute(
        r#"{"language":"c","files":[
            {"name":"main.c","content":"int main(){}"},
            {"name":"data/blob.bin","content":"AAEC/w==","encoding":"base64"},
            {"name":"x.hex","content":"00ff","encoding":"HEX"}]}"#,
    )
    .expect("valid files");
    let files = &execute.run.files;
    assert_eq!(files[0].name, "main.c");
    assert_eq!(files[1].contents, vec![0, 1, 2, 255]);
    assert_eq!(files[2].contents, vec![0, 255]);
    let error = decode_content("zz", Some("hex")).expect_err("bad hex");
    assert!(error.contains("invalid hex"));
    let error = decode_content("x", Some("rot13")).expect_err("unknown encoding");
    assert!(error.contains("`rot13`"));
}

#[test]
fn hostile_file_names_are_refused() {
    let long_component = "a".repeat(256);
    let long_name = format!("{}/b", ["a"; 600].join("/"));
    let hostile = [
        "",
        "/etc/passwd",
        "../escape",
        "a/../../escape",
        "a/./b",
        ".",
        "..",
        "a//b",
        "dir/",
        "nul\0byte",
        "new\nline",
        "back\\slash",
        long_component.as_str(),
        long_name.as_str(),
    ];
    for name in hostile {
        assert!(
            validate_file_name(name).is_err(),
            "{name:?} should be refused"
        );
    }
    for name in [
        "main.py",
        "src/lib.rs",
        ".hidden",
        "a..b",
        "名前.txt",
        "with space.c",
    ] {
        assert!(
            validate_file_name(name).is_ok(),
            "{name:?} should be accepted"
        );
    }
    let error =
        execute(r#"{"language":"c","files":[{"name":"../x","content":""}]}"#).expect_err("escape");
    assert!(
        error.message.starts_with("files[0].name"),
        "{}",
        error.message
    );
    let dup = r#"{"language":"c","files":[{"name":"a","content":""},{"name":"a","content":""}]}"#;
    assert!(execute(dup).expect_err("dup").message.contains("duplicate"));
}

#[test]
fn limits_default_then_cap_by_quota() {
    let limits = limits_from_wire(None, None, Limits::DEFAULT, &QUOTA).expect("defaults");
    // The default CPU (10 s) is over the key's 5 s.
    assert_eq!(limits.cpu, Duration::from_millis(5_000));
    assert_eq!(limits.wall, Limits::DEFAULT.wall);
    let spec = LimitsSpec {
        wall_ms: Some(60_000),
        cpu_ms: Some(100),
        memory_mb: Some(4096),
        pids: Some(10),
        output_bytes: Some(u64::MAX),
    };
    let limits = limits_from_wire(Some(spec), Some(1.0), Limits::DEFAULT, &QUOTA).expect("spec");
    assert_eq!(
        limits.wall,
        Duration::from_millis(20_000),
        "wall_ms wins, then capped"
    );
    assert_eq!(limits.cpu, Duration::from_millis(100));
    assert_eq!(limits.memory_bytes, 512 << 20);
    assert_eq!(limits.pids, 10);
    assert_eq!(limits.output_bytes, 1 << 20);
}

#[test]
fn timeout_seconds_is_the_wall_limit() {
    let limits = limits_from_wire(None, Some(2.5), Limits::DEFAULT, &QUOTA).expect("timeout");
    assert_eq!(limits.wall, Duration::from_millis(2_500));
    let limits = limits_from_wire(None, Some(1e300), Limits::DEFAULT, &QUOTA).expect("huge");
    assert_eq!(limits.wall, Duration::from_millis(20_000));
    for bad in [0.0, -1.0, f64::NAN, f64::INFINITY] {
        assert!(limits_from_wire(None, Some(bad), Limits::DEFAULT, &QUOTA).is_err());
    }
    let zero = LimitsSpec {
        pids: Some(0),
        ..LimitsSpec::default()
    };
    let error = limits_from_wire(Some(zero), None, Limits::DEFAULT, &QUOTA).expect_err("zero");
    assert!(error.message.contains("limits.pids"));
}

#[test]
fn zero_quota_means_no_maximum() {
    let open = KeyQuota {
        max_wall_ms: 0,
        max_cpu_ms: 0,
        max_memory_mb: 0,
        max_pids: 0,
        max_output_bytes: 0,
        ..QUOTA
    };
    let spec = LimitsSpec {
        wall_ms: Some(600_000),
        ..LimitsSpec::default()
    };
    let limits = limits_from_wire(Some(spec), None, Limits::DEFAULT, &open).expect("open");
    assert_eq!(limits.wall, Duration::from_secs(600));
}

#[test]
fn output_never_exceeds_the_server_ceiling() {
    let spec = || LimitsSpec {
        output_bytes: Some(512 << 20),
        ..LimitsSpec::default()
    };
    for max_output_bytes in [0, 1 << 30] {
        let quota = KeyQuota {
            max_output_bytes,
            ..QUOTA
        };
        let limits = limits_from_wire(Some(spec()), None, Limits::DEFAULT, &quota).expect("limits");
        assert_eq!(
            limits.output_bytes, OUTPUT_CEILING,
            "key maximum {max_output_bytes}"
        );
    }
}

#[test]
fn ids_are_checked_and_sessions_sent_to_their_route() {
    assert!(execute(r#"{"language":"c","code":"","id":""}"#).is_err());
    assert!(execute(r#"{"language":"c","code":"","id":"a\u0007"}"#).is_err());
    let error = execute(r#"{"language":"c","code":"","session":"s1"}"#).expect_err("session");
    assert!(error.message.contains("/api/v1/sessions/{id}/execute"));
}
