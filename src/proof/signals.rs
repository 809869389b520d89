//! VC-5 and VC-8: alarms, overall health, incidents, events and tasks against what vCenter
//! holds; metrics, uptime and guest filesystems present, or blank with a typed reason.

use std::collections::BTreeSet;
use std::time::Duration;

use serde_json::{json, Value};

use super::onboarding::{Saved, CONNECTIONS};
use super::projection::{served, Served};
use super::record::Scenario;
use super::{truth, Context};
use crate::auth::Role;

const ALERTS: &str = "query A($c: [String!], $after: String) { vsphereActiveAlerts(connection: $c, first: 500, after: $after) { totalCount pageInfo { hasNextPage endCursor } nodes { alert { alarmMoid sourceKind sourceMoid } } } }";
const INCIDENTS: &str = "query I($c: String, $after: String) { vsphereIncidents(filter: {connection: $c, state: OPEN}, first: 500, after: $after) { pageInfo { hasNextPage endCursor } edges { node { nativeId summary } } } }";
const TIMELINE: &str = "query T($c: String, $k: [VsphereTimelineKind!], $after: String) { vsphereTimeline(filter: {connection: $c, kinds: $k}, first: 100, after: $after) { pageInfo { hasNextPage endCursor } edges { node { kind title message objectMoid } } } }";

/// Whether `text` names an object by its bare moId (`on host-21`) where the graph knows its
/// name: a token equal to a served moId whose name is something else. A real object may be
/// called `vm-01`; only a moId the graph has a different name for is a bare moId.
fn bare_moid(text: &str, names: &std::collections::BTreeMap<&str, &str>) -> bool {
    text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '-'))
        .any(|w| names.get(w).is_some_and(|name| *name != w))
}

