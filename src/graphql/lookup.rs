//! From an id to a node: `vsphereResource`, and the federation lookups of the domains.

use async_graphql::dataloader::DataLoader;
use async_graphql::{Context, Object, Result, ID};

use super::loader::EntityLoader;
use super::nodes::{AgentNode, Resource, StorageNode, VmNode};
use super::select::{self, Hit};
use crate::model::snapshot::Slot;
use crate::model::ResourceId;

/// Resolves an id to a node of any kind (`null` for foreign or unknown ids).
pub fn resolve(ctx: &Context<'_>, id: &str) -> Option<Resource> {
    let store = ctx.data_opt::<std::sync::Arc<crate::connections::Registry>>()?;
    let rid = ResourceId::parse(id).ok()?;
    let (vis, slot) = select::find(&store.visible(), &rid)?;
    let hit = |idx| Hit {
        conn: vis.connection.clone(),
        snap: vis.snapshot.clone(),
        idx,
    };
    Some(match slot {
        Slot::Agent(i) => Resource::Agent(AgentNode(hit(i))),
        Slot::Vm(i) => Resource::Vm(VmNode(hit(i))),
        Slot::Storage(i) => Resource::Storage(StorageNode(hit(i))),
    })
}

/// The entity an id names, through the request's entity loader.
pub async fn entity(ctx: &Context<'_>, id: &ID) -> Result<Option<(Slot, Hit)>> {
    let Ok(rid) = ResourceId::parse(id) else {
        // Another platform's id: not ours, so null for this item only.
        return Ok(None);
    };
    let loader = ctx.data::<DataLoader<EntityLoader>>()?;
    loader
        .load_one(rid)
        .await
        .map_err(|e| async_graphql::Error::new(e.to_string()))
}

/// The root field that finds any resource by id.
#[derive(Default)]
pub struct ResourceQuery;

#[Object]
impl ResourceQuery {
    /// Any vSphere-backed resource by id; null when the id is unknown or belongs to another platform.
    async fn vsphere_resource(&self, ctx: &Context<'_>, id: ID) -> Option<Resource> {
        resolve(ctx, &id)
    }
}
