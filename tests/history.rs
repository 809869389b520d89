//! Alert history and the events timeline in the store, as an operator lives them: the service
//! (store, registry, collectors) against the simulator over HTTPS, restarted on the same store.
//! Every case runs on SQLite, and on PostgreSQL when `PULSE_VSPHERE_TEST_POSTGRES_URL` is set.
//! Times are compared with what the simulator itself holds (its `AlarmState.time` and its
//! `AlarmStatusChangedEvent`s), not with the clock of the test.

mod common;

use std::time::Duration;

use chrono::{DateTime, Utc};
use pulse_vsphere::collector::CollectorConfig;
use pulse_vsphere::config::StoreSettings;
use pulse_vsphere::connections::{ConnectionSpec, SavedConnection, Source, TlsSetting};
use pulse_vsphere::inventory::activity::EventRecord;
use pulse_vsphere::inventory::incidents::HistoryBatch;
use pulse_vsphere::inventory::incidents::IncidentRecord;
use pulse_vsphere::model::alerts::AlertSeverity;
use pulse_vsphere::service::Service;
use pulse_vsphere::simulator::{SimConfig, Simulator};
use pulse_vsphere::store::history::{IncidentQuery, TimelineQuery, TimelineRow};
use pulse_vsphere::store::{Store, StoreLocation};
use serde_json::Value;

use common::backends::{on_postgres, on_sqlite, TempDir};

macro_rules! both_backends {
    ($($case:ident),* $(,)?) => {
        mod sqlite {
            $(#[tokio::test]
            async fn $case() {
                crate::on_sqlite(crate::$case).await
            })*
        }
        mod postgres {
            $(#[tokio::test]
            async fn $case() {
                crate::on_postgres(crate::$case).await
            })*
        }
    };
}

both_backends!(
    an_alarm_life_is_one_incident_with_vcenters_times,
    a_raise_and_clear_between_two_snapshots_is_recorded,
    alarms_active_at_start_are_recorded_once_across_restarts,
    events_resume_after_a_restart_without_gap_or_duplicate,
    a_batch_written_twice_is_stored_once_and_retention_prunes_in_batches,
);

const CONN: &str = "lab";

fn spec(sim: &Simulator) -> ConnectionSpec {
    let url = url::Url::parse(&sim.base_url()).expect("url");
    ConnectionSpec {
        saved: SavedConnection {
            id: CONN.into(),
            name: "lab vCenter".into(),
            host: url.host_str().unwrap().into(),
            port: url.port().unwrap(),
            username: "admin".into(),
            password_set: true,
            enabled: true,
            poll_interval_secs: 1,
            tls: TlsSetting::Pinned(sim.thumbprint()),
            created_at: Utc::now(),
            updated_at: Utc::now(),
            version: 1,
        },
        source: Source::Config,
        client: Ok(common::client_config(sim, "admin", "admin")),
    }
}

/// The service on `loc` reading `sim`, started and synced.
async fn serve(loc: &StoreLocation, keys: &TempDir, sim: &Simulator) -> Service {
    let settings = StoreSettings {
        location: loc.clone(),
        data_dir: keys.0.clone(),
        key_file: keys.0.join("secret.key"),
        history_days: 30,
    };
    let collector = CollectorConfig {
        wait: Duration::from_secs(1),
        publish_every: Duration::from_millis(100),
        ..CollectorConfig::default()
    };
    let svc = Service::start(&settings, vec![spec(sim)], collector, Default::default())
        .await
        .expect("service starts");
    let slot = svc.registry.slots()[0].clone();
    assert!(
        common::eventually(30, || slot.snapshot().is_some()).await,
        "{:?}",
        slot.health()
    );
    svc
}

async fn incidents(svc: &Service, q: IncidentQuery) -> Vec<IncidentRecord> {
    svc.onboarding
        .store()
        .incidents_page(&q, 500, None)
        .await
        .expect("incidents")
}

async fn incidents_of(svc: &Service, moid: &str, alarm: &str) -> Vec<IncidentRecord> {
    let mut all = incidents(svc, IncidentQuery::default()).await;
    all.retain(|i| i.key.entity_moid == moid && i.key.alarm_moid == alarm);
    all
}

async fn alert_rows(svc: &Service, moid: &str) -> Vec<TimelineRow> {
    let q = TimelineQuery {
        connection_id: Some(CONN.into()),
        moid: Some(moid.into()),
        events: false,
        tasks: false,
        alerts: true,
        from: None,
        to: None,
    };
    svc.onboarding
        .store()
        .timeline_page(&q, 500, None)
        .await
        .expect("timeline")
}

