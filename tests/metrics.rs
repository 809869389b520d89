//! `/metrics` over HTTP against a simulator with 1,000 VMs: every family is named, typed,
//! unit-suffixed and labelled as documented (docs/operations.md), the latency histograms have
//! their buckets, and reading 1,000 distinct VMs' events and metric series through GraphQL
//! leaves the number of series unchanged.

mod common;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;

use pulse_vsphere::collector::CollectorConfig;
use pulse_vsphere::connections::{ConnectionSpec, Registry, SavedConnection, Source, TlsSetting};
use pulse_vsphere::ondemand::BudgetSettings;
use pulse_vsphere::simulator::{SimConfig, Simulator};
use serde_json::{json, Value};

const VMS: usize = 1000;

/// One scrape, parsed.
#[derive(Debug, Default)]
struct Exposition {
    types: HashMap<String, String>,
    units: HashMap<String, String>,
    samples: Vec<Sample>,
}

#[derive(Debug, Clone)]
struct Sample {
    name: String,
    labels: BTreeMap<String, String>,
    value: f64,
}

impl Exposition {
    /// The text format: `# TYPE`, `# UNIT` and `# HELP` lines, then `name{labels} value`.
    fn parse(text: &str) -> Exposition {
        let mut out = Exposition::default();
        for line in text.lines().filter(|l| !l.is_empty()) {
            if let Some(meta) = line.strip_prefix("# ") {
                let mut parts = meta.splitn(3, ' ');
                let (kind, name, rest) = (parts.next(), parts.next(), parts.next());
                match (kind, name, rest) {
                    (Some("TYPE"), Some(n), Some(t)) => {
                        out.types.insert(n.into(), t.into());
                    }
                    (Some("UNIT"), Some(n), Some(u)) => {
                        out.units.insert(n.into(), u.into());
                    }
                    (Some("HELP"), Some(_), Some(h)) => assert!(!h.is_empty(), "{line}"),
                    (Some("EOF"), None, None) => {}
                    _ => panic!("unexpected comment line: {line}"),
                }
                continue;
            }
            out.samples.push(parse_sample(line));
        }
        out
    }

    /// The family a sample belongs to (a histogram's `_bucket`, `_sum` and `_count` belong to
    /// the histogram).
    fn family_of(&self, sample: &str) -> Option<(&str, &str)> {
        let candidates = [
            Some(sample),
            sample.strip_suffix("_bucket"),
            sample.strip_suffix("_sum"),
            sample.strip_suffix("_count"),
            sample.strip_suffix("_total"),
        ];
        candidates
            .into_iter()
            .flatten()
            .find_map(|n| self.types.get_key_value(n))
            .map(|(k, v)| (k.as_str(), v.as_str()))
    }

    fn named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Sample> + 'a {
        self.samples.iter().filter(move |s| s.name == name)
    }

    fn value(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        self.named(name)
            .find(|s| {
                labels
                    .iter()
                    .all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v))
            })
            .map(|s| s.value)
    }

    /// Series identities (name and labels, not values).
    fn series(&self) -> BTreeSet<String> {
        self.samples
            .iter()
            .map(|s| format!("{}{:?}", s.name, s.labels))
            .collect()
    }

    /// Label names of a family's samples (besides a histogram's `le`).
    fn label_names(&self, name: &str) -> BTreeSet<String> {
        self.samples
            .iter()
            .filter(|s| self.family_of(&s.name).map(|(f, _)| f) == Some(name))
            .flat_map(|s| s.labels.keys().cloned())
            .filter(|k| k != "le")
            .collect()
    }
}

