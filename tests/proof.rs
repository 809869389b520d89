//! `pulse-vsphere proof` run as an operator runs it (the binary, over HTTPS) against the
//! simulator: every scenario passes and the record says simulated; a user refused performance
//! data fails VC-8 with that reason; a 7.0.3 vCenter stops at VC-0; the run calls only reads
//! and leaves no session behind; an attached record shows in the platform row and changes
//! nothing of it.

mod common;

use std::path::{Path, PathBuf};

use pulse_vsphere::simulator::{ApiRelease, Role, SimConfig, Simulator};
use pulse_vsphere::vcenter::methods::{classify, MethodKind};
use pulse_vsphere::vcenter::ApiFamily;
use serde_json::Value;

const PASSWORD: &str = "Proof-pass-7rq";

async fn sim(release: ApiRelease) -> Simulator {
    let mut cfg = SimConfig::small().user("ops", PASSWORD, Role::Admin).user(
        "np",
        "Noperf-pass-3",
        Role::Noperf,
    );
    cfg.api_release = release;
    cfg.change_rate = 0.2;
    Simulator::start(cfg).await.expect("simulator")
}

/// Runs `proof` against `sim`; exit status, output and the JSON record.
async fn proof(
    sim: &Simulator,
    user: &str,
    pw: &str,
    out: &Path,
    extra: &[&str],
) -> (i32, String, Value) {
    let run = tokio::process::Command::new(env!("CARGO_BIN_EXE_pulse-vsphere"))
        .args([
            "proof",
            "--url",
            &sim.base_url(),
            "--username",
            user,
            "--password-env",
            "PV_PROOF_PW",
        ])
        .args([
            "--tls-thumbprint",
            &sim.thumbprint(),
            "--wait-seconds",
            "120",
            "--out",
        ])
        .arg(out)
        .args(extra)
        .env("PV_PROOF_PW", pw)
        .env("RUST_LOG", "warn")
        .output()
        .await
        .expect("run proof");
    let text =
        String::from_utf8_lossy(&run.stdout).to_string() + &String::from_utf8_lossy(&run.stderr);
    let record = std::fs::read_dir(out)
        .ok()
        .and_then(|d| {
            d.flatten()
                .map(|e| e.path())
                .find(|p| p.extension().is_some_and(|x| x == "json"))
        })
        .and_then(|p| std::fs::read_to_string(p).ok())
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or(Value::Null);
    (run.status.code().unwrap_or(-1), text, record)
}

fn scenario<'a>(r: &'a Value, id: &str) -> &'a Value {
    r["scenarios"]
        .as_array()
        .and_then(|s| s.iter().find(|s| s["id"] == id))
        .expect(id)
}

fn files(dir: &Path) -> Vec<PathBuf> {
    let mut f: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect();
    f.sort();
    f
}

fn sessions(sim: &Simulator) -> (u64, u64) {
    let s = sim.stats().sessions;
    (s.rest.active, s.vim.active)
}

