//! Inventory memory benchmark (issue 4): the live heap bytes of the collector's raw inventory and
//! of the projected snapshot at the vCenter maximums (2,500 hosts, 45,000 VMs), and what a
//! publish costs in memory and time once the first snapshot is live. No sockets: the simulator's
//! objects are taken in-process and stored through the collector's own ingest
//! (`collector::sync::raw_object`, as the tests' `raw_of`), so the numbers isolate the data structures. The collector
//! bench (`collector_max`) measures the process RSS over HTTPS.
//!
//! Run: `cargo bench --bench inventory_memory` (`-- small` for a quick run).

#[path = "../tests/common/mod.rs"]
mod common;
#[path = "support/counting_alloc.rs"]
mod counting_alloc;

use std::collections::HashSet;
use std::time::Instant;

use chrono::Utc;
use counting_alloc::{live, peak, reset_peak};
use pulse_vsphere::model::project::{Projection, Projector};
use pulse_vsphere::model::raw_inventory::{ChangeOp, PropertyChange};
use pulse_vsphere::model::snapshot::InventorySnapshot;
use pulse_vsphere::simulator::config::ApiRelease;
use pulse_vsphere::simulator::inventory::generate;
use pulse_vsphere::simulator::Profile;
use serde_json::Value;

fn mb(b: isize) -> f64 {
    b as f64 / (1024.0 * 1024.0)
}

fn main() {
    let profile = if std::env::args().any(|a| a == "small") {
        Profile::Small
    } else {
        Profile::Max
    };
    let t = Instant::now();
    let inv = generate(7, profile.size(), ApiRelease::V8_0_2);
    println!(
        "simulator inventory {profile:?} generated in {:.1} s",
        t.elapsed().as_secs_f64()
    );
    let ctx = common::context_of(&inv, "5c3e6a2e-1b5d-4bd4-9c8e-2f2f4d6a9b01");

    let start = reset_peak();
    let t = Instant::now();
    let raw = common::raw_of(&inv);
    let vms = raw.count("VirtualMachine").max(1) as isize;
    let raw_bytes = live() - start;
    println!(
        "raw inventory: {} objects, {:.1} MB live ({} B per VM), ingest {:.2} s",
        raw.len(),
        mb(raw_bytes),
        raw_bytes / vms,
        t.elapsed().as_secs_f64()
    );
    drop(inv);
    let floor = live() - raw_bytes;

    println!(
        "resource sizes (inline): Vm {} B, Agent {} B, Storage {} B",
        std::mem::size_of::<pulse_vsphere::model::resources::Vm>(),
        std::mem::size_of::<pulse_vsphere::model::resources::Agent>(),
        std::mem::size_of::<pulse_vsphere::model::resources::Storage>()
    );
    let mut raw = raw;
    let base = reset_peak();
    let t = Instant::now();
    let mut projector = Projector::default();
    let all = raw.take_changed();
    let first = snapshot(projector.project(&raw, &all, &ctx));
    let snap_bytes = live() - base;
    println!(
        "first snapshot: {} VMs, {:.1} MB live ({} B per VM, projector cache included), transient peak +{:.1} MB, {:.2} s",
        first.vms.len(),
        mb(snap_bytes),
        snap_bytes / vms,
        mb(peak() - base - snap_bytes),
        t.elapsed().as_secs_f64()
    );

    let base = reset_peak();
    let t = Instant::now();
    let second = snapshot(projector.project(&raw, &HashSet::new(), &ctx));
    println!(
        "publish with no change, the first snapshot live: +{:.1} MB live, peak +{:.1} MB, {:.3} s",
        mb(live() - base),
        mb(peak() - base),
        t.elapsed().as_secs_f64()
    );
    drop(first);

    // 100 VMs change power state, as a burst of vCenter tasks would.
    let ids: Vec<String> = raw
        .ids_of("VirtualMachine")
        .iter()
        .take(100)
        .map(|s| s.to_string())
        .collect();
    for id in &ids {
        let change = PropertyChange {
            path: "runtime.powerState".into(),
            op: ChangeOp::Assign,
            value: Some(Value::from("poweredOff")),
        };
        raw.apply(id, "VirtualMachine", [change], []);
    }
    let changed = raw.take_changed();
    let base = reset_peak();
    let t = Instant::now();
    let third = snapshot(projector.project(&raw, &changed, &ctx));
    println!(
        "publish after 100 VMs changed: +{:.1} MB live, peak +{:.1} MB, {:.3} s",
        mb(live() - base),
        mb(peak() - base),
        t.elapsed().as_secs_f64()
    );
    drop(second);

    // 100 hosts report new quick statistics, as every host does every 20 s on a busy vCenter.
    let hosts: Vec<String> = raw
        .ids_of("HostSystem")
        .iter()
        .take(100)
        .map(|s| s.to_string())
        .collect();
    for (i, id) in hosts.iter().enumerate() {
        let change = PropertyChange {
            path: "summary.quickStats".into(),
            op: ChangeOp::Assign,
            value: Some(
                serde_json::json!({"overallCpuUsage": 1000 + i, "overallMemoryUsage": 2048}),
            ),
        };
        raw.apply(id, "HostSystem", [change], []);
    }
    let changed = raw.take_changed();
    let t = Instant::now();
    let hosts_changed = snapshot(projector.project(&raw, &changed, &ctx));
    println!(
        "publish after 100 hosts' quick statistics changed: {:.3} s",
        t.elapsed().as_secs_f64()
    );
    drop(hosts_changed);

    // A context change (an alarm renamed) re-projects everything; equal resources stay shared.
    let mut renamed = ctx.clone();
    if let Some(name) = renamed.alarm_names.values_mut().next() {
        name.push_str(" (renamed)");
    }
    let base = reset_peak();
    let t = Instant::now();
    let fourth = snapshot(projector.project(&raw, &HashSet::new(), &renamed));
    println!(
        "publish after a context change (every object projected again): +{:.1} MB live, peak +{:.1} MB, {:.2} s",
        mb(live() - base),
        mb(peak() - base),
        t.elapsed().as_secs_f64()
    );
    drop(third);
    let total = live() - floor;
    println!(
        "total live, raw inventory + projector + one snapshot: {:.1} MB (raw {:.1} MB)",
        mb(total),
        mb(raw_bytes)
    );
    drop(fourth);
}

fn snapshot(p: Projection) -> InventorySnapshot {
    InventorySnapshot::build("5c3e6a2e-1b5d-4bd4-9c8e-2f2f4d6a9b01", Utc::now(), p)
}
