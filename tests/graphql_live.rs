//! GraphQL over a live collector and on-demand vCenter reads: inventory costs no vCenter call,
//! metric series of 100 VMs are one `QueryPerf`, identical concurrent requests share it, errors
//! are not cached, and events, tasks and alert history come from the collector.

mod common;

use std::sync::Arc;
use std::time::Duration;

use async_graphql::{Request, Variables};
use pulse_vsphere::collector::{self, CollectorConfig};
use pulse_vsphere::connections::Registry;
use pulse_vsphere::graphql::{SchemaDeps, VsphereSchema};
use pulse_vsphere::inventory::ConnectionSlot;
use pulse_vsphere::ondemand::BudgetSettings;
use pulse_vsphere::simulator::sessions::Family;
use pulse_vsphere::simulator::{SimConfig, Simulator};
use pulse_vsphere::vcenter::VcClient;
use serde_json::{json, Value};

struct Live {
    sim: Simulator,
    registry: Arc<Registry>,
    slot: Arc<ConnectionSlot>,
    schema: VsphereSchema,
    collector: Option<collector::CollectorHandle>,
}

async fn live(vms: usize) -> Live {
    live_with(vms, BudgetSettings::default()).await
}

async fn live_with(vms: usize, budget: BudgetSettings) -> Live {
    let mut cfg = SimConfig::small();
    cfg.size.vms = vms;
    let sim = Simulator::start(cfg).await.expect("sim");
    let registry = Registry::with_budget(CollectorConfig::default(), budget);
    let config = CollectorConfig {
        wait: Duration::from_secs(2),
        publish_every: Duration::from_millis(100),
        events_every: Duration::from_millis(300),
        metrics_every: Duration::from_secs(600),
        ..CollectorConfig::default()
    };
    let client = VcClient::new(common::client_config(&sim, "admin", "admin")).expect("client");
    // On-demand reads use their own client here so their calls can be counted apart, and the
    // test runs the collector itself so it can stop it.
    let ondemand = VcClient::new(common::client_config(&sim, "admin", "admin")).expect("client");
    let slot = registry.attach_reads("vc1", "lab", Some(ondemand));
    let h = collector::spawn(client, slot.clone(), config);
    let schema = SchemaDeps::new(registry.clone()).full();
    let total = sim.control().inventory_counts().by_type["VirtualMachine"];
    assert!(common::eventually(30, || slot.snapshot().is_some_and(|s| s.vms.len() == total)).await);
    Live {
        sim,
        registry,
        slot,
        schema,
        collector: Some(h),
    }
}

async fn run(schema: &VsphereSchema, query: &str) -> Value {
    let resp = schema
        .execute(Request::new(query).variables(Variables::from_json(json!({}))))
        .await;
    serde_json::to_value(resp).expect("json")
}

fn calls(sim: &Simulator, endpoint: &str) -> u64 {
    sim.stats().requests.get(endpoint).copied().unwrap_or(0)
}

const PERF: &str = "vim:PerformanceManager.QueryPerf";

