//! Multi-file test fixtures, shared by the tests of `hir` and of the crates above it (built
//! only for tests: `cfg(test)` here, the `test-fixture` feature for dev-dependents).
//!
//! A fixture is a pipeline's text, or several files each introduced by a `//- /path` line
//! (the pipeline is `/pipeline.toml`). Paths the pipeline names are set on the database as
//! the driver would: a fixture file is a file (digest of its text), a prefix of one is a
//! folder (digest of its listing and contents), anything else is missing. Without `//-`
//! lines no file exists and paths are left unknown, so tests about other things need not
//! list scripts.

use std::collections::BTreeMap;

use crate::{Digest, FsState, RootDatabase, SourceFile, needed_paths};

/// A parsed fixture: the pipeline text and the other files.
pub struct Fixture {
    /// The pipeline's text.
    pub pipeline: String,
    /// The other files by path (relative, `/`-separated); `None` without `//-` lines.
    pub files: Option<BTreeMap<String, String>>,
}

/// Splits a fixture into the pipeline and its files.
pub fn fixture(text: &str) -> Fixture {
    let text = text.strip_prefix('\n').unwrap_or(text);
    if !text.starts_with("//- ") {
        return Fixture { pipeline: text.to_owned(), files: None };
    }
    let mut files = BTreeMap::new();
    let mut current: Option<(String, String)> = None;
    for line in text.split_inclusive('\n') {
        if let Some(path) = line.strip_prefix("//- /") {
            if let Some((p, t)) = current.take() {
                files.insert(p, t);
            }
            current = Some((path.trim().to_owned(), String::new()));
        } else if let Some((_, t)) = &mut current {
            t.push_str(line);
        }
    }
    if let Some((p, t)) = current {
        files.insert(p, t);
    }
    let pipeline = files.remove("pipeline.toml").unwrap_or_default();
    Fixture { pipeline, files: Some(files) }
}

/// Sets every needed path's state from the fixture's files.
pub fn sync_files(db: &mut RootDatabase, file: SourceFile, files: &BTreeMap<String, String>) {
    // As the driver does: what was found may name more paths (a script's imports), so look
    // again until nothing new is named.
    let mut done = std::collections::HashSet::new();
    loop {
        let needs = needed_paths(db, file).clone();
        let mut new = false;
        for need in needs {
            if !done.insert(need.path.clone()) {
                continue;
            }
            new = true;
            let state = state_of(&need.path, files);
            db.set_fs_state(&need.path, state);
            if need.python
                && let Some(text) = files.get(&need.path)
            {
                db.set_python(&need.path, Some(std::sync::Arc::new(python::analyze(text))));
            }
        }
        if !new {
            break;
        }
    }
}

/// What the driver would find at `path` given the fixture's files.
pub fn state_of(path: &str, files: &BTreeMap<String, String>) -> FsState {
    if let Some(text) = files.get(path) {
        return FsState::File(Digest::of_bytes(text.as_bytes()));
    }
    let prefix = if path == "." { String::new() } else { format!("{path}/") };
    let under: Vec<_> = files.iter().filter(|(p, _)| p.starts_with(&prefix)).collect();
    if under.is_empty() {
        return FsState::Missing;
    }
    let listing: String = under
        .iter()
        .map(|(p, t)| format!("{p}\0{}\n", Digest::of_bytes(t.as_bytes()).to_hex()))
        .collect();
    FsState::Dir(Some(Digest::of_bytes(listing.as_bytes())))
}