#[tokio::test]
async fn proof_against_the_simulator_passes_every_scenario_and_changes_nothing() {
    let sim = sim(ApiRelease::V8_0_3).await;
    let dir = common::backends::TempDir::new();
    let out = dir.0.join("records");
    let config = dir.0.join("pulse-vsphere.toml");
    let data = dir.0.join("data");
    std::fs::create_dir_all(&dir.0).unwrap();
    std::fs::write(
        &config,
        format!("[store]\ndata_dir = {:?}\n", data.display().to_string()),
    )
    .unwrap();
    let (code, text, r) = proof(
        &sim,
        "ops",
        PASSWORD,
        &out,
        &["--record-into-store", "--config", config.to_str().unwrap()],
    )
    .await;
    assert_eq!(code, 0, "{text}");
    assert_eq!(r["verdict"], "pass", "{r:#}");
    assert_eq!(r["simulated"], true);
    assert!(
        r["simulation_evidence"]
            .as_str()
            .is_some_and(|e| e.contains("/_sim/")),
        "{r}"
    );
    for s in r["scenarios"].as_array().unwrap() {
        assert_eq!(s["status"], "pass", "{s:#}");
    }
    assert_eq!(r["scenarios"].as_array().unwrap().len(), 9);
    assert_eq!(r["vcenter"]["instance_uuid"], sim.instance_uuid());
    assert_eq!(r["version_floor"]["meets_floor"], true);
    assert_eq!(
        r["privileges"]["minimal_set_that_passed"],
        serde_json::json!(["System.Anonymous", "System.Read", "System.View"])
    );

    // The method list: every call a read (or this run's own session and its objects),
    // classified again here, and the ones a proof must have made among them.
    let methods = r["methods"].as_array().unwrap();
    for m in methods {
        let family = if m["family"] == "rest" {
            ApiFamily::Rest
        } else {
            ApiFamily::ViJson
        };
        let kind = classify(family, m["call"].as_str().unwrap());
        assert_ne!(kind, MethodKind::Unknown, "not a read: {m}");
        assert_eq!(serde_json::to_value(kind).unwrap(), m["kind"], "{m}");
    }
    let calls: Vec<&str> = methods.iter().filter_map(|m| m["call"].as_str()).collect();
    for expected in [
        "PropertyCollector.RetrievePropertiesEx",
        "PropertyCollector.WaitForUpdatesEx",
        "AuthorizationManager.FetchUserPrivilegeOnEntities",
        "PerformanceManager.QueryPerf",
        "SessionManager.Logout",
        "DELETE /api/session",
    ] {
        assert!(
            calls.contains(&expected),
            "{expected} missing from {calls:?}"
        );
    }
    // Sessions: none left; one wrong-password login only (VC-1).
    assert_eq!(sessions(&sim), (0, 0));
    let failed = sim.stats().failed_logins;
    assert_eq!(failed.rest + failed.vim, 1, "{failed:?}");

    // The record: both files, dated, and neither carries the password.
    let f = files(&out);
    assert_eq!(f.len(), 2, "{f:?}");
    let md = std::fs::read_to_string(&f[1]).unwrap();
    assert!(f[1].to_string_lossy().contains(&format!(
        "vmware-vcenter-phase1-proof-{}",
        r["date"].as_str().unwrap()
    )));
    assert!(
        md.contains("| verdict | **pass** |") && md.contains("| VC-8 |"),
        "{md}"
    );
    assert!(!md.contains("{{"), "unfilled template: {md}");
    for text in [&md, &std::fs::read_to_string(&f[0]).unwrap(), &text] {
        assert!(!text.contains(PASSWORD));
    }

    // Attached to the store: the platform row reports it; a simulated pass is no live proof
    // and the readiness stage stays where governance put it.
    let data = data.to_str().unwrap();
    let serve = common::serve::spawn(&[], &[("PULSE_VSPHERE_DATA_DIR", data)]).await;
    let p = common::serve::query(&serve, "{ vspherePlatform { readinessStage liveProof latestProof { date verdict live vcenterVersion } } }").await;
    common::serve::terminate(serve).await;
    let p = &p["data"]["vspherePlatform"];
    assert_eq!(p["readinessStage"], "first-lab-ready", "{p}");
    assert_eq!(p["liveProof"], false);
    assert_eq!(p["latestProof"]["verdict"], "pass");
    assert_eq!(p["latestProof"]["live"], false);
    assert_eq!(p["latestProof"]["date"], r["date"]);
    assert_eq!(p["latestProof"]["vcenterVersion"], "8.0.3");
}

#[tokio::test]
async fn a_user_refused_performance_data_fails_vc8_with_that_reason() {
    let sim = sim(ApiRelease::V8_0_3).await;
    let dir = common::backends::TempDir::new();
    let (code, text, r) = proof(&sim, "np", "Noperf-pass-3", &dir.0, &[]).await;
    assert_eq!(code, 1, "{text}");
    assert_eq!(r["verdict"], "fail");
    let vc8 = scenario(&r, "VC-8");
    assert_eq!(vc8["status"], "fail", "{vc8:#}");
    let reason = vc8["reason"].as_str().unwrap_or_default();
    assert!(
        reason.contains("performance data: permission_denied") && reason.contains("System.Read"),
        "{reason}"
    );
    for id in [
        "VC-0", "VC-1", "VC-2", "VC-3", "VC-4", "VC-5", "VC-6", "VC-7",
    ] {
        assert_eq!(scenario(&r, id)["status"], "pass", "{id}: {r:#}");
    }
    assert!(
        r["reason"].as_str().is_some_and(|x| x.starts_with("VC-8")),
        "{r}"
    );
    assert_eq!(sessions(&sim), (0, 0));
}

