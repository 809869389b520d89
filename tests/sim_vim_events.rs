//! EventManager and EventHistoryCollector over real HTTPS: filters, incremental reading from a
//! collector, and the per-session collector limit that punishes clients that never destroy them.

mod common;

use pulse_vsphere::simulator::{SimConfig, Simulator};
use serde_json::{json, Value};

async fn post(c: &reqwest::Client, t: &str, url: String, body: Value) -> (u16, Value) {
    common::send(c.post(url).json(&body), t).await
}

#[tokio::test]
async fn query_events_and_history_collectors() {
    let sim = Simulator::start(SimConfig::small()).await.expect("sim");
    let c = common::insecure_client();
    let base = format!("{}/sdk/vim25/8.0.3.0", sim.base_url());
    let r = c
        .post(format!("{base}/SessionManager/SessionManager/Login"))
        .json(&json!({"userName": "admin", "password": "admin"}))
        .send()
        .await
        .expect("login");
    let t = r.headers()["vmware-api-session-id"]
        .to_str()
        .expect("hdr")
        .to_string();
    let q = format!("{base}/EventManager/EventManager/QueryEvents");

    let (s, all) = post(&c, &t, q.clone(), json!({"filter": {}})).await;
    assert_eq!(s, 200);
    let all = all.as_array().expect("events").clone();
    assert!(!all.is_empty());
    let keys: Vec<i64> = all
        .iter()
        .map(|e| e["key"].as_i64().expect("key"))
        .collect();
    assert!(keys.windows(2).all(|w| w[0] > w[1]), "newest first");

    // Collector positioned after the newest event: nothing to read until something happens.
    let (s, coll) = post(
        &c,
        &t,
        format!("{base}/EventManager/EventManager/CreateCollectorForEvents"),
        json!({"filter": {}}),
    )
    .await;
    assert_eq!(s, 200);
    let id = coll["value"].as_str().expect("id").to_string();
    let (_, none) = post(
        &c,
        &t,
        format!("{base}/EventHistoryCollector/{id}/ReadNextEvents"),
        json!({"maxCount": 50}),
    )
    .await;
    assert_eq!(none, json!([]));

    let vm = sim.control().state().inv().ids_of("VirtualMachine")[0].clone();
    let was_on = sim
        .control()
        .state()
        .inv()
        .get(&vm)
        .and_then(|o| o.get_path("runtime.powerState").cloned())
        == Some(json!("poweredOn"));
    sim.control()
        .set_vm_power(&vm, if was_on { "poweredOff" } else { "poweredOn" });
    let (_, new) = post(
        &c,
        &t,
        format!("{base}/EventHistoryCollector/{id}/ReadNextEvents"),
        json!({"maxCount": 50}),
    )
    .await;
    let new = new.as_array().expect("new").clone();
    let expected = if was_on {
        "VmPoweredOffEvent"
    } else {
        "VmPoweredOnEvent"
    };
    // The power event, and at most the usage alarms that follow the VM's new load (as
    // vCenter's would): nothing else.
    let power: Vec<&Value> = new
        .iter()
        .filter(|e| e["_typeName"] != "AlarmStatusChangedEvent")
        .collect();
    assert_eq!(power.len(), 1, "{new:?}");
    assert_eq!(power[0]["_typeName"], expected);
    assert_eq!(power[0]["vm"]["vm"]["value"], vm.as_str());
    assert!(new
        .iter()
        .all(|e| e["_typeName"] != "AlarmStatusChangedEvent"
            || e["entity"]["entity"]["value"] == vm.as_str()));
    let (_, prev) = post(
        &c,
        &t,
        format!("{base}/EventHistoryCollector/{id}/ReadPreviousEvents"),
        json!({"maxCount": 5}),
    )
    .await;
    assert_eq!(prev.as_array().map(Vec::len), Some(5));
    let (s, _) = post(
        &c,
        &t,
        format!("{base}/EventHistoryCollector/{id}/RewindCollector"),
        json!(null),
    )
    .await;
    assert_eq!(s, 204);
    let (_, oldest) = post(
        &c,
        &t,
        format!("{base}/EventHistoryCollector/{id}/ReadNextEvents"),
        json!({"maxCount": 1}),
    )
    .await;
    assert_eq!(oldest[0]["key"].as_i64(), keys.last().copied());
    let page = c
        .get(format!("{base}/EventHistoryCollector/{id}/latestPage"))
        .header("vmware-api-session-id", &t)
        .send()
        .await
        .expect("latest")
        .json::<Value>()
        .await
        .expect("json");
    assert!(page
        .as_array()
        .is_some_and(|p| !p.is_empty() && p.len() <= 10));
    let (s, f) = post(
        &c,
        &t,
        format!("{base}/EventHistoryCollector/{id}/ReadNextEvents"),
        json!({"maxCount": 0}),
    )
    .await;
    assert_eq!((s, f["_typeName"].as_str()), (500, Some("InvalidArgument")));

    // Filters: entity (self), type, time.
    let (_, mine) = post(&c, &t, q.clone(), json!({"filter": {"entity": {"entity": {"type": "VirtualMachine", "value": vm}, "recursion": "self"}}})).await;
    assert!(mine
        .as_array()
        .expect("e")
        .iter()
        .all(|e| e["vm"]["vm"]["value"] == vm.as_str()));
    let (_, alarms) = post(
        &c,
        &t,
        q.clone(),
        json!({"filter": {"type": ["AlarmStatusChangedEvent"]}}),
    )
    .await;
    let alarms = alarms.as_array().expect("e").clone();
    assert!(
        !alarms.is_empty()
            && alarms
                .iter()
                .all(|e| e["_typeName"] == "AlarmStatusChangedEvent")
    );
    let (_, recent) = post(
        &c,
        &t,
        q.clone(),
        json!({"filter": {"time": {"beginTime": new[0]["createdTime"]}, "maxCount": 100}}),
    )
    .await;
    assert!(recent
        .as_array()
        .expect("e")
        .iter()
        .any(|e| e["key"] == new[0]["key"]));
    let host = sim.control().state().inv().ids_of("HostSystem")[0].clone();
    let (_, below) = post(&c, &t, q.clone(), json!({"filter": {"entity": {"entity": {"type": "HostSystem", "value": host}, "recursion": "all"}}})).await;
    assert!(!below.as_array().expect("e").is_empty());

    // Collectors count against a per-session maximum and disappear when destroyed.
    let (s, _) = post(
        &c,
        &t,
        format!("{base}/EventHistoryCollector/{id}/DestroyCollector"),
        json!(null),
    )
    .await;
    assert_eq!(s, 204);
    assert_eq!(sim.stats().event_collectors, 0);
    for _ in 0..32 {
        let (s, _) = post(
            &c,
            &t,
            format!("{base}/EventManager/EventManager/CreateCollectorForEvents"),
            json!({"filter": {}}),
        )
        .await;
        assert_eq!(s, 200);
    }
    let (s, f) = post(
        &c,
        &t,
        format!("{base}/EventManager/EventManager/CreateCollectorForEvents"),
        json!({"filter": {}}),
    )
    .await;
    assert_eq!((s, f["_typeName"].as_str()), (500, Some("InvalidState")));
    assert_eq!(sim.stats().event_collectors, 32);
    let _ = post(
        &c,
        &t,
        format!("{base}/SessionManager/SessionManager/Logout"),
        json!(null),
    )
    .await;
    assert_eq!(
        sim.stats().event_collectors,
        0,
        "collectors die with the session"
    );
}
