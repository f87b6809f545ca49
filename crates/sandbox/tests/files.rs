//! Files in and out of `/work`, with symlinks planted by sandboxed code.
mod common;

use common::*;
use runnel_sandbox::{FileEntry, SandboxError};

fn file(path: &str, contents: &str) -> FileEntry {
    FileEntry {
        path: path.into(),
        contents: contents.as_bytes().to_vec(),
        executable: false,
    }
}

#[tokio::test]
async fn write_then_read_tree() {
    let spawner = spawner().await;
    let sandbox = spawner.create(&spec()).await.expect("create");
    let mut script = file("bin/run.sh", "#!/bin/sh\necho ran\n");
    script.executable = true;
    sandbox
        .write_files(&[
            file("main.py", "print(1)\n"),
            file("a/b/c.txt", "deep"),
            script,
        ])
        .await
        .expect("write");
    let ran = bash(&sandbox, "cat main.py a/b/c.txt; ./bin/run.sh; stat -c '%u %a' a/b bin/run.sh; echo new > out.txt; mkdir -p d && echo x > d/y").await;
    assert_eq!(
        ran.stdout, "print(1)\ndeepran\n1000 755\n1000 755\n",
        "{}",
        ran.stderr
    );
    let mut tree = sandbox.read_tree(1 << 20).await.expect("read tree");
    tree.sort_by(|a, b| a.path.cmp(&b.path));
    let paths: Vec<&str> = tree.iter().map(|f| f.path.as_str()).collect();
    assert_eq!(
        paths,
        ["a/b/c.txt", "bin/run.sh", "d/y", "main.py", "out.txt"]
    );
    assert!(tree
        .iter()
        .find(|f| f.path == "bin/run.sh")
        .is_some_and(|f| f.executable));
    // Over the budget is an error.
    assert!(matches!(
        sandbox.read_tree(10).await,
        Err(SandboxError::TreeTooLarge { .. })
    ));
    sandbox.destroy().await.expect("destroy");
    spawner.shutdown().await;
}

#[tokio::test]
async fn read_tree_never_follows_symlinks() {
    let spawner = spawner().await;
    let sandbox = spawner.create(&spec()).await.expect("create");
    let ran = bash(&sandbox, "ln -s /etc/passwd /work/x; ln -s / /work/y; ln -s /proc/1/root /work/z; mkfifo /work/fifo; echo real > /work/real").await;
    assert_eq!(ran.outcome.exit_code, Some(0), "{}", ran.stderr);
    let tree = sandbox.read_tree(64 << 20).await.expect("read tree");
    let paths: Vec<&str> = tree.iter().map(|f| f.path.as_str()).collect();
    assert_eq!(paths, ["real"]);
    let host_passwd = std::fs::read_to_string("/etc/passwd").expect("host passwd");
    for entry in &tree {
        let text = String::from_utf8_lossy(&entry.contents);
        assert!(
            !host_passwd
                .lines()
                .any(|l| !l.is_empty() && text.contains(l)),
            "host content leaked"
        );
    }
    sandbox.destroy().await.expect("destroy");
    spawner.shutdown().await;
}

#[tokio::test]
async fn write_files_refuses_planted_symlinks_and_bad_paths() {
    let spawner = spawner().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let target = dir.path().join("victim");
    std::fs::write(&target, "original").expect("plant victim");
    let sandbox = spawner.create(&spec()).await.expect("create");
    let script = format!(
        "ln -s {} /work/pw; ln -s {} /work/dir; ln -s /etc /work/etc; mkfifo /work/fifo",
        target.display(),
        dir.path().display()
    );
    assert_eq!(bash(&sandbox, &script).await.outcome.exit_code, Some(0));
    for path in ["pw", "dir/new", "etc/evil", "fifo"] {
        let result = sandbox.write_files(&[file(path, "pwned")]).await;
        assert!(
            matches!(result, Err(SandboxError::WriteFile { .. })),
            "{path}: {result:?}"
        );
    }
    assert_eq!(
        std::fs::read_to_string(&target).expect("victim"),
        "original"
    );
    assert!(!dir.path().join("new").exists());
    assert!(!std::path::Path::new("/etc/evil").exists());
    for path in ["../x", "/abs", "a/../../x", "", "a//b", "./x"] {
        let result = sandbox.write_files(&[file(path, "x")]).await;
        assert!(
            matches!(result, Err(SandboxError::InvalidPath { .. })),
            "{path:?}: {result:?}"
        );
    }
    sandbox.destroy().await.expect("destroy");
    spawner.shutdown().await;
}

#[tokio::test]
async fn list_tree_stats_without_reading_and_open_file_streams_one_file() {
    let spawner = spawner().await;
    let sandbox = spawner.create(&spec()).await.expect("create");
    // A sparse file over what read_tree accepts below, a symlink, a FIFO and a link
    // through a directory: only regular files are listed or opened.
    let ran = bash(
        &sandbox,
        "truncate -s 60M /work/sparse && mkdir -p /work/d && echo hi > /work/d/f && \
         chmod +x /work/d/f && ln -s /etc /work/etc && ln -s /work/d /work/dl && mkfifo /work/fifo",
    )
    .await;
    assert_eq!(ran.outcome.exit_code, Some(0), "{}", ran.stderr);
    let mut listing = sandbox.list_tree().await.expect("list tree");
    listing.files.sort_by(|a, b| a.path.cmp(&b.path));
    let listed: Vec<(&str, u64, bool)> = listing
        .files
        .iter()
        .map(|f| (f.path.as_str(), f.size, f.executable))
        .collect();
    assert_eq!(listed, [("d/f", 3, true), ("sparse", 60 << 20, false)]);
    assert!(!listing.truncated);
    assert!(matches!(
        sandbox.read_tree(1 << 20).await,
        Err(SandboxError::TreeTooLarge { .. })
    ));

    let (file, size) = sandbox
        .open_file("d/f")
        .await
        .expect("open")
        .expect("d/f is a regular file");
    assert_eq!(size, 3);
    assert_eq!(std::io::read_to_string(file).expect("read"), "hi\n");
    for absent in ["etc/passwd", "dl/f", "fifo", "d", "missing", "d/f/x"] {
        assert!(
            sandbox.open_file(absent).await.expect("open").is_none(),
            "{absent} must read as absent"
        );
    }
    assert!(matches!(
        sandbox.open_file("../etc/passwd").await,
        Err(SandboxError::InvalidPath { .. })
    ));
    sandbox.destroy().await.expect("destroy");
    spawner.shutdown().await;
}

#[tokio::test]
async fn list_tree_stops_at_ten_thousand_files() {
    let spawner = spawner().await;
    let sandbox = spawner.create(&spec()).await.expect("create");
    let ran = bash(
        &sandbox,
        "mkdir /work/many && cd /work/many && seq 1 10005 | xargs touch",
    )
    .await;
    assert_eq!(ran.outcome.exit_code, Some(0), "{}", ran.stderr);
    let listing = sandbox.list_tree().await.expect("list tree");
    assert_eq!(listing.files.len(), 10_000);
    assert!(listing.truncated);
    sandbox.destroy().await.expect("destroy");
    spawner.shutdown().await;
}
