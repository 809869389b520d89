//! The store's contract, written once and run against both backends: every case runs on SQLite,
//! and on PostgreSQL when `PULSE_VSPHERE_TEST_POSTGRES_URL` names a server (each case in a
//! database of its own, dropped afterwards). With the variable set, an unreachable server fails
//! the PostgreSQL cases; without it they print a note and pass as skipped.

mod common;

use std::path::PathBuf;

use chrono::{DateTime, Duration, SubsecRound, Utc};
use pulse_vsphere::store::{
    AuditEntry, Cipher, ConnectionRow, Store, StoreError, StoreLocation, TlsSetting,
};
use sqlx::postgres::PgPool;
use sqlx::sqlite::{SqliteConnectOptions, SqlitePool};
use sqlx::{Executor, Row};

/// A migration version far beyond any this binary has: what a newer release would leave behind.
const FUTURE_MIGRATION: i64 = 99_990_101_000_000;

use common::backends::{on_postgres, on_sqlite, TempDir};

/// One `#[tokio::test]` per case and backend: `sqlite::<case>` and `postgres::<case>`.
macro_rules! both_backends {
    ($($case:ident),* $(,)?) => {
        mod sqlite {
            $(#[tokio::test]
            async fn $case() {
                crate::on_sqlite(crate::$case).await
            })*
        }
        mod postgres {
            $(#[tokio::test]
            async fn $case() {
                crate::on_postgres(crate::$case).await
            })*
        }
    };
}

both_backends!(
    crud_round_trip,
    names_are_unique_ignoring_case,
    stale_version_conflicts_and_changes_nothing,
    delete_removes_the_row,
    audit_pages_newest_first,
    reopen_finds_the_same_rows,
    schema_too_new_refuses_and_writes_nothing,
    a_damaged_row_is_reported_alone,
    rows_it_could_not_read_back_are_not_written,
    rotate_key_re_encrypts_everything_in_one_transaction,
    rotate_key_aborts_on_a_foreign_ciphertext_and_changes_nothing,
    proof_records_newest_first_and_only_a_live_pass_counts,
);

// ---------------------------------------------------------------------------------------------
// Helpers

fn now() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(6)
}

fn row(id: &str, name: &str) -> ConnectionRow {
    let at = now();
    ConnectionRow {
        id: id.into(),
        name: name.into(),
        host: format!("{id}.vc.example"),
        port: 443,
        username: "administrator@vsphere.local".into(),
        password: None,
        enabled: true,
        poll_interval_secs: 60,
        tls_mode: TlsSetting::Verify,
        created_at: at,
        updated_at: at,
        version: 1,
    }
}

fn key(byte: u8) -> Cipher {
    Cipher::from_key(&[byte; 32])
}

async fn open(loc: &StoreLocation) -> Store {
    Store::open(loc)
        .await
        .unwrap_or_else(|e| panic!("open {loc}: {e}"))
}

/// Every connection, failing the test on an invalid row.
async fn all(store: &Store) -> Vec<ConnectionRow> {
    store
        .list_connections()
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.unwrap())
        .collect()
}

async fn get(store: &Store, id: &str) -> ConnectionRow {
    store.get_connection(id).await.unwrap().expect("row exists")
}

/// Runs raw SQL on the store's database, outside the store (to damage rows, fake a newer
/// schema, or snapshot what is stored).
async fn raw_exec(loc: &StoreLocation, sql: &str) {
    match loc {
        StoreLocation::Sqlite { .. } => {
            let pool = sqlite_raw(loc).await;
            pool.execute(sql).await.unwrap();
            pool.close().await;
        }
        StoreLocation::Postgres { url } => {
            let pool = PgPool::connect(url).await.unwrap();
            pool.execute(sql).await.unwrap();
            pool.close().await;
        }
    }
}

/// The first column of every row of `sql`, as text.
async fn raw_texts(loc: &StoreLocation, sql: &str) -> Vec<String> {
    match loc {
        StoreLocation::Sqlite { .. } => {
            let pool = sqlite_raw(loc).await;
            let rows = sqlx::query(sql).fetch_all(&pool).await.unwrap();
            pool.close().await;
            rows.iter().map(|r| r.get::<String, _>(0)).collect()
        }
        StoreLocation::Postgres { url } => {
            let pool = PgPool::connect(url).await.unwrap();
            let rows = sqlx::query(sql).fetch_all(&pool).await.unwrap();
            pool.close().await;
            rows.iter().map(|r| r.get::<String, _>(0)).collect()
        }
    }
}

