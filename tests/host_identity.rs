//! Host identity over HTTPS: every host's GraphQL `identity` carries the addresses and MACs of
//! its VMkernel NICs exactly as the simulator holds them in `config.network.vnic`.

mod common;

use async_graphql::Request;
use pulse_vsphere::simulator::{SimConfig, Simulator};
use serde_json::Value;

/// (ips, macs) of a host's VMkernel NICs in the simulator, sorted.
fn vmkernel(sim: &Simulator, moid: &str) -> (Vec<String>, Vec<String>) {
    let inv = sim.control().state().inv();
    let host = inv.get(moid).expect("host");
    let vnics = host
        .get_path("config.network.vnic")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let pick = |path: &[&str]| {
        let mut out: Vec<String> = vnics
            .iter()
            .filter_map(|n| {
                path.iter()
                    .try_fold(n, |v, k| v.get(*k))
                    .and_then(Value::as_str)
                    .map(str::to_string)
            })
            .collect();
        out.sort();
        out
    };
    (pick(&["spec", "ip", "ipAddress"]), pick(&["spec", "mac"]))
}

#[tokio::test]
async fn hosts_are_identified_by_their_vmkernel_addresses_and_macs() {
    let sim = Simulator::start(SimConfig::small()).await.expect("sim");
    let (_slot, h, schema) =
        common::collecting(&sim, "admin", std::time::Duration::from_secs(20)).await;
    let q = "{ vsphereHosts(first: 100) { nodes { vsphere { moid } identity { ips macs hardwareUuid } } } }";
    let resp = serde_json::to_value(schema.execute(Request::new(q)).await).expect("json");
    assert!(resp["errors"].is_null(), "{resp}");
    let hosts = resp["data"]["vsphereHosts"]["nodes"]
        .as_array()
        .expect("hosts");
    assert!(!hosts.is_empty());
    let mut seen_ips = std::collections::HashSet::new();
    for node in hosts {
        let moid = node["vsphere"]["moid"].as_str().expect("moid");
        let (ips, macs) = vmkernel(&sim, moid);
        assert_eq!(ips.len(), 2, "{moid}: management and vMotion");
        let got = |k: &str| -> Vec<String> {
            serde_json::from_value(node["identity"][k].clone()).expect("list")
        };
        assert_eq!(got("ips"), ips, "{moid}");
        assert_eq!(got("macs"), macs, "{moid}");
        assert!(
            ips.iter().all(|ip| seen_ips.insert(ip.clone())),
            "addresses are unique"
        );
    }
    h.shutdown().await;
}
