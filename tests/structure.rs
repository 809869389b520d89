//! The crate's imports point down (docs/architecture.md): no module imports, directly or through
//! others, a module that imports it. Read from the source as text: every `crate::`, `super::` and
//! `self::` path outside comments, string literals and `#[cfg(test)]` items, resolved to the
//! module it names and, through `pub use`, to the module that defines the name. A module and its
//! own ancestors are not counted as an edge either way: a folder's `mod.rs` declares its children
//! and holds what they share.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

type Module = Vec<String>;

/// Every `.rs` file under `dir`, but test-only modules (`tests.rs`, declared under
/// `#[cfg(test)]`).
fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read src") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs")
            && path.file_name().is_some_and(|n| n != "tests.rs")
        {
            out.push(path);
        }
    }
}

/// The module path of a file under `src/` (`src/graphql/select.rs` -> `["graphql", "select"]`;
/// `mod.rs` names its folder; `lib.rs` and `main.rs` are the root).
fn module_of(src: &Path, file: &Path) -> Module {
    let rel = file.strip_prefix(src).expect("under src");
    let mut parts: Module = rel
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

/// The code with comments removed and string and character literals emptied, so neither can
/// hold a path or a brace.
fn lex(text: &str) -> String {
    let c: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < c.len() {
        match c[i] {
            '/' if c.get(i + 1) == Some(&'/') => {
                while i < c.len() && c[i] != '\n' {
                    i += 1;
                }
            }
            '/' if c.get(i + 1) == Some(&'*') => {
                let mut depth = 0;
                while i < c.len() {
                    if c[i] == '/' && c.get(i + 1) == Some(&'*') {
                        depth += 1;
                        i += 2;
                    } else if c[i] == '*' && c.get(i + 1) == Some(&'/') {
                        depth -= 1;
                        i += 2;
                        if depth == 0 {
                            break;
                        }
                    } else {
                        i += 1;
                    }
                }
                out.push(' ');
            }
            // Raw strings: r"..", r#".."#, br#".."#.
            'r' if (i == 0 || !(c[i - 1].is_alphanumeric() || c[i - 1] == '_'))
                || (i > 0 && c[i - 1] == 'b') =>
            {
                let mut j = i + 1;
                while c.get(j) == Some(&'#') {
                    j += 1;
                }
                if c.get(j) != Some(&'"') {
                    out.push('r');
                    i += 1;
                    continue;
                }
                let hashes = j - i - 1;
                j += 1;
                while j < c.len()
                    && !(c[j] == '"' && (1..=hashes).all(|h| c.get(j + h) == Some(&'#')))
                {
                    j += 1;
                }
                out.push_str("\"\"");
                i = j + 1 + hashes;
            }
            '"' => {
                i += 1;
                while i < c.len() && c[i] != '"' {
                    i += if c[i] == '\\' { 2 } else { 1 };
                }
                out.push_str("\"\"");
                i += 1;
            }
            // A character literal ('x', '\n', '\u{1F600}'), not a lifetime ('a).
            '\'' if c.get(i + 1) == Some(&'\\') || c.get(i + 2) == Some(&'\'') => {
                i += 1;
                while i < c.len() && c[i] != '\'' {
                    i += if c[i] == '\\' { 2 } else { 1 };
                }
                out.push_str("' '");
                i += 1;
            }
            ch => {
                out.push(ch);
                i += 1;
            }
        }
    }
    out
}

/// `code` without the items marked `#[cfg(test)]` (a test module to its closing brace, or an
/// item up to its `;`).
fn without_tests(code: &str) -> String {
    let mut out = String::with_capacity(code.len());
    let mut rest = code;
    while let Some(at) = rest.find("#[cfg(test)]") {
        out.push_str(&rest[..at]);
        let item = &rest[at..];
        let end = match (item.find('{'), item.find(';')) {
            (Some(open), semi) if semi.is_none_or(|s| open < s) => {
                let mut depth = 0;
                item[open..]
                    .char_indices()
                    .find_map(|(i, ch)| {
                        match ch {
                            '{' => depth += 1,
                            '}' => depth -= 1,
                            _ => {}
                        }
                        (depth == 0).then_some(open + i + 1)
                    })
                    .unwrap_or(item.len())
            }
            (_, Some(semi)) => semi + 1,
            _ => item.len(),
        };
        rest = &item[end..];
    }
    out.push_str(rest);
    out
}

/// Expands a `use` tree (`super::{a, b::{c, d}}`) into its paths, each with the name it binds.
fn expand(tree: &str) -> Vec<(String, String)> {
    let tree = tree.trim();
    let Some(open) = tree.find('{') else {
        let mut parts = tree.split(" as ");
        let path = parts.next().unwrap_or_default().trim().to_string();
        let name = parts
            .next()
            .map(|n| n.trim().to_string())
            .unwrap_or_else(|| path.rsplit("::").next().unwrap_or_default().to_string());
        return vec![(path, name)];
    };
    let prefix = &tree[..open];
    let Some(close) = tree.rfind('}').filter(|c| *c > open) else {
        return Vec::new();
    };
    let inner = &tree[open + 1..close];
    let mut items = Vec::new();
    let (mut depth, mut start) = (0, 0);
    for (i, ch) in inner.char_indices() {
        match ch {
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
        .map(|(p, name)| {
            if p == "self" {
                let path = prefix.trim_end_matches("::").to_string();
                let name = path.rsplit("::").next().unwrap_or_default().to_string();
                (path, name)
            } else {
                (format!("{prefix}{p}"), name)
            }
        })
        .collect()
}

/// A module's `use` declarations: (path, bound name, re-exported).
fn uses(code: &str) -> Vec<(String, String, bool)> {
    let mut found = Vec::new();
    let mut from = 0;
    while let Some(i) = code[from..].find("use ") {
        let at = from + i;
        from = at + 4;
        let last = code[..at]
            .split_whitespace()
            .next_back()
            .unwrap_or_default();
        if code[..at]
            .chars()
            .next_back()
            .is_some_and(|ch| ch.is_alphanumeric() || ch == '_')
        {
            continue;
        }
        let public = last == "pub" || last.starts_with("pub(");
        let Some(end) = code[at..].find(';') else {
            break;
        };
        for (path, name) in expand(&code[at + 4..at + end]) {
            found.push((path, name, public));
        }
        from = at + end;
    }
    found
}

/// Every path the code names from `crate`, `super` or `self`, in `use` declarations or inline
/// (`super::errors::store(&e)`), but `pub(in crate::x)` visibilities.
fn paths_in(code: &str) -> Vec<String> {
    let mut paths: Vec<String> = uses(code).into_iter().map(|(p, _, _)| p).collect();
    let bytes = code.as_bytes();
    for root in ["crate::", "super::", "self::"] {
        let mut from = 0;
        while let Some(i) = code[from..].find(root) {
            let start = from + i;
            from = start + root.len();
            if start > 0 && (bytes[start - 1].is_ascii_alphanumeric() || bytes[start - 1] == b'_') {
                continue;
            }
            if code[..start].trim_end().ends_with("pub(in") {
                continue;
            }
            let end = code[start..]
                .find(|ch: char| !(ch.is_alphanumeric() || ch == '_' || ch == ':'))
                .map_or(code.len(), |e| start + e);
            // The prefix of a `use` group, which `uses` expands.
            if code[end..].starts_with('{') {
                continue;
            }
            paths.push(code[start..end].trim_end_matches(':').to_string());
        }
    }
    paths.retain(|p| {
        p.starts_with("crate::") || p.starts_with("super::") || p.starts_with("self::")
    });
    paths
}

/// `path` as seen from `module`, made absolute (segments below the crate root). A file `a/b.rs`
/// is module `a::b` like `a/b/mod.rs`: `super` is `a` for both.
fn absolute(module: &[String], path: &str) -> Module {
    let mut segs: Vec<&str> = path.split("::").filter(|s| !s.is_empty()).collect();
    let mut base: Module = match segs.first() {
        Some(&"crate") => {
            segs.remove(0);
            Vec::new()
        }
        _ => module.to_vec(),
    };
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

/// The crate's modules, read: each module's code, and its re-exports by bound name.
struct Crate {
    code: BTreeMap<Module, String>,
    reexports: BTreeMap<(Module, String), Module>,
}

impl Crate {
    fn read(src: &Path) -> Crate {
        let mut files = Vec::new();
        rust_files(src, &mut files);
        let mut code: BTreeMap<Module, String> = BTreeMap::new();
        for file in files {
            let text = without_tests(&lex(&std::fs::read_to_string(&file).expect("read")));
            // `main.rs` and `lib.rs` are both the root.
            code.entry(module_of(src, &file))
                .or_default()
                .push_str(&text);
        }
        let mut reexports = BTreeMap::new();
        for (module, text) in &code {
            for (path, name, public) in uses(text) {
                let rooted = ["crate::", "super::", "self::"]
                    .iter()
                    .any(|r| path.starts_with(r));
                // A bare path names a child module (`pub use error::VcError;`) or another crate.
                let first = path.split("::").next().unwrap_or_default();
                let child = [module.as_slice(), &[first.to_string()]].concat();
                let to = if rooted {
                    absolute(module, &path)
                } else if code.contains_key(&child) {
                    absolute(module, &format!("self::{path}"))
                } else {
                    continue;
                };
                if public && name != "*" {
                    reexports.insert((module.clone(), name), to);
                }
            }
        }
        Crate { code, reexports }
    }

    /// The module that defines what `target` names: the longest prefix that is a module,
    /// followed through re-exports of the next segment.
    fn defining(&self, target: &[String]) -> Option<Module> {
        let mut target = target.to_vec();
        for _ in 0..8 {
            let n = (0..=target.len())
                .rev()
                .find(|n| self.code.contains_key(&target[..*n]))?;
            let module = target[..n].to_vec();
            let Some(next) = target.get(n) else {
                return Some(module);
            };
            match self.reexports.get(&(module.clone(), next.clone())) {
                Some(to) if *to != target[..=n] => {
                    let mut followed = to.clone();
                    followed.extend(target[n + 1..].iter().cloned());
                    target = followed;
                }
                _ => return Some(module),
            }
        }
        None
    }

    /// Module -> the modules it imports (neither its ancestors nor its descendants).
    fn imports(&self) -> BTreeMap<String, BTreeSet<String>> {
        let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for (module, code) in &self.code {
            for path in paths_in(code) {
                let Some(named) = self.defining(&absolute(module, &path)) else {
                    continue;
                };
                if named.starts_with(module) || module.starts_with(&named) {
                    continue;
                }
                graph
                    .entry(module.join("::"))
                    .or_default()
                    .insert(named.join("::"));
            }
        }
        graph
    }
}

/// A circle through `node`'s descendants, by depth-first search.
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

/// The first circle of `graph`, if any: breaking it shows the next.
fn first_circle(graph: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    let mut done = BTreeSet::new();
    graph
        .keys()
        .find_map(|node| circle(graph, node, &mut Vec::new(), &mut done))
}

#[test]
fn the_modules_import_one_another_without_a_circle() {
    let krate = Crate::read(&Path::new(env!("CARGO_MANIFEST_DIR")).join("src"));
    let graph = krate.imports();
    assert!(
        graph
            .get("graphql::select")
            .is_some_and(|i| i.contains("graphql::order")),
        "the modules' imports were read"
    );
    assert!(
        graph
            .get("collector::cycle")
            .is_some_and(|i| i.contains("vcenter::error")),
        "a re-exported name is followed to its module (`crate::vcenter::VcError`)"
    );
    if let Some(c) = first_circle(&graph) {
        panic!("an import circle: {}", c.join(" -> "));
    }
}

#[test]
fn the_reader_finds_paths_and_circles() {
    let code = without_tests(&lex(concat!(
        "use super::order::{self, key_at};\n",
        "pub use super::paging::{Key as PageKey};\n",
        "fn f() { super::common::bytes(None); let s = \"crate::not::a::path {\"; }\n",
        "// super::hit::Hit\n/* crate::commented::out */\n",
        "fn g() -> &'static str { let c = '{'; r#\"super::raw\"# }\n",
        "#[cfg(test)]\nmod tests { use crate::only::in_tests; }\n",
        "pub(in crate::graphql) fn h() {}\n",
    )));
    let named: Vec<Module> = paths_in(&code)
        .iter()
        .map(|p| absolute(&["graphql".to_string(), "select".to_string()], p))
        .collect();
    let joined: Vec<String> = named.iter().map(|n| n.join("::")).collect();
    for present in [
        "graphql::order",
        "graphql::order::key_at",
        "graphql::paging::Key",
        "graphql::common::bytes",
    ] {
        assert!(joined.iter().any(|n| n == present), "{present}: {joined:?}");
    }
    // Not paths: a string, comments, a raw string, a test module, a visibility.
    for absent in [
        "not::a",
        "hit",
        "commented",
        "graphql::raw",
        "only::in_tests",
    ] {
        assert!(
            !joined.iter().any(|n| n.contains(absent)),
            "{absent}: {joined:?}"
        );
    }
    assert!(!joined.iter().any(|n| n == "graphql"), "{joined:?}");
    assert_eq!(
        uses(&code)
            .into_iter()
            .filter(|u| u.2)
            .map(|u| u.1)
            .collect::<Vec<_>>(),
        vec!["PageKey"]
    );
    assert_eq!(
        expand("crate::a::{b, c::{d, e as f}, self}"),
        vec![
            ("crate::a::b".to_string(), "b".to_string()),
            ("crate::a::c::d".to_string(), "d".to_string()),
            ("crate::a::c::e".to_string(), "f".to_string()),
            ("crate::a".to_string(), "a".to_string()),
        ]
    );

    let graph: BTreeMap<String, BTreeSet<String>> = [
        ("select", "order"),
        ("order", "common"),
        ("common", "select"),
        ("lists", "select"),
    ]
    .into_iter()
    .fold(BTreeMap::new(), |mut g, (a, b)| {
        g.entry(a.to_string()).or_default().insert(b.to_string());
        g
    });
    let c = first_circle(&graph).expect("the circle");
    assert_eq!(c.first(), c.last());
    assert_eq!(c.len(), 4, "{c:?}");
    let mut acyclic = graph.clone();
    acyclic.remove("common");
    assert_eq!(first_circle(&acyclic), None);
}