#[tokio::test]
async fn a_vcenter_below_the_floor_stops_at_vc0() {
    let sim = sim(ApiRelease::V7_0_3).await;
    let dir = common::backends::TempDir::new();
    let (code, text, r) = proof(&sim, "ops", PASSWORD, &dir.0, &[]).await;
    assert_eq!(code, 1, "{text}");
    let vc0 = scenario(&r, "VC-0");
    assert_eq!(vc0["status"], "fail");
    assert!(
        vc0["reason"]
            .as_str()
            .unwrap_or_default()
            .starts_with("unsupported_version_floor"),
        "{vc0}"
    );
    for id in [
        "VC-1", "VC-2", "VC-3", "VC-4", "VC-5", "VC-6", "VC-7", "VC-8",
    ] {
        assert_eq!(scenario(&r, id)["status"], "not_run", "{id}");
    }
    assert_eq!(r["version_floor"]["meets_floor"], false);
    // Nothing was logged in to find that out.
    assert_eq!(
        sim.stats().sessions.vim.created + sim.stats().sessions.rest.created,
        0
    );
}

#[tokio::test]
async fn a_proof_that_cannot_run_exits_2_with_a_record_saying_why() {
    let dir = common::backends::TempDir::new();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let run = tokio::process::Command::new(env!("CARGO_BIN_EXE_pulse-vsphere"))
        .args([
            "proof",
            "--url",
            &format!("https://127.0.0.1:{port}"),
            "--username",
            "ops",
            "--password-env",
            "PV_PROOF_PW",
            "--insecure",
            "--out",
        ])
        .arg(&dir.0)
        .env("PV_PROOF_PW", PASSWORD)
        .output()
        .await
        .unwrap();
    assert_eq!(run.status.code(), Some(2));
    let f = files(&dir.0);
    let r: Value = serde_json::from_str(&std::fs::read_to_string(&f[0]).unwrap()).unwrap();
    assert_eq!(r["verdict"], "could_not_run");
    assert!(
        r["reason"]
            .as_str()
            .is_some_and(|x| x.starts_with("endpoint_unreachable")),
        "{r}"
    );
    // Without the password variable nothing runs at all.
    let run = tokio::process::Command::new(env!("CARGO_BIN_EXE_pulse-vsphere"))
        .args([
            "proof",
            "--url",
            "https://127.0.0.1:1",
            "--username",
            "ops",
            "--password-env",
            "PV_PROOF_UNSET",
            "--out",
        ])
        .arg(dir.0.join("none"))
        .env_remove("PV_PROOF_UNSET")
        .output()
        .await
        .unwrap();
    assert_eq!(run.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&run.stderr).contains("PV_PROOF_UNSET is not set"));
    // A URL with a user, a password or a path is refused before anything runs: the record
    // names the vCenter by host and port only.
    for url in [
        "https://ops:secret@127.0.0.1:1",
        "https://127.0.0.1:1/sdk",
        "http://127.0.0.1:1",
    ] {
        let run = tokio::process::Command::new(env!("CARGO_BIN_EXE_pulse-vsphere"))
            .args([
                "proof",
                "--url",
                url,
                "--username",
                "ops",
                "--password-env",
                "PV_PROOF_PW",
                "--out",
            ])
            .arg(dir.0.join("bad-url"))
            .env("PV_PROOF_PW", PASSWORD)
            .output()
            .await
            .unwrap();
        assert_eq!(run.status.code(), Some(2), "{url}");
        let err = String::from_utf8_lossy(&run.stderr);
        assert!(
            err.contains("--url must be https://HOST[:PORT]") && !err.contains("secret"),
            "{url}: {err}"
        );
        assert!(
            !dir.0.join("bad-url").exists(),
            "{url}: a record was written"
        );
    }
}

