//! The change feed: a private PropertyCollector with one filter, drained by `WaitForUpdatesEx`.
//! Never two waits on one collector at once, so the feed is owned by one task.

use std::time::Duration;

use serde_json::{json, Value};

use crate::vcenter::client::{Idempotency, VcClient};
use crate::vcenter::error::{ApiFamily, FailureClass, VcError, VcResult};
use crate::vcenter::wire::property::UpdateSet;
use crate::vcenter::wire::MoRef;

/// A private collector and its filter, tied to the session that created them.
#[derive(Debug)]
pub struct ChangeFeed {
    pub collector: MoRef,
    pub filter: MoRef,
    /// The client's session epoch at creation: a different epoch means both are gone.
    pub epoch: u64,
}

impl ChangeFeed {
    pub async fn create(c: &VcClient, spec: Value) -> VcResult<ChangeFeed> {
        let pc = c.negotiate().await?.content.property_collector.clone();
        let missing = |call: &str| {
            VcError::new(
                FailureClass::ProtocolError,
                ApiFamily::ViJson,
                call,
                "vCenter returned no reference",
            )
        };
        let collector: MoRef = c
            .vim_post(&pc, "CreatePropertyCollector", None, Idempotency::Once)
            .await?
            .ok_or_else(|| missing("PropertyCollector.CreatePropertyCollector"))?;
        let epoch = c.session_epoch();
        let filter = match c
            .vim_post::<MoRef>(
                &collector,
                "CreateFilter",
                Some(json!({"spec": spec, "partialUpdates": false})),
                Idempotency::Once,
            )
            .await
        {
            Ok(Some(f)) => f,
            Ok(None) => return Err(missing("PropertyCollector.CreateFilter")),
            Err(e) => {
                c.free(&collector, "DestroyPropertyCollector", None).await;
                return Err(e);
            }
        };
        Ok(ChangeFeed {
            collector,
            filter,
            epoch,
        })
    }

    /// Whether the session that owns this feed is still the client's session.
    pub fn is_current(&self, c: &VcClient) -> bool {
        self.epoch == c.session_epoch()
    }

    /// One long-poll: `None` when nothing changed within `max_wait`.
    pub async fn wait(
        &self,
        c: &VcClient,
        version: &str,
        max_wait: Duration,
        max_updates: u32,
    ) -> VcResult<Option<UpdateSet>> {
        let body = json!({"version": version, "options": {"_typeName": "WaitOptions", "maxWaitSeconds": max_wait.as_secs(), "maxObjectUpdates": max_updates.max(1)}});
        c.vim_post_waiting(
            &self.collector,
            "WaitForUpdatesEx",
            Some(body),
            Idempotency::Once,
            max_wait,
        )
        .await
    }

    /// Destroys filter and collector; both already gone with a dead session is fine.
    pub async fn destroy(self, c: &VcClient) {
        if self.is_current(c) {
            c.free(&self.filter, "DestroyPropertyFilter", None).await;
            c.free(&self.collector, "DestroyPropertyCollector", None)
                .await;
        }
    }
}
