//! What a VM's record holds about its inside and its past: the guest as VMware Tools reports it
//! (with its filesystems) and the snapshot tree, as parts of the VM's `vsphere` facet.

use async_graphql::Object;
use chrono::{DateTime, Utc};

use super::common;
use super::inline::Inline;
use crate::model::resources::{self as model, SnapshotNode};

/// A filesystem inside the guest, read from the VM's record.
pub struct GuestFilesystem<'a>(&'a model::GuestFilesystem);

/// A filesystem inside the guest, as VMware Tools reports it.
#[Object(name = "VsphereGuestFilesystem")]
impl GuestFilesystem<'_> {
    /// Mount point or drive.
    async fn path(&self) -> &str {
        &self.0.path
    }
    /// Capacity in bytes.
    async fn capacity_bytes(&self) -> Option<f64> {
        common::bytes(self.0.capacity_bytes)
    }
    /// Free bytes.
    async fn free_bytes(&self) -> Option<f64> {
        common::bytes(self.0.free_bytes)
    }
    /// Filesystem type.
    async fn filesystem(&self) -> Option<&str> {
        self.0.filesystem.as_deref()
    }
}

/// The guest as VMware Tools reports it, read from the VM's record.
pub struct Guest<'a>(pub &'a model::GuestInfo);

/// The guest operating system as VMware Tools reports it.
#[Object(name = "VsphereGuest")]
impl Guest<'_> {
    /// OS family (linuxGuest, windowsGuest, ...).
    async fn os_family(&self) -> Option<&str> {
        self.0.os_family.as_deref()
    }
    /// Full OS name.
    async fn os_name(&self) -> Option<&str> {
        self.0.os_name.as_deref()
    }
    /// Guest id (configured or reported).
    async fn guest_id(&self) -> Option<&str> {
        self.0.guest_id.as_deref()
    }
    /// Guest hostname.
    async fn hostname(&self) -> Option<&str> {
        self.0.hostname.as_deref()
    }
    /// Primary IP address.
    async fn ip_address(&self) -> Option<&str> {
        self.0.ip_address.as_deref()
    }
    /// `toolsStatus` (toolsOk, toolsOld, toolsNotRunning, toolsNotInstalled).
    async fn tools_status(&self) -> Option<&str> {
        self.0.tools_status.as_deref()
    }
    /// `toolsRunningStatus` (guestToolsRunning, guestToolsNotRunning, ...).
    async fn tools_running_status(&self) -> Option<&str> {
        self.0.tools_running_status.as_deref()
    }
    /// Tools version.
    async fn tools_version(&self) -> Option<&str> {
        self.0.tools_version.as_deref()
    }
    /// Whether Tools is running, i.e. whether the guest identity above is current.
    async fn tools_running(&self) -> bool {
        self.0.tools_running()
    }
    /// Filesystems.
    async fn filesystems(&self) -> Vec<Inline<GuestFilesystem<'_>>> {
        self.0
            .filesystems
            .iter()
            .map(GuestFilesystem)
            .map(Inline)
            .collect()
    }
}

/// One snapshot of a VM's snapshot tree, read from the VM's record; ages are counted from
/// one instant for the whole tree.
pub struct Snapshot<'a> {
    node: &'a SnapshotNode,
    now: DateTime<Utc>,
}

/// One snapshot in a VM's snapshot tree. Snapshots are read-side detail, not backups.
#[Object(name = "VsphereSnapshot")]
impl Snapshot<'_> {
    /// Snapshot moId.
    async fn moid(&self) -> &str {
        &self.node.moid
    }
    /// Name.
    async fn name(&self) -> &str {
        &self.node.name
    }
    /// Description.
    async fn description(&self) -> Option<&str> {
        self.node.description.as_deref()
    }
    /// When it was taken.
    async fn created(&self) -> Option<DateTime<Utc>> {
        self.node.created
    }
    /// Age in days at the time of the query.
    #[graphql(cache_control(no_cache))]
    async fn age_days(&self) -> Option<f64> {
        self.node
            .created
            .map(|c| (self.now - c).num_seconds() as f64 / 86_400.0)
    }
    /// Power state captured (poweredOn, poweredOff, suspended).
    async fn state(&self) -> Option<&str> {
        self.node.state.as_deref()
    }
    /// Whether the guest was quiesced.
    async fn quiesced(&self) -> bool {
        self.node.quiesced
    }
    /// Whether this is the VM's current snapshot.
    async fn current(&self) -> bool {
        self.node.current
    }
    /// Bytes of its data and memory files as vCenter lays them out (`layoutEx`; delta disks
    /// not counted); null where vCenter does not report it.
    async fn size_bytes(&self) -> Option<f64> {
        super::common::bytes(self.node.size_bytes)
    }
    /// Child snapshots.
    async fn children(&self) -> Vec<Inline<Snapshot<'_>>> {
        snapshots(&self.node.children, self.now)
    }
}

/// A snapshot tree's nodes, their ages counted from `now`.
pub fn snapshots(nodes: &[SnapshotNode], now: DateTime<Utc>) -> Vec<Inline<Snapshot<'_>>> {
    nodes
        .iter()
        .map(|node| Inline(Snapshot { node, now }))
        .collect()
}
