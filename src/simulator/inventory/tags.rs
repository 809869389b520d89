//! Tag categories, tags and their attachments, served by the REST tagging API
//! (`/api/cis/tagging/...`). vCenter keeps tags outside the VI inventory, so they live apart.

use std::collections::BTreeMap;

use super::MoRef;

/// A tag category (`urn:vmomi:InventoryServiceCategory:...`).
#[derive(Clone, Debug)]
pub struct TagCategory {
    /// Category id.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Description.
    pub description: String,
    /// `SINGLE` or `MULTIPLE`.
    pub cardinality: &'static str,
    /// Object types tags of this category may be attached to (empty = all).
    pub associable_types: Vec<String>,
}

/// A tag (`urn:vmomi:InventoryServiceTag:...`).
#[derive(Clone, Debug)]
pub struct Tag {
    /// Tag id.
    pub id: String,
    /// Category id.
    pub category_id: String,
    /// Display name.
    pub name: String,
    /// Description.
    pub description: String,
}

/// All tagging state.
#[derive(Clone, Debug, Default)]
pub struct Tagging {
    /// Categories by id.
    pub categories: BTreeMap<String, TagCategory>,
    /// Tags by id.
    pub tags: BTreeMap<String, Tag>,
    /// Tag ids attached to each object.
    pub attached: BTreeMap<MoRef, Vec<String>>,
}

impl Tagging {
    /// Tag ids attached to `obj`.
    pub fn tags_of(&self, obj: &MoRef) -> &[String] {
        self.attached.get(obj).map(Vec::as_slice).unwrap_or(&[])
    }
}
