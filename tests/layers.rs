//! The source tree's layers are a rule, checked here on every test run: a module uses only
//! modules of its own layer or below, no two modules use each other (directly or round a
//! circle), and no command uses another command. See the README's map of the source tree.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// The layers, bottom first.
const LAYERS: [(&str, &[&str]); 7] = [
    (
        "base",
        &[
            "checksum", "date", "error", "files", "net", "text", "timeouts",
        ],
    ),
    ("config", &["config"]),
    ("keys and wire", &["keys", "wire"]),
    ("ssh", &["ssh"]),
    (
        "domain",
        &[
            "node",
            "gateway",
            "render",
            "provision",
            "assess",
            "failover",
            "lab",
            "init",
            "import",
        ],
    ),
    ("cmd", &["cmd"]),
    ("run", &["run"]),
];

/// The modules of the cmd layer every command may use (they are not commands).
const CMD_SHARED: [&str; 4] = ["cli", "context", "output", "mod"];

fn layer_of(module: &str) -> Option<usize> {
    LAYERS.iter().position(|(_, ms)| ms.contains(&module))
}

/// Source without comments (doc links name modules they do not use).
fn code(text: &str) -> String {
    text.lines()
        .map(|l| match l.trim_start().starts_with("//") {
            true => "",
            false => l,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Every `crate::NAME` and `crate::{NAME, ...}` in the text.
fn used(text: &str) -> BTreeSet<(String, Option<String>)> {
    let mut out = BTreeSet::new();
    let mut rest = text;
    while let Some(i) = rest.find("crate::") {
        rest = &rest[i + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let end = group.find('}').unwrap_or(group.len());
            for item in group[..end].split(',') {
                let mut parts = item.trim().split("::");
                if let Some(m) = parts.next().filter(|m| !m.is_empty()) {
                    out.insert((m.to_owned(), parts.next().map(str::to_owned)));
                }
            }
            continue;
        }
        let mut parts = rest.split("::");
        let name = |p: Option<&str>| {
            p.map(|p| {
                p.chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect::<String>()
            })
        };
        if let Some(m) = name(parts.next()).filter(|m| !m.is_empty()) {
            out.insert((m, name(parts.next())));
        }
    }
    out
}

fn sources(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn imports_only_run_downwards_and_commands_stand_alone() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    sources(&src, &mut files);
    let mut problems = Vec::new();
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for file in &files {
        let rel = file
            .strip_prefix(&src)
            .unwrap()
            .to_string_lossy()
            .into_owned();
        if matches!(rel.as_str(), "lib.rs" | "main.rs") {
            continue;
        }
        let module = rel
            .split('/')
            .next()
            .unwrap()
            .trim_end_matches(".rs")
            .to_owned();
        let Some(layer) = layer_of(&module) else {
            problems.push(format!(
                "{rel}: module `{module}` is in no layer (add it to LAYERS and the README)"
            ));
            continue;
        };
        let text = code(&std::fs::read_to_string(file).unwrap());
        for (used, sub) in used(&text) {
            if used == module {
                // Inside cmd/: a command uses the shared modules only.
                if module == "cmd" {
                    let this = rel.trim_start_matches("cmd/").trim_end_matches(".rs");
                    if let Some(sub) = sub.filter(|s| !CMD_SHARED.contains(&s.as_str())) {
                        if sub != this && !CMD_SHARED.contains(&this) {
                            problems.push(format!("{rel}: a command uses command `{sub}`"));
                        }
                    }
                }
                continue;
            }
            match layer_of(&used) {
                Some(l) if l > layer => problems.push(format!(
                    "{rel}: `{module}` ({}) uses `{used}` of a layer above ({})",
                    LAYERS[layer].0, LAYERS[l].0
                )),
                Some(_) => {
                    graph.entry(module.clone()).or_default().insert(used);
                }
                None => {}
            }
        }
    }
    // No circles among modules.
    fn reaches(
        graph: &BTreeMap<String, BTreeSet<String>>,
        from: &str,
        to: &str,
        seen: &mut BTreeSet<String>,
    ) -> bool {
        graph.get(from).is_some_and(|next| {
            next.iter()
                .any(|n| n == to || (seen.insert(n.clone()) && reaches(graph, n, to, seen)))
        })
    }
    for (module, uses) in &graph {
        for used in uses {
            if reaches(&graph, used, module, &mut BTreeSet::new()) {
                problems.push(format!("`{module}` and `{used}` use each other (a circle)"));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
