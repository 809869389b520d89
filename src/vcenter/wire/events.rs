//! Events and tasks. `Event` is polymorphic; the fields every subtype has are typed and the
//! subtype's own fields are kept as JSON.

use serde::Deserialize;
use serde_json::Value;

use super::MoRef;

#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Event {
    #[serde(rename = "_typeName", default)]
    pub type_name: String,
    pub key: i64,
    #[serde(default)]
    pub chain_id: i64,
    pub created_time: String,
    #[serde(default)]
    pub user_name: Option<String>,
    #[serde(default)]
    pub full_formatted_message: Option<String>,
    #[serde(default)]
    pub vm: Option<EntityArg>,
    #[serde(default)]
    pub host: Option<EntityArg>,
    #[serde(default)]
    pub ds: Option<EntityArg>,
    #[serde(default)]
    pub compute_resource: Option<EntityArg>,
    #[serde(default)]
    pub datacenter: Option<EntityArg>,
    /// `EventEx.eventTypeId`.
    #[serde(default)]
    pub event_type_id: Option<String>,
    /// `AlarmStatusChangedEvent`: the alarm, its entity and the statuses.
    #[serde(default)]
    pub alarm: Option<EntityArg>,
    #[serde(default)]
    pub entity: Option<EntityArg>,
    #[serde(default)]
    pub from: Option<String>,
    #[serde(default)]
    pub to: Option<String>,
}

/// `{name, <kind>: MoRef}` of an event argument; the MoRef's key differs per kind.
#[derive(Clone, Debug, Deserialize)]
pub struct EntityArg {
    #[serde(default)]
    pub name: String,
    #[serde(flatten)]
    pub rest: serde_json::Map<String, Value>,
}

impl EntityArg {
    /// The MoRef inside the argument, whatever its key (`vm`, `host`, `datastore`, `entity`...).
    pub fn moref(&self) -> Option<MoRef> {
        self.rest
            .values()
            .find_map(|v| serde_json::from_value::<MoRef>(v.clone()).ok())
    }
}

#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskInfo {
    pub key: String,
    #[serde(default)]
    pub task: Option<MoRef>,
    #[serde(default)]
    pub description_id: String,
    #[serde(default)]
    pub entity: Option<MoRef>,
    #[serde(default)]
    pub entity_name: Option<String>,
    /// `queued`, `running`, `success`, `error`.
    pub state: String,
    #[serde(default)]
    pub queue_time: Option<String>,
    #[serde(default)]
    pub start_time: Option<String>,
    #[serde(default)]
    pub complete_time: Option<String>,
    #[serde(default)]
    pub progress: Option<i64>,
    #[serde(default)]
    pub error: Option<Value>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AlarmInfo {
    #[serde(default)]
    pub key: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub alarm: Option<MoRef>,
}
