//! PropertyCollector results: `RetrieveResult` pages and `UpdateSet` deltas.

use serde::Deserialize;
use serde_json::Value;

use super::fault::VimFault;
use super::{null_as_empty, MoRef};

#[derive(Clone, Debug, Default, Deserialize)]
pub struct RetrieveResult {
    #[serde(default)]
    pub token: Option<String>,
    #[serde(default, deserialize_with = "null_as_empty")]
    pub objects: Vec<ObjectContent>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ObjectContent {
    pub obj: MoRef,
    #[serde(default, deserialize_with = "null_as_empty")]
    pub prop_set: Vec<DynamicProperty>,
    #[serde(default, deserialize_with = "null_as_empty")]
    pub missing_set: Vec<MissingProperty>,
}

/// `DynamicProperty{name, val: Any}`; `val` is kept boxed until `any::unbox`.
#[derive(Clone, Debug, Deserialize)]
pub struct DynamicProperty {
    pub name: String,
    #[serde(default)]
    pub val: Value,
}

#[derive(Clone, Debug, Deserialize)]
pub struct MissingProperty {
    pub path: String,
    #[serde(default)]
    pub fault: LocalizedMethodFault,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LocalizedMethodFault {
    #[serde(default)]
    pub fault: VimFault,
    #[serde(default)]
    pub localized_message: Option<String>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UpdateSet {
    pub version: String,
    #[serde(default, deserialize_with = "null_as_empty")]
    pub filter_set: Vec<PropertyFilterUpdate>,
    #[serde(default)]
    pub truncated: Option<bool>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PropertyFilterUpdate {
    pub filter: MoRef,
    #[serde(default, deserialize_with = "null_as_empty")]
    pub object_set: Vec<ObjectUpdate>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ObjectUpdate {
    /// `enter`, `leave` or `modify`; kept as a string because the enum may grow.
    pub kind: String,
    pub obj: MoRef,
    #[serde(default, deserialize_with = "null_as_empty")]
    pub change_set: Vec<PropertyChange>,
    #[serde(default, deserialize_with = "null_as_empty")]
    pub missing_set: Vec<MissingProperty>,
}

#[derive(Clone, Debug, Deserialize)]
pub struct PropertyChange {
    pub name: String,
    /// `add`, `remove`, `assign` or `indirectRemove`.
    pub op: String,
    #[serde(default)]
    pub val: Value,
}
