//! AlarmManager, TaskManager, OptionManager and AuthorizationManager over real HTTPS.

mod common;

use pulse_vsphere::simulator::{Role, SimConfig, Simulator};
use serde_json::{json, Value};

async fn session(sim: &Simulator, user: &str, pw: &str) -> (reqwest::Client, String, String) {
    let v = common::Vim::login(sim, user, pw).await;
    (v.c, v.base, v.token)
}

use common::call;

#[tokio::test]
async fn alarms_tasks_options_and_privileges() {
    let sim = Simulator::start(SimConfig::small().user("ro", "ro", Role::Readonly).user(
        "nobody",
        "x",
        Role::None,
    ))
    .await
    .expect("sim");
    let (c, base, t) = session(&sim, "admin", "admin").await;
    let root =
        json!({"_typeName": "ManagedObjectReference", "type": "Folder", "value": "group-d1"});
    let (s, alarms) = call(
        &c,
        &t,
        format!("{base}/AlarmManager/AlarmManager/GetAlarm"),
        Some(json!({"entity": root})),
    )
    .await;
    assert_eq!(s, 200);
    let first = alarms[0]["value"].as_str().expect("alarm").to_string();
    let (s, info) = call(&c, &t, format!("{base}/Alarm/{first}/info"), None).await;
    assert_eq!((s, info["_typeName"].as_str()), (200, Some("AlarmInfo")));
    assert!(info["name"].is_string());
    let host = sim.control().state().inv().ids_of("HostSystem")[0].clone();
    let (s, states) = call(
        &c,
        &t,
        format!("{base}/AlarmManager/AlarmManager/GetAlarmState"),
        Some(json!({"entity": {"type": "HostSystem", "value": host}})),
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(states[0]["_typeName"], "AlarmState");

    sim.control().apply_changes(30);
    let (s, tasks) = call(
        &c,
        &t,
        format!("{base}/TaskManager/TaskManager/recentTask"),
        None,
    )
    .await;
    assert_eq!(s, 200);
    let task = tasks[0]["value"].as_str().expect("task").to_string();
    let (s, ti) = call(&c, &t, format!("{base}/Task/{task}/info"), None).await;
    assert_eq!(
        (s, ti["_typeName"].as_str(), ti["state"].as_str()),
        (200, Some("TaskInfo"), Some("success"))
    );

    let (s, opts) = call(
        &c,
        &t,
        format!("{base}/OptionManager/VpxSettings/QueryOptions"),
        Some(json!({"name": "config.vpxd.stats.maxQueryMetrics"})),
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(opts[0]["value"]["_value"], 256);
    sim.control().set_max_query_metrics(-1);
    let (_, opts) = call(
        &c,
        &t,
        format!("{base}/OptionManager/VpxSettings/QueryOptions"),
        Some(json!({"name": "config.vpxd.stats.maxQueryMetrics"})),
    )
    .await;
    assert_eq!(opts[0]["value"]["_value"], -1);
    let (s, f) = call(
        &c,
        &t,
        format!("{base}/OptionManager/VpxSettings/QueryOptions"),
        Some(json!({"name": "no.such.option"})),
    )
    .await;
    assert_eq!((s, f["_typeName"].as_str()), (500, Some("InvalidName")));
    sim.control()
        .patch_faults(&json!({"max_query_metrics_unreadable": true}))
        .expect("patch");
    let (s, f) = call(
        &c,
        &t,
        format!("{base}/OptionManager/VpxSettings/QueryOptions"),
        Some(json!({})),
    )
    .await;
    assert_eq!((s, f["_typeName"].as_str()), (500, Some("NoPermission")));

    let fetch = |user: &str| json!({"entities": [root], "userName": user});
    let (s, p) = call(
        &c,
        &t,
        format!("{base}/AuthorizationManager/AuthorizationManager/FetchUserPrivilegeOnEntities"),
        Some(fetch("ro")),
    )
    .await;
    assert_eq!(s, 200);
    let privs: Vec<&str> = p[0]["privileges"]
        .as_array()
        .expect("p")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert_eq!(
        privs,
        vec!["System.Anonymous", "System.View", "System.Read"]
    );
    let (_, p) = call(
        &c,
        &t,
        format!("{base}/AuthorizationManager/AuthorizationManager/FetchUserPrivilegeOnEntities"),
        Some(fetch("VSPHERE.LOCAL\\nobody")),
    )
    .await;
    assert_eq!(p[0]["privileges"], json!(["System.Anonymous"]));
    let (s, h) = call(
        &c,
        &t,
        format!("{base}/AuthorizationManager/AuthorizationManager/HasPrivilegeOnEntities"),
        Some(json!({"entity": [root], "sessionId": "x", "privId": ["System.Read", "Nope.Priv"]})),
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(h[0]["privAvailability"][0]["isGranted"], true);
    assert_eq!(h[0]["privAvailability"][1]["isGranted"], false);
}
