//! Saved connections across restarts, as an operator lives them: the real binary (`serve`,
//! `secrets rotate-key`) on a real SQLite file, vCenters played by simulators over HTTPS.
//! Restart persistence, session hygiene through credential changes, a damaged row and a wrong
//! key, a store from a newer release, key rotation, and a password that never leaves the
//! process (responses, debug logs, the data directory's bytes).

mod common;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use pulse_vsphere::simulator::{Role, SimConfig, SimUser, Simulator};
use pulse_vsphere::store::Cipher;
use serde_json::{json, Value};
use sqlx::sqlite::{SqliteConnectOptions, SqlitePool};
use sqlx::Row;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};

use common::backends::TempDir;

/// Every password of these tests contains this, and nothing else does.
const MARKER: &str = "Pw-marker-5d0c8e27-persistence";
const USER: &str = "monitor@vsphere.local";
const DB: &str = "pulse-vsphere.db";

fn password(tag: &str) -> String {
    format!("{MARKER}-{tag}")
}

/// A simulator whose monitoring user accepts each of `passwords` (vCenter after a password
/// change on the monitoring account, as far as a client can tell), with a small inventory.
async fn simulator(seed: u64, passwords: &[&str]) -> Simulator {
    let mut cfg = SimConfig::small();
    cfg.seed = seed;
    cfg.size.vms = 20;
    cfg.users = passwords
        .iter()
        .map(|p| SimUser {
            name: USER.into(),
            password: password(p),
            role: Role::Readonly,
        })
        .collect();
    Simulator::start(cfg).await.expect("simulator")
}

fn sessions(sim: &Simulator) -> (u64, u64) {
    let s = sim.stats().sessions;
    (s.vim.active, s.rest.active)
}

fn vm_count(sim: &Simulator) -> u64 {
    sim.control().inventory_counts().by_type["VirtualMachine"] as u64
}

/// One test's world: a data directory, a log directory, and everything the processes said.
struct Case {
    root: TempDir,
    /// Every response body and everything every process wrote, for the secret check.
    trail: Arc<Mutex<String>>,
    runs: usize,
}

impl Case {
    fn new() -> Case {
        let root = TempDir::new();
        std::fs::create_dir_all(root.0.join("logs")).expect("log dir");
        Case {
            root,
            trail: Arc::default(),
            runs: 0,
        }
    }

    fn data_dir(&self) -> PathBuf {
        self.root.0.join("data")
    }

    fn db(&self) -> PathBuf {
        self.data_dir().join(DB)
    }

    fn key_file(&self) -> PathBuf {
        self.data_dir().join("secret.key")
    }

