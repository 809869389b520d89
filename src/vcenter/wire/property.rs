//! PropertyCollector results: `RetrieveResult` pages and `UpdateSet` deltas.

use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::Value;

use super::any::unbox;
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

/// `DynamicProperty{name, val: Any}`.
#[derive(Clone, Debug, Deserialize)]
pub struct DynamicProperty {
    pub name: String,
    #[serde(default)]
    pub val: PropertyValue,
}

/// A property value (a boxed `Any`) as vCenter sent it, kept as JSON text until it is read. A
/// page of 1,000 VMs is ~7 MB of text and several times that as `Value` trees; reading one
/// property at a time keeps one small tree alive instead of the page's.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(transparent)]
pub struct PropertyValue(Option<Box<RawValue>>);

impl PropertyValue {
    /// Whether vCenter sent no value (absent or `null`).
    pub fn is_null(&self) -> bool {
        self.0.as_ref().is_none_or(|r| r.get() == "null")
    }

    /// The value with its `_typeName`/`_value` boxes removed (`Null` when absent).
    ///
    /// # Errors
    /// When the text does not parse as a value: the response as a whole was well-formed JSON,
    /// but a value nested beyond `serde_json`'s depth limit is only refused here.
    pub fn into_value(self) -> Result<Value, serde_json::Error> {
        match self.0 {
            Some(r) => serde_json::from_str(r.get()).map(unbox),
            None => Ok(Value::Null),
        }
    }
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
    pub val: PropertyValue,
}
