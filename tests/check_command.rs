//! `pulse-vsphere check` against the simulator: verdicts, exit status, no secret printed, and
//! both sessions logged out afterwards.

mod common;

use pulse_vsphere::simulator::{ApiRelease, ApiType, Role, SimConfig, Simulator};
use pulse_vsphere::vcenter::check::{run_check, Verdict};
use pulse_vsphere::vcenter::{FailureClass, Stage};
use serde_json::json;

async fn check_bin(sim: &Simulator, user: &str, pw: &str, extra: &[&str]) -> (i32, String) {
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_pulse-vsphere"))
        .args([
            "check",
            "--url",
            &sim.base_url(),
            "--username",
            user,
            "--password-env",
            "PV_TEST_PW",
        ])
        .args(extra)
        .env("PV_TEST_PW", pw)
        .output()
        .await
        .expect("run check");
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    (out.status.code().unwrap_or(-1), text)
}

#[tokio::test]
async fn verdicts_for_admin_noperf_none_and_old_vcenter() {
    let sim = Simulator::start(SimConfig::small().user("np", "np-pw", Role::Noperf).user(
        "nobody",
        "x",
        Role::None,
    ))
    .await
    .expect("sim");
    let ok = run_check(common::client_config(&sim, "admin", "admin")).await;
    assert_eq!(ok.verdict, Verdict::Ok, "{}", ok.render());
    let v = ok.vcenter.as_ref().expect("identity");
    assert_eq!(
        v.instance_uuid.as_deref(),
        Some(sim.instance_uuid().as_str())
    );
    assert_eq!(ok.negotiated_release.as_deref(), Some("8.0.3.0"));
    for name in [
        "hosts",
        "vms",
        "datastores",
        "alarms",
        "events",
        "perf",
        "snapshots",
    ] {
        assert!(ok.steps.iter().any(|s| s.name == name && s.ok), "{name}");
    }
    let np = run_check(common::client_config(&sim, "np", "np-pw")).await;
    assert_eq!(np.verdict, Verdict::Degraded, "{}", np.render());
    assert!(np
        .steps
        .iter()
        .any(|s| s.name == "perf" && !s.ok && s.class == Some(FailureClass::PermissionDenied)));
    let none = run_check(common::client_config(&sim, "nobody", "x")).await;
    assert_eq!(none.verdict, Verdict::Failed);
    assert_eq!(
        none.class,
        Some(FailureClass::PermissionDenied),
        "{}",
        none.render()
    );
    assert!(none.missing_privileges.contains(&"System.Read".to_string()));
    let s = sim.stats();
    assert_eq!(
        (s.sessions.vim.active, s.sessions.rest.active),
        (0, 0),
        "check logs out"
    );

    // The event service fails behind a healthy API: a floor read is unmet.
    sim.control()
        .patch_faults(
            &serde_json::json!({"failing_methods": ["EventManager.CreateCollectorForEvents"]}),
        )
        .expect("fault");
    let r = run_check(common::client_config(&sim, "admin", "admin")).await;
    assert_eq!(
        (r.verdict, r.class),
        (Verdict::Failed, Some(FailureClass::Phase1FloorUnmet)),
        "{}",
        r.render()
    );
    assert!(r
        .steps
        .iter()
        .any(|s| s.name == "events" && !s.ok && s.detail.contains("SystemError")));
    sim.control()
        .patch_faults(&serde_json::json!({"failing_methods": []}))
        .expect("fault");

    let old = Simulator::start(SimConfig {
        api_release: ApiRelease::V7_0_3,
        ..SimConfig::small()
    })
    .await
    .expect("sim");
    let r = run_check(common::client_config(&old, "admin", "admin")).await;
    assert_eq!(
        (r.verdict, r.class),
        (Verdict::Failed, Some(FailureClass::UnsupportedVersionFloor))
    );
}

#[tokio::test]
async fn the_binary_exits_with_the_verdict_and_prints_no_secret() {
    let sim = Simulator::start(SimConfig::small()).await.expect("sim");
    let (code, out) = check_bin(
        &sim,
        "admin",
        "admin",
        &["--tls-thumbprint", &sim.thumbprint(), "--json"],
    )
    .await;
    assert_eq!(code, 0, "{out}");
    let report: serde_json::Value = serde_json::from_str(out.trim()).expect("json report");
    assert_eq!(report["verdict"], "ok");
    assert_eq!(report["vcenter"]["instance_uuid"], sim.instance_uuid());
    let failed = |s: &pulse_vsphere::simulator::Simulator| {
        let f = s.stats().failed_logins;
        f.rest + f.vim
    };
    let failed_before = failed(&sim);
    let (code, out) = check_bin(&sim, "admin", "Hunter2-secret", &["--insecure"]).await;
    assert_eq!(code, 2, "{out}");
    // One refused login is reported; a second one would only near SSO's account lockout.
    assert_eq!(failed(&sim) - failed_before, 1);
    assert!(
        out.contains("auth_invalid") && out.contains("rejected the user name or password"),
        "{out}"
    );
    assert!(!out.contains("Hunter2-secret"));
    // Untrusted self-signed certificate: the operator is told what to pin.
    let (code, out) = check_bin(&sim, "admin", "admin", &[]).await;
    assert_eq!(code, 2);
    assert!(
        out.contains("tls_validation_failed") && out.contains(&sim.thumbprint()),
        "{out}"
    );
    let s = sim.stats();
    assert_eq!((s.sessions.vim.active, s.sessions.rest.active), (0, 0));
}