fn parse_sample(line: &str) -> Sample {
    let (head, value) = line.rsplit_once(' ').expect("value");
    let value: f64 = match value {
        "+Inf" => f64::INFINITY,
        v => v.parse().unwrap_or_else(|_| panic!("value in {line}")),
    };
    let Some((name, labels)) = head.split_once('{') else {
        return Sample {
            name: head.into(),
            labels: BTreeMap::new(),
            value,
        };
    };
    let body = labels.strip_suffix('}').expect("closing brace");
    let mut map = BTreeMap::new();
    let mut chars = body.chars().peekable();
    loop {
        let key: String = chars.by_ref().take_while(|c| *c != '=').collect();
        if key.is_empty() {
            break;
        }
        assert_eq!(chars.next(), Some('"'), "{line}");
        let mut val = String::new();
        while let Some(c) = chars.next() {
            match c {
                '\\' => match chars.next() {
                    Some('n') => val.push('\n'),
                    Some(other) => val.push(other),
                    None => panic!("{line}"),
                },
                '"' => break,
                c => val.push(c),
            }
        }
        map.insert(key.trim_start_matches(',').to_string(), val);
        if chars.peek() == Some(&',') {
            chars.next();
        }
    }
    Sample {
        name: name.into(),
        labels: map,
        value,
    }
}

fn spec(sim: &Simulator) -> ConnectionSpec {
    let url = url::Url::parse(&sim.base_url()).expect("url");
    ConnectionSpec {
        saved: SavedConnection {
            id: "vc1".into(),
            name: "lab vCenter".into(),
            host: url.host_str().unwrap().into(),
            port: url.port().unwrap(),
            username: "admin".into(),
            password_set: true,
            enabled: true,
            // Events are polled once at start and then not for an hour, so the only vCenter
            // calls between the two scrapes are the ones the queries make.
            poll_interval_secs: 3600,
            tls: TlsSetting::Pinned(sim.thumbprint()),
            created_at: chrono::Utc::now(),
            updated_at: chrono::Utc::now(),
            version: 1,
        },
        source: Source::Api,
        client: Ok(common::client_config(sim, "admin", "admin")),
    }
}

const PAGE: &str = "query VmActivity($first: Int!, $after: String) { vsphereVms(first: $first, after: $after) { pageInfo { endCursor hasNextPage } nodes { id activity { events(first: 5, includeOlder: true) { key } } performance { series(metric: CPU, samples: 3) { points { value } } } } } }";

async fn post(http: &reqwest::Client, url: &str, body: Value) -> Value {
    let v: Value = http
        .post(format!("{url}/graphql"))
        .json(&body)
        .send()
        .await
        .expect("post")
        .json()
        .await
        .expect("json");
    assert!(v.get("errors").is_none(), "{v}");
    v
}

/// One page of VMs with their events and CPU series; the VM ids and the next cursor.
async fn page(
    http: &reqwest::Client,
    url: &str,
    first: usize,
    after: Option<&str>,
) -> (Vec<String>, Option<String>) {
    let v = post(
        http,
        url,
        json!({"query": PAGE, "operationName": "VmActivity", "variables": {"first": first, "after": after}}),
    )
    .await;
    let vms = &v["data"]["vsphereVms"];
    let ids = vms["nodes"]
        .as_array()
        .expect("nodes")
        .iter()
        .map(|n| n["id"].as_str().expect("id").to_string())
        .collect();
    let next = (vms["pageInfo"]["hasNextPage"] == true)
        .then(|| vms["pageInfo"]["endCursor"].as_str().map(String::from))
        .flatten();
    (ids, next)
}

async fn scrape(http: &reqwest::Client, url: &str, accept: Option<&str>) -> (String, String) {
    let mut req = http.get(format!("{url}/metrics"));
    if let Some(a) = accept {
        req = req.header("accept", a);
    }
    let resp = req.send().await.expect("scrape");
    assert_eq!(resp.status(), 200);
    let ct = resp.headers()["content-type"]
        .to_str()
        .expect("ct")
        .to_string();
    (ct, resp.text().await.expect("text"))
}

