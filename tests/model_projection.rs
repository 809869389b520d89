//! Projection of a whole simulated vCenter: builds the raw inventory exactly as the collector
//! will (the property paths of `model::paths`), projects it and checks what an operator would:
//! every host, VM and datastore is there, with the right topology, status and relationships.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use chrono::Utc;
use pulse_vsphere::model::project::{project, Projection, ProjectionContext, Projector};
use pulse_vsphere::model::raw_inventory::RawInventory;
use pulse_vsphere::model::resources::{SnapshotNode, TagRef, Vm};
use pulse_vsphere::model::snapshot::InventorySnapshot;
use pulse_vsphere::model::{AlertSeverity, ResourceId, ResourceStatus};
use pulse_vsphere::simulator::{SimConfig, Simulator};
use serde_json::Value;

mod common;
use common::{raw_from, raw_of};

fn projected(sim: &Simulator) -> Projection {
    let (raw, ctx) = raw_from(sim.control().state());
    project(&raw, &ctx)
}

#[tokio::test]
async fn every_object_is_projected_with_topology() {
    let mut cfg = SimConfig::small();
    cfg.size.hosts = 40;
    cfg.size.vms = 600;
    cfg.size.datastores = 12;
    cfg.size.datacenters = 2;
    let sim = Simulator::start(cfg).await.expect("sim");
    let counts = sim.control().inventory_counts();
    let p = projected(&sim);
    assert_eq!(p.agents.len(), counts.by_type["HostSystem"]);
    assert_eq!(p.vms.len(), counts.by_type["VirtualMachine"]);
    assert_eq!(p.storage.len(), counts.by_type["Datastore"]);
    assert!(p.issues.is_empty());

    let snap = InventorySnapshot::build(&sim.instance_uuid(), Utc::now(), p);
    for vm in &snap.vms {
        assert!(vm.id.as_str().starts_with("vsphere:"));
        let host = snap
            .agent(vm.host_id.as_ref().expect("placed"))
            .expect("host projected");
        assert!(host.vm_ids.contains(&vm.id), "host lists its VM");
        assert_eq!(
            vm.placement.cluster.as_ref().map(|c| &c.moid),
            host.placement.cluster.as_ref().map(|c| &c.moid)
        );
        assert_eq!(vm.placement.datacenter, host.placement.datacenter);
        assert!(!vm.datastore_usage.is_empty());
        for u in &vm.datastore_usage {
            let ds = snap
                .storage_by_id(&u.datastore_id)
                .expect("datastore projected");
            assert!(ds.vm_ids.contains(&vm.id));
        }
        assert!(vm.identity.instance_uuid.is_some() && vm.identity.bios_uuid_smbios.is_some());
        assert!(
            !vm.identity.macs.is_empty(),
            "MACs come from the virtual NICs even without Tools"
        );
        match vm.power_state.as_deref() {
            Some("poweredOn") => assert!(matches!(
                vm.status,
                ResourceStatus::Online | ResourceStatus::Warning
            )),
            _ => assert_eq!(vm.status, ResourceStatus::Offline),
        }
        if vm.guest.tools_running() {
            assert!(vm.identity.hostname.is_some() && !vm.identity.ips.is_empty());
        } else {
            assert!(
                vm.identity.ips.is_empty(),
                "no guest identity without Tools"
            );
        }
        if vm.name.starts_with("web-") {
            assert_eq!(
                vm.placement.folder_path,
                vec!["Production".to_string(), "web".to_string()]
            );
        }
    }
    // Nested pools: a web VM in a cluster sits in Production/Tier-1.
    assert!(snap
        .vms
        .iter()
        .any(|v| v.placement.resource_pool_path
            == vec!["Production".to_string(), "Tier-1".to_string()]));
    // Standalone hosts have no cluster; clustered hosts have HA/DRS flags.
    assert!(snap.agents.iter().any(|a| a.placement.cluster.is_none()));
    assert!(snap.agents.iter().any(|a| a
        .placement
        .cluster
        .as_ref()
        .is_some_and(|c| c.ha_enabled.is_some())));
    // The second datacenter sits in a nested folder, yet hosts resolve their datacenter.
    assert!(snap.agents.iter().all(|a| a.placement.datacenter.is_some()));
    for ds in &snap.storage {
        assert!(
            !snap.hosts_of_datastore(&ds.id).is_empty(),
            "datastore mounts resolve to hosts"
        );
        assert!(ds.capacity_bytes.unwrap_or(0) > 0 && ds.used_percent().is_some());
    }
    // Alarms become alerts with names and severities, and warn an online resource.
    let alerted: Vec<_> = snap.vms.iter().filter(|v| !v.alerts.is_empty()).collect();
    assert!(!alerted.is_empty());
    for v in alerted {
        assert!(
            !v.alerts[0].name.starts_with("alarm-"),
            "alarm names resolved"
        );
        if v.power_state.as_deref() == Some("poweredOn") {
            assert_eq!(v.status, ResourceStatus::Warning);
        }
    }
    assert!(snap
        .vms
        .iter()
        .any(|v| v.snapshot_count > 0 && v.oldest_snapshot.is_some()));
    // Indexes agree with a scan.
    let host0 = &snap.agents[0];
    assert_eq!(
        snap.vms_on_host(&host0.id).len(),
        snap.vms
            .iter()
            .filter(|v| v.host_id.as_ref() == Some(&host0.id))
            .count()
    );
    let online = snap
        .vms
        .iter()
        .filter(|v| v.status == ResourceStatus::Online)
        .count();
    assert_eq!(snap.vms_with_status(ResourceStatus::Online).len(), online);
}

