//! `orderBy` of the resource lists: the inputs per kind, and the walk of one snapshot in an
//! order. The name order walks the snapshot's vectors as they are; a value order walks the
//! snapshot's [`RankIndex`] for it, built on first use. CPU and memory come from the latest
//! realtime pass, so their indexes are rebuilt when a new pass lands.

use std::sync::Arc;

use async_graphql::{Enum, InputObject};

use super::common::metrics_from;
use super::paging::{Field, Key, Order};
use crate::inventory::Visible;
use crate::model::ranks::{RankIndex, RankKey};
use crate::model::resources::QuickStats;
use crate::model::snapshot::{sort_key, InventorySnapshot};
use crate::model::ResourceId;

/// Direction of an order. Resources without the value ordered by (a powered-off VM has no
/// CPU, a VM without snapshots no oldest snapshot) come last in both directions.
#[derive(Enum, Copy, Clone, Debug, Default, PartialEq, Eq)]
#[graphql(name = "VsphereOrderDirection")]
pub enum Direction {
    /// Smallest (or earliest) first; names A to Z.
    #[default]
    Asc,
    /// Largest (or latest) first; names Z to A.
    Desc,
}

/// What VMs can be ordered by.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
#[graphql(name = "VsphereVmOrderField")]
pub enum VmOrderField {
    /// Name (case-insensitive), then id: the default order.
    Name,
    /// `metrics.cpuPercent`; none while powered off.
    Cpu,
    /// `metrics.memoryPercent`; none while powered off.
    Memory,
    /// Bytes written on all the VM's datastores (sum of `datastoreUsage.committedBytes`).
    StorageUsed,
    /// `vsphere.oldestSnapshotAt`: ASC puts the oldest snapshots first; none without snapshots.
    OldestSnapshot,
}

/// What hosts can be ordered by.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
#[graphql(name = "VsphereHostOrderField")]
pub enum HostOrderField {
    /// Name (case-insensitive), then id: the default order.
    Name,
    /// `metrics.cpuPercent`; none while not connected and powered on.
    Cpu,
    /// `metrics.memoryPercent`; none while not connected and powered on.
    Memory,
}

/// What datastores can be ordered by.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
#[graphql(name = "VsphereDatastoreOrderField")]
pub enum DatastoreOrderField {
    /// Name (case-insensitive), then id: the default order.
    Name,
    /// `metrics.storageUsedPercent`.
    UsedPercent,
    /// `vsphere.freeBytes`.
    Free,
    /// `vsphere.capacityBytes`.
    Capacity,
}

macro_rules! order_input {
    ($input:ident, $gql:literal, $field:ident, $what:literal, { $($v:ident => $f:ident),* }) => {
        #[doc = concat!("Order of ", $what, ": by `field` in `direction`; equal values in name ",
            "order, then id. Cursors are made for one order; pass the same `orderBy` with `after`.")]
        #[derive(InputObject, Clone, Copy, Debug)]
        #[graphql(name = $gql)]
        pub struct $input {
            /// The value to order by.
            pub field: $field,
            /// ASC (default) or DESC; resources without the value come last either way.
            #[graphql(default)]
            pub direction: Direction,
        }

        impl From<Option<$input>> for Order {
            fn from(o: Option<$input>) -> Order {
                o.map_or(Order::default(), |o| Order {
                    field: match o.field {
                        $($field::$v => Field::$f,)*
                    },
                    desc: o.direction == Direction::Desc,
                })
            }
        }
    };
}

order_input!(VmOrder, "VsphereVmOrder", VmOrderField, "virtual machines", {
    Name => Name, Cpu => Cpu, Memory => Memory, StorageUsed => StorageUsed,
    OldestSnapshot => OldestSnapshot
});
order_input!(HostOrder, "VsphereHostOrder", HostOrderField, "ESXi hosts", {
    Name => Name, Cpu => Cpu, Memory => Memory
});
order_input!(DatastoreOrder, "VsphereDatastoreOrder", DatastoreOrderField, "datastores", {
    Name => Name, UsedPercent => UsedPercent, Free => Free, Capacity => Capacity
});

/// The three kinds of listed resources.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Agent,
    Vm,
    Storage,
}

/// One snapshot's resources of a kind in one order: the `i`-th in order is `at(i)`.
pub enum Seq {
    /// The snapshot's own (name) order, or its reverse.
    Names { len: usize, desc: bool },
    /// A value order.
    Ranked(Arc<RankIndex>),
}

