//! Projection: the collector's raw objects of one vCenter -> canonical agents, VMs and storage.
//! Pure and total: a missing or malformed property leaves a field empty, it never fails the
//! projection, and objects vCenter would not let us read are reported as issues.

use std::cell::RefCell;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;

use super::alerts::AlertSeverity;
use super::ids::ResourceId;
use super::paths::fields;
use super::raw::{moid_of, RawObject};
use super::raw_inventory::RawInventory;
use super::resources::*;
use super::topology::{Placement, TopologyNode};

pub mod datastore;
pub mod host;
pub mod topology;
pub mod vm;

fields!(ALARMED_FIELDS for [&host::KIND, &vm::KIND, &datastore::KIND, &topology::DATACENTER, &topology::CLUSTER, &topology::FOLDER] {
    ALARMED_NAME = "name";
    ALARM_STATES = "triggeredAlarmState";
});

/// What projection needs besides the raw objects.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ProjectionContext {
    /// The vCenter's `about.instanceUuid` (the id namespace).
    pub instance_uuid: String,
    /// Alarm definition names by alarm moId.
    pub alarm_names: HashMap<String, String>,
    /// Tags by object moId.
    pub tags: HashMap<String, Vec<TagRef>>,
}

/// A property vCenter would not return for one object.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ObjectIssue {
    /// Object type.
    pub kind: String,
    /// moId.
    pub moid: String,
    /// Property path.
    pub path: String,
    /// Fault type (`NoPermission`, ...).
    pub fault: String,
}

/// The canonical resources of one vCenter, shared with the [`Projector`] that made them.
#[derive(Clone, Debug, Default)]
pub struct Projection {
    /// ESXi hosts.
    pub agents: Vec<Arc<Agent>>,
    /// Each host's quick statistics, position for position.
    pub agent_stats: Vec<QuickStats>,
    /// Virtual machines (templates included, flagged).
    pub vms: Vec<Arc<Vm>>,
    /// Each VM's quick statistics, position for position.
    pub vm_stats: Vec<QuickStats>,
    /// Datastores.
    pub storage: Vec<Arc<Storage>>,
    /// Unreadable properties, per object.
    pub issues: Vec<ObjectIssue>,
    /// Active alarms on clusters, datacenters and folders, by alert id.
    pub topology_alerts: Vec<ActiveAlert>,
    /// Hosts, VMs and datastores projected anew by this pass (the others were the previous
    /// pass's, untouched).
    pub reprojected: usize,
}

fn time(v: Option<&Value>) -> Option<DateTime<Utc>> {
    v.and_then(Value::as_str).and_then(super::utc)
}

fn owned(v: Option<&str>) -> Option<String> {
    v.map(str::to_string)
}

/// What the projection of one resource reads besides its own object: the topology, each host's
/// parent (a VM's cluster is its host's), network names, and the alarms on clusters and
/// datacenters. While it and the [`ProjectionContext`] stay the same, a resource whose own object
/// did not change projects to the same value, so only changed objects are projected again.
#[derive(Debug, Default, PartialEq)]
struct Surroundings {
    topo: HashMap<String, TopologyNode>,
    host_parents: HashMap<String, String>,
    network_names: HashMap<String, String>,
    container_alerts: HashMap<String, Vec<ActiveAlert>>,
}

/// Whether objects of `kind` feed [`Surroundings`] (VMs and datastores do not).
fn surrounds(kind: &str) -> bool {
    !matches!(kind, "VirtualMachine" | "Datastore")
}

/// What changed in [`Surroundings`], and so which resources must be projected again besides the
/// changed ones.
#[derive(Debug, PartialEq)]
enum Differs {
    Nothing,
    /// Only the active alarms of these clusters: their hosts and the VMs on them.
    ClusterAlerts(HashSet<String>),
    /// Anything else: every resource.
    Everything,
}

/// What one object contributes to [`Surroundings`].
type Contribution = (
    Option<TopologyNode>,
    Option<String>,
    Option<String>,
    Option<Vec<ActiveAlert>>,
);

impl Surroundings {
    fn build(raw: &RawInventory, ctx: &ProjectionContext) -> Self {
        let mut s = Surroundings::default();
        for (moid, stored) in raw.iter().filter(|(_, o)| surrounds(o.kind())) {
            s.add(moid, &stored.decode(), ctx);
        }
        s
    }

