//! Helper modules in the step key: found the way Python finds them, switched off by
//! `track_imports = false`, keyed by their tokens.

use crate::fixture::sync_files;
use crate::tests::load;
use crate::{SourceFile, StepKeyFields, find_step, step_key_fields};

const PROJECT: &str = r#"
//- /pipeline.toml
[steps.train]
script = "train.py"
source_directory = "src"
[steps.plain]
script = "train.py"
source_directory = "src"
track_imports = false
//- /src/train.py
import os, sys
import helper
from common import features
import ns.deep
from missing import nothing
from . import refused
//- /src/helper.py
'''Imported by the script.'''
from common import features
//- /src/common/__init__.py
//- /src/common/features.py
from . import sibling
from .sub.leaf import f
import train
//- /src/common/sibling.py
//- /src/common/sub/leaf.py
def f(): pass
//- /src/common/unused.py
//- /src/ns/deep.py
//- /src/refused.py
//- /lib/helper.py
"#;

fn fields(db: &crate::RootDatabase, file: SourceFile, step: &str) -> StepKeyFields {
    step_key_fields(db, file, find_step(db, file, step).unwrap()).clone().unwrap()
}

fn modules(f: &StepKeyFields) -> Vec<&str> {
    f.modules.iter().map(|(p, _)| p.as_str()).collect()
}

#[test]
fn a_script_keys_the_local_modules_it_imports_transitively() {
    let (db, file, _) = load(PROJECT);
    assert_eq!(
        modules(&fields(&db, file, "train")),
        [
            "common/__init__.py",
            "common/features.py",
            "common/sibling.py",
            "common/sub/leaf.py",
            "helper.py",
            "ns/deep.py",
        ]
    );
    assert_eq!(modules(&fields(&db, file, "plain")), Vec::<&str>::new());
}

#[test]
fn the_pipeline_default_applies_unless_the_step_says_otherwise() {
    let text = PROJECT
        .replace("[steps.train]", "[pipeline]\ntrack_imports = false\n[steps.train]")
        .replace("track_imports = false\n//-", "track_imports = true\n//-");
    let (db, file, _) = load(&text);
    assert!(fields(&db, file, "train").modules.is_empty());
    assert_eq!(fields(&db, file, "plain").modules.len(), 6);
}

#[test]
fn a_comment_in_a_module_keeps_the_key_and_code_changes_it() {
    let (mut db, file, files) = load(PROJECT);
    let mut files = files.unwrap();
    let before = fields(&db, file, "train");
    let leaf = "src/common/sub/leaf.py";
    files.insert(leaf.to_owned(), "# the leaf\n\ndef f():   pass  # nothing\n".to_owned());
    resync(&mut db, file, &files);
    let after = fields(&db, file, "train");
    assert_eq!(before.modules, after.modules);
    assert_ne!(before.sources, after.sources, "the bytes changed, and the record says so");
    files.insert(leaf.to_owned(), "def f(): return 1\n".to_owned());
    resync(&mut db, file, &files);
    let changed = fields(&db, file, "train");
    let digest =
        |f: &StepKeyFields| f.modules.iter().find(|(p, _)| p.ends_with("leaf.py")).unwrap().1;
    assert_ne!(digest(&before), digest(&changed));
}

#[test]
fn a_new_local_file_that_shadows_an_import_joins_the_key() {
    let (mut db, file, files) = load(PROJECT);
    let mut files = files.unwrap();
    files.insert("src/missing.py".to_owned(), "nothing = 1\n".to_owned());
    resync(&mut db, file, &files);
    assert!(modules(&fields(&db, file, "train")).contains(&"missing.py"));
}

#[test]
fn normalize_script_false_keys_the_bytes() {
    let text = PROJECT.replace("track_imports = false\n", "normalize_script = false\n");
    let (db, file, files) = load(&text);
    let bytes = base::Digest::of_bytes(files.unwrap()["src/train.py"].as_bytes());
    assert_eq!(fields(&db, file, "plain").script.unwrap().1, bytes);
    assert_ne!(fields(&db, file, "train").script.unwrap().1, bytes);
    assert!(fields(&db, file, "plain").sources.iter().all(|(p, _)| p != "train.py"));
}

/// Sets every path again from `files` (states and analyses), as a driver's refresh does.
fn resync(
    db: &mut crate::RootDatabase,
    file: SourceFile,
    files: &std::collections::BTreeMap<String, String>,
) {
    for (path, _) in db.fs_states() {
        db.set_fs_state(&path, crate::fixture::state_of(&path, files));
        if path.ends_with(".py") {
            let analysis = files.get(&path).map(|t| std::sync::Arc::new(python::analyze(t)));
            db.set_python(&path, analysis);
        }
    }
    sync_files(db, file, files);
}
