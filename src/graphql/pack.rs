//! The assistant's query pack: the read-only operations Pulse's assistant asks again and again,
//! shipped in the repository (`assistant/*.graphql`), served as persisted queries by their
//! SHA-256 (the Apollo persisted-query convention), listed in the graph for the assistant to
//! discover, and optionally the only operations the assistant role may run (`[assistant]
//! safelist = true`).
//!
//! Behind a federation gateway the subgraph never sees the pack's text: the gateway sends its own
//! operation per subgraph, named `<Operation>__<subgraph>__<n>`, selecting part of what the
//! pack's operation selects (or `_entities` for parts other subgraphs own). The safelist accepts
//! such an operation when it names a pack operation and selects nothing that operation does not.

use std::collections::{BTreeSet, HashMap};
use std::sync::OnceLock;

use async_graphql::parser::types::{
    DocumentOperations, ExecutableDocument, OperationType, Selection, SelectionSet,
};
use async_graphql::{SimpleObject, ID};
use sha2::{Digest, Sha256};

/// The pack's version: bumped when an operation changes its answer's shape.
pub const PACK_VERSION: &str = "1";

/// The documents, as they are in `assistant/`.
const DOCUMENTS: &[&str] = &[
    include_str!("../../assistant/stale_snapshots.graphql"),
    include_str!("../../assistant/full_datastores.graphql"),
    include_str!("../../assistant/critical_alerts.graphql"),
    include_str!("../../assistant/resource_overview.graphql"),
    include_str!("../../assistant/offline_hosts.graphql"),
    include_str!("../../assistant/degraded_connections.graphql"),
    include_str!("../../assistant/recent_alert_changes.graphql"),
];

/// One operation of the pack.
#[derive(Clone, Debug, SimpleObject)]
#[graphql(name = "VsphereAssistantOperation")]
pub struct PackOperation {
    /// The operation's name.
    pub name: String,
    /// SHA-256 of `document` in hex: send it as `extensions.persistedQuery.sha256Hash`
    /// (`version: 1`) instead of the text.
    pub id: ID,
    /// What it answers and its variables.
    pub description: String,
    /// The variables with their types and defaults, as declared.
    pub variables: Vec<String>,
    /// The operation's text.
    pub document: String,
    /// Field paths it selects (`field/field/...`, fragments flattened).
    #[graphql(skip)]
    paths: BTreeSet<String>,
}

/// The pack, parsed once.
#[derive(Debug)]
pub struct Pack {
    pub operations: Vec<PackOperation>,
    by_hash: HashMap<String, usize>,
    by_name: HashMap<String, usize>,
}

/// The pack, built on first use (the documents are checked by a test, so a parse failure here
/// can only come from an edit that test would catch; such a document is left out).
pub fn pack() -> &'static Pack {
    static PACK: OnceLock<Pack> = OnceLock::new();
    PACK.get_or_init(|| {
        let operations: Vec<PackOperation> =
            DOCUMENTS.iter().filter_map(|d| operation(d).ok()).collect();
        let by_hash = operations
            .iter()
            .enumerate()
            .map(|(i, o)| (o.id.to_string(), i))
            .collect();
        let by_name = operations
            .iter()
            .enumerate()
            .map(|(i, o)| (o.name.clone(), i))
            .collect();
        Pack {
            operations,
            by_hash,
            by_name,
        }
    })
}

/// SHA-256 of a document's text in lower-case hex.
pub fn sha256_hex(text: &str) -> String {
    hex::encode(Sha256::digest(text.as_bytes()))
}

impl Pack {
    /// The operation whose document hashes to `hash`.
    pub fn by_hash(&self, hash: &str) -> Option<&PackOperation> {
        self.by_hash
            .get(&hash.to_ascii_lowercase())
            .map(|i| &self.operations[*i])
    }

    /// Whether the safelist lets the assistant run `query`: a pack document itself, or a
    /// gateway's operation for a pack operation that selects nothing more than it.
    pub fn allows(&self, query: &str) -> bool {
        if self.by_hash(&sha256_hex(query)).is_some() {
            return true;
        }
        let Ok(doc) = async_graphql::parser::parse_query(query) else {
            return false;
        };
        if federation_sdl_only(&doc) {
            return true;
        }
        let ops: Vec<_> = match &doc.operations {
            DocumentOperations::Single(op) => vec![(None, op)],
            DocumentOperations::Multiple(m) => m.iter().map(|(n, op)| (Some(n), op)).collect(),
        };
        ops.iter().all(|(name, op)| {
            let Some(name) = name else { return false };
            let Some(pack_op) = name
                .as_str()
                .split("__")
                .next()
                .and_then(|n| self.by_name.get(n))
                .map(|i| &self.operations[*i])
            else {
                return false;
            };
            let mut paths = BTreeSet::new();
            collect(&doc, &op.node.selection_set.node, "", &mut paths);
            op.node.ty == OperationType::Query && paths.iter().all(|p| within(p, &pack_op.paths))
        })
    }
}

/// A query for the subgraph's SDL alone (`{ _service { sdl } }`), which routers and composition
/// tools ask with whatever credential they hold: it reveals the schema, never data.
fn federation_sdl_only(doc: &ExecutableDocument) -> bool {
    let ops: Vec<_> = match &doc.operations {
        DocumentOperations::Single(op) => vec![op],
        DocumentOperations::Multiple(m) => m.values().collect(),
    };
    ops.iter().all(|op| {
        let mut paths = BTreeSet::new();
        collect(doc, &op.node.selection_set.node, "", &mut paths);
        op.node.ty == OperationType::Query
            && paths
                .iter()
                .all(|p| p == "_service" || p == "_service/sdl" || p.ends_with("__typename"))
    })
}

