//! Where the store lives, opening it, and applying the embedded migrations.

use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use sqlx::migrate::{MigrateError, Migrator};
use sqlx::postgres::{PgConnectOptions, PgConnection, PgPool, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions};
use sqlx::Connection;

use super::error::{from_sqlx, StoreError};

/// Environment variable naming the data directory of the embedded store.
pub const DATA_DIR_ENV: &str = "PULSE_VSPHERE_DATA_DIR";
/// The SQLite file inside the data directory.
pub const SQLITE_FILE_NAME: &str = "pulse-vsphere.db";

static SQLITE_MIGRATIONS: Migrator = sqlx::migrate!("migrations/sqlite");
static POSTGRES_MIGRATIONS: Migrator = sqlx::migrate!("migrations/postgres");

/// A writer waits this long for SQLite's lock before failing with `store_unavailable`.
const SQLITE_BUSY_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a caller waits for a PostgreSQL connection before `store_unavailable`.
const POSTGRES_ACQUIRE_TIMEOUT: Duration = Duration::from_secs(10);

/// Which database backs the store.
#[derive(Clone, PartialEq, Eq)]
pub enum StoreLocation {
    /// Embedded: `data_dir/pulse-vsphere.db`, created on first use.
    Sqlite { data_dir: PathBuf },
    /// A `postgres://` (or `postgresql://`) URL, for several replicas sharing one store.
    Postgres { url: String },
}

impl StoreLocation {
    /// A `postgres://`/`postgresql://` URL selects PostgreSQL; anything else is a SQLite data
    /// directory.
    pub fn from_setting(value: &str) -> StoreLocation {
        if value.starts_with("postgres://") || value.starts_with("postgresql://") {
            StoreLocation::Postgres {
                url: value.to_string(),
            }
        } else {
            StoreLocation::Sqlite {
                data_dir: PathBuf::from(value),
            }
        }
    }

    /// The SQLite database file, for the embedded backend.
    pub fn sqlite_file(&self) -> Option<PathBuf> {
        match self {
            StoreLocation::Sqlite { data_dir } => Some(data_dir.join(SQLITE_FILE_NAME)),
            StoreLocation::Postgres { .. } => None,
        }
    }
}

// The URL may carry a password: Debug and Display show it redacted, so the location can be logged.
impl std::fmt::Display for StoreLocation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StoreLocation::Sqlite { data_dir } => {
                write!(f, "sqlite:{}", data_dir.join(SQLITE_FILE_NAME).display())
            }
            StoreLocation::Postgres { url } => f.write_str(&redact_url(url)),
        }
    }
}

impl std::fmt::Debug for StoreLocation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "StoreLocation({self})")
    }
}

/// `scheme://user@host:port/db`: the password and query (which may hold `password=`) removed.
pub fn redact_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) => {
            let _ = u.set_password(None);
            u.set_query(None);
            u.to_string()
        }
        Err(_) => "postgres://<unparsable url>".into(),
    }
}

pub(super) async fn open_sqlite(data_dir: &Path) -> Result<SqlitePool, StoreError> {
    let unavailable = |what: &str, e: std::io::Error| StoreError::Unavailable {
        reason: format!("{what} {}: {e}", data_dir.display()),
    };
    // 0700: the directory holds the database (and often the key file) of one service user.
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(data_dir)
        .map_err(|e| unavailable("cannot create data directory", e))?;
    let file = data_dir.join(SQLITE_FILE_NAME);
    // Created here rather than by SQLite so it is 0600 from the first byte; SQLite gives the
    // -wal and -shm files the database file's mode.
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&file)
    {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(unavailable("cannot create the database file in", e)),
    }
    let options = SqliteConnectOptions::new()
        .filename(&file)
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .busy_timeout(SQLITE_BUSY_TIMEOUT)
        .foreign_keys(true);
    let pool = SqlitePoolOptions::new()
        .max_connections(4)
        .connect_with(options)
        .await
        .map_err(|e| StoreError::Unavailable {
            reason: format!("cannot open {}: {e}", file.display()),
        })?;
    migrate(&SQLITE_MIGRATIONS, &pool).await.map(|()| pool)
}

