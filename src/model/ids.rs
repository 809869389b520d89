//! Resource ids: derived from the vCenter `about.instanceUuid` plus the object's moId, never from
//! a connection id, a name or a list position. They survive restarts, reconnects, renames and
//! re-creating the connection, and two vCenters never share one.

use std::fmt;
use std::sync::Arc;

/// Prefix that marks an id as ours; other platforms use their own.
const PREFIX: &str = "vsphere";

/// An opaque, stable resource id: `vsphere:{instanceUuid}:{moId}`. Shared text: the snapshot's
/// indexes key on ids and are rebuilt on every publish, so a clone must not allocate.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(transparent)]
pub struct ResourceId(Arc<str>);

/// Why a string is not one of our ids.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not a vSphere resource id")]
pub struct ForeignId(pub String);

impl ResourceId {
    /// The id of object `moid` on the vCenter with `instance_uuid`.
    pub fn new(instance_uuid: &str, moid: &str) -> Self {
        // instanceUuid is case-insensitive hex; normalise so the same vCenter always yields the same id.
        ResourceId(Arc::from(format!(
            "{PREFIX}:{}:{moid}",
            instance_uuid.to_ascii_lowercase()
        )))
    }

    /// Parses an id handed back by a client.
    ///
    /// # Errors
    /// [`ForeignId`] when the string was not made by [`ResourceId::new`] (another platform's id,
    /// or garbage): callers answer `null`/`NOT_FOUND`, never a server error.
    pub fn parse(s: &str) -> Result<Self, ForeignId> {
        let mut parts = s.splitn(3, ':');
        match (parts.next(), parts.next(), parts.next()) {
            (Some(PREFIX), Some(uuid), Some(moid))
                if !uuid.is_empty()
                    && !moid.is_empty()
                    && uuid.len() <= 64
                    && moid.len() <= 256
                    && uuid.chars().all(|c| c.is_ascii_hexdigit() || c == '-') =>
            {
                Ok(ResourceId::new(uuid, moid))
            }
            _ => Err(ForeignId(s.chars().take(80).collect())),
        }
    }

    /// The vCenter instanceUuid part.
    pub fn instance_uuid(&self) -> &str {
        self.0.split(':').nth(1).unwrap_or("")
    }

    /// The moId part.
    pub fn moid(&self) -> &str {
        self.0.splitn(3, ':').nth(2).unwrap_or("")
    }

    /// The id as a string.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether another clone of this id is alive (a projector forgets ids no resource holds).
    pub fn is_shared(&self) -> bool {
        Arc::strong_count(&self.0) > 1
    }
}

impl fmt::Display for ResourceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const VC: &str = "32EDB602-2C09-41D9-9AA3-47E9CDA5DC2D";

    #[test]
    fn ids_depend_only_on_vcenter_and_moid() {
        let a = ResourceId::new(VC, "vm-42");
        // Same vCenter seen through another connection, after a rename or a restart: same id.
        assert_eq!(a, ResourceId::new(&VC.to_lowercase(), "vm-42"));
        assert_ne!(a, ResourceId::new(VC, "vm-43"));
        assert_ne!(
            a,
            ResourceId::new("0f3c6d2a-0000-4000-8000-000000000001", "vm-42")
        );
        assert_eq!(a.moid(), "vm-42");
        assert_eq!(a.instance_uuid(), VC.to_lowercase());
    }

    #[test]
    fn parse_round_trips_and_rejects_foreign_ids() {
        let a = ResourceId::new(VC, "host-10");
        assert_eq!(ResourceId::parse(a.as_str()), Ok(a));
        for bad in [
            "",
            "vm-42",
            "proxmox:node1:qemu/100",
            "vsphere::vm-1",
            "vsphere:zz:vm-1",
            "vsphere:abc:",
        ] {
            assert!(ResourceId::parse(bad).is_err(), "{bad}");
        }
        // A moId may itself contain colons; everything after the uuid belongs to it.
        let odd = ResourceId::new(VC, "session[1]:x");
        assert_eq!(
            ResourceId::parse(odd.as_str()).map(|i| i.moid().to_string()),
            Ok("session[1]:x".into())
        );
    }
}
