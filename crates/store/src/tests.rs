//! Tests on a real SQLite file in a temporary directory.

use super::*;

fn open_temp() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path()).expect("open store");
    (dir, store)
}

fn run(key_id: &str, cpu_ms: f64) -> RunRecord {
    RunRecord {
        key_id: key_id.to_owned(),
        run_id: "run-1".to_owned(),
        language: "python".to_owned(),
        status: "ok".to_owned(),
        wall_ms: 9.5,
        cpu_ms,
        memory_bytes: 8 << 20,
        finished_at: unix_now(),
    }
}

#[test]
fn create_authenticate_revoke() {
    let (_dir, store) = open_temp();
    let (record, plaintext) = store
        .create_key("ci", KeyScope::Tenant, KeyQuota::default())
        .expect("create");
    assert!(plaintext.starts_with("rk_"));
    assert_eq!(plaintext.len(), 51);
    assert!(plaintext[3..].chars().all(|c| c.is_ascii_hexdigit()));
    assert_eq!(record.prefix, plaintext[..10]);
    assert!(!record.revoked);

    let found = store.authenticate(&plaintext).expect("authenticate");
    assert_eq!(found.as_ref(), Some(&record));
    let wrong = format!("rk_{}", "0".repeat(48));
    assert_eq!(store.authenticate(&wrong).expect("wrong key"), None);
    assert_eq!(store.authenticate("").expect("empty key"), None);
    assert_eq!(store.active_key_count().expect("count"), 1);

    assert!(store.revoke_key(&record.id).expect("revoke"));
    assert_eq!(store.authenticate(&plaintext).expect("revoked"), None);
    assert!(!store.revoke_key(&record.id).expect("revoke twice"));
    assert_eq!(store.active_key_count().expect("count"), 0);
    let listed = store.list_keys().expect("list");
    assert_eq!(listed.len(), 1);
    assert!(listed[0].revoked);
}

#[test]
fn plaintext_is_never_stored() {
    let (dir, store) = open_temp();
    let (_record, plaintext) = store
        .create_key("secret", KeyScope::Tenant, KeyQuota::default())
        .expect("create");
    store.flush();
    let mut checked = 0;
    for entry in std::fs::read_dir(dir.path()).expect("read dir") {
        let path = entry.expect("entry").path();
        let bytes = std::fs::read(&path).expect("read db file");
        // Everything after the display prefix must be absent, as text and as raw bytes.
        let secret = &plaintext.as_bytes()[10..];
        assert!(
            !bytes.windows(secret.len()).any(|window| window == secret),
            "{} holds the key",
            path.display()
        );
        checked += 1;
    }
    assert!(checked >= 1);
}

#[test]
fn second_store_sees_revoke() {
    let (dir, server) = open_temp();
    let (record, plaintext) = server
        .create_key("shared", KeyScope::Tenant, KeyQuota::default())
        .expect("create");
    assert!(server.authenticate(&plaintext).expect("auth").is_some());
    let cli = Store::open(dir.path()).expect("second open");
    assert!(cli
        .authenticate(&plaintext)
        .expect("auth from cli")
        .is_some());
    assert!(cli
        .revoke_key(&record.prefix)
        .expect("revoke by display prefix"));
    assert_eq!(
        server.authenticate(&plaintext).expect("auth after revoke"),
        None
    );
}

#[test]
fn prefixes_revoke_one_key_or_report_ambiguity() {
    let (_dir, store) = open_temp();
    let (first, first_plaintext) = store
        .create_key("a", KeyScope::Tenant, KeyQuota::default())
        .expect("create a");
    let (second, _) = store
        .create_key("b", KeyScope::Tenant, KeyQuota::default())
        .expect("create b");

    for ambiguous in ["rk_", "key_", "k"] {
        match store.revoke_key(ambiguous) {
            Err(StoreError::AmbiguousPrefix { matches, .. }) => assert_eq!(matches.len(), 2),
            other => panic!("{ambiguous}: expected ambiguity, got {other:?}"),
        }
    }
    assert!(matches!(
        store.revoke_key("  "),
        Err(StoreError::EmptyIdentifier)
    ));
    assert!(!store.revoke_key("nothing-like-this").expect("no match"));

    // A prefix of the id long enough to tell the keys apart.
    let unique = (5..=first.id.len())
        .map(|length| &first.id[..length])
        .find(|prefix| !second.id.starts_with(prefix))
        .expect("ids differ");
    assert!(store.revoke_key(unique).expect("revoke by id prefix"));
    assert_eq!(store.authenticate(&first_plaintext).expect("auth"), None);
    // Only one active key is left, so "rk_" is now unambiguous.
    assert!(store.revoke_key("rk_").expect("last key"));
    assert_eq!(store.active_key_count().expect("count"), 0);
}

#[test]
fn whole_plaintext_revokes_its_key() {
    let (_dir, store) = open_temp();
    let (_record, plaintext) = store
        .create_key("a", KeyScope::Tenant, KeyQuota::default())
        .expect("create");
    store
        .create_key("b", KeyScope::Tenant, KeyQuota::default())
        .expect("create");
    assert!(store.revoke_key(&plaintext).expect("revoke by plaintext"));
    assert_eq!(store.active_key_count().expect("count"), 1);
}

