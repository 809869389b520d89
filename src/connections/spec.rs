//! What a connection is: the saved settings operators see (never the password), where they
//! came from, and everything the registry needs to (re)start it.

use chrono::{DateTime, Utc};

use super::input;
pub use crate::store::TlsSetting;
use crate::vcenter::ClientConfig;

/// Where a connection was defined.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    /// The config file: read-only to mutations, so GitOps users keep their file.
    Config,
    /// Created through GraphQL and kept in the store.
    Api,
}

/// A saved connection as operators see it: everything but the password.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SavedConnection {
    /// Stable id.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Lower-cased host name or address (IPv6 in brackets).
    pub host: String,
    pub port: u16,
    pub username: String,
    /// Whether a password is stored (it is never shown).
    pub password_set: bool,
    /// A disabled connection holds no session and contributes nothing.
    pub enabled: bool,
    /// How often events, tasks and metrics are polled.
    pub poll_interval_secs: u32,
    pub tls: TlsSetting,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Optimistic concurrency: every change increments it.
    pub version: i64,
}

impl SavedConnection {
    /// A connection known only by id and name (no endpoint): a slot fed from elsewhere, or a
    /// stored row that could not be read.
    pub fn placeholder(id: &str, name: &str) -> SavedConnection {
        let now = Utc::now();
        SavedConnection {
            id: id.to_string(),
            name: name.to_string(),
            host: String::new(),
            port: 443,
            username: String::new(),
            password_set: false,
            enabled: true,
            poll_interval_secs: input::POLL_DEFAULT,
            tls: TlsSetting::Verify,
            created_at: now,
            updated_at: now,
            version: 0,
        }
    }

    /// `https://HOST:PORT`.
    pub fn url(&self) -> String {
        format!("https://{}:{}", self.host, self.port)
    }
}

/// Why a saved connection cannot run (its secret does not decrypt, its row is damaged): the
/// connection is shown failed with this class; every other connection keeps working.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unusable {
    pub class: String,
    pub message: String,
}

/// What a connection is: everything needed to (re)start it.
#[derive(Clone, Debug)]
pub struct ConnectionSpec {
    pub saved: SavedConnection,
    pub source: Source,
    /// Endpoint, credentials and TLS trust; `Err` when they cannot be had.
    pub client: Result<ClientConfig, Unusable>,
}

impl ConnectionSpec {
    /// The connection id.
    pub fn id(&self) -> &str {
        &self.saved.id
    }

    /// Whether going from `self` to `next` needs new sessions (anything but the name).
    pub(super) fn needs_new_sessions(&self, next: &ConnectionSpec) -> bool {
        let same_client = match (&self.client, &next.client) {
            (Ok(a), Ok(b)) => {
                a.url == b.url
                    && a.username == b.username
                    && a.password.expose() == b.password.expose()
                    && a.tls == b.tls
            }
            _ => false,
        };
        !same_client
            || self.saved.enabled != next.saved.enabled
            || self.saved.poll_interval_secs != next.saved.poll_interval_secs
    }
}
