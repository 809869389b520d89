//! VC-3 and VC-4: the canonical agent/vm/storage projection reconciled with vCenter's own
//! counts, coherent topology and identity, ids that survive a reconnect; datastores and
//! snapshot trees compared value by value.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{json, Value};

use super::onboarding::Saved;
use super::record::Scenario;
use super::{truth, Context};
use crate::auth::Role;

const HOSTS: &str = "query H($c: [String!], $after: String) { vsphereHosts(first: 500, after: $after, filter: {connection: $c}) { totalCount pageInfo { hasNextPage endCursor } nodes { id name platformType status identity { hardwareUuid } metrics { cpuPercent memoryPercent uptimeSeconds source sampledAt } vsphere { moid connectionState powerState overallStatus topology { datacenter { name } cluster { name } } } } } }";
const VMS: &str = "query V($c: [String!], $after: String) { vsphereVms(first: 500, after: $after, filter: {connection: $c}) { totalCount pageInfo { hasNextPage endCursor } nodes { id name platformType status identity { instanceUuid } host { id } metrics { cpuPercent memoryPercent uptimeSeconds source sampledAt } vsphere { moid powerState connectionState bootTime template snapshotCount overallStatus guest { toolsRunning filesystems { path } } topology { datacenter { name } } } } } }";
const DATASTORES: &str = "query D($c: [String!], $after: String) { vsphereDatastores(first: 500, after: $after, filter: {connection: $c}) { totalCount pageInfo { hasNextPage endCursor } nodes { id name platformType status vms(first: 1) { totalCount } vsphere { moid overallStatus capacityBytes freeBytes accessible mounts { host { id } mounted } } } } }";

/// The served resources of one connection.
#[derive(Default)]
pub struct Served {
    pub hosts: Vec<Value>,
    pub vms: Vec<Value>,
    pub datastores: Vec<Value>,
}

impl Served {
    pub fn all(&self) -> impl Iterator<Item = &Value> {
        self.hosts.iter().chain(&self.vms).chain(&self.datastores)
    }

    fn ids(&self) -> BTreeSet<String> {
        self.all()
            .filter_map(|r| r["id"].as_str().map(str::to_string))
            .collect()
    }
}

/// Every host, VM and datastore the connection serves now.
pub async fn served(cx: &Context<'_>, saved: &Saved) -> Result<Served, String> {
    let vars = json!({ "c": [saved.connection] });
    let h = cx.harness;
    let read = |q: &'static str, root: &'static str| {
        let vars = vars.clone();
        async move {
            h.all(Role::Admin, q, vars, &[root], usize::MAX)
                .await
                .map_err(|e| e.0)
        }
    };
    Ok(Served {
        hosts: read(HOSTS, "vsphereHosts").await?,
        vms: read(VMS, "vsphereVms").await?,
        datastores: read(DATASTORES, "vsphereDatastores").await?,
    })
}

fn moid(r: &Value) -> String {
    r["vsphere"]["moid"].as_str().unwrap_or("").to_string()
}

/// VC-3.
pub async fn vc3(s: &mut Scenario, cx: &Context<'_>, saved: &mut Saved, now: &Served) {
    match truth::counts(cx.client).await {
        Ok(counts) => {
            for (kind, served, collection) in [
                ("HostSystem", now.hosts.len(), "host"),
                ("VirtualMachine", now.vms.len(), "vm"),
                ("Datastore", now.datastores.len(), "datastore"),
            ] {
                let vc = counts.get(kind).copied().unwrap_or(0);
                let cap = truth::REST_CAPS
                    .iter()
                    .find(|(c, _)| *c == collection)
                    .map_or(0, |(_, n)| *n);
                let rest = match truth::rest_count(cx.client, collection).await {
                    Some(n) => format!("REST /api/vcenter/{collection} lists {n} (cap {cap})"),
                    None => format!("REST /api/vcenter/{collection} not listable (over its cap {cap} or refused)"),
                };
                s.check(
                    served == vc,
                    format!("{kind}: served {served}, vCenter's property collector {vc}; {rest}"),
                );
            }
        }
        Err(e) => {
            s.check(false, format!("counting vCenter's objects: {e}"));
        }
    }
    let prefix = format!("vsphere:{}:", cx.instance_uuid);
    let bad_ids = now
        .all()
        .filter(|r| !r["id"].as_str().unwrap_or("").starts_with(&prefix))
        .count();
    s.check(
        bad_ids == 0,
        format!("{bad_ids} resource ids outside `{prefix}<moId>`"),
    );
    let host_ids: BTreeSet<&str> = now.hosts.iter().filter_map(|h| h["id"].as_str()).collect();
    let dangling = now
        .vms
        .iter()
        .filter(|v| {
            v["host"]["id"]
                .as_str()
                .is_some_and(|id| !host_ids.contains(id))
        })
        .count();
    let unplaced = now.vms.iter().filter(|v| v["host"].is_null()).count();
    s.check(
        dangling == 0,
        format!(
            "{dangling} VMs placed on a host the graph does not have ({unplaced} without a host)"
        ),
    );
    let no_dc = now
        .hosts
        .iter()
        .filter(|h| h["vsphere"]["topology"]["datacenter"].is_null())
        .count();
    s.check(no_dc == 0, format!("{no_dc} hosts without a datacenter"));
    let no_uuid = now
        .hosts
        .iter()
        .filter(|h| h["identity"]["hardwareUuid"].is_null())
        .count()
        + now
            .vms
            .iter()
            .filter(|v| v["identity"]["instanceUuid"].is_null())
            .count();
    s.check(
        no_uuid == 0,
        format!("{no_uuid} hosts or VMs without a hardware/instance UUID"),
    );
    match reconnect(cx, saved).await {
        Ok(after) => {
            let (before, after) = (now.ids(), after.ids());
            let gone = before.difference(&after).count();
            let new = after.difference(&before).count();
            s.check(
                gone == 0 && new == 0,
                format!(
                    "ids across a disable/enable reconnect: {} kept, {gone} gone, {new} new",
                    before.len() - gone
                ),
            );
        }
        Err(e) => {
            s.check(false, format!("reconnect: {e}"));
        }
    }
    s.finish();
}

