//! A vCenter simulator speaking the Automation REST API (`/api`) and the VI JSON API
//! (`/sdk/vim25/{release}`) over HTTPS, with a generated inventory, a change engine and fault
//! injection. Tests, benchmarks and the demo mode run against it exactly as against vCenter.
//!
//! Layout mirrors govmomi's simulator: `inventory` is the MoRef registry and object model,
//! `vim` one module per managed object type behind one dispatch, `rest` the Automation API,
//! `control` the loopback `/_sim/` API. See `docs/simulator.md`.

pub mod alarms;
pub mod change;
pub mod config;
pub mod control;
pub mod faults;
pub mod inventory;
pub mod load;
pub mod rest;
mod server;
pub mod sessions;
pub mod state;
pub mod stats;
pub mod tls;
pub mod vim;

use std::net::SocketAddr;
use std::sync::Arc;

pub use config::{ApiRelease, ApiType, InventorySize, Profile, Role, SimConfig, SimUser};
pub use control::SimControl;
pub use faults::{FaultSettings, Latency, PerFamily};
pub use stats::{SessionCounts, SimStats};

use state::SimState;
use tls::{Identity, TlsState};

/// Errors starting a simulator.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// The TLS identity could not be built.
    #[error(transparent)]
    Tls(#[from] tls::TlsError),
    /// The listen address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
}

/// A running simulator. Dropping it stops the server; prefer [`Simulator::shutdown`].
pub struct Simulator {
    state: Arc<SimState>,
    addr: SocketAddr,
    control: SimControl,
    shutdown: tokio::sync::watch::Sender<bool>,
    server: Option<tokio::task::JoinHandle<()>>,
    change: Option<tokio::task::JoinHandle<()>>,
}

impl Simulator {
    /// Generates the inventory, binds `config.listen` and starts serving HTTPS.
    ///
    /// # Errors
    /// [`SimError`] when the certificate is invalid or the address cannot be bound.
    pub async fn start(config: SimConfig) -> Result<Simulator, SimError> {
        let identity = match &config.tls {
            Some((cert, key)) => Identity::from_pem(cert, key)?,
            None => Identity::self_signed()?,
        };
        let tls = TlsState::new(identity);
        let listen = config.listen;
        let change_rate = config.change_rate;
        // Generating the `max` inventory takes seconds of CPU: keep it off the async workers.
        let state = tokio::task::spawn_blocking(move || SimState::new(config, tls))
            .await
            .map_err(|e| SimError::Bind {
                addr: listen,
                source: std::io::Error::other(e.to_string()),
            })?;
        let state = Arc::new(state);
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .map_err(|source| SimError::Bind {
                addr: listen,
                source,
            })?;
        let addr = listener.local_addr().map_err(|source| SimError::Bind {
            addr: listen,
            source,
        })?;
        let (shutdown, shutdown_rx) = tokio::sync::watch::channel(false);
        let server = tokio::spawn(server::serve(listener, state.clone(), shutdown_rx.clone()));
        let change = (change_rate > 0.0)
            .then(|| tokio::spawn(change::run(state.clone(), change_rate, shutdown_rx)));
        Ok(Simulator {
            control: SimControl::new(state.clone()),
            state,
            addr,
            shutdown,
            server: Some(server),
            change,
        })
    }

    /// `https://127.0.0.1:PORT` (or the bound address).
    pub fn base_url(&self) -> String {
        format!("https://{}", self.addr)
    }

    /// The bound socket address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// SHA-256 thumbprint of the presented certificate, uppercase colon-separated hex.
    pub fn thumbprint(&self) -> String {
        self.state.tls.identity().thumbprint.clone()
    }

    /// PEM of the presented certificate.
    pub fn cert_pem(&self) -> String {
        self.state.tls.identity().cert_pem.clone()
    }

    /// `about.instanceUuid`.
    pub fn instance_uuid(&self) -> String {
        self.state.instance_uuid.clone()
    }

    /// Counters.
    pub fn stats(&self) -> SimStats {
        self.state.stats()
    }

    /// Run-time control: faults, expiry, restart, certificate rotation, changes.
    pub fn control(&self) -> &SimControl {
        &self.control
    }

    /// Stops accepting, ends open connections and waits for the server task.
    pub async fn shutdown(mut self) {
        let _ = self.shutdown.send(true);
        if let Some(s) = self.server.take() {
            let _ = s.await;
        }
        if let Some(c) = self.change.take() {
            let _ = c.await;
        }
    }
}

impl Drop for Simulator {
    fn drop(&mut self) {
        let _ = self.shutdown.send(true);
    }
}