    /// Replaces what the objects `ids` contribute with what they contribute in `raw` now (nothing
    /// when they are gone or no longer surround); what differs.
    fn update<'a>(
        &mut self,
        raw: &RawInventory,
        ctx: &ProjectionContext,
        ids: impl IntoIterator<Item = &'a String>,
    ) -> Differs {
        let mut differs = Differs::Nothing;
        for id in ids {
            let before = self.take(id);
            if let Some(stored) = raw.stored(id).filter(|o| surrounds(o.kind())) {
                self.add(id, &stored.decode(), ctx);
            }
            let after = self.take(id);
            if after != before {
                // Only the alarms of a cluster: they are context on its hosts and the VMs on
                // them, nothing else.
                let cluster = (after.0.as_ref().or(before.0.as_ref()))
                    .is_some_and(|n| n.kind == "ClusterComputeResource");
                let alerts_only =
                    (&after.0, &after.1, &after.2) == (&before.0, &before.1, &before.2);
                differs = match differs {
                    Differs::Everything => Differs::Everything,
                    _ if !(cluster && alerts_only) => Differs::Everything,
                    Differs::Nothing => Differs::ClusterAlerts(HashSet::from([id.clone()])),
                    Differs::ClusterAlerts(mut c) => {
                        c.insert(id.clone());
                        Differs::ClusterAlerts(c)
                    }
                };
            }
            self.put(id, after);
        }
        differs
    }

    fn take(&mut self, moid: &str) -> Contribution {
        (
            self.topo.remove(moid),
            self.host_parents.remove(moid),
            self.network_names.remove(moid),
            self.container_alerts.remove(moid),
        )
    }

    fn put(&mut self, moid: &str, (node, parent, name, alerts): Contribution) {
        if let Some(v) = node {
            self.topo.insert(moid.to_string(), v);
        }
        if let Some(v) = parent {
            self.host_parents.insert(moid.to_string(), v);
        }
        if let Some(v) = name {
            self.network_names.insert(moid.to_string(), v);
        }
        if let Some(v) = alerts {
            self.container_alerts.insert(moid.to_string(), v);
        }
    }
}

/// Active (red/yellow) alarms of one object.
fn alerts_of(ctx: &ProjectionContext, moid: &str, o: &RawObject) -> Vec<ActiveAlert> {
    let source_name = o.str(ALARMED_NAME).unwrap_or(moid).to_string();
    o.array(ALARM_STATES)
        .iter()
        .filter_map(|s| {
            // vCenter propagates triggered states up the hierarchy: a state whose entity is
            // another object (a host below this cluster) is that object's alarm.
            if s.get("entity").and_then(moid_of).is_some_and(|e| e != moid) {
                return None;
            }
            let severity = AlertSeverity::from_vsphere(s.get("overallStatus")?.as_str()?)?;
            let alarm = s.get("alarm").and_then(moid_of).unwrap_or("").to_string();
            let key = s
                .get("key")
                .and_then(Value::as_str)
                .map(str::to_string)
                .unwrap_or_else(|| format!("{alarm}.{moid}"));
            Some(ActiveAlert {
                id: format!("{}:{key}", ctx.instance_uuid.to_ascii_lowercase()),
                name: ctx
                    .alarm_names
                    .get(&alarm)
                    .cloned()
                    .unwrap_or_else(|| alarm.clone()),
                alarm_moid: alarm,
                severity,
                since: time(s.get("time")),
                acknowledged: s
                    .get("acknowledged")
                    .and_then(Value::as_bool)
                    .unwrap_or(false),
                acknowledged_by: s
                    .get("acknowledgedByUser")
                    .and_then(Value::as_str)
                    .filter(|u| !u.is_empty())
                    .map(str::to_string),
                acknowledged_at: time(s.get("acknowledgedTime")),
                event_key: s.get("eventKey").and_then(Value::as_i64).filter(|k| *k > 0),
                source_kind: o.kind.clone(),
                source_moid: moid.to_string(),
                source_name: source_name.clone(),
            })
        })
        .collect()
}