#[tokio::test]
async fn inventory_is_free_and_series_are_batched_and_shared() {
    let mut l = live(120).await;
    // Stop the collector: from here on, every vCenter request comes from the query layer.
    l.collector.take().unwrap().shutdown().await;
    let before = l.sim.stats().requests_total;
    let v = run(&l.schema, "{ vsphereVms(first: 500) { totalCount nodes { id name status host { name } datastores(first: 5) { nodes { name } } vsphere { powerState } } } vsphereHosts(first: 50) { nodes { vms(first: 100) { totalCount } } } }").await;
    assert!(v["errors"].is_null(), "{v}");
    assert_eq!(
        l.sim.stats().requests_total,
        before,
        "inventory fields make no vCenter call"
    );

    let q = "{ vsphereVms(first: 100, filter: { powerState: [POWERED_ON] }) { nodes { id performance { cpu: series(metric: CPU, samples: 3) { points { at value } } mem: series(metric: MEMORY, samples: 3) { points { value } } } } } }";
    let perf_before = calls(&l.sim, PERF);
    let v = run(&l.schema, q).await;
    assert!(v["errors"].is_null(), "{v}");
    let nodes = v["data"]["vsphereVms"]["nodes"].as_array().unwrap();
    assert!(nodes.len() > 20, "enough running VMs: {}", nodes.len());
    for n in nodes {
        let pts = n["performance"]["cpu"]["points"].as_array().unwrap();
        assert_eq!(pts.len(), 3);
        assert!(pts
            .iter()
            .all(|p| (0.0..=100.0).contains(&p["value"].as_f64().unwrap())));
    }
    assert_eq!(
        calls(&l.sim, PERF) - perf_before,
        1,
        "all series of the request in one QueryPerf"
    );
    // Cached until the next sample is due: asking again costs nothing.
    let v = run(&l.schema, q).await;
    assert!(v["errors"].is_null());
    assert_eq!(calls(&l.sim, PERF) - perf_before, 1);
    // Identical concurrent requests share one call.
    let q2 = q.replace("samples: 3", "samples: 4");
    let before = calls(&l.sim, PERF);
    let all = futures::future::join_all((0..5).map(|_| run(&l.schema, &q2))).await;
    assert!(all.iter().all(|v| v["errors"].is_null()));
    // Five identical requests make one call; more only when the machine is so loaded that the
    // requests' keys reached the loader in separate batches (never one each).
    let shared = calls(&l.sim, PERF) - before;
    assert!(
        (1..5).contains(&shared),
        "five identical requests made {shared} vCenter calls"
    );
    // Errors are not cached.
    l.sim.control().set_malformed(Family::Vim, true);
    let q3 = q.replace("samples: 3", "samples: 5");
    let v = run(&l.schema, &q3).await;
    assert_eq!(
        v["errors"][0]["extensions"]["code"], "VCENTER_PROTOCOL_ERROR",
        "{v}"
    );
    l.sim.control().set_malformed(Family::Vim, false);
    let v = run(&l.schema, &q3).await;
    assert!(v["errors"].is_null(), "{v}");
    // Events beyond the retained window: one vCenter read per object when asked, then cached.
    const EV: &str = "vim:EventManager.QueryEvents";
    let vm = l.slot.snapshot().unwrap().vms[0].id.to_string();
    let q = |older: bool| {
        format!(
            r#"{{ vsphereResource(id: "{vm}") {{ ... on Vm {{ activity {{ events(first: 100, includeOlder: {older}) {{ key eventType }} }} }} }} }}"#
        )
    };
    let before = calls(&l.sim, EV);
    let retained = run(&l.schema, &q(false)).await;
    assert!(retained["errors"].is_null(), "{retained}");
    assert_eq!(
        calls(&l.sim, EV),
        before,
        "the retained window costs nothing"
    );
    let older = run(&l.schema, &q(true)).await;
    assert!(older["errors"].is_null(), "{older}");
    let n_old = older["data"]["vsphereResource"]["activity"]["events"]
        .as_array()
        .unwrap()
        .len();
    assert!(
        n_old
            >= retained["data"]["vsphereResource"]["activity"]["events"]
                .as_array()
                .unwrap()
                .len()
    );
    assert!(n_old > 0);
    assert_eq!(calls(&l.sim, EV) - before, 1);
    run(&l.schema, &q(true)).await;
    assert_eq!(calls(&l.sim, EV) - before, 1, "cached");
    // Every size argument is bounded, with a clear code and no vCenter call.
    let before = l.sim.stats().requests_total;
    for bad in [
        "performance { series(metric: CPU, samples: 0) { points { value } } }",
        "performance { series(metric: CPU, samples: 361) { points { value } } }",
        "activity { events(first: 0) { key } }",
        "activity { events(first: 501, includeOlder: true) { key } }",
        "activity { alertHistory(first: 501) { kind } }",
    ] {
        let v = run(
            &l.schema,
            &format!("{{ vsphereVms(first: 1) {{ nodes {{ {bad} }} }} }}"),
        )
        .await;
        assert_eq!(
            v["errors"][0]["extensions"]["code"], "BAD_USER_INPUT",
            "{bad}: {v}"
        );
    }
    assert_eq!(l.sim.stats().requests_total, before);
}