async fn sqlite_raw(loc: &StoreLocation) -> SqlitePool {
    let file = loc.sqlite_file().unwrap();
    SqlitePool::connect_with(SqliteConnectOptions::new().filename(file))
        .await
        .unwrap()
}

fn assert_code<T: std::fmt::Debug>(result: Result<T, StoreError>, code: &str) -> StoreError {
    let e = result.expect_err(code);
    assert_eq!(e.code(), code, "{e}");
    assert!(e.to_string().starts_with(&format!("{code}: ")), "{e}");
    e
}

// ---------------------------------------------------------------------------------------------
// Cases on both backends

async fn crud_round_trip(loc: StoreLocation) {
    let store = open(&loc).await;
    let expected_backend = match loc {
        StoreLocation::Sqlite { .. } => "sqlite",
        StoreLocation::Postgres { .. } => "postgres",
    };
    assert_eq!(store.backend(), expected_backend);
    store.ping().await.unwrap();
    assert!(all(&store).await.is_empty());

    let cipher = key(1);
    let mut a = row("id-a", "beta");
    a.password = Some(cipher.seal("id-a", "pw-a"));
    a.tls_mode = TlsSetting::Pinned("AB:CD:EF".into());
    a.port = 8443;
    a.poll_interval_secs = 3600;
    let mut b = row("id-b", "Alpha");
    b.tls_mode = TlsSetting::CustomCa("-----BEGIN CERTIFICATE-----\nMII\n".into());
    b.enabled = false;
    let mut c = row("id-c", "gamma");
    c.tls_mode = TlsSetting::Insecure;
    for r in [&a, &b, &c] {
        store.insert_connection(r).await.unwrap();
    }

    assert_eq!(get(&store, "id-a").await, a);
    assert_eq!(
        cipher
            .open(
                "id-a",
                get(&store, "id-a").await.password.as_deref().unwrap()
            )
            .unwrap()
            .expose(),
        "pw-a"
    );
    assert_eq!(store.get_connection("nope").await.unwrap(), None);
    // Ordered by name ignoring case.
    assert_eq!(all(&store).await, vec![b.clone(), a.clone(), c.clone()]);

    let mut edited = a.clone();
    edited.name = "Beta 2".into();
    edited.host = "other.vc.example".into();
    edited.port = 443;
    edited.username = "reader@vsphere.local".into();
    edited.password = Some(cipher.seal("id-a", "pw-a2"));
    edited.enabled = false;
    edited.poll_interval_secs = 20;
    edited.tls_mode = TlsSetting::Verify;
    edited.created_at = now() + Duration::days(1);
    edited.updated_at = now() + Duration::seconds(5);
    edited.version = 42; // ignored: the store writes expected + 1
    store.update_connection(&edited, 1).await.unwrap();
    let stored = get(&store, "id-a").await;
    assert_eq!(
        stored,
        ConnectionRow {
            created_at: a.created_at,
            version: 2,
            ..edited.clone()
        }
    );
    store.close().await;
}

async fn names_are_unique_ignoring_case(loc: StoreLocation) {
    let store = open(&loc).await;
    store
        .insert_connection(&row("id-1", "Prod-ÄB"))
        .await
        .unwrap();
    let e = assert_code(
        store.insert_connection(&row("id-2", "prod-äb")).await,
        "store_name_taken",
    );
    assert!(matches!(e, StoreError::NameTaken { .. }));
    assert!(store.get_connection("id-2").await.unwrap().is_none());

    store.insert_connection(&row("id-2", "lab")).await.unwrap();
    let mut rename = row("id-2", "PROD-ÄB");
    rename.host = "changed.example".into();
    assert_code(
        store.update_connection(&rename, 1).await,
        "store_name_taken",
    );
    let kept = get(&store, "id-2").await;
    assert_eq!((kept.name.as_str(), kept.version), ("lab", 1));
    assert_eq!(kept.host, "id-2.vc.example");

    // A connection may change the case of its own name.
    store
        .update_connection(&row("id-1", "PROD-äb"), 1)
        .await
        .unwrap();
    assert_eq!(get(&store, "id-1").await.name, "PROD-äb");

    // The same id twice is a conflict, not a name clash.
    let e = assert_code(
        store.insert_connection(&row("id-1", "unrelated")).await,
        "store_conflict",
    );
    assert!(matches!(e, StoreError::IdTaken { .. }), "{e}");
    store.close().await;
}