/// One `Arc` per distinct value: thousands of VMs sit in the same datacenter, cluster, folder
/// and pool, and a placement is ~280 bytes of strings.
#[derive(Default)]
struct Interned<T>(HashSet<Arc<T>>);

impl<T: Eq + std::hash::Hash> Interned<T> {
    fn get(&mut self, value: T) -> Arc<T> {
        if let Some(shared) = self.0.get(&value) {
            return shared.clone();
        }
        let shared = Arc::new(value);
        self.0.insert(shared.clone());
        shared
    }

    /// Forgets the values no resource holds any more.
    fn purge(&mut self) {
        self.0.retain(|v| Arc::strong_count(v) > 1);
    }
}

/// One projection pass: the context and the surroundings every resource reads.
struct Pass<'a> {
    ctx: &'a ProjectionContext,
    around: &'a Surroundings,
    placements: RefCell<Interned<Placement>>,
    ids: RefCell<HashMap<String, ResourceId>>,
}

impl Pass<'_> {
    fn alerts_of(&self, moid: &str, o: &RawObject) -> Vec<ActiveAlert> {
        alerts_of(self.ctx, moid, o)
    }

    fn placement(&self, p: Placement) -> Arc<Placement> {
        self.placements.borrow_mut().get(p)
    }

    /// One allocation per object's id, shared by its record and every record naming it (a VM's
    /// host and datastores, a host's VMs): at the maximums each id was made four or five times
    /// per projection, ~15 MB of the peak.
    fn id(&self, moid: &str) -> ResourceId {
        if let Some(id) = self.ids.borrow().get(moid) {
            return id.clone();
        }
        let id = ResourceId::new(&self.ctx.instance_uuid, moid);
        self.ids.borrow_mut().insert(moid.to_string(), id.clone());
        id
    }

    fn network_name(&self, moid: &str) -> String {
        self.around
            .network_names
            .get(moid)
            .map(String::as_str)
            .unwrap_or(moid)
            .to_string()
    }

    fn tags(&self, moid: &str) -> Vec<TagRef> {
        self.ctx.tags.get(moid).cloned().unwrap_or_default()
    }

    /// Alarms on the topology objects above a resource (cluster, folders, datacenter), nearest
    /// first, each once: the chains up from `starts` (a host's parent; a VM's folder and its
    /// host's parent).
    fn context_alerts(&self, starts: &[Option<&str>]) -> Vec<ActiveAlert> {
        let mut out: Vec<ActiveAlert> = Vec::new();
        for start in starts.iter().flatten() {
            let mut cur = Some(*start);
            // vCenter's hierarchy is a handful of levels deep; the bound only guards a cycle.
            for _ in 0..64 {
                let Some(moid) = cur else { break };
                for a in self.around.container_alerts.get(moid).into_iter().flatten() {
                    if !out.iter().any(|o| o.id == a.id) {
                        out.push(a.clone());
                    }
                }
                cur = self.around.topo.get(moid).and_then(|n| n.parent.as_deref());
            }
        }
        out
    }

    fn worst(alerts: &[ActiveAlert]) -> Option<AlertSeverity> {
        alerts.iter().map(|a| a.severity).max()
    }
}

/// Projects every host, VM and datastore of one vCenter (a fresh [`Projector`]'s first pass).
pub fn project(raw: &RawInventory, ctx: &ProjectionContext) -> Projection {
    Projector::default().project(raw, &HashSet::new(), ctx)
}

/// Projects one vCenter again and again, reusing what it projected before: a resource whose
/// object is not among the changed ones, while its surroundings and the context are the same, is
/// the previous `Arc`; a re-projected resource equal to the previous one is the previous `Arc`
/// too. So a change re-projects a handful of objects, and two snapshots share every resource
/// that did not change instead of doubling the inventory's memory.
#[derive(Default)]
pub struct Projector {
    ctx: Option<ProjectionContext>,
    /// `RawInventory::generation` of the last call.
    generation: Option<u64>,
    around: Surroundings,
    placements: Interned<Placement>,
    /// Ids by moId, for [`Pass::id`]; kept while a resource holds them.
    ids: HashMap<String, ResourceId>,
    agents: HashMap<String, (Arc<Agent>, QuickStats)>,
    vms: HashMap<String, (Arc<Vm>, QuickStats)>,
    storage: HashMap<String, (Arc<Storage>, ())>,
}

