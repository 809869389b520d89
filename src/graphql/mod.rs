//! The Apollo Federation v2 subgraph: `Agent`, `Vm` and `Storage` entities keyed by `id`, their
//! `@shareable` canonical fields, the owned `vsphere` facets, and `vsphere*` root fields.
//! Thin views over the inventory snapshot; see `../shared/DESIGN.md` section 6.

pub mod activity;
pub mod common;
pub mod enums;
pub mod errors;
pub mod facets;
pub mod filters;
pub mod health;
pub mod lists;
pub mod loader;
pub mod paging;
pub mod platform;
pub mod query;
pub mod resources;
pub mod select;

use std::sync::Arc;

use async_graphql::dataloader::DataLoader;
use async_graphql::{EmptyMutation, EmptySubscription, SDLExportOptions, Schema};

use crate::connections::Registry;
use loader::EntityLoader;
use query::Query;

/// The schema type.
pub type VsphereSchema = Schema<Query, EmptyMutation, EmptySubscription>;

/// Deepest query accepted (the deepest useful path, VM -> host -> vms -> nodes -> vsphere ->
/// topology -> cluster, is well below).
pub const MAX_DEPTH: usize = 16;
/// Largest query complexity accepted (each field counts 1; a page of 500 nested items fits).
pub const MAX_COMPLEXITY: usize = 50_000;

/// Builds the schema over the connections of `registry`; what a snapshot does not hold is read
/// through each connection's on-demand reads.
pub fn build(registry: Arc<Registry>) -> VsphereSchema {
    // A page of 500 resources resolves its series in more than the default 1 ms, and much
    // more on a loaded machine; 50 ms is small next to a vCenter call and lets one request's
    // series share one.
    let series = DataLoader::new(activity::SeriesLoader(registry.clone()), tokio::spawn)
        .delay(std::time::Duration::from_millis(50))
        .max_batch_size(10_000);
    let events = DataLoader::new(activity::EventsLoader(registry.clone()), tokio::spawn);
    Schema::build(Query, EmptyMutation, EmptySubscription)
        .data(series)
        .data(events)
        .enable_federation()
        .data(DataLoader::new(
            EntityLoader {
                registry: registry.clone(),
            },
            tokio::spawn,
        ))
        .data(registry)
        .limit_depth(MAX_DEPTH)
        .limit_complexity(MAX_COMPLEXITY)
        .finish()
}

/// The federation SDL, exactly what `pulse-vsphere schema` prints and `schema.graphql` holds.
pub fn sdl() -> String {
    build(Registry::new(Default::default()))
        .sdl_with_options(SDLExportOptions::new().federation().compose_directive())
}