#[tokio::test]
async fn events_tasks_and_alert_history_of_a_resource() {
    let l = live(20).await;
    let snap = l.slot.snapshot().unwrap();
    let vm = snap
        .vms
        .iter()
        .find(|v| v.power_state.as_deref() == Some("poweredOn"))
        .unwrap()
        .clone();
    l.sim.control().set_vm_power(&vm.moid, "poweredOff");
    // Host error: no state behind it, so no re-check of the simulator's moves it; on a host
    // where it is not already raised.
    let alarm = l.sim.control().state().inv().ids_of("Alarm")[8].clone();
    let host = snap
        .agents
        .iter()
        .find(|a| a.alerts.iter().all(|x| x.alarm_moid != alarm))
        .expect("a host without a host-error alarm")
        .clone();
    l.sim.control().set_alarm(&host.moid, &alarm, "yellow");
    assert!(
        common::eventually(10, || !l.slot.activity().events_of(&vm.moid).is_empty()
            && l.slot
                .activity()
                .transitions()
                .iter()
                .any(|t| t.resource_id == host.id.as_str()))
        .await
    );
    let q = format!(
        r#"{{ vm: vsphereResource(id: "{}") {{ ... on Vm {{ activity {{ events(first: 5) {{ eventType message }} tasks {{ descriptionId state }} }} }} }}
             host: vsphereResource(id: "{}") {{ ... on Agent {{ activity {{ alertHistory {{ kind severity name }} }} }} }}
             vsphereAlertHistory(kind: RAISED) {{ resourceId severity }} }}"#,
        vm.id, host.id
    );
    let v = run(&l.schema, &q).await;
    assert!(v["errors"].is_null(), "{v}");
    let events = v["data"]["vm"]["activity"]["events"].as_array().unwrap();
    assert!(
        events.iter().any(|e| e["eventType"] == "VmPoweredOffEvent"),
        "{v}"
    );
    assert_eq!(
        v["data"]["host"]["activity"]["alertHistory"][0]["kind"],
        "RAISED"
    );
    assert_eq!(
        v["data"]["host"]["activity"]["alertHistory"][0]["severity"],
        "WARNING"
    );
    assert!(v["data"]["vsphereAlertHistory"]
        .as_array()
        .unwrap()
        .iter()
        .any(|t| t["resourceId"] == host.id.as_str()));
    l.collector.unwrap().shutdown().await;
}

#[tokio::test]
async fn older_events_of_a_whole_page_stay_within_vcenters_collector_limit() {
    let mut l = live(120).await;
    l.collector.take().unwrap().shutdown().await;
    const COLLECTORS: &str = "vim:EventManager.CreateCollectorForEvents";
    const QUERIES: &str = "vim:EventManager.QueryEvents";
    let (collectors, queries) = (calls(&l.sim, COLLECTORS), calls(&l.sim, QUERIES));
    // Ten aliases that differ only in `first`, over every VM of the page.
    let aliases: String = (1..=10)
        .map(|i| {
            format!(
                "e{i}: events(first: {}, includeOlder: true) {{ key }} ",
                i * 50
            )
        })
        .collect();
    let q = format!(
        "{{ vsphereVms(first: 120) {{ nodes {{ vsphere {{ moid }} activity {{ {aliases} }} }} }} }}"
    );
    let v = run(&l.schema, &q).await;
    assert!(v["errors"].is_null(), "every VM answered: {v}");
    let nodes = v["data"]["vsphereVms"]["nodes"].as_array().unwrap();
    assert_eq!(nodes.len(), 120);
    let reads = calls(&l.sim, QUERIES) - queries;
    assert!(
        reads <= 120,
        "one read per VM, however many aliases ask: {reads}"
    );
    assert_eq!(
        calls(&l.sim, COLLECTORS) - collectors,
        0,
        "on-demand reads open no history collector"
    );
    assert_eq!(l.sim.stats().event_collectors, 0);
    // The answer is what vCenter holds: each VM's newest events, newest first.
    for node in nodes.iter().take(5) {
        let moid = node["vsphere"]["moid"].as_str().unwrap();
        let held: Vec<i64> = l
            .sim
            .control()
            .state()
            .inv()
            .events
            .iter()
            .rev()
            .filter(|e| e["vm"]["vm"]["value"] == moid)
            .filter_map(|e| e["key"].as_i64())
            .take(500)
            .collect();
        let served: Vec<i64> = node["activity"]["e10"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["key"].as_i64().unwrap())
            .collect();
        assert_eq!(served, held, "events of {moid}");
        assert!(!held.is_empty(), "the simulator holds events of {moid}");
    }
}

