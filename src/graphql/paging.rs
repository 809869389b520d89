//! Relay pagination over the merged, stably ordered resources of every visible vCenter.
//! Cursors are opaque (base64 of the sort key), so a page boundary survives inserts and
//! deletes elsewhere in the list.

use base64::Engine;

use super::errors::bad_user_input;

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

/// Merges per-source ascending lists by key and takes `first`; returns the items and whether
/// more exist. Each source must already hold at most `first + 1` items after the cursor.
pub fn merge_page<T>(sources: Vec<Vec<(SortKey, T)>>, first: usize) -> (Vec<(SortKey, T)>, bool) {
    let mut all: Vec<(SortKey, T)> = sources.into_iter().flatten().collect();
    all.sort_by(|a, b| a.0.cmp(&b.0));
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
        let k = |s: &str| (s.to_string(), s.to_string());
        let (page, more) = merge_page(vec![vec![(k("a"), 1), (k("c"), 3)], vec![(k("b"), 2)]], 2);
        assert_eq!(page.iter().map(|p| p.1).collect::<Vec<_>>(), vec![1, 2]);
        assert!(more);
        let (page, more) = merge_page::<i32>(vec![vec![], vec![]], 5);
        assert!(page.is_empty() && !more);
    }
}
