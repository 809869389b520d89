//! The service configuration file (TOML): where to listen and which vCenters to read.
//! Passwords come from environment variables or files, never from the file itself, so the file
//! can be shared and logged.

pub mod effective;
pub mod env;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::vcenter::{ClientConfig, Secret, TlsMode};

/// Environment variable naming the config file when `--config` is not given.
pub const CONFIG_ENV: &str = "PULSE_VSPHERE_CONFIG";
/// Environment variable naming the data directory (overrides `store.data_dir`).
pub use crate::store::DATA_DIR_ENV;
/// Environment variable holding a `postgres://` URL (overrides `store.postgres_url_env`/`_file`).
pub const STORE_URL_ENV: &str = "PULSE_VSPHERE_STORE_URL";
/// Environment variable holding the 256-bit secret key (base64 or hex).
pub const SECRET_KEY_ENV: &str = "PULSE_VSPHERE_SECRET_KEY";
/// The data directory when neither the environment nor the file names one.
pub const DEFAULT_DATA_DIR: &str = "pulse-vsphere-data";

/// Why a configuration cannot be used; each has a stable code for logs and tooling.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("config_unreadable: cannot read {path}: {reason}")]
    Unreadable { path: String, reason: String },
    #[error("config_invalid: {0}")]
    Invalid(String),
    #[error("config_secret_missing: connection {connection}: {reason}")]
    SecretMissing { connection: String, reason: String },
    #[error(transparent)]
    Auth(#[from] crate::auth::AuthConfigError),
}

/// Largest config file read (a file of thousands of connections fits many times over).
const CONFIG_MAX_BYTES: u64 = 1024 * 1024;
/// Largest secret file read (a password, a token or a URL).
const SECRET_MAX_BYTES: u64 = 64 * 1024;

/// Reads a regular file of at most `max` bytes. A FIFO would hang the start and `/dev/zero` would
/// fill memory, so anything but a regular file of a sane size is refused before reading.
pub fn read_small_file(path: &Path, max: u64) -> Result<String, String> {
    use std::io::Read;
    let meta = std::fs::metadata(path).map_err(|e| e.to_string())?;
    if !meta.is_file() {
        return Err("not a regular file".into());
    }
    if meta.len() > max {
        return Err(format!("larger than {max} bytes"));
    }
    let mut text = String::new();
    std::fs::File::open(path)
        .and_then(|f| f.take(max + 1).read_to_string(&mut text))
        .map_err(|e| e.to_string())?;
    if text.len() as u64 > max {
        return Err(format!("larger than {max} bytes"));
    }
    Ok(text)
}

fn default_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 8080))
}

fn yes() -> bool {
    true
}

/// The whole file.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceConfig {
    /// Address of the GraphQL server; loopback unless an operator says otherwise.
    #[serde(default = "default_listen")]
    pub listen: SocketAddr,
    /// The vCenters kept in this file (read-only to the onboarding mutations).
    #[serde(default, rename = "connection")]
    pub connections: Vec<ConnectionConfig>,
    /// Where saved connections, secrets and the audit log live.
    #[serde(default)]
    pub store: StoreConfig,
    /// Bearer tokens and gateway JWTs.
    #[serde(default)]
    pub auth: crate::auth::AuthConfig,
    /// What each connection's on-demand reads (older events, metric series) may cost vCenter.
    #[serde(default)]
    pub ondemand: crate::ondemand::BudgetSettings,
    /// Traces over OTLP (off unless an endpoint is given).
    #[serde(default)]
    pub telemetry: crate::traces::TelemetrySettings,
    /// What the assistant role may run.
    #[serde(default)]
    pub assistant: crate::graphql::pack::AssistantSettings,
    /// The `PULSE_VSPHERE_*` variables that set or replaced keys of the file.
    #[serde(skip)]
    pub overrides: Vec<String>,
    /// Cadences of each connection's collector.
    #[serde(default)]
    pub collector: crate::collector::CollectorSettings,
}