/// Waits (up to `secs`) for `f` over the store to hold.
async fn until<T>(secs: u64, mut read: impl AsyncFnMut() -> T, ok: impl Fn(&T) -> bool) -> T {
    let end = std::time::Instant::now() + Duration::from_secs(secs);
    loop {
        let v = read().await;
        if ok(&v) || std::time::Instant::now() > end {
            return v;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn micros(t: DateTime<Utc>) -> DateTime<Utc> {
    DateTime::from_timestamp_micros(t.timestamp_micros()).unwrap()
}

fn time(v: &Value) -> DateTime<Utc> {
    micros(
        DateTime::parse_from_rfc3339(v.as_str().expect("a time"))
            .expect("rfc3339")
            .with_timezone(&Utc),
    )
}

/// The simulator's `AlarmState` of `alarm` on `entity`.
fn alarm_state(sim: &Simulator, entity: &str, alarm: &str) -> Option<Value> {
    let inv = sim.control().state().inv();
    inv.get(entity)?
        .get_path("triggeredAlarmState")?
        .as_array()?
        .iter()
        .find(|s| s["alarm"]["value"] == alarm)
        .cloned()
}

/// The simulator's `AlarmStatusChangedEvent`s of `alarm` on `entity`: (key, to, createdTime).
fn alarm_events(sim: &Simulator, entity: &str, alarm: &str) -> Vec<(i64, String, DateTime<Utc>)> {
    let inv = sim.control().state().inv();
    inv.events
        .iter()
        .filter(|e| e["_typeName"] == "AlarmStatusChangedEvent")
        .filter(|e| {
            e["alarm"]["alarm"]["value"] == alarm && e["entity"]["entity"]["value"] == entity
        })
        .map(|e| {
            (
                e["key"].as_i64().unwrap(),
                e["to"].as_str().unwrap_or_default().to_string(),
                time(&e["createdTime"]),
            )
        })
        .collect()
}

fn host_and_alarm(sim: &Simulator, host: usize, alarm: usize) -> (String, String) {
    let inv = sim.control().state().inv();
    (
        inv.ids_of("HostSystem")[host].clone(),
        inv.ids_of("Alarm")[alarm].clone(),
    )
}

async fn an_alarm_life_is_one_incident_with_vcenters_times(loc: StoreLocation) {
    let keys = TempDir::new();
    let sim = Simulator::start(SimConfig::small()).await.expect("sim");
    let svc = serve(&loc, &keys, &sim).await;
    let (host, alarm) = host_and_alarm(&sim, 0, 4);
    assert!(sim.control().set_alarm(&host, &alarm, "yellow"));
    let opened = time(&alarm_state(&sim, &host, &alarm).unwrap()["time"]);
    let got = until(10, || incidents_of(&svc, &host, &alarm), |v| !v.is_empty()).await;
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0].key.started_at, opened, "vCenter's AlarmState.time");
    assert_eq!(got[0].current_severity, AlertSeverity::Warning);
    assert!(got[0].ended_at.is_none());

    assert!(sim.control().set_alarm(&host, &alarm, "red"));
    let raised = time(&alarm_state(&sim, &host, &alarm).unwrap()["time"]);
    // Distinct vCenter times, so the timeline's order is the order of the life.
    tokio::time::sleep(Duration::from_millis(5)).await;
    assert!(sim
        .control()
        .acknowledge_alarm(&host, &alarm, "VSPHERE.LOCAL\\oncall"));
    let acked = time(&alarm_state(&sim, &host, &alarm).unwrap()["acknowledgedTime"]);
    let got = until(
        10,
        || incidents_of(&svc, &host, &alarm),
        |v| {
            v.len() == 1
                && v[0].acknowledged_at.is_some()
                && v[0].severity == AlertSeverity::Critical
        },
    )
    .await;
    assert_eq!(got[0].current_severity, AlertSeverity::Critical, "{got:?}");
    assert_eq!(got[0].acknowledged_at, Some(acked));
    assert_eq!(
        got[0].acknowledged_by.as_deref(),
        Some("VSPHERE.LOCAL\\oncall")
    );

    assert!(sim.control().set_alarm(&host, &alarm, "green"));
    let cleared = alarm_events(&sim, &host, &alarm)
        .into_iter()
        .find(|e| e.1 == "green")
        .expect("the clearing event")
        .2;
    // The snapshot sees the clear first; the event (polled every second) gives vCenter's time.
    let got = until(
        15,
        || incidents_of(&svc, &host, &alarm),
        |v| v.len() == 1 && v[0].ended_at == Some(cleared),
    )
    .await;
    assert_eq!(got.len(), 1, "one incident for the whole life: {got:?}");
    assert_eq!(got[0].ended_at, Some(cleared), "{got:?}");
    assert_eq!(
        got[0].severity,
        AlertSeverity::Critical,
        "the worst it reached"
    );
    assert!(
        got[0].summary.contains(&alarm_name(&sim, &alarm)),
        "{got:?}"
    );

    let rows = alert_rows(&svc, &host).await;
    let life: Vec<(String, DateTime<Utc>)> = rows
        .iter()
        .filter(|r| r.key.starts_with(&format!("{alarm}.{host}@")))
        .map(|r| (r.title.clone(), r.at))
        .collect();
    assert_eq!(
        life,
        vec![
            ("closed".to_string(), cleared),
            ("acknowledged".to_string(), acked),
            ("severity_changed".to_string(), raised),
            ("opened".to_string(), opened),
        ],
        "newest first, each once, with vCenter's times"
    );
    graphql_shows_the_same_life(&svc, &sim, &host, &alarm, &life).await;
    svc.shutdown().await;
    sim.shutdown().await;
}

async fn gql(svc: &Service, query: &str) -> Value {
    let schema = pulse_vsphere::graphql::SchemaDeps {
        registry: svc.registry.clone(),
        onboarding: Some(svc.onboarding.clone()),
    }
    .full();
    let v = serde_json::to_value(schema.execute(query).await).expect("json");
    assert!(v["errors"].is_null(), "{v}");
    v["data"].clone()
}

/// `vsphereIncidents` and `vsphereTimeline` (paged one entry at a time) over what the store holds.
async fn graphql_shows_the_same_life(
    svc: &Service,
    sim: &Simulator,
    host: &str,
    alarm: &str,
    life: &[(String, DateTime<Utc>)],
) {
    let rid = pulse_vsphere::model::ResourceId::new(&sim.instance_uuid(), host).to_string();
    let d = gql(
        svc,
        &format!(
            r#"{{ vsphereIncidents(filter: {{resource: "{rid}", state: CLOSED, severity: CRITICAL}}) {{
                 edges {{ node {{ provider nativeId code summary severity state startedAt endedAt acknowledgedBy resourceId }} }} }} }}"#
        ),
    )
    .await;
    let edges = d["vsphereIncidents"]["edges"].as_array().unwrap();
    let mine: Vec<&Value> = edges
        .iter()
        .map(|e| &e["node"])
        .filter(|n| n["nativeId"] == format!("{alarm}.{host}"))
        .collect();
    assert_eq!(mine.len(), 1, "{d}");
    let n = mine[0];
    assert_eq!(n["provider"], "vmware");
    assert_eq!(n["code"], "vmware_alarm_state");
    assert_eq!(n["severity"], "CRITICAL");
    assert_eq!(n["state"], "CLOSED");
    assert_eq!(n["resourceId"], rid.as_str());
    assert_eq!(time(&n["endedAt"]), life[0].1);
    assert_eq!(time(&n["startedAt"]), life[3].1);
    let open = gql(
        svc,
        &format!(r#"{{ vsphereIncidents(filter: {{resource: "{rid}", state: OPEN}}) {{ edges {{ node {{ nativeId }} }} }} }}"#),
    )
    .await;
    assert!(
        !open.to_string().contains(&format!("{alarm}.{host}")),
        "{open}"
    );
    // The timeline, one entry per page, newest first.
    let mut after = String::new();
    let mut seen = Vec::new();
    for _ in 0..50 {
        let d = gql(
            svc,
            &format!(
                r#"{{ vsphereTimeline(filter: {{resource: "{rid}", kinds: [ALERT]}}, first: 1{after}) {{
                     edges {{ cursor node {{ kind at title key }} }} pageInfo {{ hasNextPage endCursor }} }} }}"#
            ),
        )
        .await;
        let t = &d["vsphereTimeline"];
        for e in t["edges"].as_array().unwrap() {
            assert_eq!(e["node"]["kind"], "ALERT");
            if e["node"]["key"]
                .as_str()
                .unwrap()
                .starts_with(&format!("{alarm}.{host}@"))
            {
                seen.push((
                    e["node"]["title"].as_str().unwrap().to_string(),
                    time(&e["node"]["at"]),
                ));
            }
        }
        if t["pageInfo"]["hasNextPage"] != true {
            break;
        }
        after = format!(
            r#", after: "{}""#,
            t["pageInfo"]["endCursor"].as_str().unwrap()
        );
    }
    assert_eq!(seen, life);
}