#[test]
fn record_run_flush_usage() {
    let (_dir, store) = open_temp();
    assert_eq!(store.usage("key_x").expect("usage"), KeyUsage::default());
    for _ in 0..10 {
        store.record_run(run("key_x", 1.5));
    }
    store.record_run(run("key_y", 100.0));
    store.flush();
    let usage = store.usage("key_x").expect("usage");
    assert_eq!(usage.runs, 10);
    assert!((usage.cpu_ms - 15.0).abs() < 1e-9);
    assert_eq!(store.usage("key_y").expect("usage").runs, 1);
}

#[test]
fn dropping_the_store_writes_queued_runs() {
    let dir = tempfile::tempdir().expect("tempdir");
    {
        let store = Store::open(dir.path()).expect("open");
        let clone = store.clone();
        for _ in 0..100 {
            clone.record_run(run("key_z", 1.0));
        }
    }
    let store = Store::open(dir.path()).expect("reopen");
    assert_eq!(store.usage("key_z").expect("usage").runs, 100);
}

#[test]
fn reopening_keeps_keys_and_quotas() {
    let dir = tempfile::tempdir().expect("tempdir");
    let quota = KeyQuota {
        max_concurrency: 3,
        rate_per_minute: 7,
        max_wall_ms: 1_000,
        max_cpu_ms: 500,
        max_memory_mb: 64,
        max_pids: 8,
        max_output_bytes: u64::from(u32::MAX) + 1,
        max_sessions: 2,
        max_connections: 9,
        cpu_ms_per_minute: 30_000,
        max_total_memory_mb: 2048,
    };
    let (record, plaintext) = {
        let store = Store::open(dir.path()).expect("open");
        store
            .create_key("judge", KeyScope::Operator, quota)
            .expect("create")
    };
    let store = Store::open(dir.path()).expect("reopen");
    let found = store
        .authenticate(&plaintext)
        .expect("auth")
        .expect("key kept");
    assert_eq!(found, record);
    assert_eq!(found.quota, quota);
    assert_eq!(store.list_keys().expect("list"), vec![record]);
}

#[test]
fn keys_made_before_scopes_become_tenants_with_the_default_connection_maximum() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join(DATABASE_FILE);
    {
        let connection = schema::open_connection(&path).expect("connection");
        connection
            .execute_batch(schema::MIGRATIONS[0].1)
            .expect("schema 1");
        connection
            .execute_batch(
                "CREATE TABLE schema_version (version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL);
                 INSERT INTO schema_version VALUES (1, 0);
                 INSERT INTO api_keys VALUES ('key_old', 'old', 'rk_0000000', 'hash', 0, NULL,
                     1, 2, 3, 4, 5, 6, 7, 8);",
            )
            .expect("a key of schema 1");
    }
    let store = Store::open(dir.path()).expect("open migrates");
    let keys = store.list_keys().expect("list");
    assert_eq!(keys.len(), 1);
    assert_eq!(keys[0].scope, KeyScope::Tenant);
    assert_eq!(keys[0].quota.max_connections, keys::DEFAULT_MAX_CONNECTIONS);
    assert_eq!(keys[0].quota.max_sessions, 8);
}

#[test]
fn migrations_are_idempotent() {
    let dir = tempfile::tempdir().expect("tempdir");
    let _first = Store::open(dir.path()).expect("open");
    let _second = Store::open(dir.path()).expect("open again");
    let path = dir.path().join(DATABASE_FILE);
    let mut connection = schema::open_connection(&path).expect("connection");
    schema::migrate(&mut connection, &path).expect("migrate again");
    let versions: Vec<u32> = connection
        .prepare("SELECT version FROM schema_version ORDER BY version")
        .expect("prepare")
        .query_map([], |row| row.get(0))
        .expect("query")
        .collect::<Result<_, _>>()
        .expect("rows");
    assert_eq!(versions, (1..=schema::SCHEMA_VERSION).collect::<Vec<_>>());
}

#[test]
fn newer_schema_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    drop(Store::open(dir.path()).expect("open"));
    let path = dir.path().join(DATABASE_FILE);
    let connection = schema::open_connection(&path).expect("connection");
    connection
        .execute("INSERT INTO schema_version VALUES (999, 0)", [])
        .expect("insert");
    let error = Store::open(dir.path()).expect_err("newer schema");
    assert!(matches!(error, StoreError::SchemaTooNew { found: 999, .. }));
    assert!(error.to_string().contains("runnel.db"), "{error}");
}

#[test]
fn open_error_names_the_path() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("not-a-dir");
    std::fs::write(&file, b"x").expect("write");
    let error = Store::open(&file.join("data")).expect_err("parent is a file");
    assert!(error.to_string().contains("not-a-dir"), "{error}");
}

#[test]
fn revoked_keys_are_listed_and_a_revoke_elsewhere_changes_the_data_version() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path()).expect("open");
    let (kept, _) = store
        .create_key("kept", KeyScope::Tenant, KeyQuota::default())
        .expect("create");
    let (gone, _) = store
        .create_key("gone", KeyScope::Tenant, KeyQuota::default())
        .expect("create");
    let (before, revoked) = store.revoked_key_ids().expect("revoked ids");
    assert!(revoked.is_empty());
    // Another process: its own connection to the same file.
    let other = Store::open(dir.path()).expect("open again");
    assert!(other.revoke_key(&gone.id).expect("revoke"));
    let (after, revoked) = store.revoked_key_ids().expect("revoked ids");
    assert_eq!(revoked, std::slice::from_ref(&gone.id));
    assert_ne!(
        before, after,
        "another connection's commit changes the data version"
    );
    assert_eq!(store.data_version().expect("version"), after);
    assert!(!revoked.contains(&kept.id));
}
