//! The records the store keeps, and the one place where stored columns become typed values.
//! Both backends read rows through `decode_connection`, so a value one backend would reject
//! the other rejects too.

use chrono::{DateTime, SubsecRound, Utc};
use sqlx::{ColumnIndex, Decode, Row, Type};

use super::error::StoreError;
use crate::vcenter::TlsMode;

/// How to trust a vCenter's certificate (DESIGN section 7). Stored as a mode text and a value.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum TlsSetting {
    /// The operating system's trust store.
    #[default]
    Verify,
    /// SHA-256 thumbprint of the server certificate.
    Pinned(String),
    /// A CA bundle in PEM.
    CustomCa(String),
    /// No verification (an operator named it explicitly).
    Insecure,
}

impl TlsSetting {
    /// The `tls_mode` column's text.
    pub fn mode(&self) -> &'static str {
        match self {
            TlsSetting::Verify => "verify",
            TlsSetting::Pinned(_) => "pinned",
            TlsSetting::CustomCa(_) => "custom_ca",
            TlsSetting::Insecure => "insecure",
        }
    }

    /// The `tls_value` column.
    pub fn value(&self) -> Option<&str> {
        match self {
            TlsSetting::Pinned(v) | TlsSetting::CustomCa(v) => Some(v),
            TlsSetting::Verify | TlsSetting::Insecure => None,
        }
    }

    fn from_columns(mode: &str, value: Option<String>) -> Result<TlsSetting, String> {
        let needs = |v: Option<String>| {
            v.filter(|v| !v.is_empty())
                .ok_or_else(|| format!("tls mode {mode} without a value"))
        };
        match mode {
            "verify" => Ok(TlsSetting::Verify),
            "pinned" => needs(value).map(TlsSetting::Pinned),
            "custom_ca" => needs(value).map(TlsSetting::CustomCa),
            "insecure" => Ok(TlsSetting::Insecure),
            other => Err(format!("unknown tls mode {other:?}")),
        }
    }
}

impl From<&TlsMode> for TlsSetting {
    fn from(t: &TlsMode) -> TlsSetting {
        match t {
            TlsMode::System => TlsSetting::Verify,
            TlsMode::Thumbprint(p) => TlsSetting::Pinned(p.clone()),
            TlsMode::CaPem(pem) => TlsSetting::CustomCa(pem.clone()),
            TlsMode::Insecure => TlsSetting::Insecure,
        }
    }
}

impl From<&TlsSetting> for TlsMode {
    fn from(t: &TlsSetting) -> TlsMode {
        match t {
            TlsSetting::Verify => TlsMode::System,
            TlsSetting::Pinned(p) => TlsMode::Thumbprint(p.clone()),
            TlsSetting::CustomCa(pem) => TlsMode::CaPem(pem.clone()),
            TlsSetting::Insecure => TlsMode::Insecure,
        }
    }
}

/// One saved connection as stored. `password` holds sealed bytes (`secrets::Cipher::seal`),
/// never clear text.
#[derive(Clone, PartialEq, Eq)]
pub struct ConnectionRow {
    pub id: String,
    pub name: String,
    pub host: String,
    pub port: u16,
    pub username: String,
    pub password: Option<Vec<u8>>,
    pub enabled: bool,
    pub poll_interval_secs: u32,
    pub tls_mode: TlsSetting,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub version: i64,
}

// Sealed bytes are not secret, but they are noise in logs; say only whether one is set.
impl std::fmt::Debug for ConnectionRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConnectionRow")
            .field("id", &self.id)
            .field("name", &self.name)
            .field("host", &self.host)
            .field("port", &self.port)
            .field("username", &self.username)
            .field("password_set", &self.password.is_some())
            .field("enabled", &self.enabled)
            .field("poll_interval_secs", &self.poll_interval_secs)
            .field("tls_mode", &self.tls_mode.mode())
            .field("created_at", &self.created_at)
            .field("updated_at", &self.updated_at)
            .field("version", &self.version)
            .finish()
    }
}

