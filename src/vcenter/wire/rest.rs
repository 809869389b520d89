//! Automation REST bodies: the error body, appliance version, guest identity and filesystems,
//! tags. Enums (`family`, `error_type`) stay strings: they grow with releases.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::null_as_empty;

#[derive(Clone, Debug, Default, Deserialize)]
pub struct RestErrorBody {
    #[serde(default)]
    pub error_type: String,
    #[serde(default, deserialize_with = "null_as_empty")]
    pub messages: Vec<LocalizableMessage>,
}

#[derive(Clone, Debug, Default, Deserialize)]
pub struct LocalizableMessage {
    #[serde(default)]
    pub id: String,
    #[serde(default)]
    pub default_message: String,
}

#[derive(Clone, Debug, Default, Deserialize)]
pub struct ApplianceVersion {
    #[serde(default)]
    pub version: String,
    #[serde(default)]
    pub build: String,
    #[serde(default)]
    pub product: String,
}

#[derive(Clone, Debug, Deserialize)]
pub struct GuestIdentity {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub family: String,
    #[serde(default)]
    pub full_name: Option<LocalizableMessage>,
    #[serde(default)]
    pub host_name: String,
    #[serde(default)]
    pub ip_address: Option<String>,
}

#[derive(Clone, Debug, Deserialize)]
pub struct LocalFilesystem {
    #[serde(default)]
    pub capacity: i64,
    #[serde(default)]
    pub free_space: i64,
    #[serde(default)]
    pub filesystem: Option<String>,
}

pub type LocalFilesystems = BTreeMap<String, LocalFilesystem>;

#[derive(Clone, Debug, Deserialize)]
pub struct Tag {
    pub id: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub category_id: String,
}

#[derive(Clone, Debug, Deserialize)]
pub struct Category {
    pub id: String,
    #[serde(default)]
    pub name: String,
}

#[derive(Clone, Debug, Deserialize)]
pub struct AttachedTags {
    pub object_id: RestObjectId,
    #[serde(default, deserialize_with = "null_as_empty")]
    pub tag_ids: Vec<String>,
}

#[derive(Clone, Debug, Deserialize, serde::Serialize)]
pub struct RestObjectId {
    #[serde(rename = "type")]
    pub kind: String,
    pub id: String,
}
