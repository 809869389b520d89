//! Relay pagination over the merged, stably ordered resources of every visible vCenter.
//! Cursors are opaque (base64 of the sort key), so a page boundary survives inserts and
//! deletes elsewhere in the list. A cursor of a list ordered by a value (`orderBy`) also
//! names its order and holds the value, then name and id, so paging stays total; one made
//! for another order is refused rather than read as a position it never was.

use base64::Engine;

use std::cmp::Ordering;

use super::errors::bad_user_input;
use crate::model::ranks::cmp_values;

/// Default page size.
pub const DEFAULT_PAGE: i32 = 50;
/// Largest page a client may ask for.
pub const MAX_PAGE: i32 = 500;

/// The position a cursor points at: the sort key of the last item seen.
pub type SortKey = (String, String);

/// Encodes a sort key as an opaque cursor.
pub fn encode_cursor(key: &SortKey) -> String {
    let json = serde_json::json!([key.0, key.1]).to_string();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(json)
}

/// Decodes a cursor made by [`encode_cursor`].
///
/// # Errors
/// `BAD_USER_INPUT` when the cursor was not made by this service.
pub fn decode_cursor(cursor: &str) -> async_graphql::Result<SortKey> {
    let invalid = || bad_user_input("invalid cursor: pass a cursor returned by this field");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(cursor.as_bytes())
        .map_err(|_| invalid())?;
    let (name, id): (String, String) = serde_json::from_slice(&bytes).map_err(|_| invalid())?;
    Ok((name, id))
}

/// Validates `first`.
///
/// # Errors
/// `BAD_USER_INPUT` outside `0..=MAX_PAGE`.
pub fn page_size(first: Option<i32>) -> async_graphql::Result<usize> {
    let n = first.unwrap_or(DEFAULT_PAGE);
    if !(0..=MAX_PAGE).contains(&n) {
        return Err(bad_user_input(format!(
            "`first` must be between 0 and {MAX_PAGE}"
        )));
    }
    Ok(n as usize)
}

/// What a list can be ordered by; which fields a kind offers is up to its `orderBy` input.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Field {
    /// Case-insensitive name, then id: the default, and every list's order before `orderBy`.
    #[default]
    Name,
    /// Current CPU use in percent (hosts, VMs).
    Cpu,
    /// Current memory use in percent (hosts, VMs).
    Memory,
    /// Bytes written on datastores (VMs).
    StorageUsed,
    /// When the oldest snapshot was taken (VMs).
    OldestSnapshot,
    /// Percent of capacity used (datastores).
    UsedPercent,
    /// Free bytes (datastores).
    Free,
    /// Capacity in bytes (datastores).
    Capacity,
}

impl Field {
    /// The name in cursors and messages: the GraphQL enum value.
    pub fn as_str(self) -> &'static str {
        match self {
            Field::Name => "NAME",
            Field::Cpu => "CPU",
            Field::Memory => "MEMORY",
            Field::StorageUsed => "STORAGE_USED",
            Field::OldestSnapshot => "OLDEST_SNAPSHOT",
            Field::UsedPercent => "USED_PERCENT",
            Field::Free => "FREE",
            Field::Capacity => "CAPACITY",
        }
    }

    fn parse(s: &str) -> Option<Field> {
        [
            Field::Name,
            Field::Cpu,
            Field::Memory,
            Field::StorageUsed,
            Field::OldestSnapshot,
            Field::UsedPercent,
            Field::Free,
            Field::Capacity,
        ]
        .into_iter()
        .find(|f| f.as_str() == s)
    }
}

/// A list's order. The default (name ascending) keeps the cursors lists always had.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Order {
    pub field: Field,
    pub desc: bool,
}

impl Order {
    /// Whether this is the default order.
    pub fn is_default(self) -> bool {
        self == Order::default()
    }
}

impl std::fmt::Display for Order {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let dir = if self.desc { "DESC" } else { "ASC" };
        write!(f, "{{field: {}, direction: {dir}}}", self.field.as_str())
    }
}

/// Where an item is in an ordered list: the value it is ordered by (none for the name order),
/// then its name key.
#[derive(Clone, Debug, PartialEq)]
pub struct Key {
    pub order: Order,
    pub value: Option<f64>,
    pub name: SortKey,
}

impl Key {
    /// The key of the default order.
    pub fn by_name(name: SortKey) -> Key {
        Key {
            order: Order::default(),
            value: None,
            name,
        }
    }

    /// Compares two keys of the same order. Names break ties in ascending order whatever the
    /// direction of a value order; the name order itself runs wholly in its direction.
    pub fn cmp_in_order(&self, other: &Key) -> Ordering {
        let by_name = self.name.cmp(&other.name);
        match self.order.field {
            Field::Name if self.order.desc => by_name.reverse(),
            Field::Name => by_name,
            _ => cmp_values(self.value, other.value, self.order.desc).then(by_name),
        }
    }

