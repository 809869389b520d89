//! The one place the schemas are built: the root types merged from the domains, and
//! [`SchemaDeps`], what they read, by name.

use std::sync::Arc;

use async_graphql::dataloader::DataLoader;
use async_graphql::{EmptyMutation, MergedObject, ObjectType, SDLExportOptions, Schema};

use super::activity::{EventsLoader, SeriesLoader};
use super::connections::{ConnectionsQuery, Mutation};
use super::live::Subscription;
use super::loader::{EntityLoader, LoaderStats};
use super::{alerts, datastores, hosts, incidents, limits, lookup, platform, vms};
use crate::connections::onboarding::Onboarding;
use crate::connections::Registry;

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
pub type VsphereSchema = Schema<Query, Mutation, Subscription>;
/// The assistant's schema: no mutation type at all, so a mutation cannot even be planned.
pub type AssistantSchema = Schema<Query, EmptyMutation, Subscription>;

/// Both schemas over the same data, and what a request to either may cost.
#[derive(Clone)]
pub struct Schemas {
    pub full: VsphereSchema,
    pub assistant: AssistantSchema,
    /// Checked before a request reaches either schema ([`limits`]).
    pub cost: Arc<limits::CostModel>,
    /// Both schemas' DataLoader batch sizes.
    pub loaders: Arc<LoaderStats>,
}

/// The library's own depth limit: the same as [`limits::MAX_DEPTH`], which is checked first;
/// kept so a request that reaches the library some other way is still bounded.
pub const MAX_DEPTH: usize = limits::MAX_DEPTH as usize;
/// The library's own complexity limit (each field counts 1, lists once). [`limits`] checks a
/// stricter estimate first; this stays as a second bound.
pub const MAX_COMPLEXITY: usize = 50_000;

/// What the schemas read, each by name: the one way to build them, for the service, the
/// `schema` command, tests and benchmarks. A schema for another role is one more
/// [`SchemaDeps::schema`] with that role's mutation type.
#[derive(Clone)]
pub struct SchemaDeps {
    /// The connections: inventory, health, activity and on-demand vCenter reads; its budget's
    /// burst bounds a request's on-demand calls ([`limits::Limits::max_vcenter_calls`]).
    pub registry: Arc<Registry>,
    /// Onboarding: the mutations, the audit log and history. Without it they answer
    /// `STORE_UNAVAILABLE`.
    pub onboarding: Option<Arc<Onboarding>>,
}

impl SchemaDeps {
    /// Over `registry`, without onboarding.
    pub fn new(registry: Arc<Registry>) -> SchemaDeps {
        SchemaDeps {
            registry,
            onboarding: None,
        }
    }

    /// Every role's schema over the same data, the loaders' statistics they share, and the
    /// cost model checked before either runs.
    pub fn schemas(&self) -> Schemas {
        let loaders = Arc::new(LoaderStats::default());
        let full = self.schema(Mutation, &loaders);
        // The SDL with the federation fields (`_entities`), as requests see the schema.
        let cost = Arc::new(limits::CostModel::new(
            &full.sdl(),
            limits::Limits {
                max_vcenter_calls: u64::from(self.registry.budget().burst),
                ..limits::Limits::default()
            },
        ));
        Schemas {
            full,
            assistant: self.schema(EmptyMutation, &loaders),
            cost,
            loaders,
        }
    }

    /// The admin/reader schema alone (tests, the SDL).
    pub fn full(&self) -> VsphereSchema {
        self.schema(Mutation, &Arc::new(LoaderStats::default()))
    }

    /// A schema with `mutation` as its mutation type, its loaders counted in `loaders`.
    pub fn schema<M: ObjectType + 'static>(
        &self,
        mutation: M,
        loaders: &Arc<LoaderStats>,
    ) -> Schema<Query, M, Subscription> {
        let registry = &self.registry;
        // A page of 500 resources resolves its series in more than the default 1 ms, and much
        // more on a loaded machine; 50 ms is small next to a vCenter call and lets one request's
        // series share one.
        let series = DataLoader::new(
            SeriesLoader(registry.clone(), loaders.clone()),
            spawn_traced,
        )
        .delay(std::time::Duration::from_millis(50))
        .max_batch_size(10_000);
        // One batch per request, so the budget pays for a request's reads at once or refuses
        // them all.
        let events = DataLoader::new(
            EventsLoader(registry.clone(), loaders.clone()),
            spawn_traced,
        )
        .delay(std::time::Duration::from_millis(50))
        .max_batch_size(10_000);
        // No `.extension(..)`: objects resolved by `inline` do not report fields to one.
        let mut b = Schema::build(Query::default(), mutation, Subscription)
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
        if let Some(o) = &self.onboarding {
            b = b.data(o.clone());
        }
        b.finish()
    }
}

/// The federation SDL, exactly what `pulse-vsphere schema` prints and `schema.graphql` holds.
pub fn sdl() -> String {
    SchemaDeps::new(Registry::new(Default::default()))
        .full()
        .sdl_with_options(SDLExportOptions::new().federation().compose_directive())
}

/// Runs a DataLoader batch as a task of the request that first asked for it, so its span (and
/// its vCenter calls) sit in that request's trace.
fn spawn_traced(batch: futures::future::BoxFuture<'static, ()>) -> tokio::task::JoinHandle<()> {
    use tracing::Instrument;
    tokio::spawn(batch.in_current_span())
}
