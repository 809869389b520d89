//! Alarms follow the state they describe and events name objects as vCenter does, over real
//! HTTPS: after many change ticks every triggered alarm with state behind it agrees with that
//! state (datastore fill, host connection, VM and host CPU and memory usage), and event
//! messages carry names, never moIds.

mod common;

use pulse_vsphere::simulator::{SimConfig, Simulator};
use serde_json::{json, Value};

use common::Vim;

/// (alarm moId, systemName) of the built-in alarms, read from the AlarmManager over the wire.
async fn alarm_ids(vim: &Vim) -> std::collections::HashMap<String, String> {
    let (s, list) = vim
        .post("AlarmManager/AlarmManager/GetAlarm", json!({}))
        .await;
    assert_eq!(s, 200, "{list}");
    let mut out = std::collections::HashMap::new();
    for a in list.as_array().expect("alarms") {
        let id = a["value"].as_str().unwrap().to_string();
        let (s, info) = vim.get(&format!("Alarm/{id}/info")).await;
        assert_eq!(s, 200);
        out.insert(info["systemName"].as_str().unwrap().to_string(), id);
    }
    out
}

/// The triggered status of `alarm` on an object (`green` when not triggered).
fn status_of(triggered: &Value, alarm: &str) -> String {
    triggered
        .as_array()
        .into_iter()
        .flatten()
        .find(|s| s["alarm"]["value"] == alarm)
        .and_then(|s| s["overallStatus"].as_str())
        .unwrap_or("green")
        .to_string()
}

fn level(hundredths: i64, yellow: i64, red: i64) -> &'static str {
    if hundredths > red * 100 {
        "red"
    } else if hundredths > yellow * 100 {
        "yellow"
    } else {
        "green"
    }
}

fn share(part: i64, whole: i64) -> i64 {
    if whole <= 0 {
        0
    } else {
        part * 10_000 / whole
    }
}

fn sample_now() -> i64 {
    chrono::Utc::now().timestamp() / 20
}

