//! The library's layers, read from the source: each top-level module uses only the modules listed before it in
//! ARCHITECTURE.md's module table (so the graph has no cycles either). A new `use` that points up a layer fails here
//! with the file and the two modules named.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use crate::common::repo;

/// Top-level module of every `.rs` file under `harness/src` → the top-level modules it names via `crate::`.
fn graph() -> BTreeMap<String, BTreeSet<String>> {
    fn walk(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(&path, out);
            } else if path.extension().is_some_and(|x| x == "rs") {
                out.push(path);
            }
        }
    }
    let src = repo().join("harness/src");
    let mut files = Vec::new();
    walk(&src, &mut files);
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for file in files {
        let rel = file.strip_prefix(&src).unwrap();
        let top = rel.components().next().unwrap().as_os_str().to_string_lossy().trim_end_matches(".rs").to_owned();
        if top == "lib" || top == "main" {
            continue;
        }
        // Comments may name any module; only code counts.
        let text: String = std::fs::read_to_string(&file)
            .unwrap()
            .lines()
            .filter(|l| !l.trim_start().starts_with("//"))
            .collect::<Vec<_>>()
            .join("\n");
        let uses = graph.entry(top.clone()).or_default();
        for (i, _) in text.match_indices("crate::") {
            let name: String = text[i + 7..].chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
            if !name.is_empty() && name != top {
                uses.insert(name);
            }
        }
    }
    graph
}

/// A cycle through `start`, if any (depth-first).
fn cycle_from(graph: &BTreeMap<String, BTreeSet<String>>, start: &str) -> Option<Vec<String>> {
    fn dfs(
        g: &BTreeMap<String, BTreeSet<String>>,
        node: &str,
        start: &str,
        path: &mut Vec<String>,
        seen: &mut BTreeSet<String>,
    ) -> bool {
        for next in g.get(node).into_iter().flatten() {
            if next == start {
                path.push(next.clone());
                return true;
            }
            if seen.insert(next.clone()) {
                path.push(next.clone());
                if dfs(g, next, start, path, seen) {
                    return true;
                }
                path.pop();
            }
        }
        false
    }
    let mut path = vec![start.to_owned()];
    dfs(graph, start, start, &mut path, &mut BTreeSet::new()).then_some(path)
}

#[test]
fn the_module_graph_has_no_cycles() {
    let graph = graph();
    assert!(graph.len() >= 8, "expected the layered modules, found {:?}", graph.keys());
    for module in graph.keys() {
        if let Some(cycle) = cycle_from(&graph, module) {
            panic!("import cycle: {} (see ARCHITECTURE.md for the allowed direction)", cycle.join(" → "));
        }
    }
}

/// The layer order as ARCHITECTURE.md's module table lists it (rows `| \`name\` | … |`).
fn documented_order() -> Vec<String> {
    let doc = std::fs::read_to_string(repo().join("ARCHITECTURE.md")).unwrap();
    let table = doc.split("## Modules").nth(1).expect("ARCHITECTURE.md has a `## Modules` section");
    table
        .lines()
        .take_while(|l| !l.starts_with("## ") && !l.starts_with("Other crates"))
        .filter_map(|l| l.strip_prefix("| `")?.split('`').next().map(str::to_owned))
        .collect()
}

#[test]
fn each_module_uses_only_the_layers_listed_before_it() {
    let order = documented_order();
    assert!(order.len() >= 10, "ARCHITECTURE.md's module table lists {order:?}");
    let graph = graph();
    let mut wrong = Vec::new();
    for (module, uses) in &graph {
        let Some(level) = order.iter().position(|m| m == module) else {
            wrong.push(format!("{module} is not in ARCHITECTURE.md's module table"));
            continue;
        };
        for used in uses {
            // `crate::say!` is the progress module's macro, exported at the crate root.
            let used = if used == "say" { "progress" } else { used.as_str() };
            match order.iter().position(|m| m == used) {
                Some(l) if l < level => {}
                Some(_) => wrong.push(format!("{module} uses {used}, a layer above it")),
                None => wrong.push(format!("{module} uses {used}, which ARCHITECTURE.md's module table does not list")),
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "layer order broken (ARCHITECTURE.md lists {}):\n{}",
        order.join(" < "),
        wrong.join("\n")
    );
}

#[test]
fn the_cycle_finder_finds_a_planted_cycle() {
    let mut g: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    g.entry("a".into()).or_default().insert("b".into());
    g.entry("b".into()).or_default().insert("c".into());
    g.entry("c".into()).or_default().insert("a".into());
    assert_eq!(cycle_from(&g, "a"), Some(vec!["a".into(), "b".into(), "c".into(), "a".into()]));
    g.get_mut("c").unwrap().clear();
    assert_eq!(cycle_from(&g, "a"), None);
}

#[test]
fn product_binaries_are_etbench_and_the_runner_only() {
    let harness = std::fs::read_to_string(repo().join("harness/Cargo.toml")).unwrap();
    assert!(!harness.contains("adbd-standin"), "test tools belong to harness/lab (etbench-lab), not the product crate");
    assert!(!repo().join("harness/src/bin").exists(), "harness/src/bin would add product binaries");
}
