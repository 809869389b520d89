//! The soak driver (issue 14), shared by `benches/soak.rs` (the long run) and `tests/soak.rs`
//! (the short CI run) through `#[path]`.
//!
//! Both binaries run as their own processes, as an operator runs them: `pulse-vsphere simulate`
//! and `pulse-vsphere serve --config` pointing at it. The driver changes the simulator's
//! inventory at a steady rate, cycles a fault schedule with healthy gaps between, and watches
//! the service only from outside: `/proc` for its RSS and CPU, the simulator's `/_sim/stats`
//! for sessions and session objects, GraphQL for the connection's health and counts, and
//! `/_sim/inventory` for the counts they must reconcile with.
#![allow(dead_code)]

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

#[path = "process.rs"]
mod process;
use process::{clock_ticks_per_sec, cpu_ticks, rss_kb, spawn};

/// One kind of trouble the schedule injects through the simulator's `/_sim/` API.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// Half of all requests of both API families answer 503 while it is held.
    ErrorRate,
    /// 1-2 s added to every request of both families while it is held.
    Latency,
    /// Every session ends at once (idle timeout); nothing is held.
    ExpireSessions,
    /// vCenter restarts: sessions, views, filters and collectors gone; nothing is held.
    Restart,
    /// Every session ends and logins are refused (a session limit of 0) while it is held; then
    /// the limit is 1 per family until the phase has settled, so the service must recover
    /// with no more than one session of each.
    SessionLimit,
}

impl Fault {
    /// The whole schedule. A certificate rotation is not in it: with a pinned thumbprint the
    /// service must refuse the new certificate until an operator trusts it, so it cannot
    /// recover on its own (that refusal has its own tests).
    pub const ALL: [Fault; 5] = [
        Fault::ErrorRate,
        Fault::Latency,
        Fault::ExpireSessions,
        Fault::Restart,
        Fault::SessionLimit,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Fault::ErrorRate => "error_rate 0.5",
            Fault::Latency => "latency 1-2 s",
            Fault::ExpireSessions => "expire sessions",
            Fault::Restart => "vCenter restart",
            Fault::SessionLimit => "session limit 0, then 1",
        }
    }

    fn held(self) -> bool {
        matches!(
            self,
            Fault::ErrorRate | Fault::Latency | Fault::SessionLimit
        )
    }

    /// Whether the service's sessions end, so recovering means logging in again.
    fn ends_sessions(self) -> bool {
        matches!(
            self,
            Fault::ExpireSessions | Fault::Restart | Fault::SessionLimit
        )
    }
}

/// What to run and the invariants' bounds.
#[derive(Clone, Debug)]
pub struct Plan {
    /// Simulator profile (`medium`, `large`, ...).
    pub profile: String,
    /// Fault cycles start while less than this has passed since the baseline began; at least
    /// one full cycle always runs.
    pub duration: Duration,
    /// Random inventory changes asked of the simulator each second, throughout.
    pub changes_per_sec: u32,
    pub sample_every: Duration,
    /// How long a held fault lasts.
    pub fault_for: Duration,
    /// The healthy window after each recovery (and the baseline) where sessions and objects
    /// are checked.
    pub settle_for: Duration,
    /// After a fault clears, the service must publish a snapshot again with counts that
    /// reconcile, and be `healthy`, within this.
    pub recover_within: Duration,
    /// The first sync after start must complete within this.
    pub first_sync_within: Duration,
    /// RSS grows without bound when the median of the last third of the samples exceeds the
    /// median of the first third by more than this factor.
    pub rss_growth_limit: f64,
    /// The connection's `poll_interval_seconds` (events, tasks, metrics).
    pub poll_interval_secs: u32,
    pub faults: Vec<Fault>,
}

/// What a run found.
pub struct Outcome {
    /// Markdown: the per-phase table and the summary.
    pub report: String,
    /// Invariants that failed; empty when the run passed.
    pub failures: Vec<String>,
}

const OBJECTS: [&str; 6] = [
    "views",
    "filters",
    "property_collectors",
    "event_collectors",
    "task_collectors",
    "retrieve_tokens",
];

