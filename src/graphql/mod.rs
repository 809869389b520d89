//! The Apollo Federation v2 subgraph: `Agent`, `Vm` and `Storage` entities keyed by `id`, their
//! `@shareable` canonical fields, the owned `vsphere` facets, and `vsphere*` root fields.
//! Thin views over the inventory snapshot; see `../shared/DESIGN.md` section 6.

pub mod activity;
pub mod alerts;
pub mod common;
pub mod connections;
pub mod datastores;
pub mod enums;
pub mod errors;
pub mod filters;
pub mod health;
pub mod hosts;
pub mod incidents;
pub mod limits;
pub mod lists;
pub mod loader;
pub mod lookup;
pub mod nodes;
pub mod pack;
pub mod paging;
pub mod platform;
pub mod select;
pub mod vms;

use std::sync::Arc;

use async_graphql::dataloader::DataLoader;
use async_graphql::{
    EmptyMutation, EmptySubscription, MergedObject, ObjectType, SDLExportOptions, Schema,
    SchemaBuilder,
};

use crate::connections::onboarding::Onboarding;
use crate::connections::Registry;
use connections::{ConnectionsQuery, Mutation};
use loader::EntityLoader;

/// The root query: one part per domain.
#[derive(MergedObject, Default)]
pub struct Query(
    hosts::HostsQuery,
    vms::VmsQuery,
    datastores::DatastoresQuery,
    lookup::ResourceQuery,
    alerts::AlertsQuery,
    ConnectionsQuery,
    platform::PlatformQuery,
    incidents::HistoryQuery,
);

/// The schema of admins and readers.
pub type VsphereSchema = Schema<Query, Mutation, EmptySubscription>;
/// The assistant's schema: no mutation type at all, so a mutation cannot even be planned.
pub type AssistantSchema = Schema<Query, EmptyMutation, EmptySubscription>;

/// Both schemas over the same data, and what a request to either may cost.
#[derive(Clone)]
pub struct Schemas {
    pub full: VsphereSchema,
    pub assistant: AssistantSchema,
    /// Checked before a request reaches either schema ([`limits`]).
    pub cost: Arc<limits::CostModel>,
    /// Both schemas' DataLoader batch sizes.
    pub loaders: Arc<loader::LoaderStats>,
}

/// The library's own depth limit: the same as [`limits::MAX_DEPTH`], which is checked first;
/// kept so a request that reaches the library some other way is still bounded.
pub const MAX_DEPTH: usize = limits::MAX_DEPTH as usize;
/// The library's own complexity limit (each field counts 1, lists once). [`limits`] checks a
/// stricter estimate first; this stays as a second bound.
pub const MAX_COMPLEXITY: usize = 50_000;

/// The schemas over the connections of `registry`; `onboarding` serves the mutations and the
/// audit log (without it they answer `STORE_UNAVAILABLE`).
pub fn schemas(registry: Arc<Registry>, onboarding: Option<Arc<Onboarding>>) -> Schemas {
    let loaders = Arc::new(loader::LoaderStats::default());
    let full = finish(
        Schema::build(Query::default(), Mutation, EmptySubscription),
        &registry,
        onboarding.clone(),
        &loaders,
    );
    // The SDL with the federation fields (`_entities`), as requests see the schema.
    let cost = Arc::new(limits::CostModel::new(
        &full.sdl(),
        limits::Limits {
            max_vcenter_calls: u64::from(registry.budget().burst),
            ..limits::Limits::default()
        },
    ));
    Schemas {
        full,
        assistant: finish(
            Schema::build(Query::default(), EmptyMutation, EmptySubscription),
            &registry,
            onboarding,
            &loaders,
        ),
        cost,
        loaders,
    }
}

/// The admin/reader schema over `registry`, without onboarding (tests, schema export).
pub fn build(registry: Arc<Registry>) -> VsphereSchema {
    schemas(registry, None).full
}

fn finish<M: ObjectType + 'static>(
    b: SchemaBuilder<Query, M, EmptySubscription>,
    registry: &Arc<Registry>,
    onboarding: Option<Arc<Onboarding>>,
    loaders: &Arc<loader::LoaderStats>,
) -> Schema<Query, M, EmptySubscription> {
    // A page of 500 resources resolves its series in more than the default 1 ms, and much
    // more on a loaded machine; 50 ms is small next to a vCenter call and lets one request's
    // series share one.
    let series = DataLoader::new(
        activity::SeriesLoader(registry.clone(), loaders.clone()),
        spawn_traced,
    )
    .delay(std::time::Duration::from_millis(50))
    .max_batch_size(10_000);
    // One batch per request, so the budget pays for a request's reads at once or refuses
    // them all.
    let events = DataLoader::new(
        activity::EventsLoader(registry.clone(), loaders.clone()),
        spawn_traced,
    )
    .delay(std::time::Duration::from_millis(50))
    .max_batch_size(10_000);
    let mut b = b
        .data(series)
        .data(events)
        .enable_federation()
        .data(DataLoader::new(
            EntityLoader {
                registry: registry.clone(),
                stats: loaders.clone(),
            },
            spawn_traced,
        ))
        .data(registry.clone())
        .limit_depth(MAX_DEPTH)
        .limit_complexity(MAX_COMPLEXITY);
    if let Some(o) = onboarding {
        b = b.data(o);
    }
    b.finish()
}

/// The federation SDL, exactly what `pulse-vsphere schema` prints and `schema.graphql` holds.
pub fn sdl() -> String {
    build(Registry::new(Default::default()))
        .sdl_with_options(SDLExportOptions::new().federation().compose_directive())
}

/// Runs a DataLoader batch as a task of the request that first asked for it, so its span (and
/// its vCenter calls) sit in that request's trace.
fn spawn_traced(batch: futures::future::BoxFuture<'static, ()>) -> tokio::task::JoinHandle<()> {
    use tracing::Instrument;
    tokio::spawn(batch.in_current_span())
}