#[tokio::test]
async fn the_on_demand_budget_refuses_before_any_call_and_shows_in_metrics() {
    let mut l = live_with(
        250,
        BudgetSettings {
            calls_per_second: 1,
            burst: 150,
            concurrent_calls: 2,
        },
    )
    .await;
    l.collector.take().unwrap().shutdown().await;
    let (url, stop, task) = common::serve_http(l.registry.clone()).await;
    let http = reqwest::Client::new();
    const QUERIES: &str = "vim:EventManager.QueryEvents";
    let page = |after: &str| {
        format!(
            "{{ vsphereVms(first: 120{after}) {{ pageInfo {{ endCursor }} nodes {{ activity {{ events(first: 100, includeOlder: true) {{ key }} }} }} }} }}"
        )
    };
    // The first page fits the burst: one call per VM, none refused.
    let before = calls(&l.sim, QUERIES);
    let v = common::graphql(&http, &format!("{url}/graphql"), &page(""), json!({})).await;
    assert!(v["errors"].is_null(), "{v}");
    assert_eq!(calls(&l.sim, QUERIES) - before, 120);
    let cursor = v["data"]["vsphereVms"]["pageInfo"]["endCursor"]
        .as_str()
        .unwrap()
        .to_string();
    // Asked again it is cached: free, whatever the budget holds.
    let v = common::graphql(&http, &format!("{url}/graphql"), &page(""), json!({})).await;
    assert!(v["errors"].is_null(), "{v}");
    assert_eq!(calls(&l.sim, QUERIES) - before, 120);
    // The next page needs 120 calls and the bucket holds about 30: refused before any call,
    // saying when the budget will pay for it.
    let v = common::graphql(
        &http,
        &format!("{url}/graphql"),
        &page(&format!(", after: \"{cursor}\"")),
        json!({}),
    )
    .await;
    assert_eq!(
        calls(&l.sim, QUERIES) - before,
        120,
        "no call made: {}",
        v["errors"][0]
    );
    let errors = v["errors"].as_array().expect("refused");
    assert_eq!(errors.len(), 120, "each VM's events refused");
    assert!(v.to_string().len() < 100_000);
    let ext = &errors[0]["extensions"];
    assert_eq!(ext["code"], "ONDEMAND_BUDGET_EXCEEDED", "{v}");
    assert_eq!(ext["neededCalls"], 120);
    assert!(ext["availableCalls"].as_u64().unwrap() < 40, "{ext}");
    let after = ext["retryAfterSeconds"].as_f64().unwrap();
    assert!((80.0..=121.0).contains(&after), "{after}");
    // The inventory itself never costs a call: the page is there.
    assert_eq!(
        v["data"]["vsphereVms"]["nodes"].as_array().unwrap().len(),
        120
    );
    // A request that may need more than the burst is refused before it runs at all.
    let v = common::graphql(
        &http,
        &format!("{url}/graphql"),
        "{ vsphereVms(first: 200) { nodes { activity { events(first: 100, includeOlder: true) { key } } } } }",
        json!({}),
    )
    .await;
    assert_eq!(
        v["errors"][0]["extensions"]["code"], "ONDEMAND_BUDGET_EXCEEDED",
        "{v}"
    );
    let message = v["errors"][0]["message"].as_str().unwrap();
    assert!(message.contains("may need 200 vCenter calls"), "{message}");
    assert!(v["data"].is_null());
    assert_eq!(calls(&l.sim, QUERIES) - before, 120);
    let metrics = common::text(&http, &format!("{url}/metrics")).await;
    for line in [
        "pulse_vsphere_ondemand_budget_calls_per_second{connection=\"vc1\"} 1",
        "pulse_vsphere_ondemand_budget_burst{connection=\"vc1\"} 150",
        "pulse_vsphere_ondemand_budget_concurrent_calls{connection=\"vc1\"} 2",
        "pulse_vsphere_ondemand_calls_total{connection=\"vc1\"} 120",
        "pulse_vsphere_ondemand_refused_total{connection=\"vc1\"} 1",
        "pulse_vsphere_ondemand_calls_in_flight{connection=\"vc1\"} 0",
        // One page read from vCenter, then served again from the cache.
        "pulse_vsphere_ondemand_cache_misses_total{connection=\"vc1\",cache=\"events\"} 120",
        "pulse_vsphere_ondemand_cache_hits_total{connection=\"vc1\",cache=\"events\"} 120",
    ] {
        assert!(metrics.contains(line), "{line} in\n{metrics}");
    }
    let _ = stop.send(());
    let _ = task.await;
}

#[tokio::test]
async fn a_series_the_budget_cannot_pay_for_is_refused_before_any_call() {
    let mut l = live_with(
        10,
        BudgetSettings {
            calls_per_second: 1,
            burst: 2,
            concurrent_calls: 1,
        },
    )
    .await;
    l.collector.take().unwrap().shutdown().await;
    let before = l.sim.stats().requests_total;
    // The counter map, maxQueryMetrics and one QueryPerf: 3 calls, more than the burst of 2.
    let v = run(
        &l.schema,
        "{ vsphereVms(first: 1) { nodes { performance { series(metric: CPU, interval: FIVE_MINUTES) { points { value } } } } } }",
    )
    .await;
    let e = &v["errors"][0];
    assert_eq!(e["extensions"]["code"], "ONDEMAND_BUDGET_EXCEEDED", "{v}");
    assert_eq!(e["extensions"]["neededCalls"], 3, "{v}");
    assert!(
        e["extensions"]["retryAfterSeconds"].is_null(),
        "never within the burst: {v}"
    );
    assert_eq!(l.sim.stats().requests_total, before, "no vCenter call made");
}