impl Projector {
    /// Projects `raw`, where `changed` holds the moIds added, changed or removed since the last
    /// call (`RawInventory::take_changed`); the first call for an inventory (a new one after a
    /// resync) projects everything.
    pub fn project(
        &mut self,
        raw: &RawInventory,
        changed: &HashSet<String>,
        ctx: &ProjectionContext,
    ) -> Projection {
        let first = self.generation != Some(raw.generation());
        self.generation = Some(raw.generation());
        let ctx_changed = self.ctx.as_ref() != Some(ctx);
        let mut full = first || ctx_changed;
        let mut alerted = HashSet::new();
        if full {
            self.around = Surroundings::build(raw, ctx);
        } else {
            // Only the changed objects' part of the surroundings is read again (a host's quick
            // statistics change every 20 s on a busy vCenter; its parent rarely does). An object
            // may have surrounded before and not now, or the other way round: `update` compares
            // both. A cluster's alarm, raised or cleared, re-projects only what is in the cluster:
            // on a busy vCenter at the maximums that happens every few seconds, and projecting
            // 45,000 VMs each time cost about a second of CPU and 35 MB of transient records.
            match self.around.update(raw, ctx, changed) {
                Differs::Nothing => {}
                Differs::ClusterAlerts(c) => alerted = c,
                Differs::Everything => full = true,
            }
        }
        if ctx_changed {
            if self.ctx.as_ref().map(|c| &c.instance_uuid) != Some(&ctx.instance_uuid) {
                self.ids.clear();
            }
            self.ctx = Some(ctx.clone());
        }
        let pass = Pass {
            ctx,
            around: &self.around,
            placements: RefCell::new(std::mem::take(&mut self.placements)),
            ids: RefCell::new(std::mem::take(&mut self.ids)),
        };
        let redo = |moid: &str| full || changed.contains(moid);
        let in_alerted = |p: &Placement| {
            p.cluster
                .as_ref()
                .is_some_and(|c| alerted.contains(&c.moid))
        };
        let mut reprojected = 0;
        let (agents, agent_stats) = refresh(
            &mut reprojected,
            &mut self.agents,
            raw,
            "HostSystem",
            |m, a: &Agent| redo(m) || in_alerted(&a.placement),
            |m, o| pass.agent(m, o),
        );
        let (vms, vm_stats) = refresh(
            &mut reprojected,
            &mut self.vms,
            raw,
            "VirtualMachine",
            |m, v: &Vm| redo(m) || in_alerted(&v.placement),
            |m, o| pass.vm(m, o),
        );
        let (storage, _) = refresh(
            &mut reprojected,
            &mut self.storage,
            raw,
            "Datastore",
            |m, _: &Storage| redo(m),
            |m, o| (pass.storage(m, o), ()),
        );
        let mut out = Projection {
            agents,
            agent_stats,
            vms,
            vm_stats,
            storage,
            issues: Vec::new(),
            reprojected,
            topology_alerts: self
                .around
                .container_alerts
                .values()
                .flatten()
                .cloned()
                .collect(),
        };
        out.topology_alerts.sort_by(|a, b| a.id.cmp(&b.id));
        self.placements = pass.placements.into_inner();
        self.placements.purge();
        self.ids = pass.ids.into_inner();
        self.ids.retain(|_, id| id.is_shared());
        let mut issues: Vec<ObjectIssue> = raw
            .iter()
            .flat_map(|(moid, o)| {
                o.missing().iter().map(move |(path, fault)| ObjectIssue {
                    kind: o.kind().to_string(),
                    moid: moid.to_string(),
                    path: path.clone(),
                    fault: fault.clone(),
                })
            })
            .collect();
        issues.sort_by(|a, b| (&a.moid, &a.path).cmp(&(&b.moid, &b.path)));
        out.issues = issues;
        out
    }
}