impl ConnectionRow {
    /// The key of the unique name index: names are unique ignoring case, the same way on both
    /// backends (SQLite's `lower()` folds ASCII only, PostgreSQL's follows the locale).
    pub fn name_key(&self) -> String {
        name_key(&self.name)
    }

    /// Refuses what `decode_connection` would not read back, so the store never writes a row
    /// it then reports as invalid.
    pub(crate) fn check_writable(&self) -> Result<(), StoreError> {
        let invalid = |reason: &str| StoreError::RowInvalid {
            id: self.id.clone(),
            reason: reason.into(),
        };
        if self.id.is_empty() {
            return Err(invalid("empty id"));
        }
        if self.port == 0 {
            return Err(invalid("port out of range 1-65535"));
        }
        if matches!(&self.tls_mode, TlsSetting::Pinned(v) | TlsSetting::CustomCa(v) if v.is_empty())
        {
            return Err(invalid("tls mode without a value"));
        }
        Ok(())
    }
}

pub(crate) fn name_key(name: &str) -> String {
    name.to_lowercase()
}

/// PostgreSQL keeps microseconds; writing both backends at that precision makes a row read
/// back equal to what was written, whichever backend.
pub(crate) fn db_time(t: DateTime<Utc>) -> DateTime<Utc> {
    t.trunc_subsecs(6)
}

/// The current time at the precision the store keeps (microseconds), for timestamps a caller
/// shows before reading them back: a connection's `updatedAt` must not change across a restart
/// because the first answer had nanoseconds the database never held.
pub fn stored_now() -> DateTime<Utc> {
    db_time(Utc::now())
}

/// One audit event to append: who did what to which connection, and the names (never the
/// values) of the fields it changed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditEntry {
    pub at: DateTime<Utc>,
    pub actor: String,
    pub action: String,
    pub connection_id: Option<String>,
    pub fields: Vec<String>,
}

/// A stored audit event; `seq` grows with every append and is the paging cursor.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditRecord {
    pub seq: i64,
    pub at: DateTime<Utc>,
    pub actor: String,
    pub action: String,
    pub connection_id: Option<String>,
    pub fields: Vec<String>,
}

/// The columns every connection query selects, in the order `decode_connection` expects.
pub(crate) const CONNECTION_COLUMNS: &str = "id, name, host, port, username, password, enabled, \
     poll_interval_secs, tls_mode, tls_value, created_at, updated_at, version";

/// Reads one connection row. Any column that does not decode makes this row `RowInvalid`
/// (with its id), never the whole query.
pub(crate) fn decode_connection<'r, R>(row: &'r R) -> Result<ConnectionRow, StoreError>
where
    R: Row,
    &'r str: ColumnIndex<R>,
    String: Decode<'r, R::Database> + Type<R::Database>,
    Option<String>: Decode<'r, R::Database> + Type<R::Database>,
    i64: Decode<'r, R::Database> + Type<R::Database>,
    bool: Decode<'r, R::Database> + Type<R::Database>,
    Option<Vec<u8>>: Decode<'r, R::Database> + Type<R::Database>,
    DateTime<Utc>: Decode<'r, R::Database> + Type<R::Database>,
{
    let id: String = row.try_get("id").map_err(|e| StoreError::RowInvalid {
        id: "?".into(),
        reason: format!("id: {e}"),
    })?;
    let invalid = |reason: String| StoreError::RowInvalid {
        id: id.clone(),
        reason,
    };
    fn col<'r, R, T>(row: &'r R, name: &'static str) -> Result<T, String>
    where
        R: Row,
        &'r str: ColumnIndex<R>,
        T: Decode<'r, R::Database> + Type<R::Database>,
    {
        row.try_get(name).map_err(|e| format!("{name}: {e}"))
    }
    let parsed = (|| {
        let port: i64 = col(row, "port")?;
        let port = u16::try_from(port)
            .ok()
            .filter(|p| *p != 0)
            .ok_or_else(|| format!("port {port} out of range 1-65535"))?;
        let poll: i64 = col(row, "poll_interval_secs")?;
        let poll_interval_secs =
            u32::try_from(poll).map_err(|_| format!("poll interval {poll} out of range"))?;
        let mode: String = col(row, "tls_mode")?;
        let tls_mode = TlsSetting::from_columns(&mode, col(row, "tls_value")?)?;
        Ok::<_, String>(ConnectionRow {
            id: id.clone(),
            name: col(row, "name")?,
            host: col(row, "host")?,
            port,
            username: col(row, "username")?,
            password: col(row, "password")?,
            enabled: col(row, "enabled")?,
            poll_interval_secs,
            tls_mode,
            created_at: col(row, "created_at")?,
            updated_at: col(row, "updated_at")?,
            version: col(row, "version")?,
        })
    })();
    parsed.map_err(invalid)
}

