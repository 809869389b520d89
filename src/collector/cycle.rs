//! The connection's main loop: log in on both API families, sync, follow the change feed until
//! stopped or broken, and back off before the next cycle. A cycle is refused before any login
//! when the endpoint is not a vCenter, and stands down when another connection reads the same
//! vCenter.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use tokio::sync::watch;

use super::issues::family_health;
use super::{cadence, feed, sleep_or_stop, sync, Shared};
use crate::inventory::{ConnectionState, Stage, VcenterAbout};
use crate::vcenter::reads::{privileges, properties};
use crate::vcenter::session::login_backoff;
use crate::vcenter::{ApiFamily, FailureClass, Negotiated, VcError};

pub(super) async fn feed_loop(s: Arc<Shared>, mut stop: watch::Receiver<bool>) {
    let mut failures = 0u32;
    loop {
        if *stop.borrow() {
            return;
        }
        let published = s.stats.snapshots_published.load(Ordering::Relaxed);
        match session_cycle(&s, &mut stop).await {
            Ok(()) => return,
            Err(e) => {
                let progressed = s.stats.snapshots_published.load(Ordering::Relaxed) > published;
                // A feed lost after good work (restart, expired session) is a resync, at once;
                // a cycle that never got anywhere is a failure and backs off.
                let wait = if progressed && e.is_object_gone() {
                    failures = 0;
                    Duration::ZERO
                } else {
                    failures = if progressed { 1 } else { failures + 1 };
                    s.failed(&e);
                    // The session slot backs off logins; this spaces resyncs of a sick vCenter.
                    // A transient trouble (503s, timeouts) is retried within 20 s, so a
                    // vCenter that recovers is collected again within one short wait.
                    let cap = if e.class.is_transient() { 20 } else { 60 };
                    login_backoff(e.class, failures).min(Duration::from_secs(cap))
                };
                if sleep_or_stop(wait, &mut stop).await {
                    return;
                }
            }
        }
    }
}

/// Another connection reads this vCenter: keep nothing, hold no session (the one login that
/// proved the credentials is logged out), and say whose it is.
fn stand_down_as_duplicate(s: &Shared, n: &Negotiated, uuid: &str, holder: String) {
    tracing::info!(connection = %s.slot.id, duplicate_of = %holder, "another connection already reads this vCenter; standing down");
    s.slot.clear();
    s.slot.update_health(|h| {
        *h = Default::default();
        h.state = ConnectionState::Duplicate;
        h.last_attempt = Some(Utc::now());
        h.about = VcenterAbout {
            version: Some(n.content.about.version.clone()),
            build: Some(n.content.about.build.clone()),
            instance_uuid: Some(uuid.to_string()),
            negotiated_release: Some(n.release.clone()),
        };
        h.duplicate_of = Some(holder);
    });
}

/// Logs in, syncs, and follows the change feed until stopped (Ok) or broken (Err: retry).
async fn session_cycle(s: &Shared, stop: &mut watch::Receiver<bool>) -> Result<(), VcError> {
    let c = &s.client;
    s.slot.update_health(|h| h.last_attempt = Some(Utc::now()));
    let n = c.negotiate().await?.clone();
    refuse_non_vcenter(s, &n)?;
    let uuid = n.content.about.instance_uuid.clone().unwrap_or_default();
    // The endpoint now answers as another vCenter (re-pointed or reinstalled): what the slot
    // holds describes a vCenter this connection no longer reaches, so it leaves the graph now
    // rather than at the end of the next full sync.
    if s.slot
        .snapshot()
        .is_some_and(|prev| !prev.instance_uuid.eq_ignore_ascii_case(&uuid))
    {
        tracing::info!(connection = %s.slot.id, "the endpoint is another vCenter now; its old resources leave the graph");
        s.slot.clear();
    }
    c.login_vim().await?;
    // Only a connection that can log in claims its vCenter: a draft with a wrong password must
    // not push the working connection aside.
    if let Some(holder) = s
        .config
        .claims
        .as_ref()
        .and_then(|cl| cl.claim(&uuid, &s.slot.id).err())
    {
        c.logout().await;
        stand_down_as_duplicate(s, &n, &uuid, holder);
        return Ok(());
    }
    // Both tokens may be left from before a vCenter restart: a real call on each finds out,
    // so health never says a family is logged in on a session vCenter no longer has.
    c.keepalive().await;
    let rest = c.login_rest().await;
    family_health(s).await;
    match rest {
        Ok(()) => {}
        // Phase 1 needs both families (guest identity, tags and the appliance version are REST
        // only): a vCenter where only VI JSON logs in fails closed instead of serving a graph
        // that silently lacks them. The cycle is retried with backoff like any failure.
        Err(e) => {
            return Err(VcError::new(
                FailureClass::Phase1FloorUnmet,
                ApiFamily::Rest,
                "REST login",
                format!(
                    "only VI JSON logs in; the Automation REST login fails ({}): {}",
                    e.class, e.message
                ),
            ));
        }
    }
    if let Ok(mut ctx) = s.ctx.lock() {
        Arc::make_mut(&mut ctx).instance_uuid.clone_from(&uuid);
    }
    s.slot.update_health(|h| {
        h.about = VcenterAbout {
            version: Some(n.content.about.version.clone()),
            build: Some(n.content.about.build.clone()),
            instance_uuid: Some(uuid.clone()),
            negotiated_release: Some(n.release.clone()),
        };
    });
    // Every optional read clears its own issue when it works again: a cycle that failed during
    // an outage must not leave the connection degraded after vCenter is back.
    match privileges::missing_privileges(c).await {
        Ok(m) => {
            s.slot.update_health(|h| h.missing_privileges = m);
            s.clear_issue(Stage::Privileges);
        }
        Err(e) => s.optional_issue(Stage::Privileges, &e),
    }
    if s.slot.snapshot().is_none() || s.ctx().alarm_names.is_empty() {
        cadence::refresh_metadata(s).await;
    }
    s.resume().await;
    let types = sync::collected_types();
    let view = properties::create_view(c, &types).await?;
    let result = feed::follow(s, &view, stop).await;
    properties::destroy_view(c, &view).await;
    result
}

/// An endpoint re-pointed at an ESXi host is refused before any login. What the slot holds
/// came from a vCenter this connection no longer reaches, so it leaves the graph now, and with
/// no snapshot the side loop sends nothing either.
fn refuse_non_vcenter(s: &Shared, n: &Negotiated) -> Result<(), VcError> {
    let Err(e) = n.require_vcenter() else {
        return Ok(());
    };
    if s.slot.snapshot().is_some() {
        tracing::info!(connection = %s.slot.id, "the endpoint is not a vCenter now; its old resources leave the graph");
        s.slot.clear();
    }
    // `failed` marks the VI JSON family; REST was never tried either.
    s.slot.update_health(|h| h.rest.logged_in = false);
    Err(e)
}
