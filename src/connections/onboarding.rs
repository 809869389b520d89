//! Onboarding: the platform-connections workflow for vCenter. Validates what an operator
//! typed, keeps saved connections in the store (password sealed), applies every change to the
//! registry, tests drafts and saved connections with the same connection test as `check`, and
//! writes an audit entry for each change. Connections from the config file are shown but
//! read-only here.

use std::sync::Arc;

use chrono::Utc;

use super::input::{self, InputError, TrustMode};
use super::store_health::{StoreHealth, StoreWatch};
use super::{ConnectionSpec, Registry, RegistryError, SavedConnection, Source, Unusable};
use crate::store::{
    stored_now, AuditEntry, AuditRecord, Cipher, ConnectionRow, Store, StoreError, TlsSetting,
};
use crate::vcenter::check::run_check;
/// The report of a connection test, as onboarding returns it.
pub use crate::vcenter::check::{CheckReport, Verdict};
use crate::vcenter::{ClientConfig, Secret, TlsMode};

/// What the password field of an update holds when the form shows the stored one masked.
pub const PASSWORD_MASK: &str = "********";

mod replicas;
pub use replicas::{Resync, RESYNC_EVERY};

/// The form's fields, each optional: create requires some, update and overlay keep the stored
/// value of every field left out.
#[derive(Clone, Debug, Default)]
pub struct Draft {
    pub name: Option<String>,
    pub host: Option<String>,
    pub port: Option<i32>,
    pub username: Option<String>,
    /// Write-only; `None` or [`PASSWORD_MASK`] keep the stored password.
    pub password: Option<String>,
    pub enabled: Option<bool>,
    pub poll_interval_seconds: Option<i32>,
    pub tls_mode: Option<TrustMode>,
    pub tls_thumbprint: Option<String>,
    pub tls_ca_pem: Option<String>,
}

impl Draft {
    /// Names of the fields given (for the audit log: names, never values).
    fn given(&self) -> Vec<String> {
        [
            ("name", self.name.is_some()),
            ("host", self.host.is_some()),
            ("port", self.port.is_some()),
            ("username", self.username.is_some()),
            (
                "password",
                self.password.as_deref().is_some_and(|p| p != PASSWORD_MASK),
            ),
            ("enabled", self.enabled.is_some()),
            ("pollIntervalSeconds", self.poll_interval_seconds.is_some()),
            ("tlsMode", self.tls_mode.is_some()),
            ("tlsThumbprint", self.tls_thumbprint.is_some()),
            ("tlsCaPem", self.tls_ca_pem.is_some()),
        ]
        .iter()
        .filter(|(_, g)| *g)
        .map(|(n, _)| n.to_string())
        .collect()
    }
}

/// Why an onboarding request was refused. Never carries a secret.
#[derive(Debug, thiserror::Error)]
pub enum OnboardingError {
    #[error(transparent)]
    Input(#[from] InputError),
    #[error("conflict: connection {id} changed since version {expected}; read it again")]
    Conflict { id: String, expected: i64 },
    #[error("not_found: no connection {0}")]
    NotFound(String),
    #[error("read_only: connection {0} comes from the config file; change it there")]
    ReadOnly(String),
    #[error("store: {0}")]
    Store(StoreError),
    #[error("registry: {0}")]
    Registry(#[from] RegistryError),
}

impl From<StoreError> for OnboardingError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Conflict { id, expected, .. } => OnboardingError::Conflict { id, expected },
            StoreError::NotFound { id } => OnboardingError::NotFound(id),
            StoreError::NameTaken { .. } => OnboardingError::Input(InputError {
                field: "name",
                message: "another connection has this name (names ignore case)".into(),
            }),
            other => OnboardingError::Store(other),
        }
    }
}

/// The onboarding service over one store and one registry.
pub struct Onboarding {
    registry: Arc<Registry>,
    store: Store,
    cipher: Cipher,
    /// Store and registry change together; one change at a time keeps them in step.
    lock: tokio::sync::Mutex<()>,
    watch: StoreWatch,
}

impl std::fmt::Debug for Onboarding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Onboarding")
            .field("store", &self.store.backend())
            .finish()
    }
}

fn trust_mode(t: &TlsSetting) -> TrustMode {
    match t {
        TlsSetting::Verify => TrustMode::Verify,
        TlsSetting::Pinned(_) => TrustMode::Pinned,
        TlsSetting::CustomCa(_) => TrustMode::CustomCa,
        TlsSetting::Insecure => TrustMode::Insecure,
    }
}

