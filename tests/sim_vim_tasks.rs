//! TaskManager over real HTTPS: `recentTask` reaches ten minutes back, older tasks are read
//! through a TaskHistoryCollector (entity and time filters, reading forwards and backwards),
//! and collectors count against the per-session maximum until destroyed.

mod common;

use std::time::Duration;

use common::Vim;
use pulse_vsphere::simulator::{SimConfig, Simulator};
use serde_json::{json, Value};

fn keys(v: &Value) -> Vec<String> {
    v.as_array()
        .expect("an array")
        .iter()
        .map(|t| t["key"].as_str().expect("key").to_string())
        .collect()
}

/// Keys of the simulator's task history, oldest first.
fn history(sim: &Simulator) -> Vec<String> {
    let inv = sim.control().state().inv();
    inv.tasks
        .iter()
        .map(|t| t["key"].as_str().unwrap().to_string())
        .collect()
}

/// Powers `vm` off and on: two tasks about it.
fn power_cycle(sim: &Simulator, vm: &str) {
    assert!(sim.control().set_vm_power(vm, "poweredOff"));
    assert!(sim.control().set_vm_power(vm, "poweredOn"));
}

#[tokio::test]
async fn tasks_older_than_ten_minutes_leave_recent_task_and_stay_in_the_task_history() {
    let sim = Simulator::start(SimConfig::small()).await.expect("sim");
    let vim = Vim::login(&sim, "admin", "admin").await;
    let (vm, other) = {
        let inv = sim.control().state().inv();
        let vms = inv.ids_of("VirtualMachine");
        (vms[0].clone(), vms[1].clone())
    };
    power_cycle(&sim, &vm);
    power_cycle(&sim, &other);
    let old = history(&sim);
    assert!(old.len() >= 4);
    let (s, recent) = vim.get("TaskManager/TaskManager/recentTask").await;
    assert_eq!(s, 200);
    assert_eq!(recent.as_array().unwrap().len(), old.len().min(200));

    // Eleven minutes later those tasks are no longer recent, and their Task objects are gone.
    sim.control().age_tasks(Duration::from_secs(11 * 60));
    power_cycle(&sim, &vm);
    let all = history(&sim);
    let fresh = &all[old.len()..];
    let (_, recent) = vim.get("TaskManager/TaskManager/recentTask").await;
    let recent: Vec<String> = recent
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["value"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(recent, fresh);
    let (s, gone) = vim.get(&format!("Task/{}/info", old[0])).await;
    assert_eq!(
        (s, gone["_typeName"].as_str()),
        (500, Some("ManagedObjectNotFound"))
    );
    let (s, info) = vim.get(&format!("Task/{}/info", fresh[0])).await;
    assert_eq!((s, info["key"].as_str()), (200, Some(fresh[0].as_str())));

    // The history collector starts at the oldest task and pages forward.
    let (s, coll) = vim
        .post(
            "TaskManager/TaskManager/CreateCollectorForTasks",
            json!({"filter": {}}),
        )
        .await;
    assert_eq!(s, 200, "{coll}");
    assert_eq!(coll["type"], "TaskHistoryCollector");
    let id = coll["value"].as_str().unwrap().to_string();
    assert_eq!(sim.stats().task_collectors, 1);
    let mut read = Vec::new();
    loop {
        let (s, page) = vim
            .post(
                &format!("TaskHistoryCollector/{id}/ReadNextTasks"),
                json!({"maxCount": 3}),
            )
            .await;
        assert_eq!(s, 200);
        let page = keys(&page);
        if page.is_empty() {
            break;
        }
        assert!(page.len() <= 3);
        read.extend(page);
    }
    assert_eq!(read, all, "every task, oldest first, once");
    let (_, back) = vim
        .post(
            &format!("TaskHistoryCollector/{id}/ReadPreviousTasks"),
            json!({"maxCount": 2}),
        )
        .await;
    assert_eq!(
        keys(&back),
        vec![all[all.len() - 1].clone(), all[all.len() - 2].clone()]
    );
    let (s, _) = vim
        .post(
            &format!("TaskHistoryCollector/{id}/RewindCollector"),
            json!(null),
        )
        .await;
    assert_eq!(s, 204);
    let (_, first) = vim
        .post(
            &format!("TaskHistoryCollector/{id}/ReadNextTasks"),
            json!({"maxCount": 1}),
        )
        .await;
    assert_eq!(keys(&first), vec![all[0].clone()]);
    let (s, f) = vim
        .post(
            &format!("TaskHistoryCollector/{id}/ReadNextTasks"),
            json!({"maxCount": 0}),
        )
        .await;
    assert_eq!((s, f["_typeName"].as_str()), (500, Some("InvalidArgument")));
    let (s, _) = vim
        .post(
            &format!("TaskHistoryCollector/{id}/DestroyCollector"),
            json!(null),
        )
        .await;
    assert_eq!(s, 204);
    assert_eq!(sim.stats().task_collectors, 0);
    let (s, f) = vim
        .post(
            &format!("TaskHistoryCollector/{id}/ReadNextTasks"),
            json!({"maxCount": 1}),
        )
        .await;
    assert_eq!(
        (s, f["_typeName"].as_str()),
        (500, Some("ManagedObjectNotFound"))
    );

    // Filters: one entity, a queue-time window.
    let (_, coll) = vim
        .post(
            "TaskManager/TaskManager/CreateCollectorForTasks",
            json!({"filter": {"entity": {"entity": {"type": "VirtualMachine", "value": other}, "recursion": "self"}}}),
        )
        .await;
    let id = coll["value"].as_str().unwrap().to_string();
    let (_, mine) = vim
        .post(
            &format!("TaskHistoryCollector/{id}/ReadNextTasks"),
            json!({"maxCount": 100}),
        )
        .await;
    assert_eq!(mine.as_array().unwrap().len(), 2, "{mine}");
    assert!(mine
        .as_array()
        .unwrap()
        .iter()
        .all(|t| t["entity"]["value"] == other.as_str()));
    vim.post(
        &format!("TaskHistoryCollector/{id}/DestroyCollector"),
        json!(null),
    )
    .await;
    let since = sim.control().state().inv().tasks[old.len()]["queueTime"].clone();
    let (_, coll) = vim
        .post(
            "TaskManager/TaskManager/CreateCollectorForTasks",
            json!({"filter": {"time": {"timeType": "queuedTime", "beginTime": since}}}),
        )
        .await;
    let id = coll["value"].as_str().unwrap().to_string();
    let (_, newer) = vim
        .post(
            &format!("TaskHistoryCollector/{id}/ReadNextTasks"),
            json!({"maxCount": 100}),
        )
        .await;
    assert_eq!(keys(&newer), fresh);
    vim.post(
        &format!("TaskHistoryCollector/{id}/DestroyCollector"),
        json!(null),
    )
    .await;
    let (s, f) = vim
        .post(
            "TaskManager/TaskManager/CreateCollectorForTasks",
            json!({"filter": {"time": {"timeType": "whenever"}}}),
        )
        .await;
    assert_eq!((s, f["_typeName"].as_str()), (500, Some("InvalidArgument")));
    sim.shutdown().await;
}

#[tokio::test]
async fn task_collectors_count_against_the_session_maximum() {
    let sim = Simulator::start(SimConfig::small()).await.expect("sim");
    let vim = Vim::login(&sim, "admin", "admin").await;
    let mut ids = Vec::new();
    for _ in 0..32 {
        let (s, c) = vim
            .post(
                "TaskManager/TaskManager/CreateCollectorForTasks",
                json!({"filter": {}}),
            )
            .await;
        assert_eq!(s, 200);
        ids.push(c["value"].as_str().unwrap().to_string());
    }
    let (s, f) = vim
        .post(
            "TaskManager/TaskManager/CreateCollectorForTasks",
            json!({"filter": {}}),
        )
        .await;
    assert_eq!(
        (s, f["_typeName"].as_str()),
        (500, Some("InvalidState")),
        "{f}"
    );
    // Event collectors have their own maximum.
    let (s, _) = vim
        .post(
            "EventManager/EventManager/CreateCollectorForEvents",
            json!({"filter": {}}),
        )
        .await;
    assert_eq!(s, 200);
    let (s, _) = vim
        .post(
            &format!("TaskHistoryCollector/{}/DestroyCollector", ids[0]),
            json!(null),
        )
        .await;
    assert_eq!(s, 204);
    let (s, _) = vim
        .post(
            "TaskManager/TaskManager/CreateCollectorForTasks",
            json!({"filter": {}}),
        )
        .await;
    assert_eq!(s, 200);
    // A logout takes them all.
    assert_eq!(sim.stats().task_collectors, 32);
    vim.post("SessionManager/SessionManager/Logout", json!(null))
        .await;
    assert_eq!(sim.stats().task_collectors, 0);
    sim.shutdown().await;
}
