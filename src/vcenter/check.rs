//! The onboarding connection test: reachability, TLS, both logins, version floor, privileges,
//! and one read of each phase-1 floor surface. Optional surfaces degrade; the floor fails.

use serde::Serialize;
use serde_json::Value;

use super::client::{ClientConfig, VcClient};
use super::error::{ApiFamily, FailureClass, VcError, VcResult};
use super::issue::{HealthIssue, IssueObject, Stage};
use super::reads::{alarms, events, guest, perf, privileges, properties};

/// The phase-1 floor surfaces `check` reads once each.
pub const FLOOR_READS: &[&str] = &[
    "hosts",
    "vms",
    "snapshots",
    "datastores",
    "alarms",
    "events",
];

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Ok,
    Degraded,
    Failed,
}

impl Verdict {
    /// The process exit status `check` uses.
    pub fn exit_code(self) -> i32 {
        match self {
            Verdict::Ok => 0,
            Verdict::Degraded => 1,
            Verdict::Failed => 2,
        }
    }
}

/// One step of the check.
#[derive(Clone, Debug, Serialize)]
pub struct Step {
    pub name: &'static str,
    pub ok: bool,
    /// Whether a failure here fails the connection (floor) or only degrades it.
    pub required: bool,
    pub detail: String,
    pub class: Option<FailureClass>,
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct VcenterIdentity {
    pub name: String,
    pub version: String,
    pub build: String,
    pub instance_uuid: Option<String>,
    pub api_version: String,
}

#[derive(Clone, Debug, Serialize)]
pub struct CheckReport {
    pub verdict: Verdict,
    /// The class of the first required step that failed, or `phase1_floor_unmet` when only one
    /// API family logged in.
    pub class: Option<FailureClass>,
    /// Why the verdict is failed, in words: the first required failure's detail, or what of the
    /// phase-1 floor is missing.
    pub message: Option<String>,
    pub url: String,
    pub vcenter: Option<VcenterIdentity>,
    pub negotiated_release: Option<String>,
    pub missing_privileges: Vec<String>,
    pub presented_thumbprint: Option<String>,
    pub steps: Vec<Step>,
    /// What degrades or fails the connection, typed as connection health types it: every
    /// failed step, counters vCenter does not keep, VMs whose guest cannot be read.
    pub issues: Vec<HealthIssue>,
}

/// The stage of collection a check step stands for.
fn stage_of(step: &str) -> Stage {
    match step {
        "vi_json_login" | "rest_login" => Stage::Sessions,
        "privileges" => Stage::Privileges,
        "hosts" | "vms" | "snapshots" | "datastores" => Stage::FullSync,
        "alarms" | "alarm_names" => Stage::Alarms,
        "events" => Stage::Events,
        "perf" => Stage::Performance,
        "tags" => Stage::Tags,
        "guest" => Stage::Guest,
        _ => Stage::Connect,
    }
}

impl CheckReport {
    fn push<T>(
        &mut self,
        name: &'static str,
        required: bool,
        r: &VcResult<T>,
        ok_detail: impl FnOnce(&T) -> String,
    ) -> bool {
        let step = match r {
            Ok(v) => Step {
                name,
                ok: true,
                required,
                detail: ok_detail(v),
                class: None,
            },
            Err(e) => {
                if self.presented_thumbprint.is_none() {
                    self.presented_thumbprint = e.presented_thumbprint.clone();
                }
                // A floor read that fails for no transport, trust or permission reason means
                // this vCenter cannot give the phase-1 floor.
                let class = if FLOOR_READS.contains(&name) && e.class == FailureClass::Unknown {
                    FailureClass::Phase1FloorUnmet
                } else {
                    e.class
                };
                let mut issue = HealthIssue::from_error(stage_of(name), e);
                issue.class = class;
                self.issues.push(issue);
                Step {
                    name,
                    ok: false,
                    required,
                    detail: e.to_string(),
                    class: Some(class),
                }
            }
        };
        let ok = step.ok;
        if !ok && required && self.class.is_none() {
            self.class = step.class;
            self.message = Some(step.detail.clone());
        }
        self.steps.push(step);
        ok
    }

    /// Phase 1 needs both API families: one that cannot log in fails the connection whatever
    /// the cause, while its step keeps that cause's class, which is what the operator fixes.
    /// Both failing is left to the first failure's class (a wrong password is `auth_invalid`).
    fn one_family_only(&mut self, failed: ApiFamily) {
        let (step, working) = match failed {
            ApiFamily::ViJson => ("vi_json_login", ApiFamily::Rest),
            ApiFamily::Rest => ("rest_login", ApiFamily::ViJson),
        };
        let cause = self
            .steps
            .iter()
            .find(|s| s.name == step)
            .and_then(|s| s.class)
            .unwrap_or(FailureClass::Unknown);
        self.class = Some(FailureClass::Phase1FloorUnmet);
        self.message = Some(format!(
            "only {working} logged in; the {failed} login failed ({cause}, see step {step}): phase 1 needs both API families"
        ));
    }