async fn served_alarms(
    cx: &Context<'_>,
    saved: &Saved,
) -> Result<BTreeSet<(String, String)>, String> {
    let nodes = cx
        .harness
        .all(
            Role::Admin,
            ALERTS,
            json!({"c": [saved.connection]}),
            &["vsphereActiveAlerts"],
            usize::MAX,
        )
        .await
        .map_err(|e| e.0)?;
    Ok(nodes
        .iter()
        .filter(|n| {
            ["HostSystem", "VirtualMachine", "Datastore"]
                .contains(&n["alert"]["sourceKind"].as_str().unwrap_or(""))
        })
        .map(|n| {
            let a = &n["alert"];
            (
                a["alarmMoid"].as_str().unwrap_or("").to_string(),
                a["sourceMoid"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect())
}

/// VC-5.
pub async fn vc5(s: &mut Scenario, cx: &Context<'_>, saved: &Saved, now: &Served) {
    // Alarms move while the run reads both sides: the same set on one of a few tries agrees.
    let mut last = String::new();
    let mut agreed = false;
    let mut served_pairs = BTreeSet::new();
    for _ in 0..5 {
        let vc = truth::triggered_alarms(cx.client)
            .await
            .map_err(|e| e.to_string());
        match (served_alarms(cx, saved).await, vc) {
            (Ok(served), Ok(vc)) => {
                agreed = served == vc;
                last = format!(
                    "active alarms on hosts, VMs and datastores: served {}, vCenter's triggeredAlarmState {}, {} only served, {} only in vCenter",
                    served.len(),
                    vc.len(),
                    served.difference(&vc).count(),
                    vc.difference(&served).count()
                );
                served_pairs = served;
            }
            (Err(e), _) | (_, Err(e)) => last = format!("reading alarms: {e}"),
        }
        if agreed {
            break;
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
    s.check(agreed, last);
    let no_health = now
        .all()
        .filter(|r| r["vsphere"]["overallStatus"].is_null())
        .count();
    s.check(
        no_health == 0,
        format!("{no_health} resources without vCenter's overall status"),
    );
    let c = json!({"c": saved.connection});
    let mut missing = served_pairs.len();
    for _ in 0..5 {
        match cx
            .harness
            .all(
                Role::Admin,
                INCIDENTS,
                c.clone(),
                &["vsphereIncidents"],
                usize::MAX,
            )
            .await
        {
            Ok(list) => {
                let open: BTreeSet<&str> =
                    list.iter().filter_map(|i| i["nativeId"].as_str()).collect();
                missing = served_pairs
                    .iter()
                    .filter(|(alarm, entity)| !open.contains(format!("{alarm}.{entity}").as_str()))
                    .count();
            }
            Err(e) => {
                s.check(false, format!("reading incidents: {}", e.0));
                break;
            }
        }
        if missing == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
    s.check(
        missing == 0,
        format!("an open incident (by nativeId) for each of the {} active alarms on resources: {missing} without one", served_pairs.len()),
    );
    let names: std::collections::BTreeMap<&str, &str> = now
        .all()
        .filter_map(|r| Some((r["vsphere"]["moid"].as_str()?, r["name"].as_str()?)))
        .collect();
    for (kind, required) in [("EVENT", true), ("TASK", false)] {
        let vars = json!({"c": saved.connection, "k": [kind]});
        match cx
            .harness
            .all(Role::Admin, TIMELINE, vars, &["vsphereTimeline"], 500)
            .await
        {
            Ok(list) => {
                let bare = list
                    .iter()
                    .filter(|e| {
                        bare_moid(e["message"].as_str().unwrap_or(""), &names)
                            || bare_moid(e["title"].as_str().unwrap_or(""), &names)
                    })
                    .count();
                // A quiet vCenter may have no task in its history; it always has events (this
                // run's own logins are some).
                s.check(
                    (!required || !list.is_empty()) && bare == 0,
                    format!("{} {kind} entries in the timeline (first 500 read), {bare} naming an object by its bare moId", list.len()),
                );
            }
            Err(e) => {
                s.check(false, format!("reading the {kind} timeline: {}", e.0));
            }
        }
    }
    s.finish();
}

/// The connection's typed health issues.
async fn issues(cx: &Context<'_>, saved: &Saved) -> Vec<Value> {
    let d = cx
        .harness
        .query(Role::Admin, CONNECTIONS, json!({}))
        .await
        .unwrap_or_default();
    d["vsphereConnections"]
        .as_array()
        .and_then(|l| l.iter().find(|c| c["id"] == saved.id.as_str()))
        .and_then(|c| c["healthIssues"].as_array().cloned())
        .unwrap_or_default()
}

fn time(v: &Value) -> Option<chrono::DateTime<chrono::FixedOffset>> {
    v.as_str()
        .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
}

fn running_host(h: &Value) -> bool {
    h["vsphere"]["connectionState"] == "connected" && h["vsphere"]["powerState"] == "poweredOn"
}

/// Powered on and reachable: a VM on a disconnected host keeps its last power state but has
/// no realtime samples and no guest reads, on vCenter as here.
fn running_vm(v: &Value) -> bool {
    v["vsphere"]["powerState"] == "poweredOn" && v["vsphere"]["connectionState"] == "connected"
}

/// VC-8: waits (bounded) for the first metrics pass, then checks every running host and VM.
pub async fn vc8(s: &mut Scenario, cx: &Context<'_>, saved: &Saved) {
    let deadline = tokio::time::Instant::now() + cx.wait;
    let (now, issues) = loop {
        let now = served(cx, saved).await;
        let issues = issues(cx, saved).await;
        let realtime = now
            .as_ref()
            .is_ok_and(|n| n.hosts.iter().any(|h| h["metrics"]["source"] == "REALTIME"));
        // A refusal will not pass by waiting; a timeout or a busy vCenter may.
        let refused = issues
            .iter()
            .any(|i| i["stage"] == "performance" && i["failureClass"] == "permission_denied");
        if realtime || refused || cx.stopped() || tokio::time::Instant::now() >= deadline {
            break (now, issues);
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    };
    let now = match now {
        Ok(now) => now,
        Err(e) => {
            s.check(false, format!("reading the graph: {e}"));
            s.finish();
            return;
        }
    };
    for i in issues.iter().filter(|i| i["stage"] == "performance") {
        s.check(
            false,
            format!(
                "performance data: {} ({}){}",
                i["failureClass"].as_str().unwrap_or("?"),
                i["message"].as_str().unwrap_or(""),
                i["hint"]
                    .as_str()
                    .map(|h| format!("; hint: {h}"))
                    .unwrap_or_default()
            ),
        );
    }
    // A VM powered on after the last realtime pass has no sample yet, on vCenter as here.
    let last_pass = now
        .hosts
        .iter()
        .filter_map(|h| time(&h["metrics"]["sampledAt"]))
        .max();
    let booted_since = |v: &Value| {
        let boot = time(&v["vsphere"]["bootTime"]);
        last_pass.is_some_and(|p| boot.is_some_and(|b| b + chrono::Duration::seconds(20) >= p))
    };
    let fresh = now
        .vms
        .iter()
        .filter(|v| running_vm(v) && booted_since(v))
        .count();
    if fresh > 0 {
        s.see(format!(
            "{fresh} VMs powered on since the last realtime pass are not counted"
        ));
    }
    let hosts: Vec<&Value> = now.hosts.iter().filter(|h| running_host(h)).collect();
    let vms: Vec<&Value> = now
        .vms
        .iter()
        .filter(|v| running_vm(v) && !booted_since(v))
        .collect();
    let realtime = |r: &&&Value| {
        r["metrics"]["source"] == "REALTIME"
            && !r["metrics"]["cpuPercent"].is_null()
            && !r["metrics"]["memoryPercent"].is_null()
    };
    let (h_ok, v_ok) = (
        hosts.iter().filter(realtime).count(),
        vms.iter().filter(realtime).count(),
    );
    s.check(
        h_ok == hosts.len() && v_ok == vms.len(),
        format!(
            "realtime cpu and memory: {h_ok} of {} running hosts, {v_ok} of {} running VMs",
            hosts.len(),
            vms.len()
        ),
    );
    let stopped_with = now
        .vms
        .iter()
        .filter(|v| !running_vm(v) && v["metrics"]["source"] == "REALTIME")
        .count();
    s.check(
        stopped_with == 0,
        format!("{stopped_with} powered-off VMs with realtime samples"),
    );
    let h_up = hosts
        .iter()
        .filter(|h| !h["metrics"]["uptimeSeconds"].is_null())
        .count();
    s.check(
        h_up == hosts.len(),
        format!("sys.uptime.latest: {h_up} of {} running hosts", hosts.len()),
    );
    let explained = |stage: &str| issues.iter().any(|i| i["stage"] == stage);
    let v_up = vms
        .iter()
        .filter(|v| !v["metrics"]["uptimeSeconds"].is_null())
        .count();
    s.check(
        v_up == vms.len() || explained("performance"),
        format!("sys.osUptime.latest: {v_up} of {} running VMs (the rest explained by a performance issue: {})", vms.len(), explained("performance")),
    );
    let tools: Vec<&&Value> = vms
        .iter()
        .filter(|v| v["vsphere"]["guest"]["toolsRunning"] == true)
        .collect();
    let fs = tools
        .iter()
        .filter(|v| {
            v["vsphere"]["guest"]["filesystems"]
                .as_array()
                .is_some_and(|f| !f.is_empty())
        })
        .count();
    s.check(
        fs == tools.len() || explained("guest"),
        format!("guest local filesystems: {fs} of {} VMs with Tools running (the rest explained by a guest issue: {})", tools.len(), explained("guest")),
    );
    s.finish();
}
