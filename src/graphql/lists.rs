//! Relay connections (`edges`, `nodes`, `pageInfo`, `totalCount`) for the three kinds.

use std::sync::Arc;

use async_graphql::connection::PageInfo;
use async_graphql::{Object, Result};

use super::filters::VmFilter;
use super::hit::Hit;
use super::inline::Inline;
use super::nodes::{AgentNode, Resource, StorageNode, VmNode};
use super::paging::{decode_key, page_size, Key, Order, SortKey};
use super::select::{self, Page};
use crate::inventory::Visible;
use crate::model::snapshot::sort_key;
use crate::model::ResourceId;

/// A total that may be costly: computed only when the client selects `totalCount`.
#[derive(Clone)]
pub enum Total {
    /// Already known.
    Known(usize),
    /// Computed on demand.
    Lazy(Arc<dyn Fn() -> usize + Send + Sync>),
}

impl Total {
    fn get(&self) -> usize {
        match self {
            Total::Known(n) => *n,
            Total::Lazy(f) => f(),
        }
    }
}

/// Pages an already materialised list in name order (navigation lists, which are small).
pub fn page_of(
    mut all: Vec<(SortKey, Hit)>,
    after: Option<&SortKey>,
    first: usize,
) -> (Page, Total) {
    all.sort_by(|a, b| a.0.cmp(&b.0));
    let total = all.len();
    let start = after
        .map(|k| all.partition_point(|(key, _)| key <= k))
        .unwrap_or(0);
    let mut hits: Vec<(Key, Hit)> = all
        .into_iter()
        .skip(start)
        .take(first + 1)
        .map(|(k, h)| (Key::by_name(k), h))
        .collect();
    let has_next = hits.len() > first;
    hits.truncate(first);
    (Page { hits, has_next }, Total::Known(total))
}

fn visible_of(hit: &Hit) -> Vec<Visible> {
    vec![Visible {
        connection: hit.conn.clone(),
        snapshot: hit.snap.clone(),
    }]
}

/// Decodes an `after` argument of a list in name order.
pub fn cursor(after: &Option<String>) -> Result<Option<SortKey>> {
    Ok(ordered_cursor(after, Order::default())?.map(|k| k.name))
}

/// Decodes an `after` argument of a list in `order`.
pub fn ordered_cursor(after: &Option<String>, order: Order) -> Result<Option<Key>> {
    after.as_deref().map(|c| decode_key(c, order)).transpose()
}

/// A page of the VMs of `hit`'s snapshot that `filter` selects (a host's or datastore's VMs).
pub fn vm_list(
    hit: &Hit,
    filter: VmFilter,
    order: Order,
    first: Option<i32>,
    after: Option<String>,
) -> Result<VmConnection> {
    let n = page_size(first)?;
    let key = ordered_cursor(&after, order)?;
    let vis = visible_of(hit);
    let page = select::vms(&vis, &filter, order, key.as_ref(), n);
    let total = select::count_vms(&vis, &filter);
    Ok(VmConnection {
        page,
        had_cursor: key.is_some(),
        total: Total::Known(total),
    })
}

/// The datastores of `ids` in `hit`'s snapshot, with their sort keys.
pub fn storage_hits<'a>(
    hit: &Hit,
    ids: impl IntoIterator<Item = &'a ResourceId>,
) -> Vec<(SortKey, Hit)> {
    ids.into_iter()
        .filter_map(|id| {
            let node = Resource::beside(hit, id)?.storage()?;
            let s = node.s();
            Some((sort_key(&s.name, &s.id), node.0))
        })
        .collect()
}

macro_rules! connection {
    ($conn:ident, $edge:ident, $node:ident, $gql_conn:literal, $gql_edge:literal, $what:literal) => {
        #[doc = concat!("A page of ", $what, ".")]
        pub struct $conn {
            /// The page.
            pub page: Page,
            /// Whether a cursor was given (for `hasPreviousPage`).
            pub had_cursor: bool,
            /// Total matching items.
            pub total: Total,
        }

        #[doc = concat!("One ", $what, " item with its cursor.")]
        pub struct $edge {
            cursor: String,
            node: $node,
        }

        #[doc = concat!("One ", $what, " item with its cursor.")]
        #[Object(name = $gql_edge)]
        impl $edge {
            /// Opaque cursor of this item; pass it as `after` to continue after it.
            async fn cursor(&self) -> &str {
                &self.cursor
            }
            /// The item.
            async fn node(&self) -> Inline<&$node> {
                Inline(&self.node)
            }
        }

        #[doc = concat!("A page of ", $what, " (Relay connection).")]
        #[Object(name = $gql_conn)]
        impl $conn {
            /// Items with cursors, in the list's order (by default name, then id).
            async fn edges(&self) -> Vec<Inline<$edge>> {
                self.page
                    .hits
                    .iter()
                    .map(|(k, h)| $edge {
                        cursor: k.cursor(),
                        node: $node(h.clone()),
                    })
                    .map(Inline)
                    .collect()
            }
            /// The items without cursors.
            async fn nodes(&self) -> Vec<Inline<$node>> {
                self.page
                    .hits
                    .iter()
                    .map(|(_, h)| $node(h.clone()))
                    .map(Inline)
                    .collect()
            }
            /// Paging information.
            async fn page_info(&self) -> Inline<PageInfo> {
                Inline(PageInfo {
                    has_previous_page: self.had_cursor,
                    has_next_page: self.page.has_next,
                    start_cursor: self.page.hits.first().map(|(k, _)| k.cursor()),
                    end_cursor: self.page.hits.last().map(|(k, _)| k.cursor()),
                })
            }
            /// How many items match the filter across all pages.
            async fn total_count(&self) -> usize {
                self.total.get()
            }
        }
    };
}

connection!(
    AgentConnection,
    AgentEdge,
    AgentNode,
    "VsphereAgentConnection",
    "VsphereAgentEdge",
    "ESXi hosts"
);
connection!(
    VmConnection,
    VmEdge,
    VmNode,
    "VsphereVmConnection",
    "VsphereVmEdge",
    "virtual machines"
);
connection!(
    StorageConnection,
    StorageEdge,
    StorageNode,
    "VsphereStorageConnection",
    "VsphereStorageEdge",
    "datastores"
);
