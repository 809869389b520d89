//! The collector against the simulator over HTTPS: complete projection at several sizes, the
//! change feed, restart recovery without an empty window, host disconnect, NoPermission objects,
//! alarm transitions, events, metrics, and nothing left behind on vCenter after shutdown.

mod common;

use std::sync::Arc;
use std::time::Duration;

use pulse_vsphere::collector::{self, CollectorConfig, CollectorHandle};
use pulse_vsphere::inventory::activity::{TransitionKind, EVENTS_PER_OBJECT};
use pulse_vsphere::inventory::{ConnectionSlot, ConnectionState, Stage};
use pulse_vsphere::model::snapshot::InventorySnapshot;
use pulse_vsphere::model::status::ResourceStatus;
use pulse_vsphere::simulator::{ApiType, Profile, SimConfig, Simulator};
use pulse_vsphere::vcenter::FailureClass;
use pulse_vsphere::vcenter::VcClient;
use serde_json::Value;

fn fast() -> CollectorConfig {
    CollectorConfig {
        page_size: 500,
        wait: Duration::from_secs(2),
        max_updates: 500,
        publish_every: Duration::from_millis(100),
        events_every: Duration::from_millis(500),
        metrics_every: Duration::from_secs(1),
        metadata_every: Duration::from_secs(600),
        tags_every: Duration::from_secs(300),
        sessions_every: Duration::from_secs(1),
        claims: None,
        live: None,
    }
}

fn start(sim: &Simulator, user: &str) -> (Arc<ConnectionSlot>, CollectorHandle) {
    let slot = Arc::new(ConnectionSlot::new("vc1", "lab vCenter"));
    let client = VcClient::new(common::client_config(sim, user, user)).expect("client");
    let h = collector::spawn(client, slot.clone(), fast());
    (slot, h)
}

async fn until(
    secs: u64,
    slot: &ConnectionSlot,
    f: impl Fn(&InventorySnapshot) -> bool,
) -> Arc<InventorySnapshot> {
    let ok = common::eventually(secs, || slot.snapshot().is_some_and(|s| f(&s))).await;
    let snap = slot.snapshot().expect("a snapshot");
    assert!(
        ok,
        "condition not reached in {secs} s; health {:?}",
        slot.health()
    );
    snap
}

fn sim_count(sim: &Simulator, kind: &str) -> usize {
    sim.control()
        .inventory_counts()
        .by_type
        .get(kind)
        .copied()
        .unwrap_or(0)
}

fn prop(sim: &Simulator, moid: &str, path: &str) -> Option<Value> {
    let inv = sim.control().state().inv();
    ["VirtualMachine", "HostSystem", "Datastore"]
        .iter()
        .find_map(|k| {
            inv.of_type(k)
                .find(|o| o.moref.value == moid)
                .and_then(|o| o.get_path(path).cloned())
        })
}

async fn counts_match(profile: Profile, secs: u64) {
    let sim = Simulator::start(SimConfig::with_profile(profile))
        .await
        .expect("sim");
    let (slot, h) = start(&sim, "admin");
    let (hosts, vms, ds) = (
        sim_count(&sim, "HostSystem"),
        sim_count(&sim, "VirtualMachine"),
        sim_count(&sim, "Datastore"),
    );
    let snap = until(secs, &slot, |s| s.vms.len() == vms).await;
    assert_eq!(
        (snap.agents.len(), snap.vms.len(), snap.storage.len()),
        (hosts, vms, ds)
    );
    // Topology matches the simulator: every VM on the host the simulator says.
    for vm in snap.vms.iter().step_by(7) {
        let host = prop(&sim, &vm.moid, "runtime.host")
            .and_then(|h| h["value"].as_str().map(str::to_string));
        assert_eq!(
            vm.host_id.as_ref().map(|h| h.moid().to_string()),
            host,
            "{}",
            vm.moid
        );
    }
    // Datastore clusters and snapshot sizes as the simulator holds them.
    for ds in &snap.storage {
        let parent = prop(&sim, &ds.moid, "parent").expect("parent");
        let pod = (parent["type"] == "StoragePod").then(|| parent["value"].clone());
        assert_eq!(
            ds.placement
                .datastore_cluster
                .as_ref()
                .map(|c| Value::from(c.moid.clone())),
            pod,
            "{}",
            ds.moid
        );
    }
    assert_eq!(
        snap.storage
            .iter()
            .any(|d| d.placement.datastore_cluster.is_some()),
        SimConfig::with_profile(profile).storage_pods
    );
    for vm in snap.vms.iter().filter(|v| v.snapshot_count > 0) {
        assert!(
            vm.snapshots
                .iter()
                .all(|n| n.size_bytes.is_some_and(|b| b > 0)),
            "{}",
            vm.moid
        );
    }
    assert_eq!(
        slot.health().state,
        ConnectionState::Healthy,
        "{:?}",
        slot.health()
    );
    h.shutdown().await;
    let s = sim.stats();
    assert_eq!(
        (s.sessions.vim.active, s.sessions.rest.active),
        (0, 0),
        "logged out"
    );
    assert_eq!(
        (
            s.views,
            s.filters,
            s.property_collectors,
            s.event_collectors,
            s.retrieve_tokens
        ),
        (0, 0, 0, 0, 0),
        "nothing left on vCenter"
    );
}

#[tokio::test]
async fn small_profile_is_projected_completely() {
    counts_match(Profile::Small, 20).await;
}

#[tokio::test]
async fn medium_profile_is_projected_completely() {
    counts_match(Profile::Medium, 120).await;
}

