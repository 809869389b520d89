//! The unit every view of a resource starts from: a resource found in a visible snapshot. Below
//! the views (`common`, the kinds' objects) and the selection of pages (`select`), so both can
//! name it without importing each other.

use std::sync::Arc;

use crate::inventory::ConnectionSlot;
use crate::model::snapshot::InventorySnapshot;

/// One selected resource: which snapshot and which position in it.
#[derive(Clone, Debug)]
pub struct Hit {
    /// The connection.
    pub conn: Arc<ConnectionSlot>,
    /// Its snapshot.
    pub snap: Arc<InventorySnapshot>,
    /// Position in the snapshot's vector for the kind.
    pub idx: usize,
}
