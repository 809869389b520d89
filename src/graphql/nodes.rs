//! The three entities as handles into a snapshot (a connection, its snapshot, a position in it)
//! and the union of them. The handles sit below every domain module, so a domain returns
//! another's entity (a VM's host, a host's datastores) without importing that domain; each
//! domain module implements the GraphQL object of its own entity (`hosts`, `vms`, `datastores`).
//! A position becomes a node here and nowhere else: [`Resource::at`] for an id looked up across
//! connections (`lookup::by_id`, the one route from an id), [`Resource::beside`] for an id one
//! record holds of another in the same snapshot.

use std::sync::Arc;

use async_graphql::Union;

use super::hit::Hit;
use crate::inventory::ConnectionSlot;
use crate::model::resources::{Agent, Storage, Vm};
use crate::model::snapshot::{InventorySnapshot, Slot};
use crate::model::ResourceId;

/// An ESXi host.
#[derive(Clone)]
pub struct AgentNode(pub Hit);
/// A virtual machine.
#[derive(Clone)]
pub struct VmNode(pub Hit);
/// A datastore.
#[derive(Clone)]
pub struct StorageNode(pub Hit);

impl AgentNode {
    /// The host's record in the snapshot.
    pub fn a(&self) -> &Agent {
        &self.0.snap.agents[self.0.idx]
    }
}
impl VmNode {
    /// The VM's record in the snapshot.
    pub fn v(&self) -> &Vm {
        &self.0.snap.vms[self.0.idx]
    }
}
impl StorageNode {
    /// The datastore's record in the snapshot.
    pub fn s(&self) -> &Storage {
        &self.0.snap.storage[self.0.idx]
    }
}

/// Any vSphere-backed canonical resource.
#[derive(Union, Clone)]
#[graphql(name = "VsphereResource")]
pub enum Resource {
    /// An ESXi host.
    Agent(AgentNode),
    /// A virtual machine.
    Vm(VmNode),
    /// A datastore.
    Storage(StorageNode),
}

impl Resource {
    /// The resource at `slot` of a connection's snapshot.
    pub fn at(conn: &Arc<ConnectionSlot>, snap: &Arc<InventorySnapshot>, slot: Slot) -> Resource {
        let hit = |idx| Hit {
            conn: conn.clone(),
            snap: snap.clone(),
            idx,
        };
        match slot {
            Slot::Agent(i) => Resource::Agent(AgentNode(hit(i))),
            Slot::Vm(i) => Resource::Vm(VmNode(hit(i))),
            Slot::Storage(i) => Resource::Storage(StorageNode(hit(i))),
        }
    }

    /// The resource `id` names in the snapshot `hit` is in: how a record reaches another it
    /// names (a VM's host, a mount's host, a VM's datastores). Both always come from one
    /// snapshot, so a page never mixes two versions of the inventory.
    pub fn beside(hit: &Hit, id: &ResourceId) -> Option<Resource> {
        Some(Resource::at(&hit.conn, &hit.snap, hit.snap.slot(id)?))
    }

    /// The host, if this is one.
    pub fn agent(self) -> Option<AgentNode> {
        match self {
            Resource::Agent(a) => Some(a),
            _ => None,
        }
    }

    /// The VM, if this is one.
    pub fn vm(self) -> Option<VmNode> {
        match self {
            Resource::Vm(v) => Some(v),
            _ => None,
        }
    }

    /// The datastore, if this is one.
    pub fn storage(self) -> Option<StorageNode> {
        match self {
            Resource::Storage(s) => Some(s),
            _ => None,
        }
    }
}
