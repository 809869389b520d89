//! Alarm definitions: the names behind `triggeredAlarmState[].alarm`.

use std::collections::HashMap;

use serde_json::json;

use crate::vcenter::client::{Idempotency, VcClient};
use crate::vcenter::error::VcResult;
use crate::vcenter::wire::events::AlarmInfo;
use crate::vcenter::wire::MoRef;

/// Alarm moId -> name for the alarms defined on the root folder (where vCenter defines its own).
pub async fn alarm_names(c: &VcClient) -> VcResult<HashMap<String, String>> {
    let n = c.negotiate().await?;
    let am = n.content.alarms();
    let root = n.content.root_folder.clone();
    let alarms: Vec<MoRef> = c
        .vim_post(
            &am,
            "GetAlarm",
            Some(json!({"entity": root})),
            Idempotency::Read,
        )
        .await?
        .unwrap_or_default();
    let mut out = HashMap::with_capacity(alarms.len());
    for a in alarms {
        if let Some(info) = c.vim_get::<AlarmInfo>(&a, "info").await? {
            out.insert(a.value.clone(), info.name);
        }
    }
    Ok(out)
}