    /// Human-readable lines for a terminal.
    pub fn render(&self) -> String {
        let mut out = format!("verdict: {:?}", self.verdict).to_lowercase();
        if let Some(c) = self.class {
            out.push_str(&format!(" ({c})"));
        }
        out.push('\n');
        if let Some(m) = &self.message {
            out.push_str(&format!("{m}\n"));
        }
        if let Some(v) = &self.vcenter {
            out.push_str(&format!(
                "vCenter: {} {} build {} instanceUuid {}\n",
                v.name,
                v.version,
                v.build,
                v.instance_uuid.as_deref().unwrap_or("-")
            ));
        }
        if let Some(r) = &self.negotiated_release {
            out.push_str(&format!("VI JSON release: {r}\n"));
        }
        for s in &self.steps {
            let mark = if s.ok {
                "ok  "
            } else if s.required {
                "FAIL"
            } else {
                "warn"
            };
            out.push_str(&format!("[{mark}] {:<14} {}\n", s.name, s.detail));
        }
        for i in &self.issues {
            out.push_str(&format!(
                "issue {} ({}): {}\n",
                i.stage.as_str(),
                i.class,
                i.message
            ));
            if let Some(h) = &i.hint {
                out.push_str(&format!("  hint: {h}\n"));
            }
        }
        if let Some(t) = &self.presented_thumbprint {
            out.push_str(&format!("presented certificate SHA-256 thumbprint: {t}\n"));
        }
        out
    }
}

fn count<T>(v: &[T]) -> String {
    format!("{} read", v.len())
}

/// Runs the check and logs both sessions out before returning.
pub async fn run_check(cfg: ClientConfig) -> CheckReport {
    let mut report = CheckReport {
        verdict: Verdict::Failed,
        class: None,
        message: None,
        url: cfg.url.clone(),
        vcenter: None,
        negotiated_release: None,
        missing_privileges: Vec::new(),
        presented_thumbprint: None,
        steps: Vec::new(),
        issues: Vec::new(),
    };
    let client = match VcClient::new(cfg) {
        Ok(c) => c,
        Err(e) => {
            report.push::<()>("configuration", true, &Err(e), |_| String::new());
            return report;
        }
    };
    run_steps(&client, &mut report).await;
    client.logout().await;
    let required_failed = report.steps.iter().any(|s| s.required && !s.ok);
    let optional_failed = report.steps.iter().any(|s| !s.required && !s.ok);
    report.verdict = if required_failed {
        Verdict::Failed
    } else if optional_failed || !report.missing_privileges.is_empty() {
        Verdict::Degraded
    } else {
        Verdict::Ok
    };
    report
}

async fn run_steps(c: &VcClient, report: &mut CheckReport) {
    let n = c.negotiate().await.cloned();
    if !report.push("vi_json", true, &n, |n| {
        format!("release {} ({})", n.release, n.content.about.full_name)
    }) {
        return;
    }
    let Ok(n) = n else { return };
    let a = &n.content.about;
    report.vcenter = Some(VcenterIdentity {
        name: a.name.clone(),
        version: a.version.clone(),
        build: a.build.clone(),
        instance_uuid: a.instance_uuid.clone(),
        api_version: a.api_version.clone(),
    });
    report.negotiated_release = Some(n.release.clone());
    // Before any login: an ESXi host would accept the password and leave a session behind.
    if !report.push("api_type", true, &n.require_vcenter(), |_| {
        "vCenter Server (apiType VirtualCenter)".into()
    }) {
        return;
    }
    let vim = c.login_vim().await;
    // Both families log in through the same SSO: a password refused once would be refused
    // again, and each refusal brings the account nearer to SSO's lockout.
    if matches!(&vim, Err(e) if e.class == FailureClass::AuthInvalid) {
        report.push("vi_json_login", true, &vim, |_| String::new());
        return;
    }
    let rest = c.login_rest().await;
    let vim_ok = report.push("vi_json_login", true, &vim, |_| "logged in".into());
    let rest_ok = report.push("rest_login", true, &rest, |_| "logged in".into());
    match (vim_ok, rest_ok) {
        (true, false) => report.one_family_only(ApiFamily::Rest),
        (false, true) => report.one_family_only(ApiFamily::ViJson),
        _ => {}
    }
    if !vim_ok {
        return;
    }
    let missing = privileges::missing_privileges(c).await;
    report.push(
        "privileges",
        true,
        &missing.clone().and_then(|m| {
            if m.is_empty() {
                Ok(m)
            } else {
                let mut e = VcError::new(
                    FailureClass::PermissionDenied,
                    ApiFamily::ViJson,
                    "AuthorizationManager.FetchUserPrivilegeOnEntities",
                    format!("the user lacks {} on the root folder", m.join(", ")),
                );
                e.missing_privileges = m;
                Err(e)
            }
        }),
        |_| "phase-1 read privileges present".into(),
    );
    report.missing_privileges = missing.unwrap_or_default();
    let hosts = properties::retrieve_first(c, "HostSystem", &["name"], 10).await;
    report.push("hosts", true, &hosts, |v| count(v));
    let vms = properties::retrieve_first(
        c,
        "VirtualMachine",
        &["name", "snapshot", "runtime.powerState"],
        10,
    )
    .await;
    report.push("vms", true, &vms, |v| count(v));
    report.push("snapshots", true, &vms, |v| {
        format!(
            "{} of {} VMs have snapshots",
            v.iter()
                .filter(|o| o.prop_set.iter().any(|p| p.name == "snapshot"))
                .count(),
            v.len()
        )
    });
    let ds = properties::retrieve_first(c, "Datastore", &["name", "host"], 10).await;
    report.push("datastores", true, &ds, |v| count(v));
    let root = c.negotiate().await.map(|n| n.content.root_folder.clone());
    let triggered = match root {
        Ok(r) => c.vim_get::<Value>(&r, "triggeredAlarmState").await,
        Err(e) => Err(e),
    };
    report.push("alarms", true, &triggered, |v| {
        format!(
            "{} triggered",
            v.as_ref().and_then(Value::as_array).map_or(0, Vec::len)
        )
    });
    let names = alarms::alarm_names(c).await;
    report.push("alarm_names", false, &names, |m| {
        format!("{} definitions", m.len())
    });
    let ev = events::events_since(c, None, None, 10, events::Keep::Newest).await;
    report.push("events", true, &ev, |v| count(v));
    report.push(
        "perf",
        false,
        &check_perf(c, hosts.as_deref().unwrap_or_default()).await,
        |s| s.clone(),
    );
    if let Ok(missing) = perf::counter_coverage(c, perf::SERVICE_COUNTERS).await {
        report.issues.extend(missing);
    }
    if rest_ok {
        let v = guest::appliance_version(c).await;
        report.push("rest_version", false, &v, |v| {
            v.as_ref()
                .map(|v| format!("{} build {}", v.version, v.build))
                .unwrap_or_default()
        });
        let tags = guest::tag_catalog(c).await;
        report.push("tags", false, &tags, |t| format!("{} tags", t.len()));
        let guests = check_guests(c, vms.as_deref().unwrap_or_default()).await;
        report.push("guest", false, &guests, |(read, without)| {
            format!(
                "{read} guests read, {} without VMware Tools running",
                without.len()
            )
        });
        if let Ok((_, without)) = guests {
            report.issues.extend(without);
        }
    }
}

/// Reads the guest identity of the powered-on VMs among `vms`: how many answered, and an issue
/// for each whose Tools is not running (a VM without Tools is normal, not a failed read).
async fn check_guests(
    c: &VcClient,
    vms: &[super::wire::property::ObjectContent],
) -> VcResult<(usize, Vec<HealthIssue>)> {
    let mut read = 0;
    let mut without = Vec::new();
    for vm in vms {
        let prop = |name: &str| {
            vm.prop_set
                .iter()
                .find(|p| p.name == name)
                .and_then(|p| p.val.clone().into_value().ok())
        };
        if prop("runtime.powerState").as_ref().and_then(Value::as_str) != Some("poweredOn") {
            continue;
        }
        match guest::guest_identity(c, &vm.obj.value).await? {
            Some(_) => read += 1,
            None => {
                let mut object = IssueObject::new(&vm.obj.kind, &vm.obj.value);
                object.name = prop("name").and_then(|v| v.as_str().map(str::to_string));
                without.push(HealthIssue::tools_not_running(object));
            }
        }
    }
    Ok((read, without))
}

async fn check_perf(
    c: &VcClient,
    hosts: &[super::wire::property::ObjectContent],
) -> VcResult<String> {
    let ids = perf::counter_ids(c).await?;
    let limit = perf::max_query_metrics(c).await;
    let Some(host) = hosts.first() else {
        return Ok(format!("{} counters, no host to sample", ids.len()));
    };
    let counters: Vec<i64> = ["cpu.usage.average", "mem.usage.average"]
        .iter()
        .filter_map(|n| ids.get(*n).copied())
        .collect();
    let r = perf::query(
        c,
        &[perf::PerfRequest {
            entity: host.obj.clone(),
            counters,
        }],
        perf::REALTIME,
        1,
        limit,
    )
    .await?;
    Ok(format!(
        "{} counters, maxQueryMetrics {}, {} series sampled",
        ids.len(),
        limit.map_or("unlimited".to_string(), |l| l.to_string()),
        r.iter().map(|m| m.value.len()).sum::<usize>()
    ))
}
