//! The entity loader: every id a request looks up (`_entities` representations,
//! `vsphereResource`) is resolved in one batch, through `lookup::by_id`. Inventory comes from
//! the snapshot, so a batch costs no vCenter call.

use std::collections::HashMap;
use std::sync::Arc;

use async_graphql::dataloader::Loader;

use super::nodes::Resource;
use super::select;
use crate::connections::Registry;
use crate::model::ResourceId;

/// Resolves resource ids to nodes.
pub struct EntityLoader {
    /// The connections.
    pub registry: Arc<Registry>,
    pub stats: Arc<LoaderStats>,
}

/// Keys per batch of each loader (`/metrics`): how well a request's reads share their trips.
#[derive(Debug, Default)]
pub struct LoaderStats {
    pub entities: crate::telemetry::Sizes,
    pub events: crate::telemetry::Sizes,
    pub series: crate::telemetry::Sizes,
}

impl Loader<ResourceId> for EntityLoader {
    type Value = Resource;
    type Error = Arc<String>;

    #[tracing::instrument(name = "dataloader.batch", skip_all, fields(loader = "entities", keys = keys.len()))]
    async fn load(
        &self,
        keys: &[ResourceId],
    ) -> Result<HashMap<ResourceId, Self::Value>, Self::Error> {
        self.stats.entities.observe(keys.len());
        let visible = self.registry.visible();
        Ok(keys
            .iter()
            .filter_map(|id| {
                let (vis, slot) = select::find(&visible, id)?;
                Some((
                    id.clone(),
                    Resource::at(&vis.connection, &vis.snapshot, slot),
                ))
            })
            .collect())
    }
}