/// The `[store]` table.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoreConfig {
    /// Directory of the embedded SQLite database and the generated key file.
    #[serde(default)]
    pub data_dir: Option<PathBuf>,
    /// Environment variable holding a `postgres://` URL (the URL carries a password, so it is
    /// never written in this file).
    #[serde(default)]
    pub postgres_url_env: Option<String>,
    /// Days vCenter events and tasks are kept in the store (incidents are kept); default 30.
    #[serde(default)]
    pub history_days: Option<u32>,
    /// File holding a `postgres://` URL (first line).
    #[serde(default)]
    pub postgres_url_file: Option<PathBuf>,
    /// The secret key file (default: `secret.key` in the data directory).
    #[serde(default)]
    pub secret_key_file: Option<PathBuf>,
}

/// Where the store is, once the environment and the file are read.
#[derive(Clone, Debug)]
pub struct StoreSettings {
    pub location: crate::store::StoreLocation,
    pub data_dir: PathBuf,
    pub key_file: PathBuf,
    /// Days events and tasks are kept in the store.
    pub history_days: u32,
}

/// Days events and tasks are kept unless `[store] history_days` says otherwise.
pub const HISTORY_DAYS_DEFAULT: u32 = 30;

impl StoreConfig {
    /// The store location: `PULSE_VSPHERE_STORE_URL`, then the file's Postgres URL source, else
    /// SQLite in the data directory (`PULSE_VSPHERE_DATA_DIR`, then `data_dir`, then
    /// `./pulse-vsphere-data`).
    pub fn settings(&self) -> Result<StoreSettings, ConfigError> {
        let data_dir = std::env::var_os(DATA_DIR_ENV)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
            .or_else(|| self.data_dir.clone())
            .unwrap_or_else(|| PathBuf::from(DEFAULT_DATA_DIR));
        let key_file = self
            .secret_key_file
            .clone()
            .unwrap_or_else(|| data_dir.join("secret.key"));
        let missing = |reason: String| ConfigError::SecretMissing {
            connection: "store".into(),
            reason,
        };
        let url = match (
            std::env::var(STORE_URL_ENV).ok().filter(|v| !v.is_empty()),
            &self.postgres_url_env,
            &self.postgres_url_file,
        ) {
            (Some(u), _, _) => Some(u),
            (None, Some(var), _) => Some(
                std::env::var(var)
                    .map_err(|_| missing(format!("environment variable {var} is not set")))?,
            ),
            (None, None, Some(f)) => Some(
                read_small_file(f, SECRET_MAX_BYTES)
                    .map_err(|e| missing(format!("cannot read {}: {e}", f.display())))?
                    .lines()
                    .next()
                    .unwrap_or("")
                    .trim()
                    .to_string(),
            ),
            (None, None, None) => None,
        };
        let location =
            match url {
                Some(u) if u.starts_with("postgres://") || u.starts_with("postgresql://") => {
                    crate::store::StoreLocation::Postgres { url: u }
                }
                Some(_) => return Err(ConfigError::Invalid(
                    "the store URL must start with postgres:// (SQLite needs no URL: set data_dir)"
                        .into(),
                )),
                None => crate::store::StoreLocation::Sqlite {
                    data_dir: data_dir.clone(),
                },
            };
        let history_days = match self.history_days {
            Some(0) => {
                return Err(ConfigError::Invalid(
                    "[store] history_days must be at least 1".into(),
                ))
            }
            Some(d) => d,
            None => HISTORY_DAYS_DEFAULT,
        };
        Ok(StoreSettings {
            location,
            data_dir,
            key_file,
            history_days,
        })
    }
}

/// One vCenter.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConnectionConfig {
    /// Stable id (letters, digits, `-`, `_`).
    pub id: String,
    /// Display name.
    #[serde(default)]
    pub name: Option<String>,
    /// `https://HOST[:PORT]`.
    pub url: String,
    pub username: String,
    /// Environment variable holding the password.
    #[serde(default)]
    pub password_env: Option<String>,
    /// File holding the password (first line; e.g. a systemd credential or a Kubernetes secret).
    #[serde(default)]
    pub password_file: Option<PathBuf>,
    /// Pinned SHA-256 certificate thumbprint.
    #[serde(default)]
    pub tls_thumbprint: Option<String>,
    /// CA bundle (PEM) to trust instead of the system store.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// Skip certificate verification (named explicitly, never a default).
    #[serde(default)]
    pub insecure: bool,
    #[serde(default = "yes")]
    pub enabled: bool,
    /// How often events, tasks and metrics are polled (20-3600 s; default 30).
    #[serde(default)]
    pub poll_interval_seconds: Option<u32>,
}

