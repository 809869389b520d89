//! Orders of a snapshot's resources by a value (CPU, used space, ...) rather than by name.
//! The snapshot's vectors are already in (name, id) order, so a position doubles as the name
//! tie-breaker. An order is built on first use and kept on the snapshot; values that change
//! between snapshots (realtime metrics) carry a stamp, and an index made for another stamp is
//! rebuilt, so a page costs a binary search, not a sort of the inventory.

use std::cmp::Ordering;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// Compares two values of an order. Missing values sort after every present one in both
/// directions, so "top N" never starts with resources that have nothing to rank by.
pub fn cmp_values(a: Option<f64>, b: Option<f64>, desc: bool) -> Ordering {
    match (a, b) {
        (Some(x), Some(y)) if desc => y.total_cmp(&x),
        (Some(x), Some(y)) => x.total_cmp(&y),
        (Some(_), None) => Ordering::Less,
        (None, Some(_)) => Ordering::Greater,
        (None, None) => Ordering::Equal,
    }
}

/// One order of one kind of resource in one snapshot.
#[derive(Debug)]
pub struct RankIndex {
    /// Positions in order.
    seq: Vec<u32>,
    /// Where each position is in `seq`.
    rank: Vec<u32>,
    /// The value each position was ranked by.
    values: Vec<Option<f64>>,
}

impl RankIndex {
    /// Orders positions `0..values.len()` by value (missing last), then by position.
    pub fn build(values: Vec<Option<f64>>, desc: bool) -> RankIndex {
        let mut seq: Vec<u32> = (0..values.len() as u32).collect();
        seq.sort_by(|&a, &b| {
            cmp_values(values[a as usize], values[b as usize], desc).then(a.cmp(&b))
        });
        let mut rank = vec![0u32; seq.len()];
        for (i, &p) in seq.iter().enumerate() {
            rank[p as usize] = i as u32;
        }
        RankIndex { seq, rank, values }
    }

    /// How many positions it orders.
    pub fn len(&self) -> usize {
        self.seq.len()
    }

    /// Whether it orders nothing.
    pub fn is_empty(&self) -> bool {
        self.seq.is_empty()
    }

    /// The position at place `i` of the order.
    pub fn at(&self, i: usize) -> usize {
        self.seq[i] as usize
    }

    /// The place of position `p` in the order.
    pub fn rank(&self, p: usize) -> usize {
        self.rank[p] as usize
    }

    /// The value position `p` was ranked by.
    pub fn value(&self, p: usize) -> Option<f64> {
        self.values[p]
    }
}

/// Which order: a name for the kind and value (`"vm.cpu"`), and whether descending.
pub type RankKey = (&'static str, bool);

/// The orders built for one snapshot, each valid for the stamp of the values it was built from.
#[derive(Default)]
pub struct RankCache(Mutex<HashMap<RankKey, (i64, Arc<RankIndex>)>>);

impl std::fmt::Debug for RankCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let n = self.0.lock().map(|m| m.len()).unwrap_or(0);
        write!(f, "RankCache({n} orders)")
    }
}

impl RankCache {
    /// The order for `key` if it was built from values of `stamp`.
    pub fn get(&self, key: RankKey, stamp: i64) -> Option<Arc<RankIndex>> {
        let map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        map.get(&key)
            .filter(|(s, _)| *s == stamp)
            .map(|(_, i)| i.clone())
    }

    /// Keeps `index` as the order for `key` at `stamp` (replacing one of an older stamp).
    pub fn put(&self, key: RankKey, stamp: i64, index: Arc<RankIndex>) {
        let mut map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        map.insert(key, (stamp, index));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_values_sort_last_both_ways_and_ties_keep_position_order() {
        let values = vec![Some(5.0), None, Some(9.0), Some(5.0), None, Some(1.0)];
        let asc = RankIndex::build(values.clone(), false);
        let order: Vec<usize> = (0..asc.len()).map(|i| asc.at(i)).collect();
        assert_eq!(order, vec![5, 0, 3, 2, 1, 4]);
        let desc = RankIndex::build(values, true);
        let order: Vec<usize> = (0..desc.len()).map(|i| desc.at(i)).collect();
        assert_eq!(order, vec![2, 0, 3, 5, 1, 4]);
        for i in 0..desc.len() {
            assert_eq!(desc.rank(desc.at(i)), i);
        }
        assert_eq!(desc.value(2), Some(9.0));
    }

    #[test]
    fn the_cache_answers_only_for_the_stamp_it_was_built_for() {
        let c = RankCache::default();
        c.put(
            ("vm.cpu", true),
            7,
            Arc::new(RankIndex::build(vec![], true)),
        );
        assert!(c.get(("vm.cpu", true), 7).is_some());
        assert!(c.get(("vm.cpu", true), 8).is_none());
        assert!(c.get(("vm.cpu", false), 7).is_none());
    }
}
