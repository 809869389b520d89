//! VI JSON faults: HTTP 500 whose body is the fault object itself, classified by `_typeName`.

use serde::Deserialize;
use serde_json::Value;

use super::{lenient, null_as_empty, MoRef};

/// The fields of a VI JSON fault the client acts on; everything else is ignored. Detail
/// fields are lenient: a fault is classified by `_typeName` even when a detail is malformed.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct VimFault {
    #[serde(rename = "_typeName", default)]
    pub type_name: String,
    #[serde(default, deserialize_with = "lenient")]
    pub faultstring: Option<String>,
    #[serde(rename = "privilegeId", default, deserialize_with = "lenient")]
    pub privilege_id: Option<String>,
    #[serde(rename = "missingPrivileges", default, deserialize_with = "lenient")]
    pub missing_privileges: Vec<MissingPrivilege>,
    #[serde(default, deserialize_with = "lenient")]
    pub obj: Option<MoRef>,
    #[serde(default, deserialize_with = "lenient")]
    pub object: Option<MoRef>,
    #[serde(rename = "invalidProperty", default, deserialize_with = "lenient")]
    pub invalid_property: Option<String>,
    #[serde(rename = "faultMessage", default, deserialize_with = "lenient")]
    pub fault_message: Vec<Value>,
}

/// `NoPermission.missingPrivileges[]` (7.0.3.2+).
#[derive(Clone, Debug, Default, Deserialize)]
pub struct MissingPrivilege {
    #[serde(default)]
    pub entity: Option<MoRef>,
    #[serde(rename = "privilegeIds", default, deserialize_with = "null_as_empty")]
    pub privilege_ids: Vec<String>,
}

impl VimFault {
    /// Parses a fault body; `None` when it is not a fault object at all.
    pub fn parse(body: &[u8]) -> Option<VimFault> {
        let f: VimFault = serde_json::from_slice(body).ok()?;
        (!f.type_name.is_empty()).then_some(f)
    }

    /// Every privilege id the fault names.
    pub fn privileges(&self) -> Vec<String> {
        let mut out: Vec<String> = self
            .missing_privileges
            .iter()
            .flat_map(|m| m.privilege_ids.iter().cloned())
            .collect();
        if let Some(p) = self.privilege_id.as_ref().filter(|p| !p.is_empty()) {
            out.push(p.clone());
        }
        out.sort();
        out.dedup();
        out
    }
}
