//! Command-line interface: `serve` (the subgraph, or `--demo`), `check` (a connection test),
//! `secrets rotate-key` (re-seal saved passwords under a new key), `simulate` (the vCenter
//! simulator), `schema` (the SDL), `config check` and `healthcheck` (a container probe).

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{ArgGroup, Args, Parser, Subcommand};

mod proof;
mod simulate;
pub use simulate::{simulate, SimulateArgs};

/// pulse-vsphere: VMware vSphere (vCenter) for the Pulse monitoring graph.
#[derive(Debug, Parser)]
#[command(name = "pulse-vsphere", version, about)]
pub struct Cli {
    /// What to run.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the vCenter simulator (both APIs over HTTPS) until interrupted.
    Simulate(Box<SimulateArgs>),
    /// Run the GraphQL subgraph service.
    Serve(ServeArgs),
    /// Print the GraphQL schema (SDL).
    Schema,
    /// Test a vCenter connection the way onboarding does (exit 0 ok, 1 degraded, 2 failed).
    Check(CheckArgs),
    /// Run the phase-1 proof against one vCenter and write its dated record (exit 0 all
    /// scenarios pass, 1 some fail, 2 it could not run); docs/proof.md.
    Proof(Box<proof::ProofArgs>),
    /// Manage the key that seals saved passwords.
    #[command(subcommand)]
    Secrets(SecretsCommand),
    /// Work with a configuration file offline.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Ask a running service's `/healthz` (exit 0 when it answers 200, 1 otherwise): the
    /// container health check, since the runtime image carries no HTTP client of its own.
    Healthcheck(HealthcheckArgs),
}

/// `healthcheck` arguments.
#[derive(Debug, Args)]
pub struct HealthcheckArgs {
    /// The liveness URL.
    #[arg(
        long,
        env = "PULSE_VSPHERE_HEALTHCHECK_URL",
        default_value = "http://127.0.0.1:8080/healthz"
    )]
    pub url: String,
    /// Seconds to wait for the answer.
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u64).range(1..=60))]
    pub timeout_seconds: u64,
}

/// `config` subcommands.
#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Checks FILE as `serve --config FILE` would (the file, the store location, every password,
    /// token and key source) without opening the store or reaching a vCenter, and prints the
    /// effective configuration as JSON with every secret replaced by where it comes from.
    /// Exit 0, or 2 with the error code `serve` would stop with.
    Check {
        /// The configuration file (TOML).
        file: PathBuf,
    },
}

/// `secrets` subcommands.
#[derive(Debug, Subcommand)]
pub enum SecretsCommand {
    /// Re-encrypt every saved password under a new key, in one transaction (stop the service
    /// first). Prints `{"rotated": N, "key_id": "..."}`; exit 0, or 2 with an error code.
    RotateKey(RotateKeyArgs),
}

/// `secrets rotate-key` options. The current key is found as `serve` finds it
/// (`PULSE_VSPHERE_SECRET_KEY`, else the key file).
#[derive(Debug, Args)]
#[command(group(ArgGroup::new("new_key").required(true).args(["new_key_env", "new_key_file"])))]
pub struct RotateKeyArgs {
    /// Configuration file, for the store location and key file (as `serve`).
    #[arg(long, env = crate::config::CONFIG_ENV)]
    pub config: Option<PathBuf>,
    /// Name of the environment variable holding the new key (32 bytes as base64 or 64 hex
    /// characters; never on the command line).
    #[arg(long)]
    pub new_key_env: Option<String>,
    /// File holding the new key (same forms).
    #[arg(long)]
    pub new_key_file: Option<PathBuf>,
}

/// `serve` options.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Configuration file (TOML); see docs/configuration.md. Without one the service runs on
    /// its store in the data directory (`PULSE_VSPHERE_DATA_DIR`, default ./pulse-vsphere-data).
    #[arg(long, env = crate::config::CONFIG_ENV, conflicts_with = "demo")]
    pub config: Option<PathBuf>,
    /// Start the built-in simulated vCenter with a demo inventory and serve it.
    #[arg(long)]
    pub demo: bool,
    /// Listen address (overrides the file's `listen`; default 127.0.0.1:8080).
    #[arg(long)]
    pub listen: Option<SocketAddr>,
}

