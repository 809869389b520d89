//! Selection of list pages from the visible snapshots: candidates come from the snapshot's
//! indexes (host, datastore, cluster, status) when a filter allows, the cursor is a binary-search
//! seek into the sorted order, and only as many items are examined as a page needs.

use std::sync::Arc;

use async_graphql::Context;

use super::filters::{parse_ids, HostFilter, StorageFilter, VmFilter};
use super::paging::{merge_page, SortKey};
use crate::connections::Registry;
use crate::inventory::{ConnectionSlot, Visible};
use crate::model::snapshot::{sort_key, InventorySnapshot};
use crate::model::ResourceId;

/// The connections a request reads.
pub fn registry<'a>(ctx: &Context<'a>) -> async_graphql::Result<&'a Arc<Registry>> {
    ctx.data::<Arc<Registry>>()
}

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

/// A selected page.
pub struct Page {
    /// Hits in order, with their sort keys.
    pub hits: Vec<(SortKey, Hit)>,
    /// More items follow.
    pub has_next: bool,
}

/// Positions to examine, ascending: `None` = every position.
type Candidates = Option<Vec<usize>>;

fn union(lists: impl IntoIterator<Item = Vec<usize>>) -> Vec<usize> {
    let mut all: Vec<usize> = lists.into_iter().flatten().collect();
    all.sort_unstable();
    all.dedup();
    all
}

/// Walks candidates from the cursor, keeping those `keep` accepts, up to `limit`.
fn walk(
    len: usize,
    candidates: &Candidates,
    start: usize,
    limit: usize,
    mut keep: impl FnMut(usize) -> bool,
) -> Vec<usize> {
    let mut out = Vec::new();
    let mut push = |p: usize| {
        if keep(p) {
            out.push(p);
        }
        out.len() >= limit
    };
    match candidates {
        None => {
            for p in start..len {
                if push(p) {
                    break;
                }
            }
        }
        Some(list) => {
            let from = list.partition_point(|p| *p < start);
            for &p in &list[from..] {
                if push(p) {
                    break;
                }
            }
        }
    }
    out
}

fn connection_allowed(filter: &Option<Vec<String>>, conn: &str) -> bool {
    filter.as_ref().is_none_or(|c| c.iter().any(|x| x == conn))
}

/// Candidate VM positions in one snapshot from the indexed filter fields.
fn vm_candidates(
    s: &InventorySnapshot,
    f: &VmFilter,
    hosts: &Option<Vec<ResourceId>>,
    ds: &Option<Vec<ResourceId>>,
) -> Candidates {
    if let Some(h) = hosts {
        return Some(union(h.iter().map(|id| s.vms_on_host(id).to_vec())));
    }
    if let Some(d) = ds {
        return Some(union(d.iter().map(|id| s.vms_on_datastore(id).to_vec())));
    }
    if let Some(st) = &f.status {
        return Some(union(
            st.iter().map(|x| s.vms_with_status((*x).into()).to_vec()),
        ));
    }
    None
}

/// A page of VMs across every visible snapshot.
pub fn vms(visible: &[Visible], f: &VmFilter, after: Option<&SortKey>, first: usize) -> Page {
    let hosts = parse_ids(&f.host);
    let ds = parse_ids(&f.datastore);
    let mut sources = Vec::new();
    for v in visible {
        if !connection_allowed(&f.connection, &v.connection.id) {
            continue;
        }
        let s = &v.snapshot;
        let cands = vm_candidates(s, f, &hosts, &ds);
        let start = after.map(|k| s.vm_position_after(k)).unwrap_or(0);
        let picked = walk(s.vms.len(), &cands, start, first + 1, |p| {
            f.matches(&v.connection.id, &s.vms[p], &hosts, &ds)
        });
        sources.push(hits(v, picked, |p| sort_key(&s.vms[p].name, &s.vms[p].id)));
    }
    let (hits, has_next) = merge_page(sources, first);
    Page { hits, has_next }
}

/// How many VMs match (examines the candidates of each snapshot once).
pub fn count_vms(visible: &[Visible], f: &VmFilter) -> usize {
    let hosts = parse_ids(&f.host);
    let ds = parse_ids(&f.datastore);
    visible
        .iter()
        .filter(|v| connection_allowed(&f.connection, &v.connection.id))
        .map(|v| {
            let s = &v.snapshot;
            let cands = vm_candidates(s, f, &hosts, &ds);
            if is_trivial_vm(f) && cands.is_none() {
                return s.vms.len();
            }
            walk(s.vms.len(), &cands, 0, usize::MAX, |p| {
                f.matches(&v.connection.id, &s.vms[p], &hosts, &ds)
            })
            .len()
        })
        .sum()
}

