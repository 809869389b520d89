//! What the collector asks vCenter for, what it keeps of each value and what projection reads,
//! declared once per managed object type beside that type's projection (`project::host`,
//! `project::vm`, `project::datastore`, `project::topology`). A full sync and the change feed
//! fetch exactly the declared paths; ingest reduces large values to the declared keys; and
//! projection can read a raw object only through a [`Field`], which is checked against the
//! declaration when the crate compiles, so a misspelled or undeclared path is a build error
//! instead of a silently empty field. The list of declarations, and what is looked up in it by
//! type name, is `kinds`.

/// One managed object type as the collector requests it.
#[derive(Debug)]
pub struct Kind {
    /// vSphere type name (`HostSystem`).
    pub name: &'static str,
    /// The property paths requested.
    pub paths: &'static [&'static str],
    /// Requested properties reduced at ingest to what projection reads (path, what is kept).
    pub keep: &'static [(&'static str, Keep)],
}

/// The keys of an object value (or of each element of an array value) that ingest keeps.
#[derive(Debug)]
pub struct Keep {
    /// A key an array element must have to be kept at all (a VM's devices: only NICs), and the
    /// values it may have there, none listed meaning any (a VM's files: only snapshot files).
    pub require: Option<(&'static str, &'static [&'static str])>,
    /// Kept keys, each with what is kept below it (`None`: the whole value).
    pub keys: &'static [(&'static str, Option<&'static Keep>)],
}

/// A path projection reads from an object of the declaring types: a requested path, or a path
/// below one (and, below a reduced property, through kept keys only). Made only by [`field`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Field(&'static str);

impl Field {
    /// The dotted path.
    pub const fn path(self) -> &'static str {
        self.0
    }
}

/// The fields one projection module reads, and the types they are declared for.
#[derive(Debug)]
pub struct Fields {
    pub kinds: &'static [&'static Kind],
    pub fields: &'static [Field],
}

/// Declares `Field` constants checked at compile time against every listed [`Kind`], and the
/// module's [`Fields`] list (which the tests read to prove every requested path is read).
macro_rules! fields {
    ($list:ident for $kinds:tt { $($(#[$m:meta])* $name:ident = $path:literal;)* }) => {
        $($(#[$m])* pub const $name: $crate::model::paths::Field =
            const { $crate::model::paths::field(&$kinds, $path) };)*
        /// Every field this module reads, with the types they are declared for.
        pub const $list: $crate::model::paths::Fields = $crate::model::paths::Fields {
            kinds: &$kinds,
            fields: &[$($name),*],
        };
    };
}
pub(crate) use fields;

const fn same(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let mut i = 0;
    while i < a.len() {
        if a[i] != b[i] {
            return false;
        }
        i += 1;
    }
    true
}

/// The part of `path` after `prefix` and a dot, when `path` lies below `prefix`.
const fn below<'a>(path: &'a [u8], prefix: &[u8]) -> Option<&'a [u8]> {
    if path.len() <= prefix.len() || path[prefix.len()] != b'.' {
        return None;
    }
    let (head, rest) = path.split_at(prefix.len());
    if !same(head, prefix) {
        return None;
    }
    Some(rest.split_at(1).1)
}

/// The first segment of a dotted path and what follows its dot.
const fn first_segment(path: &[u8]) -> (&[u8], Option<&[u8]>) {
    let mut i = 0;
    while i < path.len() {
        if path[i] == b'.' {
            let (seg, rest) = path.split_at(i);
            return (seg, Some(rest.split_at(1).1));
        }
        i += 1;
    }
    (path, None)
}

/// Whether `sub` (a path below a reduced value) survives `keep`.
const fn kept(keep: &Keep, sub: &[u8]) -> bool {
    let (seg, rest) = first_segment(sub);
    let mut i = 0;
    while i < keep.keys.len() {
        let (key, nested) = keep.keys[i];
        if same(key.as_bytes(), seg) {
            return match (rest, nested) {
                (Some(rest), Some(nested)) => kept(nested, rest),
                _ => true,
            };
        }
        i += 1;
    }
    false
}

const fn declares(kind: &Kind, path: &[u8]) -> bool {
    let mut i = 0;
    while i < kind.paths.len() {
        let p = kind.paths[i].as_bytes();
        if same(p, path) {
            return true;
        }
        if let Some(sub) = below(path, p) {
            let mut k = 0;
            while k < kind.keep.len() {
                if same(kind.keep[k].0.as_bytes(), p) {
                    return kept(&kind.keep[k].1, sub);
                }
                k += 1;
            }
            return true;
        }
        i += 1;
    }
    false
}

/// `path` as a [`Field`] of `kinds`; a path one of them does not declare (or whose reduced value
/// does not keep it) stops compilation when called in a constant, as [`fields!`] does.
pub const fn field(kinds: &[&Kind], path: &'static str) -> Field {
    let mut i = 0;
    while i < kinds.len() {
        if !declares(kinds[i], path.as_bytes()) {
            panic!("a field reads a path its managed object type does not declare or keep");
        }
        i += 1;
    }
    Field(path)
}

/// `name` as a key of the elements `keep` reduces to, checked like [`field`].
pub const fn key(keep: &Keep, name: &'static str) -> &'static str {
    if !kept(keep, name.as_bytes()) {
        panic!("a key is read that its reduced property does not keep");
    }
    name
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::project::{datastore, host, vm};

    #[test]
    fn fields_below_a_reduced_property_must_be_kept() {
        // The checks `fields!` runs at compile time, run here on paths that must fail.
        assert!(declares(&vm::KIND, b"summary.quickStats.overallCpuUsage"));
        assert!(!declares(&vm::KIND, b"summary.quickStats.overalCpuUsage"));
        assert!(!declares(&vm::KIND, b"guest.screen"));
        assert!(declares(&vm::KIND, b"guest.net"));
        assert!(!declares(&vm::KIND, b"runtime.powerstate"));
        assert!(declares(&datastore::KIND, b"summary.capacity"));
        assert!(!declares(&host::KIND, b"summaryx"));
    }
}