/// The resources of `kind` in moId order, with what changes too often to live in them (`S`, a
/// resource's quick statistics) position for position: the cached `Arc` where `redo` says the
/// object is untouched or the new projection equals it, a new `Arc` otherwise. The cache ends up
/// holding exactly the returned resources.
fn refresh<T: PartialEq + Clone, S: Copy + PartialEq>(
    reprojected: &mut usize,
    cache: &mut HashMap<String, (Arc<T>, S)>,
    raw: &RawInventory,
    kind: &str,
    redo: impl Fn(&str, &T) -> bool,
    project: impl Fn(&str, &RawObject) -> (T, S),
) -> (Vec<Arc<T>>, Vec<S>) {
    let ids = raw.ids_of(kind);
    let mut out = Vec::with_capacity(ids.len());
    let mut side = Vec::with_capacity(ids.len());
    for moid in &ids {
        let cached = cache.get_mut(*moid);
        let (item, stats) = match cached {
            Some((c, s)) if !redo(moid, c) => (c.clone(), *s),
            _ => {
                let o = raw.get(moid).unwrap_or_else(|| RawObject::new(kind));
                let (fresh, stats) = project(moid, &o);
                *reprojected += 1;
                match cached {
                    Some((c, s)) if **c == fresh => {
                        *s = stats;
                        (c.clone(), stats)
                    }
                    _ => {
                        // A clone allocates every vector at its length; `collect` over filters
                        // leaves spare capacity (4 slots for one element), ~1 KB per VM.
                        let fresh = Arc::new(fresh.clone());
                        cache.insert(moid.to_string(), (fresh.clone(), stats));
                        (fresh, stats)
                    }
                }
            }
        };
        out.push(item);
        side.push(stats);
    }
    if cache.len() != out.len() {
        let present: HashSet<&str> = ids.into_iter().collect();
        cache.retain(|k, _| present.contains(k.as_str()));
    }
    (out, side)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn object(kind: &str, props: &[(&'static str, Value)]) -> RawObject {
        let mut o = RawObject::new(kind);
        for (path, value) in props {
            o.props.insert(*path, value.clone());
        }
        o
    }

    /// A datacenter `dc` with a VM folder `vmf`, a folder `f` and a VM in it.
    fn inventory() -> RawInventory {
        let mut raw = RawInventory::default();
        raw.upsert("dc", object("Datacenter", &[("name", json!("DC"))]));
        raw.upsert(
            "vmf",
            object(
                "Folder",
                &[("name", json!("vm")), ("parent", json!("Datacenter:dc"))],
            ),
        );
        raw.upsert(
            "f",
            object(
                "Folder",
                &[("name", json!("F")), ("parent", json!("Folder:vmf"))],
            ),
        );
        raw.upsert(
            "vm-1",
            object(
                "VirtualMachine",
                &[("name", json!("a")), ("parent", json!("Folder:f"))],
            ),
        );
        raw
    }

    fn ctx() -> ProjectionContext {
        ProjectionContext {
            instance_uuid: "u".into(),
            ..ProjectionContext::default()
        }
    }

    #[test]
    fn an_object_that_stops_surrounding_is_noticed() {
        let mut raw = inventory();
        let mut p = Projector::default();
        let all = raw.take_changed();
        let first = p.project(&raw, &all, &ctx());
        assert_eq!(first.vms[0].placement.folder_path, vec!["F".to_string()]);
        // The folder's moId now names an object that places nothing (bad data, or a fuzzer).
        raw.upsert("f", object("VirtualMachine", &[("name", json!("f"))]));
        let changed = raw.take_changed();
        let vms = p.project(&raw, &changed, &ctx()).vms;
        let vm = vms.iter().find(|v| v.moid == "vm-1").expect("vm-1");
        assert!(vm.placement.folder_path.is_empty());
    }

    #[test]
    fn a_new_inventory_is_projected_from_scratch() {
        let mut raw = inventory();
        let mut p = Projector::default();
        let all = raw.take_changed();
        p.project(&raw, &all, &ctx());
        // A resync whose inventory holds only the VM: the folders it lost are in no changed set.
        let mut again = RawInventory::default();
        again.upsert("vm-1", raw.get("vm-1").expect("vm-1"));
        let all = again.take_changed();
        let vms = p.project(&again, &all, &ctx()).vms;
        assert!(vms[0].placement.folder_path.is_empty());
        assert!(vms[0].placement.datacenter.is_none());
    }
}
