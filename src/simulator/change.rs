//! The change engine: plausible inventory changes (power, vMotion, datastore fill, alarms,
//! host connection, snapshots, renames). Each change goes through [`Inventory::modify`] so it
//! shows up in `WaitForUpdatesEx`, is written to the event history with vCenter's event type
//! names, and, where vCenter runs a task for it, to the recent tasks.
//!
//! The targeted functions (`set_vm_power`, `disconnect_host`, ...) are public so tests can make
//! exactly the change they assert on; `apply_random` drives the background engine.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use rand::seq::IndexedRandom;
use rand::Rng;
use serde_json::{json, Value};

use super::alarms::{self, alarm_id, set_alarm_in};
use super::inventory::events::{event_about, vm_context, ALARMS};
use super::inventory::objects::{self, ts};
use super::inventory::pods;
use super::inventory::{Inventory, MoRef};
use super::load;
use super::state::SimState;

/// Runs `rate` changes per second until `shutdown` turns true.
pub async fn run(
    state: Arc<SimState>,
    rate: f64,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) {
    let tick = Duration::from_millis(100);
    let mut debt = 0.0;
    let mut sample = load::sample_time(Utc::now());
    loop {
        tokio::select! {
            _ = tokio::time::sleep(tick) => {}
            _ = shutdown.wait_for(|s| *s) => return,
        }
        let now = load::sample_time(Utc::now());
        if now != sample {
            sample = now;
            report_new_sample(&state);
        }
        debt += rate * tick.as_secs_f64();
        let n = debt.floor() as usize;
        if n > 0 {
            debt -= n as f64;
            apply_random(&state, n);
        }
    }
}

/// Applies `count` random changes; returns how many were applied.
pub fn apply_random(state: &SimState, count: usize) -> usize {
    let mut applied = 0;
    {
        let mut inv = state.inv_mut();
        settle_on_new_sample(&mut inv);
        let mut rng = rand::rng();
        for _ in 0..count {
            let roll: u32 = rng.random_range(0..100);
            let ok = match roll {
                0..=29 => random_vm(&inv, &mut rng).is_some_and(|vm| toggle_power(&mut inv, &vm)),
                30..=44 => random_vm(&inv, &mut rng)
                    .is_some_and(|vm| migrate_random(&mut inv, &vm, &mut rng)),
                45..=64 => random_of(&inv, "Datastore", &mut rng).is_some_and(|ds| {
                    // Datastores fill as VMs write, and past vCenter's red threshold someone
                    // cleans up: without that, sustained change pins every datastore full.
                    let delta = if used_percent(&inv, &ds) > 85.0 {
                        rng.random_range(-4.0..1.0)
                    } else {
                        rng.random_range(-2.0..3.0)
                    };
                    fill_datastore_by(&mut inv, &ds, delta)
                }),
                65..=84 => random_alarm_flip(&mut inv, &mut rng),
                85..=89 => random_of(&inv, "HostSystem", &mut rng).is_some_and(|h| {
                    let connected = inv
                        .get(&h)
                        .and_then(|o| o.get_path("runtime.connectionState"))
                        .and_then(Value::as_str)
                        == Some("connected");
                    if connected {
                        disconnect_host_in(&mut inv, &h)
                    } else {
                        reconnect_host_in(&mut inv, &h)
                    }
                }),
                _ => random_vm(&inv, &mut rng).is_some_and(|vm| {
                    let has = inv.get(&vm).and_then(|o| o.get_path("snapshot")).is_some();
                    if has && rng.random_bool(0.3) {
                        remove_snapshots_in(&mut inv, &vm)
                    } else {
                        take_snapshot_in(&mut inv, &vm, "sim-snapshot")
                    }
                }),
            };
            applied += usize::from(ok);
        }
    }
    state.publish();
    applied
}

