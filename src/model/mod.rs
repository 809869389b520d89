//! Pure projection rules from vSphere objects to Pulse's canonical resources (`agent` = ESXi
//! host, `vm`, `storage` = datastore). No I/O: the collector feeds it, GraphQL reads its output.
//! See `../shared/DESIGN.md` section 5.

pub mod alerts;
pub mod identity;
pub mod ids;
pub mod kinds;
pub mod paths;
pub mod project;
pub mod ranks;
pub mod raw;
pub mod raw_inventory;
pub mod resources;
pub mod snapshot;
pub mod status;
pub mod topology;

pub use alerts::{AlertSeverity, ALERT_SOURCE};
pub use ids::ResourceId;
pub use status::ResourceStatus;

/// A vCenter timestamp (RFC 3339, any offset) in UTC; `None` when it does not parse.
pub fn utc(s: &str) -> Option<chrono::DateTime<chrono::Utc>> {
    chrono::DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.with_timezone(&chrono::Utc))
}

/// The canonical Pulse platform id of everything this service projects.
pub const PLATFORM_TYPE: &str = "vmware-vsphere";
