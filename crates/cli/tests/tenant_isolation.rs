//! Tenants (keys) cannot reach each other through the server around the sandbox: the compile
//! cache serves only the key whose fresh-sandbox compile filled it, keeps only the language's
//! declared artifacts, bounded in size, and a session's compiles (among its files and
//! processes) are never cached. Each case runs against the real server and sandbox.
#![allow(clippy::disallowed_methods, missing_docs)]

mod common;

use common::Server;
use serde_json::{json, Value};

async fn execute(server: &Server, key: &str, body: Value) -> Value {
    common::execute_http(server, key, body).await
}

async fn session_execute(server: &Server, key: &str, session: &str, code: &str) -> Value {
    common::session_execute_http(server, key, session, code).await
}

/// A C program unique to this test process and `tag`, so no other test compiled it before.
fn unique(tag: &str, body: &str) -> String {
    format!(
        "#include <stdio.h>\n#include <dirent.h>\n#include <string.h>\n/* {tag} {} */\n{body}",
        std::process::id()
    )
}

#[tokio::test]
async fn the_compile_cache_serves_only_the_key_that_filled_it() {
    let server = Server::start(&[]);
    let other = server.create_key(&[]);
    let code = unique(
        "per-key",
        "int main(void) { puts(\"compiled once\"); return 0; }",
    );
    let run = json!({"language": "c", "code": code});
    let first = execute(&server, &server.key, run.clone()).await;
    assert_eq!(
        (&first["status"], &first["cached"]),
        (&json!("ok"), &json!(false)),
        "{first}"
    );
    let again = execute(&server, &server.key, run.clone()).await;
    assert_eq!(
        again["cached"], true,
        "the same key reuses its compile: {again}"
    );
    // Another key learns nothing, not even that the source was compiled before.
    let stranger = execute(&server, &other, run.clone()).await;
    assert_eq!(
        (
            &stranger["status"],
            &stranger["cached"],
            &stranger["stdout"]
        ),
        (&json!("ok"), &json!(false), &json!("compiled once\n")),
        "{stranger}"
    );
}

#[tokio::test]
async fn a_session_compile_is_never_cached() {
    let server = Server::start(&[]);
    let victim = server.create_key(&[]);
    let session = common::create_session_http(&server, &server.key, "c").await;
    let upload = reqwest::Client::new()
        .post(server.http_url(&format!("/api/v1/sessions/{session}/files")))
        .bearer_auth(&server.key)
        .json(&json!({"files": [{"name": "planted.txt", "content": "from the session"}]}))
        .send()
        .await
        .expect("upload");
    assert_eq!(upload.status(), 204);
    // The program reports whether a file other than its own is in its work dir.
    let code = unique(
        "session",
        "int main(void) {\n  FILE *f = fopen(\"planted.txt\", \"r\");\n  char line[64] = {0};\n  \
         if (f) { fgets(line, sizeof line, f); printf(\"planted: %s\\n\", line); }\n  \
         else puts(\"clean\");\n  return 0;\n}",
    );
    let in_session = session_execute(&server, &server.key, &session, &code).await;
    assert_eq!(
        in_session["stdout"], "planted: from the session\n",
        "{in_session}"
    );
    let run = json!({"language": "c", "code": code});
    // Neither the session's own key nor another key gets what the session's compile left.
    for key in [&server.key, &victim] {
        let result = execute(&server, key, run.clone()).await;
        assert_eq!(
            (&result["status"], &result["cached"], &result["stdout"]),
            (&json!("ok"), &json!(false), &json!("clean\n")),
            "{result}"
        );
    }
}

#[tokio::test]
async fn only_the_declared_artifacts_are_cached() {
    let server = Server::start(&[]);
    // -save-temps leaves the preprocessed source, the assembly and the object file in the work
    // dir; the program lists the work dir, sorted.
    let code = unique(
        "artifacts",
        "#include <stdlib.h>\nstatic int by_name(const void *a, const void *b) {\n  \
         return strcmp(*(char *const *)a, *(char *const *)b);\n}\n\
         int main(void) {\n  char *names[64]; int count = 0;\n  DIR *dir = opendir(\".\");\n  \
         struct dirent *entry;\n  while ((entry = readdir(dir)) && count < 64)\n    \
         if (entry->d_name[0] != '.') names[count++] = strdup(entry->d_name);\n  \
         qsort(names, count, sizeof names[0], by_name);\n  \
         for (int i = 0; i < count; i++) printf(\"%s \", names[i]);\n  puts(\"\");\n  return 0;\n}",
    );
    let run = json!({"language": "c", "code": code, "compiler_args": ["-save-temps"]});
    let first = execute(&server, &server.key, run.clone()).await;
    assert_eq!(
        (&first["status"], &first["cached"]),
        (&json!("ok"), &json!(false)),
        "{first}"
    );
    let listed = first["stdout"].as_str().expect("stdout");
    assert!(
        listed.split_whitespace().count() > 2,
        "-save-temps left no temporaries to leave out: {listed:?}"
    );
    let cached = execute(&server, &server.key, run).await;
    assert_eq!(
        (&cached["status"], &cached["cached"], &cached["stdout"]),
        (&json!("ok"), &json!(true), &json!("main main.c \n")),
        "{cached}"
    );
}

#[tokio::test]
async fn a_compile_that_leaves_too_much_is_not_cached() {
    let server = Server::start(&[]);
    // A 40 MiB initialised array with external linkage makes a 40 MiB binary, over the 32 MiB an entry may hold.
    let code = unique(
        "oversized",
        "char big[40 << 20] = {7};\nint main(void) { printf(\"%d\\n\", big[0]); return 0; }",
    );
    let run = json!({"language": "c", "code": code});
    for attempt in 0..2 {
        let result = execute(&server, &server.key, run.clone()).await;
        assert_eq!(
            (&result["status"], &result["cached"], &result["stdout"]),
            (&json!("ok"), &json!(false), &json!("7\n")),
            "attempt {attempt}: {result}"
        );
    }
    let cache = server.data_dir.path().join("cache");
    let mut stored = 0;
    for partition in std::fs::read_dir(&cache).expect("cache dir") {
        for entry in std::fs::read_dir(partition.expect("partition").path()).expect("partition") {
            stored += entry.expect("entry").metadata().expect("metadata").len();
        }
    }
    assert!(stored < 1 << 20, "{stored} bytes cached");
}