/// Scrapes until the series stay the same for three seconds (three change-feed waits): the
/// collector's start-up calls (first events poll, first metrics pass, the initial update set
/// and the first empty wait) are over.
async fn settled(http: &reqwest::Client, url: &str) -> Exposition {
    let mut last = BTreeSet::new();
    let mut same = 0;
    for _ in 0..60 {
        let (_, text) = scrape(http, url, None).await;
        let e = Exposition::parse(&text);
        let series = e.series();
        if series == last {
            same += 1;
            if same == 3 {
                return e;
            }
        } else {
            same = 0;
        }
        last = series;
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    panic!("the series never settled");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_are_typed_labelled_and_bounded_over_1000_objects() {
    let mut cfg = SimConfig::small();
    cfg.size.vms = VMS;
    let sim = Simulator::start(cfg).await.expect("sim");
    let collector = CollectorConfig {
        wait: Duration::from_secs(1),
        publish_every: Duration::from_millis(50),
        metrics_every: Duration::from_secs(3600),
        metadata_every: Duration::from_secs(3600),
        sessions_every: Duration::from_secs(3600),
        ..CollectorConfig::default()
    };
    // Generous enough for 1,000 VMs' events in pages of 100 without waiting for the bucket.
    let budget = BudgetSettings {
        calls_per_second: 10_000,
        burst: 1_000,
        concurrent_calls: 8,
    };
    let registry: Arc<Registry> = Registry::with_budget(collector, budget);
    registry.add(spec(&sim)).await.expect("add");
    let vms = sim.control().inventory_counts().by_type["VirtualMachine"];
    assert_eq!(vms, VMS);
    assert!(
        common::eventually(60, || registry
            .slot("vc1")
            .and_then(|s| s.snapshot())
            .is_some_and(|s| s.vms.len() == VMS))
        .await,
        "first sync"
    );
    let (url, stop, task) = common::serve_http(registry.clone()).await;
    let http = reqwest::Client::new();

    // A few objects first, with every operation the bulk read uses, so the baseline has
    // every series those requests can make.
    let (few, _) = page(&http, &url, 10, None).await;
    assert_eq!(few.len(), 10);
    post(
        &http,
        &url,
        json!({"query": "{ vsphereVms(first: 1) { totalCount } }"}),
    )
    .await;
    let before = settled(&http, &url).await;

    // 1,000 distinct VMs: each one's events (one `QueryEvents` each) and CPU series.
    let mut touched = BTreeSet::new();
    let mut after: Option<String> = None;
    loop {
        let (ids, next) = page(&http, &url, 100, after.as_deref()).await;
        touched.extend(ids);
        match next {
            Some(c) => after = Some(c),
            None => break,
        }
    }
    assert_eq!(touched.len(), VMS, "1,000 distinct VMs read");
    post(
        &http,
        &url,
        json!({"query": "{ vsphereVms(first: 1) { totalCount } }"}),
    )
    .await;

    let (content_type, text) = scrape(&http, &url, None).await;
    assert!(
        content_type.starts_with("text/plain; version=0.0.4"),
        "{content_type}"
    );
    let after = Exposition::parse(&text);
    let (b, a) = (before.series(), after.series());
    assert_eq!(
        a.len(),
        b.len(),
        "series appeared: {:?}\nseries went: {:?}",
        a.difference(&b).collect::<Vec<_>>(),
        b.difference(&a).collect::<Vec<_>>()
    );
    assert_eq!(a, b);

    // The reads really happened and were counted.
    let events_calls = after
        .value(
            "pulse_vsphere_vcenter_calls_total",
            &[("call", "EventManager.QueryEvents"), ("status", "200")],
        )
        .unwrap_or(0.0)
        - before
            .value(
                "pulse_vsphere_vcenter_calls_total",
                &[("call", "EventManager.QueryEvents"), ("status", "200")],
            )
            .unwrap_or(0.0);
    assert!(events_calls >= 990.0, "{events_calls} QueryEvents calls");

    // Every sample belongs to a declared family, named pulse_vsphere_*; counters end in
    // `_total`; histograms and seconds gauges end in `_seconds`.
    for s in &after.samples {
        let (family, kind) = after
            .family_of(&s.name)
            .unwrap_or_else(|| panic!("{} has no TYPE", s.name));
        assert!(family.starts_with("pulse_vsphere_"), "{family}");
        match kind {
            "counter" => assert!(s.name.ends_with("_total"), "{}", s.name),
            // Durations in seconds; the one histogram of counts is a batch size.
            "histogram" => assert!(
                family.ends_with("_seconds") || family.ends_with("_batch_size"),
                "{family}"
            ),
            "gauge" => {}
            other => panic!("{family}: type {other}"),
        }
    }

    let expect: [(&str, &str, &[&str]); 33] = [
        (
            "pulse_vsphere_graphql_dataloader_batch_size",
            "histogram",
            &["loader"],
        ),
        (
            "pulse_vsphere_collector_feed_lag_seconds",
            "histogram",
            &["connection"],
        ),
        (
            "pulse_vsphere_history_write_duration_seconds",
            "histogram",
            &["connection"],
        ),
        ("pulse_vsphere_history_backlog", "gauge", &["connection"]),
        (
            "pulse_vsphere_history_backlog_bound",
            "gauge",
            &["connection"],
        ),
        ("pulse_vsphere_graphql_requests_total", "counter", &[]),
        ("pulse_vsphere_graphql_errors_total", "counter", &[]),
        ("pulse_vsphere_graphql_refused_total", "counter", &[]),
        (
            "pulse_vsphere_graphql_request_duration_seconds",
            "histogram",
            &["operation"],
        ),
        ("pulse_vsphere_graphql_subscribers", "gauge", &[]),
        (
            "pulse_vsphere_graphql_subscribers_dropped_total",
            "counter",
            &[],
        ),
        (
            "pulse_vsphere_graphql_response_cache_total",
            "counter",
            &["result"],
        ),
        ("pulse_vsphere_graphql_response_cache_bytes", "gauge", &[]),
        ("pulse_vsphere_graphql_executions_running", "gauge", &[]),
        ("pulse_vsphere_graphql_execution_slots_free", "gauge", &[]),
        (
            "pulse_vsphere_vcenter_calls_total",
            "counter",
            &["call", "connection", "family", "status"],
        ),
        (
            "pulse_vsphere_vcenter_call_duration_seconds",
            "histogram",
            &["call", "connection", "family"],
        ),
        (
            "pulse_vsphere_vcenter_calls_last_minute",
            "gauge",
            &["connection"],
        ),
        (
            "pulse_vsphere_vcenter_sessions_held",
            "gauge",
            &["connection", "family"],
        ),
        (
            "pulse_vsphere_vcenter_logins_total",
            "counter",
            &["connection", "family"],
        ),
        (
            "pulse_vsphere_ondemand_calls_total",
            "counter",
            &["connection"],
        ),
        (
            "pulse_vsphere_ondemand_budget_available_calls",
            "gauge",
            &["connection"],
        ),
        ("pulse_vsphere_connection_up", "gauge", &["connection"]),
        (
            "pulse_vsphere_connection_consecutive_failures",
            "gauge",
            &["connection"],
        ),
        ("pulse_vsphere_resources", "gauge", &["connection", "kind"]),
        (
            "pulse_vsphere_snapshot_age_seconds",
            "gauge",
            &["connection"],
        ),
        (
            "pulse_vsphere_collector_full_syncs_total",
            "counter",
            &["connection"],
        ),
        (
            "pulse_vsphere_collector_updates_applied_total",
            "counter",
            &["connection"],
        ),
        (
            "pulse_vsphere_collector_snapshots_published_total",
            "counter",
            &["connection"],
        ),
        (
            "pulse_vsphere_collector_skipped_ticks_total",
            "counter",
            &["connection"],
        ),
        (
            "pulse_vsphere_collector_full_sync_duration_seconds",
            "histogram",
            &["connection"],
        ),
        (
            "pulse_vsphere_collector_publish_duration_seconds",
            "histogram",
            &["connection"],
        ),
        (
            "pulse_vsphere_collector_cycle_duration_seconds",
            "histogram",
            &["connection", "cycle"],
        ),
    ];
    for (name, kind, labels) in expect {
        assert_eq!(
            after.types.get(name).map(String::as_str),
            Some(kind),
            "{name}"
        );
        let want: BTreeSet<String> = labels.iter().map(|l| l.to_string()).collect();
        assert_eq!(after.label_names(name), want, "{name}");
    }

    // Histograms have their buckets, ending in +Inf, with `_sum` and `_count`.
    for (name, labels) in [
        (
            "pulse_vsphere_vcenter_call_duration_seconds",
            vec![("call", "EventManager.QueryEvents")],
        ),
        (
            "pulse_vsphere_graphql_request_duration_seconds",
            vec![("operation", "VmActivity")],
        ),
        (
            "pulse_vsphere_graphql_request_duration_seconds",
            vec![("operation", "anonymous")],
        ),
        (
            "pulse_vsphere_collector_full_sync_duration_seconds",
            vec![("connection", "vc1")],
        ),
    ] {
        let bucket = format!("{name}_bucket");
        let les: Vec<String> = after
            .named(&bucket)
            .filter(|s| labels.iter().all(|(k, v)| s.labels[*k] == *v))
            .map(|s| s.labels["le"].clone())
            .collect();
        assert!(les.len() >= 10, "{name} {labels:?}: buckets {les:?}");
        assert_eq!(les.last().map(String::as_str), Some("+Inf"), "{name}");
        let count = after
            .value(&format!("{name}_count"), &labels)
            .expect("count");
        let inf = after
            .named(&bucket)
            .find(|s| s.labels["le"] == "+Inf" && labels.iter().all(|(k, v)| s.labels[*k] == *v))
            .map(|s| s.value);
        assert_eq!(inf, Some(count), "{name}: +Inf bucket is the count");
        assert!(count >= 1.0, "{name} {labels:?}");
        assert!(after.value(&format!("{name}_sum"), &labels).is_some());
    }
    let pages = after
        .value(
            "pulse_vsphere_graphql_request_duration_seconds_count",
            &[("operation", "VmActivity")],
        )
        .expect("VmActivity");
    assert_eq!(pages, 11.0, "one warm-up page and ten pages of 100");

    // No call label carries an object id.
    for s in after.named("pulse_vsphere_vcenter_calls_total") {
        let call = &s.labels["call"];
        assert!(
            !call.contains("vm-") && !call.contains("urn:") && !call.contains("host-"),
            "{call}"
        );
    }

    // What the collector and the sessions report.
    let vc1 = [("connection", "vc1")];
    assert_eq!(
        after.value(
            "pulse_vsphere_resources",
            &[("connection", "vc1"), ("kind", "vm")]
        ),
        Some(VMS as f64)
    );
    assert_eq!(after.value("pulse_vsphere_connection_up", &vc1), Some(1.0));
    assert!(after.value("pulse_vsphere_collector_full_syncs_total", &vc1) >= Some(1.0));
    assert!(after.value("pulse_vsphere_collector_snapshots_published_total", &vc1) >= Some(1.0));
    assert_eq!(
        after.value(
            "pulse_vsphere_vcenter_sessions_held",
            &[("connection", "vc1"), ("family", "VI JSON")]
        ),
        Some(1.0)
    );
    assert!(
        after.value(
            "pulse_vsphere_vcenter_logins_total",
            &[("connection", "vc1"), ("family", "VI JSON")]
        ) >= Some(1.0)
    );
    assert!(
        after.value("pulse_vsphere_vcenter_calls_last_minute", &vc1) >= Some(1000.0),
        "the bulk read happened within the minute"
    );
    assert!(after.value("pulse_vsphere_ondemand_calls_total", &vc1) >= Some(1000.0));

    // OpenMetrics, when asked for, declares the units.
    let (content_type, text) = scrape(
        &http,
        &url,
        Some("application/openmetrics-text;version=1.0.0,text/plain;q=0.5"),
    )
    .await;
    assert!(
        content_type.starts_with("application/openmetrics-text"),
        "{content_type}"
    );
    assert!(text.ends_with("# EOF\n"));
    let om = Exposition::parse(&text);
    for name in [
        "pulse_vsphere_vcenter_call_duration_seconds",
        "pulse_vsphere_graphql_request_duration_seconds",
        "pulse_vsphere_snapshot_age_seconds",
        "pulse_vsphere_collector_publish_duration_seconds",
    ] {
        assert_eq!(
            om.units.get(name).map(String::as_str),
            Some("seconds"),
            "{name}"
        );
    }
    assert_eq!(
        om.series().len(),
        a.len(),
        "both formats carry the same series"
    );

    let _ = stop.send(());
    let _ = task.await;
    registry.shutdown().await;
}
