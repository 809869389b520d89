//! vSphere tags on hosts, VMs and datastores (REST): read right after a full sync, before its
//! snapshot is published, so the first snapshot served already has them and the `tag` filter
//! matches from the start; then read again every `tags_every`.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::issues::family_health;
use super::Shared;
use crate::inventory::Stage;
use crate::model::raw_inventory::RawInventory;
use crate::model::resources::TagRef;
use crate::model::snapshot::InventorySnapshot;
use crate::vcenter::reads::guest;
use crate::vcenter::VcError;

/// The `[collector]` settings of the config file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CollectorSettings {
    /// How often tag attachments are read again, seconds (they are also read after every full
    /// sync). vCenter sends no change for a tag, so this bounds how stale a tag can be.
    pub tags_interval_seconds: u64,
}

impl Default for CollectorSettings {
    fn default() -> Self {
        CollectorSettings {
            tags_interval_seconds: 300,
        }
    }
}

impl CollectorSettings {
    /// Checks the ranges.
    ///
    /// # Errors
    /// A message naming the field out of range.
    pub fn validate(&self) -> Result<(), String> {
        if !(30..=86_400).contains(&self.tags_interval_seconds) {
            return Err("collector.tags_interval_seconds must be between 30 and 86400".into());
        }
        Ok(())
    }

    /// The tag interval.
    pub fn tags_every(&self) -> Duration {
        Duration::from_secs(self.tags_interval_seconds)
    }
}

/// The tagged kinds and their moIds.
type Tagged = [(&'static str, Vec<String>); 3];

fn tagged_in_raw(raw: &RawInventory) -> Tagged {
    let ids = |kind| raw.ids_of(kind).into_iter().map(str::to_string).collect();
    [
        ("HostSystem", ids("HostSystem")),
        ("VirtualMachine", ids("VirtualMachine")),
        ("Datastore", ids("Datastore")),
    ]
}

fn tagged_in_snapshot(snap: &InventorySnapshot) -> Tagged {
    [
        (
            "HostSystem",
            snap.agents.iter().map(|a| a.moid.clone()).collect(),
        ),
        (
            "VirtualMachine",
            snap.vms.iter().map(|v| v.moid.clone()).collect(),
        ),
        (
            "Datastore",
            snap.storage.iter().map(|d| d.moid.clone()).collect(),
        ),
    ]
}

/// After a full sync, before its publish: reads tags when they were never read or are due, so
/// the snapshot about to be published carries them.
pub(super) async fn at_full_sync(s: &Shared, raw: &RawInventory) {
    if due(s) {
        refresh(s, tagged_in_raw(raw)).await;
        // The publish that follows carries them; no second one is needed.
        s.metadata_changed.store(false, Ordering::Relaxed);
    }
}

/// On the side loop's cadence: reads tags again for what the snapshot holds.
pub(super) async fn on_interval(s: &Shared, snap: &InventorySnapshot) {
    if due(s) {
        refresh(s, tagged_in_snapshot(snap)).await;
    }
}

fn due(s: &Shared) -> bool {
    let last = *s.tags_read_at.lock().unwrap_or_else(|p| p.into_inner());
    last.is_none_or(|t| t.elapsed() >= s.config.tags_every)
}

async fn refresh(s: &Shared, tagged: Tagged) {
    match read(s, tagged).await {
        Ok(tags) => {
            let changed = s.ctx.lock().is_ok_and(|mut c| {
                let changed = c.tags != tags;
                if changed {
                    std::sync::Arc::make_mut(&mut c).tags = tags;
                }
                changed
            });
            if changed {
                // The feed publishes again with them even when vCenter reports no change.
                s.metadata_changed.store(true, Ordering::Relaxed);
            }
            *s.tags_read_at.lock().unwrap_or_else(|p| p.into_inner()) = Some(Instant::now());
            s.clear_issue(Stage::Tags);
        }
        Err(e) => {
            // Tried now: retried at the next interval, not at every tick of the side loop.
            *s.tags_read_at.lock().unwrap_or_else(|p| p.into_inner()) = Some(Instant::now());
            s.optional_issue(Stage::Tags, &e);
        }
    }
    // Tags are the REST family's regular calls: its health follows what they found.
    family_health(s).await;
}

async fn read(s: &Shared, tagged: Tagged) -> Result<HashMap<String, Vec<TagRef>>, VcError> {
    let catalog: HashMap<String, TagRef> = guest::tag_catalog(&s.client)
        .await?
        .into_iter()
        .map(|(t, cat)| {
            (
                t.id.clone(),
                TagRef {
                    category: cat,
                    name: t.name,
                },
            )
        })
        .collect();
    let mut out: HashMap<String, Vec<TagRef>> = HashMap::new();
    if catalog.is_empty() {
        return Ok(out);
    }
    for (kind, ids) in tagged {
        for a in guest::tags_of(&s.client, kind, &ids).await? {
            let tags: Vec<TagRef> = a
                .tag_ids
                .iter()
                .filter_map(|t| catalog.get(t).cloned())
                .collect();
            if !tags.is_empty() {
                out.insert(a.object_id.id, tags);
            }
        }
    }
    Ok(out)
}
