//! GraphQL page benchmark (issue 15), the way a user runs it: `pulse-vsphere simulate` and
//! `pulse-vsphere serve` as their own processes, `wrk` (Debian's package) as the external load
//! generator over keep-alive HTTP/1.1 connections, the server's CPU read from `/proc`, and in
//! the same run the floor: a static server on the same HTTP stack (hyper through axum, in this
//! bench's own process re-executed) sending the same response bytes, and the library's plain
//! use as a baseline: async-graphql answering the same query from plain structs in memory,
//! through its default executor (`support/library_page.rs`), checked to give the same JSON.
//!
//! The page: 100 VMs after a cursor with `totalCount`, host, datastores, alerts, identity, guest
//! with filesystems and topology (~90 KB).
//! - **uncached**: every request asks for a page after another VM's cursor, with a nonce in
//!   `extensions`, so no two requests are the same and no response cache can answer them;
//! - **repeated**: the same 30 pages over and over (what the response cache and single-flight
//!   serve), reported beside the uncached numbers, never instead of them;
//! - **revalidated**: the same 30 pages, each sent with the `If-None-Match` of its `ETag` as
//!   read just before the run (a client holding its answers; 304 while the generations hold).
//!
//! For the service's cases the share of requests answered without an execution (kept body or
//! 304) is read from its `/metrics` around each run.
//!
//! Run: `cargo bench --bench graphql_page` (needs `wrk`: `apt-get install wrk`).
//! `PULSE_VSPHERE_PAGE_PROFILES` (default `medium,max`), `PULSE_VSPHERE_PAGE_SECS` (seconds of
//! load per measurement, default 10), `PULSE_VSPHERE_PAGE_RUNS` (default 3; medians are
//! printed), `PULSE_VSPHERE_PAGE_CONNECTIONS` (default 32), `PULSE_VSPHERE_PAGE_BIN` (the
//! `pulse-vsphere` binary to measure, default this build's).

#[path = "support/library_page.rs"]
mod library_page;
#[path = "support/process.rs"]
mod process;

// The allocator `serve` runs with, so the floors re-executed from this binary pay what it pays.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use process::{clock_ticks_per_sec, cpu_ticks, peak_rss_kb, simulate, spawn, Proc};
use serde_json::{json, Value};

const QUERY: &str = r#"query($after: String) { vsphereVms(first: 100, after: $after) {
  totalCount pageInfo { endCursor hasNextPage }
  nodes { id name status lastSeen
    host { id name status }
    datastores { nodes { id name } }
    alerts { id name severity since }
    identity { instanceUuid ips macs hostnames }
    vsphere { powerState snapshotCount
      guest { hostname osName toolsRunning ipAddress filesystems { path capacityBytes freeBytes } }
      topology { datacenter { name } cluster { name } folderPath } } } } }"#;

