//! Session-scoped VI JSON server objects: ContainerViews, private PropertyCollectors and their
//! filters, event/task history collectors and `RetrievePropertiesEx` continuation tokens.
//! They live in the owning session ([`crate::simulator::sessions::Session::objects`]).

use std::collections::{HashMap, VecDeque};

use serde_json::Value;

use crate::simulator::inventory::MoRef;

/// A ContainerView (`ViewManager.CreateContainerView`).
#[derive(Clone, Debug)]
pub struct ContainerView {
    /// The container the view watches.
    pub container: MoRef,
    /// Managed object types to include (empty = all).
    pub types: Vec<String>,
    /// Whether to descend below direct children.
    pub recursive: bool,
}

/// One object still to send in a paged `RetrievePropertiesEx`, with the paths asked for it
/// (`None` = all properties). Contents are built page by page, so a 45,000-VM listing never
/// holds more than one page of JSON.
#[derive(Clone, Debug)]
pub struct Pending {
    /// The object.
    pub moref: MoRef,
    /// Requested paths.
    pub paths: Option<Vec<String>>,
}

/// The rest of a paged `RetrievePropertiesEx` result.
#[derive(Clone, Debug)]
pub struct RetrieveCursor {
    /// Objects still to send, in order.
    pub remaining: VecDeque<Pending>,
    /// Page size.
    pub max_objects: usize,
}

/// A private PropertyCollector (`CreatePropertyCollector`).
#[derive(Clone, Debug, Default)]
pub struct PropertyCollectorState {
    /// moIds of its filters.
    pub filters: Vec<String>,
    /// A wait is in progress (vCenter forbids concurrent waits on one collector).
    pub waiting: bool,
    /// Wakes a wait in progress for `CancelWaitForUpdates`.
    pub cancel: std::sync::Arc<tokio::sync::Notify>,
}

/// A PropertyFilter (`CreateFilter`).
#[derive(Clone, Debug)]
pub struct FilterState {
    /// The owning collector's moId.
    pub collector: String,
    /// The `PropertyFilterSpec` as sent.
    pub spec: Value,
    /// `partialUpdates` flag.
    pub partial_updates: bool,
}

/// An EventHistoryCollector or TaskHistoryCollector.
#[derive(Clone, Debug)]
pub struct HistoryCollectorState {
    /// The filter spec as sent.
    pub filter: Value,
    /// Read position: a place in the whole log, counted from the first item it ever held
    /// (so it survives the log dropping its oldest items).
    pub position: u64,
}

/// Every session-scoped object of one session.
#[derive(Debug, Default)]
pub struct SessionObjects {
    /// ContainerViews by moId.
    pub views: HashMap<String, ContainerView>,
    /// Private PropertyCollectors by moId.
    pub collectors: HashMap<String, PropertyCollectorState>,
    /// PropertyFilters by moId.
    pub filters: HashMap<String, FilterState>,
    /// EventHistoryCollectors by moId.
    pub event_collectors: HashMap<String, HistoryCollectorState>,
    /// TaskHistoryCollectors by moId.
    pub task_collectors: HashMap<String, HistoryCollectorState>,
    /// Continuation tokens by token string.
    pub retrieve_tokens: HashMap<String, RetrieveCursor>,
    /// Counter for moIds of session objects.
    pub next_id: u64,
}
