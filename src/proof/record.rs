//! The proof record: what a run found, as JSON and as Markdown from `docs/proof-record-template.md`.
//! It names the vCenter, the user and what was read; never a password, token or session id.

use serde::Serialize;

use crate::vcenter::methods::MethodKind;
use crate::vcenter::ApiFamily;

/// What the record calls itself; the store refuses anything else.
pub const RECORD_KIND: &str = "vmware-vcenter-phase1-proof";

const TEMPLATE: &str = include_str!("../../docs/proof-record-template.md");

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Pass,
    Fail,
    NotRun,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Pass,
    Fail,
    CouldNotRun,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Pass => "pass",
            Verdict::Fail => "fail",
            Verdict::CouldNotRun => "could_not_run",
        }
    }

    /// 0 every scenario passed, 1 some failed, 2 the proof could not run.
    pub fn exit_code(self) -> i32 {
        match self {
            Verdict::Pass => 0,
            Verdict::Fail => 1,
            Verdict::CouldNotRun => 2,
        }
    }
}

/// One scenario of the proof matrix (VC-0 .. VC-8).
#[derive(Clone, Debug, Serialize)]
pub struct Scenario {
    pub id: &'static str,
    pub title: &'static str,
    pub status: Status,
    /// Why it failed or was not run, one line.
    pub reason: Option<String>,
    /// What was compared or seen, one line each.
    pub evidence: Vec<String>,
    /// The vCenter privileges its reads need.
    pub privileges_needed: Vec<&'static str>,
}