/// Every state-backed alarm on every datastore, host and VM, compared with the state read
/// over the wire. Returns the number of objects checked and mismatches found.
async fn check_all(
    sim: &Simulator,
    vim: &Vim,
    ids: &std::collections::HashMap<String, String>,
) -> (usize, Vec<String>) {
    let a = |s: &str| ids[s].clone();
    let (dss, hosts, vms) = {
        let inv = sim.control().state().inv();
        (
            inv.ids_of("Datastore").to_vec(),
            inv.ids_of("HostSystem").to_vec(),
            inv.ids_of("VirtualMachine").to_vec(),
        )
    };
    let mut bad = Vec::new();
    let mut n = 0;
    for ds in &dss {
        let (_, sum) = vim.get(&format!("Datastore/{ds}/summary")).await;
        let (_, tr) = vim
            .get(&format!("Datastore/{ds}/triggeredAlarmState"))
            .await;
        let cap = sum["capacity"].as_i64().unwrap();
        let used = 10_000 - share(sum["freeSpace"].as_i64().unwrap(), cap);
        let want = level(used, 75, 85);
        let got = status_of(&tr, &a("alarm.DatastoreDiskUsageAlarm"));
        if want != got {
            bad.push(format!("{ds} used {used}: usage alarm {got}, want {want}"));
        }
        n += 1;
    }
    for h in &hosts {
        let (_, sum) = vim.get(&format!("HostSystem/{h}/summary")).await;
        let (_, tr) = vim
            .get(&format!("HostSystem/{h}/triggeredAlarmState"))
            .await;
        let want = if sum["runtime"]["connectionState"] == "notResponding" {
            "red"
        } else {
            "green"
        };
        let got = status_of(&tr, &a("alarm.HostConnectionStateAlarm"));
        if want != got {
            bad.push(format!("{h}: connection alarm {got}, want {want}"));
        }
        let hw = &sum["hardware"];
        let qs = &sum["quickStats"];
        let cap = hw["cpuMhz"].as_i64().unwrap() * hw["numCpuCores"].as_i64().unwrap();
        let mem = hw["memorySize"].as_i64().unwrap() / (1024 * 1024);
        for (alarm, used) in [
            (
                "alarm.HostCPUUsageAlarm",
                share(qs["overallCpuUsage"].as_i64().unwrap_or(0), cap),
            ),
            (
                "alarm.HostMemoryUsageAlarm",
                share(qs["overallMemoryUsage"].as_i64().unwrap_or(0), mem),
            ),
        ] {
            let (want, got) = (level(used, 80, 90), status_of(&tr, &a(alarm)));
            if want != got {
                bad.push(format!("{h} {alarm} at {used}: {got}, want {want}"));
            }
        }
        n += 1;
    }
    for vm in &vms {
        let (_, sum) = vim.get(&format!("VirtualMachine/{vm}/summary")).await;
        let (_, tr) = vim
            .get(&format!("VirtualMachine/{vm}/triggeredAlarmState"))
            .await;
        let qs = &sum["quickStats"];
        let cpu = share(
            qs["overallCpuUsage"].as_i64().unwrap_or(0),
            sum["runtime"]["maxCpuUsage"].as_i64().unwrap(),
        );
        let mem = share(
            qs["guestMemoryUsage"].as_i64().unwrap_or(0),
            sum["config"]["memorySizeMB"].as_i64().unwrap(),
        );
        for (alarm, used) in [
            ("alarm.VmCPUUsageAlarm", cpu),
            ("alarm.VmMemoryUsageAlarm", mem),
        ] {
            let (want, got) = (level(used, 75, 90), status_of(&tr, &a(alarm)));
            if want != got {
                bad.push(format!("{vm} {alarm} at {used}: {got}, want {want}"));
            }
        }
        // Snapshot age is raised at random, but only on a VM that has a snapshot.
        let age = status_of(&tr, &a("alarm.VmSnapshotAgeAlarm"));
        let (s, _) = vim.get(&format!("VirtualMachine/{vm}/snapshot")).await;
        if age != "green" && s != 200 {
            bad.push(format!("{vm}: snapshot age alarm {age} without a snapshot"));
        }
        n += 1;
    }
    (n, bad)
}

#[tokio::test]
async fn every_triggered_alarm_agrees_with_its_state_after_many_changes() {
    let sim = Simulator::start(SimConfig::small()).await.expect("sim");
    let vim = Vim::login(&sim, "admin", "admin").await;
    let ids = alarm_ids(&vim).await;
    let mut raised = std::collections::HashSet::new();
    for round in 0..6 {
        // A check that straddles a realtime sample compares two loads: repeat it.
        let mut result = None;
        for _ in 0..3 {
            let before = sample_now();
            assert!(sim.control().apply_changes(300) > 0);
            let r = check_all(&sim, &vim, &ids).await;
            if sample_now() == before {
                result = Some(r);
                break;
            }
        }
        let (n, bad) = result.expect("a check inside one sample");
        assert!(n > 40);
        assert!(bad.is_empty(), "round {round}: {bad:#?}");
        let inv = sim.control().state().inv();
        for kind in ["Datastore", "HostSystem", "VirtualMachine"] {
            for o in inv.of_type(kind) {
                for s in o
                    .get_path("triggeredAlarmState")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                {
                    raised.insert(s["alarm"]["value"].as_str().unwrap_or("").to_string());
                }
            }
        }
    }
    // The changes did raise alarms of each kind that follows state.
    for system in [
        "alarm.DatastoreDiskUsageAlarm",
        "alarm.HostConnectionStateAlarm",
    ] {
        assert!(raised.contains(&ids[system]), "{system} was raised");
    }

    // A datastore's usage alarm follows its fill both ways.
    let ds = sim.control().state().inv().ids_of("Datastore")[0].clone();
    let usage = ids["alarm.DatastoreDiskUsageAlarm"].clone();
    let cap = {
        let inv = sim.control().state().inv();
        let o = inv.get(&ds).unwrap();
        o.get_path("summary.capacity").unwrap().as_i64().unwrap()
    };
    for (used, want) in [(55, "green"), (80, "yellow"), (90, "red"), (55, "green")] {
        assert!(sim
            .control()
            .set_datastore_free(&ds, cap * (100 - used) / 100));
        let (_, tr) = vim
            .get(&format!("Datastore/{ds}/triggeredAlarmState"))
            .await;
        assert_eq!(status_of(&tr, &usage), want, "at {used} %");
    }
    sim.shutdown().await;
}