    /// The opaque cursor of this key: exactly the old cursor for the default order.
    pub fn cursor(&self) -> String {
        if self.order.is_default() {
            return encode_cursor(&self.name);
        }
        let dir = if self.order.desc { "DESC" } else { "ASC" };
        // The value's bits, so the cursor finds the very same place (decimal text need not
        // read back to the same double).
        let json = serde_json::json!([
            self.order.field.as_str(),
            dir,
            self.value.map(f64::to_bits),
            self.name.0,
            self.name.1
        ])
        .to_string();
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(json)
    }
}

/// Decodes an `after` cursor for a list in `order`.
///
/// # Errors
/// `BAD_USER_INPUT` when the cursor was not made by this service, or was made for another
/// order.
pub fn decode_key(cursor: &str, order: Order) -> async_graphql::Result<Key> {
    let invalid = || bad_user_input("invalid cursor: pass a cursor returned by this field");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(cursor.as_bytes())
        .map_err(|_| invalid())?;
    type Ordered = (String, String, Option<u64>, String, String);
    let key = if let Ok((name, id)) = serde_json::from_slice::<(String, String)>(&bytes) {
        Key::by_name((name, id))
    } else {
        let (field, dir, bits, name, id): Ordered =
            serde_json::from_slice(&bytes).map_err(|_| invalid())?;
        let field = Field::parse(&field).ok_or_else(invalid)?;
        let desc = match dir.as_str() {
            "ASC" => false,
            "DESC" => true,
            _ => return Err(invalid()),
        };
        Key {
            order: Order { field, desc },
            value: bits.map(f64::from_bits),
            name: (name, id),
        }
    };
    if key.order != order {
        return Err(bad_user_input(format!(
            "this cursor was made for orderBy {}, not {order}: pass the orderBy it was made \
             for, or leave out `after` to start from the top",
            key.order
        )));
    }
    Ok(key)
}

/// Merges per-source lists, each already in the order of their keys, and takes `first`;
/// returns the items and whether more exist. Each source must already hold at most
/// `first + 1` items after the cursor.
pub fn merge_page<T>(sources: Vec<Vec<(Key, T)>>, first: usize) -> (Vec<(Key, T)>, bool) {
    let mut all: Vec<(Key, T)> = sources.into_iter().flatten().collect();
    all.sort_by(|a, b| a.0.cmp_in_order(&b.0));
    let has_next = all.len() > first;
    all.truncate(first);
    (all, has_next)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_reject_garbage() {
        let k = ("web-01".to_string(), "vsphere:abc:vm-1".to_string());
        assert_eq!(decode_cursor(&encode_cursor(&k)).ok(), Some(k));
        for bad in ["", "!!", "bm90IGpzb24", "WzFd"] {
            assert!(decode_cursor(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn page_size_bounds() {
        assert_eq!(page_size(None).ok(), Some(50));
        assert_eq!(page_size(Some(0)).ok(), Some(0));
        assert!(page_size(Some(-1)).is_err());
        assert!(page_size(Some(501)).is_err());
    }

    #[test]
    fn merge_is_ordered_and_reports_more() {
        let k = |s: &str| Key::by_name((s.to_string(), s.to_string()));
        let (page, more) = merge_page(vec![vec![(k("a"), 1), (k("c"), 3)], vec![(k("b"), 2)]], 2);
        assert_eq!(page.iter().map(|p| p.1).collect::<Vec<_>>(), vec![1, 2]);
        assert!(more);
        let (page, more) = merge_page::<i32>(vec![vec![], vec![]], 5);
        assert!(page.is_empty() && !more);
    }

    #[test]
    fn ordered_cursors_round_trip_and_refuse_another_order() {
        let cpu_desc = Order {
            field: Field::Cpu,
            desc: true,
        };
        let k = Key {
            order: cpu_desc,
            value: Some(0.1 + 0.2),
            name: ("web-01".into(), "vsphere:abc:vm-1".into()),
        };
        assert_eq!(decode_key(&k.cursor(), cpu_desc).ok(), Some(k.clone()));
        assert!(decode_key(&k.cursor(), Order::default()).is_err());
        let plain = Key::by_name(("a".into(), "b".into()));
        assert_eq!(plain.cursor(), encode_cursor(&plain.name));
        assert_eq!(
            decode_key(&plain.cursor(), Order::default()).ok(),
            Some(plain.clone())
        );
        assert!(decode_key(&plain.cursor(), cpu_desc).is_err());
        let none = Key { value: None, ..k };
        assert_eq!(decode_key(&none.cursor(), cpu_desc).ok(), Some(none));
    }

    #[test]
    fn values_order_before_names_and_missing_values_come_last() {
        let order = Order {
            field: Field::Cpu,
            desc: true,
        };
        let k = |v: Option<f64>, n: &str| Key {
            order,
            value: v,
            name: (n.into(), n.into()),
        };
        let (page, _) = merge_page(
            vec![
                vec![(k(Some(9.0), "b"), 1), (k(None, "a"), 4)],
                vec![(k(Some(9.0), "c"), 2), (k(Some(1.0), "a"), 3)],
            ],
            4,
        );
        assert_eq!(
            page.iter().map(|p| p.1).collect::<Vec<_>>(),
            vec![1, 2, 3, 4]
        );
    }
}