#[tokio::test]
async fn ids_survive_renames_and_disconnects_keep_vms() {
    let sim = Simulator::start(SimConfig::small()).await.expect("sim");
    let before = projected(&sim);
    let vm = before.vms[0].clone();
    let host_id = vm.host_id.clone().expect("host");
    let host_moid = host_id.moid().to_string();
    assert!(sim.control().rename(&vm.moid, "renamed"));
    sim.control().set_alarm(&host_moid, "alarm-1", "green");
    assert!(sim.control().disconnect_host(&host_moid));
    let after = projected(&sim);
    let renamed = after
        .vms
        .iter()
        .find(|v| v.id == vm.id)
        .expect("same id after rename");
    assert_eq!(renamed.name, "renamed");
    let host = after
        .agents
        .iter()
        .find(|a| a.id == host_id)
        .expect("host kept");
    assert_eq!(host.status, ResourceStatus::Offline);
    assert!(host
        .alerts
        .iter()
        .any(|a| a.severity == AlertSeverity::Critical));
    // Its VMs are kept, with unknown status (their power state is stale while the host is away).
    let on_host: Vec<_> = after
        .vms
        .iter()
        .filter(|v| v.host_id.as_ref() == Some(&host_id))
        .collect();
    assert!(!on_host.is_empty());
    assert!(on_host.iter().all(|v| v.status == ResourceStatus::Unknown));
    assert_eq!(after.vms.len(), before.vms.len());
    // Two simulators with the same seed are the same vCenter: same ids.
    let twin = Simulator::start(SimConfig::small()).await.expect("sim");
    let again = projected(&twin);
    assert_eq!(again.agents[0].id, before.agents[0].id);
    assert_eq!(
        ResourceId::parse(before.agents[0].id.as_str()).ok(),
        Some(before.agents[0].id.clone())
    );
}

#[tokio::test]
async fn denied_properties_become_issues_not_failures() {
    let sim = Simulator::start(SimConfig::small()).await.expect("sim");
    let (mut raw, ctx) = raw_from(sim.control().state());
    let vm_moid = raw.ids_of("VirtualMachine")[0].to_string();
    let mut o = raw.get(&vm_moid).expect("vm");
    o.props.clear();
    o.missing
        .insert("runtime.powerState".into(), "NoPermission".into());
    raw.upsert(&vm_moid, o);
    let p = project(&raw, &ctx);
    assert_eq!(p.vms.len(), 40);
    let vm = p
        .vms
        .iter()
        .find(|v| v.moid == vm_moid)
        .expect("still listed");
    assert_eq!(vm.status, ResourceStatus::Unknown);
    assert_eq!(p.issues.len(), 1);
    assert_eq!(p.issues[0].fault, "NoPermission");
}

/// Stores the simulator's current objects into `raw` the way a resync does: same content is no
/// change, objects gone are removed.
fn refill(raw: &mut RawInventory, sim: &Simulator) {
    let fresh = raw_of(&sim.control().state().inv());
    for (id, o) in fresh.iter() {
        raw.upsert(id, o.decode());
    }
    raw.retain(|id| fresh.stored(id).is_some());
}

/// The incremental projector's result equals a projection from scratch.
fn assert_same(incremental: &Projection, raw: &RawInventory, ctx: &ProjectionContext) {
    let scratch = project(raw, ctx);
    assert_eq!(incremental.agents, scratch.agents);
    assert_eq!(incremental.agent_stats, scratch.agent_stats);
    assert_eq!(incremental.vms, scratch.vms);
    assert_eq!(incremental.vm_stats, scratch.vm_stats);
    assert_eq!(incremental.storage, scratch.storage);
    assert_eq!(incremental.issues, scratch.issues);
}