/// The saved view of a stored row (no password).
fn saved_of(row: &ConnectionRow) -> SavedConnection {
    SavedConnection {
        id: row.id.clone(),
        name: row.name.clone(),
        host: row.host.clone(),
        port: row.port,
        username: row.username.clone(),
        password_set: row.password.is_some(),
        enabled: row.enabled,
        poll_interval_secs: row.poll_interval_secs,
        tls: row.tls_mode.clone(),
        created_at: row.created_at,
        updated_at: row.updated_at,
        version: row.version,
    }
}

/// A stored row laid over with a draft: validated field by field; the result and its password.
struct Merged {
    row: ConnectionRow,
    password: Option<Secret>,
}

impl Onboarding {
    pub fn new(registry: Arc<Registry>, store: Store, cipher: Cipher) -> Arc<Onboarding> {
        Arc::new(Onboarding {
            watch: StoreWatch::new(store.backend()),
            registry,
            store,
            cipher,
            lock: tokio::sync::Mutex::default(),
        })
    }

    /// The registry it changes.
    pub fn registry(&self) -> &Arc<Registry> {
        &self.registry
    }

    /// The store it writes.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Whether the store answers.
    pub fn store_health(&self) -> StoreHealth {
        self.watch.health()
    }

    /// Records a store call's outcome and passes it on.
    fn seen<T>(&self, r: Result<T, StoreError>) -> Result<T, StoreError> {
        self.watch.observe(&r);
        r
    }

