//! The composition root of `serve`: the store (saved connections, sealed secrets, audit), the
//! connection registry (config-file connections, then saved ones), the GraphQL server over
//! them, and an orderly shutdown: stop accepting, finish in-flight requests, stop collectors,
//! log vCenter sessions out.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use chrono::Utc;
use futures::future::BoxFuture;

use crate::collector::outlet::{HistoryError, HistorySink, Retention};
use crate::collector::CollectorConfig;
use crate::config::{ConfigError, ServiceConfig, StoreSettings, SECRET_KEY_ENV};
use crate::connections::onboarding::{Draft, Onboarding, OnboardingError};
use crate::connections::{
    input, ConnectionSpec, Registry, RegistryError, SavedConnection, Source, TlsSetting,
};
use crate::ondemand::BudgetSettings;
use crate::server::{self, Access, AppState, Counters};
use crate::simulator::{Profile, SimConfig, Simulator};
use crate::store::{
    AuditEntry, KeyMaterial, KeySource, SecretError, StagedKeyFile, Store, StoreError,
    StoreLocation,
};

/// A running service: its connections, the onboarding over them and, in demo mode, the
/// simulator behind them.
pub struct Service {
    pub registry: Arc<Registry>,
    pub onboarding: Arc<Onboarding>,
    pub demo: Option<Simulator>,
    /// A data directory to delete on shutdown (the demo's).
    scratch: Option<PathBuf>,
    /// Keeps the store's health current.
    store_watch: tokio::task::JoinHandle<()>,
    /// Applies other replicas' connection writes (PostgreSQL only).
    replicas: Option<tokio::task::JoinHandle<()>>,
}

/// The store as the collectors' history: their incidents, events and tasks.
struct StoreHistory(Store);

impl HistorySink for StoreHistory {
    fn resume<'a>(
        &'a self,
        connection: &'a str,
    ) -> BoxFuture<'a, Result<crate::inventory::incidents::Resume, HistoryError>> {
        Box::pin(async move {
            self.0
                .history_resume(connection)
                .await
                .map_err(|e| HistoryError(e.to_string()))
        })
    }

    fn write<'a>(
        &'a self,
        connection: &'a str,
        batch: &'a crate::inventory::incidents::HistoryBatch,
    ) -> BoxFuture<'a, Result<(), HistoryError>> {
        Box::pin(async move {
            self.0
                .write_history(connection, batch)
                .await
                .map_err(|e| HistoryError(e.to_string()))
        })
    }

    fn prune<'a>(
        &'a self,
        connection: &'a str,
        before: chrono::DateTime<Utc>,
        limit: usize,
    ) -> BoxFuture<'a, Result<u64, HistoryError>> {
        Box::pin(async move {
            self.0
                .prune_history(connection, before, limit)
                .await
                .map_err(|e| HistoryError(e.to_string()))
        })
    }
}

/// How often the store is pinged for its health.
pub const STORE_PING_EVERY: std::time::Duration = std::time::Duration::from_secs(5);

/// Why the service could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Registry(#[from] RegistryError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Secret(#[from] SecretError),
    #[error("onboarding_failed: {0}")]
    Onboarding(#[from] OnboardingError),
    #[error("data_dir_unusable: cannot create {path}: {reason}")]
    DataDir { path: String, reason: String },
    #[error("demo_failed: the demo vCenter did not start: {0}")]
    Demo(String),
    #[error("listen_failed: {0}")]
    Listen(String),
    #[error(
        "auth_required: {0} is not a loopback address and no credential is configured; add \
         [auth] tokens or a JWT key (docs/security.md), or listen on 127.0.0.1"
    )]
    AuthRequired(SocketAddr),
}