/// A new realtime sample moves the quickStats of every running VM and host; vCenter's
/// PropertyCollector reports them, so the change feed does too.
fn report_new_sample(state: &SimState) {
    {
        let mut inv = state.inv_mut();
        settle_on_new_sample(&mut inv);
        for kind in ["HostSystem", "VirtualMachine"] {
            let running: Vec<String> = inv
                .of_type(kind)
                .filter(|o| load::running(o))
                .map(|o| o.moref.value.clone())
                .collect();
            for id in running {
                inv.mark(&id, &[QUICK_STATS]);
            }
        }
    }
    state.publish();
}

/// Usage alarms follow the load, which moves with each realtime sample: re-evaluates them once
/// per sample, before the first change made in it.
fn settle_on_new_sample(inv: &mut Inventory) {
    let now = Utc::now();
    let sample = load::sample_time(now);
    if inv.alarms_settled_at != Some(sample) {
        inv.alarms_settled_at = Some(sample);
        alarms::settle_all(inv, now);
    }
}

/// The property whose served value follows the load model (see [`load::live_path`]).
const QUICK_STATS: &str = "summary.quickStats";

fn random_of(inv: &Inventory, kind: &str, rng: &mut impl Rng) -> Option<String> {
    inv.ids_of(kind).choose(rng).cloned()
}

fn random_vm(inv: &Inventory, rng: &mut impl Rng) -> Option<String> {
    random_of(inv, "VirtualMachine", rng)
}

fn name_of(inv: &Inventory, moid: &str) -> String {
    inv.get(moid)
        .map(|o| o.name().to_string())
        .unwrap_or_default()
}

/// An event of `type_name` about `entity`, now, by the administrator.
fn event(inv: &Inventory, type_name: &str, entity: &MoRef, message: String) -> Value {
    event_about(
        inv,
        type_name,
        entity,
        Utc::now(),
        "VSPHERE.LOCAL\\Administrator",
        message,
    )
}

/// The name of the datacenter holding `moid`.
fn datacenter_name(inv: &Inventory, moid: &str) -> String {
    inv.get(moid)
        .and_then(|o| inv.ancestor(o, "Datacenter"))
        .map(|d| d.name().to_string())
        .unwrap_or_default()
}

/// Records a completed task about `entity`, with its event chain.
fn task(inv: &mut Inventory, description_id: &str, entity: &MoRef, chain: i64) {
    let id = inv.new_id("task-");
    let now = Utc::now();
    let name = name_of(inv, &entity.value);
    inv.push_task(json!({
        "_typeName": "TaskInfo",
        "key": id,
        "task": MoRef::new("Task", id.clone()).to_json(),
        "descriptionId": description_id,
        "entity": entity.to_json(),
        "entityName": name,
        "state": "success",
        "cancelled": false,
        "cancelable": false,
        "reason": {"_typeName": "TaskReasonUser", "userName": "VSPHERE.LOCAL\\Administrator"},
        "queueTime": ts(now - chrono::Duration::milliseconds(1500)),
        "startTime": ts(now - chrono::Duration::milliseconds(1400)),
        "completeTime": ts(now),
        "eventChainId": chain,
        "progress": 100,
    }));
}

/// Powers a VM on or off (`poweredOn`, `poweredOff`, `suspended`). Returns false for unknown VMs.
pub fn set_vm_power(state: &SimState, vm: &str, power: &str) -> bool {
    let ok = set_power_in(&mut state.inv_mut(), vm, power);
    state.publish();
    ok
}

fn toggle_power(inv: &mut Inventory, vm: &str) -> bool {
    let on = inv
        .get(vm)
        .and_then(|o| o.get_path("runtime.powerState"))
        .and_then(Value::as_str)
        == Some("poweredOn");
    set_power_in(inv, vm, if on { "poweredOff" } else { "poweredOn" })
}

