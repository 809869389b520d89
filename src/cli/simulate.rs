//! `simulate`: the vCenter simulator as a process of its own (both APIs over HTTPS), for
//! benchmarks, demos and a lab without a vCenter.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Args;

use super::shutdown_signal;
use crate::simulator::{ApiRelease, ApiType, Profile, SimConfig, SimUser, Simulator};

/// `simulate` options.
#[derive(Debug, Args)]
pub struct SimulateArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8989")]
    pub listen: SocketAddr,
    /// Inventory profile: small, medium, large, max, or pulse2070 (one standalone host, six VMs).
    #[arg(long, default_value = "small")]
    pub profile: Profile,
    /// Statistics level of the historical intervals, 1-4 (vCenter ships 1).
    #[arg(long, default_value_t = 1)]
    pub stats_level: u8,
    /// Override the number of ESXi hosts.
    #[arg(long)]
    pub hosts: Option<usize>,
    /// Override the number of VMs.
    #[arg(long)]
    pub vms: Option<usize>,
    /// Override the number of datastores.
    #[arg(long)]
    pub datastores: Option<usize>,
    /// Seed of the generated inventory (same seed, same inventory and instanceUuid).
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// A user as NAME:PASSWORD:ROLE (roles: admin, readonly, noperf, none); repeatable.
    /// Default: admin:admin:admin.
    #[arg(long = "user")]
    pub users: Vec<SimUser>,
    /// Release to claim: 6.7 (/api is vAPI JSON-RPC), 7.0.3 (REST only), 8.0.1.0, 8.0.2.0,
    /// 8.0.3.0, 9.0.0.0, 9.1.0.0.
    #[arg(long, default_value = "8.0.3.0")]
    pub api_release: ApiRelease,
    /// Answer `POST /api/vcenter/system?action=hello` with 404, as a vCenter without it does.
    #[arg(long)]
    pub no_hello: bool,
    /// HTTP status for a VI JSON release newer than the claimed one: 404, or 500 as some 8.0.3
    /// builds answer a 9.0 probe.
    #[arg(long, default_value_t = 404)]
    pub unknown_release_status: u16,
    /// What to answer as in about.apiType: VirtualCenter, or HostAgent (an ESXi host, which
    /// the service must refuse).
    #[arg(long, default_value = "VirtualCenter")]
    pub api_type: ApiType,
    /// Inventory changes per second.
    #[arg(long, default_value_t = 2.0)]
    pub change_rate: f64,
    /// PEM certificate chain to present instead of a generated self-signed one.
    #[arg(long, requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key for --tls-cert.
    #[arg(long, requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Session idle timeout in seconds.
    #[arg(long, default_value_t = 1800)]
    pub idle_timeout: u64,
    /// Concurrent sessions per API family before logins get 503.
    #[arg(long)]
    pub session_limit: Option<usize>,
    /// config.vpxd.stats.maxQueryMetrics (-1 = unlimited).
    #[arg(long, default_value_t = 256, allow_hyphen_values = true)]
    pub max_query_metrics: i64,
    /// Group some clusters' datastores into datastore clusters (true or false; default: true
    /// for the medium and max profiles).
    #[arg(long)]
    pub storage_pods: Option<bool>,
}

impl SimulateArgs {
    /// The simulator configuration these options describe.
    ///
    /// # Errors
    /// A message when a certificate file cannot be read or an option is out of range.
    pub fn to_config(&self) -> Result<SimConfig, String> {
        let mut c = SimConfig::with_profile(self.profile);
        c.listen = self.listen;
        c.seed = self.seed;
        if let Some(pods) = self.storage_pods {
            c.storage_pods = pods;
        }
        if let Some(h) = self.hosts {
            c.size.hosts = h;
        }
        if let Some(v) = self.vms {
            c.size.vms = v;
        }
        if let Some(d) = self.datastores {
            c.size.datastores = d;
        }
        if c.size.hosts == 0 {
            return Err("--hosts must be at least 1".into());
        }
        c.size.datacenters = c.size.datacenters.min(c.size.hosts).max(1);
        if !self.users.is_empty() {
            c.users = self.users.clone();
        }
        c.api_release = self.api_release;
        c.hello = !self.no_hello;
        if !(1..=4).contains(&self.stats_level) {
            return Err("--stats-level must be 1 to 4".into());
        }
        c.stats_level = self.stats_level;
        if !matches!(self.unknown_release_status, 404 | 500) {
            return Err("--unknown-release-status must be 404 or 500".into());
        }
        c.unknown_release_status = self.unknown_release_status;
        c.api_type = self.api_type;
        if !(self.change_rate.is_finite() && self.change_rate >= 0.0) {
            return Err("--change-rate must be zero or positive".into());
        }
        c.change_rate = self.change_rate;
        if let (Some(cert), Some(key)) = (&self.tls_cert, &self.tls_key) {
            let read = |p: &PathBuf| {
                std::fs::read_to_string(p).map_err(|e| format!("cannot read {}: {e}", p.display()))
            };
            c.tls = Some((read(cert)?, read(key)?));
        }
        c.idle_timeout = std::time::Duration::from_secs(self.idle_timeout.max(1));
        c.session_limit = self.session_limit;
        if self.max_query_metrics == 0 || self.max_query_metrics < -1 {
            return Err("--max-query-metrics must be -1 (unlimited) or positive".into());
        }
        c.max_query_metrics = self.max_query_metrics;
        Ok(c)
    }
}

/// Runs the simulator until SIGINT/SIGTERM; prints one JSON line describing it.
pub async fn simulate(args: SimulateArgs) -> i32 {
    let config = match args.to_config() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return 2;
        }
    };
    let users: Vec<serde_json::Value> = config
        .users
        .iter()
        .map(|u| serde_json::json!({"name": u.name, "password": u.password, "role": u.role}))
        .collect();
    let release = config.api_release;
    let api_type = config.api_type;
    let size = config.size;
    let sim = match Simulator::start(config).await {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            return 2;
        }
    };
    let line = serde_json::json!({
        "base_url": sim.base_url(),
        "thumbprint": sim.thumbprint(),
        "instance_uuid": sim.instance_uuid(),
        "api_release": release.as_str(),
        "api_type": api_type.as_str(),
        "inventory": size,
        "users": users,
    });
    println!("{line}");
    shutdown_signal().await;
    sim.shutdown().await;
    0
}
