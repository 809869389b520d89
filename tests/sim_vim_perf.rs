//! PerformanceManager over real HTTPS: counters mapped by name, realtime and historical
//! `QueryPerf`, values that move, `maxQueryMetrics` enforced with vCenter's fault, `noperf` denied.

mod common;

use pulse_vsphere::simulator::{Role, SimConfig, Simulator};
use serde_json::{json, Value};

async fn login(sim: &Simulator, user: &str, pw: &str) -> (reqwest::Client, String, String) {
    let v = common::Vim::login(sim, user, pw).await;
    (v.c, v.base, v.token)
}

use common::call;

fn counter_id(counters: &Value, group: &str, name: &str) -> i64 {
    counters
        .as_array()
        .expect("counters")
        .iter()
        .find(|c| c["groupInfo"]["key"] == group && c["nameInfo"]["key"] == name)
        .and_then(|c| c["key"].as_i64())
        .expect("counter")
}

#[tokio::test]
async fn counters_realtime_historical_and_limits() {
    let sim = Simulator::start(SimConfig::small().user("np", "np", Role::Noperf))
        .await
        .expect("sim");
    let (c, base, t) = login(&sim, "admin", "admin").await;
    let pm = format!("{base}/PerformanceManager/PerfMgr");
    let (s, counters) = call(&c, &t, format!("{pm}/perfCounter"), None).await;
    assert_eq!(s, 200);
    let cpu = counter_id(&counters, "cpu", "usage");
    let mem = counter_id(&counters, "mem", "usage");
    // Ids are not 1..n: a client that hard-codes them is wrong on a real vCenter too.
    assert!(counters.as_array().unwrap().iter().all(|c| c["key"] != 1));
    let (s, intervals) = call(&c, &t, format!("{pm}/historicalInterval"), None).await;
    assert_eq!(s, 200);
    let periods: Vec<i64> = intervals
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["samplingPeriod"].as_i64().unwrap())
        .collect();
    assert_eq!(periods, vec![300, 1800, 7200, 86400]);

    // A running VM: vCenter keeps no realtime samples of one that is off.
    let vm = common::vm_by_tools(&sim, true);
    let entity =
        json!({"_typeName": "ManagedObjectReference", "type": "VirtualMachine", "value": vm});
    let (s, summary) = call(
        &c,
        &t,
        format!("{pm}/QueryPerfProviderSummary"),
        Some(json!({"entity": entity})),
    )
    .await;
    assert_eq!((s, summary["refreshRate"].as_i64()), (200, Some(20)));
    let (s, avail) = call(
        &c,
        &t,
        format!("{pm}/QueryAvailablePerfMetric"),
        Some(json!({"entity": entity, "intervalId": 20})),
    )
    .await;
    assert_eq!(s, 200);
    assert!(avail
        .as_array()
        .unwrap()
        .iter()
        .any(|m| m["counterId"] == cpu));

    let spec = |interval: i64, n: i64| {
        json!({"_typeName": "PerfQuerySpec", "entity": entity, "intervalId": interval, "maxSample": n,
               "metricId": [{"counterId": cpu, "instance": ""}, {"counterId": mem, "instance": ""}]})
    };
    let (s, rt) = call(
        &c,
        &t,
        format!("{pm}/QueryPerf"),
        Some(json!({"querySpec": [spec(20, 15)]})),
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(rt[0]["_typeName"], "PerfEntityMetric");
    assert_eq!(rt[0]["sampleInfo"].as_array().unwrap().len(), 15);
    let series = rt[0]["value"][0]["value"].as_array().unwrap();
    assert!(series
        .iter()
        .all(|v| (0..=10_000).contains(&v.as_i64().unwrap())));
    assert!(
        series.windows(2).any(|w| w[0] != w[1]),
        "values move over time"
    );

    let (s, hist) = call(
        &c,
        &t,
        format!("{pm}/QueryPerf"),
        Some(json!({"querySpec": [spec(300, 12)]})),
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(hist[0]["sampleInfo"][0]["interval"], 300);

    // 2 metrics per historical spec; a limit of 3 refuses two specs, allows one, ignores realtime.
    sim.control().set_max_query_metrics(3);
    let (s, fault) = call(
        &c,
        &t,
        format!("{pm}/QueryPerf"),
        Some(json!({"querySpec": [spec(300, 1), spec(1800, 1)]})),
    )
    .await;
    assert_eq!(s, 500);
    assert_eq!(fault["_typeName"], "InvalidArgument");
    assert!(fault["faultstring"]
        .as_str()
        .unwrap()
        .contains("vpxd.stats.maxQueryMetrics"));
    let (s, _) = call(
        &c,
        &t,
        format!("{pm}/QueryPerf"),
        Some(json!({"querySpec": [spec(300, 1)]})),
    )
    .await;
    assert_eq!(s, 200);
    let (s, _) = call(
        &c,
        &t,
        format!("{pm}/QueryPerf"),
        Some(json!({"querySpec": [spec(20, 1), spec(20, 1), spec(20, 1)]})),
    )
    .await;
    assert_eq!(s, 200, "realtime queries are not limited");

    let (s, csv) = call(
        &c,
        &t,
        format!("{pm}/QueryPerf"),
        Some(json!({"querySpec": [{"entity": entity, "intervalId": 20, "maxSample": 3, "format": "csv",
                     "metricId": [{"counterId": cpu, "instance": ""}]}]})),
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(csv[0]["_typeName"], "PerfEntityMetricCSV");
    assert_eq!(
        csv[0]["value"][0]["value"]
            .as_str()
            .unwrap()
            .split(',')
            .count(),
        3
    );

    let (c2, _, t2) = login(&sim, "np", "np").await;
    let (s, fault) = call(
        &c2,
        &t2,
        format!("{pm}/QueryPerf"),
        Some(json!({"querySpec": [spec(20, 1)]})),
    )
    .await;
    assert_eq!(
        (s, fault["_typeName"].as_str()),
        (500, Some("NoPermission"))
    );
    let (s, fault) = call(
        &c,
        &t,
        format!("{pm}/QueryPerf"),
        Some(json!({"querySpec": [{"entity": {"type": "VirtualMachine", "value": "vm-nope"}, "intervalId": 20}]})),
    )
    .await;
    assert_eq!(
        (s, fault["_typeName"].as_str()),
        (500, Some("ManagedObjectNotFound"))
    );
}