/// The one filesystem Tools report for a VM: its system disk, half full.
fn guest_disk(vm: &super::inventory::ManagedObject) -> Value {
    let windows = vm
        .get_path("config.guestId")
        .and_then(Value::as_str)
        .is_some_and(|g| g.starts_with("windows"));
    let capacity = vm
        .get_path("summary.storage.committed")
        .and_then(Value::as_i64)
        .filter(|c| *c > 0)
        .unwrap_or(40 << 30);
    json!({
        "_typeName": "GuestDiskInfo",
        "diskPath": if windows { "C:\\" } else { "/" },
        "capacity": capacity,
        "freeSpace": capacity / 2,
        "filesystemType": if windows { "NTFS" } else { "ext4" },
    })
}

fn set_power_in(inv: &mut Inventory, vm: &str, power: &str) -> bool {
    let Some(obj) = inv.get(vm) else { return false };
    let moref = obj.moref.clone();
    let on = power == "poweredOn";
    let mut runtime = obj.get_path("runtime").cloned().unwrap_or(json!({}));
    let mut guest = obj.get_path("guest").cloned().unwrap_or(json!({}));
    if let Some(r) = runtime.as_object_mut() {
        r.insert("powerState".into(), json!(power));
        r.insert(
            "bootTime".into(),
            if on { ts(Utc::now()) } else { Value::Null },
        );
    }
    if let Some(g) = guest.as_object_mut() {
        let running = on;
        g.insert(
            "toolsRunningStatus".into(),
            json!(if running {
                "guestToolsRunning"
            } else {
                "guestToolsNotRunning"
            }),
        );
        g.insert(
            "toolsStatus".into(),
            json!(if running {
                "toolsOk"
            } else {
                "toolsNotRunning"
            }),
        );
        g.insert(
            "guestState".into(),
            json!(if running { "running" } else { "notRunning" }),
        );
        if !running {
            g.remove("ipAddress");
            g.insert("net".into(), json!([]));
            g.insert("disk".into(), json!([]));
        } else if g
            .get("disk")
            .and_then(Value::as_array)
            .is_none_or(Vec::is_empty)
        {
            // Tools report the guest's filesystems as soon as they run, also for a VM that
            // was created powered off (whose GuestInfo never had any).
            g.insert("disk".into(), json!([guest_disk(obj)]));
        }
    }
    let (ev_type, verb, task_id) = match power {
        "poweredOn" => ("VmPoweredOnEvent", "powered on", "VirtualMachine.powerOn"),
        "suspended" => ("VmSuspendedEvent", "suspended", "VirtualMachine.suspend"),
        _ => (
            "VmPoweredOffEvent",
            "powered off",
            "VirtualMachine.powerOff",
        ),
    };
    inv.modify(
        vm,
        vec![
            ("runtime", runtime.clone()),
            ("summary.runtime", runtime),
            ("guest", guest),
        ],
    );
    inv.mark(vm, &[QUICK_STATS]);
    alarms::settle_object(inv, vm, Utc::now());
    let (name, host, dc) = vm_context(inv, vm);
    let ev = event(
        inv,
        ev_type,
        &moref,
        format!("{name} on {host} in {dc} is {verb}"),
    );
    let key = inv.push_event(ev);
    task(inv, task_id, &moref, key);
    true
}

fn migrate_random(inv: &mut Inventory, vm: &str, rng: &mut impl Rng) -> bool {
    let Some(host) = inv.get(vm).and_then(|o| o.moref_at("runtime.host")) else {
        return false;
    };
    let Some(cluster) = inv.get(&host.value).and_then(|h| h.moref_at("parent")) else {
        return false;
    };
    let peers: Vec<MoRef> = inv
        .get(&cluster.value)
        .map(|c| c.morefs_at("host"))
        .unwrap_or_default()
        .into_iter()
        .filter(|h| *h != host)
        .collect();
    match peers.choose(rng) {
        Some(target) => migrate_vm_in(inv, vm, &target.value),
        None => false,
    }
}

/// vMotions a VM to `host` (a DRS migration). Returns false for unknown objects.
pub fn migrate_vm(state: &SimState, vm: &str, host: &str) -> bool {
    let ok = migrate_vm_in(&mut state.inv_mut(), vm, host);
    state.publish();
    ok
}

