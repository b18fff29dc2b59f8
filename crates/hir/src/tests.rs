//! Test helpers: the `check` function every diagnostic test goes through, over the
//! fixtures of [`crate::fixture`].

use std::collections::BTreeMap;

use expect_test::Expect;
use salsa::Setter;
use syntax::LineIndex;

pub(crate) use crate::fixture::{fixture, sync_files};
use crate::{RootDatabase, SourceFile, file_diagnostics as diagnostics};

mod docs;
mod incremental;
mod keys;
mod modules;

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
            crate::Severity::Note => "note",
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

/// `prime` computes blocks and groups on two threads; the results are those of computing
/// them on demand on one.
#[test]
fn priming_on_two_threads_gives_the_same_answers() {
    let mut text = String::from("[parameters]\np = 1\n");
    for i in 0..400 {
        let input =
            if i % 7 == 0 { String::new() } else { format!("x = \"steps.s{}.outputs.o\"", i - 1) };
        text.push_str(&format!(
            "[steps.s{i}]\ncommand = [\"run\", \"${{outputs.o}}\", \"${{params.p}}\"]\noutputs = [\"o\"]\ninputs = {{ {input} }}\n"
        ));
    }
    let answers = |prime: bool| {
        let db = RootDatabase::default();
        let file = SourceFile::new(&db, "pipeline.toml".to_owned(), text.clone(), Vec::new());
        if prime {
            crate::prime(&db, file);
        }
        let diags = diagnostics(&db, file).clone();
        let graph = crate::step_graph(&db, file).clone();
        let keys: Vec<_> = crate::items(&db, file)
            .of_kind(crate::ItemKind::Step)
            .map(|s| crate::step_key_fields(&db, file, s).clone())
            .collect();
        (diags, graph, keys)
    };
    let (primed, lazy) = (answers(true), answers(false));
    assert!(primed.0.len() > 300, "{}", primed.0.len());
    assert_eq!(primed, lazy);
}
