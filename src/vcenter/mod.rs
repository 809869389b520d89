//! vCenter transport: sessions, TLS, both API families, failure classes. It knows nothing of
//! Pulse or GraphQL; everything that talks to vCenter goes through here.

pub mod check;
pub mod client;
pub mod error;
pub mod issue;
pub mod methods;
pub mod reads;
pub mod session;
pub mod tls;
pub mod transport;
pub mod wire;

pub use wire::any;

pub use client::{ClientConfig, Idempotency, Negotiated, Secret, SessionStats, VcClient};
pub use error::{ApiFamily, FailureClass, VcError, VcResult};
pub use issue::{HealthIssue, IssueObject, Stage};
pub use tls::TlsMode;
pub use wire::MoRef;