fn migrate_vm_in(inv: &mut Inventory, vm: &str, target: &str) -> bool {
    let (Some(obj), Some(t)) = (inv.get(vm), inv.get(target)) else {
        return false;
    };
    if t.moref.kind != "HostSystem" {
        return false;
    }
    let moref = obj.moref.clone();
    let target_ref = t.moref.clone();
    let Some(source) = obj.moref_at("runtime.host") else {
        return false;
    };
    let name = obj.name().to_string();
    let without = |list: Vec<MoRef>| -> Value {
        objects::refs(&list.into_iter().filter(|r| *r != moref).collect::<Vec<_>>())
    };
    let src_vms = without(
        inv.get(&source.value)
            .map(|h| h.morefs_at("vm"))
            .unwrap_or_default(),
    );
    let mut dst = inv
        .get(target)
        .map(|h| h.morefs_at("vm"))
        .unwrap_or_default();
    dst.push(moref.clone());
    inv.modify(&source.value, vec![("vm", src_vms)]);
    inv.modify(target, vec![("vm", objects::refs(&dst))]);
    inv.modify(
        vm,
        vec![
            ("runtime.host", target_ref.to_json()),
            ("summary.runtime.host", target_ref.to_json()),
        ],
    );
    let cluster = inv.get(target).and_then(|h| h.moref_at("parent"));
    let cluster_name = cluster
        .as_ref()
        .map(|c| name_of(inv, &c.value))
        .unwrap_or_default();
    let msg = format!(
        "DRS migrated {name} from {} to {} in cluster {cluster_name} in {}",
        name_of(inv, &source.value),
        name_of(inv, target),
        datacenter_name(inv, vm)
    );
    let mut ev = event(inv, "DrsVmMigratedEvent", &moref, msg);
    if let Some(o) = ev.as_object_mut() {
        let src = json!({"_typeName": "HostEventArgument", "name": name_of(inv, &source.value), "host": source.to_json()});
        o.insert("sourceHost".into(), src);
        if let Some(c) = &cluster {
            o.insert("computeResource".into(), json!({"_typeName": "ComputeResourceEventArgument", "name": cluster_name, "computeResource": c.to_json()}));
        }
    }
    let key = inv.push_event(ev);
    task(inv, "Drm.ExecuteVMotionLRO", &moref, key);
    true
}

/// Sets a datastore's free space to `free` bytes (alarms follow the usual thresholds).
pub fn set_datastore_free(state: &SimState, ds: &str, free: i64) -> bool {
    let ok = set_free_in(&mut state.inv_mut(), ds, free);
    state.publish();
    ok
}

fn used_percent(inv: &Inventory, ds: &str) -> f64 {
    let int = |p: &str| {
        inv.get(ds)
            .and_then(|o| o.get_path(p))
            .and_then(Value::as_i64)
            .unwrap_or(0)
    };
    let cap = int("summary.capacity").max(1);
    100.0 - int("summary.freeSpace") as f64 * 100.0 / cap as f64
}

fn fill_datastore_by(inv: &mut Inventory, ds: &str, percent: f64) -> bool {
    let Some(obj) = inv.get(ds) else { return false };
    let cap = obj
        .get_path("summary.capacity")
        .and_then(Value::as_i64)
        .unwrap_or(0);
    let free = obj
        .get_path("summary.freeSpace")
        .and_then(Value::as_i64)
        .unwrap_or(0);
    let next = (free - (cap as f64 * percent / 100.0) as i64).clamp(cap / 50, cap);
    set_free_in(inv, ds, next)
}

fn set_free_in(inv: &mut Inventory, ds: &str, free: i64) -> bool {
    let Some(obj) = inv.get(ds) else { return false };
    if obj.moref.kind != "Datastore" {
        return false;
    }
    let cap = obj
        .get_path("summary.capacity")
        .and_then(Value::as_i64)
        .unwrap_or(1)
        .max(1);
    let free = free.clamp(0, cap);
    inv.modify(
        ds,
        vec![
            ("summary.freeSpace", json!(free)),
            ("info.freeSpace", json!(free)),
        ],
    );
    if let Some(pod) = pods::pod_of(inv, ds) {
        let summary = pods::summary(inv, &pod.value);
        inv.modify(&pod.value, vec![("summary", summary)]);
    }
    alarms::settle_object(inv, ds, Utc::now());
    true
}