/// Disables and re-enables the connection (new sessions, a new full sync) and reads again.
async fn reconnect(cx: &Context<'_>, saved: &mut Saved) -> Result<Served, String> {
    const SET: &str = "mutation E($id: ID!, $v: Int!, $on: Boolean!) { vsphereSetConnectionEnabled(id: $id, version: $v, enabled: $on) { version } }";
    let since = chrono::Utc::now();
    for on in [false, true] {
        let d = cx
            .harness
            .query(
                Role::Admin,
                SET,
                json!({"id": saved.id, "v": saved.version, "on": on}),
            )
            .await
            .map_err(|e| e.0)?;
        saved.version = d["vsphereSetConnectionEnabled"]["version"]
            .as_i64()
            .unwrap_or(saved.version + 1);
    }
    super::synced(cx, saved, since).await?;
    served(cx, saved).await
}

/// VC-4.
pub async fn vc4(s: &mut Scenario, cx: &Context<'_>, now: &Served) {
    match truth::datastores(cx.client).await {
        Ok(vc) => {
            let mut wrong = Vec::new();
            for d in &now.datastores {
                let f = &d["vsphere"];
                let Some(t) = vc.get(&moid(d)) else {
                    wrong.push(format!("{} unknown to vCenter", moid(d)));
                    continue;
                };
                let capacity = f["capacityBytes"].as_f64().unwrap_or(-1.0);
                let free = f["freeBytes"].as_f64().unwrap_or(-1.0);
                let mounts = f["mounts"].as_array().map_or(0, Vec::len);
                // Free space moves while the run reads it: 1 % of capacity is the same reading.
                if capacity != t.capacity
                    || (free - t.free).abs() > t.capacity * 0.01
                    || f["accessible"].as_bool() != Some(t.accessible)
                    || mounts != t.hosts
                {
                    wrong.push(format!(
                        "{}: served capacity {capacity} free {free} accessible {} mounts {mounts}; vCenter {} {} {} {}",
                        moid(d), f["accessible"], t.capacity, t.free, t.accessible, t.hosts
                    ));
                }
            }
            s.check(
                wrong.is_empty() && now.datastores.len() == vc.len(),
                format!(
                    "{} datastores: capacity, free, accessibility and host mounts as vCenter reports them{}",
                    now.datastores.len(),
                    if wrong.is_empty() { String::new() } else { format!(": {}", wrong.join("; ")) }
                ),
            );
        }
        Err(e) => {
            s.check(false, format!("reading vCenter's datastores: {e}"));
        }
    }
    let used = now
        .datastores
        .iter()
        .filter(|d| d["vms"]["totalCount"].as_i64().unwrap_or(0) > 0)
        .count();
    s.check(
        now.vms.is_empty() || used > 0,
        format!("VM-to-datastore usage: {used} datastores hold VMs"),
    );
    match truth::snapshot_trees(cx.client).await {
        Ok(vc) => {
            let served: BTreeMap<String, usize> = now
                .vms
                .iter()
                .filter_map(|v| {
                    let n = v["vsphere"]["snapshotCount"].as_u64().unwrap_or(0) as usize;
                    (n > 0).then(|| (moid(v), n))
                })
                .collect();
            s.check(
                served == vc,
                format!(
                    "snapshot trees: {} VMs with {} snapshots served, vCenter {} VMs with {}",
                    served.len(),
                    served.values().sum::<usize>(),
                    vc.len(),
                    vc.values().sum::<usize>()
                ),
            );
        }
        Err(e) => {
            s.check(false, format!("reading vCenter's snapshot trees: {e}"));
        }
    }
    s.finish();
}
