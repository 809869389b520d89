//! Several replicas on one PostgreSQL store: each applies the connection writes the others make.
//! A write announces its connection id (`store::changes`); every replica follows the
//! announcements and brings its registry in line with the store, and also re-reads the store
//! on an interval and after the listening connection is lost, when announcements may have gone
//! by unheard. SQLite has one process: nothing to follow.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use super::{invalid_spec, Onboarding, OnboardingError};
use crate::connections::Source;
use crate::store::StoreError;

/// How often a replica re-reads every connection even when it heard nothing.
pub const RESYNC_EVERY: Duration = Duration::from_secs(30);

/// What a re-read changed in this replica's registry.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Resync {
    pub added: usize,
    pub updated: usize,
    pub removed: usize,
}

impl Onboarding {
    /// Brings the registry's API connections in line with the store: rows it lacks are started,
    /// rows at another version are applied, connections whose row is gone are stopped. Config
    /// connections are not the store's and stay as they are.
    ///
    /// # Errors
    /// The store cannot be read (the registry is left as it was).
    pub async fn resync(&self) -> Result<Resync, OnboardingError> {
        let _g = self.lock.lock().await;
        let rows = self.seen(self.store.list_connections().await)?;
        let mut stored = HashMap::with_capacity(rows.len());
        for row in rows {
            let spec = match row {
                Ok(row) => self.spec_of(&row),
                Err(StoreError::RowInvalid { id, reason }) => invalid_spec(&id, &reason),
                Err(e) => return Err(e.into()),
            };
            stored.insert(spec.saved.id.clone(), spec);
        }
        let mut done = Resync::default();
        for c in self.registry.connections() {
            let spec = c.spec();
            if spec.source == Source::Api && !stored.contains_key(spec.id()) {
                match self.registry.remove(spec.id()).await {
                    Ok(()) => done.removed += 1,
                    Err(e) => {
                        tracing::warn!(error = %e, "a connection deleted by another replica did not stop")
                    }
                }
            }
        }
        for (id, spec) in stored {
            let applied = match self.registry.get(&id) {
                None => self.registry.add(spec).await.map(|_| &mut done.added),
                Some(c) if c.spec().source == Source::Config => continue,
                Some(c) if c.spec().saved.version == spec.saved.version => continue,
                Some(_) => self.registry.update(spec).await.map(|_| &mut done.updated),
            };
            match applied {
                Ok(n) => *n += 1,
                Err(e) => {
                    tracing::warn!(connection = %id, error = %e, "a connection written by another replica could not be applied")
                }
            }
        }
        if done != Resync::default() {
            tracing::info!(
                added = done.added,
                updated = done.updated,
                removed = done.removed,
                "applied connection changes from the store"
            );
        }
        Ok(done)
    }

    /// Follows other replicas' connection writes until the returned task is aborted; `None`
    /// when the store is SQLite.
    pub async fn follow_replicas(self: &Arc<Self>) -> Option<tokio::task::JoinHandle<()>> {
        if self.store.backend() != "postgres" {
            return None;
        }
        let me = self.clone();
        Some(tokio::spawn(async move {
            loop {
                match me.store.connection_changes().await {
                    Ok(Some(mut changes)) => {
                        // Whatever was announced before the listener was up.
                        let _ = me.resync().await;
                        me.apply_announcements(&mut changes).await;
                    }
                    Ok(None) => return,
                    Err(e) => {
                        tracing::warn!(error = %e, "cannot follow other replicas' connection changes; retrying");
                        tokio::time::sleep(Duration::from_secs(5)).await;
                    }
                }
            }
        }))
    }

    /// Re-reads on every announcement (a burst of them once), on the interval, and after the
    /// listening connection was lost; returns when the store cannot be reached.
    async fn apply_announcements(&self, changes: &mut crate::store::ConnectionChanges) {
        let mut tick = tokio::time::interval(RESYNC_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tick.tick().await;
        loop {
            tokio::select! {
                next = changes.next() => match next {
                    // Lets a burst of writes (an operator script) settle into one re-read.
                    Ok(Some(_)) | Ok(None) => tokio::time::sleep(Duration::from_millis(100)).await,
                    Err(e) => {
                        tracing::warn!(error = %e, "lost the store's connection change announcements");
                        return;
                    }
                },
                _ = tick.tick() => {}
            }
            if let Err(e) = self.resync().await {
                tracing::warn!(error = %e, "cannot re-read connections from the store");
            }
        }
    }
}
