//! Serde types for the vCenter calls the product makes, tolerant of what vCenter really sends:
//! unknown `_typeName` subtypes, absent optional fields and `null` arrays, boxed `Any` values,
//! and enums that grow with each release (kept as strings, never a failed object).

pub mod any;
pub mod content;
pub mod events;
pub mod fault;
pub mod perf;
pub mod property;
pub mod rest;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize};

/// A managed object reference. `_typeName` is sent and tolerated when absent.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct MoRef {
    #[serde(rename = "_typeName", default = "moref_type_name", skip_deserializing)]
    pub type_name: &'static str,
    #[serde(rename = "type")]
    pub kind: String,
    pub value: String,
}

fn moref_type_name() -> &'static str {
    "ManagedObjectReference"
}

impl MoRef {
    pub fn new(kind: &str, value: &str) -> MoRef {
        MoRef {
            type_name: moref_type_name(),
            kind: kind.to_string(),
            value: value.to_string(),
        }
    }
}

/// Arrays are `nullable` in VI JSON: absent and `null` both mean empty.
pub fn null_as_empty<'de, D, T>(d: D) -> Result<Vec<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Ok(Option::<Vec<T>>::deserialize(d)?.unwrap_or_default())
}

/// A detail field that must not fail the object around it: a value of an unexpected shape
/// (or `null`) reads as absent. For fault details, where the `_typeName` is what matters.
pub fn lenient<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: DeserializeOwned + Default,
{
    let v = serde_json::Value::deserialize(d)?;
    Ok(T::deserialize(v).unwrap_or_default())
}