impl Seq {
    pub fn len(&self) -> usize {
        match self {
            Seq::Names { len, .. } => *len,
            Seq::Ranked(r) => r.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn at(&self, i: usize) -> usize {
        match self {
            Seq::Names { desc: false, .. } => i,
            Seq::Names { len, desc: true } => len - 1 - i,
            Seq::Ranked(r) => r.at(i),
        }
    }

    pub fn rank(&self, p: usize) -> usize {
        match self {
            Seq::Names { desc: false, .. } => p,
            Seq::Names { len, desc: true } => len - 1 - p,
            Seq::Ranked(r) => r.rank(p),
        }
    }

    fn value(&self, p: usize) -> Option<f64> {
        match self {
            Seq::Names { .. } => None,
            Seq::Ranked(r) => r.value(p),
        }
    }

    /// Whether this is the snapshot's own order, where positions are places.
    pub fn is_identity(&self) -> bool {
        matches!(self, Seq::Names { desc: false, .. })
    }
}

/// `v`'s resources of `kind` in `order`.
pub fn seq(v: &Visible, kind: Kind, order: Order) -> Seq {
    let s = &v.snapshot;
    let len = match kind {
        Kind::Agent => s.agents.len(),
        Kind::Vm => s.vms.len(),
        Kind::Storage => s.storage.len(),
    };
    if order.field == Field::Name {
        return Seq::Names {
            len,
            desc: order.desc,
        };
    }
    let key: RankKey = (rank_name(kind, order.field), order.desc);
    let index = if matches!(order.field, Field::Cpu | Field::Memory) {
        // Values and their stamp read under one lock, so an index never mixes two passes.
        let log = v.connection.activity();
        let stamp = log
            .metrics_at
            .map_or(i64::MIN, |t| t.timestamp_nanos_opt().unwrap_or(i64::MAX));
        if let Some(i) = s.ranks.get(key, stamp) {
            return Seq::Ranked(i);
        }
        let live = |moid: &str, running: bool, q: &QuickStats| {
            let m = metrics_from(log.metrics.get(moid), running, q, s.taken_at);
            if order.field == Field::Cpu {
                m.cpu_percent
            } else {
                m.memory_percent
            }
        };
        let values: Vec<Option<f64>> = match kind {
            Kind::Agent => s
                .agents
                .iter()
                .enumerate()
                .map(|(i, a)| live(&a.moid, a.running(), &s.agent_quick_stats(i)))
                .collect(),
            _ => s
                .vms
                .iter()
                .enumerate()
                .map(|(i, m)| live(&m.moid, m.running(), &s.vm_quick_stats(i)))
                .collect(),
        };
        drop(log);
        build(s, key, stamp, values)
    } else {
        // Values of the snapshot itself: built once for the snapshot's life.
        if let Some(i) = s.ranks.get(key, 0) {
            return Seq::Ranked(i);
        }
        build(s, key, 0, snapshot_values(s, order.field))
    };
    Seq::Ranked(index)
}

fn build(
    s: &InventorySnapshot,
    key: RankKey,
    stamp: i64,
    values: Vec<Option<f64>>,
) -> Arc<RankIndex> {
    let index = Arc::new(RankIndex::build(values, key.1));
    s.ranks.put(key, stamp, index.clone());
    index
}

fn rank_name(kind: Kind, field: Field) -> &'static str {
    match (kind, field) {
        (Kind::Agent, Field::Cpu) => "host.cpu",
        (Kind::Agent, _) => "host.memory",
        (Kind::Vm, Field::Cpu) => "vm.cpu",
        (Kind::Vm, Field::Memory) => "vm.memory",
        (Kind::Vm, Field::StorageUsed) => "vm.storage_used",
        (Kind::Vm, _) => "vm.oldest_snapshot",
        (Kind::Storage, Field::UsedPercent) => "datastore.used_percent",
        (Kind::Storage, Field::Free) => "datastore.free",
        (Kind::Storage, _) => "datastore.capacity",
    }
}

fn snapshot_values(s: &InventorySnapshot, field: Field) -> Vec<Option<f64>> {
    let bytes = |b: Option<i64>| b.map(|b| b as f64);
    match field {
        Field::StorageUsed => s.vms.iter().map(|v| bytes(v.committed_bytes())).collect(),
        Field::OldestSnapshot => s
            .vms
            .iter()
            .map(|v| v.oldest_snapshot.map(|t| t.timestamp_millis() as f64))
            .collect(),
        Field::UsedPercent => s.storage.iter().map(|d| d.used_percent()).collect(),
        Field::Free => s.storage.iter().map(|d| bytes(d.free_bytes)).collect(),
        _ => s.storage.iter().map(|d| bytes(d.capacity_bytes)).collect(),
    }
}

/// The key of position `p` of `kind` in `order`.
pub fn key_at(s: &InventorySnapshot, kind: Kind, order: Order, seq: &Seq, p: usize) -> Key {
    let (name, id): (&str, &ResourceId) = match kind {
        Kind::Agent => (&s.agents[p].name, &s.agents[p].id),
        Kind::Vm => (&s.vms[p].name, &s.vms[p].id),
        Kind::Storage => (&s.storage[p].name, &s.storage[p].id),
    };
    Key {
        order,
        value: seq.value(p),
        name: sort_key(name, id),
    }
}

/// The first place in `seq` whose key comes after `after` (binary search).
pub fn seek(seq: &Seq, after: &Key, key: impl Fn(usize) -> Key) -> usize {
    let (mut lo, mut hi) = (0, seq.len());
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        if key(seq.at(mid)).cmp_in_order(after).is_le() {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    lo
}