const HEALTH: &str = "{ vsphereConnections { state lastErrorClass issues
    rest { loggedIn } viJson { loggedIn } contribution { staleSeconds } }
  vsphereHosts(first: 0) { totalCount } vsphereVms(first: 0) { totalCount }
  vsphereDatastores(first: 0) { totalCount } }";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Stage {
    Sync,
    Baseline,
    Fault,
    Recovering,
    Settled,
}

#[derive(Clone, Debug)]
struct Sample {
    /// Seconds since the service started.
    t: f64,
    phase: usize,
    stage: Stage,
    rss_kb: u64,
    cpu_ticks: u64,
    /// Active sessions (REST, VI JSON); `None` when `/_sim/stats` did not answer.
    sessions: Option<[u64; 2]>,
    vim_created: u64,
    objects: Option<[u64; 6]>,
    /// `state` of the connection, or why GraphQL did not answer.
    state: String,
    issues: Vec<String>,
    stale: Option<f64>,
    vim_logged_in: bool,
    /// Hosts, VMs, datastores: GraphQL's `totalCount`s and the simulator's.
    counts: Option<[u64; 3]>,
    sim_counts: Option<[u64; 3]>,
}

impl Sample {
    fn reconciled(&self) -> bool {
        self.counts.is_some() && self.counts == self.sim_counts
    }
}

struct Phase {
    name: String,
    fault: Option<Fault>,
    /// When the phase's fault was applied, seconds since start.
    applied_at: f64,
    /// When the fault cleared (the action, for faults that are not held), seconds since start.
    cleared_at: Option<f64>,
    vim_created_at_fault: u64,
    fresh_after: Option<f64>,
    healthy_after: Option<f64>,
}

struct Driver {
    http: reqwest::Client,
    sim: String,
    graphql: String,
    pid: u32,
    started: Instant,
}

impl Driver {
    async fn post_sim(&self, path: &str, body: Option<Value>) {
        let mut req = self.http.post(format!("{}{path}", self.sim));
        if let Some(b) = body {
            req = req.json(&b);
        }
        let r = req.send().await.expect("the /_sim/ API answers");
        assert!(r.status().is_success(), "{path}: {}", r.status());
    }

    async fn faults(&self, patch: Value) {
        self.post_sim("/_sim/faults", Some(patch)).await;
    }

    async fn apply(&self, f: Fault) {
        match f {
            Fault::ErrorRate => {
                self.faults(json!({"error_rate": {"rest": 0.5, "vim": 0.5}}))
                    .await
            }
            Fault::Latency => {
                let l = json!({"fixed_ms": 1000, "jitter_ms": 1000});
                self.faults(json!({"latency": {"rest": l, "vim": l}})).await
            }
            Fault::ExpireSessions => self.post_sim("/_sim/expire-sessions", None).await,
            Fault::Restart => self.post_sim("/_sim/restart", None).await,
            Fault::SessionLimit => {
                self.faults(json!({"session_limit": 0})).await;
                self.post_sim("/_sim/expire-sessions", None).await;
            }
        }
    }

    async fn clear(&self, f: Fault) {
        match f {
            Fault::ErrorRate => {
                self.faults(json!({"error_rate": {"rest": 0.0, "vim": 0.0}}))
                    .await
            }
            Fault::Latency => self.faults(json!({"latency": null})).await,
            Fault::SessionLimit => self.faults(json!({"session_limit": 1})).await,
            Fault::ExpireSessions | Fault::Restart => {}
        }
    }

    /// After the phase settled.
    async fn release(&self, f: Fault) {
        if f == Fault::SessionLimit {
            self.faults(json!({"session_limit": null})).await;
        }
    }

    async fn get_json(&self, url: String) -> Option<Value> {
        let r = self.http.get(url).send().await.ok()?;
        r.json().await.ok()
    }

