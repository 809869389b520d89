//! Saved connections: read, write with optimistic concurrency, and key rotation.

use sqlx::Row;

use super::error::{from_sqlx, StoreError};
use super::rows::{db_time, decode_connection, ConnectionRow, CONNECTION_COLUMNS};
use super::secrets::Cipher;
use super::{on_pool, Store};

impl Store {
    /// Every saved connection, ordered by name ignoring case, then id. A row that does not
    /// decode is an `Err(StoreError::RowInvalid)` in its place, so one damaged row never hides
    /// the others.
    pub async fn list_connections(
        &self,
    ) -> Result<Vec<Result<ConnectionRow, StoreError>>, StoreError> {
        // `COLLATE "C"` gives PostgreSQL SQLite's byte order instead of the server locale's.
        let order = match self.backend() {
            "postgres" => r#"name_key COLLATE "C", id COLLATE "C""#,
            _ => "name_key, id",
        };
        let sql = format!("SELECT {CONNECTION_COLUMNS} FROM connections ORDER BY {order}");
        on_pool!(self, |pool| {
            let rows = sqlx::query(&sql).fetch_all(pool).await.map_err(from_sqlx)?;
            Ok(rows.iter().map(decode_connection).collect())
        })
    }

    /// One connection; `Ok(None)` when there is none with that id.
    pub async fn get_connection(&self, id: &str) -> Result<Option<ConnectionRow>, StoreError> {
        let sql = format!("SELECT {CONNECTION_COLUMNS} FROM connections WHERE id = $1");
        on_pool!(self, |pool| {
            let row = sqlx::query(&sql)
                .bind(id)
                .fetch_optional(pool)
                .await
                .map_err(from_sqlx)?;
            row.map(|r| decode_connection(&r)).transpose()
        })
    }

    /// Saves a new connection as given (its `version` included).
    ///
    /// # Errors
    /// `store_name_taken` when another connection has the name ignoring case,
    /// `store_conflict` (`IdTaken`) when the id exists.
    #[tracing::instrument(name = "store.write", skip_all, fields(op = "connection.insert", backend = self.backend()))]
    pub async fn insert_connection(&self, row: &ConnectionRow) -> Result<(), StoreError> {
        row.check_writable()?;
        const SQL: &str = "INSERT INTO connections (id, name, name_key, host, port, username, \
             password, enabled, poll_interval_secs, tls_mode, tls_value, created_at, updated_at, \
             version) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)";
        on_pool!(self, |pool| {
            sqlx::query(SQL)
                .bind(&row.id)
                .bind(&row.name)
                .bind(row.name_key())
                .bind(&row.host)
                .bind(i64::from(row.port))
                .bind(&row.username)
                .bind(row.password.as_deref())
                .bind(row.enabled)
                .bind(i64::from(row.poll_interval_secs))
                .bind(row.tls_mode.mode())
                .bind(row.tls_mode.value())
                .bind(db_time(row.created_at))
                .bind(db_time(row.updated_at))
                .bind(row.version)
                .execute(pool)
                .await
                .map(|_| ())
        })
        .map_err(|e| write_error(e, row))?;
        self.announce_connection(&row.id).await;
        Ok(())
    }

    /// Replaces the stored connection `row.id` with `row` when its stored version is
    /// `expected_version`; the stored version becomes `expected_version + 1` (whatever
    /// `row.version` says) and `created_at` keeps its stored value.
    ///
    /// # Errors
    /// `store_conflict` (stale version; nothing changed), `store_not_found`, `store_name_taken`.
    #[tracing::instrument(name = "store.write", skip_all, fields(op = "connection.update", backend = self.backend()))]
    pub async fn update_connection(
        &self,
        row: &ConnectionRow,
        expected_version: i64,
    ) -> Result<(), StoreError> {
        row.check_writable()?;
        const SQL: &str = "UPDATE connections SET name = $1, name_key = $2, host = $3, port = $4, \
             username = $5, password = $6, enabled = $7, poll_interval_secs = $8, tls_mode = $9, \
             tls_value = $10, updated_at = $11, version = $12 WHERE id = $13 AND version = $14";
        let done = on_pool!(self, |pool| {
            sqlx::query(SQL)
                .bind(&row.name)
                .bind(row.name_key())
                .bind(&row.host)
                .bind(i64::from(row.port))
                .bind(&row.username)
                .bind(row.password.as_deref())
                .bind(row.enabled)
                .bind(i64::from(row.poll_interval_secs))
                .bind(row.tls_mode.mode())
                .bind(row.tls_mode.value())
                .bind(db_time(row.updated_at))
                .bind(expected_version + 1)
                .bind(&row.id)
                .bind(expected_version)
                .execute(pool)
                .await
                .map(|r| r.rows_affected())
        })
        .map_err(|e| write_error(e, row))?;
        if done == 0 {
            return Err(self.why_unchanged(&row.id, expected_version).await);
        }
        self.announce_connection(&row.id).await;
        Ok(())
    }

