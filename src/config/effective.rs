//! `pulse-vsphere config check`: the configuration as `serve` would run it, every secret source
//! read and checked but never printed, so an operator can validate a file before a restart.

use std::path::Path;

use serde_json::{json, Value};

use super::{ConfigError, ConnectionConfig, ServiceConfig, DATA_DIR_ENV, STORE_URL_ENV};

/// Loads and checks `path` as `serve --config` does (the file, the store location, every
/// password, token and key source), without opening the store or reaching a vCenter.
///
/// # Errors
/// The first problem, with the code `serve` would stop with.
pub fn check(path: &Path) -> Result<Value, ConfigError> {
    let cfg = ServiceConfig::load(path)?;
    effective(&cfg)
}

/// The effective configuration of `cfg`, secrets replaced by where they come from.
///
/// # Errors
/// A secret source that is missing, empty or unreadable, or a store URL that is not one.
pub fn effective(cfg: &ServiceConfig) -> Result<Value, ConfigError> {
    let store = cfg.store.settings()?;
    crate::auth::Authenticator::from_config(&cfg.auth)?;
    let connections = cfg
        .connections
        .iter()
        .map(|c| c.client_config().map(|_| connection(c)))
        .collect::<Result<Vec<_>, _>>()?;
    let location = match &store.location {
        crate::store::StoreLocation::Sqlite { data_dir } => {
            json!({"backend": "sqlite", "data_dir": data_dir})
        }
        crate::store::StoreLocation::Postgres { url } => {
            json!({"backend": "postgres", "url": redacted_url(url)})
        }
    };
    let key = if std::env::var_os(super::SECRET_KEY_ENV).is_some_and(|v| !v.is_empty()) {
        format!("environment variable {}", super::SECRET_KEY_ENV)
    } else {
        format!("file {}", store.key_file.display())
    };
    Ok(json!({
        "listen": cfg.listen.to_string(),
        "store": {"location": location, "data_dir": store.data_dir, "secret_key": key},
        "auth": auth(cfg),
        "ondemand": cfg.ondemand,
        "telemetry": cfg.telemetry,
        "assistant": cfg.assistant,
        "overrides": cfg.overrides,
        "collector": cfg.collector,
        "connections": connections,
        "environment": {
            (DATA_DIR_ENV): std::env::var_os(DATA_DIR_ENV).is_some(),
            (STORE_URL_ENV): std::env::var_os(STORE_URL_ENV).is_some(),
            (super::SECRET_KEY_ENV): std::env::var_os(super::SECRET_KEY_ENV).is_some(),
        },
    }))
}

fn connection(c: &ConnectionConfig) -> Value {
    let password = match (&c.password_env, &c.password_file) {
        (Some(var), _) => format!("set (environment variable {var})"),
        (_, Some(f)) => format!("set (file {})", f.display()),
        _ => "missing".into(),
    };
    let trust = match (&c.tls_thumbprint, &c.ca_file, c.insecure) {
        (Some(t), _, _) => format!("pinned thumbprint {t}"),
        (_, Some(f), _) => format!("CA file {}", f.display()),
        (_, _, true) => "insecure (certificate not checked)".into(),
        _ => "system trust store".into(),
    };
    json!({
        "id": c.id,
        "name": c.display_name(),
        "url": c.url,
        "username": c.username,
        "password": password,
        "trust": trust,
        "enabled": c.enabled,
        "poll_interval_seconds": c
            .poll_interval_seconds
            .unwrap_or(crate::connections::input::POLL_DEFAULT),
    })
}

fn auth(cfg: &ServiceConfig) -> Value {
    let tokens: Vec<Value> = cfg
        .auth
        .tokens
        .iter()
        .map(|t| {
            let source = match (&t.token_env, &t.token_file, &t.token_sha256) {
                (Some(v), _, _) => format!("environment variable {v}"),
                (_, Some(f), _) => format!("file {}", f.display()),
                _ => "SHA-256 digest".into(),
            };
            json!({"name": t.name, "role": t.role.as_str(), "token": source})
        })
        .collect();
    let jwt = cfg.auth.jwt.as_ref().map(|j| {
        let key = match (&j.hs256_secret_env, &j.hs256_secret_file, &j.jwks_file) {
            (Some(v), _, _) => format!("HS256 secret from environment variable {v}"),
            (_, Some(f), _) => format!("HS256 secret from file {}", f.display()),
            (_, _, Some(f)) => format!("RS256 keys from {}", f.display()),
            _ => "missing".into(),
        };
        json!({"issuer": j.issuer, "audience": j.audience, "roles_claim": j.roles_claim, "key": key})
    });
    let credential = !tokens.is_empty() || jwt.is_some();
    json!({
        "tokens": tokens,
        "jwt": jwt,
        // What `serve` does without any: loopback only, the local operator is admin.
        "without_credential": (!credential).then_some("loopback only; the local operator is admin"),
    })
}

/// A store URL without its password (user, host, port and database stay, to be recognisable).
fn redacted_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) => {
            if u.password().is_some() {
                let _ = u.set_password(Some("********"));
            }
            u.set_query(None);
            u.to_string()
        }
        Err(_) => "(not a URL)".into(),
    }
}
