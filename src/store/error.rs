//! What can go wrong in the store, each with a stable code. Messages name connection ids and
//! locations, never a password, a key or a database URL's credentials.

use super::secrets::SecretError;

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database cannot be opened or reached, or it stopped answering; worth retrying.
    #[error("store_unavailable: {reason}")]
    Unavailable { reason: String },
    /// The database was migrated by a newer binary; starting would risk writing an old shape.
    #[error(
        "store_schema_too_new: the store has migration {found}, this binary knows up to {known}; \
         run the newer binary or restore a backup (nothing was written)"
    )]
    SchemaTooNew { found: i64, known: i64 },
    #[error("store_migration_failed: {reason}")]
    MigrationFailed { reason: String },
    /// Optimistic concurrency: the row changed since the caller read it.
    #[error(
        "store_conflict: connection {id} is at version {found}, not {expected}; read it again"
    )]
    Conflict {
        id: String,
        expected: i64,
        found: i64,
    },
    /// An insert with an id that exists (ids are generated, so this is a retried insert).
    #[error("store_conflict: a connection with id {id} exists")]
    IdTaken { id: String },
    #[error("store_name_taken: a connection named {name:?} exists (names ignore case)")]
    NameTaken { name: String },
    #[error("store_not_found: no connection {id}")]
    NotFound { id: String },
    /// A stored row (or one about to be written) that this binary cannot represent.
    #[error("store_row_invalid: {id}: {reason}")]
    RowInvalid { id: String, reason: String },
    /// The database refused a statement for a reason that retrying will not fix.
    #[error("store_query_failed: {reason}")]
    QueryFailed { reason: String },
    #[error(transparent)]
    Secret(#[from] SecretError),
}

impl StoreError {
    /// Whether the same call may succeed later (the database is back, a lock is released).
    pub fn is_retryable(&self) -> bool {
        matches!(self, StoreError::Unavailable { .. })
    }

    /// The stable code (the Display prefix), for metrics, health and GraphQL extensions.
    pub fn code(&self) -> &'static str {
        match self {
            StoreError::Unavailable { .. } => "store_unavailable",
            StoreError::SchemaTooNew { .. } => "store_schema_too_new",
            StoreError::MigrationFailed { .. } => "store_migration_failed",
            StoreError::Conflict { .. } | StoreError::IdTaken { .. } => "store_conflict",
            StoreError::NameTaken { .. } => "store_name_taken",
            StoreError::NotFound { .. } => "store_not_found",
            StoreError::RowInvalid { .. } => "store_row_invalid",
            StoreError::QueryFailed { .. } => "store_query_failed",
            StoreError::Secret(e) => e.code(),
        }
    }
}

/// Classifies a driver error. Connection-level failures and the database errors below that
/// pass with time are `Unavailable`, so callers retry them; everything else is a statement the
/// database will keep refusing.
pub(crate) fn from_sqlx(e: sqlx::Error) -> StoreError {
    use sqlx::Error as E;
    match &e {
        E::Io(_)
        | E::Tls(_)
        | E::Protocol(_)
        | E::PoolTimedOut
        | E::PoolClosed
        | E::WorkerCrashed
        | E::BeginFailed => StoreError::Unavailable {
            reason: e.to_string(),
        },
        E::Database(db) if transient_database_error(db.as_ref()) => StoreError::Unavailable {
            reason: e.to_string(),
        },
        _ => StoreError::QueryFailed {
            reason: e.to_string(),
        },
    }
}

fn transient_database_error(db: &dyn sqlx::error::DatabaseError) -> bool {
    let code = db.code();
    if db.try_downcast_ref::<sqlx::sqlite::SqliteError>().is_some() {
        code.and_then(|c| c.parse().ok())
            .is_some_and(sqlite_transient)
    } else {
        code.as_deref().is_some_and(postgres_transient)
    }
}

/// SQLite reports extended result codes; the primary code is the low byte:
/// 5 BUSY, 6 LOCKED, 8 READONLY, 10 IOERR, 13 FULL, 14 CANTOPEN.
fn sqlite_transient(code: i32) -> bool {
    matches!(code & 0xff, 5 | 6 | 8 | 10 | 13 | 14)
}

/// SQLSTATE classes 08 (connection), 53 (resources), 57 (operator intervention, e.g. shutdown),
/// and serialisation failure or deadlock, which succeed when retried.
fn postgres_transient(sqlstate: &str) -> bool {
    ["08", "53", "57", "40001", "40P01"]
        .iter()
        .any(|prefix| sqlstate.starts_with(prefix))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_the_display_prefix() {
        let all = [
            StoreError::Unavailable { reason: "x".into() },
            StoreError::SchemaTooNew { found: 9, known: 1 },
            StoreError::MigrationFailed { reason: "x".into() },
            StoreError::Conflict {
                id: "a".into(),
                expected: 1,
                found: 2,
            },
            StoreError::IdTaken { id: "a".into() },
            StoreError::NameTaken { name: "a".into() },
            StoreError::NotFound { id: "a".into() },
            StoreError::RowInvalid {
                id: "a".into(),
                reason: "x".into(),
            },
            StoreError::QueryFailed { reason: "x".into() },
            StoreError::Secret(SecretError::Unreadable {
                connection_id: "a".into(),
            }),
        ];
        for e in all {
            assert!(e.to_string().starts_with(&format!("{}: ", e.code())), "{e}");
        }
    }

    #[test]
    fn transient_codes() {
        assert!(sqlite_transient(5));
        assert!(sqlite_transient(517)); // SQLITE_BUSY_SNAPSHOT
        assert!(!sqlite_transient(2067)); // SQLITE_CONSTRAINT_UNIQUE
        assert!(postgres_transient("08006"));
        assert!(postgres_transient("57P01"));
        assert!(!postgres_transient("23505"));
    }
}
