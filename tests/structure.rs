//! The crate's imports point down (docs/architecture.md): the modules that are files of their
//! own import one another without a circle (a folder's `mod.rs` aside: it declares its children
//! and holds what they share). Read from the source as text: every `crate::`, `super::` and
//! `self::` path outside comments and test modules, resolved to the module it names.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Every `.rs` file under `dir`.
fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read src") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The module path of a file under `src/` (`src/graphql/select.rs` -> `["graphql", "select"]`;
/// `mod.rs` names its folder; `lib.rs` and `main.rs` are the root).
fn module_of(src: &Path, file: &Path) -> Vec<String> {
    let rel = file.strip_prefix(src).expect("under src");
    let mut parts: Vec<String> = rel
        .iter()
        .map(|p| p.to_string_lossy().trim_end_matches(".rs").to_string())
        .collect();
    if matches!(
        parts.last().map(String::as_str),
        Some("mod" | "lib" | "main")
    ) {
        parts.pop();
    }
    parts
}

/// The code a module runs outside tests: comments dropped, and everything from the first
/// `#[cfg(test)]` on (the crate keeps its test modules at the end of a file).
fn code(text: &str) -> String {
    let text = text.split("#[cfg(test)]").next().unwrap_or_default();
    text.lines()
        .map(|l| l.split("//").next().unwrap_or_default())
        .collect::<Vec<_>>()
        .join("\n")
}