/// A simulator answering as a standalone ESXi host (`about.apiType = HostAgent`).
async fn esxi() -> Simulator {
    Simulator::start(SimConfig {
        api_type: ApiType::HostAgent,
        ..SimConfig::small()
    })
    .await
    .expect("sim")
}

#[tokio::test]
async fn an_esxi_host_fails_the_floor_before_any_login() {
    let sim = esxi().await;
    let r = run_check(common::client_config(&sim, "admin", "admin")).await;
    assert_eq!(
        (r.verdict, r.class),
        (Verdict::Failed, Some(FailureClass::Phase1FloorUnmet)),
        "{}",
        r.render()
    );
    let message = r.message.as_deref().unwrap_or_default();
    assert!(
        message.contains("phase 1 reads vCenter only") && message.contains("ESXi"),
        "{message}"
    );
    assert_eq!(
        r.vcenter.as_ref().map(|v| v.name.as_str()),
        Some("VMware ESXi")
    );
    assert!(r
        .steps
        .iter()
        .any(|s| s.name == "api_type" && !s.ok && s.class == Some(FailureClass::Phase1FloorUnmet)));
    assert!(
        !r.steps.iter().any(|s| s.name.ends_with("_login")),
        "{}",
        r.render()
    );

    let (code, out) = check_bin(
        &sim,
        "admin",
        "esxi-Secret-9",
        &["--tls-thumbprint", &sim.thumbprint(), "--json"],
    )
    .await;
    assert_eq!(code, 2, "{out}");
    let report: serde_json::Value = serde_json::from_str(out.trim()).expect("json report");
    assert_eq!(
        (report["verdict"].as_str(), report["class"].as_str()),
        (Some("failed"), Some("phase1_floor_unmet"))
    );
    assert!(!out.contains("esxi-Secret-9"));

    // Neither family was asked to log in: no password reached the host, no session is left.
    let s = sim.stats();
    assert_eq!((s.login_attempts.vim, s.login_attempts.rest), (0, 0));
    assert_eq!((s.sessions.vim.created, s.sessions.rest.created), (0, 0));
}

#[tokio::test]
async fn one_api_family_logging_in_fails_the_floor_with_the_cause_in_its_step() {
    let sim = Simulator::start(SimConfig::small()).await.expect("sim");
    let down = |endpoint: &str| {
        sim.control()
            .patch_faults(&serde_json::json!({ "unavailable_endpoints": [endpoint] }))
            .expect("fault");
    };
    let step = |r: &pulse_vsphere::vcenter::check::CheckReport, name: &str| {
        let s = r.steps.iter().find(|s| s.name == name).expect(name);
        (s.ok, s.class)
    };

    // REST logins answer 503 while VI JSON works.
    down("rest:POST /api/session");
    let r = run_check(common::client_config(&sim, "admin", "admin")).await;
    assert_eq!(
        (r.verdict, r.class),
        (Verdict::Failed, Some(FailureClass::Phase1FloorUnmet)),
        "{}",
        r.render()
    );
    assert_eq!(step(&r, "vi_json_login"), (true, None));
    assert_eq!(
        step(&r, "rest_login"),
        (false, Some(FailureClass::VcenterUnavailable))
    );
    let message = r.message.as_deref().unwrap_or_default();
    assert!(
        message.contains("REST login failed (vcenter_unavailable"),
        "{message}"
    );

    // VI JSON logins answer 503 while REST works.
    down("vim:SessionManager.Login");
    let r = run_check(common::client_config(&sim, "admin", "admin")).await;
    assert_eq!(
        (r.verdict, r.class),
        (Verdict::Failed, Some(FailureClass::Phase1FloorUnmet)),
        "{}",
        r.render()
    );
    assert_eq!(
        step(&r, "vi_json_login"),
        (false, Some(FailureClass::VcenterUnavailable))
    );
    assert_eq!(step(&r, "rest_login"), (true, None));
    assert!(r
        .message
        .as_deref()
        .is_some_and(|m| m.contains("VI JSON login failed")));

    // Both families failing for the same reason is that reason, not a floor problem.
    sim.control()
        .patch_faults(&serde_json::json!({ "unavailable_endpoints": [] }))
        .expect("fault");
    let r = run_check(common::client_config(&sim, "admin", "wrong")).await;
    assert_eq!(
        (r.verdict, r.class),
        (Verdict::Failed, Some(FailureClass::AuthInvalid)),
        "{}",
        r.render()
    );

    let s = sim.stats();
    assert_eq!(
        (s.sessions.vim.active, s.sessions.rest.active),
        (0, 0),
        "the family that logged in is logged out"
    );
}