#[tokio::test]
async fn incremental_projection_equals_projection_from_scratch() {
    let sim = Simulator::start(SimConfig::small()).await.expect("sim");
    let (mut raw, ctx) = raw_from(sim.control().state());
    let mut projector = Projector::default();
    let all = raw.take_changed();
    assert_eq!(all.len(), raw.len());
    let first = projector.project(&raw, &all, &ctx);
    assert_same(&first, &raw, &ctx);

    // One VM renamed: only it is projected again; every other resource is the same allocation.
    let vm = first
        .vms
        .iter()
        .find(|v| v.placement.cluster.is_some())
        .expect("a clustered VM")
        .clone();
    assert!(sim.control().rename(&vm.moid, "renamed-vm"));
    refill(&mut raw, &sim);
    let changed = raw.take_changed();
    assert_eq!(changed, HashSet::from([vm.moid.clone()]));
    let second = projector.project(&raw, &changed, &ctx);
    assert_same(&second, &raw, &ctx);
    for (a, b) in first.vms.iter().zip(&second.vms) {
        assert_eq!(Arc::ptr_eq(a, b), a.moid != vm.moid, "{}", a.moid);
    }
    assert!(first
        .agents
        .iter()
        .zip(&second.agents)
        .all(|(a, b)| Arc::ptr_eq(a, b)));

    // New quick statistics (vCenter refreshes them every 20 s for every running VM) change the
    // VM's statistics and leave its record the same allocation.
    let pos = second.vms.iter().position(|v| v.moid == vm.moid).unwrap();
    let mut o = raw.get(&vm.moid).expect("vm");
    let mut quick = o
        .props
        .get("summary.quickStats")
        .cloned()
        .expect("quickStats");
    let used = quick["overallCpuUsage"].as_i64().unwrap_or(0) + 7;
    quick["overallCpuUsage"] = serde_json::json!(used);
    o.props.insert("summary.quickStats", quick);
    raw.upsert(&vm.moid, o);
    let changed = raw.take_changed();
    assert_eq!(changed, HashSet::from([vm.moid.clone()]));
    let restat = projector.project(&raw, &changed, &ctx);
    assert_same(&restat, &raw, &ctx);
    assert!(first
        .vms
        .iter()
        .zip(&restat.vms)
        .all(|(a, b)| Arc::ptr_eq(a, b) || a.moid == vm.moid));
    assert!(Arc::ptr_eq(&second.vms[pos], &restat.vms[pos]));
    assert_ne!(second.vm_stats[pos], restat.vm_stats[pos]);
    let max = raw
        .get(&vm.moid)
        .and_then(|o| o.props.get("runtime.maxCpuUsage")?.as_i64())
        .expect("maxCpuUsage");
    assert_eq!(
        restat.vm_stats[pos].cpu_percent,
        Some(used as f64 * 100.0 / max as f64)
    );

    // An alarm on a cluster is context for every host and VM in it: they change, others not.
    let cluster = vm.placement.cluster.as_ref().map(|c| c.moid.clone());
    let cluster = cluster.expect("clustered");
    assert!(sim.control().set_alarm(&cluster, "alarm-1", "red"));
    refill(&mut raw, &sim);
    let changed = raw.take_changed();
    let third = projector.project(&raw, &changed, &ctx);
    assert_same(&third, &raw, &ctx);
    let in_cluster = |v: &Vm| v.placement.cluster.as_ref().map(|c| &c.moid) == Some(&cluster);
    assert!(third
        .vms
        .iter()
        .filter(|v| in_cluster(v))
        .all(|v| v.context_alerts.iter().any(|a| a.source_moid == cluster)));
    for (a, b) in second.vms.iter().zip(&third.vms) {
        assert_eq!(Arc::ptr_eq(a, b), !in_cluster(a), "{}", a.moid);
    }
    // Cleared again: the same resources change back, nothing else is projected anew.
    assert!(sim.control().set_alarm(&cluster, "alarm-1", "green"));
    refill(&mut raw, &sim);
    let changed = raw.take_changed();
    let cleared = projector.project(&raw, &changed, &ctx);
    assert_same(&cleared, &raw, &ctx);
    let inside = cleared.vms.iter().filter(|v| in_cluster(v)).count()
        + cleared
            .agents
            .iter()
            .filter(|a| a.placement.cluster.as_ref().map(|c| &c.moid) == Some(&cluster))
            .count();
    let all = cleared.vms.len() + cleared.agents.len() + cleared.storage.len();
    assert!(inside > 0 && inside < all, "{inside} of {all}");
    assert_eq!(cleared.reprojected, inside, "only what the cluster holds");
    for (a, b) in third.vms.iter().zip(&cleared.vms) {
        assert_eq!(Arc::ptr_eq(a, b), !in_cluster(a), "{}", a.moid);
        assert!(!b
            .context_alerts
            .iter()
            .any(|c| c.source_moid == cluster && c.alarm_moid == "alarm-1"));
    }
    for (a, b) in third.agents.iter().zip(&cleared.agents) {
        let inside = a.placement.cluster.as_ref().map(|c| &c.moid) == Some(&cluster);
        assert_eq!(Arc::ptr_eq(a, b), !inside, "{}", a.moid);
    }

    // A host disconnected and a folder renamed, then random simulated changes.
    let host = vm.host_id.as_ref().expect("host").moid().to_string();
    assert!(sim.control().disconnect_host(&host));
    let folder = raw.ids_of("Folder")[2].to_string();
    assert!(sim.control().rename(&folder, "renamed-folder"));
    sim.control().apply_changes(200);
    refill(&mut raw, &sim);
    let changed = raw.take_changed();
    assert_same(&projector.project(&raw, &changed, &ctx), &raw, &ctx);

    // A context change (tags read again) reaches every resource.
    let mut tagged = ctx.clone();
    tagged.tags.insert(
        vm.moid.clone(),
        vec![TagRef {
            category: "env".into(),
            name: "prod".into(),
        }],
    );
    let fifth = projector.project(&raw, &HashSet::new(), &tagged);
    assert_same(&fifth, &raw, &tagged);
    assert!(fifth
        .vms
        .iter()
        .any(|v| v.moid == vm.moid && !v.tags.is_empty()));
}

