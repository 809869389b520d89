//! Selection of list pages from the visible snapshots: candidates come from the snapshot's
//! indexes (host, datastore, cluster, status) when a filter allows, the cursor is a binary-search
//! seek into the list's order (the snapshot's name order, or a value order from
//! [`super::order`]), and only as many items are examined as a page needs.

use std::sync::Arc;

use async_graphql::Context;

use super::filters::{parse_ids, HostFilter, StorageFilter, VmFilter};
use super::hit::Hit;
use super::order::{self, key_at, seek, Kind, Seq};
use super::paging::{merge_page, Key, Order};
use crate::connections::Registry;
use crate::inventory::Visible;
use crate::model::snapshot::InventorySnapshot;
use crate::model::ResourceId;

/// The connections a request reads.
pub fn registry<'a>(ctx: &Context<'a>) -> async_graphql::Result<&'a Arc<Registry>> {
    ctx.data::<Arc<Registry>>()
}

/// A selected page.
pub struct Page {
    /// Hits in order, with their keys in the list's order.
    pub hits: Vec<(Key, Hit)>,
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

/// Walks `seq` from place `start`, keeping the candidates `keep` accepts, up to `limit`.
fn walk(
    seq: &Seq,
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
            for i in start..seq.len() {
                if push(seq.at(i)) {
                    break;
                }
            }
        }
        Some(list) if seq.is_identity() => {
            let from = list.partition_point(|p| *p < start);
            for &p in &list[from..] {
                if push(p) {
                    break;
                }
            }
        }
        Some(list) => {
            // Another order: the candidates' places in it, so the cost follows the candidates,
            // not the inventory.
            let mut places: Vec<usize> = list
                .iter()
                .map(|&p| seq.rank(p))
                .filter(|&i| i >= start)
                .collect();
            places.sort_unstable();
            for i in places {
                if push(seq.at(i)) {
                    break;
                }
            }
        }
    }
    out
}

/// Every position of a snapshot's kind, for counting.
fn all(len: usize) -> Seq {
    Seq::Names { len, desc: false }
}

/// Up to `limit` hits of one snapshot in `order` after the cursor.
fn pick(
    v: &Visible,
    kind: Kind,
    order: Order,
    cands: &Candidates,
    after: Option<&Key>,
    limit: usize,
    keep: impl FnMut(usize) -> bool,
) -> Vec<(Key, Hit)> {
    let s = &v.snapshot;
    let seq = order::seq(v, kind, order);
    let key = |p: usize| key_at(s, kind, order, &seq, p);
    let start = after.map(|k| seek(&seq, k, key)).unwrap_or(0);
    walk(&seq, cands, start, limit, keep)
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

/// A page of VMs across every visible snapshot, in `order`.
pub fn vms(
    visible: &[Visible],
    f: &VmFilter,
    order: Order,
    after: Option<&Key>,
    first: usize,
) -> Page {
    let hosts = parse_ids(&f.host);
    let ds = parse_ids(&f.datastore);
    let mut sources = Vec::new();
    for v in visible {
        if !connection_allowed(&f.connection, &v.connection.id) {
            continue;
        }
        let s = &v.snapshot;
        let cands = vm_candidates(s, f, &hosts, &ds);
        sources.push(pick(v, Kind::Vm, order, &cands, after, first + 1, |p| {
            f.matches(&v.connection.id, &s.vms[p], &hosts, &ds)
        }));
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
            walk(&all(s.vms.len()), &cands, 0, usize::MAX, |p| {
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

fn agent_candidates(s: &InventorySnapshot, ds: &Option<Vec<ResourceId>>) -> Candidates {
    ds.as_ref()
        .map(|d| union(d.iter().map(|id| s.hosts_of_datastore(id).to_vec())))
}

/// A page of hosts across every visible snapshot, in `order`.
pub fn agents(
    visible: &[Visible],
    f: &HostFilter,
    order: Order,
    after: Option<&Key>,
    first: usize,
) -> Page {
    let ds = parse_ids(&f.datastore);
    let mut sources = Vec::new();
    for v in visible {
        if !connection_allowed(&f.connection, &v.connection.id) {
            continue;
        }
        let s = &v.snapshot;
        let cands = agent_candidates(s, &ds);
        sources.push(pick(v, Kind::Agent, order, &cands, after, first + 1, |p| {
            f.matches(&v.connection.id, &s.agents[p], &ds)
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
                &all(s.agents.len()),
                &agent_candidates(s, &ds),
                0,
                usize::MAX,
                |p| f.matches(&v.connection.id, &s.agents[p], &ds),
            )
            .len()
        })
        .sum()
}

/// A page of datastores across every visible snapshot, in `order`.
pub fn storage(
    visible: &[Visible],
    f: &StorageFilter,
    order: Order,
    after: Option<&Key>,
    first: usize,
) -> Page {
    let hosts = parse_ids(&f.host);
    let mut sources = Vec::new();
    for v in visible {
        if !connection_allowed(&f.connection, &v.connection.id) {
            continue;
        }
        let s = &v.snapshot;
        sources.push(pick(
            v,
            Kind::Storage,
            order,
            &None,
            after,
            first + 1,
            |p| f.matches(&v.connection.id, &s.storage[p], &hosts),
        ));
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
            walk(&all(s.storage.len()), &None, 0, usize::MAX, |p| {
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
