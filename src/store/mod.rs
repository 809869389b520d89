//! The persistent store: saved connections (passwords sealed by `secrets`) and the audit log,
//! behind one interface over two backends: SQLite embedded by default, PostgreSQL when the
//! operator gives a `postgres://` URL (DESIGN section 7). Both run the same SQL text (SQLite
//! accepts `$N` parameters), so a behaviour difference can only come from the schema files.

mod audit;
mod changes;
mod connections;
mod error;
pub mod history;
mod open;
mod proofs;
mod rows;
pub mod secrets;

use sqlx::postgres::PgPool;
use sqlx::sqlite::SqlitePool;

pub use changes::{ConnectionChanges, CONNECTIONS_CHANNEL};
pub use error::StoreError;
pub use open::{redact_url, StoreLocation, DATA_DIR_ENV, SQLITE_FILE_NAME};
pub use proofs::ProofEntry;
pub use rows::{stored_now, AuditEntry, AuditRecord, ConnectionRow, TlsSetting};
pub use secrets::{
    load_key, load_or_create_key, Cipher, KeyMaterial, KeySource, SecretError, StagedKeyFile,
    SECRET_KEY_ENV,
};

/// A handle on the open store; clones share one connection pool.
#[derive(Clone)]
pub struct Store {
    pool: Pool,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Store({})", self.backend())
    }
}

#[derive(Clone)]
enum Pool {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// Runs the same body against whichever pool backs the store; the body is compiled once per
/// backend, so a query that one driver cannot bind fails to build rather than at run time.
macro_rules! on_pool {
    ($store:expr, |$pool:ident| $body:expr) => {
        match &$store.pool {
            $crate::store::Pool::Sqlite($pool) => $body,
            $crate::store::Pool::Postgres($pool) => $body,
        }
    };
}
pub(crate) use on_pool;

impl Store {
    /// Opens (creating on first use) the store and applies the embedded migrations.
    ///
    /// # Errors
    /// `store_unavailable` when it cannot be opened or reached, `store_schema_too_new` when a
    /// newer binary migrated it (nothing is written then), `store_migration_failed`.
    pub async fn open(location: &StoreLocation) -> Result<Store, StoreError> {
        let pool = match location {
            StoreLocation::Sqlite { data_dir } => Pool::Sqlite(open::open_sqlite(data_dir).await?),
            StoreLocation::Postgres { url } => Pool::Postgres(open::open_postgres(url).await?),
        };
        Ok(Store { pool })
    }

    /// `"sqlite"` or `"postgres"`.
    pub fn backend(&self) -> &'static str {
        match self.pool {
            Pool::Sqlite(_) => "sqlite",
            Pool::Postgres(_) => "postgres",
        }
    }

    /// One round trip, for health checks.
    pub async fn ping(&self) -> Result<(), StoreError> {
        on_pool!(self, |pool| sqlx::query("SELECT 1")
            .execute(pool)
            .await
            .map(|_| ()))
        .map_err(error::from_sqlx)
    }

    /// Waits for in-flight queries, then closes every connection (SQLite checkpoints its WAL).
    pub async fn close(&self) {
        on_pool!(self, |pool| pool.close().await)
    }
}