/// Expands a `use` tree (`super::{a, b::{c, d}}`) into its paths.
fn expand(tree: &str) -> Vec<String> {
    let tree = tree.trim();
    let Some(open) = tree.find('{') else {
        return vec![tree
            .split(" as ")
            .next()
            .unwrap_or_default()
            .trim()
            .to_string()];
    };
    let prefix = &tree[..open];
    let inner = &tree[open + 1..tree.rfind('}').expect("balanced use tree")];
    let mut items = Vec::new();
    let (mut depth, mut start) = (0, 0);
    for (i, c) in inner.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                items.push(&inner[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    items.push(&inner[start..]);
    items
        .into_iter()
        .filter(|i| !i.trim().is_empty())
        .flat_map(expand)
        .map(|p| {
            if p == "self" {
                prefix.trim_end_matches("::").to_string()
            } else {
                format!("{prefix}{p}")
            }
        })
        .collect()
}

/// Every path a module's code names from `crate`, `super` or `self`.
fn paths_in(code: &str) -> Vec<String> {
    let mut paths = Vec::new();
    let mut rest = code;
    while let Some(at) = rest.find("use ") {
        let before_ok = at == 0
            || !rest[..at]
                .chars()
                .next_back()
                .is_some_and(|c| c.is_alphanumeric() || c == '_');
        let stmt_end = rest[at..].find(';').map_or(rest.len(), |e| at + e);
        if before_ok {
            paths.extend(expand(&rest[at + 4..stmt_end]));
        }
        rest = &rest[(at + 4).min(stmt_end)..];
    }
    // Paths used inline (`super::errors::store(&e)`).
    let bytes = code.as_bytes();
    for root in ["crate::", "super::", "self::"] {
        let mut from = 0;
        while let Some(i) = code[from..].find(root) {
            let start = from + i;
            from = start + root.len();
            if start > 0 && (bytes[start - 1].is_ascii_alphanumeric() || bytes[start - 1] == b'_') {
                continue;
            }
            let end = code[start..]
                .find(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':'))
                .map_or(code.len(), |e| start + e);
            paths.push(code[start..end].trim_end_matches(':').to_string());
        }
    }
    paths.retain(|p| {
        p.starts_with("crate::") || p.starts_with("super::") || p.starts_with("self::")
    });
    paths
}

/// `path` as seen from `module`, made absolute (segments below the crate root).
fn absolute(module: &[String], path: &str) -> Vec<String> {
    let mut segs: Vec<&str> = path.split("::").filter(|s| !s.is_empty()).collect();
    let mut base: Vec<String> = match segs.first() {
        Some(&"crate") => {
            segs.remove(0);
            Vec::new()
        }
        _ => module.to_vec(),
    };
    // A file `a/b.rs` is module `a::b` like `a/b/mod.rs`: `super` is `a` for both.
    while let Some(&first) = segs.first() {
        match first {
            "super" => {
                base.pop();
                segs.remove(0);
            }
            "self" => {
                segs.remove(0);
            }
            _ => break,
        }
    }
    base.extend(segs.into_iter().map(str::to_string));
    base
}

#[test]
fn the_modules_import_one_another_without_a_circle() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    // Module path -> its file, for the modules that are files of their own; a folder's
    // `mod.rs` (and the crate's root) declares its children and holds what they share, so the
    // edges between a folder and its children are not counted.
    let leaf = |f: &PathBuf| {
        !matches!(
            f.file_name().and_then(|n| n.to_str()),
            Some("mod.rs" | "lib.rs" | "main.rs")
        )
    };
    let modules: BTreeMap<Vec<String>, bool> = files
        .iter()
        .map(|f| (module_of(&src, f), leaf(f)))
        .collect();

    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for file in files.iter().filter(|f| leaf(f)) {
        let module = module_of(&src, file);
        let text = std::fs::read_to_string(file).expect("read");
        for path in paths_in(&code(&text)) {
            let target = absolute(&module, &path);
            // The module it names: the longest prefix that is a module of the crate.
            let Some((named, is_leaf)) = (0..=target.len()).rev().find_map(|n| {
                modules
                    .get(&target[..n])
                    .map(|l| (target[..n].to_vec(), *l))
            }) else {
                continue;
            };
            if is_leaf && named != module {
                graph
                    .entry(module.join("::"))
                    .or_default()
                    .insert(named.join("::"));
            }
        }
    }

    // Depth-first search for a back edge in each folder's graph.
    fn circle(
        graph: &BTreeMap<String, BTreeSet<String>>,
        node: &str,
        stack: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(at) = stack.iter().position(|n| n == node) {
            let mut c = stack[at..].to_vec();
            c.push(node.to_string());
            return Some(c);
        }
        if done.contains(node) {
            return None;
        }
        stack.push(node.to_string());
        for next in graph.get(node).into_iter().flatten() {
            if let Some(c) = circle(graph, next, stack, done) {
                return Some(c);
            }
        }
        stack.pop();
        done.insert(node.to_string());
        None
    }
    let mut done = BTreeSet::new();
    let mut found = Vec::new();
    for node in graph.keys() {
        // The first circle found: breaking it shows the next, if any.
        if let Some(c) = circle(&graph, node, &mut Vec::new(), &mut done) {
            found.push(c.join(" -> "));
            break;
        }
    }
    assert!(
        graph.contains_key("graphql::select"),
        "the modules' imports were read"
    );
    assert!(found.is_empty(), "import circles:\n{}", found.join("\n"));
}

#[test]
fn a_circle_is_found_when_there_is_one() {
    // The reader itself: `select` -> `order` -> `common` -> `select` as the graphql folder had it.
    let module = |m: &str| vec!["graphql".to_string(), m.to_string()];
    let paths = paths_in(&code(
        "use super::order::{self, key_at};\nfn f() { super::common::bytes(None); }\n// super::hit::Hit\n",
    ));
    let named: Vec<Vec<String>> = paths
        .iter()
        .map(|p| absolute(&module("select"), p))
        .collect();
    assert!(named.contains(&vec!["graphql".into(), "order".into()]));
    assert!(named.contains(&vec!["graphql".into(), "order".into(), "key_at".into()]));
    assert!(named.contains(&vec!["graphql".into(), "common".into(), "bytes".into()]));
    assert!(
        !named.iter().any(|p| p.contains(&"hit".to_string())),
        "comments are not imports"
    );
    assert_eq!(
        expand("crate::a::{b, c::{d, e as f}, self}"),
        vec![
            "crate::a::b",
            "crate::a::c::d",
            "crate::a::c::e",
            "crate::a"
        ]
    );
}
