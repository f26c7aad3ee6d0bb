//! The sim's modules stand in layers with no way back up, and import each other in no circle.
//!
//! Read from the source itself (`use crate::…`, `crate::…` paths in code, `use super::…`
//! between the files of one folder; comments are skipped), so a new upward import or a new
//! circle fails here with the files that make it. The layers, from the ground up:
//! plain data and the tick's frame; designer config; the config in force; the game concepts;
//! the kingdom and what reads the whole world.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Each top-level module of `sim/src` and its floor. A module may import only from its own
/// floor or below (and its own floor only without a circle).
const FLOORS: &[(&str, u8)] = &[
    ("types", 0),
    ("rng", 0),
    ("schedule", 0),
    ("clock", 0),
    ("events", 0),
    ("timing", 0),
    ("config", 1),
    ("active_config", 2),
    ("test_support", 2),
    ("map", 3),
    ("battle", 3),
    ("city", 3),
    ("gather", 3),
    ("monster", 3),
    ("march", 3),
    ("command", 3),
    ("aoi", 3),
    ("player_view", 3),
    ("player_events", 3),
    ("state_hash", 4),
    ("kingdom", 4),
    ("snapshot", 4),
    ("lib", 5),
];

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|e| e == "rs") {
            out.push(p);
        }
    }
}

/// The file's code without comments (line comments and doc comments).
fn code(path: &Path) -> String {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| match l.find("//") {
            Some(i) => &l[..i],
            None => l,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The top-level module a file belongs to (`march` for `march/travel.rs`, `lib` for `lib.rs`).
fn top_module(rel: &Path) -> String {
    let first = rel
        .components()
        .next()
        .unwrap()
        .as_os_str()
        .to_string_lossy();
    first.trim_end_matches(".rs").to_string()
}

/// Names following `prefix` in `code`: `crate::` → `march` of `crate::march::…`.
fn names_after(code: &str, prefix: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut rest = code;
    while let Some(i) = rest.find(prefix) {
        let before = rest[..i].chars().last();
        rest = &rest[i + prefix.len()..];
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
            continue; // e.g. `dominion_sim::crate::` cannot happen, but `my_crate::` can
        }
        // `super::{a, b::C}` or `crate::{x, y}`: every first segment inside the braces.
        if let Some(inner) = rest.strip_prefix('{') {
            let end = matching_brace(inner);
            for part in split_top(&inner[..end]) {
                let name: String = part
                    .trim()
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                if !name.is_empty() {
                    out.insert(name);
                }
            }
            continue;
        }
        let name: String = rest
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect();
        if !name.is_empty() {
            out.insert(name);
        }
    }
    out
}

fn matching_brace(s: &str) -> usize {
    let mut depth = 0;
    for (i, c) in s.char_indices() {
        match c {
            '{' => depth += 1,
            '}' if depth == 0 => return i,
            '}' => depth -= 1,
            _ => {}
        }
    }
    s.len()
}

fn split_top(s: &str) -> Vec<&str> {
    let (mut depth, mut start, mut parts) = (0, 0, Vec::new());
    for (i, c) in s.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&s[start..]);
    parts
}

/// A circle in `graph`, if any, as the nodes along it.
fn find_circle(graph: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        n: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        state: &mut BTreeMap<String, u8>,
        stack: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        state.insert(n.to_string(), 1);
        stack.push(n.to_string());
        for m in graph.get(n).into_iter().flatten() {
            match state.get(m.as_str()) {
                Some(1) => {
                    let at = stack.iter().position(|s| s == m).unwrap();
                    let mut circle = stack[at..].to_vec();
                    circle.push(m.clone());
                    return Some(circle);
                }
                Some(_) => {}
                None => {
                    if let Some(c) = visit(m, graph, state, stack) {
                        return Some(c);
                    }
                }
            }
        }
        stack.pop();
        state.insert(n.to_string(), 2);
        None
    }
    let mut state = BTreeMap::new();
    for n in graph.keys() {
        if !state.contains_key(n.as_str())
            && let Some(c) = visit(n, graph, &mut state, &mut Vec::new())
        {
            return Some(c);
        }
    }
    None
}

#[test]
fn modules_import_only_downward_and_in_no_circle() {
    let floors: BTreeMap<&str, u8> = FLOORS.iter().copied().collect();
    let mut files = Vec::new();
    rust_files(&src(), &mut files);
    let mut modules: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut upward = Vec::new();
    for path in &files {
        let rel = path.strip_prefix(src()).unwrap();
        let me = top_module(rel);
        let my_floor = *floors
            .get(me.as_str())
            .unwrap_or_else(|| panic!("{}: give module `{me}` a floor in FLOORS", rel.display()));
        let deps = modules.entry(me.clone()).or_default();
        for dep in names_after(&code(path), "crate::") {
            if dep == me || !floors.contains_key(dep.as_str()) {
                continue;
            }
            if floors[dep.as_str()] > my_floor {
                upward.push(format!(
                    "{} (floor {my_floor}) imports {dep} (floor {})",
                    rel.display(),
                    floors[dep.as_str()]
                ));
            }
            deps.insert(dep);
        }
    }
    assert!(
        upward.is_empty(),
        "imports that run back up:\n{}",
        upward.join("\n")
    );
    if let Some(circle) = find_circle(&modules) {
        panic!(
            "modules import each other in a circle: {}",
            circle.join(" -> ")
        );
    }
}

#[test]
fn the_files_of_each_folder_import_each_other_in_no_circle() {
    let mut files = Vec::new();
    rust_files(&src(), &mut files);
    let mut folders: BTreeMap<PathBuf, Vec<PathBuf>> = BTreeMap::new();
    for f in &files {
        folders
            .entry(f.parent().unwrap().to_path_buf())
            .or_default()
            .push(f.clone());
    }
    for (folder, files) in folders {
        if folder == src() {
            continue; // top-level files are modules of their own, checked above
        }
        let stem = |p: &Path| p.file_stem().unwrap().to_string_lossy().to_string();
        let siblings: BTreeSet<String> = files.iter().map(|p| stem(p)).collect();
        let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for f in &files {
            let me = stem(f);
            let deps = graph.entry(me.clone()).or_default();
            if me == "mod" {
                continue; // a folder's mod.rs declares and re-exports its files
            }
            for name in names_after(&code(f), "super::") {
                let target = if siblings.contains(&name) {
                    name
                } else {
                    "mod".to_string()
                };
                if target != me {
                    deps.insert(target);
                }
            }
        }
        if let Some(circle) = find_circle(&graph) {
            panic!(
                "files of {} import each other in a circle: {}",
                folder.display(),
                circle.join(" -> ")
            );
        }
    }
}