impl Scenario {
    pub fn new(id: &'static str, title: &'static str, needs: &[&'static str]) -> Scenario {
        Scenario {
            id,
            title,
            status: Status::NotRun,
            reason: None,
            evidence: Vec::new(),
            privileges_needed: needs.to_vec(),
        }
    }

    pub fn see(&mut self, line: impl Into<String>) {
        self.evidence.push(line.into());
    }

    /// Records a check: its evidence line, and the first failure as the reason.
    pub fn check(&mut self, ok: bool, line: impl Into<String>) -> bool {
        let line = line.into();
        if !ok && self.reason.is_none() {
            self.reason = Some(line.clone());
        }
        self.evidence
            .push(format!("{} {line}", if ok { "ok:" } else { "FAIL:" }));
        ok
    }

    /// Pass unless a check failed.
    pub fn finish(&mut self) {
        self.status = if self.reason.is_some() {
            Status::Fail
        } else {
            Status::Pass
        };
    }

    pub fn not_run(&mut self, reason: impl Into<String>) {
        self.status = Status::NotRun;
        self.reason = Some(reason.into());
    }
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct Vcenter {
    pub url: String,
    pub name: String,
    pub version: String,
    pub build: String,
    pub instance_uuid: Option<String>,
    pub api_type: String,
    pub negotiated_release: Option<String>,
}

#[derive(Clone, Debug, Serialize)]
pub struct VersionFloor {
    /// The oldest VI JSON release this build negotiates.
    pub floor_release: String,
    pub observed_version: Option<String>,
    pub observed_build: Option<String>,
    pub negotiated_release: Option<String>,
    pub meets_floor: bool,
}

#[derive(Clone, Debug, Serialize)]
pub struct EntityPrivileges {
    /// `Type:moId` of the object asked about.
    pub object: String,
    pub privileges: Vec<String>,
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct Privileges {
    pub user: String,
    /// What `FetchUserPrivilegeOnEntities` returned on the root folder and a sample of objects.
    pub held: Vec<EntityPrivileges>,
    /// The phase-1 bundle's privileges the user lacks on any object asked about.
    pub missing_from_bundle: Vec<String>,
    /// The privileges the passing scenarios needed, each held: the minimal set that passed.
    pub minimal_set_that_passed: Vec<String>,
    /// Why privileges could not be read, if they could not.
    pub error: Option<String>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Method {
    pub family: ApiFamily,
    pub call: String,
    pub kind: MethodKind,
}

#[derive(Clone, Debug, Serialize)]
pub struct Tool {
    pub name: &'static str,
    pub version: &'static str,
}

/// A whole proof run.
#[derive(Clone, Debug, Serialize)]
pub struct Record {
    pub kind: &'static str,
    pub format: u32,
    pub date: String,
    pub started_at: String,
    pub finished_at: String,
    pub verdict: Verdict,
    /// Why the proof could not run, when it could not.
    pub reason: Option<String>,
    /// A simulated vCenter answered; such a record never counts as live proof.
    pub simulated: bool,
    pub simulation_evidence: Option<String>,
    pub tool: Tool,
    pub vcenter: Vcenter,
    pub version_floor: VersionFloor,
    pub scenarios: Vec<Scenario>,
    pub privileges: Privileges,
    /// Every distinct vCenter call the run made, each classified.
    pub methods: Vec<Method>,
    /// Sessions this run opened were logged out at the end.
    pub sessions_logged_out: bool,
}

impl Record {
    /// The verdict the scenarios give: every one passed, or some failed or were not run.
    pub fn settle(&mut self) {
        if self.verdict == Verdict::CouldNotRun {
            return;
        }
        let failed = self.scenarios.iter().find(|s| s.status != Status::Pass);
        self.verdict = match failed {
            None => Verdict::Pass,
            Some(s) => {
                self.reason = Some(format!(
                    "{}: {}",
                    s.id,
                    s.reason.as_deref().unwrap_or("failed")
                ));
                Verdict::Fail
            }
        };
    }

    /// `vmware-vcenter-phase1-proof-<date>`.
    pub fn file_stem(&self) -> String {
        format!("{RECORD_KIND}-{}", self.date)
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_default()
    }

    /// The Markdown record, from the template in `docs/`.
    pub fn to_markdown(&self) -> String {
        let v = &self.vcenter;
        let scenarios = self
            .scenarios
            .iter()
            .map(|s| {
                let status = match s.status {
                    Status::Pass => "pass",
                    Status::Fail => "**fail**",
                    Status::NotRun => "not run",
                };
                let cell = if s.evidence.is_empty() {
                    s.reason.clone().unwrap_or_default()
                } else {
                    s.evidence.join("<br>")
                };
                format!(
                    "| {} | {} | {status} | {} |",
                    s.id,
                    s.title,
                    cell.replace('|', "\\|")
                )
            })
            .collect::<Vec<_>>()
            .join("\n");
        let held = self
            .privileges
            .held
            .iter()
            .map(|h| format!("- `{}`: {}", h.object, h.privileges.join(", ")))
            .collect::<Vec<_>>()
            .join("\n");
        let methods = self
            .methods
            .iter()
            .map(|m| {
                let kind = serde_json::to_value(m.kind)
                    .ok()
                    .and_then(|k| k.as_str().map(str::to_string))
                    .unwrap_or_default();
                format!("| {} | `{}` | {kind} |", m.family, m.call)
            })
            .collect::<Vec<_>>()
            .join("\n");
        let none = |s: &Option<String>| s.clone().unwrap_or_else(|| "-".into());
        let f = &self.version_floor;
        [
            ("verdict", self.verdict.as_str().to_string()),
            ("reason", none(&self.reason)),
            ("date", self.date.clone()),
            ("started_at", self.started_at.clone()),
            ("finished_at", self.finished_at.clone()),
            ("simulated", self.simulated.to_string()),
            ("simulation_evidence", none(&self.simulation_evidence)),
            ("tool", format!("{} {}", self.tool.name, self.tool.version)),
            ("url", v.url.clone()),
            ("vcenter_name", v.name.clone()),
            ("vcenter_version", v.version.clone()),
            ("vcenter_build", v.build.clone()),
            ("instance_uuid", none(&v.instance_uuid)),
            ("api_type", v.api_type.clone()),
            ("negotiated_release", none(&v.negotiated_release)),
            ("floor_release", f.floor_release.clone()),
            ("meets_floor", f.meets_floor.to_string()),
            ("scenarios", scenarios),
            ("user", self.privileges.user.clone()),
            ("privileges_held", held),
            (
                "privileges_missing",
                self.privileges.missing_from_bundle.join(", "),
            ),
            (
                "privileges_minimal",
                self.privileges.minimal_set_that_passed.join(", "),
            ),
            ("privileges_error", none(&self.privileges.error)),
            ("methods", methods),
            ("sessions_logged_out", self.sessions_logged_out.to_string()),
        ]
        .iter()
        .fold(TEMPLATE.to_string(), |doc, (key, value)| {
            doc.replace(&format!("{{{{{key}}}}}"), value)
        })
    }
}
