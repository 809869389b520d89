//! Proof records attached by an admin: kept whole, read back newest first for the platform row.

use chrono::{DateTime, Utc};
use sqlx::{ColumnIndex, Decode, Row, Type};

use super::error::{from_sqlx, StoreError};
use super::rows::db_time;
use super::{on_pool, Store};

/// A proof record as the store keeps it.
#[derive(Clone, Debug, PartialEq)]
pub struct ProofEntry {
    pub recorded_at: DateTime<Utc>,
    /// The day the proof ran (`YYYY-MM-DD`).
    pub date: String,
    /// `pass`, `fail` or `could_not_run`.
    pub verdict: String,
    pub simulated: bool,
    pub vcenter_version: Option<String>,
    /// The record's JSON.
    pub record: String,
}

impl ProofEntry {
    /// Whether this record proves the floor on a real vCenter.
    pub fn is_live_pass(&self) -> bool {
        self.verdict == "pass" && !self.simulated
    }
}

const COLUMNS: &str = "recorded_at, proof_date, verdict, simulated, vcenter_version, record";

impl Store {
    /// Appends a proof record.
    #[tracing::instrument(name = "store.write", skip_all, fields(op = "proof.append", backend = self.backend()))]
    pub async fn add_proof(&self, e: &ProofEntry) -> Result<(), StoreError> {
        let sql = format!("INSERT INTO proof_records ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6)");
        on_pool!(self, |pool| {
            sqlx::query(&sql)
                .bind(db_time(e.recorded_at))
                .bind(&e.date)
                .bind(&e.verdict)
                .bind(e.simulated)
                .bind(e.vcenter_version.as_deref())
                .bind(&e.record)
                .execute(pool)
                .await
                .map(|_| ())
        })
        .map_err(from_sqlx)
    }

    /// The newest record, and the newest live one that passed.
    pub async fn latest_proofs(
        &self,
    ) -> Result<(Option<ProofEntry>, Option<ProofEntry>), StoreError> {
        let latest = format!("SELECT {COLUMNS} FROM proof_records ORDER BY seq DESC LIMIT 1");
        let live = format!(
            "SELECT {COLUMNS} FROM proof_records WHERE verdict = 'pass' AND simulated = $1 \
             ORDER BY seq DESC LIMIT 1"
        );
        on_pool!(self, |pool| {
            let a = sqlx::query(&latest)
                .fetch_optional(pool)
                .await
                .map_err(from_sqlx)?;
            let b = sqlx::query(&live)
                .bind(false)
                .fetch_optional(pool)
                .await
                .map_err(from_sqlx)?;
            Ok((
                a.map(|r| entry(&r)).transpose()?,
                b.map(|r| entry(&r)).transpose()?,
            ))
        })
    }
}

fn entry<'r, R>(row: &'r R) -> Result<ProofEntry, StoreError>
where
    R: Row,
    &'r str: ColumnIndex<R>,
    String: Decode<'r, R::Database> + Type<R::Database>,
    Option<String>: Decode<'r, R::Database> + Type<R::Database>,
    bool: Decode<'r, R::Database> + Type<R::Database>,
    DateTime<Utc>: Decode<'r, R::Database> + Type<R::Database>,
{
    let invalid = |e: sqlx::Error| StoreError::RowInvalid {
        id: "proof_records".into(),
        reason: e.to_string(),
    };
    Ok(ProofEntry {
        recorded_at: row.try_get("recorded_at").map_err(invalid)?,
        date: row.try_get("proof_date").map_err(invalid)?,
        verdict: row.try_get("verdict").map_err(invalid)?,
        simulated: row.try_get("simulated").map_err(invalid)?,
        vcenter_version: row.try_get("vcenter_version").map_err(invalid)?,
        record: row.try_get("record").map_err(invalid)?,
    })
}