    async fn sample(&self, phase: usize, stage: Stage) -> Sample {
        let gql = async {
            let r = self
                .http
                .post(&self.graphql)
                .json(&json!({"query": HEALTH}))
                .send()
                .await
                .map_err(|e| format!("unanswered: {e}"))?;
            r.json::<Value>()
                .await
                .map_err(|e| format!("unanswered: {e}"))
        };
        let stats = self.get_json(format!("{}/_sim/stats", self.sim));
        let inv = self.get_json(format!("{}/_sim/inventory", self.sim));
        let (gql, stats, inv) = tokio::join!(gql, stats, inv);
        let n = |v: &Value| v.as_u64().unwrap_or(0);
        let sessions = stats.as_ref().map(|s| {
            [
                n(&s["sessions"]["rest"]["active"]),
                n(&s["sessions"]["vim"]["active"]),
            ]
        });
        let objects = stats.as_ref().map(|s| OBJECTS.map(|o| n(&s[o])));
        let vim_created = stats
            .as_ref()
            .map_or(0, |s| n(&s["sessions"]["vim"]["created"]));
        let sim_counts = inv.map(|i| {
            let t = &i["by_type"];
            [
                n(&t["HostSystem"]),
                n(&t["VirtualMachine"]),
                n(&t["Datastore"]),
            ]
        });
        let (state, issues, stale, vim_logged_in, counts) = match gql {
            Ok(v) if v["errors"].is_null() => {
                let d = &v["data"];
                let c = &d["vsphereConnections"][0];
                let issues = c["issues"]
                    .as_array()
                    .map(|a| {
                        a.iter()
                            .filter_map(|i| i.as_str().map(str::to_string))
                            .collect()
                    })
                    .unwrap_or_default();
                let counts = [
                    n(&d["vsphereHosts"]["totalCount"]),
                    n(&d["vsphereVms"]["totalCount"]),
                    n(&d["vsphereDatastores"]["totalCount"]),
                ];
                (
                    c["state"].as_str().unwrap_or("none").to_string(),
                    issues,
                    c["contribution"]["staleSeconds"].as_f64(),
                    c["viJson"]["loggedIn"].as_bool().unwrap_or(false),
                    Some(counts),
                )
            }
            Ok(v) => (
                format!("errors: {}", v["errors"]),
                vec![],
                None,
                false,
                None,
            ),
            Err(e) => (e, vec![], None, false, None),
        };
        Sample {
            t: self.started.elapsed().as_secs_f64(),
            phase,
            stage,
            rss_kb: rss_kb(self.pid),
            cpu_ticks: cpu_ticks(self.pid),
            sessions,
            vim_created,
            objects,
            state,
            issues,
            stale,
            vim_logged_in,
            counts,
            sim_counts,
        }
    }
}

/// Whether `s` shows a snapshot published after the fault cleared, with counts that
/// reconcile, over a VI JSON session opened after the fault when the fault ended the old one.
fn fresh(s: &Sample, p: &Phase) -> bool {
    let Some(cleared) = p.cleared_at else {
        return false;
    };
    let published_after = s.stale.is_some_and(|st| st < s.t - cleared);
    let relogged =
        !p.fault.is_some_and(Fault::ends_sessions) || s.vim_created > p.vim_created_at_fault;
    published_after && relogged && s.vim_logged_in && s.reconciled()
}

fn median(v: &mut [f64]) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn mb(kb: u64) -> f64 {
    kb as f64 / 1024.0
}