fn alarm_name(sim: &Simulator, alarm: &str) -> String {
    let inv = sim.control().state().inv();
    inv.get(alarm)
        .and_then(|a| a.get_path("info.name"))
        .and_then(Value::as_str)
        .unwrap_or(alarm)
        .to_string()
}

async fn a_raise_and_clear_between_two_snapshots_is_recorded(loc: StoreLocation) {
    let keys = TempDir::new();
    let sim = Simulator::start(SimConfig::small()).await.expect("sim");
    let svc = serve(&loc, &keys, &sim).await;
    let (host, alarm) = host_and_alarm(&sim, 1, 5);
    assert!(sim.control().set_alarm(&host, &alarm, "red"));
    assert!(sim.control().set_alarm(&host, &alarm, "green"));
    let events = alarm_events(&sim, &host, &alarm);
    assert_eq!(events.len(), 2);
    let got = until(
        15,
        || incidents_of(&svc, &host, &alarm),
        |v| v.len() == 1 && v[0].ended_at.is_some(),
    )
    .await;
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0].key.started_at, events[0].2);
    assert_eq!(got[0].ended_at, Some(events[1].2));
    assert_eq!(got[0].severity, AlertSeverity::Critical);
    svc.shutdown().await;
    sim.shutdown().await;
}