/// Runs the service until SIGINT/SIGTERM: `--demo` on a scratch store with the built-in
/// vCenter; otherwise the config file's connections (if any) and every saved connection of the
/// store, which an operator grows through the onboarding mutations.
pub async fn serve(args: ServeArgs) -> i32 {
    use crate::collector::CollectorConfig;
    use crate::service::{Service, StartError};
    let started = async {
        if args.demo {
            let s = Service::demo(CollectorConfig::default()).await?;
            let access = crate::server::Access::new(crate::auth::Authenticator::none());
            return Ok((s, None, access));
        }
        let cfg = match &args.config {
            Some(path) => crate::config::ServiceConfig::load(path)?,
            None => crate::config::ServiceConfig::parse("")?,
        };
        let auth = crate::auth::Authenticator::from_config(&cfg.auth)
            .map_err(crate::config::ConfigError::from)?;
        let settings = cfg.store.settings()?;
        let conns = Service::connections_of(&cfg)?;
        let collector = CollectorConfig {
            tags_every: cfg.collector.tags_every(),
            ..CollectorConfig::default()
        };
        let s = Service::start(&settings, conns, collector, cfg.ondemand).await?;
        let access =
            crate::server::Access::new(auth).with_assistant_safelist(cfg.assistant.safelist);
        Ok::<_, StartError>((s, Some(cfg.listen), access))
    }
    .await;
    let (service, listen, access) = match started {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            return 2;
        }
    };
    let listen = args
        .listen
        .or(listen)
        .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 8080)));
    let code = match crate::service::run(service, listen, access, shutdown_signal()).await {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("error: {e}");
            2
        }
    };
    crate::traces::shutdown();
    code
}

/// The `[telemetry]` table of the config file `serve` will read, for the subscriber installed
/// before anything runs; a file that cannot be read or parsed gives the defaults here, and
/// `serve` reports it with its code.
pub fn telemetry_settings(cli: &Cli) -> crate::traces::TelemetrySettings {
    #[derive(serde::Deserialize)]
    struct OnlyTelemetry {
        #[serde(default)]
        telemetry: crate::traces::TelemetrySettings,
    }
    let Command::Serve(ServeArgs {
        config: Some(path), ..
    }) = &cli.command
    else {
        return Default::default();
    };
    std::fs::read_to_string(path)
        .ok()
        .and_then(|text| toml::from_str::<OnlyTelemetry>(&text).ok())
        .map(|t| t.telemetry)
        .unwrap_or_default()
}

/// Re-seals the saved passwords (logic in [`crate::service::rotate_key`]) and prints the
/// result; never prints a key, only its fingerprint.
pub async fn rotate_key(args: RotateKeyArgs) -> i32 {
    use crate::store::{KeyMaterial, KeySource};
    let done = async {
        let cfg = match &args.config {
            Some(path) => crate::config::ServiceConfig::load(path)?,
            None => crate::config::ServiceConfig::parse("")?,
        };
        let settings = cfg.store.settings()?;
        let new_key = match (&args.new_key_env, &args.new_key_file) {
            (Some(var), _) => KeyMaterial::from_env(var)?,
            (None, Some(path)) => KeyMaterial::from_file(path)?,
            // clap's group requires one of them.
            (None, None) => unreachable!("--new-key-env or --new-key-file"),
        };
        crate::service::rotate_key(&settings, &new_key).await
    }
    .await;
    let r = match done {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {e}");
            return 2;
        }
    };
    println!(
        "{}",
        serde_json::json!({"rotated": r.rotated, "key_id": r.key_id})
    );
    match &r.old_key_source {
        KeySource::Env => eprintln!(
            "note: the old key came from {env}; set {env} to the new key (key_id {id}) before \
             the next start: the old key no longer opens the saved passwords",
            env = crate::store::SECRET_KEY_ENV,
            id = r.key_id
        ),
        KeySource::File(path) | KeySource::Created(path) => eprintln!(
            "note: the new key (key_id {id}) replaced {path}; back it up with the database",
            id = r.key_id,
            path = path.display()
        ),
    }
    0
}

/// `check` options.
#[derive(Debug, Args)]
pub struct CheckArgs {
    #[command(flatten)]
    pub vcenter: VcenterArgs,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
}

/// One vCenter and how to trust and log in to it (`check`, `proof`).
#[derive(Debug, Args)]
pub struct VcenterArgs {
    /// vCenter URL, `https://HOST[:PORT]`.
    #[arg(long)]
    pub url: String,
    /// vCenter user, e.g. `monitor@vsphere.local`.
    #[arg(long)]
    pub username: String,
    /// Name of the environment variable holding the password (never on the command line).
    #[arg(long)]
    pub password_env: String,
    /// Trust exactly the certificate with this SHA-256 thumbprint.
    #[arg(long, conflicts_with_all = ["ca_file", "insecure"])]
    pub tls_thumbprint: Option<String>,
    /// Trust certificates issued by the CA in this PEM file (e.g. the VMCA root).
    #[arg(long, conflicts_with = "insecure")]
    pub ca_file: Option<PathBuf>,
    /// Do not verify the certificate at all.
    #[arg(long)]
    pub insecure: bool,
}

impl VcenterArgs {
    fn password(&self) -> Result<String, String> {
        std::env::var(&self.password_env)
            .map_err(|_| format!("environment variable {} is not set", self.password_env))
    }