    /// The binary with this case's data directory and nothing inherited that could point it
    /// elsewhere; debug logging, as the secret check asks.
    fn command(
        &mut self,
        args: &[&str],
        env: &[(&str, &str)],
    ) -> (tokio::process::Command, PathBuf) {
        self.runs += 1;
        let log = self
            .root
            .0
            .join("logs")
            .join(format!("{}-{}.stderr", self.runs, args[0]));
        let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_pulse-vsphere"));
        cmd.args(args)
            .env_remove("PULSE_VSPHERE_CONFIG")
            .env_remove("PULSE_VSPHERE_STORE_URL")
            .env_remove("PULSE_VSPHERE_SECRET_KEY")
            .env("PULSE_VSPHERE_DATA_DIR", self.data_dir())
            .env("RUST_LOG", "debug")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&log).expect("log file"))
            .kill_on_drop(true);
        for (k, v) in env {
            cmd.env(k, v);
        }
        (cmd, log)
    }

    /// `serve` on this case's store, once it printed its URL.
    async fn serve(&mut self, env: &[(&str, &str)]) -> Serve {
        let (mut cmd, log) = self.command(&["serve", "--listen", "127.0.0.1:0"], env);
        let mut child = cmd.spawn().expect("spawn serve");
        let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
        let first = tokio::time::timeout(Duration::from_secs(30), lines.next_line())
            .await
            .expect("serve printed its URL in time")
            .expect("read stdout");
        let Some(first) = first else {
            let _ = child.wait().await;
            panic!(
                "serve exited before serving: {}",
                std::fs::read_to_string(&log).unwrap_or_default()
            );
        };
        self.trail.lock().unwrap().push_str(&first);
        let v: Value = serde_json::from_str(&first).expect("a JSON line");
        // The rest of stdout goes to the trail too.
        let trail = self.trail.clone();
        tokio::spawn(async move {
            while let Ok(Some(line)) = lines.next_line().await {
                trail.lock().unwrap().push_str(&line);
            }
        });
        Serve {
            child,
            url: v["graphql"].as_str().expect("graphql url").to_string(),
            http: reqwest::Client::new(),
            trail: self.trail.clone(),
            log,
        }
    }

    /// A command that runs to its end: (exit code, stdout, stderr).
    async fn run(&mut self, args: &[&str], env: &[(&str, &str)]) -> (i32, String, String) {
        let (mut cmd, log) = self.command(args, env);
        let mut child = cmd.spawn().expect("spawn");
        let mut out = String::new();
        child
            .stdout
            .take()
            .expect("stdout")
            .read_to_string(&mut out)
            .await
            .expect("read stdout");
        let status = tokio::time::timeout(Duration::from_secs(60), child.wait())
            .await
            .expect("the command ends")
            .expect("status");
        self.trail.lock().unwrap().push_str(&out);
        let err = std::fs::read_to_string(&log).expect("stderr");
        (status.code().unwrap_or(-1), out, err)
    }

    /// The marker is in no response, no line any process wrote, and no byte of any file of
    /// the data directory (database, WAL, shared memory, key file).
    fn assert_no_secret(&self) {
        let found = |bytes: &[u8]| bytes.windows(MARKER.len()).any(|w| w == MARKER.as_bytes());
        assert!(
            !found(self.trail.lock().unwrap().as_bytes()),
            "a response or stdout line carried a password"
        );
        let mut checked = 0;
        for dir in [self.root.0.join("logs"), self.data_dir()] {
            for entry in std::fs::read_dir(&dir).into_iter().flatten() {
                let path = entry.expect("entry").path();
                let bytes = std::fs::read(&path).expect("read");
                assert!(
                    !found(&bytes),
                    "{} holds a password in clear",
                    path.display()
                );
                checked += 1;
            }
        }
        assert!(checked > 0, "nothing was checked");
    }

    /// Like `assert_no_secret` for the data directory only, while a service holds it open:
    /// the WAL and shared-memory files exist then.
    fn assert_no_secret_in_data_dir(&self) -> Vec<String> {
        let mut names = Vec::new();
        for entry in std::fs::read_dir(self.data_dir()).expect("data dir") {
            let path = entry.expect("entry").path();
            let bytes = std::fs::read(&path).expect("read");
            assert!(
                !bytes.windows(MARKER.len()).any(|w| w == MARKER.as_bytes()),
                "{} holds a password in clear",
                path.display()
            );
            names.push(path.file_name().unwrap().to_string_lossy().into_owned());
        }
        names
    }
}

/// A running `serve`.
struct Serve {
    child: tokio::process::Child,
    url: String,
    http: reqwest::Client,
    trail: Arc<Mutex<String>>,
    log: PathBuf,
}

const FIELDS: &str = "id version name source host port username passwordSet enabled \
    pollIntervalSeconds tlsMode tlsThumbprint createdAt updatedAt state lastErrorClass \
    contribution { vms }";

impl Serve {
    async fn gql(&self, query: &str, vars: Value) -> Value {
        let text = self
            .http
            .post(&self.url)
            .json(&json!({"query": query, "variables": vars}))
            .send()
            .await
            .expect("post")
            .text()
            .await
            .expect("body");
        self.trail.lock().unwrap().push_str(&text);
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"))
    }

    async fn connections(&self) -> Vec<Value> {
        let v = self
            .gql(
                &format!("{{ vsphereConnections {{ {FIELDS} }} }}"),
                json!({}),
            )
            .await;
        v["data"]["vsphereConnections"]
            .as_array()
            .unwrap_or_else(|| panic!("{v}"))
            .clone()
    }