async fn both_of(svc: &Service, a: (&str, &str), b: (&str, &str)) -> Vec<IncidentRecord> {
    let mut all = incidents_of(svc, a.0, a.1).await;
    all.extend(incidents_of(svc, b.0, b.1).await);
    all
}

async fn alarms_active_at_start_are_recorded_once_across_restarts(loc: StoreLocation) {
    let keys = TempDir::new();
    let sim = Simulator::start(SimConfig::small()).await.expect("sim");
    let (host, alarm) = host_and_alarm(&sim, 0, 6);
    let (other, alarm2) = host_and_alarm(&sim, 1, 7);
    assert!(sim.control().set_alarm(&host, &alarm, "yellow"));
    assert!(sim.control().set_alarm(&other, &alarm2, "red"));
    let since = time(&alarm_state(&sim, &host, &alarm).unwrap()["time"]);
    for run in 0..3 {
        let svc = serve(&loc, &keys, &sim).await;
        let pairs = (
            (host.as_str(), alarm.as_str()),
            (other.as_str(), alarm2.as_str()),
        );
        let got = until(10, || both_of(&svc, pairs.0, pairs.1), |v| v.len() >= 2).await;
        // A few more snapshots and event polls, which must add nothing (renames: random
        // changes may flip these very alarms).
        let vm = sim.control().state().inv().ids_of("VirtualMachine")[0].clone();
        for i in 0..3 {
            assert!(sim.control().rename(&vm, &format!("renamed-{run}-{i}")));
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
        // Event polls run every second.
        tokio::time::sleep(Duration::from_secs(2)).await;
        tokio::time::sleep(Duration::from_secs(3)).await;
        let got2 = both_of(&svc, pairs.0, pairs.1).await;
        assert_eq!(got, got2, "run {run}");
        assert_eq!(got.len(), 2, "run {run}: {got:?}");
        assert!(
            got.iter().all(|i| i.ended_at.is_none()),
            "run {run}: {got:?}"
        );
        let mine = got.iter().find(|i| i.key.entity_moid == host).unwrap();
        assert_eq!(mine.key.started_at, since, "vCenter's start, run {run}");
        let opened: Vec<_> = alert_rows(&svc, &host)
            .await
            .into_iter()
            .filter(|r| r.title == "opened" && r.key.starts_with(&format!("{alarm}.")))
            .collect();
        assert_eq!(opened.len(), 1, "run {run}: {opened:?}");
        svc.shutdown().await;
    }
    // Cleared while the service is down: the next start closes it at the event's time.
    assert!(sim.control().set_alarm(&host, &alarm, "green"));
    let cleared = alarm_events(&sim, &host, &alarm)
        .into_iter()
        .find(|e| e.1 == "green")
        .unwrap()
        .2;
    let svc = serve(&loc, &keys, &sim).await;
    let got = until(
        15,
        || incidents_of(&svc, &host, &alarm),
        |v| v.len() == 1 && v[0].ended_at == Some(cleared),
    )
    .await;
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0].ended_at, Some(cleared), "{got:?}");
    svc.shutdown().await;
    sim.shutdown().await;
}

