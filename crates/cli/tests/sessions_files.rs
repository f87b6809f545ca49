//! A session's files over HTTP: upload, raw put, list and download; hostile names and links
//! the session plants are refused, and never followed by the host.

mod common;

use common::session::{create_http, http};
use common::Server;
use serde_json::{json, Value};

#[tokio::test]
async fn files_go_in_and_out_and_hostile_names_and_links_are_refused() {
    let server = Server::start(&[]);
    let session = create_http(&server, &server.key, "bash").await;
    let files = server.http_url(&format!("/api/v1/sessions/{session}/files"));
    let upload = |body: Value| {
        http()
            .post(files.clone())
            .bearer_auth(server.key.clone())
            .json(&body)
            .send()
    };
    let response = upload(json!({"files": [
        {"name": "a.txt", "content": "alpha"},
        {"name": "dir/b.bin", "content": "AAEC", "encoding": "base64"}
    ]}))
    .await
    .expect("upload");
    assert_eq!(response.status(), 204);
    let put = http()
        .put(format!("{files}/raw/c.txt"))
        .bearer_auth(&server.key)
        .body("raw body")
        .send()
        .await
        .expect("put");
    assert_eq!(put.status(), 204);
    let listed: Value = http()
        .get(&files)
        .bearer_auth(&server.key)
        .send()
        .await
        .expect("list")
        .json()
        .await
        .expect("json");
    let mut names: Vec<&str> = listed["files"]
        .as_array()
        .expect("files")
        .iter()
        .map(|file| file["name"].as_str().expect("name"))
        .collect();
    names.sort_unstable();
    assert_eq!(names, ["a.txt", "dir/b.bin", "raw/c.txt"]);
    let get = |path: &str| {
        http()
            .get(format!("{files}/{path}"))
            .bearer_auth(server.key.clone())
            .send()
    };
    let body = get("dir/b.bin")
        .await
        .expect("get")
        .bytes()
        .await
        .expect("bytes");
    assert_eq!(body.as_ref(), [0, 1, 2]);
    for name in ["../x", "/etc/passwd", "a\u{0}b", "a/../../x", ""] {
        let response = upload(json!({"files": [{"name": name, "content": "x"}]}))
            .await
            .expect("upload");
        assert_eq!(response.status(), 400, "{name:?} accepted");
    }
    let response = get("a%00b").await.expect("get");
    assert_eq!(response.status(), 400);

    // A link planted by the session to a host-only file: never followed by the host.
    let secret = server.data_dir.path().join("host-secret.txt");
    std::fs::write(&secret, "host-only secret").expect("write secret");
    let code = format!(
        "ln -s {} leak && ln -s /etc/passwd pw && ln -s /work/a.txt same && echo linked",
        secret.display()
    );
    let result: Value = http()
        .post(server.http_url(&format!("/api/v1/sessions/{session}/execute")))
        .bearer_auth(&server.key)
        .json(&json!({"code": code}))
        .send()
        .await
        .expect("execute")
        .json()
        .await
        .expect("json");
    assert_eq!(result["stdout"], "linked\n", "{result}");
    for link in ["leak", "pw", "same"] {
        let response = get(link).await.expect("get");
        let status = response.status();
        let body = response.text().await.expect("text");
        assert!(
            !body.contains("host-only secret") && !body.contains("root:"),
            "{link}: {body}"
        );
        assert_eq!(status, 404, "{link}: {body}");
    }
    let response = upload(json!({"files": [{"name": "leak", "content": "overwrite"}]}))
        .await
        .expect("upload");
    assert_ne!(
        response.status(),
        204,
        "a write through a planted link must fail"
    );
    assert_eq!(
        std::fs::read_to_string(&secret).expect("secret"),
        "host-only secret"
    );
}