fn flatten(nodes: &[SnapshotNode]) -> Vec<&SnapshotNode> {
    nodes
        .iter()
        .flat_map(|n| std::iter::once(n).chain(flatten(&n.children)))
        .collect()
}

/// A snapshot's size is its data file plus its memory file as the VM's `layoutEx` lays them out:
/// a memory file, the size of the VM's memory, only for a snapshot that kept a running VM's
/// memory (`state` poweredOn); a snapshot taken later has its size at once.
#[tokio::test]
async fn snapshot_sizes_are_the_files_vcenter_lays_out() {
    let sim = Simulator::start(SimConfig::small()).await.expect("sim");
    let without: Vec<(String, String)> = {
        let inv = sim.control().state().inv();
        inv.of_type("VirtualMachine")
            .filter(|o| o.get_path("snapshot").is_none())
            .map(|o| {
                let power = o.get_path("runtime.powerState").and_then(Value::as_str);
                (o.moref.value.clone(), power.unwrap_or("").to_string())
            })
            .collect()
    };
    let on = without.iter().find(|(_, p)| p == "poweredOn").expect("on");
    let off = without
        .iter()
        .find(|(_, p)| p == "poweredOff")
        .expect("off");
    assert!(sim.control().take_snapshot(&on.0, "with-memory"));
    assert!(sim.control().take_snapshot(&off.0, "disk-only"));

    let p = projected(&sim);
    let inv = sim.control().state().inv();
    let mut sized = 0;
    for vm in p.vms.iter().filter(|v| v.snapshot_count > 0) {
        let o = inv.get(&vm.moid).expect("in the simulator");
        let files: HashMap<i64, i64> = o
            .get_path("layoutEx.file")
            .and_then(Value::as_array)
            .expect("files")
            .iter()
            .map(|f| {
                (
                    f["key"].as_i64().expect("key"),
                    f["size"].as_i64().expect("size"),
                )
            })
            .collect();
        let layouts = o
            .get_path("layoutEx.snapshot")
            .and_then(Value::as_array)
            .expect("snapshot layouts");
        let nodes = flatten(&vm.snapshots);
        assert_eq!(
            nodes.len(),
            layouts.len(),
            "{}: one layout per snapshot",
            vm.moid
        );
        for n in nodes {
            let l = layouts
                .iter()
                .find(|l| l["key"]["value"] == n.moid.as_str())
                .expect("laid out");
            let data = files[&l["dataKey"].as_i64().expect("dataKey")];
            let memory = match l["memoryKey"].as_i64().expect("memoryKey") {
                -1 => 0,
                k => files[&k],
            };
            let memory_bytes = vm.memory_mib.expect("memory") * 1024 * 1024;
            let kept_memory = n.state.as_deref() == Some("poweredOn");
            assert_eq!(
                memory,
                if kept_memory { memory_bytes } else { 0 },
                "{}",
                n.moid
            );
            assert!(data > 0);
            assert_eq!(n.size_bytes, Some(data + memory), "{}", n.moid);
            sized += 1;
        }
    }
    assert!(sized > 2);
    let of = |moid: &str| {
        let vm = p.vms.iter().find(|v| v.moid == moid).expect("vm");
        (
            vm.memory_mib.expect("memory") * 1024 * 1024,
            vm.snapshots[0].clone(),
        )
    };
    let (memory, taken) = of(&on.0);
    assert!(taken.size_bytes.expect("sized") > memory, "memory kept");
    let (memory, taken) = of(&off.0);
    assert!(taken.size_bytes.expect("sized") < memory, "no memory");
}