impl ServiceConfig {
    /// Parses TOML text; `origin` names it in errors.
    pub fn parse(text: &str) -> Result<ServiceConfig, ConfigError> {
        Self::parse_with_env(text, &|var| std::env::var(var).ok())
    }

    /// [`ServiceConfig::parse`] with the environment's overrides read through `lookup`.
    ///
    /// # Errors
    /// As [`ServiceConfig::parse`]; an override that is not of its key's kind is
    /// `config_invalid` naming the variable.
    pub fn parse_with_env(
        text: &str,
        lookup: &dyn Fn(&str) -> Option<String>,
    ) -> Result<ServiceConfig, ConfigError> {
        if let Ok(v) = text.parse::<toml::Table>() {
            let inline = v
                .get("connection")
                .and_then(|c| c.as_array())
                .is_some_and(|a| a.iter().any(|c| c.get("password").is_some()));
            if inline {
                return Err(ConfigError::Invalid(
                    "a connection has an inline `password`; use `password_env` or `password_file`"
                        .into(),
                ));
            }
            if let Some(auth) = v.get("auth") {
                crate::auth::AuthConfig::refuse_inline_secrets(auth)?;
            }
        }
        // toml's report spans lines (position, snippet, caret): keep it on one log line.
        let one_line = |e: toml::de::Error| {
            ConfigError::Invalid(
                e.to_string()
                    .split_whitespace()
                    .collect::<Vec<_>>()
                    .join(" "),
            )
        };
        let mut table: toml::Table = toml::from_str(text).map_err(one_line)?;
        let overrides = env::apply(&mut table, lookup).map_err(ConfigError::Invalid)?;
        let mut cfg: ServiceConfig = if overrides.is_empty() {
            // From the text, so an error keeps its line and column.
            toml::from_str(text).map_err(one_line)?
        } else {
            toml::Value::Table(table)
                .try_into()
                .map_err(|e: toml::de::Error| {
                    ConfigError::Invalid(format!(
                        "{} (with the overrides {})",
                        one_line(e)
                            .to_string()
                            .trim_start_matches("config_invalid: "),
                        overrides.join(", ")
                    ))
                })?
        };
        cfg.overrides = overrides;
        cfg.validate()?;
        Ok(cfg)
    }

    /// Reads and parses a file.
    pub fn load(path: &Path) -> Result<ServiceConfig, ConfigError> {
        let text =
            read_small_file(path, CONFIG_MAX_BYTES).map_err(|reason| ConfigError::Unreadable {
                path: path.display().to_string(),
                reason,
            })?;
        Self::parse(&text)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        self.ondemand.validate().map_err(ConfigError::Invalid)?;
        self.telemetry.validate().map_err(ConfigError::Invalid)?;
        self.collector.validate().map_err(ConfigError::Invalid)?;
        let mut ids = std::collections::HashSet::new();
        for c in &self.connections {
            if c.id.is_empty()
                || !c
                    .id
                    .chars()
                    .all(|ch| ch.is_ascii_alphanumeric() || ch == '-' || ch == '_')
            {
                return Err(ConfigError::Invalid(format!(
                    "connection id `{}` must be letters, digits, - or _",
                    c.id
                )));
            }
            if !ids.insert(c.id.as_str()) {
                return Err(ConfigError::Invalid(format!(
                    "connection id `{}` appears twice",
                    c.id
                )));
            }
            let url = url::Url::parse(&c.url)
                .map_err(|e| ConfigError::Invalid(format!("connection {}: url: {e}", c.id)))?;
            if url.scheme() != "https"
                || url.host_str().is_none()
                || !url.username().is_empty()
                || url.password().is_some()
                || !matches!(url.path(), "" | "/")
                || url.query().is_some()
                || url.fragment().is_some()
            {
                // Never echo the URL: user info in it may be a password.
                return Err(ConfigError::Invalid(format!(
                    "connection {}: url must be https://HOST[:PORT] (no user info, path or query)",
                    c.id
                )));
            }
            let trust = [c.tls_thumbprint.is_some(), c.ca_file.is_some(), c.insecure]
                .iter()
                .filter(|b| **b)
                .count();
            if trust > 1 {
                return Err(ConfigError::Invalid(format!(
                    "connection {}: choose one of tls_thumbprint, ca_file, insecure",
                    c.id
                )));
            }
            if c.poll_interval_seconds.is_some_and(|p| {
                !(crate::connections::input::POLL_MIN..=crate::connections::input::POLL_MAX)
                    .contains(&p)
            }) {
                return Err(ConfigError::Invalid(format!(
                    "connection {}: poll_interval_seconds must be between {} and {}",
                    c.id,
                    crate::connections::input::POLL_MIN,
                    crate::connections::input::POLL_MAX
                )));
            }
            if c.password_env.is_some() == c.password_file.is_some() {
                return Err(ConfigError::Invalid(format!(
                    "connection {}: set exactly one of password_env, password_file",
                    c.id
                )));
            }
        }
        Ok(())
    }
}