async fn stale_version_conflicts_and_changes_nothing(loc: StoreLocation) {
    let store = open(&loc).await;
    let original = row("id-1", "one");
    store.insert_connection(&original).await.unwrap();
    let mut first = original.clone();
    first.host = "first.example".into();
    store.update_connection(&first, 1).await.unwrap();
    let after_first = get(&store, "id-1").await;
    assert_eq!(after_first.version, 2);

    // A second editor who read version 1.
    let mut second = original.clone();
    second.host = "second.example".into();
    second.name = "renamed".into();
    let e = assert_code(store.update_connection(&second, 1).await, "store_conflict");
    assert!(
        matches!(
            e,
            StoreError::Conflict {
                expected: 1,
                found: 2,
                ..
            }
        ),
        "{e:?}"
    );
    assert_code(store.delete_connection("id-1", 1).await, "store_conflict");
    assert_eq!(get(&store, "id-1").await, after_first);

    assert_code(
        store.update_connection(&row("missing", "m"), 1).await,
        "store_not_found",
    );
    assert_code(
        store.delete_connection("missing", 1).await,
        "store_not_found",
    );
    assert_eq!(all(&store).await, vec![after_first]);
    store.close().await;
}

async fn delete_removes_the_row(loc: StoreLocation) {
    let store = open(&loc).await;
    store.insert_connection(&row("id-1", "one")).await.unwrap();
    store.insert_connection(&row("id-2", "two")).await.unwrap();
    store
        .update_connection(&row("id-2", "two"), 1)
        .await
        .unwrap();
    store.delete_connection("id-2", 2).await.unwrap();
    assert!(store.get_connection("id-2").await.unwrap().is_none());
    assert_eq!(all(&store).await.len(), 1);
    assert_code(store.delete_connection("id-2", 2).await, "store_not_found");
    // The name is free again.
    store.insert_connection(&row("id-3", "TWO")).await.unwrap();
    store.close().await;
}

async fn audit_pages_newest_first(loc: StoreLocation) {
    let store = open(&loc).await;
    assert!(store.audit_page(10, None).await.unwrap().is_empty());
    let mut seqs = Vec::new();
    for i in 0..7 {
        let entry = AuditEntry {
            at: now() + Duration::seconds(i),
            actor: format!("token:ops-{i}"),
            action: "update_connection".into(),
            connection_id: (i % 2 == 0).then(|| format!("id-{i}")),
            fields: (0..i).map(|f| format!("field{f}")).collect(),
        };
        seqs.push((store.append_audit(&entry).await.unwrap(), entry));
    }
    assert!(seqs.windows(2).all(|w| w[0].0 < w[1].0), "seq grows");

    let mut pages = Vec::new();
    let mut before = None;
    loop {
        let page = store.audit_page(3, before).await.unwrap();
        if page.is_empty() {
            break;
        }
        before = Some(page.last().unwrap().seq);
        pages.push(page);
    }
    assert_eq!(
        pages.iter().map(Vec::len).collect::<Vec<_>>(),
        vec![3, 3, 1]
    );
    let read: Vec<_> = pages.into_iter().flatten().collect();
    for (record, (seq, entry)) in read.iter().zip(seqs.iter().rev()) {
        assert_eq!(record.seq, *seq);
        assert_eq!(record.at, entry.at);
        assert_eq!(record.actor, entry.actor);
        assert_eq!(record.action, entry.action);
        assert_eq!(record.connection_id, entry.connection_id);
        assert_eq!(record.fields, entry.fields);
    }
    assert_eq!(store.audit_page(0, None).await.unwrap().len(), 0);
    store.close().await;
}