/// Raises or clears an alarm that has no state behind it (see [`alarms::follows_state`]);
/// the others only ever follow their state.
fn random_alarm_flip(inv: &mut Inventory, rng: &mut impl Rng) -> bool {
    // Any host, VM or cluster alike, so a kind flips as often as it has objects: picking the
    // kind first flipped each cluster's alarm every ~12 s at `max` (a few dozen clusters took a
    // third of the flips), where a real cluster's HA or vSAN alarm changes a few times a day.
    let kinds = ["HostSystem", "VirtualMachine", "ClusterComputeResource"];
    let counts = kinds.map(|k| inv.ids_of(k).len());
    let total: usize = counts.iter().sum();
    if total == 0 {
        return false;
    }
    let mut pick = rng.random_range(0..total);
    let mut chosen = None;
    for (kind, n) in kinds.iter().zip(counts) {
        if pick < n {
            chosen = inv.ids_of(kind).get(pick).cloned().map(|id| (kind, id));
            break;
        }
        pick -= n;
    }
    let Some((kind, id)) = chosen else {
        return false;
    };
    let Some(obj) = inv.get(&id) else {
        return false;
    };
    let stateless: Vec<MoRef> = ALARMS
        .iter()
        .enumerate()
        .filter(|(_, (system, _, target))| target == kind && !alarms::follows_state(system))
        // Snapshot age needs a snapshot.
        .filter(|(_, (system, _, _))| {
            *system != "alarm.VmSnapshotAgeAlarm" || obj.get_path("snapshot").is_some()
        })
        .map(|(i, _)| MoRef::new("Alarm", format!("alarm-{}", i + 1)))
        .collect();
    let raised = obj
        .get_path("triggeredAlarmState")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|s| s.get("alarm").and_then(MoRef::from_json))
        .find(|a| stateless.contains(a));
    if let Some(alarm) = raised {
        return set_alarm_in(inv, &id, &alarm, "green", Utc::now());
    }
    let Some(alarm) = stateless.choose(rng).cloned() else {
        return false;
    };
    let status = if rng.random_bool(0.4) {
        "red"
    } else {
        "yellow"
    };
    set_alarm_in(inv, &id, &alarm, status, Utc::now())
}

/// Raises (`red`/`yellow`) or clears (`green`) alarm `alarm` (e.g. `alarm-2`) on `entity`.
pub fn set_alarm(state: &SimState, entity: &str, alarm: &str, status: &str) -> bool {
    let ok = set_alarm_in(
        &mut state.inv_mut(),
        entity,
        &MoRef::new("Alarm", alarm),
        status,
        Utc::now(),
    );
    state.publish();
    ok
}

/// Marks a host `notResponding` (its VMs become `disconnected`) and raises the connection alarm.
pub fn disconnect_host(state: &SimState, host: &str) -> bool {
    let ok = disconnect_host_in(&mut state.inv_mut(), host);
    state.publish();
    ok
}

/// Reconnects a host and its VMs and clears the connection alarm.
pub fn reconnect_host(state: &SimState, host: &str) -> bool {
    let ok = reconnect_host_in(&mut state.inv_mut(), host);
    state.publish();
    ok
}

fn set_host_connection(inv: &mut Inventory, host: &str, host_state: &str, vm_state: &str) -> bool {
    let Some(obj) = inv.get(host) else {
        return false;
    };
    if obj.moref.kind != "HostSystem" {
        return false;
    }
    let vms = obj.morefs_at("vm");
    inv.modify(
        host,
        vec![
            ("runtime.connectionState", json!(host_state)),
            ("summary.runtime.connectionState", json!(host_state)),
        ],
    );
    inv.mark(host, &[QUICK_STATS]);
    for vm in vms {
        inv.modify(
            &vm.value,
            vec![
                ("runtime.connectionState", json!(vm_state)),
                ("summary.runtime.connectionState", json!(vm_state)),
            ],
        );
        inv.mark(&vm.value, &[QUICK_STATS]);
    }
    true
}

