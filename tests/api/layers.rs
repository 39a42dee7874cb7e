//! The code depends one way, as docs/ARCHITECTURE.md draws it: read from
//! the `crate::` paths of `src/`, the model imports nothing above it, the
//! store only the model, the domain no axum, and no two modules of `src/`
//! import each other, directly or around a circle.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Top-level modules of `src/` and the floor each stands on.
fn floor(module: &str) -> Option<u8> {
    Some(match module {
        "model" => 0,
        "store" => 1,
        "access" | "audit" | "auth" | "clinic" | "codeset" | "ehr" | "visits" | "billing"
        | "cdss" | "chart" | "media" | "fhir" | "live" | "outbox" | "schedule" | "quality"
        | "smart" => 2,
        // What the edge is handed: config (which builds each domain's
        // settings), the shared state and its metrics.
        "config" | "state" | "metrics" => 3,
        "http" => 4,
        // Start-up code: puts everything together.
        "demo" | "lib" | "main" => 5,
        _ => return None,
    })
}

fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("src/ is readable") {
        let path = entry.expect("a directory entry").path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The top-level module a file belongs to (`src/visits/queue.rs` → `visits`).
fn module_of(src: &Path, file: &Path) -> String {
    let relative = file.strip_prefix(src).expect("a file under src/");
    let first = relative.components().next().expect("a path");
    first
        .as_os_str()
        .to_string_lossy()
        .trim_end_matches(".rs")
        .to_owned()
}

/// The text before a file's unit tests: they may reach anywhere.
fn without_tests(text: &str) -> &str {
    text.find("#[cfg(test)]").map_or(text, |at| &text[..at])
}

/// Every top-level module a file names through `crate::`.
fn imports(text: &str) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    let mut rest = text;
    while let Some(at) = rest.find("crate::") {
        rest = &rest[at + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            // `use crate::{a::X, b}`: each entry's first segment.
            let inner = &group[..group.find('}').unwrap_or(group.len())];
            for entry in inner.split(',') {
                let name: String = entry
                    .trim()
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                if !name.is_empty() {
                    found.insert(name);
                }
            }
        } else {
            let name: String = rest
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            if !name.is_empty() {
                found.insert(name);
            }
        }
    }
    found
}

struct Graph {
    edges: BTreeMap<String, BTreeSet<String>>,
    axum_users: BTreeSet<String>,
}

fn graph() -> Graph {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    sources(&src, &mut files);
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut axum_users = BTreeSet::new();
    for file in files {
        let module = module_of(&src, &file);
        let text = std::fs::read_to_string(&file).expect("a readable source file");
        let text = without_tests(&text);
        if text.contains("axum::") {
            axum_users.insert(module.clone());
        }
        let targets = edges.entry(module.clone()).or_default();
        targets.extend(imports(text).into_iter().filter(|t| *t != module));
    }
    Graph { edges, axum_users }
}

#[test]
fn every_module_of_src_has_a_floor() {
    let graph = graph();
    let unplaced: Vec<&String> = graph.edges.keys().filter(|m| floor(m).is_none()).collect();
    assert!(
        unplaced.is_empty(),
        "place these modules on a floor in tests/api/layers.rs: {unplaced:?}"
    );
}

#[test]
fn each_floor_imports_only_the_floors_below_it() {
    let graph = graph();
    let mut upward = Vec::new();
    for (module, targets) in &graph.edges {
        let Some(own) = floor(module) else { continue };
        for target in targets {
            let Some(theirs) = floor(target) else {
                continue;
            };
            // The domain may use other domain modules, never a floor above.
            if theirs > own || (own < 2 && theirs == own) {
                upward.push(format!("{module} → {target}"));
            }
        }
    }
    assert!(upward.is_empty(), "imports that go up: {upward:?}");
    let store = &graph.edges["store"];
    assert!(
        store.iter().all(|t| t == "model"),
        "the store imports only the model: {store:?}"
    );
}

#[test]
fn the_model_and_the_domain_know_nothing_of_http() {
    let graph = graph();
    let offenders: Vec<&String> = graph
        .axum_users
        .iter()
        .filter(|m| floor(m).is_some_and(|f| f <= 2))
        .collect();
    assert!(offenders.is_empty(), "axum used below http: {offenders:?}");
}

#[test]
fn no_modules_import_each_other_around_a_circle() {
    let graph = graph();
    // Depth-first search for a back edge, reporting the circle it closes.
    fn visit(
        node: &str,
        edges: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
        circles: &mut Vec<String>,
    ) {
        if let Some(at) = path.iter().position(|n| n == node) {
            let mut circle = path[at..].to_vec();
            circle.push(node.to_owned());
            circles.push(circle.join(" → "));
            return;
        }
        if !done.insert(node.to_owned()) {
            return;
        }
        path.push(node.to_owned());
        for next in edges.get(node).into_iter().flatten() {
            visit(next, edges, path, done, circles);
        }
        path.pop();
    }
    let mut circles = Vec::new();
    let mut done = BTreeSet::new();
    for node in graph.edges.keys() {
        visit(node, &graph.edges, &mut Vec::new(), &mut done, &mut circles);
    }
    assert!(circles.is_empty(), "import circles: {circles:?}");
}

#[test]
fn handlers_reach_the_store_only_through_the_domain() {
    let http = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/http");
    let mut files = Vec::new();
    sources(&http, &mut files);
    let mut calls = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file).expect("a readable source file");
        let text = without_tests(&text);
        // A call such as `store::get_visit(`: SQL reached from a handler.
        for (at, _) in text.match_indices("store::") {
            let rest = &text[at + "store::".len()..];
            let name: String = rest
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            if name.chars().next().is_some_and(char::is_lowercase) {
                calls.push(format!("{}: store::{name}", file.display()));
            }
        }
    }
    assert!(calls.is_empty(), "handlers calling the store: {calls:?}");
}