/// The row `vspherePlatform` serves, against Pulse's manifest and the seed document's proposed
/// phase-1 floor table: the same id, family, states, mode, entry point and floor; projections
/// as the governed document declares them (the manifest also lists `network`, which the
/// governed row does not claim: docs/decisions.md).
#[tokio::test]
async fn the_platform_row_is_the_row_the_seeds_declare() {
    let shared = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/context");
    let manifest: Value = serde_json::from_str(
        &std::fs::read_to_string(shared.join("PLATFORM_SUPPORT_MANIFEST.json")).unwrap(),
    )
    .unwrap();
    let m = manifest["platforms"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["id"] == "vmware-vsphere")
        .expect("vmware-vsphere in the manifest");
    let schema = pulse_vsphere::graphql::SchemaDeps::new(
        pulse_vsphere::connections::Registry::new(Default::default()),
    )
    .full();
    let p = schema
        .execute("{ vspherePlatform { id family governanceState readinessStage entryPoint primaryMode projections liveProof latestProof { date } supportFloor { surface floorStatus } } }")
        .await
        .into_result()
        .expect("platform row")
        .data
        .into_json()
        .unwrap();
    let p = &p["vspherePlatform"];
    for (ours, theirs) in [
        ("id", "id"),
        ("family", "family"),
        ("governanceState", "governance_state"),
        ("readinessStage", "readiness_stage"),
        ("primaryMode", "primary_mode"),
    ] {
        assert_eq!(p[ours], m[theirs], "{ours}");
    }
    assert_eq!(
        m["onboarding_paths"],
        serde_json::json!(["platform-connections"])
    );
    assert!(p["entryPoint"]
        .as_str()
        .unwrap()
        .starts_with("platform-connections (vCenter only)"));
    let projections: Vec<&str> = p["projections"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert_eq!(projections, ["agent", "vm", "storage"]);
    let theirs: Vec<&str> = m["canonical_projections"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(projections.iter().all(|x| theirs.contains(x)), "{theirs:?}");
    // No proof attached, none claimed.
    assert_eq!(p["liveProof"], false);
    assert!(p["latestProof"].is_null());

    // The floor: ours says `in-floor` where the seeds say `supported` (a floor, not a claim).
    let floor: std::collections::BTreeMap<String, String> = p["supportFloor"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            let status = s["floorStatus"].as_str().unwrap();
            (
                s["surface"].as_str().unwrap().to_string(),
                if status == "in-floor" {
                    "supported".into()
                } else {
                    status.to_string()
                },
            )
        })
        .collect();
    let surfaces = [
        "setup",
        "visibility",
        "workloads",
        "storage",
        "recovery",
        "alerts",
        "assistantRead",
        "assistantControl",
    ];
    for s in surfaces {
        let key = if s.starts_with("assistant") {
            format!(
                "assistant_{}",
                s.trim_start_matches("assistant").to_lowercase()
            )
        } else {
            s.to_string()
        };
        assert_eq!(floor[s], m["support_floor"][&key], "{s}");
    }
    let seed = std::fs::read_dir(&shared)
        .unwrap()
        .flatten()
        .filter_map(|e| std::fs::read_to_string(e.path()).ok())
        .find(|t| t.contains("VMware vSphere Proposed Phase-1 Floor"))
        .expect("the seed's platform support model");
    let table = seed
        .split("VMware vSphere Proposed Phase-1 Floor")
        .nth(1)
        .unwrap();
    let row = table
        .split("| `vmware-vsphere` |")
        .nth(1)
        .expect("the floor row");
    let cells: Vec<String> = row
        .split('|')
        .take(8)
        .map(|c| c.trim().trim_matches('`').to_string())
        .collect();
    assert_eq!(cells[0], "platform connections to `vCenter` only");
    for (i, s) in surfaces.iter().enumerate().skip(1) {
        assert_eq!(floor[*s], cells[i], "{s}");
    }
}

/// Ctrl-C in the middle of the run: exit 2, a record saying so, and every session the run
/// opened (its own and its collector's) logged out.
#[tokio::test]
async fn an_interrupted_proof_logs_every_session_out() {
    let mut cfg = SimConfig::with_profile(pulse_vsphere::simulator::Profile::Medium).user(
        "ops",
        PASSWORD,
        Role::Admin,
    );
    // Slow enough that the run is still reading when the signal comes.
    cfg.change_rate = 0.0;
    let sim = Simulator::start(cfg).await.expect("simulator");
    let dir = common::backends::TempDir::new();
    let child = tokio::process::Command::new(env!("CARGO_BIN_EXE_pulse-vsphere"))
        .args([
            "proof",
            "--url",
            &sim.base_url(),
            "--username",
            "ops",
            "--password-env",
            "PV_PROOF_PW",
        ])
        .args(["--tls-thumbprint", &sim.thumbprint(), "--out"])
        .arg(&dir.0)
        .env("PV_PROOF_PW", PASSWORD)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Wait until the scratch service's collector holds its sessions, then interrupt.
    assert!(common::eventually(60, || sim.stats().sessions.vim.active >= 2).await);
    std::process::Command::new("kill")
        .args(["-INT", &child.id().unwrap().to_string()])
        .status()
        .unwrap();
    let out = child.wait_with_output().await.unwrap();
    assert_eq!(out.status.code(), Some(2));
    let f = files(&dir.0);
    let r: Value = serde_json::from_str(&std::fs::read_to_string(&f[0]).unwrap()).unwrap();
    assert_eq!(r["verdict"], "could_not_run");
    assert_eq!(r["reason"], "interrupted");
    assert_eq!(sessions(&sim), (0, 0));
}
