//! `pulse-vsphere serve` as an operator runs it: from a config file against a vCenter (the
//! simulator), and `--demo`; GraphQL answers from the collected inventory, /readyz turns ready,
//! SIGTERM shuts down cleanly and logs the vCenter sessions out.

mod common;

use std::process::Stdio;
use std::time::Duration;

use pulse_vsphere::simulator::{SimConfig, Simulator};
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, BufReader};

use common::serve::{query, ready, spawn, spawn_with, terminate};

#[tokio::test]
async fn serves_a_configured_vcenter_and_logs_out_on_sigterm() {
    let sim = Simulator::start(SimConfig::small()).await.expect("sim");
    let dir = std::env::temp_dir().join(format!("pv-serve-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let cfg = dir.join("pulse-vsphere.toml");
    std::fs::write(
        &cfg,
        format!(
            "[[connection]]\nid = \"lab\"\nname = \"Lab\"\nurl = \"{}\"\nusername = \"admin\"\npassword_env = \"PV_LAB_PASSWORD\"\ntls_thumbprint = \"{}\"\n",
            sim.base_url(),
            sim.thumbprint()
        ),
    )
    .unwrap();
    let r = spawn(
        &["--config", cfg.to_str().unwrap()],
        &[("PV_LAB_PASSWORD", "admin")],
    )
    .await;
    ready(&r).await;
    let v = query(&r, "{ vsphereVms(first: 5) { totalCount nodes { id name platformType } } vsphereConnections { connectionId state vcenterVersion } }").await;
    assert!(v["errors"].is_null(), "{v}");
    let vms = sim.control().inventory_counts().by_type["VirtualMachine"];
    assert_eq!(v["data"]["vsphereVms"]["totalCount"], vms);
    assert_eq!(
        v["data"]["vsphereVms"]["nodes"][0]["platformType"],
        "vmware-vsphere"
    );
    assert_eq!(v["data"]["vsphereConnections"][0]["connectionId"], "lab");
    assert!(sim.stats().sessions.vim.active >= 1);
    let metrics = common::text(
        &reqwest::Client::new(),
        &r.graphql.replace("/graphql", "/metrics"),
    )
    .await;
    assert!(
        metrics.contains("pulse_vsphere_vcenter_calls_total{connection=\"lab\",family=\"VI JSON\",call=\"PropertyCollector.RetrievePropertiesEx\",status=\"200\"}"),
        "{metrics}"
    );
    assert_eq!(terminate(r).await, 0);
    let s = sim.stats();
    assert_eq!(
        (s.sessions.vim.active, s.sessions.rest.active),
        (0, 0),
        "sessions logged out on shutdown"
    );
    assert_eq!((s.views, s.filters, s.property_collectors), (0, 0, 0));
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn demo_mode_needs_nothing_but_the_binary() {
    let r = spawn(&["--demo"], &[]).await;
    ready(&r).await;
    let v = query(
        &r,
        "{ vsphereHosts(first: 3) { totalCount } vsphereVms(first: 1) { totalCount } }",
    )
    .await;
    assert!(
        v["data"]["vsphereHosts"]["totalCount"]
            .as_u64()
            .unwrap_or(0)
            > 0,
        "{v}"
    );
    assert!(
        v["data"]["vsphereVms"]["totalCount"].as_u64().unwrap_or(0) > 0,
        "{v}"
    );
    // The container health check: 0 while the service answers, 1 once it is gone.
    let healthz = r.graphql.replace("/graphql", "/healthz");
    assert_eq!(healthcheck(&healthz).await, 0);
    assert_eq!(terminate(r).await, 0);
    assert_eq!(healthcheck(&healthz).await, 1);
}

async fn healthcheck(url: &str) -> i32 {
    tokio::process::Command::new(env!("CARGO_BIN_EXE_pulse-vsphere"))
        .args(["healthcheck", "--url", url, "--timeout-seconds", "3"])
        .stdout(Stdio::null())
        .status()
        .await
        .expect("run healthcheck")
        .code()
        .unwrap_or(-1)
}

#[tokio::test]
async fn bad_configs_fail_fast_with_a_code() {
    let dir = std::env::temp_dir().join(format!("pv-badcfg-{}", std::process::id()));
    std::fs::write(
        &dir,
        "[[connection]]\nid='a'\nurl='https://x'\nusername='u'\npassword='hunter2'\n",
    )
    .unwrap();
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_pulse-vsphere"))
        .args(["serve", "--config", dir.to_str().unwrap()])
        .output()
        .await
        .expect("run");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        err.contains("config_invalid") && !err.contains("hunter2"),
        "{err}"
    );
    // Without any credential configured, only loopback may be served.
    let scratch = std::env::temp_dir().join(format!("pv-badcfg-store-{}", std::process::id()));
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_pulse-vsphere"))
        .args(["serve", "--listen", "0.0.0.0:0"])
        .env_remove("PULSE_VSPHERE_CONFIG")
        .env("PULSE_VSPHERE_DATA_DIR", &scratch)
        .output()
        .await
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("auth_required"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let _ = std::fs::remove_dir_all(&scratch);
    // A data directory that cannot be created, and a secret key that is not one: each stops
    // the start with its code, and the key never reaches the output.
    let file = std::env::temp_dir().join(format!("pv-badcfg-file-{}", std::process::id()));
    std::fs::write(&file, "not a directory").unwrap();
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_pulse-vsphere"))
        .args(["serve"])
        .env_remove("PULSE_VSPHERE_CONFIG")
        .env("PULSE_VSPHERE_DATA_DIR", file.join("data"))
        .output()
        .await
        .expect("run");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("data_dir_unusable"), "{err}");
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_pulse-vsphere"))
        .args(["serve"])
        .env_remove("PULSE_VSPHERE_CONFIG")
        .env("PULSE_VSPHERE_DATA_DIR", &scratch)
        .env("PULSE_VSPHERE_SECRET_KEY", "too-short-key-material")
        .output()
        .await
        .expect("run");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("secret_key_invalid"), "{err}");
    assert!(!err.contains("too-short-key-material"), "{err}");
    // An address that cannot be served (taken by another process): its own code.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = taken.local_addr().expect("addr").to_string();
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_pulse-vsphere"))
        .args(["serve", "--listen", &addr])
        .env_remove("PULSE_VSPHERE_CONFIG")
        .env("PULSE_VSPHERE_DATA_DIR", &scratch)
        .output()
        .await
        .expect("run");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("listen_failed") && err.contains(&addr),
        "{err}"
    );
    drop(taken);
    let _ = std::fs::remove_file(file);
    let _ = std::fs::remove_dir_all(scratch);
    let _ = std::fs::remove_file(dir);
}