/// The `wrk` script: each thread walks the request bodies of a file (one per line) from its
/// own offset, so the threads do not send the same page at the same time.
const WRK_SCRIPT: &str = r#"
local bodies = {}
for line in io.lines(os.getenv("PV_BODIES")) do bodies[#bodies + 1] = line end
local counter = 0
local next_id = 0
function setup(thread) thread:set("offset", next_id * 7919) ; next_id = next_id + 1 end
function init(args) counter = offset or 0 end
local unique = os.getenv("PV_UNIQUE") == "1"
local started = os.time()
function request()
  counter = counter + 1
  local line = bodies[(counter % #bodies) + 1]
  if unique then
    -- A nonce in `extensions` (which the service ignores) keeps every request of every run
    -- distinct, so no response cache can answer one however many times the pages cycle.
    line = string.sub(line, 1, -2) .. string.format(',"extensions":{"nonce":"%d-%d"}}', started, counter)
  end
  local headers = { ["Content-Type"] = "application/json" }
  -- `ETAG<tab>BODY`: a revalidating client (JSON bodies hold no raw tab).
  local tab = string.find(line, "\t", 1, true)
  if tab then
    headers["If-None-Match"] = string.sub(line, 1, tab - 1)
    line = string.sub(line, tab + 1)
  end
  return wrk.format("POST", "/graphql", headers, line)
end
"#;

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// One `wrk` measurement of one server process.
#[derive(Clone, Copy, Debug, Default)]
struct Load {
    req_per_s: f64,
    p50_ms: f64,
    p99_ms: f64,
    /// Server CPU (user + system) per completed request.
    cpu_ms: f64,
    errors: u64,
    requests: u64,
    /// Share of requests answered from the response cache (kept body or 304), per cent.
    reused_pct: f64,
}

/// `wrk --latency` output: requests, Requests/sec, the 50 % and 99 % lines, non-2xx counts.
fn parse_wrk(out: &str) -> (u64, f64, f64, f64, u64) {
    let ms = |v: &str| -> f64 {
        let (num, unit) = v.split_at(v.find(|c: char| c.is_alphabetic()).unwrap_or(v.len()));
        let n: f64 = num.parse().unwrap_or(f64::NAN);
        match unit {
            "us" => n / 1000.0,
            "ms" => n,
            "s" => n * 1000.0,
            "m" => n * 60_000.0,
            _ => f64::NAN,
        }
    };
    let mut requests = 0;
    let (mut rps, mut p50, mut p99, mut errors) = (0.0, f64::NAN, f64::NAN, 0);
    for line in out.lines() {
        let t: Vec<&str> = line.split_whitespace().collect();
        match t.as_slice() {
            [n, "requests", "in", ..] => requests = n.parse().unwrap_or(0),
            ["Requests/sec:", v] => rps = v.parse().unwrap_or(0.0),
            ["50%", v] => p50 = ms(v),
            ["99%", v] => p99 = ms(v),
            ["Non-2xx", "or", "3xx", "responses:", n] => errors += n.parse::<u64>().unwrap_or(0),
            ["Socket", "errors:", ..] => {
                errors += t
                    .iter()
                    .filter_map(|w| w.trim_end_matches(',').parse::<u64>().ok())
                    .sum::<u64>()
            }
            _ => {}
        }
    }
    (requests, rps, p50, p99, errors)
}

/// Drives `port` with `wrk` for `secs` over `conns` connections, sending the bodies of
/// `bodies` (each made unique when its file name starts with `uncached`), and reads `pid`'s
/// CPU around it.
fn drive(pid: u32, port: u16, bodies: &Path, secs: u64, conns: usize) -> Load {
    let unique = bodies
        .file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| n.starts_with("uncached"));
    let script = bodies.with_extension("lua");
    std::fs::write(&script, WRK_SCRIPT).expect("wrk script");
    let c0 = cpu_ticks(pid);
    let out = std::process::Command::new("wrk")
        .args([
            "-t2",
            &format!("-c{conns}"),
            &format!("-d{secs}s"),
            "--latency",
            "-s",
            script.to_str().expect("utf-8"),
            &format!("http://127.0.0.1:{port}/graphql"),
        ])
        .env("PV_BODIES", bodies)
        .env("PV_UNIQUE", if unique { "1" } else { "0" })
        .output()
        .expect("wrk (apt-get install wrk)");
    let c1 = cpu_ticks(pid);
    let text = String::from_utf8_lossy(&out.stdout);
    let (requests, req_per_s, p50_ms, p99_ms, errors) = parse_wrk(&text);
    assert!(requests > 0, "wrk completed no request:\n{text}");
    Load {
        req_per_s,
        p50_ms,
        p99_ms,
        cpu_ms: (c1 - c0) as f64 / clock_ticks_per_sec() * 1000.0 / requests as f64,
        errors,
        requests,
        reused_pct: 0.0,
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn medians(runs: &[Load]) -> Load {
    let m = |f: fn(&Load) -> f64| median(runs.iter().map(f).collect());
    Load {
        req_per_s: m(|l| l.req_per_s),
        p50_ms: m(|l| l.p50_ms),
        p99_ms: m(|l| l.p99_ms),
        cpu_ms: m(|l| l.cpu_ms),
        errors: runs.iter().map(|l| l.errors).sum(),
        requests: runs.iter().map(|l| l.requests).sum(),
        reused_pct: m(|l| l.reused_pct),
    }
}

/// The floor: answers every request with the same bytes, on the stack `serve` uses.
fn static_router(body_file: &str) -> axum::Router {
    let body = axum::body::Bytes::from(std::fs::read(body_file).expect("static body"));
    axum::Router::new().route(
        "/graphql",
        axum::routing::post(move || {
            let body = body.clone();
            async move {
                (
                    [(
                        axum::http::header::CONTENT_TYPE,
                        "application/graphql-response+json",
                    )],
                    body,
                )
            }
        }),
    )
}

/// A floor's process: serves `app` on a loopback port, printed as `{"port": N}`.
fn serve_floor(app: axum::Router) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let port = listener.local_addr().expect("addr").port();
        println!("{}", json!({ "port": port }));
        axum::serve(listener, app).await.expect("serve");
    });
}

/// Starts this binary again as the floor that `var` names, serving `page`; returns its port.
async fn spawn_floor(var: &str, page: &Path, log: &Path) -> (Proc, u16) {
    let me = std::env::current_exe().expect("this bench");
    let (proc, info) = spawn(&me, &[], &[(var, page.to_str().expect("utf-8"))], log).await;
    let port = info["port"].as_u64().expect("port") as u16;
    (proc, port)
}

struct Served {
    _sim: Proc,
    service: Proc,
    port: u16,
    http: reqwest::Client,
    graphql: String,
}

impl Served {
    /// Requests answered without an execution so far (`hit` + `not_modified`).
    async fn reused(&self) -> u64 {
        let url = self.graphql.replace("/graphql", "/metrics");
        let text = self
            .http
            .get(url)
            .send()
            .await
            .expect("metrics")
            .text()
            .await
            .expect("text");
        ["hit", "not_modified"]
            .iter()
            .filter_map(|r| {
                let series =
                    format!("pulse_vsphere_graphql_response_cache_total{{result=\"{r}\"}} ");
                text.lines()
                    .find_map(|l| l.strip_prefix(&series)?.parse::<u64>().ok())
            })
            .sum()
    }

    /// `drive` with the share of reused answers read from `/metrics` around it.
    async fn drive(&self, bodies: &Path, secs: u64, conns: usize) -> Load {
        let before = self.reused().await;
        let mut load = drive(self.service.pid, self.port, bodies, secs, conns);
        let reused = self.reused().await - before;
        load.reused_pct = 100.0 * reused as f64 / load.requests.max(1) as f64;
        load
    }

    /// Each line of `bodies` prefixed with its current `ETag` and a tab.
    async fn with_etags(&self, bodies: &[String]) -> String {
        let mut lines = Vec::with_capacity(bodies.len());
        for b in bodies {
            let resp = self
                .http
                .post(&self.graphql)
                .header("content-type", "application/json")
                .body(b.clone())
                .send()
                .await
                .expect("request");
            // A build without ETags (an earlier commit, for comparison) gets plain requests.
            match resp.headers().get("etag").and_then(|v| v.to_str().ok()) {
                Some(tag) => lines.push(format!("{tag}\t{b}")),
                None => lines.push(b.clone()),
            }
        }
        lines.join("\n")
    }

    async fn post(&self, body: &Value) -> Value {
        self.http
            .post(&self.graphql)
            .json(body)
            .send()
            .await
            .expect("request")
            .json()
            .await
            .expect("JSON")
    }
}

async fn start(bin: &Path, profile: &str, dir: &Path) -> Served {
    let (sim, info) = simulate(bin, profile, &dir.join(format!("simulate-{profile}.log"))).await;
    let config = dir.join(format!("{profile}.toml"));
    std::fs::write(
        &config,
        format!(
            "listen = \"127.0.0.1:0\"\n\n[store]\ndata_dir = \"{data}\"\n\n[[connection]]\n\
             id = \"bench\"\nurl = \"{base}\"\nusername = \"admin\"\n\
             password_env = \"PV_BENCH_PASSWORD\"\ntls_thumbprint = \"{tp}\"\n",
            data = dir.join(format!("data-{profile}")).display(),
            base = info["base_url"].as_str().expect("base_url"),
            tp = info["thumbprint"].as_str().expect("thumbprint"),
        ),
    )
    .expect("config");
    let (service, served) = spawn(
        bin,
        &["serve", "--config", config.to_str().expect("utf-8")],
        &[("PV_BENCH_PASSWORD", "admin"), ("RUST_LOG", "warn")],
        &dir.join(format!("serve-{profile}.log")),
    )
    .await;
    let graphql = served["graphql"].as_str().expect("graphql").to_string();
    let port = graphql
        .rsplit_once(':')
        .and_then(|(_, rest)| rest.split('/').next()?.parse().ok())
        .expect("port in the graphql address");
    let http = reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("client");
    Served {
        _sim: sim,
        service,
        port,
        http,
        graphql,
    }
}

/// Waits for the first full sync, then reads every VM's cursor in the served order.
async fn cursors(s: &Served) -> Vec<String> {
    let waited = Instant::now();
    let mut all = Vec::new();
    loop {
        let mut after: Option<String> = None;
        all.clear();
        loop {
            let page = s
                .post(&json!({
                    "query": "query($after: String) { vsphereVms(first: 500, after: $after) { totalCount edges { cursor } pageInfo { hasNextPage endCursor } } }",
                    "variables": { "after": after },
                }))
                .await;
            let conn = &page["data"]["vsphereVms"];
            for e in conn["edges"].as_array().into_iter().flatten() {
                all.push(e["cursor"].as_str().expect("cursor").to_string());
            }
            if conn["pageInfo"]["hasNextPage"] != json!(true) {
                break;
            }
            after = conn["pageInfo"]["endCursor"].as_str().map(str::to_string);
        }
        // The simulator's VM count is known only through the served total; wait until the
        // collector has published a full inventory (the total stops growing between reads).
        if all.len() >= 1000 {
            tokio::time::sleep(Duration::from_secs(2)).await;
            let again = s
                .post(&json!({ "query": "{ vsphereVms(first: 0) { totalCount } }" }))
                .await;
            if again["data"]["vsphereVms"]["totalCount"].as_u64() == Some(all.len() as u64) {
                return all;
            }
        }
        assert!(
            waited.elapsed() < Duration::from_secs(900),
            "no inventory served in 15 minutes"
        );
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
}

fn body(after: &str) -> String {
    json!({ "query": QUERY, "variables": { "after": after } }).to_string()
}

/// Milliseconds serde_json alone takes to write `page` (median of 7 batches of 200): the least
/// any server building this JSON response per request must spend.
fn serialize_floor_ms(page: &Value) -> f64 {
    let mut buf = Vec::with_capacity(256 << 10);
    let batches = (0..7)
        .map(|_| {
            let t = Instant::now();
            for _ in 0..200 {
                buf.clear();
                serde_json::to_writer(&mut buf, page).expect("serialize");
            }
            t.elapsed().as_secs_f64() * 1000.0 / 200.0
        })
        .collect();
    median(batches)
}

struct Row {
    profile: String,
    vms: usize,
    bytes: usize,
    serialize_ms: f64,
    floor: Load,
    library: Load,
    uncached: Load,
    repeated: Load,
    revalidated: Load,
    peak_rss_mb: f64,
}

async fn measure(
    bin: &Path,
    profile: &str,
    dir: &Path,
    secs: u64,
    runs: usize,
    conns: usize,
) -> Row {
    let s = start(bin, profile, dir).await;
    let cursors = cursors(&s).await;
    // Pages that are full: after any cursor but the last 100.
    let usable = &cursors[..cursors.len().saturating_sub(100)];
    let sample = s
        .post(&serde_json::from_str::<Value>(&body(&usable[usable.len() / 2])).expect("body"))
        .await;
    assert!(sample.get("errors").is_none(), "{sample}");
    assert_eq!(
        sample["data"]["vsphereVms"]["nodes"]
            .as_array()
            .map(Vec::len),
        Some(100),
        "a full page"
    );
    let sample_bytes = serde_json::to_vec(&sample).expect("bytes");
    let static_body = dir.join(format!("static-{profile}.json"));
    std::fs::write(&static_body, &sample_bytes).expect("static body");
    let uncached_bodies = dir.join(format!("uncached-{profile}.txt"));
    std::fs::write(
        &uncached_bodies,
        usable
            .iter()
            .map(|c| body(c))
            .collect::<Vec<_>>()
            .join("\n"),
    )
    .expect("bodies");
    let repeated_bodies = dir.join(format!("repeated-{profile}.txt"));
    let step = usable.len() / 30;
    let thirty: Vec<String> = (0..30).map(|i| body(&usable[i * step])).collect();
    std::fs::write(&repeated_bodies, thirty.join("\n")).expect("bodies");
    let revalidated_bodies = dir.join(format!("revalidated-{profile}.txt"));

    let (floor_proc, floor_port) =
        spawn_floor("PV_STATIC_BODY", &static_body, &dir.join("static.log")).await;
    let (library_proc, library_port) =
        spawn_floor("PV_LIBRARY_PAGE", &static_body, &dir.join("library.log")).await;
    let library_sample: Value = s
        .http
        .post(format!("http://127.0.0.1:{library_port}/graphql"))
        .header("content-type", "application/json")
        .body(body(&usable[0]))
        .send()
        .await
        .expect("library baseline")
        .json()
        .await
        .expect("JSON");
    assert_eq!(
        library_sample, sample,
        "the library baseline answers the service's page"
    );

    // Warm both servers (connections, allocator, the service's caches) before measuring.
    drive(floor_proc.pid, floor_port, &uncached_bodies, 2, conns);
    drive(library_proc.pid, library_port, &uncached_bodies, 2, conns);
    drive(s.service.pid, s.port, &uncached_bodies, 3, conns);
    let (mut floor, mut library, mut uncached, mut repeated, mut revalidated) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for run in 0..runs {
        floor.push(drive(
            floor_proc.pid,
            floor_port,
            &uncached_bodies,
            secs,
            conns,
        ));
        library.push(drive(
            library_proc.pid,
            library_port,
            &uncached_bodies,
            secs,
            conns,
        ));
        uncached.push(s.drive(&uncached_bodies, secs, conns).await);
        repeated.push(s.drive(&repeated_bodies, secs, conns).await);
        std::fs::write(&revalidated_bodies, s.with_etags(&thirty).await).expect("bodies");
        revalidated.push(s.drive(&revalidated_bodies, secs, conns).await);
        println!(
            "{profile} run {}: floor {:?}\n  library baseline {:?}\n  uncached {:?}\n  repeated {:?}\n  revalidated {:?}",
            run + 1,
            floor[run],
            library[run],
            uncached[run],
            repeated[run],
            revalidated[run]
        );
    }
    Row {
        profile: profile.to_string(),
        vms: cursors.len(),
        bytes: sample_bytes.len(),
        serialize_ms: serialize_floor_ms(&sample),
        floor: medians(&floor),
        library: medians(&library),
        uncached: medians(&uncached),
        repeated: medians(&repeated),
        revalidated: medians(&revalidated),
        peak_rss_mb: peak_rss_kb(s.service.pid) as f64 / 1024.0,
    }
}

fn main() {
    if let Ok(body) = std::env::var("PV_STATIC_BODY") {
        return serve_floor(static_router(&body));
    }
    if let Ok(page) = std::env::var("PV_LIBRARY_PAGE") {
        return serve_floor(library_page::router(&page));
    }
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    // Another build of the service (an earlier commit's, for a before/after in one hour).
    let bin = std::env::var_os("PULSE_VSPHERE_PAGE_BIN").map_or_else(
        || PathBuf::from(env!("CARGO_BIN_EXE_pulse-vsphere")),
        PathBuf::from,
    );
    let profiles: String = env_or("PULSE_VSPHERE_PAGE_PROFILES", "medium,max".to_string());
    let secs = env_or("PULSE_VSPHERE_PAGE_SECS", 10);
    let runs = env_or("PULSE_VSPHERE_PAGE_RUNS", 3usize).max(1);
    let conns = env_or("PULSE_VSPHERE_PAGE_CONNECTIONS", 32usize);
    let dir = std::env::temp_dir().join(format!("pv-page-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("scratch");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let rows: Vec<Row> = profiles
        .split(',')
        .map(|p| rt.block_on(measure(&bin, p.trim(), &dir, secs, runs, conns)))
        .collect();
    println!(
        "\nGraphQL page, {conns} connections, {secs} s a measurement, medians of {runs} runs\n\n\
         | profile | VMs | page bytes | case | req/s | p50 ms | p99 ms | server CPU ms/page | CPU / floor | p99 / floor | reused | errors |\n\
         |---|---|---|---|---|---|---|---|---|---|---|---|"
    );
    for r in &rows {
        for (case, l) in [
            ("static floor", r.floor),
            (
                "library baseline (async-graphql, structs in memory)",
                r.library,
            ),
            ("uncached", r.uncached),
            ("repeated 30 pages", r.repeated),
            ("revalidated 30 pages (If-None-Match)", r.revalidated),
        ] {
            println!(
                "| {} | {} | {} | {case} | {:.0} | {:.1} | {:.1} | {:.3} | {:.1}x | {:.1}x | {:.0} % | {} |",
                r.profile,
                r.vms,
                r.bytes,
                l.req_per_s,
                l.p50_ms,
                l.p99_ms,
                l.cpu_ms,
                l.cpu_ms / r.floor.cpu_ms,
                l.p99_ms / r.floor.p99_ms,
                l.reused_pct,
                l.errors,
            );
        }
        println!(
            "| {} | serde_json alone writes the page in {:.3} ms: uncached CPU is {:.1}x that | service peak RSS {:.0} MB |",
            r.profile,
            r.serialize_ms,
            r.uncached.cpu_ms / r.serialize_ms,
            r.peak_rss_mb
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}
