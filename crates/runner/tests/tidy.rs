//! Tidy checks over the whole workspace (rust-analyzer's `tidy.rs` idea): the layering in
//! ARCHITECTURE.md, a `//!` doc on every Rust file, no ignored or should-panic tests.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().unwrap()
}

/// Our crates each may depend on (ARCHITECTURE.md, "dependencies point down").
fn allowed() -> BTreeMap<&'static str, &'static [&'static str]> {
    BTreeMap::from([
        ("base", &[][..]),
        ("syntax", &[][..]),
        ("python", &["base"][..]),
        ("hir", &["base", "syntax", "python"][..]),
        ("plan", &["hir"][..]),
        ("ide", &["syntax", "hir"][..]),
        ("cache", &["base"][..]),
        ("exec", &[][..]),
        ("compute", &["exec"][..]),
        ("history", &[][..]),
        ("stores", &["hir", "cache"][..]),
        ("driver", &["syntax", "python", "hir", "plan", "cache", "history", "stores"][..]),
        (
            "engine",
            &["base", "hir", "plan", "cache", "exec", "compute", "history", "stores", "driver"][..],
        ),
        ("lsp", &["syntax", "hir", "plan", "ide", "driver", "cache", "history"][..]),
        ("server", &["base", "hir", "cache", "exec", "history", "driver", "engine"][..]),
        (
            "runner",
            &[
                "base", "syntax", "hir", "plan", "cache", "exec", "history", "stores", "driver",
                "engine", "ide", "lsp", "server",
            ][..],
        ),
    ])
}

#[test]
fn dependencies_point_down() {
    let ours: Vec<&str> = allowed().keys().copied().collect();
    let crates = workspace().join("crates");
    for entry in std::fs::read_dir(&crates).unwrap() {
        let dir = entry.unwrap().path();
        let name = dir.file_name().unwrap().to_string_lossy().into_owned();
        let manifest: toml::Table =
            std::fs::read_to_string(dir.join("Cargo.toml")).unwrap().parse().unwrap();
        let allowed = allowed();
        let Some(ok) = allowed.get(name.as_str()) else {
            panic!("crate {name} is not in the layering table")
        };
        let deps =
            manifest.get("dependencies").and_then(|d| d.as_table()).cloned().unwrap_or_default();
        for dep in deps.keys() {
            if ours.contains(&dep.as_str()) {
                assert!(
                    ok.contains(&dep.as_str()),
                    "{name} may not depend on {dep} (see ARCHITECTURE.md)"
                );
            }
        }
    }
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        let name = p.file_name().unwrap().to_string_lossy();
        if p.is_dir() && name != "target" && !name.starts_with('.') && name != "node_modules" {
            rust_files(&p, out);
        } else if name.ends_with(".rs") {
            out.push(p);
        }
    }
}

#[test]
fn every_rust_file_has_a_module_doc_and_no_ignored_tests() {
    let mut files = Vec::new();
    rust_files(&workspace().join("crates"), &mut files);
    assert!(files.len() > 30);
    let mut problems = Vec::new();
    for f in files {
        let text = std::fs::read_to_string(&f).unwrap();
        if !text.trim_start().starts_with("//!") {
            problems.push(format!("{}: no `//!` module doc", f.display()));
        }
        let (should, ignore) = ("#[should_", "#[ignore");
        if text.contains(&format!("{should}panic")) || text.contains(&format!("{ignore}]")) {
            problems.push(format!(
                "{}: should_panic/ignore (assert the behaviour instead)",
                f.display()
            ));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