#[tokio::test]
async fn sigterm_under_a_hung_vcenter_and_a_stuck_client_ends_in_bounded_time() {
    use tokio::io::AsyncWriteExt;
    let sim = Simulator::start(SimConfig::small()).await.expect("sim");
    let dir = std::env::temp_dir().join(format!("pv-serve-hung-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let cfg = dir.join("pulse-vsphere.toml");
    std::fs::write(
        &cfg,
        format!(
            "[[connection]]\nid = \"lab\"\nurl = \"{}\"\nusername = \"admin\"\npassword_env = \"PV_LAB_PASSWORD\"\ntls_thumbprint = \"{}\"\n",
            sim.base_url(),
            sim.thumbprint()
        ),
    )
    .unwrap();
    let mut r = spawn_with(
        &["--config", cfg.to_str().unwrap()],
        &[("PV_LAB_PASSWORD", "admin")],
        Stdio::piped(),
    )
    .await;
    ready(&r).await;
    // vCenter stops answering anything, and a client holds a half-sent request open.
    sim.control()
        .patch_faults(
            &json!({"latency": {"vim": {"fixed_ms": 600_000}, "rest": {"fixed_ms": 600_000}}}),
        )
        .expect("hang");
    let addr = r
        .graphql
        .trim_start_matches("http://")
        .trim_end_matches("/graphql")
        .to_string();
    let mut stuck = tokio::net::TcpStream::connect(&addr)
        .await
        .expect("connect");
    stuck
        .write_all(b"POST /graphql HTTP/1.1\r\nHost: x\r\n")
        .await
        .expect("half a request");
    tokio::time::sleep(Duration::from_millis(500)).await;
    let stderr = r.child.stderr.take().expect("stderr");
    let t = std::time::Instant::now();
    let code = terminate(r).await;
    let took = t.elapsed();
    eprintln!(
        "SIGTERM under a hung vCenter with a stuck client: exit {code} after {:.1} s",
        took.as_secs_f64()
    );
    assert_eq!(code, 0);
    assert!(took < Duration::from_secs(15), "bounded: {took:?}");
    // The log says which vCenter kept its sessions (they end at its idle timeout).
    let mut log = String::new();
    let mut lines = BufReader::new(stderr).lines();
    while let Ok(Some(l)) = lines.next_line().await {
        log.push_str(&l);
        log.push('\n');
    }
    assert!(
        log.contains("did not answer the logout") && log.contains(&sim.base_url()),
        "{log}"
    );
    drop(stuck);
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn config_check_validates_offline_and_prints_no_secret() {
    let dir = std::env::temp_dir().join(format!("pv-cfgcheck-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let cfg = dir.join("pulse-vsphere.toml");
    std::fs::write(
        &cfg,
        "listen = \"127.0.0.1:9090\"\n\
         [store]\npostgres_url_env = \"PV_CC_STORE\"\n\
         [ondemand]\nburst = 120\n\
         [[auth.tokens]]\nname = \"frontend\"\nrole = \"reader\"\ntoken_env = \"PV_CC_TOKEN\"\n\
         [[connection]]\nid = \"lab\"\nurl = \"https://vc.lab.example\"\nusername = \"monitor@vsphere.local\"\npassword_env = \"PV_CC_PW\"\ntls_thumbprint = \"AB:CD\"\n",
    )
    .unwrap();
    let run = |env: &[(&str, &str)]| {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_pulse-vsphere"));
        cmd.args(["config", "check", cfg.to_str().unwrap()])
            .env_remove("PULSE_VSPHERE_STORE_URL")
            .env_remove("PULSE_VSPHERE_SECRET_KEY")
            .env_remove("PULSE_VSPHERE_DATA_DIR");
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd.output().expect("run")
    };
    let secrets = [
        ("PV_CC_PW", "vc-s3cret"),
        ("PV_CC_TOKEN", "token-0123456789abcdef0123456789abcdef"),
        (
            "PV_CC_STORE",
            "postgres://pulse:pg-s3cret@db.example:5432/pulse",
        ),
    ];
    let out = run(&secrets);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    for (_, secret) in secrets.iter().take(2) {
        assert!(
            !stdout.contains(secret) && !stderr.contains(secret),
            "{stdout}"
        );
    }
    assert!(!stdout.contains("pg-s3cret"), "{stdout}");
    let v: Value = serde_json::from_str(&stdout).expect("json");
    assert_eq!(v["listen"], "127.0.0.1:9090");
    assert_eq!(v["store"]["location"]["backend"], "postgres");
    assert_eq!(
        v["store"]["location"]["url"],
        "postgres://pulse:********@db.example:5432/pulse"
    );
    assert_eq!(v["ondemand"]["burst"], 120);
    assert_eq!(v["auth"]["tokens"][0]["role"], "reader");
    assert_eq!(
        v["auth"]["tokens"][0]["token"],
        "environment variable PV_CC_TOKEN"
    );
    let c = &v["connections"][0];
    assert_eq!(c["password"], "set (environment variable PV_CC_PW)");
    assert_eq!(c["trust"], "pinned thumbprint AB:CD");
    assert_eq!(c["poll_interval_seconds"], 30);
    // A missing secret is the error `serve` would stop with, naming where it was looked for.
    let out = run(&secrets[1..]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr.contains("config_secret_missing") && stderr.contains("PV_CC_PW"),
        "{stderr}"
    );
    assert!(out.stdout.is_empty());
    let _ = std::fs::remove_dir_all(dir);
}
