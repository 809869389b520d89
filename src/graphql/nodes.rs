//! The three entities as handles into a snapshot (a connection, its snapshot, a position in it)
//! and the union of them. The handles sit below every domain module, so a domain returns
//! another's entity (a VM's host, a host's datastores) without importing that domain; each
//! domain module implements the GraphQL object of its own entity (`hosts`, `vms`, `datastores`).

use async_graphql::Union;

use super::select::Hit;
use crate::model::resources::{Agent, Storage, Vm};

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
