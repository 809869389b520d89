//! History at the vCenter maximums: `pulse-vsphere serve` keeping incidents, events and tasks in
//! its store while `pulse-vsphere simulate --profile max` (2,500 hosts, 45,000 VMs) makes 100
//! random changes a second, each its own process. Reports whether the store writer keeps up
//! (its backlog), the transitions, events and tasks written per second, the database size per
//! million events, and the service's peak RSS. SQLite always; PostgreSQL as well when
//! `PULSE_VSPHERE_BENCH_POSTGRES_URL` names a server (a database of its own is created).
//!
//! Run: `cargo bench --bench history_max` (`PULSE_VSPHERE_HISTORY_SECS`, default 120, the churn;
//! `PULSE_VSPHERE_HISTORY_PROFILE`, default `max`).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::json;
use sqlx::Connection;

#[path = "support/process.rs"]
mod process;
use process::{peak_rss_kb, simulate, spawn};

const CHANGES_PER_SEC: u32 = 100;

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The value of one unlabelled series (or the sum over its labels) in a `/metrics` text.
fn series(text: &str, name: &str) -> f64 {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter(|l| l.starts_with(name) && l[name.len()..].starts_with([' ', '{']))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

enum Backend {
    Sqlite(PathBuf),
    Postgres(String),
}

struct Row {
    backend: &'static str,
    churn_s: f64,
    written_per_s: f64,
    transitions_per_s: f64,
    events_per_s: f64,
    /// Events vCenter (the simulator) logged per second of churn.
    logged_per_s: f64,
    tasks_per_s: f64,
    backlog_max: f64,
    backlog_end: f64,
    dropped: f64,
    drain_s: f64,
    events: i64,
    bytes_per_million_events: f64,
    peak_rss_mb: f64,
}

async fn count(db: &Backend, table: &str) -> i64 {
    let sql = format!("SELECT count(*) FROM {table}");
    match db {
        Backend::Sqlite(file) => {
            let url = format!("sqlite://{}?mode=ro", file.display());
            let mut c = sqlx::SqliteConnection::connect(&url).await.expect("sqlite");
            sqlx::query_scalar(&sql)
                .fetch_one(&mut c)
                .await
                .expect("count")
        }
        Backend::Postgres(url) => {
            let mut c = sqlx::PgConnection::connect(url).await.expect("postgres");
            sqlx::query_scalar(&sql)
                .fetch_one(&mut c)
                .await
                .expect("count")
        }
    }
}

/// Events, incident transitions and tasks stored, and the database's size in bytes.
async fn rows(db: &Backend) -> (i64, i64, i64, f64) {
    (
        count(db, "events").await,
        count(db, "incident_transitions").await,
        count(db, "tasks").await,
        size_bytes(db).await,
    )
}

async fn size_bytes(db: &Backend) -> f64 {
    match db {
        Backend::Sqlite(file) => ["", "-wal"]
            .iter()
            .filter_map(|s| std::fs::metadata(format!("{}{s}", file.display())).ok())
            .map(|m| m.len() as f64)
            .sum(),
        Backend::Postgres(url) => {
            let mut c = sqlx::PgConnection::connect(url).await.expect("postgres");
            let n: i64 = sqlx::query_scalar("SELECT pg_database_size(current_database())")
                .fetch_one(&mut c)
                .await
                .expect("size");
            n as f64
        }
    }
}

async fn run(bin: &Path, profile: &str, churn: Duration, backend: Backend, dir: &Path) -> Row {
    let name = match backend {
        Backend::Sqlite(_) => "SQLite",
        Backend::Postgres(_) => "PostgreSQL",
    };
    let (mut sim, info) = simulate(bin, profile, &dir.join(format!("simulate-{name}.log"))).await;
    let base = info["base_url"].as_str().expect("base_url").to_string();
    let store = match &backend {
        Backend::Sqlite(_) => format!("data_dir = \"{}\"", dir.join("data").display()),
        Backend::Postgres(_) => format!(
            "data_dir = \"{}\"\npostgres_url_env = \"PV_BENCH_STORE_URL\"",
            dir.join("pg-keys").display()
        ),
    };
    let config = dir.join(format!("{name}.toml"));
    std::fs::write(
        &config,
        format!(
            "listen = \"127.0.0.1:0\"\n\n[store]\n{store}\n\n[[connection]]\nid = \"max\"\n\
             url = \"{base}\"\nusername = \"admin\"\npassword_env = \"PV_BENCH_PASSWORD\"\n\
             tls_thumbprint = \"{tp}\"\npoll_interval_seconds = 20\n",
            tp = info["thumbprint"].as_str().expect("thumbprint"),
        ),
    )
    .expect("config");
    let pg = match &backend {
        Backend::Postgres(url) => url.clone(),
        Backend::Sqlite(_) => String::new(),
    };
    let (mut service, served) = spawn(
        bin,
        &["serve", "--config", config.to_str().expect("utf-8")],
        &[
            ("PV_BENCH_PASSWORD", "admin"),
            ("PV_BENCH_STORE_URL", &pg),
            ("RUST_LOG", "warn"),
        ],
        &dir.join(format!("serve-{name}.log")),
    )
    .await;
    let graphql = served["graphql"].as_str().expect("graphql").to_string();
    let metrics_url = graphql.replace("/graphql", "/metrics");
    let http = reqwest::Client::builder()
        .danger_accept_invalid_certs(true)
        .no_proxy()
        .build()
        .expect("client");
    let metrics = || async { http.get(&metrics_url).send().await.ok()?.text().await.ok() };
    // The first full sync.
    let synced = Instant::now();
    loop {
        let m = metrics().await.unwrap_or_default();
        if series(&m, "pulse_vsphere_collector_full_syncs_total") >= 1.0 {
            break;
        }
        assert!(
            synced.elapsed() < Duration::from_secs(600),
            "no full sync in 10 minutes"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    println!(
        "{name}: first sync after {:.1} s",
        synced.elapsed().as_secs_f64()
    );
    let db = match &backend {
        Backend::Sqlite(_) => Backend::Sqlite(
            dir.join("data")
                .join(pulse_vsphere::store::SQLITE_FILE_NAME),
        ),
        Backend::Postgres(url) => Backend::Postgres(url.clone()),
    };
    // Rows and bytes before the churn, so the rates and the growth are the churn's own.
    let at_start = rows(&db).await;
    let before = metrics().await.unwrap_or_default();
    let started = Instant::now();
    let mut backlog_max: f64 = 0.0;
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    let changes = format!("{base}/_sim/changes");
    let newest = |v: &serde_json::Value| v["newest_event"].as_i64();
    let (mut first_event, mut last_event) = (None, None);
    while started.elapsed() < churn {
        tick.tick().await;
        let answer: serde_json::Value = match http
            .post(&changes)
            .json(&json!({"count": CHANGES_PER_SEC}))
            .send()
            .await
        {
            Ok(r) => r.json().await.unwrap_or_default(),
            Err(_) => serde_json::Value::Null,
        };
        first_event = first_event.or(newest(&answer));
        last_event = newest(&answer).or(last_event);
        let m = metrics().await.unwrap_or_default();
        backlog_max = backlog_max.max(series(&m, "pulse_vsphere_history_backlog"));
    }
    let churn_s = started.elapsed().as_secs_f64();
    let logged = match (first_event, last_event) {
        (Some(a), Some(b)) => (b - a) as f64 / churn_s,
        _ => 0.0,
    };
    // Events and tasks are read every poll interval (20 s): one more poll takes the last ones.
    tokio::time::sleep(Duration::from_secs(25)).await;
    let after = metrics().await.unwrap_or_default();
    let backlog_end = series(&after, "pulse_vsphere_history_backlog");
    // What the writer still holds when the changes stop, and how long it takes to write it.
    let drained = Instant::now();
    while series(
        &metrics().await.unwrap_or_default(),
        "pulse_vsphere_history_backlog",
    ) > 0.0
        && drained.elapsed() < Duration::from_secs(120)
    {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let drain_s = drained.elapsed().as_secs_f64();
    let end = metrics().await.unwrap_or_default();
    let delta = |name: &str| series(&after, name) - series(&before, name);
    let at_end = rows(&db).await;
    let events = at_end.0 - at_start.0;
    let peak = peak_rss_kb(service.pid) as f64 / 1024.0;
    let _ = service.child.start_kill();
    let _ = sim.child.start_kill();
    let row = Row {
        backend: name,
        churn_s,
        written_per_s: delta("pulse_vsphere_history_changes_written_total") / churn_s,
        transitions_per_s: (at_end.1 - at_start.1) as f64 / churn_s,
        events_per_s: events as f64 / churn_s,
        logged_per_s: logged,
        tasks_per_s: (at_end.2 - at_start.2) as f64 / churn_s,
        backlog_max,
        backlog_end,
        dropped: series(&end, "pulse_vsphere_history_changes_dropped_total"),
        drain_s,
        events,
        bytes_per_million_events: if events > 0 {
            (at_end.3 - at_start.3) / events as f64 * 1e6
        } else {
            0.0
        },
        peak_rss_mb: peak,
    };
    let _ = service.child.wait().await;
    let _ = sim.child.wait().await;
    row
}

/// A PostgreSQL database of its own on the server `admin` names.
async fn fresh_database(admin: &str) -> String {
    let mut c = sqlx::PgConnection::connect(admin)
        .await
        .expect("PostgreSQL answers");
    let db = format!("pv_history_bench_{}", std::process::id());
    sqlx::query(&format!("DROP DATABASE IF EXISTS {db}"))
        .execute(&mut c)
        .await
        .expect("drop");
    sqlx::query(&format!("CREATE DATABASE {db}"))
        .execute(&mut c)
        .await
        .expect("create");
    let mut url = url::Url::parse(admin).expect("url");
    url.set_path(&db);
    url.to_string()
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let bin = PathBuf::from(env!("CARGO_BIN_EXE_pulse-vsphere"));
    let churn = Duration::from_secs(env_or("PULSE_VSPHERE_HISTORY_SECS", 120));
    let profile: String = env_or("PULSE_VSPHERE_HISTORY_PROFILE", "max".to_string());
    let dir = std::env::temp_dir().join(format!("pv-history-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("scratch");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let mut rows = vec![rt.block_on(run(
        &bin,
        &profile,
        churn,
        Backend::Sqlite(PathBuf::new()),
        &dir,
    ))];
    if let Ok(admin) = std::env::var("PULSE_VSPHERE_BENCH_POSTGRES_URL") {
        let url = rt.block_on(fresh_database(&admin));
        rows.push(rt.block_on(run(&bin, &profile, churn, Backend::Postgres(url), &dir)));
    }
    println!(
        "\nhistory at `{profile}`, {CHANGES_PER_SEC} changes/s\n\n| store | churn s | changes written/s | transitions/s | events logged by vCenter/s | events stored/s | tasks/s | backlog max | backlog at end | drain s | dropped | events stored in the churn | growth per million events | peak RSS MB |\n|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
    );
    for r in &rows {
        println!(
            "| {} | {:.0} | {:.0} | {:.1} | {:.0} | {:.0} | {:.1} | {:.0} | {:.0} | {:.1} | {:.0} | {} | {:.0} MB | {:.0} |",
            r.backend,
            r.churn_s,
            r.written_per_s,
            r.transitions_per_s,
            r.logged_per_s,
            r.events_per_s,
            r.tasks_per_s,
            r.backlog_max,
            r.backlog_end,
            r.drain_s,
            r.dropped,
            r.events,
            r.bytes_per_million_events / 1e6,
            r.peak_rss_mb
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}
