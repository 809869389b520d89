//! `pulse-vsphere serve` as its own process: started on an ephemeral port with a scratch data
//! directory unless the caller names one, waited for, queried and stopped with SIGTERM.

use std::process::Stdio;
use std::time::Duration;

use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, BufReader};

pub struct Running {
    pub child: tokio::process::Child,
    pub graphql: String,
}

pub async fn spawn(args: &[&str], env: &[(&str, &str)]) -> Running {
    spawn_with(args, env, Stdio::null()).await
}

pub async fn spawn_with(args: &[&str], env: &[(&str, &str)], stderr: Stdio) -> Running {
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_pulse-vsphere"));
    cmd.args(["serve", "--listen", "127.0.0.1:0"])
        .args(args)
        .stdout(Stdio::piped())
        .stderr(stderr)
        .kill_on_drop(true);
    // Each run on its own store, unless the test names one.
    let scratch = std::env::temp_dir().join(format!(
        "pv-serve-{}-{}",
        std::process::id(),
        chrono::Utc::now().timestamp_nanos_opt().unwrap_or_default()
    ));
    cmd.env("PULSE_VSPHERE_DATA_DIR", &scratch);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("spawn serve");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let line = tokio::time::timeout(Duration::from_secs(30), lines.next_line())
        .await
        .expect("serve printed its URL in time")
        .expect("read")
        .expect("a line");
    let v: Value = serde_json::from_str(&line).expect("json line");
    Running {
        child,
        graphql: v["graphql"].as_str().expect("graphql url").to_string(),
    }
}

pub async fn ready(r: &Running) {
    let c = reqwest::Client::new();
    let url = r.graphql.replace("/graphql", "/readyz");
    for _ in 0..300 {
        if let Ok(resp) = c.get(&url).send().await {
            if resp.status() == 200 {
                return;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("never ready");
}

pub async fn query(r: &Running, q: &str) -> Value {
    gql(r, q, json!({})).await
}

pub async fn gql(r: &Running, q: &str, variables: Value) -> Value {
    super::graphql(&reqwest::Client::new(), &r.graphql, q, variables).await
}

pub async fn terminate(mut r: Running) -> i32 {
    let pid = r.child.id().expect("pid").to_string();
    std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("kill");
    tokio::time::timeout(Duration::from_secs(20), r.child.wait())
        .await
        .expect("exits after SIGTERM")
        .expect("status")
        .code()
        .unwrap_or(-1)
}