    async fn connection(&self, id: &str) -> Value {
        self.connections()
            .await
            .into_iter()
            .find(|c| c["id"] == id)
            .unwrap_or(Value::Null)
    }

    /// Polls until connection `id` is in `state` (for `healthy`: with its VMs collected).
    async fn until(&self, id: &str, state: &str) -> Value {
        let until = Instant::now() + Duration::from_secs(60);
        loop {
            let c = self.connection(id).await;
            let done = c["state"] == state
                && (state != "healthy" || c["contribution"]["vms"].as_i64() > Some(0));
            if done {
                return c;
            }
            assert!(Instant::now() < until, "{id} never {state}: {c}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn create(&self, input: Value) -> Value {
        let v = self
            .gql(
                &format!("mutation($i: VsphereConnectionInput!) {{ vsphereCreateConnection(input: $i) {{ {FIELDS} }} }}"),
                json!({"i": input}),
            )
            .await;
        assert!(v["errors"].is_null(), "{v}");
        v["data"]["vsphereCreateConnection"].clone()
    }

    async fn vms(&self) -> Value {
        let v = self
            .gql("{ vsphereVms(first: 1) { totalCount } }", json!({}))
            .await;
        v["data"]["vsphereVms"]["totalCount"].clone()
    }

    /// SIGTERM; the exit code.
    async fn stop(mut self) -> i32 {
        let pid = self.child.id().expect("pid").to_string();
        std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("kill");
        let status = tokio::time::timeout(Duration::from_secs(20), self.child.wait())
            .await
            .expect("exits after SIGTERM")
            .expect("status");
        let code = status.code().unwrap_or(-1);
        if code != 0 {
            eprintln!("{}", std::fs::read_to_string(&self.log).unwrap_or_default());
        }
        code
    }
}

/// The create input of a connection to `sim`, pinned to its certificate.
fn input_for(sim: &Simulator, name: &str, pw: &str) -> Value {
    let url = url::Url::parse(&sim.base_url()).unwrap();
    json!({
        "name": name,
        "host": url.host_str().unwrap(),
        "port": url.port().unwrap(),
        "username": USER,
        "password": password(pw),
        "pollIntervalSeconds": 20,
        "tlsMode": "PINNED",
        "tlsThumbprint": sim.thumbprint(),
    })
}

/// What an operator sees of a saved connection, without its live state.
fn saved(c: &Value) -> Value {
    let keys = [
        "id",
        "version",
        "name",
        "source",
        "host",
        "port",
        "username",
        "passwordSet",
        "enabled",
        "pollIntervalSeconds",
        "tlsMode",
        "tlsThumbprint",
        "createdAt",
        "updatedAt",
    ];
    Value::Object(
        keys.iter()
            .map(|k| (k.to_string(), c[*k].clone()))
            .collect(),
    )
}

async fn sqlite(db: &Path) -> SqlitePool {
    SqlitePool::connect_with(SqliteConnectOptions::new().filename(db))
        .await
        .expect("open the SQLite file")
}

/// `(id, version, sealed password)` of every row, read straight from the file.
async fn rows(db: &Path) -> Vec<(String, i64, Vec<u8>)> {
    let pool = sqlite(db).await;
    let rows = sqlx::query("SELECT id, version, password FROM connections ORDER BY id")
        .fetch_all(&pool)
        .await
        .expect("select");
    pool.close().await;
    rows.iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect()
}

#[tokio::test]
async fn saved_connections_survive_a_restart_without_duplicate_sessions() {
    let sim = simulator(1, &["a"]).await;
    let mut case = Case::new();
    let s = case.serve(&[]).await;
    let good = s.create(input_for(&sim, "Lab", "a")).await;
    let mut broken = input_for(&sim, "Lab (wrong port)", "a");
    broken["host"] = json!("127.0.0.1");
    broken["port"] = json!(1);
    let broken = s.create(broken).await;
    let (good_id, broken_id) = (good["id"].as_str().unwrap(), broken["id"].as_str().unwrap());
    s.until(good_id, "healthy").await;
    let b = s.until(broken_id, "failed").await;
    assert!(b["lastErrorClass"].is_string(), "{b}");
    assert_eq!(sessions(&sim), (1, 1));
    let before: Vec<Value> = s.connections().await.iter().map(saved).collect();
    assert_eq!(before.len(), 2);
    let created = sim.stats().sessions;

    assert_eq!(s.stop().await, 0, "a clean exit on SIGTERM");
    assert_eq!(sessions(&sim), (0, 0), "SIGTERM logs every session out");

    let s = case.serve(&[]).await;
    let after: Vec<Value> = s.connections().await.iter().map(saved).collect();
    assert_eq!(after, before, "the same ids, names, versions and settings");
    s.until(good_id, "healthy").await;
    s.until(broken_id, "failed").await;
    assert_eq!(
        sessions(&sim),
        (1, 1),
        "sessions re-created, not duplicated"
    );
    let again = sim.stats().sessions;
    assert_eq!(
        (
            again.vim.created - created.vim.created,
            again.rest.created - created.rest.created
        ),
        (1, 1),
        "one login per family after the restart"
    );
    assert_eq!(
        s.vms().await,
        json!(vm_count(&sim)),
        "nothing counted twice"
    );
    assert_eq!(s.connections().await.len(), 2);
    assert_eq!(s.stop().await, 0);
    assert_eq!(sessions(&sim), (0, 0));
    case.assert_no_secret();
    sim.shutdown().await;
}

#[tokio::test]
async fn a_credential_change_never_holds_two_sessions() {
    let sim = Arc::new(simulator(1, &["old", "new"]).await);
    let mut case = Case::new();
    let s = case.serve(&[]).await;
    let c = s.create(input_for(&sim, "Lab", "old")).await;
    let id = c["id"].as_str().unwrap().to_string();
    s.until(&id, "healthy").await;
    assert_eq!(sessions(&sim), (1, 1));

    // Sample the simulator's sessions for as long as the update and the new first sync take.
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let sampler = {
        let (sim, stop) = (sim.clone(), stop.clone());
        tokio::spawn(async move {
            let (mut most, mut samples) = ((0, 0), 0);
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let (v, r) = sessions(&sim);
                most = (most.0.max(v), most.1.max(r));
                samples += 1;
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
            (most, samples)
        })
    };
    let logins = sim.stats().login_attempts;
    let v = s
        .gql(
            &format!("mutation($id: ID!, $v: Int!, $i: VsphereConnectionInput!) {{ vsphereUpdateConnection(id: $id, version: $v, input: $i) {{ {FIELDS} }} }}"),
            json!({"id": id, "v": 1, "i": {"password": password("new")}}),
        )
        .await;
    assert_eq!(v["data"]["vsphereUpdateConnection"]["version"], 2, "{v}");
    s.until(&id, "healthy").await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let (most, samples) = sampler.await.unwrap();
    assert!(samples > 10, "sampled {samples} times");
    assert_eq!(most, (1, 1), "never two sessions of one family");
    assert_eq!(sessions(&sim), (1, 1));
    assert!(
        sim.stats().login_attempts.vim > logins.vim,
        "logged in again with the new password"
    );
    assert_eq!(sim.stats().failed_logins.vim, 0);
    assert_eq!(sim.stats().failed_logins.rest, 0);
    let names = case.assert_no_secret_in_data_dir();
    assert!(names.iter().any(|n| n.ends_with("-wal")), "{names:?}");

    let enable = "mutation($id: ID!, $v: Int!, $e: Boolean!) { vsphereSetConnectionEnabled(id: $id, version: $v, enabled: $e) { version state } }";
    let v = s.gql(enable, json!({"id": id, "v": 2, "e": false})).await;
    assert_eq!(
        v["data"]["vsphereSetConnectionEnabled"]["state"], "disabled",
        "{v}"
    );
    assert_eq!(sessions(&sim), (0, 0), "disabled: no session");
    let v = s.gql(enable, json!({"id": id, "v": 3, "e": true})).await;
    assert_eq!(
        v["data"]["vsphereSetConnectionEnabled"]["version"], 4,
        "{v}"
    );
    s.until(&id, "healthy").await;
    assert_eq!(sessions(&sim), (1, 1), "enabled: one session per family");
    let v = s
        .gql(
            "mutation($id: ID!) { vsphereDeleteConnection(id: $id, version: 4) }",
            json!({"id": id}),
        )
        .await;
    assert_eq!(v["data"]["vsphereDeleteConnection"], id.as_str(), "{v}");
    assert_eq!(sessions(&sim), (0, 0), "deleted: no session");
    assert_eq!(s.stop().await, 0);
    case.assert_no_secret();
    Arc::try_unwrap(sim)
        .ok()
        .expect("sampler done")
        .shutdown()
        .await;
}

#[tokio::test]
async fn a_damaged_secret_or_a_wrong_key_fails_only_its_connections() {
    let (sim_a, sim_b) = (simulator(1, &["a"]).await, simulator(2, &["b"]).await);
    assert_ne!(sim_a.instance_uuid(), sim_b.instance_uuid());
    let mut case = Case::new();
    let s = case.serve(&[]).await;
    let a = s.create(input_for(&sim_a, "Site A", "a")).await;
    let b = s.create(input_for(&sim_b, "Site B", "b")).await;
    let (a, b) = (a["id"].as_str().unwrap(), b["id"].as_str().unwrap());
    s.until(a, "healthy").await;
    s.until(b, "healthy").await;
    assert_eq!(s.stop().await, 0);

    // One flipped bit in A's sealed password, written straight into the file.
    let pool = sqlite(&case.db()).await;
    let sealed: Vec<u8> = sqlx::query("SELECT password FROM connections WHERE id = $1")
        .bind(a)
        .fetch_one(&pool)
        .await
        .expect("row")
        .get(0);
    let mut damaged = sealed.clone();
    *damaged.last_mut().unwrap() ^= 0x01;
    sqlx::query("UPDATE connections SET password = $1 WHERE id = $2")
        .bind(&damaged)
        .bind(a)
        .execute(&pool)
        .await
        .expect("damage");
    pool.close().await;

    let logins_a = sim_a.stats().login_attempts;
    let s = case.serve(&[]).await;
    let failed = s.until(a, "failed").await;
    assert_eq!(failed["lastErrorClass"], "secret_unreadable", "{failed}");
    assert_eq!(failed["passwordSet"], true);
    s.until(b, "healthy").await;
    assert_eq!(s.vms().await, json!(vm_count(&sim_b)), "B's VMs are served");
    assert_eq!(sessions(&sim_a), (0, 0), "no login without a password");
    assert_eq!(
        sim_a.stats().login_attempts,
        logins_a,
        "A never tries a login without its password"
    );
    assert_eq!(s.stop().await, 0);

    // Another valid key: every saved password is unreadable, the service still serves.
    let (_, other_key) = Cipher::generate();
    let s = case
        .serve(&[("PULSE_VSPHERE_SECRET_KEY", &other_key)])
        .await;
    for id in [a, b] {
        let c = s.until(id, "failed").await;
        assert_eq!(c["lastErrorClass"], "secret_unreadable", "{c}");
    }
    assert_eq!(s.vms().await, json!(0));
    let health = reqwest::get(s.url.replace("/graphql", "/healthz"))
        .await
        .expect("healthz");
    assert_eq!(health.status(), 200);
    assert_eq!((sessions(&sim_a), sessions(&sim_b)), ((0, 0), (0, 0)));
    assert_eq!(s.stop().await, 0);
    case.assert_no_secret();
    sim_a.shutdown().await;
    sim_b.shutdown().await;
}

#[tokio::test]
async fn the_password_never_leaves_the_process() {
    let sim = simulator(1, &["right", "changed"]).await;
    let mut case = Case::new();
    let s = case.serve(&[]).await;

    // Refused inputs carrying a password: the error does not echo it.
    let mut bad = input_for(&sim, "Lab", "refused");
    bad["host"] = json!("http://not-https.example");
    let v = s
        .gql(
            "mutation($i: VsphereConnectionInput!) { vsphereCreateConnection(input: $i) { id } }",
            json!({"i": bad}),
        )
        .await;
    assert_eq!(
        v["errors"][0]["extensions"]["code"], "BAD_USER_INPUT",
        "{v}"
    );

    // Connection tests with a wrong and a right password, never saved.
    let test = "mutation($i: VsphereConnectionInput!) { vsphereTestConnection(input: $i) { verdict failureClass message } }";
    let v = s
        .gql(test, json!({"i": input_for(&sim, "Lab", "wrong")}))
        .await;
    assert_eq!(
        v["data"]["vsphereTestConnection"]["failureClass"], "auth_invalid",
        "{v}"
    );
    let v = s
        .gql(test, json!({"i": input_for(&sim, "Lab", "right")}))
        .await;
    assert_ne!(
        v["data"]["vsphereTestConnection"]["verdict"], "FAILED",
        "{v}"
    );

    // A connection saved with a wrong password fails at login (and keeps retrying), one saved
    // right is collected; then the right one's password changes.
    let wrong = s.create(input_for(&sim, "Lab (wrong)", "wrong")).await;
    let right = s.create(input_for(&sim, "Lab", "right")).await;
    let (wrong, right) = (wrong["id"].as_str().unwrap(), right["id"].as_str().unwrap());
    let w = s.until(wrong, "failed").await;
    assert_eq!(w["lastErrorClass"], "auth_invalid", "{w}");
    s.until(right, "healthy").await;
    let saved_test = "mutation($id: ID!, $o: VsphereConnectionInput) { vsphereTestSavedConnection(id: $id, overlay: $o) { verdict failureClass } }";
    let v = s
        .gql(
            saved_test,
            json!({"id": right, "o": {"password": password("wrong")}}),
        )
        .await;
    assert_eq!(
        v["data"]["vsphereTestSavedConnection"]["verdict"], "FAILED",
        "{v}"
    );
    let v = s
        .gql(
            &format!("mutation($id: ID!, $i: VsphereConnectionInput!) {{ vsphereUpdateConnection(id: $id, version: 1, input: $i) {{ {FIELDS} }} }}"),
            json!({"id": right, "i": {"password": password("changed")}}),
        )
        .await;
    assert_eq!(
        v["data"]["vsphereUpdateConnection"]["passwordSet"], true,
        "{v}"
    );
    s.until(right, "healthy").await;
    case.assert_no_secret_in_data_dir();
    assert_eq!(s.stop().await, 0);

    // A restart reads every sealed password back (logged at debug, if anything logged it).
    let s = case.serve(&[]).await;
    s.until(right, "healthy").await;
    s.until(wrong, "failed").await;
    assert_eq!(s.stop().await, 0);

    let logs: String = std::fs::read_dir(case.root.0.join("logs"))
        .unwrap()
        .map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap())
        .collect();
    assert!(
        logs.lines().filter(|l| l.contains("DEBUG")).count() > 10,
        "the run logged at debug"
    );
    case.assert_no_secret();
    sim.shutdown().await;
}

#[tokio::test]
async fn a_store_from_a_newer_release_is_refused_untouched() {
    let mut case = Case::new();
    let s = case.serve(&[]).await;
    assert_eq!(s.stop().await, 0);
    let pool = sqlite(&case.db()).await;
    sqlx::query(
        "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
         VALUES (99990101000000, 'a newer release', TRUE, X'00', 1)",
    )
    .execute(&pool)
    .await
    .expect("insert");
    pool.close().await;
    let before = std::fs::read(case.db()).unwrap();

    let (code, out, err) = case.run(&["serve", "--listen", "127.0.0.1:0"], &[]).await;
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("store_schema_too_new"), "{err}");
    assert!(out.is_empty(), "nothing served: {out}");
    assert_eq!(
        std::fs::read(case.db()).unwrap(),
        before,
        "the file is unchanged"
    );
    case.assert_no_secret();
}

