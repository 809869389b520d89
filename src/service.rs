//! The composition root of `serve`: connections from the config file (or the demo simulator),
//! one client and collector each, the GraphQL server over their snapshots, and an orderly
//! shutdown: stop accepting, finish in-flight requests, stop collectors, log vCenter sessions out.

use std::net::SocketAddr;
use std::sync::Arc;

use crate::collector::{self, CollectorConfig, CollectorHandle};
use crate::config::{ConfigError, ServiceConfig};
use crate::inventory::InventoryStore;
use crate::server::{self, AppState, Counters};
use crate::simulator::{Profile, SimConfig, Simulator};
use crate::vcenter::{ClientConfig, Secret, TlsMode, VcClient};

/// A connection ready to start.
pub struct Connection {
    pub id: String,
    pub name: String,
    pub client: ClientConfig,
}

/// A running service.
pub struct Service {
    pub store: Arc<InventoryStore>,
    pub collectors: Vec<CollectorHandle>,
    pub demo: Option<Simulator>,
}

/// Why the service could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("client_invalid: connection {0}: {1}")]
    Client(String, String),
    #[error("demo_failed: the demo vCenter did not start: {0}")]
    Demo(String),
}

impl Service {
    /// Starts one collector per connection; a connection that cannot even build a client fails
    /// the start (a configuration error), a vCenter that is down does not (it is retried).
    pub fn start(
        connections: Vec<Connection>,
        collector: CollectorConfig,
    ) -> Result<Service, StartError> {
        let store = InventoryStore::new();
        let mut collectors = Vec::new();
        for c in connections {
            let client = VcClient::new(c.client)
                .map_err(|e| StartError::Client(c.id.clone(), e.to_string()))?;
            let slot = store.register(&c.id, &c.name);
            collectors.push(collector::spawn(client, slot, collector.clone()));
        }
        Ok(Service {
            store,
            collectors,
            demo: None,
        })
    }

    /// The connections of a config file (disabled ones are left out).
    pub fn connections_of(cfg: &ServiceConfig) -> Result<Vec<Connection>, StartError> {
        cfg.connections
            .iter()
            .filter(|c| c.enabled)
            .map(|c| {
                Ok(Connection {
                    id: c.id.clone(),
                    name: c.display_name().to_string(),
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
        let conn = Connection {
            id: "demo".into(),
            name: "Demo vCenter (simulated)".into(),
            client,
        };
        let mut s = Service::start(vec![conn], collector)?;
        s.demo = Some(sim);
        Ok(s)
    }

    /// On-demand reads over the collectors' clients (one session per family per vCenter).
    pub fn ondemand(&self) -> Arc<crate::ondemand::OnDemand> {
        let clients = self
            .collectors
            .iter()
            .map(|c| (c.connection.clone(), c.client.clone()))
            .collect();
        Arc::new(crate::ondemand::OnDemand::new(clients))
    }

    /// Stops collectors (logging their sessions out) and the demo simulator.
    pub async fn shutdown(self) {
        for c in self.collectors {
            c.shutdown().await;
        }
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
        schema: crate::graphql::build_with(service.store.clone(), Some(service.ondemand())),
        store: service.store.clone(),
        counters: Arc::new(Counters::default()),
    };
    if let Ok(mut calls) = state.counters.vcenter_calls.lock() {
        calls.extend(
            service
                .collectors
                .iter()
                .map(|c| (c.connection.clone(), c.client.stats_handle())),
        );
    }
    let line = serde_json::json!({
        "graphql": format!("http://{addr}/graphql"),
        "connections": service.store.slots().iter().map(|s| s.id.clone()).collect::<Vec<_>>(),
        "demo_vcenter": service.demo.as_ref().map(|s| s.base_url()),
    });
    println!("{line}");
    tracing::info!(%addr, "serving GraphQL");
    let result = server::run(listener, server::app(state), shutdown).await;
    service.shutdown().await;
    result
}