#[tokio::test]
async fn changes_alarms_events_and_metrics_flow_in() {
    let sim = Simulator::start(SimConfig::small()).await.expect("sim");
    let (slot, h) = start(&sim, "admin");
    let snap = until(20, &slot, |s| !s.vms.is_empty()).await;
    let vm = snap
        .vms
        .iter()
        .find(|v| v.power_state.as_deref() == Some("poweredOn"))
        .expect("a running VM")
        .clone();
    assert!(sim.control().set_vm_power(&vm.moid, "poweredOff"));
    let s = until(10, &slot, |s| {
        s.vm(&vm.id)
            .is_some_and(|v| v.status == ResourceStatus::Offline)
    })
    .await;
    assert_eq!(
        s.vm(&vm.id).unwrap().power_state.as_deref(),
        Some("poweredOff")
    );
    // Events of that VM arrive through the activity log.
    assert!(
        common::eventually(10, || slot
            .activity()
            .events_of(&vm.moid)
            .iter()
            .any(|e| e.event_type == "VmPoweredOffEvent"))
        .await
    );
    // An alarm raised and cleared becomes two transitions. Alarms with no state behind them
    // (host error, HA host status): the simulator re-checks state-backed ones on every change.
    let alarm = sim.control().state().inv().ids_of("Alarm")[8].clone();
    let flap = sim.control().state().inv().ids_of("Alarm")[6].clone();
    let host = s
        .agents
        .iter()
        .find(|a| {
            a.alerts
                .iter()
                .all(|x| x.alarm_moid != alarm && x.alarm_moid != flap)
        })
        .expect("a host with neither alarm raised")
        .clone();
    assert!(sim.control().set_alarm(&host.moid, &alarm, "red"));
    until(10, &slot, |s| {
        s.agent(&host.id)
            .is_some_and(|a| a.alerts.iter().any(|x| x.alarm_moid == alarm))
    })
    .await;
    assert!(sim.control().set_alarm(&host.moid, &alarm, "green"));
    until(10, &slot, |s| {
        s.agent(&host.id)
            .is_some_and(|a| a.alerts.iter().all(|x| x.alarm_moid != alarm))
    })
    .await;
    let t = slot.activity().transitions();
    let mine: Vec<_> = t
        .iter()
        .filter(|t| t.resource_id == host.id.as_str() && t.alarm_moid == alarm)
        .collect();
    assert_eq!(
        mine.iter().map(|t| t.kind).collect::<Vec<_>>(),
        vec![TransitionKind::Cleared, TransitionKind::Raised]
    );
    // Raised and cleared between two snapshots: no diff sees it, the alarm events do.
    assert!(sim.control().set_alarm(&host.moid, &flap, "red"));
    assert!(sim.control().set_alarm(&host.moid, &flap, "green"));
    let flapped = || {
        let kinds: Vec<TransitionKind> = slot
            .activity()
            .transitions()
            .iter()
            .filter(|t| t.resource_id == host.id.as_str() && t.alarm_moid == flap)
            .map(|t| t.kind)
            .collect();
        kinds == vec![TransitionKind::Cleared, TransitionKind::Raised]
    };
    assert!(
        common::eventually(10, flapped).await,
        "{:?}",
        slot.activity().transitions()
    );
    // Realtime metrics for running VMs.
    assert!(
        common::eventually(10, || slot
            .activity()
            .metrics
            .values()
            .any(|m| m.cpu_percent.is_some()))
        .await
    );
    let running = s
        .vms
        .iter()
        .find(|v| v.power_state.as_deref() == Some("poweredOn"))
        .expect("running");
    assert!(
        common::eventually(10, || slot
            .activity()
            .metrics
            .get(&running.moid)
            .is_some_and(|m| m.uptime_seconds.is_some()))
        .await
    );
    h.shutdown().await;
}

