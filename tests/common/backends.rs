//! Running one test case per store backend: SQLite in a temporary directory always, PostgreSQL
//! in a database of its own when `PULSE_VSPHERE_TEST_POSTGRES_URL` names a server (an
//! unreachable server fails the case; without the variable it is skipped with a note).

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::path::PathBuf;

use futures::FutureExt;
use pulse_vsphere::config::StoreSettings;
use pulse_vsphere::store::StoreLocation;
use sqlx::postgres::PgConnection;
use sqlx::{Connection, Executor};

/// Where CI's PostgreSQL is.
pub const PG_ENV: &str = "PULSE_VSPHERE_TEST_POSTGRES_URL";

/// A temporary data directory, removed even when the case panics.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new() -> TempDir {
        let dir = std::env::temp_dir().join(format!("pv-store-test-{}", uuid::Uuid::new_v4()));
        TempDir(dir)
    }

    /// The embedded default in this directory: SQLite, its key file beside it, 30 days kept.
    pub fn sqlite_settings(&self) -> StoreSettings {
        StoreSettings {
            location: StoreLocation::Sqlite {
                data_dir: self.0.clone(),
            },
            data_dir: self.0.clone(),
            key_file: self.0.join("secret.key"),
            history_days: 30,
        }
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub async fn on_sqlite<F, Fut>(case: F)
where
    F: FnOnce(StoreLocation) -> Fut,
    Fut: Future<Output = ()>,
{
    let dir = TempDir::new();
    case(StoreLocation::Sqlite {
        data_dir: dir.0.clone(),
    })
    .await;
}

pub async fn on_postgres<F, Fut>(case: F)
where
    F: FnOnce(StoreLocation) -> Fut,
    Fut: Future<Output = ()>,
{
    let Ok(admin_url) = std::env::var(PG_ENV) else {
        eprintln!("note: {PG_ENV} is not set; the PostgreSQL run of this case is skipped");
        return;
    };
    // One plain connection: a pool would retry a refused connect for its whole timeout.
    let mut admin = PgConnection::connect(&admin_url)
        .await
        .unwrap_or_else(|e| panic!("{PG_ENV} is set but PostgreSQL does not answer: {e}"));
    let db = format!("pv_store_test_{}", uuid::Uuid::new_v4().simple());
    (&mut admin)
        .execute(format!("CREATE DATABASE {db}").as_str())
        .await
        .expect("create the test database");
    let mut url = url::Url::parse(&admin_url).expect("a URL");
    url.set_path(&db);
    let outcome = AssertUnwindSafe(case(StoreLocation::Postgres {
        url: url.to_string(),
    }))
    .catch_unwind()
    .await;
    (&mut admin)
        .execute(format!("DROP DATABASE {db} WITH (FORCE)").as_str())
        .await
        .expect("drop the test database");
    let _ = admin.close().await;
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
}