#[tokio::test]
async fn rotate_key_reseals_every_password_or_nothing() {
    let sim = simulator(1, &["a"]).await;
    let mut case = Case::new();
    let s = case.serve(&[]).await;
    let id = s.create(input_for(&sim, "Lab", "a")).await["id"]
        .as_str()
        .unwrap()
        .to_string();
    s.until(&id, "healthy").await;
    assert_eq!(s.stop().await, 0);
    let old_key = std::fs::read_to_string(case.key_file()).unwrap();
    let sealed_before = rows(&case.db()).await;

    // Rotate to a new key from a file: the key file now holds it, privately.
    let (new_cipher, new_key) = Cipher::generate();
    let new_file = case.root.0.join("new.key");
    std::fs::write(&new_file, &new_key).unwrap();
    let (code, out, err) = case
        .run(
            &[
                "secrets",
                "rotate-key",
                "--new-key-file",
                new_file.to_str().unwrap(),
            ],
            &[],
        )
        .await;
    assert_eq!(code, 0, "{err}");
    let v: Value = serde_json::from_str(out.trim()).expect("one JSON line");
    assert_eq!(v, json!({"rotated": 1, "key_id": new_cipher.key_id()}));
    assert!(
        !out.contains(&new_key) && !err.contains(&new_key),
        "the key is never printed"
    );
    assert!(!err.contains(old_key.trim()));
    let in_file = std::fs::read_to_string(case.key_file()).unwrap();
    assert_eq!(
        Cipher::from_key_text(&in_file).unwrap().key_id(),
        new_cipher.key_id()
    );
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(case.key_file())
            .unwrap()
            .permissions()
            .mode()
            & 0o777,
        0o600
    );
    let sealed_after = rows(&case.db()).await;
    assert_eq!(sealed_after.len(), 1);
    assert_ne!(sealed_after[0].2, sealed_before[0].2, "re-sealed");
    assert_eq!(sealed_after[0].1, sealed_before[0].1 + 1, "version bumped");
    let leftovers: Vec<_> = std::fs::read_dir(case.data_dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");

    // The next start reads the new key file and the password opens.
    let s = case.serve(&[]).await;
    s.until(&id, "healthy").await;
    let v = s
        .gql(
            "{ vsphereAuditLog(first: 1) { action actor connectionId } }",
            json!({}),
        )
        .await;
    assert_eq!(
        v["data"]["vsphereAuditLog"][0]["action"], "rotate_key",
        "{v}"
    );
    assert_eq!(s.stop().await, 0);

    // With the wrong current key, nothing changes: not the rows, not the key file.
    let (_, wrong_key) = Cipher::generate();
    let (_, another) = Cipher::generate();
    std::fs::write(&new_file, &another).unwrap();
    let rows_before = rows(&case.db()).await;
    let key_before = std::fs::read(case.key_file()).unwrap();
    let (code, out, err) = case
        .run(
            &[
                "secrets",
                "rotate-key",
                "--new-key-file",
                new_file.to_str().unwrap(),
            ],
            &[("PULSE_VSPHERE_SECRET_KEY", &wrong_key)],
        )
        .await;
    assert_eq!(code, 2, "{out}{err}");
    assert!(
        err.contains("secret_unreadable") && err.contains(&id),
        "names the connection: {err}"
    );
    assert!(out.is_empty(), "{out}");
    assert_eq!(rows(&case.db()).await, rows_before, "no row changed");
    assert_eq!(std::fs::read(case.key_file()).unwrap(), key_before);

    // The current key from the environment and the new one from another variable: the key
    // file is left alone and the operator is told to switch the variable.
    let current = in_file.trim().to_string();
    let (next_cipher, next) = Cipher::generate();
    let (code, out, err) = case
        .run(
            &["secrets", "rotate-key", "--new-key-env", "PV_NEXT_KEY"],
            &[
                ("PULSE_VSPHERE_SECRET_KEY", &current),
                ("PV_NEXT_KEY", &next),
            ],
        )
        .await;
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        serde_json::from_str::<Value>(out.trim()).unwrap(),
        json!({"rotated": 1, "key_id": next_cipher.key_id()})
    );
    assert!(err.contains("PULSE_VSPHERE_SECRET_KEY"), "{err}");
    assert_eq!(std::fs::read(case.key_file()).unwrap(), key_before);
    let s = case.serve(&[("PULSE_VSPHERE_SECRET_KEY", &next)]).await;
    s.until(&id, "healthy").await;
    assert_eq!(s.stop().await, 0);
    case.assert_no_secret();
    sim.shutdown().await;
}