impl ConnectionConfig {
    /// The client configuration, reading the password and CA file now.
    pub fn client_config(&self) -> Result<ClientConfig, ConfigError> {
        let missing = |reason: String| ConfigError::SecretMissing {
            connection: self.id.clone(),
            reason,
        };
        let password = match (&self.password_env, &self.password_file) {
            (Some(var), _) => std::env::var(var)
                .map_err(|_| missing(format!("environment variable {var} is not set")))?,
            (_, Some(f)) => read_small_file(f, SECRET_MAX_BYTES)
                .map_err(|e| missing(format!("cannot read {}: {e}", f.display())))?
                .lines()
                .next()
                .unwrap_or("")
                .to_string(),
            _ => return Err(missing("no password source".into())),
        };
        if password.is_empty() {
            return Err(missing("the password is empty".into()));
        }
        let tls = TlsMode::from_options(
            self.tls_thumbprint.as_deref(),
            self.ca_file.as_deref(),
            self.insecure,
        )
        .map_err(|e| ConfigError::Unreadable {
            path: self
                .ca_file
                .as_deref()
                .map(|f| f.display().to_string())
                .unwrap_or_default(),
            reason: e.to_string(),
        })?;
        Ok(ClientConfig::new(
            &self.url,
            &self.username,
            Secret::new(password),
            tls,
        ))
    }