/// `path` is selected by a pack operation whose paths are `allowed`: the same path, or an
/// `_entities` path whose part below the entity is the end of an allowed path.
fn within(path: &str, allowed: &BTreeSet<String>) -> bool {
    if path.ends_with("__typename") || allowed.contains(path) {
        return true;
    }
    match path.strip_prefix("_entities/") {
        Some(rest) => allowed.iter().any(|a| a.ends_with(&format!("/{rest}"))),
        None => path == "_entities",
    }
}

fn operation(document: &str) -> Result<PackOperation, String> {
    let doc = async_graphql::parser::parse_query(document).map_err(|e| e.to_string())?;
    // A named operation is listed under its name; the parser keeps `Single` for anonymous ones.
    let (name, op) = match &doc.operations {
        DocumentOperations::Multiple(m) if m.len() == 1 => m
            .iter()
            .next()
            .map(|(n, op)| (n.to_string(), op))
            .ok_or("empty")?,
        _ => return Err("a pack document holds one named operation".into()),
    };
    if op.node.ty != OperationType::Query {
        return Err(format!("{name} is not a query"));
    }
    let description = document
        .lines()
        .take_while(|l| l.starts_with('#'))
        .map(|l| l.trim_start_matches('#').trim())
        .collect::<Vec<_>>()
        .join(" ");
    let variables = op
        .node
        .variable_definitions
        .iter()
        .map(|v| {
            let v = &v.node;
            match &v.default_value {
                Some(d) => format!("${}: {} = {}", v.name.node, v.var_type.node, d.node),
                None => format!("${}: {}", v.name.node, v.var_type.node),
            }
        })
        .collect();
    let mut paths = BTreeSet::new();
    collect(&doc, &op.node.selection_set.node, "", &mut paths);
    Ok(PackOperation {
        name,
        id: ID(sha256_hex(document)),
        description,
        variables,
        document: document.to_string(),
        paths,
    })
}

/// Every field path under `set` (aliases and type conditions ignored, fragments flattened).
fn collect(doc: &ExecutableDocument, set: &SelectionSet, prefix: &str, out: &mut BTreeSet<String>) {
    for item in &set.items {
        match &item.node {
            Selection::Field(f) => {
                let path = if prefix.is_empty() {
                    f.node.name.node.to_string()
                } else {
                    format!("{prefix}/{}", f.node.name.node)
                };
                collect(doc, &f.node.selection_set.node, &path, out);
                out.insert(path);
            }
            Selection::InlineFragment(i) => {
                collect(doc, &i.node.selection_set.node, prefix, out);
            }
            Selection::FragmentSpread(s) => {
                if let Some(frag) = doc.fragments.get(&s.node.fragment_name.node) {
                    collect(doc, &frag.node.selection_set.node, prefix, out);
                }
            }
        }
    }
}

/// `[assistant]`: what the assistant role may run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct AssistantSettings {
    /// Only the pack's operations (by id or text, or a gateway's part of one).
    #[serde(default)]
    pub safelist: bool,
}

/// The pack as the graph shows it.
#[derive(SimpleObject)]
#[graphql(name = "VsphereAssistantPack")]
pub struct PackView {
    /// The pack's version.
    pub version: String,
    /// The operations.
    pub operations: Vec<PackOperation>,
}

impl PackView {
    pub fn new() -> PackView {
        PackView {
            version: PACK_VERSION.into(),
            operations: pack().operations.clone(),
        }
    }
}

impl Default for PackView {
    fn default() -> Self {
        PackView::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_document_is_one_named_operation_with_a_description() {
        for d in DOCUMENTS {
            let op = operation(d).unwrap_or_else(|e| panic!("{e}: {d}"));
            assert!(!op.description.is_empty(), "{}", op.name);
            assert!(op.description.contains("Answers:"), "{}", op.name);
        }
        assert_eq!(pack().operations.len(), DOCUMENTS.len());
    }

    #[test]
    fn the_safelist_takes_pack_texts_and_gateway_parts_and_nothing_more() {
        let p = pack();
        let stale = &p.operations[0];
        assert!(p.allows(&stale.document));
        assert_eq!(p.by_hash(&stale.id).map(|o| &o.name), Some(&stale.name));
        // What a gateway sends for it: part of its selection, under a derived name.
        assert!(p.allows(
            "query StaleSnapshots__vsphere__0($d: Int!) { vsphereVms(first: 5, filter: {hasSnapshotsOlderThanDays: $d}) { nodes { id name __typename vsphere { snapshotCount } } } }"
        ));
        assert!(p.allows(
            "query StaleSnapshots__vsphere__1($r: [_Any!]!) { _entities(representations: $r) { ... on Vm { vsphere { snapshotCount } } } }"
        ));
        // A field the operation does not select, another root, a mutation, an anonymous query.
        assert!(!p.allows(
            "query StaleSnapshots__vsphere__0 { vsphereVms(first: 5) { nodes { id vsphere { guest { hostname } } } } }"
        ));
        assert!(!p.allows("query StaleSnapshots__x { vsphereConnections { host } }"));
        assert!(
            !p.allows("mutation StaleSnapshots { vsphereDeleteConnection(id: \"a\", version: 1) }")
        );
        assert!(!p.allows("{ vsphereVms { nodes { id } } }"));
        assert!(!p.allows("query Unknown { vsphereVms { nodes { id } } }"));
        // The subgraph's SDL, which routers ask for with the credential they hold.
        assert!(p.allows("{ _service { sdl } }"));
        assert!(!p.allows("{ _service { sdl } vsphereConnections { host } }"));
    }
}