    /// Pings the store every `every` until the returned task is aborted, so its health is
    /// current while nobody writes.
    pub fn watch_store(
        self: &Arc<Self>,
        every: std::time::Duration,
    ) -> tokio::task::JoinHandle<()> {
        let me = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                let r = me.store.ping().await;
                if let Err(e) = &r {
                    tracing::warn!(error = %e, "the store does not answer; collecting and serving go on, onboarding changes fail until it is back");
                }
                me.watch.observe(&r);
            }
        })
    }

    /// Registers every connection of the store. A row that does not decode or whose password
    /// does not decrypt is registered failed with its class; the others start normally.
    ///
    /// # Errors
    /// The store cannot be read at all.
    pub async fn load(&self) -> Result<usize, OnboardingError> {
        let _g = self.lock.lock().await;
        let rows = self.seen(self.store.list_connections().await)?;
        let n = rows.len();
        for row in rows {
            let spec = match row {
                Ok(row) => self.spec_of(&row),
                Err(StoreError::RowInvalid { id, reason }) => invalid_spec(&id, &reason),
                Err(e) => return Err(e.into()),
            };
            if let Err(e) = self.registry.add(spec).await {
                tracing::warn!(error = %e, "a stored connection could not be registered");
            }
        }
        Ok(n)
    }

    /// The registry spec of a stored row: its password opened now.
    fn spec_of(&self, row: &ConnectionRow) -> ConnectionSpec {
        let saved = saved_of(row);
        let client = match &row.password {
            None => Err(Unusable {
                class: "auth_invalid".into(),
                message: "no password is stored".into(),
            }),
            Some(sealed) => match self.cipher.open(&row.id, sealed) {
                Ok(pw) => Ok(ClientConfig::new(
                    &saved.url(),
                    &row.username,
                    pw,
                    TlsMode::from(&row.tls_mode),
                )),
                Err(e) => {
                    tracing::warn!(connection = %row.id, error = %e, "a stored password does not decrypt");
                    Err(Unusable {
                        class: "secret_unreadable".into(),
                        message: "the stored password does not decrypt with this key (wrong key or damaged row); enter the password again or restore the key".into(),
                    })
                }
            },
        };
        ConnectionSpec {
            saved,
            source: Source::Api,
            client,
        }
    }

    /// Lays `draft` over `base` (a stored row, or an empty one for a create), checking every
    /// field given and every field a create requires.
    fn merge(
        &self,
        base: Option<&ConnectionRow>,
        draft: &Draft,
        id: &str,
    ) -> Result<Merged, OnboardingError> {
        let creating = base.is_none();
        let required = |field: &'static str| InputError {
            field,
            message: "is required".into(),
        };
        let name = match (&draft.name, base) {
            (Some(n), _) => input::name(n)?,
            (None, Some(b)) => b.name.clone(),
            (None, None) => return Err(required("name").into()),
        };
        let (host, host_port) = match (&draft.host, base) {
            (Some(h), _) => input::host(h)?,
            (None, Some(b)) => (b.host.clone(), None),
            (None, None) => return Err(required("host").into()),
        };
        let port = match (draft.port, host_port, base) {
            (None, None, Some(b)) => b.port,
            (p, hp, _) => input::port(p, hp)?,
        };
        let username = match (&draft.username, base) {
            (Some(u), _) => input::username(u)?,
            (None, Some(b)) => b.username.clone(),
            (None, None) => return Err(required("username").into()),
        };
        let password = match draft.password.as_deref() {
            Some(p) if p != PASSWORD_MASK => Some(Secret::new(input::password(p)?)),
            _ => match base.and_then(|b| b.password.as_ref().map(|s| (b, s))) {
                Some((b, sealed)) => {
                    Some(self.cipher.open(&b.id, sealed).map_err(|_| InputError {
                        field: "password",
                        message: "the stored password does not decrypt; enter it again".into(),
                    })?)
                }
                None if creating => return Err(required("password").into()),
                None => None,
            },
        };
        let poll = match (draft.poll_interval_seconds, base) {
            (None, Some(b)) => b.poll_interval_secs,
            (p, _) => input::poll_interval(p)?,
        };
        let tls = match (
            draft.tls_mode,
            &draft.tls_thumbprint,
            &draft.tls_ca_pem,
            base,
        ) {
            (None, None, None, Some(b)) => b.tls_mode.clone(),
            (mode, tp, ca, b) => {
                // Changing only the value keeps the stored mode; a new mode needs its own value.
                let mode = mode
                    .or_else(|| b.map(|b| trust_mode(&b.tls_mode)))
                    .unwrap_or(TrustMode::Verify);
                TlsSetting::from(&input::trust(mode, tp.as_deref(), ca.as_deref())?)
            }
        };
        let now = stored_now();
        let row = ConnectionRow {
            id: id.to_string(),
            name,
            host,
            port,
            username,
            password: password.as_ref().map(|p| self.cipher.seal(id, p.expose())),
            enabled: draft
                .enabled
                .unwrap_or_else(|| base.is_none_or(|b| b.enabled)),
            poll_interval_secs: poll,
            tls_mode: tls,
            created_at: base.map_or(now, |b| b.created_at),
            updated_at: now,
            version: base.map_or(1, |b| b.version + 1),
        };
        Ok(Merged { row, password })
    }

    /// Names are unique across the store and the config file, ignoring case.
    fn check_name_free(&self, name: &str, id: &str) -> Result<(), OnboardingError> {
        let taken = self.registry.connections().iter().any(|c| {
            c.spec().id() != id && c.spec().saved.name.to_lowercase() == name.to_lowercase()
        });
        if taken {
            return Err(InputError {
                field: "name",
                message: "another connection has this name (names ignore case)".into(),
            }
            .into());
        }
        Ok(())
    }

    fn api_only(&self, id: &str) -> Result<(), OnboardingError> {
        match self.registry.get(id) {
            Some(c) if c.spec().source == Source::Config => {
                Err(OnboardingError::ReadOnly(id.to_string()))
            }
            _ => Ok(()),
        }
    }

    async fn audit(&self, actor: &str, action: &str, id: &str, fields: Vec<String>) {
        let entry = AuditEntry {
            at: Utc::now(),
            actor: actor.to_string(),
            action: action.to_string(),
            connection_id: Some(id.to_string()),
            fields,
        };
        // The change itself is done; an audit write that fails is logged, not undone.
        // The change itself is done and is not undone; the entry goes to the log instead, whole
        // (names of fields only), so the record is not lost.
        if let Err(e) = self.seen(self.store.append_audit(&entry).await) {
            tracing::error!(error = %e, actor, action, connection = id, fields = ?entry.fields, "audit entry not written to the store");
        }
    }

    /// Saves a new connection and starts it.
    ///
    /// # Errors
    /// Input errors per field, a taken name, the store.
    pub async fn create(
        &self,
        actor: &str,
        draft: &Draft,
    ) -> Result<SavedConnection, OnboardingError> {
        let _g = self.lock.lock().await;
        let id = uuid::Uuid::new_v4().to_string();
        let merged = self.merge(None, draft, &id)?;
        self.check_name_free(&merged.row.name, &id)?;
        self.seen(self.store.insert_connection(&merged.row).await)?;
        let spec = self.spec_of(&merged.row);
        self.registry.add(spec).await?;
        self.audit(actor, "create", &id, draft.given()).await;
        Ok(saved_of(&merged.row))
    }

    /// Changes a saved connection if it is still at `version`.
    ///
    /// # Errors
    /// `Conflict` for a stale version, `NotFound`, `ReadOnly` for config connections, input.
    pub async fn update(
        &self,
        actor: &str,
        id: &str,
        version: i64,
        draft: &Draft,
    ) -> Result<SavedConnection, OnboardingError> {
        let _g = self.lock.lock().await;
        self.api_only(id)?;
        let base = self.stored(id, version).await?;
        let merged = self.merge(Some(&base), draft, id)?;
        self.check_name_free(&merged.row.name, id)?;
        self.seen(self.store.update_connection(&merged.row, version).await)?;
        self.registry.update(self.spec_of(&merged.row)).await?;
        self.audit(actor, "update", id, draft.given()).await;
        Ok(saved_of(&merged.row))
    }

    /// Enables or disables a saved connection.
    ///
    /// # Errors
    /// As [`Onboarding::update`].
    pub async fn set_enabled(
        &self,
        actor: &str,
        id: &str,
        version: i64,
        enabled: bool,
    ) -> Result<SavedConnection, OnboardingError> {
        let draft = Draft {
            enabled: Some(enabled),
            ..Draft::default()
        };
        let _g = self.lock.lock().await;
        self.api_only(id)?;
        let base = self.stored(id, version).await?;
        let mut row = base.clone();
        row.enabled = draft.enabled.unwrap_or(base.enabled);
        row.updated_at = stored_now();
        row.version = base.version + 1;
        self.seen(self.store.update_connection(&row, version).await)?;
        self.registry.update(self.spec_of(&row)).await?;
        let action = if enabled { "enable" } else { "disable" };
        self.audit(actor, action, id, vec!["enabled".into()]).await;
        Ok(saved_of(&row))
    }

    /// Deletes a saved connection: its sessions are logged out and its resources leave the
    /// graph.
    ///
    /// # Errors
    /// `Conflict`, `NotFound`, `ReadOnly`.
    pub async fn delete(&self, actor: &str, id: &str, version: i64) -> Result<(), OnboardingError> {
        let _g = self.lock.lock().await;
        self.api_only(id)?;
        self.seen(self.store.delete_connection(id, version).await)?;
        if let Err(e) = self.registry.remove(id).await {
            tracing::warn!(error = %e, "deleted connection was not registered");
        }
        self.audit(actor, "delete", id, Vec::new()).await;
        Ok(())
    }

    /// The stored row of `id` at `version` (`Conflict` when it moved on).
    async fn stored(&self, id: &str, version: i64) -> Result<ConnectionRow, OnboardingError> {
        let row = self
            .seen(self.store.get_connection(id).await)?
            .ok_or_else(|| OnboardingError::NotFound(id.to_string()))?;
        if row.version != version {
            return Err(OnboardingError::Conflict {
                id: id.to_string(),
                expected: version,
            });
        }
        Ok(row)
    }

    /// The connection test of a draft that is never saved.
    ///
    /// # Errors
    /// Input errors per field.
    pub async fn test_draft(&self, draft: &Draft) -> Result<CheckReport, OnboardingError> {
        let merged = self.merge(None, draft, "draft")?;
        Ok(run_check(client_of(&merged)).await)
    }

    /// The connection test of a saved connection with `overlay` laid over it (never saved);
    /// the stored password is used unless the overlay gives one.
    ///
    /// # Errors
    /// `NotFound`, input errors, an unreadable stored secret (as an input error on password).
    pub async fn test_saved(
        &self,
        id: &str,
        overlay: &Draft,
    ) -> Result<CheckReport, OnboardingError> {
        let base = self
            .seen(self.store.get_connection(id).await)?
            .ok_or_else(|| OnboardingError::NotFound(id.to_string()))?;
        let merged = self.merge(Some(&base), overlay, id)?;
        Ok(run_check(client_of(&merged)).await)
    }

    /// A page of the audit log, newest first.
    ///
    /// # Errors
    /// The store.
    pub async fn audit_page(
        &self,
        first: usize,
        before: Option<i64>,
    ) -> Result<Vec<AuditRecord>, OnboardingError> {
        Ok(self.seen(self.store.audit_page(first, before).await)?)
    }
}

fn client_of(m: &Merged) -> ClientConfig {
    ClientConfig::new(
        &format!("https://{}:{}", m.row.host, m.row.port),
        &m.row.username,
        m.password.clone().unwrap_or_else(|| Secret::new("")),
        TlsMode::from(&m.row.tls_mode),
    )
}

/// A row the store could not decode: registered failed so the operator sees it.
fn invalid_spec(id: &str, reason: &str) -> ConnectionSpec {
    ConnectionSpec {
        saved: SavedConnection::placeholder(id, id),
        source: Source::Api,
        client: Err(Unusable {
            class: "store_row_invalid".into(),
            message: format!("the stored connection cannot be read: {reason}"),
        }),
    }
}
