//! Test helpers: fixtures and the `check` function every diagnostic test goes through.
//!
//! A fixture is a pipeline's text, or several files each introduced by a `//- /path` line
//! (the pipeline is `/pipeline.toml`). Paths the pipeline names are set on the database as
//! the driver would: a fixture file is a file (digest of its text), a prefix of one is a
//! folder, anything else is missing. Without `//-` lines no file exists and paths are left
//! unknown, so tests about other things need not list scripts.

use std::collections::BTreeMap;

use expect_test::Expect;
use salsa::Setter;
use syntax::LineIndex;

use crate::{
    Digest, FsState, RootDatabase, SourceFile, file_diagnostics as diagnostics, needed_paths,
};

mod docs;
mod incremental;
mod keys;

/// A parsed fixture: the pipeline text and the other files.
pub(crate) struct Fixture {
    pub(crate) pipeline: String,
    pub(crate) files: Option<BTreeMap<String, String>>,
}

pub(crate) fn fixture(text: &str) -> Fixture {
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
pub(crate) fn sync_files(
    db: &mut RootDatabase,
    file: SourceFile,
    files: &BTreeMap<String, String>,
) {
    let needs = needed_paths(db, file).clone();
    for need in needs {
        let state = state_of(&need.path, files);
        db.set_fs_state(&need.path, state);
    }
}

pub(crate) fn state_of(path: &str, files: &BTreeMap<String, String>) -> FsState {
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

/// A database holding the fixture, with files synced.
pub(crate) fn load(text: &str) -> (RootDatabase, SourceFile, Option<BTreeMap<String, String>>) {
    let fx = fixture(text);
    let mut db = RootDatabase::default();
    let file = SourceFile::new(&db, "pipeline.toml".to_owned(), fx.pipeline, Vec::new());
    if let Some(files) = &fx.files {
        sync_files(&mut db, file, files);
    }
    (db, file, fx.files)
}

/// Renders diagnostics as `severity[code] line:col-line:col: message` plus help and
/// related lines, positions 1-based.
pub(crate) fn render(text: &str, diags: &[crate::Diagnostic]) -> String {
    let index = LineIndex::new(text);
    let pos = |offset: u32| {
        let mut at = (offset as usize).min(text.len());
        while !text.is_char_boundary(at) {
            at -= 1;
        }
        let lc = index.line_col((at as u32).into());
        format!("{}:{}", lc.line + 1, lc.col + 1)
    };
    let mut out = String::new();
    for d in diags {
        let sev = match d.severity() {
            crate::Severity::Error => "error",
            crate::Severity::Warning => "warning",
        };
        out.push_str(&format!(
            "{sev}[{}] {}-{}: {}\n",
            d.code.as_str(),
            pos(d.span.start),
            pos(d.span.end),
            d.message
        ));
        if let Some(h) = &d.help {
            out.push_str(&format!("  help: {h}\n"));
        }
        for r in &d.related {
            out.push_str(&format!(
                "  related {}-{}: {}\n",
                pos(r.span.start),
                pos(r.span.end),
                r.message
            ));
        }
    }
    out
}

/// Checks the fixture and compares its diagnostics with `expect`.
#[track_caller]
pub(crate) fn check(text: &str, expect: Expect) {
    let (db, file, _) = load(text);
    let diags = diagnostics(&db, file);
    expect.assert_eq(&render(file.text(&db), diags));
}

/// Replaces the pipeline text (as an editor would).
pub(crate) fn edit(db: &mut RootDatabase, file: SourceFile, text: &str) {
    file.set_text(db).to(text.to_owned());
}

#[test]
fn clean_pipeline_has_no_diagnostics() {
    check(
        r#"
//- /pipeline.toml
[pipeline]
name = "digits"

[parameters]
seed = 42
n_estimators = { default = 200, description = "trees in the forest" }

[environments.sklearn]
requirements = "requirements.txt"

[data.digits]
datastore = "workspace"
path = "raw/digits.csv"

[compute.local]
kind = "local"
max_nodes = 2

[steps.prepare]
script = "prepare.py"
source_directory = "src"
environment = "sklearn"
arguments = ["--raw", "${inputs.raw}", "--out", "${outputs.split}", "--seed", "${params.seed}"]
inputs = { raw = "data.digits" }
outputs = ["split"]

[steps.train_forest]
script = "train_forest.py"
source_directory = "src"
environment = "sklearn"
arguments = ["--data", "${inputs.data}", "--model", "${outputs.model}", "--n", "${params.n_estimators}"]
inputs = { data = "steps.prepare.outputs.split" }
outputs = ["model"]
hash_paths = ["common/"]
compute = "local"
allow_reuse = true
//- /requirements.txt
scikit-learn
//- /raw/digits.csv
1,2
//- /src/prepare.py
//- /src/train_forest.py
//- /src/common/util.py
"#,
        expect_test::expect![[""]],
    );
}

#[test]
fn every_code_has_a_distinct_number_and_name() {
    let mut seen = std::collections::BTreeSet::new();
    for c in crate::Code::ALL {
        assert!(seen.insert(c.as_str()), "{c:?}");
        assert!(seen.insert(c.name()), "{c:?}");
    }
}