pub(super) async fn open_postgres(url: &str) -> Result<PgPool, StoreError> {
    // sqlx's parse error does not echo the URL, but say nothing of it either way.
    let options = PgConnectOptions::from_str(url)
        .map_err(|_| StoreError::Unavailable {
            reason: format!(
                "invalid PostgreSQL URL {} (expected postgres://user:password@host:port/database)",
                redact_url(url)
            ),
        })?
        .application_name("pulse-vsphere");
    // One direct connection first: the pool retries refused connections until its acquire
    // timeout and then reports only "timed out"; this says why (refused, auth, TLS) at once.
    let probe =
        PgConnection::connect_with(&options)
            .await
            .map_err(|e| StoreError::Unavailable {
                reason: format!("cannot connect to {}: {e}", redact_url(url)),
            })?;
    let _ = probe.close().await;
    let pool = PgPoolOptions::new()
        .max_connections(8)
        .acquire_timeout(POSTGRES_ACQUIRE_TIMEOUT)
        .connect_with(options)
        .await
        .map_err(|e| StoreError::Unavailable {
            reason: format!("cannot connect to {}: {e}", redact_url(url)),
        })?;
    migrate(&POSTGRES_MIGRATIONS, &pool).await.map(|()| pool)
}

async fn migrate<DB>(migrator: &Migrator, pool: &sqlx::Pool<DB>) -> Result<(), StoreError>
where
    DB: sqlx::Database,
    DB::Connection: sqlx::migrate::Migrate,
{
    let result = migrator.run(pool).await;
    if result.is_err() {
        pool.close().await;
    }
    result.map_err(|e| migrate_error(e, migrator))
}

/// sqlx checks every applied migration against the binary's list before it applies anything
/// (`validate_applied_migrations` runs before the apply loop), so an unknown applied version
/// means a newer binary migrated this store and nothing has been written by us.
fn migrate_error(e: MigrateError, migrator: &Migrator) -> StoreError {
    let known = migrator.iter().map(|m| m.version).max().unwrap_or(0);
    match e {
        MigrateError::VersionMissing(found) if found > known => {
            StoreError::SchemaTooNew { found, known }
        }
        MigrateError::VersionMissing(found) => StoreError::MigrationFailed {
            reason: format!(
                "the store has migration {found}, which this binary does not know \
                 (it knows up to {known}); it was migrated by another build"
            ),
        },
        MigrateError::Execute(e) | MigrateError::ExecuteMigration(e, _) => match from_sqlx(e) {
            unavailable @ StoreError::Unavailable { .. } => unavailable,
            other => StoreError::MigrationFailed {
                reason: other.to_string(),
            },
        },
        other => StoreError::MigrationFailed {
            reason: other.to_string(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_redacted() {
        let shown =
            redact_url("postgres://app:s3cret@db.example:5433/pulse?password=x2&sslmode=require");
        assert!(
            !shown.contains("s3cret") && !shown.contains("x2"),
            "{shown}"
        );
        assert!(shown.contains("app@db.example:5433/pulse"), "{shown}");
        let loc = StoreLocation::from_setting("postgresql://app:s3cret@db/pulse");
        assert!(!format!("{loc:?} {loc}").contains("s3cret"));
        assert!(!redact_url("::not a url s3cret").contains("s3cret"));
        assert_eq!(
            StoreLocation::from_setting("/var/lib/pulse").sqlite_file(),
            Some(PathBuf::from("/var/lib/pulse/pulse-vsphere.db"))
        );
    }

    #[test]
    fn an_unknown_applied_migration_is_too_new_only_when_newer() {
        let known = SQLITE_MIGRATIONS.iter().map(|m| m.version).max().unwrap();
        let e = migrate_error(MigrateError::VersionMissing(known + 1), &SQLITE_MIGRATIONS);
        assert_eq!(e.code(), "store_schema_too_new", "{e}");
        let e = migrate_error(MigrateError::VersionMissing(0), &SQLITE_MIGRATIONS);
        assert_eq!(e.code(), "store_migration_failed", "{e}");
    }

    #[test]
    fn both_backends_know_the_same_migrations() {
        let versions = |m: &Migrator| m.iter().map(|m| m.version).collect::<Vec<_>>();
        assert_eq!(versions(&SQLITE_MIGRATIONS), versions(&POSTGRES_MIGRATIONS));
    }
}