/// Reads one audit row; `fields` is a JSON array of names.
pub(crate) fn decode_audit<'r, R>(row: &'r R) -> Result<AuditRecord, StoreError>
where
    R: Row,
    &'r str: ColumnIndex<R>,
    String: Decode<'r, R::Database> + Type<R::Database>,
    Option<String>: Decode<'r, R::Database> + Type<R::Database>,
    i64: Decode<'r, R::Database> + Type<R::Database>,
    DateTime<Utc>: Decode<'r, R::Database> + Type<R::Database>,
{
    let seq: i64 = row.try_get("seq").map_err(|e| StoreError::QueryFailed {
        reason: format!("audit seq: {e}"),
    })?;
    let invalid = |reason: String| StoreError::RowInvalid {
        id: format!("audit:{seq}"),
        reason,
    };
    let fields: String = row.try_get("fields").map_err(|e| invalid(e.to_string()))?;
    Ok(AuditRecord {
        seq,
        at: row.try_get("at").map_err(|e| invalid(e.to_string()))?,
        actor: row.try_get("actor").map_err(|e| invalid(e.to_string()))?,
        action: row.try_get("action").map_err(|e| invalid(e.to_string()))?,
        connection_id: row
            .try_get("connection_id")
            .map_err(|e| invalid(e.to_string()))?,
        fields: serde_json::from_str(&fields).map_err(|e| invalid(format!("fields: {e}")))?,
    })
}

pub(crate) fn encode_fields(fields: &[String]) -> String {
    serde_json::to_string(fields).expect("a list of strings serialises")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tls_columns_round_trip() {
        for t in [
            TlsSetting::Verify,
            TlsSetting::Pinned("AB:CD".into()),
            TlsSetting::CustomCa("-----BEGIN CERTIFICATE-----".into()),
            TlsSetting::Insecure,
        ] {
            let back = TlsSetting::from_columns(t.mode(), t.value().map(str::to_string)).unwrap();
            assert_eq!(back, t);
        }
        assert!(TlsSetting::from_columns("bogus", None)
            .unwrap_err()
            .contains("bogus"));
        assert!(TlsSetting::from_columns("pinned", None).is_err());
        assert!(TlsSetting::from_columns("custom_ca", Some(String::new())).is_err());
    }

    #[test]
    fn name_key_folds_unicode_case() {
        assert_eq!(name_key("Prod-ÄB"), name_key("prod-äb"));
    }

    #[test]
    fn debug_hides_password_bytes() {
        let row = ConnectionRow {
            id: "c".into(),
            name: "n".into(),
            host: "h".into(),
            port: 443,
            username: "u".into(),
            password: Some(vec![0xde, 0xad]),
            enabled: true,
            poll_interval_secs: 60,
            tls_mode: TlsSetting::Verify,
            created_at: Utc::now(),
            updated_at: Utc::now(),
            version: 1,
        };
        let text = format!("{row:?}");
        assert!(
            text.contains("password_set: true") && !text.contains("222"),
            "{text}"
        );
    }
}
