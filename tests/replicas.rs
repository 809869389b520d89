//! Two replicas of `pulse-vsphere serve` on one PostgreSQL store and one vCenter (the
//! simulator): a connection created through one is collected and served by both, a change made
//! through the other reaches the first, each holds its own sessions, and killing one leaves the
//! other serving. Runs when `PULSE_VSPHERE_TEST_POSTGRES_URL` is set (as `.ci/run` sets it).

mod common;

use std::time::Duration;

use pulse_vsphere::simulator::{SimConfig, Simulator};
use pulse_vsphere::store::StoreLocation;
use serde_json::{json, Value};

use common::serve::{gql, query, ready, spawn, terminate, Running};

/// Polls `q` on `r` until `done` holds for its answer (20 s at most).
async fn until(r: &Running, q: &str, what: &str, done: impl Fn(&Value) -> bool) -> Value {
    let mut last = Value::Null;
    for _ in 0..200 {
        last = query(r, q).await;
        if done(&last) {
            return last;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{what}: never; last answer {last}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_share_connections_through_postgres() {
    common::backends::on_postgres(|location| async move {
        let StoreLocation::Postgres { url } = location else {
            unreachable!()
        };
        let sim = Simulator::start(SimConfig::small()).await.expect("sim");
        // Both replicas open the same sealed passwords: one key, given to each.
        let key = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=";
        let env = [
            ("PULSE_VSPHERE_STORE_URL", url.as_str()),
            ("PULSE_VSPHERE_SECRET_KEY", key),
        ];
        let a = spawn(&[], &env).await;
        let b = spawn(&[], &env).await;
        ready(&a).await;
        ready(&b).await;

        // Created through A.
        let endpoint = url::Url::parse(&sim.base_url()).unwrap();
        let created = gql(
            &a,
            "mutation($i: VsphereConnectionInput!) { vsphereCreateConnection(input: $i) { id version } }",
            json!({"i": {
                "name": "Lab", "host": endpoint.host_str(), "port": endpoint.port(),
                "username": "admin", "password": "admin",
                "tlsMode": "PINNED", "tlsThumbprint": sim.thumbprint()
            }}),
        )
        .await;
        let id = created["data"]["vsphereCreateConnection"]["id"]
            .as_str()
            .unwrap_or_else(|| panic!("{created}"))
            .to_string();

        // Served by B from its own collection, with the simulator's counts.
        let vms = sim.control().inventory_counts().by_type["VirtualMachine"];
        let healthy = "{ vsphereConnections { connectionId name state } vsphereVms(first: 1) { totalCount } }";
        let served = |v: &Value| {
            v["data"]["vsphereConnections"][0]["state"] == "healthy"
                && v["data"]["vsphereVms"]["totalCount"] == vms
        };
        until(&b, healthy, "B serves the connection A created", served).await;
        until(&a, healthy, "A serves it", served).await;

        // Renamed through B, seen by A.
        let renamed = gql(
            &b,
            "mutation($id: ID!) { vsphereUpdateConnection(id: $id, version: 1, input: {name: \"Lab renamed\"}) { version } }",
            json!({"id": id}),
        )
        .await;
        assert!(renamed["errors"].is_null(), "{renamed}");
        until(&a, healthy, "A sees B's rename", |v| {
            v["data"]["vsphereConnections"][0]["name"] == "Lab renamed"
        })
        .await;

        // An alarm raised on vCenter: both replicas see it and write its incident to the one
        // store, where it is one incident, as are the alarms both found active at their start.
        let (host, alarm) = {
            let inv = sim.control().state().inv();
            (
                inv.ids_of("HostSystem")[0].clone(),
                inv.ids_of("Alarm")[4].clone(),
            )
        };
        assert!(sim.control().set_alarm(&host, &alarm, "red"));
        let native = format!("{alarm}.{host}");
        let open = "{ vsphereIncidents(filter: {state: OPEN}, first: 500) { edges { node { nativeId } } } }";
        let natives = |v: &Value| -> Vec<String> {
            v["data"]["vsphereIncidents"]["edges"]
                .as_array()
                .map(|n| {
                    n.iter()
                        .filter_map(|e| e["node"]["nativeId"].as_str().map(str::to_string))
                        .collect()
                })
                .unwrap_or_default()
        };
        for r in [&a, &b] {
            let v = until(r, open, "the raised alarm's incident", |v| {
                natives(v).contains(&native)
            })
            .await;
            let mut all = natives(&v);
            let n = all.len();
            all.sort();
            all.dedup();
            assert_eq!(all.len(), n, "an incident written twice: {v}");
        }

        // Each replica collects with its own sessions: one per API family each.
        let s = sim.stats().sessions;
        assert_eq!((s.vim.active, s.rest.active), (2, 2), "{s:?}");

        // A is killed without a chance to log out; B goes on serving.
        let mut a = a;
        a.child.start_kill().expect("kill A");
        let _ = a.child.wait().await;
        let v = query(&b, healthy).await;
        assert!(served(&v), "{v}");

        // Deleted through B: gone from B's graph.
        let deleted = gql(
            &b,
            "mutation($id: ID!) { vsphereDeleteConnection(id: $id, version: 2) }",
            json!({"id": id}),
        )
        .await;
        assert!(deleted["errors"].is_null(), "{deleted}");
        let v = query(&b, "{ vsphereConnections { connectionId } }").await;
        assert_eq!(v["data"]["vsphereConnections"], json!([]), "{v}");
        assert_eq!(terminate(b).await, 0);
        sim.shutdown().await;
    })
    .await;
}
