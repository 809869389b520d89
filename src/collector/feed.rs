//! Following one vCenter: a full sync read page by page, then its change feed applied and
//! published until it is lost (a resync), the session ends, or the collector stops.

use std::collections::HashSet;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use chrono::Utc;
use tokio::sync::watch;

use super::{sleep_or_stop, sync, Shared};
use crate::inventory::Stage;
use crate::model::raw_inventory::RawInventory;
use crate::vcenter::reads::updates::ChangeFeed;
use crate::vcenter::VcError;

/// Reads everything in `view`, publishes it, then follows the change feed.
pub(super) async fn follow(
    s: &Shared,
    view: &crate::vcenter::MoRef,
    stop: &mut watch::Receiver<bool>,
) -> Result<(), VcError> {
    let c = &s.client;
    s.syncing.store(true, Ordering::Relaxed);
    let _synced = Synced(s);
    let t = Instant::now();
    let mut raw = sync::full_sync(c, view, s.config.page_size).await?;
    tracing::debug!(
        connection = %s.slot.id,
        objects = raw.len(),
        ms = t.elapsed().as_millis() as u64,
        "full sync read"
    );
    s.stats.full_syncs.fetch_add(1, Ordering::Relaxed);
    s.stats.full_sync_seconds.observe(t.elapsed());
    super::tags::at_full_sync(s, &raw).await;
    s.publish(&mut raw);
    let feed = ChangeFeed::create(c, sync::spec(view)).await?;
    let result = follow_feed(s, &feed, &mut raw, stop).await;
    feed.destroy(c).await;
    result
}

/// Ends [`Shared::syncing`] however the sync ends (the initial update set applied, an error,
/// a stop).
struct Synced<'a>(&'a Shared);

impl Drop for Synced<'_> {
    fn drop(&mut self) {
        self.0.syncing.store(false, Ordering::Relaxed);
    }
}

/// How long a change feed keeps waiting again while vCenter's front end answers 503, before
/// the cycle fails (health `failed`) and resyncs. Each wait has already been sent 5 times, so
/// under intermittent failures one in 32 waits comes back unanswered and the next one works;
/// a vCenter that is down answers nothing for longer than this and is reported within ~15 s.
const FEED_PATIENCE: Duration = Duration::from_secs(10);

async fn follow_feed(
    s: &Shared,
    feed: &ChangeFeed,
    raw: &mut RawInventory,
    stop: &mut watch::Receiver<bool>,
) -> Result<(), VcError> {
    let c = &s.client;
    // The initial update set repeats the full sync. Its `enter`s replace the synced objects in
    // place (a second inventory would double the memory at 45,000 VMs); when it is complete,
    // objects it did not mention left in between and are dropped.
    let mut version = String::new();
    let mut initial: Option<HashSet<String>> = Some(HashSet::new());
    let mut dirty = false;
    let mut last_publish = Instant::now();
    // When the oldest change not yet published arrived (the feed lag's start).
    let mut unpublished_since: Option<Instant> = None;
    let started = Instant::now();
    // Since the last wait vCenter answered.
    let mut unanswered_since = Instant::now();
    // A wait went unanswered and health says so, until one is answered.
    let mut unanswered_issue = s
        .slot
        .health()
        .issues
        .iter()
        .any(|i| i.stage == Stage::ChangeFeed);
    loop {
        let wait = if initial.is_some() || dirty {
            Duration::ZERO
        } else {
            s.config.wait
        };
        let r = tokio::select! {
            r = feed.wait(c, &version, wait, s.config.max_updates) => r,
            _ = stop.changed() => return Ok(()),
        };
        match r {
            Ok(Some(set)) => {
                let truncated = set.truncated.unwrap_or(false);
                version = set.version.clone();
                if let Some(seen) = initial.as_mut() {
                    for f in &set.filter_set {
                        seen.extend(f.object_set.iter().map(|u| u.obj.value.clone()));
                    }
                }
                let n = sync::apply_updates(raw, set);
                s.stats
                    .updates_applied
                    .fetch_add(n as u64, Ordering::Relaxed);
                if truncated {
                    continue;
                }
                match initial.take() {
                    Some(seen) => {
                        raw.retain(|id| seen.contains(id));
                        s.syncing.store(false, Ordering::Relaxed);
                        tracing::debug!(connection = %s.slot.id, ms = started.elapsed().as_millis() as u64, "initial update set applied");
                    }
                    None => {
                        unpublished_since.get_or_insert_with(Instant::now);
                    }
                }
                dirty = true;
            }
            Ok(None) => {
                if let Some(seen) = initial.take() {
                    raw.retain(|id| seen.contains(id));
                    s.syncing.store(false, Ordering::Relaxed);
                    dirty = true;
                } else if !dirty {
                    // Nothing changed since the last publish: the snapshot is current now.
                    s.slot.update_health(|h| h.confirmed_at = Some(Utc::now()));
                }
            }
            Err(e) if e.is_object_gone() || !feed.is_current(c) => {
                s.stats.resyncs.fetch_add(1, Ordering::Relaxed);
                tracing::info!(connection = %s.slot.id, fault = ?e.fault, "change feed lost; resyncing");
                return Err(e);
            }
            // The wait never reached vCenter's service (a bare 503, already resent by the
            // client): the feed and its version are intact, so wait again rather than throw
            // away the inventory and read it all again through the same trouble.
            Err(e) if e.is_unanswered() && unanswered_since.elapsed() < FEED_PATIENCE => {
                tracing::debug!(connection = %s.slot.id, "change feed wait unanswered; waiting again");
                s.optional_issue(Stage::ChangeFeed, &e);
                unanswered_issue = true;
                if sleep_or_stop(Duration::from_secs(1), stop).await {
                    return Ok(());
                }
                continue;
            }
            Err(e) => return Err(e),
        }
        unanswered_since = Instant::now();
        if std::mem::take(&mut unanswered_issue) {
            s.clear_issue(Stage::ChangeFeed);
        }
        if s.metadata_changed.swap(false, Ordering::Relaxed) {
            dirty = true;
        }
        if dirty && last_publish.elapsed() >= s.config.publish_every {
            s.publish(raw);
            dirty = false;
            last_publish = Instant::now();
            if let Some(since) = unpublished_since.take() {
                s.stats.feed_lag_seconds.observe(since.elapsed());
            }
        } else if dirty {
            let left = s
                .config
                .publish_every
                .saturating_sub(last_publish.elapsed());
            // Collect more changes for the rest of the publish interval, then publish.
            let r = tokio::select! {
                r = feed.wait(c, &version, left.max(Duration::from_secs(1)), s.config.max_updates) => r,
                _ = stop.changed() => return Ok(()),
            };
            match r {
                Ok(Some(set)) => {
                    version = set.version.clone();
                    let n = sync::apply_updates(raw, set);
                    s.stats
                        .updates_applied
                        .fetch_add(n as u64, Ordering::Relaxed);
                }
                // Publish what is there; the next wait asks again from the same version.
                Ok(None) => {}
                Err(e) if e.is_unanswered() => {}
                Err(e) => return Err(e),
            }
            s.publish(raw);
            dirty = false;
            last_publish = Instant::now();
            if let Some(since) = unpublished_since.take() {
                s.stats.feed_lag_seconds.observe(since.elapsed());
            }
        }
    }
}