    /// Deletes connection `id` when its stored version is `expected_version`.
    ///
    /// # Errors
    /// `store_conflict` (stale version; nothing changed), `store_not_found`.
    #[tracing::instrument(name = "store.write", skip_all, fields(op = "connection.delete", backend = self.backend()))]
    pub async fn delete_connection(
        &self,
        id: &str,
        expected_version: i64,
    ) -> Result<(), StoreError> {
        let done = on_pool!(self, |pool| {
            sqlx::query("DELETE FROM connections WHERE id = $1 AND version = $2")
                .bind(id)
                .bind(expected_version)
                .execute(pool)
                .await
                .map(|r| r.rows_affected())
        })
        .map_err(from_sqlx)?;
        if done == 0 {
            return Err(self.why_unchanged(id, expected_version).await);
        }
        self.announce_connection(id).await;
        Ok(())
    }

    /// After a guarded write touched no row: was the row gone, or at another version? (Only
    /// the message depends on this read; the write itself was atomic.)
    async fn why_unchanged(&self, id: &str, expected: i64) -> StoreError {
        let found = on_pool!(self, |pool| {
            sqlx::query("SELECT version FROM connections WHERE id = $1")
                .bind(id)
                .fetch_optional(pool)
                .await
                .and_then(|r| r.map(|r| r.try_get::<i64, _>(0)).transpose())
        });
        match found {
            Ok(Some(found)) => StoreError::Conflict {
                id: id.to_string(),
                expected,
                found,
            },
            Ok(None) => StoreError::NotFound { id: id.to_string() },
            Err(e) => from_sqlx(e),
        }
    }

    /// Re-encrypts every sealed password from `old` to `new` in one transaction and returns
    /// how many. A password that does not open with `old` aborts the rotation with
    /// `secret_unreadable` naming its connection, and nothing changes.
    ///
    /// Each re-sealed row's version is bumped: an edit prepared before the rotation carries
    /// the old ciphertext, and must fail with `store_conflict` rather than write it back.
    #[tracing::instrument(name = "store.write", skip_all, fields(op = "secrets.rotate_key", backend = self.backend()))]
    pub async fn rotate_key(&self, old: &Cipher, new: &Cipher) -> Result<usize, StoreError> {
        let postgres = self.backend() == "postgres";
        on_pool!(self, |pool| {
            let mut tx = pool.begin().await.map_err(from_sqlx)?;
            if postgres {
                // Holds off inserts and updates from other replicas until commit, so no
                // password sealed under the old key slips in behind the rotation.
                sqlx::query("LOCK TABLE connections IN SHARE ROW EXCLUSIVE MODE")
                    .execute(&mut *tx)
                    .await
                    .map_err(from_sqlx)?;
            }
            // A write first: SQLite takes its write lock now rather than failing to upgrade a
            // read transaction later.
            sqlx::query("UPDATE connections SET version = version + 1 WHERE password IS NOT NULL")
                .execute(&mut *tx)
                .await
                .map_err(from_sqlx)?;
            let sealed = sqlx::query(
                "SELECT id, password FROM connections WHERE password IS NOT NULL ORDER BY id",
            )
            .fetch_all(&mut *tx)
            .await
            .map_err(from_sqlx)?;
            let mut count = 0;
            for r in &sealed {
                let id: String = r.try_get("id").map_err(from_sqlx)?;
                let bytes: Vec<u8> = r.try_get("password").map_err(from_sqlx)?;
                let plain = old.open(&id, &bytes)?;
                sqlx::query("UPDATE connections SET password = $1 WHERE id = $2")
                    .bind(new.seal(&id, plain.expose()))
                    .bind(&id)
                    .execute(&mut *tx)
                    .await
                    .map_err(from_sqlx)?;
                count += 1;
            }
            tx.commit().await.map_err(from_sqlx)?;
            Ok(count)
        })
    }
}

/// A failed insert or update: a unique violation on the name index is `NameTaken`, on the
/// primary key (an insert with an existing id) `IdTaken`.
fn write_error(e: sqlx::Error, row: &ConnectionRow) -> StoreError {
    if let Some(db) = e.as_database_error() {
        if db.is_unique_violation() {
            // PostgreSQL names the index; SQLite names the column ("connections.name_key").
            let on_name = db.constraint().is_some_and(|c| c.contains("name_key"))
                || db.message().contains("name_key");
            return if on_name {
                StoreError::NameTaken {
                    name: row.name.clone(),
                }
            } else {
                StoreError::IdTaken { id: row.id.clone() }
            };
        }
    }
    from_sqlx(e)
}