impl Service {
    /// Opens the store (migrating it), loads the secret key (creating a key file on first
    /// run), registers `config` connections, then every saved one. A vCenter that is down does
    /// not fail the start (it is retried); a store that cannot be opened does.
    pub async fn start(
        settings: &StoreSettings,
        config: Vec<ConnectionSpec>,
        collector: CollectorConfig,
        ondemand: BudgetSettings,
    ) -> Result<Service, StartError> {
        std::fs::create_dir_all(&settings.data_dir).map_err(|e| StartError::DataDir {
            path: settings.data_dir.display().to_string(),
            reason: e.to_string(),
        })?;
        let store = Store::open(&settings.location).await?;
        let (cipher, source) =
            crate::store::load_or_create_key(secret_key_env().as_deref(), &settings.key_file)?;
        if let KeySource::Created(path) = &source {
            tracing::warn!(path = %path.display(), "created a new secret key file; back it up: saved passwords cannot be read without it");
        }
        tracing::info!(backend = store.backend(), "store open");
        let history = crate::collector::History {
            sink: Arc::new(StoreHistory(store.clone())),
            retention: Retention {
                keep: chrono::Duration::days(i64::from(settings.history_days)),
                ..Retention::default()
            },
        };
        let registry = Registry::with_history(collector, ondemand, Some(history));
        for spec in config {
            if let Err(e) = registry.add(spec).await {
                registry.shutdown().await;
                return Err(e.into());
            }
        }
        let onboarding = Onboarding::new(registry.clone(), store, cipher);
        if let Err(e) = onboarding.load().await {
            registry.shutdown().await;
            return Err(e.into());
        }
        let store_watch = onboarding.watch_store(STORE_PING_EVERY);
        let replicas = onboarding.follow_replicas().await;
        Ok(Service {
            registry,
            onboarding,
            demo: None,
            scratch: None,
            store_watch,
            replicas,
        })
    }

    /// The connections of a config file, read-only to onboarding (disabled ones included,
    /// shown as disabled).
    pub fn connections_of(cfg: &ServiceConfig) -> Result<Vec<ConnectionSpec>, StartError> {
        let started = Utc::now();
        cfg.connections
            .iter()
            .map(|c| {
                let client = c.client_config()?;
                let url = url::Url::parse(&c.url)
                    .map_err(|e| ConfigError::Invalid(format!("connection {}: url: {e}", c.id)))?;
                let tls = TlsSetting::from(&client.tls);
                Ok(ConnectionSpec {
                    saved: SavedConnection {
                        id: c.id.clone(),
                        name: c.display_name().to_string(),
                        host: url.host_str().unwrap_or_default().to_ascii_lowercase(),
                        port: url.port_or_known_default().unwrap_or(443),
                        username: c.username.clone(),
                        password_set: true,
                        enabled: c.enabled,
                        poll_interval_secs: c.poll_interval_seconds.unwrap_or(input::POLL_DEFAULT),
                        tls,
                        created_at: started,
                        updated_at: started,
                        version: 1,
                    },
                    source: Source::Config,
                    client: Ok(client),
                })
            })
            .collect()
    }

    /// The built-in simulator with a demo inventory that changes, on an embedded store in a
    /// fresh scratch directory, its connection created through onboarding like any other.
    pub async fn demo(collector: CollectorConfig) -> Result<Service, StartError> {
        let mut sim_cfg = SimConfig::with_profile(Profile::Small);
        sim_cfg.size.vms = 120;
        sim_cfg.size.hosts = 8;
        sim_cfg.change_rate = 0.5;
        let sim = Simulator::start(sim_cfg)
            .await
            .map_err(|e| StartError::Demo(e.to_string()))?;
        let dir = std::env::temp_dir().join(format!(
            "pulse-vsphere-demo-{}-{}",
            std::process::id(),
            Utc::now().timestamp_nanos_opt().unwrap_or_default()
        ));
        let settings = StoreSettings {
            location: StoreLocation::Sqlite {
                data_dir: dir.clone(),
            },
            key_file: dir.join("secret.key"),
            data_dir: dir.clone(),
            history_days: crate::config::HISTORY_DAYS_DEFAULT,
        };
        let mut s =
            Service::start(&settings, Vec::new(), collector, BudgetSettings::default()).await?;
        s.scratch = Some(dir);
        let url = url::Url::parse(&sim.base_url()).map_err(|e| StartError::Demo(e.to_string()))?;
        let draft = Draft {
            name: Some("Demo vCenter (simulated)".into()),
            host: url.host_str().map(str::to_string),
            port: url.port().map(i32::from),
            username: Some("admin".into()),
            password: Some("admin".into()),
            tls_mode: Some(input::TrustMode::Pinned),
            tls_thumbprint: Some(sim.thumbprint()),
            ..Draft::default()
        };
        if let Err(e) = s.onboarding.create("demo", &draft).await {
            s.shutdown().await;
            return Err(e.into());
        }
        s.demo = Some(sim);
        Ok(s)
    }