fn disconnect_host_in(inv: &mut Inventory, host: &str) -> bool {
    if !set_host_connection(inv, host, "notResponding", "disconnected") {
        return false;
    }
    let moref = MoRef::new("HostSystem", host);
    let msg = format!(
        "Host {} in {} is not responding",
        name_of(inv, host),
        datacenter_name(inv, host)
    );
    let ev = event(inv, "HostNotRespondingEvent", &moref, msg);
    inv.push_event(ev);
    settle_host_and_vms(inv, host);
    true
}

fn reconnect_host_in(inv: &mut Inventory, host: &str) -> bool {
    if !set_host_connection(inv, host, "connected", "connected") {
        return false;
    }
    let moref = MoRef::new("HostSystem", host);
    let msg = format!(
        "Connected to {} in {}",
        name_of(inv, host),
        datacenter_name(inv, host)
    );
    let ev = event(inv, "HostConnectedEvent", &moref, msg);
    let key = inv.push_event(ev);
    task(inv, "HostSystem.reconnect", &moref, key);
    settle_host_and_vms(inv, host);
    true
}

/// The connection alarm and the usage alarms of a host and its VMs follow a connection change.
fn settle_host_and_vms(inv: &mut Inventory, host: &str) {
    let now = Utc::now();
    let vms = inv.get(host).map(|h| h.morefs_at("vm")).unwrap_or_default();
    alarms::settle_object(inv, host, now);
    for vm in vms {
        alarms::settle_object(inv, &vm.value, now);
    }
}

/// Takes a snapshot of a VM as a child of its current snapshot.
pub fn take_snapshot(state: &SimState, vm: &str, name: &str) -> bool {
    let ok = take_snapshot_in(&mut state.inv_mut(), vm, name);
    state.publish();
    ok
}

fn take_snapshot_in(inv: &mut Inventory, vm: &str, name: &str) -> bool {
    let Some(obj) = inv.get(vm) else { return false };
    if obj.moref.kind != "VirtualMachine" {
        return false;
    }
    let moref = obj.moref.clone();
    let power = obj
        .get_path("runtime.powerState")
        .and_then(Value::as_str)
        .unwrap_or("poweredOff")
        .to_string();
    let mut info = obj.get_path("snapshot").cloned().unwrap_or(json!({
        "_typeName": "VirtualMachineSnapshotInfo",
        "rootSnapshotList": [],
    }));
    let current = info.get("currentSnapshot").and_then(MoRef::from_json);
    let id = inv.new_id("");
    let snap = MoRef::new("VirtualMachineSnapshot", format!("{vm}-snapshot-{id}"));
    let node = objects::snapshot_tree(
        &snap,
        &moref,
        name,
        id.parse().unwrap_or(0),
        Utc::now(),
        &power,
        false,
        Vec::new(),
    );
    let attached = match &current {
        Some(cur) => attach_child(info.get_mut("rootSnapshotList"), cur, node.clone()),
        None => false,
    };
    if !attached {
        if let Some(list) = info
            .get_mut("rootSnapshotList")
            .and_then(Value::as_array_mut)
        {
            list.push(node);
        }
    }
    if let Some(o) = info.as_object_mut() {
        o.insert("currentSnapshot".into(), snap.to_json());
    }
    // The snapshot's files are laid out in the same change, as vCenter reports them together.
    let layout = inv
        .get(vm)
        .map(|o| objects::layout_ex(&o.props, Some(&info)))
        .unwrap_or(Value::Null);
    inv.modify(vm, vec![("snapshot", info), ("layoutEx", layout)]);
    let vm_name = name_of(inv, vm);
    let ev = event(
        inv,
        "TaskEvent",
        &moref,
        format!("Task: Create virtual machine snapshot on {vm_name}"),
    );
    let key = inv.push_event(ev);
    task(inv, "VirtualMachine.createSnapshot", &moref, key);
    true
}