#[tokio::test]
async fn issues_name_the_stage_the_object_and_what_to_do() {
    let sim = Simulator::start(SimConfig::small().user("np", "np-pw", Role::Noperf))
        .await
        .expect("sim");
    // A user without the performance privilege: vCenter's NoPermission names the privilege.
    let np = run_check(common::client_config(&sim, "np", "np-pw")).await;
    let perf = np
        .issues
        .iter()
        .find(|i| i.stage == Stage::Performance)
        .unwrap_or_else(|| panic!("no performance issue: {}", np.render()));
    assert_eq!(perf.class, FailureClass::PermissionDenied);
    assert_eq!(perf.privileges, ["System.Read"]);
    assert!(perf
        .hint
        .as_deref()
        .is_some_and(|h| h.contains("System.Read")));

    // An admin changed a counter's level above the statistics level (1, the default).
    let ok = run_check(common::client_config(&sim, "admin", "admin")).await;
    assert!(
        ok.issues.iter().all(|i| i.stage != Stage::Performance),
        "{}",
        ok.render()
    );
    sim.control()
        .patch_faults(&json!({"counter_levels": {"sys.uptime.latest": 4}}))
        .expect("fault");
    let r = run_check(common::client_config(&sim, "admin", "admin")).await;
    let counter = r
        .issues
        .iter()
        .find(|i| i.stage == Stage::Performance)
        .unwrap_or_else(|| panic!("no counter issue: {}", r.render()));
    assert_eq!(counter.subject.as_deref(), Some("sys.uptime.latest"));
    assert_eq!(
        counter.hint.as_deref(),
        Some("statistics level 1 does not collect sys.uptime.latest: raise it to 4 or ignore")
    );
    assert_eq!(
        r.verdict,
        Verdict::Ok,
        "a counter not kept does not degrade the floor"
    );
    // Raising the statistics level is the fix.
    sim.control()
        .patch_faults(&json!({"statistics_level": 4}))
        .expect("fault");
    let r = run_check(common::client_config(&sim, "admin", "admin")).await;
    assert!(r.issues.iter().all(|i| i.stage != Stage::Performance));

    // VMware Tools stops in every guest: each powered-on VM the check samples is an issue
    // about that VM with the Tools hint.
    {
        let mut inv = sim.control().state().inv_mut();
        let vms: Vec<String> = inv.ids_of("VirtualMachine").to_vec();
        for vm in vms {
            inv.modify(
                &vm,
                vec![("guest.toolsRunningStatus", json!("guestToolsNotRunning"))],
            );
        }
    }
    sim.control().state().publish();
    let r = run_check(common::client_config(&sim, "admin", "admin")).await;
    let guests: Vec<_> = r
        .issues
        .iter()
        .filter(|i| i.stage == Stage::Guest)
        .collect();
    assert!(!guests.is_empty(), "{}", r.render());
    for g in guests {
        let inv = sim.control().state().inv();
        let object = g.object.as_ref().expect("the VM");
        let vm = inv.get(&object.mo_id).expect("a simulator VM");
        assert_eq!(object.kind, "VirtualMachine");
        assert_eq!(object.name.as_deref(), Some(vm.name()));
        assert_eq!(
            vm.get_path("runtime.powerState").and_then(|v| v.as_str()),
            Some("poweredOn")
        );
        assert!(
            g.hint
                .as_deref()
                .is_some_and(|h| h.starts_with("VMware Tools not running")),
            "{g:?}"
        );
    }
    // The same issues, typed, in the JSON the command prints.
    let (_, out) = check_bin(
        &sim,
        "admin",
        "admin",
        &["--tls-thumbprint", &sim.thumbprint(), "--json"],
    )
    .await;
    let report: serde_json::Value = serde_json::from_str(&out).expect("json");
    assert!(
        report["issues"].as_array().is_some_and(|a| a
            .iter()
            .any(|i| i["stage"] == "guest" && i["object"]["kind"] == "VirtualMachine")),
        "{out}"
    );
}
