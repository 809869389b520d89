//! Command-line interface: `serve` (the subgraph, or `--demo`), `check` (a connection test),
//! `secrets rotate-key` (re-seal saved passwords under a new key), `simulate` (the vCenter
//! simulator), `schema` (the SDL), `config check` and `healthcheck` (a container probe).

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{ArgGroup, Args, Parser, Subcommand};

mod check;
mod proof;
mod simulate;

pub use check::{check, CheckArgs, VcenterArgs};
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