fn attach_child(list: Option<&mut Value>, parent: &MoRef, node: Value) -> bool {
    let Some(items) = list.and_then(Value::as_array_mut) else {
        return false;
    };
    for item in items.iter_mut() {
        if item.get("snapshot").and_then(MoRef::from_json).as_ref() == Some(parent) {
            if let Some(o) = item.as_object_mut() {
                let children = o.entry("childSnapshotList").or_insert(json!([]));
                if let Some(c) = children.as_array_mut() {
                    c.push(node);
                    return true;
                }
            }
            return false;
        }
        if attach_child(item.get_mut("childSnapshotList"), parent, node.clone()) {
            return true;
        }
    }
    false
}

fn remove_snapshots_in(inv: &mut Inventory, vm: &str) -> bool {
    let Some(obj) = inv.get(vm) else { return false };
    let moref = obj.moref.clone();
    let layout = objects::layout_ex(&obj.props, None);
    inv.modify(vm, vec![("snapshot", Value::Null), ("layoutEx", layout)]);
    // Without a snapshot there is no snapshot age to alarm on.
    let age = MoRef::new("Alarm", alarm_id("alarm.VmSnapshotAgeAlarm"));
    set_alarm_in(inv, vm, &age, "green", Utc::now());
    let vm_name = name_of(inv, vm);
    let ev = event(
        inv,
        "TaskEvent",
        &moref,
        format!("Task: Remove all snapshots on {vm_name}"),
    );
    let key = inv.push_event(ev);
    task(inv, "VirtualMachine.removeAllSnapshots", &moref, key);
    true
}

/// Renames an object (ids must not change with it).
pub fn rename(state: &SimState, moid: &str, name: &str) -> bool {
    let mut inv = state.inv_mut();
    let Some(obj) = inv.get(moid) else {
        return false;
    };
    let moref = obj.moref.clone();
    let old = obj.name().to_string();
    let mut changes = vec![("name", json!(name))];
    if moref.kind == "VirtualMachine" {
        changes.push(("config.name", json!(name)));
        changes.push(("summary.config.name", json!(name)));
    }
    inv.modify(moid, changes);
    let dc = datacenter_name(&inv, moid);
    let ev = event(
        &inv,
        "EntityRenamedEvent",
        &moref,
        format!("Renamed {name} from {old} to {name} in {dc}"),
    );
    inv.push_event(ev);
    drop(inv);
    state.publish();
    true
}

/// `AlarmManager.AcknowledgeAlarm`: marks the triggered alarm `alarm` on `entity` acknowledged
/// by `user` now (`AlarmState.acknowledged`, `acknowledgedByUser`, `acknowledgedTime`). False
/// when the alarm is not triggered there or already acknowledged.
pub fn acknowledge_alarm(state: &SimState, entity: &str, alarm: &str, user: &str) -> bool {
    let alarm = MoRef::new("Alarm", alarm);
    let mut inv = state.inv_mut();
    let Some(mut states) = inv
        .get(entity)
        .and_then(|o| o.get_path("triggeredAlarmState"))
        .and_then(Value::as_array)
        .cloned()
    else {
        return false;
    };
    let Some(s) = states.iter_mut().find(|s| {
        s.get("alarm").and_then(MoRef::from_json).as_ref() == Some(&alarm)
            && s.get("acknowledged") != Some(&json!(true))
    }) else {
        return false;
    };
    s["acknowledged"] = json!(true);
    s["acknowledgedByUser"] = json!(user);
    s["acknowledgedTime"] = json!(super::inventory::objects::ts(Utc::now()));
    inv.modify(entity, vec![("triggeredAlarmState", Value::Array(states))]);
    drop(inv);
    state.publish();
    true
}