async fn reopen_finds_the_same_rows(loc: StoreLocation) {
    let store = open(&loc).await;
    let mut a = row("id-1", "one");
    a.password = Some(key(1).seal("id-1", "pw"));
    store.insert_connection(&a).await.unwrap();
    let seq = store
        .append_audit(&AuditEntry {
            at: now(),
            actor: "local".into(),
            action: "create_connection".into(),
            connection_id: Some("id-1".into()),
            fields: vec!["name".into()],
        })
        .await
        .unwrap();
    store.close().await;

    // Migrations already applied are skipped on the second open.
    let again = open(&loc).await;
    assert_eq!(all(&again).await, vec![a]);
    assert_eq!(again.audit_page(10, None).await.unwrap()[0].seq, seq);
    again.close().await;
}

async fn schema_too_new_refuses_and_writes_nothing(loc: StoreLocation) {
    let store = open(&loc).await;
    store.insert_connection(&row("id-1", "one")).await.unwrap();
    store.close().await;
    raw_exec(
        &loc,
        &format!(
            "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
             VALUES ({FUTURE_MIGRATION}, 'incidents (a newer release)', TRUE, \
             {}, 1)",
            match loc {
                StoreLocation::Sqlite { .. } => "X'00'",
                StoreLocation::Postgres { .. } => "'\\x00'::bytea",
            }
        ),
    )
    .await;

    let snapshot = || async {
        let mut all = raw_texts(
            &loc,
            "SELECT CAST(version AS TEXT) || ':' || description FROM _sqlx_migrations ORDER BY version",
        )
        .await;
        all.extend(
            raw_texts(
                &loc,
                "SELECT id || ':' || CAST(version AS TEXT) || ':' || host FROM connections ORDER BY id",
            )
            .await,
        );
        all
    };
    let file_bytes = || loc.sqlite_file().map(|f| std::fs::read(f).unwrap());
    let before = snapshot().await;
    let bytes_before = file_bytes();

    let e = assert_code(Store::open(&loc).await, "store_schema_too_new");
    match e {
        StoreError::SchemaTooNew { found, known } => {
            assert_eq!(found, FUTURE_MIGRATION);
            assert!(known < found);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(snapshot().await, before);
    assert_eq!(
        file_bytes(),
        bytes_before,
        "the SQLite file is byte-identical"
    );
}

async fn a_damaged_row_is_reported_alone(loc: StoreLocation) {
    let store = open(&loc).await;
    for (id, name) in [("id-a", "a"), ("id-b", "b"), ("id-c", "c"), ("id-d", "d")] {
        store.insert_connection(&row(id, name)).await.unwrap();
    }
    raw_exec(
        &loc,
        "UPDATE connections SET tls_mode = 'bogus' WHERE id = 'id-b'",
    )
    .await;
    raw_exec(
        &loc,
        "UPDATE connections SET port = 70000 WHERE id = 'id-c'",
    )
    .await;
    raw_exec(
        &loc,
        "UPDATE connections SET tls_mode = 'pinned', tls_value = NULL WHERE id = 'id-d'",
    )
    .await;

    let listed = store.list_connections().await.unwrap();
    assert_eq!(listed.len(), 4);
    assert_eq!(listed[0].as_ref().unwrap().id, "id-a");
    for (result, id, reason) in [
        (&listed[1], "id-b", "bogus"),
        (&listed[2], "id-c", "70000"),
        (&listed[3], "id-d", "pinned"),
    ] {
        match result {
            Err(StoreError::RowInvalid {
                id: got,
                reason: why,
            }) => {
                assert_eq!(got, id);
                assert!(why.contains(reason), "{why}");
            }
            other => panic!("{id}: {other:?}"),
        }
    }
    assert_code(store.get_connection("id-b").await, "store_row_invalid");
    // The healthy row keeps working, and a damaged one can still be deleted by version.
    store
        .update_connection(&row("id-a", "a2"), 1)
        .await
        .unwrap();
    store.delete_connection("id-b", 1).await.unwrap();
    assert_eq!(store.list_connections().await.unwrap().len(), 3);
    store.close().await;
}

async fn rows_it_could_not_read_back_are_not_written(loc: StoreLocation) {
    let store = open(&loc).await;
    let mut zero_port = row("id-1", "one");
    zero_port.port = 0;
    assert_code(
        store.insert_connection(&zero_port).await,
        "store_row_invalid",
    );
    let mut empty_pin = row("id-1", "one");
    empty_pin.tls_mode = TlsSetting::Pinned(String::new());
    assert_code(
        store.insert_connection(&empty_pin).await,
        "store_row_invalid",
    );
    assert!(all(&store).await.is_empty());
    store.close().await;
}

async fn rotate_key_re_encrypts_everything_in_one_transaction(loc: StoreLocation) {
    let store = open(&loc).await;
    let (old, new) = (key(1), key(2));
    for (id, pw) in [
        ("id-1", Some("pw-one")),
        ("id-2", Some("pw-two")),
        ("id-3", None),
    ] {
        let mut r = row(id, id);
        r.password = pw.map(|p| old.seal(id, p));
        store.insert_connection(&r).await.unwrap();
    }
    assert_eq!(store.rotate_key(&old, &new).await.unwrap(), 2);

    for (id, pw) in [("id-1", "pw-one"), ("id-2", "pw-two")] {
        let r = get(&store, id).await;
        let sealed = r.password.unwrap();
        assert_eq!(new.open(id, &sealed).unwrap().expose(), pw);
        assert_code(
            old.open(id, &sealed).map_err(StoreError::from),
            "secret_unreadable",
        );
        // An edit prepared before the rotation carries the old ciphertext: it must conflict.
        assert_eq!(r.version, 2);
    }
    let untouched = get(&store, "id-3").await;
    assert_eq!((untouched.password, untouched.version), (None, 1));
    assert_code(
        store.update_connection(&row("id-1", "id-1"), 1).await,
        "store_conflict",
    );
    store.close().await;
}

async fn rotate_key_aborts_on_a_foreign_ciphertext_and_changes_nothing(loc: StoreLocation) {
    let store = open(&loc).await;
    let (old, new, stranger) = (key(1), key(2), key(3));
    for (id, cipher) in [("id-1", &old), ("id-2", &stranger), ("id-3", &old)] {
        let mut r = row(id, id);
        r.password = Some(cipher.seal(id, "pw"));
        store.insert_connection(&r).await.unwrap();
    }
    // A ciphertext copied from another row does not open either (the id is associated data).
    let mut copied = row("id-4", "id-4");
    copied.password = get(&store, "id-1").await.password;
    store.insert_connection(&copied).await.unwrap();
    let before = all(&store).await;

    let e = assert_code(store.rotate_key(&old, &new).await, "secret_unreadable");
    assert!(e.to_string().contains("id-2"), "{e}");
    assert_eq!(all(&store).await, before, "nothing changed");

    store.delete_connection("id-2", 1).await.unwrap();
    let e = assert_code(store.rotate_key(&old, &new).await, "secret_unreadable");
    assert!(e.to_string().contains("id-4"), "{e}");
    store.delete_connection("id-4", 1).await.unwrap();
    assert_eq!(store.rotate_key(&old, &new).await.unwrap(), 2);
    store.close().await;
}

// ---------------------------------------------------------------------------------------------
// SQLite only: the file itself

#[tokio::test]
async fn sqlite_files_never_hold_a_clear_text_password() {
    let dir = TempDir::new();
    let loc = StoreLocation::Sqlite {
        data_dir: dir.0.join("data"),
    };
    let marker = format!("PV-MARKER-{}", uuid::Uuid::new_v4().simple());
    let store = open(&loc).await;
    let (old, new) = (key(1), key(2));
    for i in 0..20 {
        let id = format!("id-{i}");
        let mut r = row(&id, &id);
        r.password = Some(old.seal(&id, &format!("{marker}-{i}")));
        store.insert_connection(&r).await.unwrap();
    }
    let mut r = get(&store, "id-0").await;
    r.password = Some(old.seal("id-0", &marker));
    store.update_connection(&r, 1).await.unwrap();
    store.rotate_key(&old, &new).await.unwrap();

    let files = |label: &str| {
        let mut seen = Vec::new();
        for entry in std::fs::read_dir(dir.0.join("data")).unwrap() {
            let path = entry.unwrap().path();
            let bytes = match std::fs::read(&path) {
                Ok(b) => b,
                // SQLite removes its -wal/-shm when the last connection closes.
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => panic!("{label}: {}: {e}", path.display()),
            };
            let needle = marker.as_bytes();
            assert!(
                !bytes.windows(needle.len()).any(|w| w == needle),
                "{label}: {} holds a clear-text password",
                path.display()
            );
            seen.push(path.file_name().unwrap().to_string_lossy().into_owned());
        }
        seen
    };
    // While open the recent pages are in the WAL; after close they are in the main file.
    let open_files = files("open");
    assert!(
        open_files.iter().any(|f| f.ends_with("-wal")),
        "{open_files:?}"
    );
    store.close().await;
    files("closed");

    use std::os::unix::fs::PermissionsExt;
    let mode = |p: PathBuf| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(dir.0.join("data")), 0o700);
    assert_eq!(mode(loc.sqlite_file().unwrap()), 0o600);
}

#[tokio::test]
async fn sqlite_a_bad_timestamp_is_a_row_invalid() {
    on_sqlite(|loc| async move {
        let store = open(&loc).await;
        store.insert_connection(&row("id-1", "one")).await.unwrap();
        store.insert_connection(&row("id-2", "two")).await.unwrap();
        raw_exec(
            &loc,
            "UPDATE connections SET updated_at = 'yesterday' WHERE id = 'id-2'",
        )
        .await;
        let listed = store.list_connections().await.unwrap();
        assert!(listed[0].is_ok());
        match &listed[1] {
            Err(StoreError::RowInvalid { id, reason }) => {
                assert_eq!(id, "id-2");
                assert!(reason.contains("updated_at"), "{reason}");
            }
            other => panic!("{other:?}"),
        }
        store.close().await;
    })
    .await;
}

#[tokio::test]
async fn sqlite_an_unusable_data_dir_is_unavailable() {
    let dir = TempDir::new();
    std::fs::write(&dir.0, b"a file, not a directory").unwrap();
    let loc = StoreLocation::Sqlite {
        data_dir: dir.0.clone(),
    };
    let e = assert_code(Store::open(&loc).await, "store_unavailable");
    assert!(e.is_retryable());
    std::fs::remove_file(&dir.0).unwrap();
}

// ---------------------------------------------------------------------------------------------
// PostgreSQL without a server

#[tokio::test]
async fn postgres_unreachable_is_unavailable_and_the_password_stays_out() {
    // Port 1 on loopback: nothing listens there, the connect is refused at once.
    let loc = StoreLocation::Postgres {
        url: "postgres://pulse:SeCrEt-PW@127.0.0.1:1/pulse".into(),
    };
    let e = assert_code(Store::open(&loc).await, "store_unavailable");
    assert!(!e.to_string().contains("SeCrEt-PW"), "{e}");
    assert!(
        e.to_string().contains("pulse@127.0.0.1:1/pulse"),
        "says where: {e}"
    );
    let e = assert_code(
        Store::open(&StoreLocation::Postgres {
            url: "postgres://pulse:SeCrEt-PW@[bad host/x".into(),
        })
        .await,
        "store_unavailable",
    );
    assert!(!e.to_string().contains("SeCrEt-PW"), "{e}");
}

/// Proof records: the newest is reported whatever it says; only a live pass is live proof, and
/// a later simulated or failed record does not hide it.
async fn proof_records_newest_first_and_only_a_live_pass_counts(loc: StoreLocation) {
    use pulse_vsphere::store::ProofEntry;
    let store = open(&loc).await;
    assert_eq!(store.latest_proofs().await.unwrap(), (None, None));
    let base = now();
    let entry = |i: i64, verdict: &str, simulated: bool| ProofEntry {
        recorded_at: base + Duration::seconds(i),
        date: format!("2026-12-0{i}"),
        verdict: verdict.into(),
        simulated,
        vcenter_version: Some("8.0.3".into()),
        record: format!("{{\"n\": {i}}}"),
    };
    store.add_proof(&entry(1, "pass", true)).await.unwrap();
    let (latest, live) = store.latest_proofs().await.unwrap();
    assert_eq!(latest, Some(entry(1, "pass", true)));
    assert_eq!(live, None);
    store.add_proof(&entry(2, "pass", false)).await.unwrap();
    store.add_proof(&entry(3, "fail", false)).await.unwrap();
    store.add_proof(&entry(4, "pass", true)).await.unwrap();
    let (latest, live) = store.latest_proofs().await.unwrap();
    assert_eq!(latest, Some(entry(4, "pass", true)));
    let live = live.expect("the live pass");
    assert_eq!(live, entry(2, "pass", false));
    assert!(live.is_live_pass());
    store.close().await;
}