#[tokio::test]
async fn event_messages_name_objects_as_vcenter_does() {
    let sim = Simulator::start(SimConfig::small()).await.expect("sim");
    let vim = Vim::login(&sim, "admin", "admin").await;
    let (vm, vm_name, host, host_name, dc_name) = {
        let inv = sim.control().state().inv();
        let vm = inv
            .of_type("VirtualMachine")
            .find(|o| o.get_path("runtime.powerState").and_then(Value::as_str) == Some("poweredOn"))
            .unwrap();
        let host = inv
            .get(&vm.moref_at("runtime.host").unwrap().value)
            .unwrap();
        let dc = inv.of_type("Datacenter").next().unwrap();
        (
            vm.moref.value.clone(),
            vm.name().to_string(),
            host.moref.value.clone(),
            host.name().to_string(),
            dc.name().to_string(),
        )
    };
    assert!(sim.control().set_vm_power(&vm, "poweredOff"));
    assert!(sim.control().disconnect_host(&host));
    let (s, events) = vim
        .post(
            "EventManager/EventManager/QueryEvents",
            json!({"filter": {"maxCount": 50}}),
        )
        .await;
    assert_eq!(s, 200);
    let events = events.as_array().expect("events");
    let message = |ty: &str| {
        events
            .iter()
            .find(|e| e["_typeName"] == ty)
            .and_then(|e| e["fullFormattedMessage"].as_str())
            .unwrap_or_else(|| panic!("a {ty}"))
            .to_string()
    };
    assert_eq!(
        message("VmPoweredOffEvent"),
        format!("{vm_name} on {host_name} in {dc_name} is powered off")
    );
    assert_eq!(
        message("HostNotRespondingEvent"),
        format!("Host {host_name} in {dc_name} is not responding")
    );
    let alarm = events
        .iter()
        .find(|e| {
            e["_typeName"] == "AlarmStatusChangedEvent"
                && e["entity"]["entity"]["value"] == host
                && e["alarm"]["name"] == "Host connection and power state"
        })
        .expect("the connection alarm event");
    assert_eq!(
        alarm["fullFormattedMessage"],
        format!("Alarm 'Host connection and power state' on {host_name} changed from Green to Red")
    );
    assert_eq!(alarm["alarm"]["name"], "Host connection and power state");
    assert_eq!(alarm["datacenter"]["name"], dc_name.as_str());
    // No message anywhere in the history names an object by its moId.
    let (s, all) = vim
        .post(
            "EventManager/EventManager/QueryEvents",
            json!({"filter": {}}),
        )
        .await;
    assert_eq!(s, 200);
    for e in all.as_array().unwrap() {
        let m = e["fullFormattedMessage"].as_str().unwrap_or("");
        for prefix in [
            "vm-",
            "host-",
            "alarm-",
            "datastore-",
            "domain-c",
            "datacenter-",
        ] {
            let moid_like = m.split(|c: char| c.is_whitespace() || c == '\'').any(|w| {
                w.strip_prefix(prefix)
                    .is_some_and(|r| r.chars().all(|c| c.is_ascii_digit()) && !r.is_empty())
            });
            assert!(!moid_like, "a moId in {m:?}");
        }
    }
    sim.shutdown().await;
}