async fn stored_event_keys(svc: &Service) -> Vec<i64> {
    let q = TimelineQuery {
        connection_id: Some(CONN.into()),
        moid: None,
        events: true,
        tasks: false,
        alerts: false,
        from: None,
        to: None,
    };
    let mut keys: Vec<i64> = svc
        .onboarding
        .store()
        .timeline_page(&q, 100_000, None)
        .await
        .expect("timeline")
        .iter()
        .map(|r| r.key.parse().unwrap())
        .collect();
    keys.sort_unstable();
    keys
}

async fn events_resume_after_a_restart_without_gap_or_duplicate(loc: StoreLocation) {
    let keys = TempDir::new();
    let sim = Simulator::start(SimConfig::small()).await.expect("sim");
    let sim_keys = |sim: &Simulator| -> Vec<i64> {
        let inv = sim.control().state().inv();
        inv.events
            .iter()
            .map(|e| e["key"].as_i64().unwrap())
            .collect()
    };
    let svc = serve(&loc, &keys, &sim).await;
    sim.control().apply_changes(30);
    let newest = *sim_keys(&sim).last().unwrap();
    let first = until(
        15,
        || stored_event_keys(&svc),
        |k| k.last() == Some(&newest),
    )
    .await;
    assert_eq!(first.last(), Some(&newest));
    svc.shutdown().await;
    // vCenter keeps talking while the service is down.
    sim.control().apply_changes(40);
    let svc = serve(&loc, &keys, &sim).await;
    sim.control().apply_changes(10);
    let newest = *sim_keys(&sim).last().unwrap();
    let stored = until(
        15,
        || stored_event_keys(&svc),
        |k| k.last() == Some(&newest),
    )
    .await;
    let start = first[0];
    let expected: Vec<i64> = sim_keys(&sim).into_iter().filter(|k| *k >= start).collect();
    assert_eq!(
        stored, expected,
        "every event from the first stored one, once"
    );
    svc.shutdown().await;
    sim.shutdown().await;
}

fn event(key: i64, at: DateTime<Utc>) -> (Vec<String>, EventRecord) {
    (
        vec!["vm-1".into(), "host-1".into()],
        EventRecord {
            key,
            event_type: "VmPoweredOnEvent".into(),
            created: Some(at),
            message: format!("event {key}"),
            user: None,
        },
    )
}

async fn a_batch_written_twice_is_stored_once_and_retention_prunes_in_batches(loc: StoreLocation) {
    let store = Store::open(&loc).await.expect("store");
    let now = micros(Utc::now());
    let old = now - chrono::Duration::days(40);
    let batch = HistoryBatch {
        events: (1..=7)
            .map(|k| event(k, if k <= 5 { old } else { now }))
            .collect(),
        ..HistoryBatch::default()
    };
    store.write_history(CONN, &batch).await.expect("write");
    // A retry of a batch that did commit changes nothing.
    store
        .write_history(CONN, &batch)
        .await
        .expect("write again");
    let all = |store: Store| async move {
        let q = TimelineQuery {
            connection_id: Some(CONN.into()),
            moid: Some("host-1".into()),
            events: true,
            tasks: true,
            alerts: true,
            from: None,
            to: None,
        };
        store
            .timeline_page(&q, 100, None)
            .await
            .expect("timeline")
            .iter()
            .map(|r| r.key.parse::<i64>().unwrap())
            .collect::<Vec<_>>()
    };
    assert_eq!(all(store.clone()).await, vec![7, 6, 5, 4, 3, 2, 1]);
    let before = now - chrono::Duration::days(30);
    assert_eq!(
        store.prune_history(CONN, before, 2).await.expect("prune"),
        2
    );
    assert_eq!(
        store.prune_history(CONN, before, 2).await.expect("prune"),
        2
    );
    assert_eq!(
        store.prune_history(CONN, before, 2).await.expect("prune"),
        1
    );
    assert_eq!(
        store.prune_history(CONN, before, 2).await.expect("prune"),
        0
    );
    assert_eq!(all(store.clone()).await, vec![7, 6]);
    // Retention never moves the event cursor back.
    let resume = store.history_resume(CONN).await.expect("resume");
    assert_eq!(resume.last_event_key, Some(7));
    assert!(resume.open.is_empty());
    store.close().await;
}
