//! The platform row this service declares for itself (DESIGN section 9): the support-claim
//! ratchet reads it, the assistant reads it. vSphere is admitted at `first-lab-ready`; nothing
//! here calls it supported until a dated live proof record exists.

use std::sync::Arc;

use async_graphql::{ComplexObject, Context, Object, Result, SimpleObject};
use chrono::{DateTime, Utc};

use crate::connections::onboarding::Onboarding;
use crate::store::ProofEntry;

/// One surface of the phase-1 floor and what is claimed for it.
#[derive(SimpleObject, Clone, Debug)]
#[graphql(name = "VsphereFloorSurface")]
pub struct FloorSurface {
    /// Surface (setup, visibility, workloads, storage, recovery, alerts, assistantRead, assistantControl).
    pub surface: String,
    /// What the floor covers for it.
    pub claim: String,
    /// `in-floor`, `read-only` or `n/a`.
    pub floor_status: String,
}

/// This platform's row in Pulse's platform support model.
#[derive(SimpleObject, Clone, Debug)]
#[graphql(name = "VspherePlatform", complex)]
pub struct Platform {
    /// Canonical platform id.
    pub id: String,
    /// Platform family.
    pub family: String,
    /// Governance state: `admitted`.
    pub governance_state: String,
    /// Readiness stage: `first-lab-ready` (not a support claim).
    pub readiness_stage: String,
    /// How it is onboarded: platform connections to vCenter only.
    pub entry_point: String,
    /// Primary ingestion mode.
    pub primary_mode: String,
    /// Canonical resource projections.
    pub projections: Vec<String>,
    /// The phase-1 floor, surface by surface.
    pub support_floor: Vec<FloorSurface>,
    /// What this platform never does or projects.
    pub exclusions: Vec<String>,
}

/// A proof record an admin attached (`pulse-vsphere proof --record-into-store`).
#[derive(SimpleObject, Clone, Debug)]
#[graphql(name = "VsphereProofRecord")]
pub struct ProofRecord {
    /// The day the proof ran.
    pub date: String,
    /// `pass`, `fail` or `could_not_run`.
    pub verdict: String,
    /// Whether it ran against a real vCenter (a simulated run never counts as live proof).
    pub live: bool,
    /// The vCenter version it ran against.
    pub vcenter_version: Option<String>,
    /// When it was attached.
    pub recorded_at: DateTime<Utc>,
}

impl From<ProofEntry> for ProofRecord {
    fn from(e: ProofEntry) -> ProofRecord {
        ProofRecord {
            date: e.date,
            verdict: e.verdict,
            live: !e.simulated,
            vcenter_version: e.vcenter_version,
            recorded_at: e.recorded_at,
        }
    }
}

/// The attached records never change the readiness stage: promotion to `supported` is
/// governance's decision, taken on the record, not the service's.
#[ComplexObject]
impl Platform {
    /// Whether a live proof record that passed has been attached (simulated or failed records
    /// never count).
    #[graphql(cache_control(no_cache))]
    async fn live_proof(&self, ctx: &Context<'_>) -> Result<bool> {
        Ok(proofs(ctx).await?.1.is_some_and(|e| e.is_live_pass()))
    }

    /// The latest attached proof record, whatever its verdict.
    #[graphql(cache_control(no_cache))]
    async fn latest_proof(&self, ctx: &Context<'_>) -> Result<Option<ProofRecord>> {
        Ok(proofs(ctx).await?.0.map(ProofRecord::from))
    }
}

async fn proofs(ctx: &Context<'_>) -> Result<(Option<ProofEntry>, Option<ProofEntry>)> {
    let Some(onboarding) = ctx.data_opt::<Arc<Onboarding>>() else {
        return Ok((None, None));
    };
    onboarding
        .store()
        .latest_proofs()
        .await
        .map_err(|e| super::errors::store(&e))
}

fn surface(surface: &str, claim: &str, status: &str) -> FloorSurface {
    FloorSurface {
        surface: surface.into(),
        claim: claim.into(),
        floor_status: status.into(),
    }
}

/// The row.
pub fn platform() -> Platform {
    Platform {
        id: crate::model::PLATFORM_TYPE.into(),
        family: "VMware".into(),
        governance_state: "admitted".into(),
        readiness_stage: "first-lab-ready".into(),
        entry_point: "platform-connections (vCenter only)".into(),
        primary_mode: "api-backed".into(),
        projections: vec!["agent".into(), "vm".into(), "storage".into()],
        support_floor: vec![
            surface("setup", "platform connections to vCenter only", "in-floor"),
            surface("visibility", "hosts, VMs and datastores with datacenter, cluster, folder, resource pool, placement and datastore attachment", "in-floor"),
            surface("workloads", "VM inventory, power and runtime state, guest identity when Tools reports it, snapshot tree, metrics and alarm context", "in-floor"),
            surface("storage", "datastore inventory, capacity, free space, accessibility, host mounts, VM-to-datastore usage", "in-floor"),
            surface("recovery", "snapshots are read-side detail, never recovery or backup", "n/a"),
            surface("alerts", "alarm state, overall health, event and task history through the shared alert shape", "in-floor"),
            surface("assistantRead", "through the same canonical fields every platform uses", "in-floor"),
            surface("assistantControl", "no mutation touches vCenter state", "read-only"),
        ],
        exclusions: vec![
            "direct ESXi onboarding".into(),
            "agent-based VMware support".into(),
            "physical-disk, system-container and app-container projections".into(),
            "snapshots as recovery or backup".into(),
            "control verbs (VM power, snapshot create/revert/delete, guest operations, host maintenance, cluster administration, alarm acknowledge)".into(),
            "provider-local resource types (esxi-host, vsphere-vm, vsphere-datastore, vsphere-cluster)".into(),
        ],
    }
}

/// Root fields of the platform domain: what this platform declares about itself.
#[derive(Default)]
pub struct PlatformQuery;

#[Object]
impl PlatformQuery {
    /// This platform's row in Pulse's platform support model: admitted, readiness
    /// `first-lab-ready`, vCenter-only, read-only for the assistant.
    async fn vsphere_platform(&self) -> Platform {
        platform()
    }

    /// The assistant's query pack: named, read-only operations for the questions asked again
    /// and again, each runnable by its `id` as a persisted query (docs/assistant.md).
    async fn vsphere_assistant_pack(&self) -> super::pack::PackView {
        super::pack::PackView::new()
    }
}