/// Datastores in a datastore cluster (`StoragePod`) carry it in their topology, with its name;
/// the others carry none, and both keep their datacenter and folder path.
#[tokio::test]
async fn datastores_in_a_storage_pod_name_it() {
    let sim = Simulator::start(SimConfig {
        storage_pods: true,
        ..SimConfig::small()
    })
    .await
    .expect("sim");
    let p = projected(&sim);
    let inv = sim.control().state().inv();
    let (mut pooled, mut alone) = (0, 0);
    for ds in &p.storage {
        let parent = inv
            .get(&ds.moid)
            .and_then(|o| o.get_path("parent"))
            .expect("parent");
        let want = (parent["type"] == "StoragePod").then(|| {
            let moid = parent["value"].as_str().expect("moid");
            (
                moid.to_string(),
                inv.get(moid).expect("pod").name().to_string(),
            )
        });
        let got = ds
            .placement
            .datastore_cluster
            .as_ref()
            .map(|c| (c.moid.clone(), c.name.clone()));
        assert_eq!(got, want, "{}", ds.moid);
        if got.is_some() {
            pooled += 1;
        } else {
            alone += 1;
        }
        assert!(ds.placement.datacenter.is_some(), "{}", ds.moid);
    }
    assert!(pooled >= 2 && alone >= 1, "{pooled} in pods, {alone} not");
    let pod = inv.of_type("StoragePod").next().expect("a pod");
    let sum = |path: &str| -> i64 {
        pod.morefs_at("childEntity")
            .iter()
            .map(|d| {
                inv.get(&d.value)
                    .and_then(|o| o.get_path(path))
                    .and_then(Value::as_i64)
                    .expect("bytes")
            })
            .sum()
    };
    assert_eq!(
        pod.get_path("summary.capacity").and_then(Value::as_i64),
        Some(sum("summary.capacity"))
    );
    assert_eq!(
        pod.get_path("summary.freeSpace").and_then(Value::as_i64),
        Some(sum("summary.freeSpace"))
    );
}

#[tokio::test]
async fn an_id_is_one_allocation_shared_by_every_record_naming_it() {
    let sim = Simulator::start(SimConfig::small()).await.expect("sim");
    let (mut raw, ctx) = raw_from(sim.control().state());
    let mut projector = Projector::default();
    let all = raw.take_changed();
    let first = projector.project(&raw, &all, &ctx);
    let same = |a: &ResourceId, b: &ResourceId| a.as_str().as_ptr() == b.as_str().as_ptr();
    let mut checked = 0;
    for vm in &first.vms {
        let Some(host_id) = &vm.host_id else { continue };
        let host = first
            .agents
            .iter()
            .find(|a| &a.id == host_id)
            .expect("host");
        assert!(same(host_id, &host.id), "{}", vm.moid);
        assert!(host.vm_ids.iter().any(|v| same(v, &vm.id)), "{}", vm.moid);
        for u in &vm.datastore_usage {
            let ds = first
                .storage
                .iter()
                .find(|d| d.id == u.datastore_id)
                .expect("datastore");
            assert!(same(&u.datastore_id, &ds.id));
        }
        checked += 1;
    }
    assert!(checked > 0);
    // A VM projected again (renamed) keeps the same id allocation.
    let vm = first.vms[0].clone();
    assert!(sim.control().rename(&vm.moid, "renamed-for-ids"));
    refill(&mut raw, &sim);
    let changed = raw.take_changed();
    let second = projector.project(&raw, &changed, &ctx);
    let again = second.vms.iter().find(|v| v.moid == vm.moid).expect("vm");
    assert_eq!(again.name, "renamed-for-ids");
    assert!(same(&again.id, &vm.id));
}
