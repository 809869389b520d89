//! Whether a response may be reused while the connection slots it read are unchanged
//! (`server::response_cache`). Fields that always read something else (the store, vCenter on
//! demand, the clock) say so statically with `#[graphql(cache_control(no_cache))]`, which the
//! library merges during validation; fields that read something else only for some arguments
//! mark the request here while they resolve.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use async_graphql::Context;

/// Set while a request resolves when its answer depends on more than the slots' state.
#[derive(Debug, Default)]
pub struct Volatile(AtomicBool);

impl Volatile {
    /// Whether a field marked the request.
    pub fn is_set(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}

/// Marks the request being resolved as not reusable (a no-op for a request without a marker,
/// such as a subscription's).
pub fn mark(ctx: &Context<'_>) {
    if let Some(v) = ctx.data_opt::<Arc<Volatile>>() {
        v.0.store(true, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use crate::collector::CollectorConfig;
    use crate::connections::Registry;
    use crate::graphql::SchemaDeps;

    const PAGE: &str = "{ vsphereVms(first: 5) { totalCount nodes { id name status lastSeen \
        host { id name } alerts { id name severity since } \
        vsphere { powerState snapshotCount snapshots { name created } \
        guest { hostname filesystems { path freeBytes } } } \
        activity { tasks { key } alertHistory { name } } performance { realtime { cpuPercent } } } } \
        vsphereConnections { id state lastSuccess contribution { vms } } }";

    #[tokio::test]
    async fn only_what_reads_beyond_the_slots_is_no_cache() {
        let schema = SchemaDeps::new(Registry::new(CollectorConfig::default())).full();
        let page = schema.execute(PAGE).await;
        assert!(page.errors.is_empty(), "{:?}", page.errors);
        assert_ne!(page.cache_control.max_age, -1, "the slots' state alone");
        for q in [
            "{ vsphereVms { nodes { vsphere { snapshots { ageDays } } } } }",
            "{ vsphereConnections { contribution { staleSeconds } } }",
            "{ vsphereVms { nodes { performance { series(metric: CPU) { metric } } } } }",
            "{ vsphereTimeline { pageInfo { hasNextPage } } }",
            "{ vsphereIncidents { pageInfo { hasNextPage } } }",
            "{ vsphereStore { ok } }",
            "{ vsphereAuditLog { seq } }",
            "{ vspherePlatform { latestProof { verdict } } }",
            "{ vspherePlatform { liveProof } }",
            "mutation { vsphereDeleteConnection(id: \"x\", version: 1) }",
        ] {
            let resp = schema.execute(q).await;
            // Resolver errors (no store here) are fine; a validation error would hide the result.
            assert!(
                resp.errors.iter().all(|e| !e.path.is_empty()),
                "{q}: {:?}",
                resp.errors
            );
            assert_eq!(resp.cache_control.max_age, -1, "{q}");
        }
    }
}