    pub fn display_name(&self) -> &str {
        self.name.as_deref().unwrap_or(&self.id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_complete_file_parses() {
        let c = ServiceConfig::parse(
            r#"
listen = "0.0.0.0:9000"
[[connection]]
id = "lab"
url = "https://vc.lab:443"
username = "monitor@vsphere.local"
password_env = "LAB_PW"
tls_thumbprint = "AB:CD"
"#,
        )
        .expect("valid");
        assert_eq!(c.listen.port(), 9000);
        assert_eq!(c.connections[0].display_name(), "lab");
        assert_eq!(c.ondemand, crate::ondemand::BudgetSettings::default());
        assert!(c.connections[0].enabled);
    }

    #[test]
    fn bad_files_say_what_is_wrong() {
        let cases = [
            ("[[connection]]\nid='a'\nurl='https://x'\nusername='u'\npassword='p'", "inline `password`"),
            ("[[connection]]\nid='a'\nurl='http://x'\nusername='u'\npassword_env='P'", "https://"),
            ("[[connection]]\nid='a b'\nurl='https://x'\nusername='u'\npassword_env='P'", "letters"),
            ("[[connection]]\nid='a'\nurl='https://x'\nusername='u'", "exactly one of password_env"),
            ("[[connection]]\nid='a'\nurl='https://x'\nusername='u'\npassword_env='P'\ninsecure=true\ntls_thumbprint='x'", "choose one"),
            ("listen = 5", "listen"),
            ("[[connection]]\nid='a'\nurl='https://u:hunter2@x'\nusername='u'\npassword_env='P'", "no user info"),
            ("[[connection]]\nid='a'\nurl='https://x/sdk'\nusername='u'\npassword_env='P'", "no user info, path"),
            ("colour = 'red'", "unknown field"),
            ("[ondemand]\nburst = 0", "ondemand.burst"),
            ("[ondemand]\nconcurrent_calls = 1000", "ondemand.concurrent_calls"),
            ("[ondemand]\ncalls_per_minute = 5", "unknown field"),
            ("[collector]\ntags_interval_seconds = 5", "collector.tags_interval_seconds"),
            ("[collector]\ntags_every = 300", "unknown field"),
            ("[[connection]]\nid='a'\nurl='https://x'\nusername='u'\npassword_env='P'\n[[connection]]\nid='a'\nurl='https://y'\nusername='u'\npassword_env='P'", "twice"),
        ];
        for (text, want) in cases {
            let e = ServiceConfig::parse(text).expect_err(text).to_string();
            assert!(e.contains(want), "{text}: {e}");
            assert!(e.starts_with("config_invalid"), "{e}");
        }
    }

    #[test]
    fn secrets_come_from_env_or_file_and_are_never_printed() {
        let c = ServiceConfig::parse("[[connection]]\nid='a'\nurl='https://x'\nusername='u'\npassword_env='PV_CFG_TEST_UNSET'").unwrap();
        let e = c.connections[0].client_config().expect_err("unset");
        assert!(e.to_string().starts_with("config_secret_missing"));
        let dir = std::env::temp_dir().join(format!("pv-cfg-{}", std::process::id()));
        std::fs::write(&dir, "s3cret\nignored\n").unwrap();
        let text = format!(
            "[[connection]]\nid='a'\nurl='https://x'\nusername='u'\npassword_file='{}'",
            dir.display()
        );
        let cfg = ServiceConfig::parse(&text).unwrap().connections[0]
            .client_config()
            .unwrap();
        assert_eq!(cfg.password.expose(), "s3cret");
        assert!(!format!("{cfg:?}").contains("s3cret"));
        let _ = std::fs::remove_file(dir);
    }

    #[test]
    fn empty_passwords_fifos_and_endless_files_are_refused() {
        std::env::set_var("PV_CFG_TEST_EMPTY", "");
        let c = ServiceConfig::parse(
            "[[connection]]\nid='a'\nurl='https://x'\nusername='u'\npassword_env='PV_CFG_TEST_EMPTY'",
        )
        .unwrap();
        let e = c.connections[0].client_config().expect_err("empty");
        assert!(e.to_string().starts_with("config_secret_missing"), "{e}");
        assert!(e.to_string().contains("empty"), "{e}");
        for special in ["/dev/zero", "/dev/null", "/"] {
            let e = ServiceConfig::load(Path::new(special)).expect_err(special);
            assert!(e.to_string().starts_with("config_unreadable"), "{e}");
        }
        let dir = std::env::temp_dir().join(format!("pv-cfg-fifo-{}", std::process::id()));
        let fifo = dir.with_extension("fifo");
        if std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .is_ok_and(|s| s.success())
        {
            let e = ServiceConfig::load(&fifo).expect_err("a FIFO is refused, not waited on");
            assert!(e.to_string().contains("not a regular file"), "{e}");
            let _ = std::fs::remove_file(&fifo);
        }
        let big = dir.with_extension("big");
        std::fs::write(&big, vec![b'#'; (CONFIG_MAX_BYTES + 1) as usize]).unwrap();
        let e = ServiceConfig::load(&big).expect_err("too big");
        assert!(e.to_string().contains("larger than"), "{e}");
        let _ = std::fs::remove_file(&big);
    }

    #[test]
    fn files_that_cannot_be_read_are_config_unreadable() {
        let missing = std::env::temp_dir().join(format!("pv-cfg-missing-{}", std::process::id()));
        let e = ServiceConfig::load(&missing).expect_err("no such file");
        assert!(e.to_string().starts_with("config_unreadable"), "{e}");
        assert!(e.to_string().contains(&missing.display().to_string()));
        // A CA file that cannot be read is the same class, named with its path.
        let text = format!(
            "[[connection]]\nid='a'\nurl='https://x'\nusername='u'\npassword_env='PATH'\nca_file='{}'",
            missing.display()
        );
        let e = ServiceConfig::parse(&text).unwrap().connections[0]
            .client_config()
            .expect_err("unreadable CA file");
        assert!(e.to_string().starts_with("config_unreadable"), "{e}");
    }
}
