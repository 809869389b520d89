//! The composition root of `serve`: connections from the config file (or the demo simulator),
//! one client and collector each, the GraphQL server over their snapshots, and an orderly
//! shutdown: stop accepting, finish in-flight requests, stop collectors, log vCenter sessions out.

use std::net::SocketAddr;
use std::sync::Arc;

use crate::collector::CollectorConfig;
use crate::config::{ConfigError, ServiceConfig};
use crate::connections::{ConnectionSpec, Registry, RegistryError, Source};
use crate::server::{self, AppState, Counters};
use crate::simulator::{Profile, SimConfig, Simulator};
use crate::vcenter::{ClientConfig, Secret, TlsMode};

/// A running service: its connections and, in demo mode, the simulator behind them.
pub struct Service {
    pub registry: Arc<Registry>,
    pub demo: Option<Simulator>,
}

/// Why the service could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Registry(#[from] RegistryError),
    #[error("demo_failed: the demo vCenter did not start: {0}")]
    Demo(String),
}

impl Service {
    /// Registers `connections` and starts a collector for each enabled one; a connection that
    /// cannot even build a client fails the start (a configuration error), a vCenter that is
    /// down does not (it is retried).
    pub async fn start(
        connections: Vec<ConnectionSpec>,
        collector: CollectorConfig,
    ) -> Result<Service, StartError> {
        let registry = Registry::new(collector);
        for spec in connections {
            if let Err(e) = registry.add(spec).await {
                registry.shutdown().await;
                return Err(e.into());
            }
        }
        Ok(Service {
            registry,
            demo: None,
        })
    }

    /// The connections of a config file (disabled ones included, shown as disabled).
    pub fn connections_of(cfg: &ServiceConfig) -> Result<Vec<ConnectionSpec>, StartError> {
        cfg.connections
            .iter()
            .map(|c| {
                Ok(ConnectionSpec {
                    id: c.id.clone(),
                    name: c.display_name().to_string(),
                    source: Source::Config,
                    enabled: c.enabled,
                    client: c.client_config()?,
                })
            })
            .collect()
    }

    /// The built-in simulator with a demo inventory that changes, and a connection to it.
    pub async fn demo(collector: CollectorConfig) -> Result<Service, StartError> {
        let mut sim_cfg = SimConfig::with_profile(Profile::Small);
        sim_cfg.size.vms = 120;
        sim_cfg.size.hosts = 8;
        sim_cfg.change_rate = 0.5;
        let sim = Simulator::start(sim_cfg)
            .await
            .map_err(|e| StartError::Demo(e.to_string()))?;
        let client = ClientConfig::new(
            &sim.base_url(),
            "admin",
            Secret::new("admin"),
            TlsMode::Thumbprint(sim.thumbprint()),
        );
        let conn = ConnectionSpec {
            id: "demo".into(),
            name: "Demo vCenter (simulated)".into(),
            source: Source::Api,
            enabled: true,
            client,
        };
        let mut s = Service::start(vec![conn], collector).await?;
        s.demo = Some(sim);
        Ok(s)
    }

    /// Stops collectors (logging their sessions out) and the demo simulator.
    pub async fn shutdown(self) {
        self.registry.shutdown().await;
        if let Some(sim) = self.demo {
            sim.shutdown().await;
        }
    }
}

/// Serves GraphQL for `service` on `listen` until `shutdown` resolves; prints the URL first.
pub async fn run(
    service: Service,
    listen: SocketAddr,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let listener = tokio::net::TcpListener::bind(listen).await?;
    let addr = listener.local_addr()?;
    let state = AppState {
        schema: crate::graphql::build(service.registry.clone()),
        registry: service.registry.clone(),
        counters: Arc::new(Counters::default()),
    };
    let line = serde_json::json!({
        "graphql": format!("http://{addr}/graphql"),
        "connections": service.registry.slots().iter().map(|s| s.id.clone()).collect::<Vec<_>>(),
        "demo_vcenter": service.demo.as_ref().map(|s| s.base_url()),
    });
    println!("{line}");
    tracing::info!(%addr, "serving GraphQL");
    let result = server::run(listener, server::app(state), shutdown).await;
    service.shutdown().await;
    result
}
