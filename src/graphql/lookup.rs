//! The one route from an id to a node: `vsphereResource` and every domain's federation lookup
//! (`_entities`) resolve through [`by_id`], so all of a request's ids are found in one batch
//! of the [`EntityLoader`], in the snapshot serving each id's vCenter.

use async_graphql::dataloader::DataLoader;
use async_graphql::{Context, Object, Result, ID};

use super::loader::EntityLoader;
use super::nodes::Resource;
use crate::model::ResourceId;

/// The resource `id` names; `None` for an unknown id or another platform's.
pub async fn by_id(ctx: &Context<'_>, id: &str) -> Result<Option<Resource>> {
    let Ok(rid) = ResourceId::parse(id) else {
        // Another platform's id: not ours, so null for this item only.
        return Ok(None);
    };
    ctx.data::<DataLoader<EntityLoader>>()?
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
    async fn vsphere_resource(&self, ctx: &Context<'_>, id: ID) -> Result<Option<Resource>> {
        by_id(ctx, &id).await
    }
}