    /// The client configuration these options describe.
    ///
    /// # Errors
    /// A message when the password variable is unset or the CA file unreadable.
    pub fn to_config(&self) -> Result<crate::vcenter::ClientConfig, String> {
        use crate::vcenter::{ClientConfig, Secret, TlsMode};
        let password = self.password()?;
        let url = url::Url::parse(&self.url).map_err(|e| format!("--url: {e}"))?;
        // No user, password, path or query: the record and the saved connection name the
        // vCenter by host and port only.
        let bare = url.username().is_empty()
            && url.password().is_none()
            && url.path() == "/"
            && url.query().is_none();
        if url.scheme() != "https" || url.host_str().is_none() || !bare {
            return Err("--url must be https://HOST[:PORT]".into());
        }
        let tls = TlsMode::from_options(
            self.tls_thumbprint.as_deref(),
            self.ca_file.as_deref(),
            self.insecure,
        )
        .map_err(|e| {
            let f = self.ca_file.as_deref().unwrap_or(std::path::Path::new(""));
            format!("cannot read {}: {e}", f.display())
        })?;
        Ok(ClientConfig::new(
            url.as_str(),
            &self.username,
            Secret::new(password),
            tls,
        ))
    }

    /// The same connection as onboarding input (`VsphereConnectionInput`), password included.
    ///
    /// # Errors
    /// As `to_config`.
    pub fn to_input(&self) -> Result<serde_json::Value, String> {
        let url = url::Url::parse(&self.url).map_err(|e| format!("--url: {e}"))?;
        let (mode, thumbprint, pem) = match (&self.tls_thumbprint, &self.ca_file, self.insecure) {
            (Some(t), _, _) => ("PINNED", Some(t.clone()), None),
            (None, Some(f), _) => (
                "CUSTOM_CA",
                None,
                Some(
                    std::fs::read_to_string(f)
                        .map_err(|e| format!("cannot read {}: {e}", f.display()))?,
                ),
            ),
            (None, None, true) => ("INSECURE", None, None),
            (None, None, false) => ("VERIFY", None, None),
        };
        Ok(serde_json::json!({
            "name": format!("proof {}", url.host_str().unwrap_or("vcenter")),
            "host": url.host_str(),
            "port": url.port_or_known_default(),
            "username": self.username,
            "password": self.password()?,
            "tlsMode": mode,
            "tlsThumbprint": thumbprint,
            "tlsCaPem": pem,
        }))
    }
}

/// Runs the connection test and prints its report.
pub async fn check(args: CheckArgs) -> i32 {
    let cfg = match args.vcenter.to_config() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return 2;
        }
    };
    let report = crate::vcenter::check::run_check(cfg).await;
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&report).unwrap_or_default()
        );
    } else {
        print!("{}", report.render());
    }
    report.verdict.exit_code()
}

/// Resolves on SIGINT or SIGTERM.
pub fn shutdown_signal() -> impl std::future::Future<Output = ()> + Send + 'static {
    // Registered now, not when first polled: a supervisor that signals as soon as the ready
    // line is out must find the handlers in place (the default action would kill the process
    // without its orderly shutdown).
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, Signal, SignalKind};
        async fn recv(s: Option<Signal>) {
            match s {
                Some(mut s) => {
                    s.recv().await;
                }
                None => std::future::pending::<()>().await,
            }
        }
        let int = signal(SignalKind::interrupt()).ok();
        let term = signal(SignalKind::terminate()).ok();
        async move {
            tokio::select! {
                () = recv(int) => {}
                () = recv(term) => {}
            }
        }
    }
    #[cfg(not(unix))]
    async {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// Dispatches a parsed command line; returns the exit status.
pub async fn run(cli: Cli) -> i32 {
    match cli.command {
        Command::Simulate(args) => simulate(*args).await,
        Command::Schema => {
            print!("{}", crate::graphql::sdl());
            0
        }
        Command::Check(args) => check(args).await,
        Command::Proof(args) => proof::proof(*args).await,
        Command::Serve(args) => serve(args).await,
        Command::Secrets(SecretsCommand::RotateKey(args)) => rotate_key(args).await,
        Command::Config(ConfigCommand::Check { file }) => config_check(&file),
        Command::Healthcheck(args) => healthcheck(&args).await,
    }
}

/// `healthcheck`: one GET, no redirects followed; the status (or why there is none) on stdout.
async fn healthcheck(args: &HealthcheckArgs) -> i32 {
    let client = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(args.timeout_seconds))
        .redirect(reqwest::redirect::Policy::none())
        .build();
    let answer = match client {
        Ok(c) => c.get(&args.url).send().await,
        Err(e) => Err(e),
    };
    match answer {
        Ok(r) if r.status() == reqwest::StatusCode::OK => {
            println!("healthy: {} answered {}", args.url, r.status());
            0
        }
        Ok(r) => {
            println!("unhealthy: {} answered {}", args.url, r.status());
            1
        }
        Err(e) => {
            println!("unhealthy: {} did not answer: {e}", args.url);
            1
        }
    }
}

/// `config check FILE`: the effective configuration on stdout, exit 0; the error on stderr,
/// exit 2.
fn config_check(file: &std::path::Path) -> i32 {
    match crate::config::effective::check(file) {
        Ok(v) => {
            println!(
                "{}",
                serde_json::to_string_pretty(&v).unwrap_or_else(|_| v.to_string())
            );
            0
        }
        Err(e) => {
            eprintln!("error: {e}");
            2
        }
    }
}
