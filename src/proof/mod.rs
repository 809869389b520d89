//! `pulse-vsphere proof`: the phase-1 proof run against one vCenter (scenarios VC-0 to VC-8 of
//! Pulse's proof matrix), through the same path a saved connection takes (the connection
//! test, the registry, a collector, the GraphQL server with an admin and an assistant
//! credential) on a scratch store, written as a dated record (docs/proof.md).

mod assistant;
mod harness;
mod onboarding;
mod projection;
pub mod record;
mod signals;
mod truth;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use serde_json::{json, Value};

use crate::auth::Role;
use crate::store::{ProofEntry, Store, StoreError};
use crate::vcenter::client::SUPPORTED_RELEASES;
use crate::vcenter::methods::{self, MethodKind};
use crate::vcenter::reads::privileges::{self, PHASE1_PRIVILEGES};
use crate::vcenter::{ClientConfig, FailureClass, VcClient};
use harness::Harness;
use onboarding::{Saved, CONNECTIONS};
use record::{
    EntityPrivileges, Method, Privileges, Record, Scenario, Status, Tool, Vcenter, Verdict,
    VersionFloor, RECORD_KIND,
};

const VIEW_READ: &[&str] = &["System.View", "System.Read"];

/// What an operator gives `proof`.
pub struct ProofOptions {
    pub client: ClientConfig,
    /// The same connection as the onboarding input (`VsphereConnectionInput`), password included.
    pub input: Value,
    /// Where the record goes.
    pub out: PathBuf,
    /// How long to wait for the first sync and the first metrics pass.
    pub wait: Duration,
}

/// What the scenarios share.
pub struct Context<'a> {
    harness: &'a Harness,
    client: &'a VcClient,
    input: Value,
    instance_uuid: String,
    wait: Duration,
    stop: Arc<AtomicBool>,
}

fn scenarios() -> Vec<Scenario> {
    let all = ["System.Anonymous", "System.View", "System.Read"];
    vec![
        Scenario::new(
            "VC-0",
            "capability: identity, version, build, instanceUuid, release, apiType",
            &[],
        ),
        Scenario::new("VC-1", "onboarding test and its failure classes", &all),
        Scenario::new("VC-2", "masked-secret retest of the saved connection", &all),
        Scenario::new(
            "VC-3",
            "agent/vm/storage projection reconciled with vCenter",
            VIEW_READ,
        ),
        Scenario::new("VC-4", "datastores and snapshot trees", VIEW_READ),
        Scenario::new(
            "VC-5",
            "alarms, overall health, incidents, events, tasks",
            VIEW_READ,
        ),
        Scenario::new(
            "VC-6",
            "assistant query pack with the assistant credential",
            &[],
        ),
        Scenario::new("VC-7", "exclusions, and every vCenter call a read", &[]),
        Scenario::new("VC-8", "metrics, uptime and guest filesystems", VIEW_READ),
    ]
}

fn new_record(url: &str, user: &str) -> Record {
    let now = Utc::now();
    Record {
        kind: RECORD_KIND,
        format: 1,
        date: now.format("%Y-%m-%d").to_string(),
        started_at: now.to_rfc3339(),
        finished_at: String::new(),
        verdict: Verdict::Fail,
        reason: None,
        simulated: false,
        simulation_evidence: None,
        tool: Tool {
            name: "pulse-vsphere",
            version: env!("CARGO_PKG_VERSION"),
        },
        vcenter: Vcenter {
            url: url.to_string(),
            ..Vcenter::default()
        },
        version_floor: VersionFloor {
            floor_release: SUPPORTED_RELEASES[SUPPORTED_RELEASES.len() - 1].to_string(),
            observed_version: None,
            observed_build: None,
            negotiated_release: None,
            meets_floor: false,
        },
        scenarios: scenarios(),
        privileges: Privileges {
            user: user.to_string(),
            ..Privileges::default()
        },
        methods: Vec::new(),
        sessions_logged_out: false,
    }
}