#[tokio::test]
async fn restart_recovers_without_an_empty_window() {
    let sim = Simulator::start(SimConfig::small()).await.expect("sim");
    let (slot, h) = start(&sim, "admin");
    let vms = sim_count(&sim, "VirtualMachine");
    let before = until(20, &slot, |s| s.vms.len() == vms).await;
    let watcher = {
        let slot = slot.clone();
        tokio::spawn(async move {
            let mut smallest = usize::MAX;
            for _ in 0..200 {
                smallest = smallest.min(slot.snapshot().map_or(0, |s| s.vms.len()));
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            smallest
        })
    };
    sim.control().restart();
    assert!(
        common::eventually(20, || h
            .stats
            .full_syncs
            .load(std::sync::atomic::Ordering::Relaxed)
            >= 2)
        .await,
        "{:?}",
        slot.health()
    );
    assert_eq!(
        watcher.await.unwrap(),
        vms,
        "the inventory never went empty"
    );
    // And the feed works again after the rebuild.
    let vm = slot.snapshot().unwrap().vms[0].clone();
    sim.control().rename(&vm.moid, "renamed-after-restart");
    let s = until(10, &slot, |s| {
        s.vm(&vm.id)
            .is_some_and(|v| v.name == "renamed-after-restart")
    })
    .await;
    assert_eq!(s.vm(&vm.id).unwrap().id, vm.id, "ids survive renames");
    // The resync read everything again, yet the snapshots share every VM that did not change:
    // a resync does not hold two inventories' worth of resources.
    let shared = s
        .vms
        .iter()
        .filter(|v| before.vms.iter().any(|b| Arc::ptr_eq(b, v)))
        .count();
    assert_eq!(
        shared,
        vms - 1,
        "all but the renamed VM are the same allocation"
    );
    h.shutdown().await;
}

#[tokio::test]
async fn disconnects_and_denied_objects() {
    let sim = Simulator::start(SimConfig::small()).await.expect("sim");
    let (slot, h) = start(&sim, "admin");
    let snap = until(20, &slot, |s| !s.agents.is_empty()).await;
    let host = snap
        .agents
        .iter()
        .find(|a| !snap.vms_on_host(&a.id).is_empty())
        .expect("host with VMs")
        .clone();
    let on_host = snap.vms_on_host(&host.id).len();
    sim.control().disconnect_host(&host.moid);
    let s = until(10, &slot, |s| {
        s.agent(&host.id)
            .is_some_and(|a| a.status == ResourceStatus::Offline)
    })
    .await;
    assert_eq!(
        s.vms_on_host(&host.id).len(),
        on_host,
        "a disconnected host keeps its VMs"
    );
    h.shutdown().await;

    // A VM the user may not read: listed as an issue, everything else projected.
    let vm = snap.vms[0].moid.clone();
    sim.control().deny_object(&vm);
    let (slot, h) = start(&sim, "admin");
    let s = until(20, &slot, |s| !s.vms.is_empty()).await;
    assert!(s.issues.iter().any(|i| i.moid == vm), "{:?}", s.issues);
    assert_eq!(s.agents.len(), sim_count(&sim, "HostSystem"));
    assert_eq!(slot.health().state, ConnectionState::Degraded);
    // Health names the object (its canonical id and name as the graph serves them), the
    // privilege vCenter's NoPermission fault named, and what to grant.
    let health = slot.health();
    let issue = health
        .issues
        .iter()
        .find(|i| i.object.as_ref().is_some_and(|o| o.mo_id == vm))
        .expect("an issue about the denied VM");
    let served = s.vms.iter().find(|v| v.moid == vm).expect("still listed");
    let object = issue.object.as_ref().expect("object");
    assert_eq!(issue.stage, Stage::FullSync);
    assert_eq!(issue.class, FailureClass::PermissionDenied);
    assert_eq!(object.kind, "VirtualMachine");
    assert_eq!(object.id.as_deref(), Some(served.id.as_str()));
    assert_eq!(object.name.as_deref(), Some(served.name.as_str()));
    assert_eq!(issue.privileges, ["System.Read"]);
    assert!(
        issue
            .hint
            .as_deref()
            .is_some_and(|h| h.contains("System.Read")),
        "{issue:?}"
    );
    assert!(issue.occurrences >= 1 && issue.first_seen <= issue.last_seen);
    // It changes while still denied: the change feed hides it as the retrieval did, so the
    // issue lasts as long as the permission is missing and nothing of it leaks.
    // A readable VM renamed after it marks when the feed has delivered both changes.
    let other = snap.vms[1].moid.clone();
    assert!(sim.control().rename(&vm, "renamed-while-denied"));
    assert!(sim.control().rename(&other, "renamed-after"));
    let s = until(20, &slot, |s| {
        s.vms.iter().any(|v| v.name == "renamed-after")
    })
    .await;
    assert!(s.issues.iter().any(|i| i.moid == vm), "{:?}", s.issues);
    assert!(
        s.vms.iter().all(|v| v.name != "renamed-while-denied"),
        "a denied object's change does not leak through the change feed"
    );
    assert_eq!(slot.health().state, ConnectionState::Degraded);
    h.shutdown().await;

    // Hundreds of unreadable properties: all in the snapshot, a bounded list in health.
    for v in snap.vms.iter().take(10) {
        sim.control().deny_object(&v.moid);
    }
    let (slot, h) = start(&sim, "admin");
    let s = until(20, &slot, |s| !s.vms.is_empty()).await;
    assert!(
        s.issues.len() > collector::ISSUES_LISTED,
        "{}",
        s.issues.len()
    );
    let listed = slot.health().issues.clone();
    assert_eq!(listed.len(), collector::ISSUES_LISTED + 1, "{listed:?}");
    assert!(listed[collector::ISSUES_LISTED]
        .message
        .contains("more properties unreadable"));
    h.shutdown().await;
}

fn text(v: Option<Value>) -> Option<String> {
    v.and_then(|p| p.as_str().map(str::to_string))
}

/// Where the snapshot disagrees with the simulator: counts, VM power and host, host connection.
fn differences(sim: &Simulator, s: &InventorySnapshot) -> Vec<String> {
    let mut out = Vec::new();
    let vms = sim_count(sim, "VirtualMachine");
    if s.vms.len() != vms {
        out.push(format!("{} VMs, simulator has {vms}", s.vms.len()));
    }
    for v in &s.vms {
        let power = text(prop(sim, &v.moid, "runtime.powerState"));
        let host = prop(sim, &v.moid, "runtime.host")
            .and_then(|h| h["value"].as_str().map(str::to_string));
        let mine = v.host_id.as_ref().map(|i| i.moid().to_string());
        if power != v.power_state || host != mine {
            out.push(format!(
                "{}: simulator {power:?} on {host:?}, snapshot {:?} on {mine:?}",
                v.moid, v.power_state
            ));
        }
    }
    for a in &s.agents {
        let conn = text(prop(sim, &a.moid, "runtime.connectionState"));
        if conn != a.connection_state {
            out.push(format!(
                "{}: simulator {conn:?}, snapshot {:?}",
                a.moid, a.connection_state
            ));
        }
    }
    out
}

#[tokio::test]
async fn counts_reconcile_after_many_changes() {
    let sim = Simulator::start(SimConfig::small()).await.expect("sim");
    let (slot, h) = start(&sim, "admin");
    until(20, &slot, |s| !s.vms.is_empty()).await;
    // An hour at one change per second, applied in bursts while the feed runs.
    for _ in 0..36 {
        sim.control().apply_changes(100);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let ok = common::eventually(20, || {
        slot.snapshot()
            .is_some_and(|s| differences(&sim, &s).is_empty())
    })
    .await;
    assert!(
        ok,
        "not reconciled: {:?}",
        differences(&sim, &slot.snapshot().unwrap())
    );
    h.shutdown().await;
}

#[tokio::test]
async fn an_unreachable_vcenter_keeps_the_last_inventory_and_backs_off() {
    let sim = Simulator::start(SimConfig::small()).await.expect("sim");
    let (slot, h) = start(&sim, "admin");
    let vms = sim_count(&sim, "VirtualMachine");
    until(20, &slot, |s| s.vms.len() == vms).await;
    sim.shutdown().await;
    let unreachable = || {
        let h = slot.health();
        h.state == ConnectionState::Failed
            && h.last_error
                .as_ref()
                .is_some_and(|e| e.class == "endpoint_unreachable" || e.class == "timeout")
    };
    assert!(
        common::eventually(20, unreachable).await,
        "{:?}",
        slot.health()
    );
    let health = slot.health();
    let class = health.last_error.as_ref().map(|e| e.class.clone());
    assert!(
        matches!(
            class.as_deref(),
            Some("endpoint_unreachable") | Some("timeout")
        ),
        "{health:?}"
    );
    // Nothing is lost or rebuilt while it is down: the last good snapshot stays, its age grows.
    // (Taken once vCenter is seen down: a publish of the last changes read before the shutdown
    // may land after the first full snapshot.)
    let first = slot.snapshot().expect("kept");
    tokio::time::sleep(Duration::from_secs(6)).await;
    let snap = slot.snapshot().expect("kept");
    assert_eq!(snap.vms.len(), vms);
    assert_eq!(snap.taken_at, first.taken_at, "stale, not refreshed");
    let failures = slot.health().consecutive_failures;
    assert!(
        (1..=4).contains(&failures),
        "backs off, does not spin: {failures}"
    );
    h.shutdown().await;
}

#[tokio::test]
async fn a_busy_tick_is_skipped_and_counted_not_queued() {
    let sim = Simulator::start(SimConfig::small()).await.expect("sim");
    let slot = Arc::new(ConnectionSlot::new("vc1", "lab"));
    let client = VcClient::new(common::client_config(&sim, "admin", "admin")).expect("client");
    let config = CollectorConfig {
        metrics_every: Duration::from_millis(20),
        ..fast()
    };
    let h = collector::spawn(client, slot.clone(), config);
    until(20, &slot, |s| !s.vms.is_empty()).await;
    // Every vCenter call now takes longer than the metrics interval.
    sim.control().set_latency(
        pulse_vsphere::simulator::sessions::Family::Vim,
        pulse_vsphere::simulator::Latency {
            fixed_ms: 150,
            jitter_ms: 0,
        },
    );
    tokio::time::sleep(Duration::from_secs(3)).await;
    let skipped = h
        .stats
        .skipped_ticks
        .load(std::sync::atomic::Ordering::Relaxed);
    let passes = h
        .stats
        .metric_passes
        .load(std::sync::atomic::Ordering::Relaxed);
    assert!(skipped > 10, "skipped {skipped}");
    assert!(
        passes < 40,
        "passes {passes}: one at a time, never piled up"
    );
    sim.control().set_latency(
        pulse_vsphere::simulator::sessions::Family::Vim,
        pulse_vsphere::simulator::Latency::default(),
    );
    h.shutdown().await;
}

#[tokio::test]
async fn large_profile_is_projected_completely() {
    counts_match(Profile::Large, 240).await;
}

#[tokio::test]
async fn a_failing_optional_read_degrades_and_recovers() {
    let sim = Simulator::start(SimConfig::small()).await.expect("sim");
    sim.control()
        .patch_faults(
            &serde_json::json!({"failing_methods": ["EventManager.CreateCollectorForEvents"]}),
        )
        .expect("fault");
    let (slot, h) = start(&sim, "admin");
    let vms = sim_count(&sim, "VirtualMachine");
    until(20, &slot, |s| s.vms.len() == vms).await;
    let degraded = || {
        let h = slot.health();
        h.state == ConnectionState::Degraded
            && h.issues
                .iter()
                .any(|i| i.stage == Stage::Events && i.message.contains("SystemError"))
    };
    assert!(
        common::eventually(10, degraded).await,
        "{:?}",
        slot.health()
    );
    sim.control()
        .patch_faults(&serde_json::json!({"failing_methods": []}))
        .expect("fault");
    sim.control()
        .rename(&slot.snapshot().unwrap().vms[0].moid, "after-recovery");
    let healthy = || {
        slot.health()
            .issues
            .iter()
            .all(|i| i.stage != Stage::Events)
    };
    assert!(common::eventually(10, healthy).await, "{:?}", slot.health());
    h.shutdown().await;
}

#[tokio::test]
async fn a_burst_of_events_is_read_in_polls_of_at_most_events_per_poll() {
    use pulse_vsphere::collector::activity::poll_events;
    // The bound the collector uses is larger (`EVENTS_PER_POLL`); the reading is the same.
    const EVENTS_PER_POLL: usize = 1000;
    let sim = Simulator::start(SimConfig::small()).await.expect("sim");
    let client = VcClient::new(common::client_config(&sim, "admin", "admin")).expect("client");
    // The first poll only finds out where vCenter's event stream is.
    let first = poll_events(&client, None, true, EVENTS_PER_POLL)
        .await
        .expect("first poll");
    let start = first.last().map(|e| e.key).expect("a position");
    // A burst well above one poll's worth (a no-op change raises no event, so ask for more).
    sim.control().apply_changes(EVENTS_PER_POLL * 3);
    let mut polls = Vec::new();
    let mut after = start;
    loop {
        let read = poll_events(&client, Some(after), false, EVENTS_PER_POLL)
            .await
            .expect("poll");
        let Some(last) = read.last() else {
            break;
        };
        after = last.key;
        polls.push(read.len());
        assert!(polls.len() < 20, "polls never end: {polls:?}");
    }
    let total: usize = polls.iter().sum();
    assert!(
        total > EVENTS_PER_POLL,
        "a burst larger than one poll: {polls:?}"
    );
    assert!(polls.iter().all(|n| *n <= EVENTS_PER_POLL), "{polls:?}");
    assert_eq!(
        polls[0], EVENTS_PER_POLL,
        "caught up over the next polls: {polls:?}"
    );
    let end = after;
    assert!(
        end - start >= total as i64,
        "every event read once: {start}..{end}, {total}"
    );
    client.logout().await;
}

#[tokio::test]
async fn a_connection_repointed_at_an_esxi_host_fails_the_floor_and_collects_nothing() {
    let vcenter = Simulator::start(SimConfig::small()).await.expect("sim");
    let (slot, h) = start(&vcenter, "admin");
    let vms = sim_count(&vcenter, "VirtualMachine");
    until(20, &slot, |s| s.vms.len() == vms).await;
    h.shutdown().await;

    // The same connection (same slot) now reaches a standalone ESXi host.
    let host = Simulator::start(SimConfig {
        api_type: ApiType::HostAgent,
        ..SimConfig::small()
    })
    .await
    .expect("sim");
    let client = VcClient::new(common::client_config(&host, "admin", "admin")).expect("client");
    let h = collector::spawn(client, slot.clone(), fast());
    let refused = || {
        let h = slot.health();
        h.state == ConnectionState::Failed
            && h.last_error
                .as_ref()
                .is_some_and(|e| e.class == "phase1_floor_unmet")
    };
    assert!(common::eventually(20, refused).await, "{:?}", slot.health());
    let health = slot.health();
    let message = health.last_error.as_ref().map(|e| e.message.clone());
    assert!(
        message.is_some_and(|m| m.contains("phase 1 reads vCenter only")),
        "{health:?}"
    );
    // Past the side loop's first tick: nothing was published or read, nobody logged in.
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(slot.snapshot().is_none(), "the vCenter's resources left");
    assert_eq!(
        h.stats
            .snapshots_published
            .load(std::sync::atomic::Ordering::Relaxed),
        0
    );
    let s = host.stats();
    assert_eq!((s.login_attempts.vim, s.login_attempts.rest), (0, 0));
    assert_eq!(s.views + s.filters + s.event_collectors, 0);
    h.shutdown().await;
}

#[tokio::test]
async fn half_the_requests_failing_slows_progress_but_never_stops_it() {
    let mut cfg = SimConfig::small();
    cfg.size.vms = 600;
    let sim = Simulator::start(cfg).await.expect("sim");
    let slot = Arc::new(ConnectionSlot::new("vc1", "lab vCenter"));
    let client = VcClient::new(common::client_config(&sim, "admin", "admin")).expect("client");
    // Pages of 50: a full sync is more than a dozen calls in a row, each of which may fail.
    let h = collector::spawn(
        client,
        slot.clone(),
        CollectorConfig {
            page_size: 50,
            ..fast()
        },
    );
    let vms = sim_count(&sim, "VirtualMachine");
    until(30, &slot, |s| s.vms.len() == vms).await;
    let ids: Vec<(String, pulse_vsphere::model::ids::ResourceId)> = slot
        .snapshot()
        .unwrap()
        .vms
        .iter()
        .take(12)
        .map(|v| (v.moid.clone(), v.id.clone()))
        .collect();
    let renamed =
        |slot: &ConnectionSlot, id: &pulse_vsphere::model::ids::ResourceId, name: &str| {
            slot.snapshot()
                .is_some_and(|s| s.vm(id).is_some_and(|v| v.name == name))
        };
    sim.control()
        .patch_faults(&serde_json::json!({"error_rate": {"vim": 0.5, "rest": 0.5}}))
        .expect("faults");
    // A change every 2 s while half the calls fail: each one reaches the snapshot. The wait
    // allows two cycles in a row to fail (a call that fails five times in a row, 1 in 32, ends
    // its cycle): the backoff of 5 s, then 10 s, and a full sync under the same failure rate.
    let mut slowest = Duration::ZERO;
    for (i, (moid, id)) in ids.iter().take(8).enumerate() {
        let name = format!("under-failure-{i}");
        let t = std::time::Instant::now();
        sim.control().rename(moid, &name);
        assert!(
            common::eventually(60, || renamed(&slot, id, &name)).await,
            "change {i} never arrived; health {:?}",
            slot.health()
        );
        slowest = slowest.max(t.elapsed());
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
    // A vCenter restart under the same failure rate: the full sync that follows pages through
    // it (a failed page is sent again, the sync goes on) instead of starting over and over.
    let syncs = h
        .stats
        .full_syncs
        .load(std::sync::atomic::Ordering::Relaxed);
    let t = std::time::Instant::now();
    sim.control().restart();
    assert!(
        common::eventually(120, || h
            .stats
            .full_syncs
            .load(std::sync::atomic::Ordering::Relaxed)
            > syncs)
        .await,
        "no full sync completed under 50 % failures; health {:?}",
        slot.health()
    );
    let resync = t.elapsed();
    // The errors stop: a change arrives within one feed cycle.
    sim.control()
        .patch_faults(&serde_json::json!({"error_rate": {"vim": 0.0, "rest": 0.0}}))
        .expect("faults");
    let (moid, id) = &ids[10];
    let t = std::time::Instant::now();
    sim.control().rename(moid, "after-the-errors");
    assert!(
        common::eventually(10, || renamed(&slot, id, "after-the-errors")).await,
        "{:?}",
        slot.health()
    );
    let recovered = t.elapsed();
    assert_eq!(slot.snapshot().unwrap().vms.len(), vms);
    // Whatever went unanswered meanwhile, health says nothing of it once vCenter answers.
    assert!(
        common::eventually(10, || slot
            .health()
            .issues
            .iter()
            .all(|i| i.stage != Stage::ChangeFeed && i.stage != Stage::Sessions))
        .await,
        "{:?}",
        slot.health()
    );
    eprintln!(
        "50 % failing: slowest change {:.2} s, full sync after a restart {:.2} s; errors stopped: a change in {:.2} s",
        slowest.as_secs_f64(),
        resync.as_secs_f64(),
        recovered.as_secs_f64()
    );
    h.shutdown().await;
    let st = sim.stats();
    assert_eq!(
        (
            st.sessions.vim.active,
            st.filters,
            st.views,
            st.property_collectors
        ),
        (0, 0, 0, 0),
        "nothing left on vCenter"
    );
}

#[tokio::test]
async fn staleness_stays_small_on_a_quiet_vcenter_and_grows_only_while_collection_is_stuck() {
    let sim = Simulator::start(SimConfig::small()).await.expect("sim");
    let (slot, h) = start(&sim, "admin");
    let vms = sim_count(&sim, "VirtualMachine");
    let first = until(20, &slot, |s| s.vms.len() == vms).await;
    // Nothing changes for 6 s: no new snapshot, yet each empty change-feed wait (2 s here)
    // confirms the one served is current.
    tokio::time::sleep(Duration::from_secs(6)).await;
    let snap = slot.snapshot().unwrap();
    let now = chrono::Utc::now();
    let age = snap.age(now).num_milliseconds() as f64 / 1000.0;
    let stale = slot.staleness(now).unwrap().num_milliseconds() as f64 / 1000.0;
    eprintln!(
        "quiet 6 s: snapshot age {age:.1} s, staleness {stale:.1} s, republished: {}",
        !Arc::ptr_eq(&snap, &first)
    );
    assert!(
        stale < 4.0,
        "confirmed by the feed: {stale} s (snapshot age {age} s)"
    );
    // vCenter stops answering: the staleness grows with the outage.
    sim.control()
        .patch_faults(&serde_json::json!({"error_rate": {"vim": 1.0}}))
        .expect("faults");
    tokio::time::sleep(Duration::from_secs(8)).await;
    let stale = slot
        .staleness(chrono::Utc::now())
        .unwrap()
        .num_milliseconds() as f64
        / 1000.0;
    assert!(stale >= 6.0, "stuck collection shows: {stale} s");
    sim.control()
        .patch_faults(&serde_json::json!({"error_rate": {"vim": 0.0}}))
        .expect("faults");
    assert!(
        common::eventually(30, || slot
            .staleness(chrono::Utc::now())
            .is_some_and(|d| d.num_seconds() < 3))
        .await,
        "fresh again; health {:?}",
        slot.health()
    );
    h.shutdown().await;
}

#[tokio::test]
async fn a_counter_vcenter_does_not_keep_is_an_issue_with_the_level_that_would() {
    let sim = Simulator::start(SimConfig::small()).await.expect("sim");
    sim.control()
        .patch_faults(&serde_json::json!({"counter_levels": {"sys.uptime.latest": 4}}))
        .expect("fault");
    let (slot, h) = start(&sim, "admin");
    let vms = sim_count(&sim, "VirtualMachine");
    until(20, &slot, |s| s.vms.len() == vms).await;
    let health = slot.health();
    let issue = health
        .issues
        .iter()
        .find(|i| i.stage == Stage::Performance)
        .unwrap_or_else(|| panic!("{health:?}"));
    assert_eq!(issue.class, FailureClass::VcenterLimit);
    assert_eq!(issue.subject.as_deref(), Some("sys.uptime.latest"));
    assert_eq!(
        issue.hint.as_deref(),
        Some("statistics level 1 does not collect sys.uptime.latest: raise it to 4 or ignore")
    );
    assert_eq!(health.state, ConnectionState::Degraded);
    // The metrics pass working does not clear it: it is about history, not the pass.
    assert!(
        common::eventually(5, || slot
            .health()
            .issues
            .iter()
            .any(|i| i.stage == Stage::Performance && i.subject.is_some()))
        .await
    );
    h.shutdown().await;
}

#[tokio::test]
async fn a_tag_attached_later_shows_within_the_tag_interval_on_a_quiet_vcenter() {
    let sim = Simulator::start(SimConfig::small()).await.expect("sim");
    let slot = Arc::new(ConnectionSlot::new("vc1", "lab vCenter"));
    let client = VcClient::new(common::client_config(&sim, "admin", "admin")).expect("client");
    let h = collector::spawn(
        client,
        slot.clone(),
        CollectorConfig {
            tags_every: Duration::from_secs(1),
            ..fast()
        },
    );
    let vms = sim_count(&sim, "VirtualMachine");
    let snap = until(20, &slot, |s| s.vms.len() == vms).await;
    let host = snap.agents[0].moid.clone();
    assert!(
        snap.agents[0].tags.is_empty(),
        "the simulator tags VMs only"
    );
    let (tag_id, category, name) = {
        let inv = sim.control().state().inv();
        let t = inv.tagging.tags.values().next().expect("a tag").clone();
        let cat = inv.tagging.categories[&t.category_id].name.clone();
        (t.id, cat, t.name)
    };
    sim.control().state().inv_mut().tagging.attached.insert(
        pulse_vsphere::simulator::inventory::MoRef::new("HostSystem", &host),
        vec![tag_id],
    );
    // Nothing in the VI inventory changes: the tag read republishes by itself.
    let s = until(10, &slot, |s| !s.agents[0].tags.is_empty()).await;
    assert_eq!(s.agents[0].moid, host);
    assert_eq!(
        (
            s.agents[0].tags[0].category.as_str(),
            s.agents[0].tags[0].name.as_str()
        ),
        (category.as_str(), name.as_str())
    );
    h.shutdown().await;
}

/// The alarms the simulator has triggered on `moid`, as (alarm moId, red/yellow).
fn sim_alarms(sim: &Simulator, moid: &str) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = prop(sim, moid, "triggeredAlarmState")
        .and_then(|a| a.as_array().cloned())
        .unwrap_or_default()
        .iter()
        .filter_map(|s| {
            let alarm = s["alarm"]["value"].as_str()?.to_string();
            let status = s["overallStatus"].as_str()?.to_string();
            matches!(status.as_str(), "red" | "yellow").then_some((alarm, status))
        })
        .collect();
    v.sort();
    v
}

fn served_alarms(alerts: &[pulse_vsphere::model::resources::ActiveAlert]) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = alerts
        .iter()
        .map(|a| {
            let status = match a.severity {
                pulse_vsphere::model::AlertSeverity::Critical => "red",
                _ => "yellow",
            };
            (a.alarm_moid.clone(), status.to_string())
        })
        .collect();
    v.sort();
    v
}

/// What the snapshot serves that differs from the simulator: counts, power and connection
/// states, datastore free space, and the alarms on every host, VM and datastore.
fn disagreements(sim: &Simulator, s: &InventorySnapshot) -> Vec<String> {
    let mut out = Vec::new();
    let counts = (
        sim_count(sim, "HostSystem"),
        sim_count(sim, "VirtualMachine"),
        sim_count(sim, "Datastore"),
    );
    if (s.agents.len(), s.vms.len(), s.storage.len()) != counts {
        out.push(format!(
            "counts {:?}",
            (s.agents.len(), s.vms.len(), s.storage.len())
        ));
    }
    let text =
        |moid: &str, path: &str| prop(sim, moid, path).and_then(|v| v.as_str().map(str::to_string));
    for v in &s.vms {
        if v.power_state != text(&v.moid, "runtime.powerState") {
            out.push(format!("{} power {:?}", v.moid, v.power_state));
        }
        if served_alarms(&v.alerts) != sim_alarms(sim, &v.moid) {
            out.push(format!("{} alarms {:?}", v.moid, served_alarms(&v.alerts)));
        }
    }
    for a in &s.agents {
        if a.connection_state != text(&a.moid, "runtime.connectionState") {
            out.push(format!("{} connection {:?}", a.moid, a.connection_state));
        }
        if served_alarms(&a.alerts) != sim_alarms(sim, &a.moid) {
            out.push(format!("{} alarms {:?}", a.moid, served_alarms(&a.alerts)));
        }
    }
    for d in &s.storage {
        let free = prop(sim, &d.moid, "summary.freeSpace").and_then(|v| v.as_i64());
        if d.free_bytes != free {
            out.push(format!("{} free {:?}", d.moid, d.free_bytes));
        }
        if served_alarms(&d.alerts) != sim_alarms(sim, &d.moid) {
            out.push(format!("{} alarms {:?}", d.moid, served_alarms(&d.alerts)));
        }
    }
    out
}

/// The change engine's high rate: 100 changes a second, the churn the `history_max` bench
/// drives against a `max` vCenter.
const HIGH_RATE: usize = 100;
/// Changes per `/_sim/changes` call: the events they log (about one a change) fit one poll of the
/// event reader (10,000), which reads back from the newest event, so a larger backlog would be
/// read more than once; and far inside the simulator's event log (50,000), so none is dropped
/// before the collector reads it.
const BATCH: usize = 9_000;

/// How many changes the hour test makes: an hour at `PULSE_VSPHERE_HOUR_RATE` changes a second
/// (the high rate, 100, when set to `high`), else at 40 a second, what a debug build on a
/// 2-core machine gets through in about a minute.
fn hour_of_changes() -> usize {
    let rate = match std::env::var("PULSE_VSPHERE_HOUR_RATE").as_deref() {
        Ok("high") => HIGH_RATE,
        Ok(n) => n
            .parse()
            .expect("PULSE_VSPHERE_HOUR_RATE: changes a second, or `high`"),
        Err(_) => 40,
    };
    rate * 3_600
}

/// Checks that the events kept for each of `objects` are exactly the newest the simulator still
/// holds about it (events older than the simulator's log are not compared); returns their
/// (type, message).
fn events_agree(
    sim: &Simulator,
    slot: &ConnectionSlot,
    objects: &[&String],
) -> Vec<(String, String)> {
    use pulse_vsphere::vcenter::wire::events::Event;
    let (logged, oldest) = {
        let inv = sim.control().state().inv();
        let oldest = inv
            .events
            .front()
            .and_then(|e| e["key"].as_i64())
            .unwrap_or(0);
        let mut by_object: std::collections::HashMap<String, Vec<i64>> = Default::default();
        for e in inv.events.iter().rev() {
            let Ok(e) = serde_json::from_value::<Event>(e.clone()) else {
                continue;
            };
            for m in [&e.vm, &e.host, &e.ds, &e.entity]
                .into_iter()
                .flatten()
                .filter_map(|a| a.moref())
            {
                let keys = by_object.entry(m.value).or_default();
                if keys.len() < EVENTS_PER_OBJECT && keys.last() != Some(&e.key) {
                    keys.push(e.key);
                }
            }
        }
        (by_object, oldest)
    };
    let log = slot.activity();
    let mut messages = Vec::new();
    for moid in objects {
        let kept = log.events_of(moid);
        let got: Vec<i64> = kept
            .iter()
            .map(|e| e.key)
            .filter(|k| *k >= oldest)
            .collect();
        let want = logged.get(moid.as_str()).cloned().unwrap_or_default();
        assert_eq!(
            got, want,
            "{moid}: events kept against those vCenter logged"
        );
        messages.extend(kept.into_iter().map(|e| (e.event_type, e.message)));
    }
    messages
}

/// An hour of change (power, vMotion, fill, alarms, host disconnects, snapshots) through the
/// simulator's change engine: 144,000 changes, an hour at 40 a second (360,000 at the high rate
/// with `PULSE_VSPHERE_HOUR_RATE=high`), in batches over `/_sim/changes`, the collector catching
/// up between them. Then what the collector serves reconciles with the simulator (counts,
/// states, every alarm), every state-backed alarm agrees with the state it describes (host
/// connection; datastore usage at vCenter's default 75 / 85 %; host and VM CPU and memory from
/// the load model), the events kept for each host, VM and datastore are exactly the newest
/// vCenter logged about it and none was skipped, and no event message shows a bare moId where
/// an object's name belongs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_is_served_after_an_hour_of_heavy_change_agrees_with_itself_and_the_simulator() {
    let sim = Simulator::start(SimConfig::small()).await.expect("sim");
    let (slot, h) = start(&sim, "admin");
    let vms = sim_count(&sim, "VirtualMachine");
    until(30, &slot, |s| s.vms.len() == vms).await;
    // The event reader's first poll only notes where vCenter's log is; the hour starts after.
    assert!(common::eventually(30, || slot.activity().last_event_key.is_some()).await);
    let started = std::time::Instant::now();
    let http = common::insecure_client();
    let changes = format!("{}/_sim/changes", sim.base_url());
    let mut applied = 0;
    let mut asked = 0;
    let mut newest = 0;
    let hour = hour_of_changes();
    while asked < hour {
        let count = BATCH.min(hour - asked);
        let r: Value = http
            .post(&changes)
            .json(&serde_json::json!({ "count": count }))
            .send()
            .await
            .expect("changes")
            .json()
            .await
            .expect("json");
        asked += count;
        applied += r["applied"].as_u64().expect("applied") as usize;
        newest = r["newest_event"].as_i64().expect("newest event");
        // Let the collector publish and read the batch's events before the next one.
        let caught_up = common::eventually(120, || {
            slot.activity().last_event_key.is_some_and(|k| k >= newest)
        })
        .await;
        assert!(
            caught_up,
            "events not read up to {newest}: {:?}",
            slot.health()
        );
    }
    assert!(
        applied > hour * 9 / 10,
        "{applied} of {hour} changes applied"
    );
    // A batch may straddle a realtime sample: an empty one settles every usage alarm on the
    // current sample, as the first change of a sample does.
    sim.control().apply_changes(0);
    let settled_at = sim
        .control()
        .state()
        .inv()
        .alarms_settled_at
        .expect("alarms settled");
    let settled = common::eventually(30, || {
        slot.snapshot()
            .is_some_and(|s| disagreements(&sim, &s).is_empty())
    })
    .await;
    let snap = slot.snapshot().expect("snapshot");
    assert!(settled, "{:?}", disagreements(&sim, &snap));
    eprintln!(
        "{applied} changes, {newest} events logged, reconciled after {:.1} s",
        started.elapsed().as_secs_f64()
    );

    let connection = pulse_vsphere::simulator::alarms::alarm_id("alarm.HostConnectionStateAlarm");
    for a in &snap.agents {
        let raised = a.alerts.iter().any(|x| x.alarm_moid == connection);
        assert_eq!(
            raised,
            a.connection_state.as_deref() == Some("notResponding"),
            "{}: connection alarm against its state",
            a.moid
        );
    }
    let usage = pulse_vsphere::simulator::alarms::alarm_id("alarm.DatastoreDiskUsageAlarm");
    let mut fills = Vec::new();
    for d in &snap.storage {
        let used = d.used_percent().expect("used");
        fills.push(used);
        let want = if used > 85.0 {
            Some("red")
        } else if used > 75.0 {
            Some("yellow")
        } else {
            None
        };
        let got = served_alarms(&d.alerts)
            .into_iter()
            .find(|(alarm, _)| *alarm == usage)
            .map(|(_, s)| s);
        assert_eq!(
            got.as_deref(),
            want,
            "{}: usage alarm at {used:.1} %",
            d.moid
        );
    }
    eprintln!("datastores used after the hour: {fills:.1?}");
    // CPU and memory alarms of hosts and VMs against the load model at the settled sample.
    {
        use pulse_vsphere::simulator::alarms::{alarm_id, expected};
        use pulse_vsphere::simulator::inventory::events::ALARMS;
        let inv = sim.control().state().inv();
        let served = snap
            .agents
            .iter()
            .map(|a| (&a.moid, &a.alerts))
            .chain(snap.vms.iter().map(|v| (&v.moid, &v.alerts)));
        let mut raised = 0;
        for (moid, alerts) in served {
            let obj = inv.get(moid).expect("in the simulator");
            for (system, _, target) in ALARMS {
                if *target != obj.moref.kind || !system.contains("Usage") {
                    continue;
                }
                let Some(want) = expected(obj, system, settled_at) else {
                    continue;
                };
                let id = alarm_id(system);
                let got = served_alarms(alerts)
                    .into_iter()
                    .find(|(a, _)| *a == id)
                    .map_or("green".to_string(), |(_, s)| s);
                raised += usize::from(got != "green");
                assert_eq!(got, want, "{moid}: {system} against its load");
            }
        }
        eprintln!("{raised} CPU and memory alarms raised");
    }

    // Counts reconcile for events too: every event of the hour was read (the reader reached the
    // newest key, batch by batch), and what is kept for each object is exactly the newest the
    // simulator still holds about it.
    assert_eq!(slot.activity().last_event_key, Some(newest));
    let objects: Vec<&String> = snap
        .vms
        .iter()
        .map(|v| &v.moid)
        .chain(snap.agents.iter().map(|a| &a.moid))
        .chain(snap.storage.iter().map(|d| &d.moid))
        .collect();
    let messages = events_agree(&sim, &slot, &objects);
    // Event messages name objects: no `vm-12`, `host-7`, `datastore-3` where a name belongs.
    let bare = |m: &str| {
        m.split(|c: char| !(c.is_ascii_alphanumeric() || c == '-'))
            .any(|w| {
                [
                    "vm-",
                    "host-",
                    "datastore-",
                    "domain-c",
                    "group-",
                    "resgroup-",
                    "datacenter-",
                ]
                .iter()
                .any(|p| {
                    w.strip_prefix(p)
                        .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
                })
            })
    };
    for (kind, message) in &messages {
        assert!(!bare(message), "{kind}: {message}");
    }
    let events = messages.len();
    assert!(events > 1_000, "{events} events read");
    h.shutdown().await;
}