    /// Stops collectors (logging their sessions out), closes the store, stops the demo
    /// simulator and removes its scratch directory.
    pub async fn shutdown(self) {
        self.store_watch.abort();
        if let Some(r) = &self.replicas {
            r.abort();
        }
        self.registry.shutdown().await;
        self.onboarding.store().close().await;
        if let Some(sim) = self.demo {
            sim.shutdown().await;
        }
        if let Some(dir) = self.scratch {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

/// The key text of `PULSE_VSPHERE_SECRET_KEY`; empty counts as unset (as an empty line in a
/// systemd environment file means "not configured").
fn secret_key_env() -> Option<String> {
    std::env::var(SECRET_KEY_ENV).ok().filter(|v| !v.is_empty())
}

/// What `secrets rotate-key` did.
#[derive(Debug)]
pub struct Rotation {
    /// Passwords re-sealed.
    pub rotated: usize,
    /// Fingerprint of the key now in use ([`crate::store::Cipher::key_id`]).
    pub key_id: String,
    /// Fingerprint of the key it replaced.
    pub old_key_id: String,
    /// Where the old key came from: `File` means the new key is now in that file; `Env` means
    /// the operator must put the new key in `PULSE_VSPHERE_SECRET_KEY` before the next start.
    pub old_key_source: KeySource,
}

/// Why a rotation failed. Every variant but `KeyNotSaved` means nothing changed.
#[derive(Debug, thiserror::Error)]
pub enum RotateError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Secret(#[from] SecretError),
    /// The store was re-sealed but the key file could not be replaced: the new key is only in
    /// the staged file, which must be moved into place before the next start.
    #[error(
        "secret_key_not_saved: the store now uses key {key_id}, but {key_file} could not be          replaced ({reason}); the new key is in {staged}: move it to {key_file} before starting          the service"
    )]
    KeyNotSaved {
        key_id: String,
        key_file: String,
        staged: String,
        reason: String,
    },
}

/// Re-seals every saved password of the store in `settings` under `new_key`, in one
/// transaction. The current key comes the way `serve` loads it (`PULSE_VSPHERE_SECRET_KEY`,
/// else the key file); a key file is never created here, since a new key opens nothing stored.
/// When the current key came from the key file, the new key replaces it (atomically, mode
/// 0600) once the store has committed, so the next `serve` reads the new key.
///
/// Run it with the service stopped: a running service keeps sealing new passwords with the key
/// it loaded at start.
///
/// # Errors
/// `secret_key_missing`/`_invalid`/`_unreadable` for the current key, `secret_unreadable`
/// naming the first connection whose password does not open with it, `store_*`,
/// `secret_key_uncreatable` when no key file can be written next to the current one; in all of
/// these nothing changed. `secret_key_not_saved` when the store committed but the key file
/// could not be replaced.
pub async fn rotate_key(
    settings: &StoreSettings,
    new_key: &KeyMaterial,
) -> Result<Rotation, RotateError> {
    let (old, source) = crate::store::load_key(secret_key_env().as_deref(), &settings.key_file)?;
    // Opening would create an empty store: with a mistyped data directory the rotation would
    // "succeed" on nothing and hand the operator a key that opens nothing they have.
    if let Some(file) = settings.location.sqlite_file() {
        if !file.exists() {
            return Err(StoreError::Unavailable {
                reason: format!(
                    "no store at {}: nothing to rotate (check {} or the config's store.data_dir)",
                    file.display(),
                    crate::store::DATA_DIR_ENV
                ),
            }
            .into());
        }
    }
    // Staged before the store is even opened, so an unwritable key directory fails with
    // nothing done; dropped on any error below, the staged file is removed.
    let staged = match &source {
        KeySource::File(path) => Some(StagedKeyFile::stage(path, new_key)?),
        KeySource::Env | KeySource::Created(_) => None,
    };
    let store = Store::open(&settings.location).await?;
    let rotated = match store.rotate_key(&old, new_key.cipher()).await {
        Ok(n) => n,
        Err(e) => {
            store.close().await;
            return Err(e.into());
        }
    };
    let key_id = new_key.cipher().key_id().to_string();
    let entry = AuditEntry {
        at: Utc::now(),
        actor: "local operator (secrets rotate-key)".into(),
        action: "rotate_key".into(),
        connection_id: None,
        fields: vec!["password".into()],
    };
    // The rotation is committed; an audit entry that cannot be written is logged, not undone.
    if let Err(e) = store.append_audit(&entry).await {
        tracing::error!(error = %e, "audit entry of the key rotation not written");
    }
    store.close().await;
    if let Some(staged) = staged {
        let staged_path = staged.staged_path().display().to_string();
        staged.commit().map_err(|e| RotateError::KeyNotSaved {
            key_id: key_id.clone(),
            key_file: settings.key_file.display().to_string(),
            staged: staged_path,
            reason: match e {
                SecretError::KeyUncreatable { reason, .. } => reason,
                other => other.to_string(),
            },
        })?;
    }
    tracing::info!(
        rotated,
        old_key_id = old.key_id(),
        key_id = %key_id,
        "saved passwords re-sealed under the new key"
    );
    Ok(Rotation {
        rotated,
        key_id,
        old_key_id: old.key_id().to_string(),
        old_key_source: source,
    })
}

/// Serves GraphQL for `service` on `listen` until `shutdown` resolves; prints the URL first.
/// With no credential configured it binds loopback only: anyone who can reach it acts as admin.
pub async fn run(
    service: Service,
    listen: SocketAddr,
    access: Access,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), StartError> {
    if !access.is_configured() && !listen.ip().is_loopback() {
        service.shutdown().await;
        return Err(StartError::AuthRequired(listen));
    }
    let listener = match tokio::net::TcpListener::bind(listen).await {
        Ok(l) => l,
        Err(e) => {
            service.shutdown().await;
            return Err(StartError::Listen(format!(
                "cannot listen on {listen}: {e}"
            )));
        }
    };
    serve(service, listener, access, shutdown, true).await
}

/// Serves GraphQL for `service` on a bound `listener` until `shutdown` resolves, then shuts
/// the service down. With `announce`, prints the JSON line saying where, once everything but
/// the accept loop is built: whoever waits for the line may signal the process right away.
pub async fn serve(
    service: Service,
    listener: tokio::net::TcpListener,
    access: Access,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    announce: bool,
) -> Result<(), StartError> {
    let addr = listener
        .local_addr()
        .map_err(|e| StartError::Listen(e.to_string()))?;
    let state = AppState {
        schemas: crate::graphql::SchemaDeps {
            registry: service.registry.clone(),
            onboarding: Some(service.onboarding.clone()),
        }
        .schemas(),
        registry: service.registry.clone(),
        counters: Arc::new(Counters::default()),
        access: Arc::new(access),
    };
    if announce {
        let line = serde_json::json!({
            "graphql": format!("http://{addr}/graphql"),
            "connections": service.registry.slots().iter().map(|s| s.id.clone()).collect::<Vec<_>>(),
            "store": service.onboarding.store().backend(),
            "demo_vcenter": service.demo.as_ref().map(|s| s.base_url()),
        });
        println!("{line}");
        tracing::info!(%addr, "serving GraphQL");
    }
    let result = server::run(listener, server::app(state), shutdown).await;
    service.shutdown().await;
    result.map_err(|e| StartError::Listen(e.to_string()))
}