/// Whether the endpoint is the built-in simulator, by what it answers: its control API at
/// `/_sim/` (loopback-only, refusing others with its own message). vCenter has no such path.
async fn simulated(c: &VcClient) -> Option<String> {
    let (status, body) = c.probe("/_sim/stats").await.ok()?;
    let body: Value = serde_json::from_slice(&body).unwrap_or_default();
    let stats =
        status == 200 && body.get("sessions").is_some() && body.get("requests_total").is_some();
    let refused = status == 403 && body["error"].as_str().is_some_and(|e| e.contains("/_sim/"));
    (stats || refused)
        .then(|| format!("GET /_sim/stats answered {status} with the simulator's control API"))
}

fn scenario<'a>(r: &'a mut Record, id: &str) -> &'a mut Scenario {
    let i = r.scenarios.iter().position(|s| s.id == id).unwrap_or(0);
    &mut r.scenarios[i]
}

/// Waits (bounded) until the saved connection has published a snapshot read at or after
/// `since` (taken before the step that starts the sync, so a quick sync is not missed).
async fn synced(
    cx: &Context<'_>,
    saved: &Saved,
    since: chrono::DateTime<Utc>,
) -> Result<(), String> {
    let deadline = tokio::time::Instant::now() + cx.wait;
    loop {
        let d = cx
            .harness
            .query(Role::Admin, CONNECTIONS, json!({}))
            .await
            .map_err(|e| e.0)?;
        let c = d["vsphereConnections"]
            .as_array()
            .and_then(|l| l.iter().find(|c| c["id"] == saved.id.as_str()).cloned())
            .unwrap_or_default();
        let last = c["lastSuccess"]
            .as_str()
            .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok());
        if last.is_some_and(|t| t >= since) && c["state"] != "connecting" {
            return Ok(());
        }
        if cx.stopped() {
            return Err("interrupted".into());
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(format!(
                "no full sync within {} s (state {}, {})",
                cx.wait.as_secs(),
                c["state"],
                c["healthIssues"]
            ));
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// VC-0: who answers, which release both sides speak, and that it is vCenter at or above the
/// floor. `Err` is a reason the proof cannot run at all.
async fn capability(r: &mut Record, c: &VcClient) -> Result<bool, String> {
    let s = scenario(r, "VC-0");
    match c.negotiate().await {
        Ok(n) => {
            let a = &n.content.about;
            r.vcenter.name = a.full_name.clone();
            r.vcenter.version = a.version.clone();
            r.vcenter.build = a.build.clone();
            r.vcenter.instance_uuid = a.instance_uuid.clone();
            r.vcenter.api_type = a.api_type.clone();
            r.vcenter.negotiated_release = Some(n.release.clone());
            r.version_floor.observed_version = Some(a.version.clone());
            r.version_floor.observed_build = Some(a.build.clone());
            r.version_floor.negotiated_release = Some(n.release.clone());
            r.version_floor.meets_floor = true;
            let s = scenario(r, "VC-0");
            s.see(format!(
                "{} (version {}, build {})",
                a.full_name, a.version, a.build
            ));
            s.check(
                a.instance_uuid.is_some(),
                format!(
                    "instanceUuid {}",
                    a.instance_uuid.as_deref().unwrap_or("missing")
                ),
            );
            s.see(format!(
                "negotiated VI JSON release {} (floor {})",
                n.release,
                SUPPORTED_RELEASES[SUPPORTED_RELEASES.len() - 1]
            ));
            let vc = n.require_vcenter();
            s.check(vc.is_ok(), format!("about.apiType {}", a.api_type));
            s.finish();
            Ok(s.status == Status::Pass)
        }
        Err(e)
            if matches!(
                e.class,
                FailureClass::UnsupportedVersionFloor | FailureClass::Phase1FloorUnmet
            ) =>
        {
            s.check(false, format!("{}: {}", e.class, e.message));
            s.finish();
            Ok(false)
        }
        Err(e) => Err(format!("{}: {}", e.class, e.message)),
    }
}

/// The user's privileges on the root folder and one host, VM and datastore of the graph.
async fn privileges_of(r: &mut Record, c: &VcClient, sample: &projection::Served) {
    let Ok(n) = c.negotiate().await else { return };
    let mut entities = vec![n.content.root_folder.clone()];
    for (kind, list) in [
        ("HostSystem", &sample.hosts),
        ("VirtualMachine", &sample.vms),
        ("Datastore", &sample.datastores),
    ] {
        if let Some(m) = list.first().and_then(|x| x["vsphere"]["moid"].as_str()) {
            entities.push(crate::vcenter::MoRef::new(kind, m));
        }
    }
    match privileges::user_privileges(c, &entities).await {
        Ok(held) => {
            r.privileges.held = entities
                .iter()
                .zip(held)
                .map(|(e, p)| EntityPrivileges {
                    object: format!("{}:{}", e.kind, e.value),
                    privileges: p,
                })
                .collect();
        }
        Err(e) => r.privileges.error = Some(format!("{}: {}", e.class, e.message)),
    }
    let on_all = |p: &str| {
        !r.privileges.held.is_empty()
            && r.privileges
                .held
                .iter()
                .all(|h| h.privileges.iter().any(|x| x == p))
    };
    r.privileges.missing_from_bundle = PHASE1_PRIVILEGES
        .iter()
        .filter(|p| !on_all(p))
        .map(|p| p.to_string())
        .collect();
    let mut minimal: Vec<String> = r
        .scenarios
        .iter()
        .filter(|s| s.status == Status::Pass)
        .flat_map(|s| s.privileges_needed.iter().map(|p| p.to_string()))
        .filter(|p| on_all(p))
        .collect();
    minimal.sort();
    minimal.dedup();
    r.privileges.minimal_set_that_passed = minimal;
}

/// The scenarios after VC-0, on a running scratch service. An interrupt is seen between
/// steps, never inside one: a step dropped halfway could leave a login in flight, a session on
/// vCenter nobody logs out.
async fn scenarios_on(r: &mut Record, cx: &Context<'_>) {
    let Some(mut saved) = onboarding::vc1(scenario(r, "VC-1"), cx).await else {
        return;
    };
    if cx.stopped() {
        return;
    }
    onboarding::vc2(scenario(r, "VC-2"), cx, &saved).await;
    if let Err(e) = synced(cx, &saved, saved.created_at).await {
        for id in ["VC-3", "VC-4", "VC-5", "VC-6", "VC-7", "VC-8"] {
            scenario(r, id).not_run(format!("the saved connection never synced: {e}"));
        }
        return;
    }
    let now = match projection::served(cx, &saved).await {
        Ok(now) => now,
        Err(e) => {
            scenario(r, "VC-3").not_run(format!("reading the graph: {e}"));
            return;
        }
    };
    projection::vc3(scenario(r, "VC-3"), cx, &mut saved, &now).await;
    if cx.stopped() {
        return;
    }
    projection::vc4(scenario(r, "VC-4"), cx, &now).await;
    signals::vc5(scenario(r, "VC-5"), cx, &saved, &now).await;
    if cx.stopped() {
        return;
    }
    signals::vc8(scenario(r, "VC-8"), cx, &saved).await;
    assistant::vc6(scenario(r, "VC-6"), cx, &now).await;
    assistant::vc7(scenario(r, "VC-7"), cx, &now).await;
    privileges_of(r, cx.client, &now).await;
}

impl Context<'_> {
    /// Whether the operator interrupted the run.
    fn stopped(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }
}

/// Runs the proof; `interrupt` (Ctrl-C) stops it after the step under way, logging every
/// session out. The record is complete whatever happened; its verdict gives the exit status.
pub async fn run(
    opts: ProofOptions,
    interrupt: impl std::future::Future<Output = ()> + Send + 'static,
) -> Record {
    methods::record_calls();
    let stop = Arc::new(AtomicBool::new(false));
    let watcher = {
        let stop = stop.clone();
        tokio::spawn(async move {
            interrupt.await;
            stop.store(true, Ordering::Relaxed);
        })
    };
    let r = run_until(opts, &stop).await;
    watcher.abort();
    r
}

async fn run_until(opts: ProofOptions, stop: &Arc<AtomicBool>) -> Record {
    let mut r = new_record(&opts.client.url, &opts.client.username);
    let client = match VcClient::new(opts.client.clone()) {
        Ok(c) => c,
        Err(e) => return could_not_run(r, format!("{}: {}", e.class, e.message)),
    };
    r.simulation_evidence = simulated(&client).await;
    r.simulated = r.simulation_evidence.is_some();
    match capability(&mut r, &client).await {
        Err(e) => return could_not_run(r, e),
        Ok(false) => return finish(r, &client).await,
        Ok(true) => {}
    }
    if let Err(e) = client.login().await {
        client.logout().await;
        return could_not_run(
            r,
            format!("the proof's own login: {}: {}", e.class, e.message),
        );
    }
    let harness = match Harness::start(true).await {
        Ok(h) => h,
        Err(e) => {
            client.logout().await;
            return could_not_run(r, e.to_string());
        }
    };
    let cx = Context {
        harness: &harness,
        client: &client,
        input: opts.input.clone(),
        instance_uuid: r.vcenter.instance_uuid.clone().unwrap_or_default(),
        wait: opts.wait,
        stop: stop.clone(),
    };
    if !cx.stopped() {
        scenarios_on(&mut r, &cx).await;
    }
    harness.shutdown().await;
    client.logout().await;
    if stop.load(Ordering::Relaxed) {
        return could_not_run(r, "interrupted".into());
    }
    finish(r, &client).await
}

fn could_not_run(mut r: Record, reason: String) -> Record {
    r.verdict = Verdict::CouldNotRun;
    r.reason = Some(reason);
    r.methods = recorded_methods();
    r.finished_at = Utc::now().to_rfc3339();
    r
}

fn recorded_methods() -> Vec<Method> {
    methods::recorded_calls()
        .into_iter()
        .map(|(family, call)| Method {
            kind: methods::classify(family, &call),
            family,
            call,
        })
        .collect()
}

async fn finish(mut r: Record, client: &VcClient) -> Record {
    r.methods = recorded_methods();
    r.sessions_logged_out = client.holds_sessions().await == (false, false);
    let methods = r.methods.clone();
    let vc7 = scenario(&mut r, "VC-7");
    if !vc7.evidence.is_empty() {
        assistant::methods(vc7, &methods);
    }
    for s in r.scenarios.iter_mut() {
        if s.status == Status::NotRun && s.reason.is_none() {
            s.reason = Some("not run: an earlier scenario stopped the proof".into());
        }
    }
    r.finished_at = Utc::now().to_rfc3339();
    r.settle();
    r
}

/// Writes `DIR/<stem>.md` and `.json`; their paths.
/// A second run on the same day gets `-2`, `-3`, ...: a record is never overwritten.
pub fn write(r: &Record, dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir)?;
    let stem = (1..)
        .map(|n| match n {
            1 => r.file_stem(),
            n => format!("{}-{n}", r.file_stem()),
        })
        .find(|stem| {
            !dir.join(format!("{stem}.json")).exists() && !dir.join(format!("{stem}.md")).exists()
        })
        .unwrap_or_else(|| r.file_stem());
    let md = dir.join(format!("{stem}.md"));
    let js = dir.join(format!("{stem}.json"));
    std::fs::write(&md, r.to_markdown())?;
    std::fs::write(&js, r.to_json())?;
    Ok(vec![md, js])
}

/// Attaches a record to the operator's store, where the platform row reports it.
pub async fn attach(store: &Store, r: &Record) -> Result<(), StoreError> {
    store
        .add_proof(&ProofEntry {
            recorded_at: crate::store::stored_now(),
            date: r.date.clone(),
            verdict: r.verdict.as_str().into(),
            simulated: r.simulated,
            vcenter_version: Some(r.vcenter.version.clone()).filter(|v| !v.is_empty()),
            record: r.to_json(),
        })
        .await
}

/// How many calls the run made of each kind, for the summary line.
pub fn method_summary(r: &Record) -> String {
    let n = |k: MethodKind| r.methods.iter().filter(|m| m.kind == k).count();
    format!(
        "{} reads, {} session, {} session-scoped, {} unknown",
        n(MethodKind::Read),
        n(MethodKind::Session),
        n(MethodKind::SessionScoped),
        n(MethodKind::Unknown)
    )
}