fn is_trivial_vm(f: &VmFilter) -> bool {
    f.status.is_none()
        && f.datacenter.is_none()
        && f.cluster.is_none()
        && f.host.is_none()
        && f.datastore.is_none()
        && f.name.is_none()
        && f.name_contains.is_none()
        && f.power_state.is_none()
        && f.has_snapshots_older_than_days.is_none()
        && f.alarm_severity.is_none()
        && f.tag.is_none()
}

fn hits(v: &Visible, picked: Vec<usize>, key: impl Fn(usize) -> SortKey) -> Vec<(SortKey, Hit)> {
    picked
        .into_iter()
        .map(|p| {
            (
                key(p),
                Hit {
                    conn: v.connection.clone(),
                    snap: v.snapshot.clone(),
                    idx: p,
                },
            )
        })
        .collect()
}

fn agent_candidates(s: &InventorySnapshot, ds: &Option<Vec<ResourceId>>) -> Candidates {
    ds.as_ref()
        .map(|d| union(d.iter().map(|id| s.hosts_of_datastore(id).to_vec())))
}

/// A page of hosts across every visible snapshot.
pub fn agents(visible: &[Visible], f: &HostFilter, after: Option<&SortKey>, first: usize) -> Page {
    let ds = parse_ids(&f.datastore);
    let mut sources = Vec::new();
    for v in visible {
        if !connection_allowed(&f.connection, &v.connection.id) {
            continue;
        }
        let s = &v.snapshot;
        let cands = agent_candidates(s, &ds);
        let start = after
            .map(|k| s.agents.partition_point(|a| sort_key(&a.name, &a.id) <= *k))
            .unwrap_or(0);
        let picked = walk(s.agents.len(), &cands, start, first + 1, |p| {
            f.matches(&v.connection.id, &s.agents[p], &ds)
        });
        sources.push(hits(v, picked, |p| {
            sort_key(&s.agents[p].name, &s.agents[p].id)
        }));
    }
    let (hits, has_next) = merge_page(sources, first);
    Page { hits, has_next }
}

/// How many hosts match.
pub fn count_agents(visible: &[Visible], f: &HostFilter) -> usize {
    let ds = parse_ids(&f.datastore);
    visible
        .iter()
        .filter(|v| connection_allowed(&f.connection, &v.connection.id))
        .map(|v| {
            let s = &v.snapshot;
            walk(
                s.agents.len(),
                &agent_candidates(s, &ds),
                0,
                usize::MAX,
                |p| f.matches(&v.connection.id, &s.agents[p], &ds),
            )
            .len()
        })
        .sum()
}

/// A page of datastores across every visible snapshot.
pub fn storage(
    visible: &[Visible],
    f: &StorageFilter,
    after: Option<&SortKey>,
    first: usize,
) -> Page {
    let hosts = parse_ids(&f.host);
    let mut sources = Vec::new();
    for v in visible {
        if !connection_allowed(&f.connection, &v.connection.id) {
            continue;
        }
        let s = &v.snapshot;
        let start = after
            .map(|k| {
                s.storage
                    .partition_point(|d| sort_key(&d.name, &d.id) <= *k)
            })
            .unwrap_or(0);
        let picked = walk(s.storage.len(), &None, start, first + 1, |p| {
            f.matches(&v.connection.id, &s.storage[p], &hosts)
        });
        sources.push(hits(v, picked, |p| {
            sort_key(&s.storage[p].name, &s.storage[p].id)
        }));
    }
    let (hits, has_next) = merge_page(sources, first);
    Page { hits, has_next }
}

/// How many datastores match.
pub fn count_storage(visible: &[Visible], f: &StorageFilter) -> usize {
    let hosts = parse_ids(&f.host);
    visible
        .iter()
        .filter(|v| connection_allowed(&f.connection, &v.connection.id))
        .map(|v| {
            let s = &v.snapshot;
            walk(s.storage.len(), &None, 0, usize::MAX, |p| {
                f.matches(&v.connection.id, &s.storage[p], &hosts)
            })
            .len()
        })
        .sum()
}

/// Finds a resource by id in the snapshot serving its vCenter.
pub fn find(
    visible: &[Visible],
    id: &ResourceId,
) -> Option<(Visible, crate::model::snapshot::Slot)> {
    visible.iter().find_map(|v| {
        if !v
            .snapshot
            .instance_uuid
            .eq_ignore_ascii_case(id.instance_uuid())
        {
            return None;
        }
        v.snapshot.slot(id).map(|slot| (v.clone(), slot))
    })
}
