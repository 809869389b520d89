//! What one collector tells connection health beyond the snapshot: the issues of optional reads
//! and unreadable objects (typed, counted, with a hint), and whether each API family holds a
//! session, as the last real call of that family found it.

use std::collections::{HashMap, HashSet};

use crate::inventory::{ConnectionHealth, ConnectionState, HealthIssue, IssueObject, Stage};
use crate::model::snapshot::InventorySnapshot;
use crate::vcenter::issue::{record, replace_stage};
use crate::vcenter::{FailureClass, VcError};

use super::Shared;

/// Unreadable properties named one by one in connection health.
pub const ISSUES_LISTED: usize = 50;

impl Shared {
    /// An optional read of `stage` failed: the connection is degraded, not failed.
    pub(super) fn optional_issue(&self, stage: Stage, e: &VcError) {
        self.record_issue(HealthIssue::from_error(stage, e));
    }

    /// Records `issue` (or counts it again when it is already listed).
    pub(super) fn record_issue(&self, issue: HealthIssue) {
        self.slot.update_health(|h| {
            record(&mut h.issues, issue);
            settle(h);
        });
    }

    /// A read of `stage` works again: its failure is gone (issues about one object or counter
    /// of the stage are their own producer's to clear).
    pub(super) fn clear_issue(&self, stage: Stage) {
        self.slot.update_health(|h| {
            replace_stage(
                &mut h.issues,
                |i| i.stage == stage && i.is_stage_wide(),
                Vec::new(),
            );
            settle(h);
        });
    }

    /// The history's `subject` (`resume`, `writer`) works again.
    pub(super) fn clear_history_issue(&self, subject: &str) {
        clear_history(&self.slot, subject);
    }

    /// The counters vCenter does not keep are now exactly `fresh`.
    pub(super) fn replace_counter_issues(&self, fresh: Vec<HealthIssue>) {
        self.slot.update_health(|h| {
            replace_stage(&mut h.issues, is_counter_issue, fresh);
            settle(h);
        });
    }
}

/// Drops the history issue about `subject` from `slot`'s health.
pub(super) fn clear_history(slot: &crate::inventory::ConnectionSlot, subject: &str) {
    let listed =
        |i: &HealthIssue| i.stage == Stage::History && i.subject.as_deref() == Some(subject);
    if !slot.health().issues.iter().any(listed) {
        return;
    }
    slot.update_health(|h| {
        replace_stage(&mut h.issues, listed, Vec::new());
        settle(h);
    });
}

fn is_counter_issue(i: &HealthIssue) -> bool {
    i.stage == Stage::Performance && !i.is_stage_wide()
}

/// Issues the publish of a snapshot owns: its unreadable properties.
pub(super) fn is_object_issue(i: &HealthIssue) -> bool {
    i.stage == Stage::FullSync
}

/// The unreadable properties of `snap` as health issues: the first [`ISSUES_LISTED`] by object
/// (with its canonical id and name where the graph serves it), then one issue counting the rest
/// (the snapshot keeps all of them).
pub(super) fn object_issues(snap: &InventorySnapshot) -> Vec<HealthIssue> {
    let listed = &snap.issues[..snap.issues.len().min(ISSUES_LISTED)];
    let wanted: HashSet<&str> = listed.iter().map(|i| i.moid.as_str()).collect();
    let mut known: HashMap<&str, (String, String)> = HashMap::new();
    let resources = snap
        .agents
        .iter()
        .map(|a| (&a.moid, &a.id, &a.name))
        .chain(snap.vms.iter().map(|v| (&v.moid, &v.id, &v.name)))
        .chain(snap.storage.iter().map(|d| (&d.moid, &d.id, &d.name)));
    for (moid, id, name) in resources {
        if wanted.contains(moid.as_str()) {
            known.insert(moid, (id.to_string(), name.clone()));
        }
    }
    let mut out: Vec<HealthIssue> = listed
        .iter()
        .map(|i| {
            let mut object = IssueObject::new(&i.kind, &i.moid);
            if let Some((id, name)) = known.get(i.moid.as_str()) {
                object.id = Some(id.clone());
                object.name = Some(name.clone());
            }
            HealthIssue::unreadable(object, &i.path, &i.fault)
        })
        .collect();
    if snap.issues.len() > ISSUES_LISTED {
        let mut more = HealthIssue::new(
            Stage::FullSync,
            FailureClass::PermissionDenied,
            format!(
                "{} more properties unreadable (listed in the snapshot's issues)",
                snap.issues.len() - ISSUES_LISTED
            ),
        );
        more.subject = Some("more".into());
        out.push(more);
    }
    out
}

/// A working connection is healthy without issues and degraded with them; the other states
/// (connecting, failed, disabled) are the feed loop's to change.
pub(super) fn settle(h: &mut ConnectionHealth) {
    if matches!(
        h.state,
        ConnectionState::Healthy | ConnectionState::Degraded
    ) {
        h.state = if h.issues.is_empty() && h.missing_privileges.is_empty() {
            ConnectionState::Healthy
        } else {
            ConnectionState::Degraded
        };
    }
}

/// Health says `loggedIn` only while the client holds that session: a keep-alive call on each
/// finds a session vCenter ended (expiry, restart) and logs in again, or, when vCenter refuses
/// (session limit, password changed), leaves the family logged out with the login's class.
pub(super) async fn check_sessions(s: &Shared) {
    s.client.keepalive().await;
    family_health(s).await;
}

/// Each family's session as the client holds it after its last real call: a call refused for
/// an ended session dropped it, and a failed login left its class and a `sessions` issue
/// saying why (it goes with the next login that works).
pub(super) async fn family_health(s: &Shared) {
    let (vim, rest) = s.client.holds_sessions().await;
    let (vim_err, rest_err) = s.client.login_errors().await;
    let mut refused = Vec::new();
    for (held, err, name) in [(vim, &vim_err, "vi_json"), (rest, &rest_err, "rest")] {
        if let (false, Some(e)) = (held, err) {
            let mut i = HealthIssue::from_error(Stage::Sessions, e);
            i.subject = Some(name.to_string());
            refused.push(i);
        }
    }
    s.slot.update_health(|h| {
        h.vim.logged_in = vim;
        h.rest.logged_in = rest;
        for (held, err, fam) in [(vim, vim_err, &mut h.vim), (rest, rest_err, &mut h.rest)] {
            if held {
                fam.last_error_class = None;
            } else if let Some(e) = err {
                fam.last_error_class = Some(e.class.to_string());
            }
        }
        replace_stage(&mut h.issues, is_login_issue, refused);
        settle(h);
    });
}

fn is_login_issue(i: &HealthIssue) -> bool {
    i.stage == Stage::Sessions && i.subject.is_some()
}
