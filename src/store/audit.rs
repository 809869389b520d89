//! The onboarding audit log: append-only, read newest first in pages keyed by `seq`.

use sqlx::Row;

use super::error::{from_sqlx, StoreError};
use super::rows::{db_time, decode_audit, encode_fields, AuditEntry, AuditRecord};
use super::{on_pool, Store};

impl Store {
    /// Appends one entry and returns its sequence number (larger than every earlier one).
    #[tracing::instrument(name = "store.write", skip_all, fields(op = "audit.append", backend = self.backend()))]
    pub async fn append_audit(&self, e: &AuditEntry) -> Result<i64, StoreError> {
        const SQL: &str = "INSERT INTO audit_log (at, actor, action, connection_id, fields) \
             VALUES ($1, $2, $3, $4, $5) RETURNING seq";
        on_pool!(self, |pool| {
            sqlx::query(SQL)
                .bind(db_time(e.at))
                .bind(&e.actor)
                .bind(&e.action)
                .bind(e.connection_id.as_deref())
                .bind(encode_fields(&e.fields))
                .fetch_one(pool)
                .await
                .and_then(|r| r.try_get::<i64, _>(0))
        })
        .map_err(from_sqlx)
    }

    /// Up to `first` entries, newest first, older than `before_seq` when given (the last
    /// `seq` of the previous page).
    pub async fn audit_page(
        &self,
        first: usize,
        before_seq: Option<i64>,
    ) -> Result<Vec<AuditRecord>, StoreError> {
        const SQL: &str = "SELECT seq, at, actor, action, connection_id, fields FROM audit_log \
             WHERE seq < $1 ORDER BY seq DESC LIMIT $2";
        let limit = i64::try_from(first).unwrap_or(i64::MAX);
        on_pool!(self, |pool| {
            let rows = sqlx::query(SQL)
                .bind(before_seq.unwrap_or(i64::MAX))
                .bind(limit)
                .fetch_all(pool)
                .await
                .map_err(from_sqlx)?;
            rows.iter().map(decode_audit).collect()
        })
    }
}