/// Runs the plan against `bin` (the `pulse-vsphere` binary): starts both processes, drives the
/// schedule, stops the service with SIGTERM, and judges the samples.
pub async fn run(bin: &Path, plan: &Plan) -> Outcome {
    let dir: PathBuf = std::env::temp_dir().join(format!(
        "pv-soak-{}-{}",
        std::process::id(),
        chrono::Utc::now().timestamp_millis()
    ));
    std::fs::create_dir_all(&dir).expect("scratch dir");
    let (sim_proc, info) = spawn(
        bin,
        &[
            "simulate",
            "--profile",
            &plan.profile,
            "--listen",
            "127.0.0.1:0",
            // The driver makes the changes, so their rate is the plan's.
            "--change-rate",
            "0",
        ],
        &[("RUST_LOG", "warn")],
        &dir.join("simulate.log"),
    )
    .await;
    let sim = info["base_url"].as_str().expect("base_url").to_string();
    let config = dir.join("pulse-vsphere.toml");
    std::fs::write(
        &config,
        format!(
            "listen = \"127.0.0.1:0\"\n\n[store]\ndata_dir = \"{data}\"\n\n[[connection]]\n\
             id = \"soak\"\nname = \"Soak vCenter\"\nurl = \"{sim}\"\nusername = \"admin\"\n\
             password_env = \"PULSE_VSPHERE_SOAK_PASSWORD\"\ntls_thumbprint = \"{tp}\"\n\
             poll_interval_seconds = {poll}\n",
            data = dir.join("data").display(),
            tp = info["thumbprint"].as_str().expect("thumbprint"),
            poll = plan.poll_interval_secs,
        ),
    )
    .expect("write config");
    let serve_log = dir.join("serve.log");
    let (mut service, served) = spawn(
        bin,
        &["serve", "--config", config.to_str().expect("utf-8 path")],
        &[
            ("PULSE_VSPHERE_SOAK_PASSWORD", "admin"),
            ("RUST_LOG", "info"),
        ],
        &serve_log,
    )
    .await;
    let d = Driver {
        // Only the loopback control API is read with this client; the service pins the thumbprint.
        http: reqwest::Client::builder()
            .danger_accept_invalid_certs(true)
            .no_proxy()
            .timeout(Duration::from_secs(15))
            .build()
            .expect("client"),
        sim,
        graphql: served["graphql"].as_str().expect("graphql url").to_string(),
        pid: service.pid,
        started: Instant::now(),
    };

    let applied = Arc::new(AtomicU64::new(0));
    let change_errors = Arc::new(AtomicU64::new(0));
    let changes = {
        let (http, url) = (d.http.clone(), format!("{}/_sim/changes", d.sim));
        let (applied, errors) = (applied.clone(), change_errors.clone());
        let count = plan.changes_per_sec;
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(1));
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                let r = http.post(&url).json(&json!({"count": count})).send().await;
                match r {
                    Ok(r) if r.status().is_success() => {
                        let v: Value = r.json().await.unwrap_or_default();
                        applied.fetch_add(v["applied"].as_u64().unwrap_or(0), Ordering::Relaxed);
                    }
                    _ => {
                        errors.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
        })
    };

    let mut failures = Vec::new();
    let mut samples: Vec<Sample> = Vec::new();
    let mut phases = vec![Phase {
        name: "first sync".into(),
        fault: None,
        applied_at: 0.0,
        cleared_at: Some(0.0),
        vim_created_at_fault: 0,
        fresh_after: None,
        healthy_after: None,
    }];
    let mut stage = Stage::Sync;
    let mut stage_since = 0.0;
    let mut baseline_from = 0.0;
    let mut next_fault = 0;
    let mut tick = tokio::time::interval(plan.sample_every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let i = phases.len() - 1;
        let s = d.sample(i, stage).await;
        let t = s.t;
        let p = &mut phases[i];
        let since = t - p.cleared_at.unwrap_or(t);
        if matches!(stage, Stage::Sync | Stage::Recovering) {
            if p.fresh_after.is_none() && fresh(&s, p) {
                p.fresh_after = Some(since);
            }
            if p.healthy_after.is_none() && fresh(&s, p) && s.state == "healthy" {
                p.healthy_after = Some(since);
            }
        }
        let fault = p.fault;
        let healthy = p.healthy_after.is_some();
        samples.push(s);
        let in_stage = t - stage_since;
        let was = (phases.len(), stage);
        match stage {
            Stage::Sync if healthy => {
                phases.push(Phase {
                    name: "baseline (no fault)".into(),
                    fault: None,
                    applied_at: t,
                    cleared_at: None,
                    vim_created_at_fault: 0,
                    fresh_after: None,
                    healthy_after: None,
                });
                (stage, stage_since, baseline_from) = (Stage::Baseline, t, t);
            }
            Stage::Sync if in_stage > plan.first_sync_within.as_secs_f64() => {
                failures.push(format!(
                    "no healthy, reconciled snapshot {:.0} s after start (last state {:?}); see {}",
                    in_stage,
                    samples.last().map(|s| s.state.clone()),
                    serve_log.display()
                ));
                break;
            }
            Stage::Fault if in_stage >= plan.fault_for.as_secs_f64() => {
                let f = fault.expect("a fault phase");
                d.clear(f).await;
                phases[i].cleared_at = Some(d.started.elapsed().as_secs_f64());
                (stage, stage_since) = (Stage::Recovering, t);
            }
            Stage::Recovering if healthy || since > plan.recover_within.as_secs_f64() => {
                (stage, stage_since) = (Stage::Settled, t);
            }
            Stage::Baseline | Stage::Settled if in_stage >= plan.settle_for.as_secs_f64() => {
                if let Some(f) = fault {
                    d.release(f).await;
                }
                let cycles_done = next_fault >= plan.faults.len();
                if cycles_done && t - baseline_from >= plan.duration.as_secs_f64() {
                    break;
                }
                let f = plan.faults[next_fault % plan.faults.len()];
                next_fault += 1;
                let vim_created = samples.last().map_or(0, |s| s.vim_created);
                d.apply(f).await;
                let now = d.started.elapsed().as_secs_f64();
                phases.push(Phase {
                    name: format!("{} (#{})", f.name(), next_fault),
                    fault: Some(f),
                    applied_at: now,
                    cleared_at: (!f.held()).then_some(now),
                    vim_created_at_fault: vim_created,
                    fresh_after: None,
                    healthy_after: None,
                });
                stage = if f.held() {
                    Stage::Fault
                } else {
                    Stage::Recovering
                };
                stage_since = now;
            }
            _ => {}
        }
        // Progress on stderr: a long run otherwise prints nothing until its report.
        if was != (phases.len(), stage) {
            let p = &phases[phases.len() - 1];
            eprintln!("soak {t:>5.0} s: {} {stage:?}", p.name);
        }
    }
    changes.abort();

    // Shutdown: SIGTERM, a clean exit, and every session of the simulator logged out.
    let term = std::process::Command::new("kill")
        .args(["-TERM", &service.pid.to_string()])
        .status()
        .expect("kill");
    assert!(term.success(), "SIGTERM sent");
    let t_term = Instant::now();
    let exit = tokio::time::timeout(Duration::from_secs(30), service.child.wait()).await;
    let exit_secs = t_term.elapsed().as_secs_f64();
    let exit_code = match exit {
        Ok(Ok(st)) => st.code(),
        _ => None,
    };
    if exit_code != Some(0) {
        failures.push(format!(
            "the service did not exit 0 within 30 s of SIGTERM: {exit_code:?}"
        ));
    }
    let mut after = Value::Null;
    for _ in 0..50 {
        if let Some(s) = d.get_json(format!("{}/_sim/stats", d.sim)).await {
            after = s;
            let open = after["sessions"]["rest"]["active"].as_u64().unwrap_or(1)
                + after["sessions"]["vim"]["active"].as_u64().unwrap_or(1);
            if open == 0 {
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let (rest_left, vim_left) = (
        after["sessions"]["rest"]["active"].as_u64(),
        after["sessions"]["vim"]["active"].as_u64(),
    );
    let objects_left: u64 = OBJECTS.iter().map(|o| after[o].as_u64().unwrap_or(0)).sum();
    if (rest_left, vim_left) != (Some(0), Some(0)) || objects_left != 0 {
        failures.push(format!(
            "after SIGTERM the simulator still has sessions (REST {rest_left:?}, VI JSON \
             {vim_left:?}) or {objects_left} session objects"
        ));
    }
    drop(sim_proc);

    let report = judge(
        plan,
        &phases,
        &samples,
        &mut failures,
        Shutdown {
            exit_code,
            exit_secs,
            sessions_left: (rest_left, vim_left),
            objects_left,
            changes_applied: applied.load(Ordering::Relaxed),
            change_errors: change_errors.load(Ordering::Relaxed),
            serve_log: serve_log.clone(),
            object_calls: after["requests"]
                .as_object()
                .map(|m| {
                    m.iter()
                        .filter(|(k, _)| {
                            ["Create", "Destroy", "Cancel"]
                                .iter()
                                .any(|w| k.contains(w))
                        })
                        .map(|(k, n)| format!("{} {n}", k.trim_start_matches("vim:")))
                        .collect()
                })
                .unwrap_or_default(),
        },
    );
    if failures.is_empty() {
        let _ = std::fs::remove_dir_all(&dir);
    }
    Outcome { report, failures }
}

struct Shutdown {
    exit_code: Option<i32>,
    exit_secs: f64,
    sessions_left: (Option<u64>, Option<u64>),
    objects_left: u64,
    changes_applied: u64,
    change_errors: u64,
    serve_log: PathBuf,
    /// Calls that create or end session objects, as the simulator counted them (503s included).
    object_calls: Vec<String>,
}

/// Checks the invariants on the samples and writes the report.
fn judge(
    plan: &Plan,
    phases: &[Phase],
    samples: &[Sample],
    failures: &mut Vec<String>,
    end: Shutdown,
) -> String {
    let tck = clock_ticks_per_sec();
    let of = |i: usize| samples.iter().filter(move |s| s.phase == i);
    // The steady objects of a healthy service (one view, filter and collector of the change
    // feed); the minimum over the window, so a collector that events or tasks hold for a
    // moment is not counted.
    let min_objects = |i: usize, stage: Stage| -> Option<[u64; 6]> {
        let win: Vec<[u64; 6]> = of(i)
            .filter(|s| s.stage == stage)
            .filter_map(|s| s.objects)
            .collect();
        (!win.is_empty())
            .then(|| std::array::from_fn(|k| win.iter().map(|o| o[k]).min().unwrap_or(0)))
    };
    let baseline = min_objects(1, Stage::Baseline).unwrap_or_default();
    // What the previous settled window held: a leak stays in its session until the session
    // ends, so it is charged to the phase where it first appears, and shown in every phase that
    // still holds it.
    let mut held_before = baseline;

    let mut out = String::new();
    let _ = writeln!(
        out,
        "| phase | fault held | fresh + reconciled after | healthy after | service RSS min / median / max | service CPU | sessions max REST / VI JSON: all / settled | session objects above the baseline | states seen |"
    );
    let _ = writeln!(out, "|---|---|---|---|---|---|---|---|---|");
    for (i, p) in phases.iter().enumerate() {
        let ss: Vec<&Sample> = of(i).collect();
        if ss.is_empty() {
            continue;
        }
        let mut rss: Vec<f64> = ss.iter().map(|s| mb(s.rss_kb)).collect();
        let rss_max = rss.iter().copied().fold(0.0, f64::max);
        let rss_min = rss.iter().copied().fold(f64::MAX, f64::min);
        let rss_med = median(&mut rss);
        let (first, last) = (ss[0], ss[ss.len() - 1]);
        let cpu = if last.t > first.t {
            (last.cpu_ticks.saturating_sub(first.cpu_ticks)) as f64 / tck / (last.t - first.t)
                * 100.0
        } else {
            0.0
        };
        let max_sessions = |settled: bool| {
            let v: Vec<[u64; 2]> = ss
                .iter()
                .filter(|s| !settled || matches!(s.stage, Stage::Settled | Stage::Baseline))
                .filter_map(|s| s.sessions)
                .collect();
            [0, 1].map(|k| v.iter().map(|x| x[k]).max().unwrap_or(0))
        };
        let all = max_sessions(false);
        let settled = max_sessions(true);
        let (mut leaked, mut new_leaks) = (Vec::new(), Vec::new());
        if let Some(m) = min_objects(i, Stage::Settled) {
            for k in 0..OBJECTS.len() {
                if m[k] > baseline[k] {
                    leaked.push(format!("{} {}", OBJECTS[k], m[k] - baseline[k]));
                }
                if m[k] > held_before[k].max(baseline[k]) {
                    new_leaks.push(format!(
                        "{} +{}",
                        OBJECTS[k],
                        m[k] - held_before[k].max(baseline[k])
                    ));
                }
            }
            held_before = m;
        }
        let mut states: Vec<String> = Vec::new();
        for s in &ss {
            let st = if s.state.starts_with("unanswered") {
                "unanswered".to_string()
            } else {
                s.state.clone()
            };
            if !states.contains(&st) {
                states.push(st);
            }
        }
        let secs = |v: Option<f64>| v.map_or("**never**".to_string(), |v| format!("{v:.0} s"));
        let held = match (p.fault, p.cleared_at) {
            (Some(f), Some(c)) if f.held() => format!("{:.0} s", c - p.applied_at),
            (Some(_), _) => "(at once)".to_string(),
            (None, _) => "-".to_string(),
        };
        let judged = p.fault.is_some() || i == 0;
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {:.0} / {:.0} / {:.0} MB | {:.0} % | {} / {} : {} / {} | {} | {} |",
            p.name,
            held,
            if judged { secs(p.fresh_after) } else { "-".into() },
            if judged { secs(p.healthy_after) } else { "-".into() },
            rss_min,
            rss_med,
            rss_max,
            cpu,
            all[0],
            all[1],
            settled[0],
            settled[1],
            if leaked.is_empty() { "0".to_string() } else { leaked.join(", ") },
            states.join(", ")
        );

        if p.fault.is_some() {
            let within = plan.recover_within.as_secs_f64();
            if p.fresh_after.is_none_or(|a| a > within) {
                failures.push(format!(
                    "{}: no fresh, reconciled snapshot within {within:.0} s after the fault cleared",
                    p.name
                ));
            }
            if p.healthy_after.is_none_or(|a| a > within) {
                let last_issues = ss.last().map(|s| (s.state.clone(), s.issues.clone()));
                failures.push(format!(
                    "{}: not healthy within {within:.0} s after the fault cleared (last: {last_issues:?})",
                    p.name
                ));
            }
        }
        if settled.iter().any(|&n| n > 1) {
            failures.push(format!(
                "{}: {} REST / {} VI JSON sessions after the phase settled (at most 1 each)",
                p.name, settled[0], settled[1]
            ));
        }
        if !new_leaks.is_empty() {
            failures.push(format!(
                "{}: session objects left over the settled window, above the baseline {baseline:?} \
                 and what the previous phase held: {}",
                p.name,
                new_leaks.join(", ")
            ));
        }
    }

    // RSS from the baseline on: the first sync's ramp is not growth.
    let mut steady: Vec<&Sample> = samples.iter().filter(|s| s.phase >= 1).collect();
    steady.retain(|s| s.rss_kb > 0);
    let third = steady.len() / 3;
    let (mut first, mut last): (Vec<f64>, Vec<f64>) = (
        steady[..third].iter().map(|s| mb(s.rss_kb)).collect(),
        steady[steady.len() - third..]
            .iter()
            .map(|s| mb(s.rss_kb))
            .collect(),
    );
    let (m1, m3) = (median(&mut first), median(&mut last));
    let growth = if m1 > 0.0 { m3 / m1 } else { 0.0 };
    if third > 0 && growth > plan.rss_growth_limit {
        failures.push(format!(
            "RSS grows: median of the last third {m3:.0} MB against {m1:.0} MB in the first \
             (x{growth:.2}, limit x{:.2})",
            plan.rss_growth_limit
        ));
    }
    if end.change_errors > 0 || end.changes_applied == 0 {
        failures.push(format!(
            "the change driver failed {} times ({} changes applied)",
            end.change_errors, end.changes_applied
        ));
    }
    let span = samples.last().map_or(0.0, |s| s.t);
    let peak = samples.iter().map(|s| s.rss_kb).max().unwrap_or(0);
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "- run: profile `{}`, {:.0} s from the service's start to SIGTERM, {} samples every {:.0} s, {} faults, {} changes applied ({} per second)",
        plan.profile,
        span,
        samples.len(),
        plan.sample_every.as_secs_f64(),
        phases.len().saturating_sub(2),
        end.changes_applied,
        plan.changes_per_sec
    );
    let _ = writeln!(
        out,
        "- RSS growth: median of the last third {m3:.0} MB / first third {m1:.0} MB = x{growth:.2} (limit x{:.2}); peak {:.0} MB",
        plan.rss_growth_limit,
        mb(peak)
    );
    let _ = writeln!(
        out,
        "- baseline session objects ({}): {:?}",
        OBJECTS.join(", "),
        baseline
    );
    let _ = writeln!(
        out,
        "- session object calls (simulator's count, 503s included): {}",
        end.object_calls.join(", ")
    );
    let _ = writeln!(
        out,
        "- SIGTERM: exit {:?} after {:.1} s; simulator sessions left REST {:?} / VI JSON {:?}, session objects left {}",
        end.exit_code, end.exit_secs, end.sessions_left.0, end.sessions_left.1, end.objects_left
    );
    let _ = writeln!(
        out,
        "- invariants: {}",
        if failures.is_empty() {
            "all held".to_string()
        } else {
            format!(
                "{} failed (service log: {})",
                failures.len(),
                end.serve_log.display()
            )
        }
    );
    for f in failures.iter() {
        let _ = writeln!(out, "  - {f}");
    }
    out
}
