//! Announcing connection writes to the other replicas that share a PostgreSQL store
//! (`LISTEN`/`NOTIFY`), so a connection created, changed or deleted through one is applied by
//! every other within a moment. SQLite has one process by construction: nothing to announce.

use sqlx::postgres::PgListener;

use super::error::{from_sqlx, StoreError};
use super::{Pool, Store};

/// The channel a connection write is announced on; the payload is the connection id.
pub const CONNECTIONS_CHANNEL: &str = "pulse_vsphere_connections";

/// Another replica's connection writes, as they are announced.
pub struct ConnectionChanges(PgListener);

impl Store {
    /// Announces that connection `id` was written. Best effort: a lost announcement is caught by
    /// the replicas' periodic re-read.
    pub(super) async fn announce_connection(&self, id: &str) {
        if let Pool::Postgres(pool) = &self.pool {
            let sent = sqlx::query("SELECT pg_notify($1, $2)")
                .bind(CONNECTIONS_CHANNEL)
                .bind(id)
                .execute(pool)
                .await;
            if let Err(e) = sent {
                tracing::warn!(connection = id, error = %e, "a connection change was not announced to other replicas");
            }
        }
    }

    /// Follows other replicas' connection writes; `None` on SQLite.
    ///
    /// # Errors
    /// `store_unavailable` when PostgreSQL cannot be reached.
    pub async fn connection_changes(&self) -> Result<Option<ConnectionChanges>, StoreError> {
        let Pool::Postgres(pool) = &self.pool else {
            return Ok(None);
        };
        let mut listener = PgListener::connect_with(pool).await.map_err(from_sqlx)?;
        listener
            .listen(CONNECTIONS_CHANNEL)
            .await
            .map_err(from_sqlx)?;
        Ok(Some(ConnectionChanges(listener)))
    }
}

impl ConnectionChanges {
    /// The id of the next connection written, or `None` when the connection to PostgreSQL was
    /// lost and re-made: announcements in between are gone, so re-read every connection.
    ///
    /// # Errors
    /// `store_unavailable` while PostgreSQL cannot be reached.
    pub async fn next(&mut self) -> Result<Option<String>, StoreError> {
        self.0
            .try_recv()
            .await
            .map(|n| n.map(|n| n.payload().to_string()))
            .map_err(from_sqlx)
    }
}
