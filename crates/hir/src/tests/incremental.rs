//! Incrementality: which queries re-execute after an edit (salsa's `WillExecute` events).

use expect_test::expect;

use crate::tests::{edit, fixture, sync_files};
use crate::{RootDatabase, SourceFile, file_diagnostics, find_step, step_key_fields};

const PIPELINE: &str = r#"
//- /pipeline.toml
[parameters]
lr = 0.1

[steps.a]
script = "a.py"
arguments = ["${outputs.o}", "${params.lr}"]
outputs = ["o"]

[steps.b]
script = "b.py"
arguments = ["${inputs.x}", "${outputs.o}"]
inputs = { x = "steps.a.outputs.o" }
outputs = ["o"]

[steps.c]
script = "c.py"
arguments = ["${inputs.x}", "${outputs.o}"]
inputs = { x = "steps.b.outputs.o" }
outputs = ["o"]
//- /a.py
//- /b.py
//- /c.py
"#;

/// Runs every query a driver runs: diagnostics and all keys.
fn check_all(db: &RootDatabase, file: SourceFile) -> Vec<String> {
    let _ = file_diagnostics(db, file);
    ["a", "b", "c"]
        .iter()
        .map(|s| {
            format!(
                "{s}: {:?}",
                step_key_fields(db, file, find_step(db, file, s).unwrap())
                    .as_ref()
                    .map(|k| &k.arguments)
            )
        })
        .collect()
}

/// The executed queries of the log, keeping only those about one item or the file.
fn executed(db: &RootDatabase) -> Vec<String> {
    let mut names: Vec<String> = db
        .take_log()
        .into_iter()
        .filter(|l| {
            l.starts_with("lower_item")
                || l.starts_with("resolve_step")
                || l.starts_with("step_key_fields")
        })
        .collect();
    names.sort();
    names
}

#[test]
fn editing_one_step_re_runs_only_that_step() {
    let fx = fixture(PIPELINE);
    let mut db = RootDatabase::with_execution_log();
    let file = SourceFile::new(&db, "pipeline.toml".into(), fx.pipeline.clone(), Vec::new());
    sync_files(&mut db, file, fx.files.as_ref().unwrap());
    let before = check_all(&db, file);
    db.take_log();

    // Change an argument of step b (and shift nothing above a or b).
    let text = fx.pipeline.replace(
        r#"arguments = ["${inputs.x}", "${outputs.o}"]
inputs = { x = "steps.a.outputs.o" }"#,
        r#"arguments = ["${inputs.x}", "${outputs.o}", "--fast"]
inputs = { x = "steps.a.outputs.o" }"#,
    );
    edit(&mut db, file, &text);
    let after = check_all(&db, file);
    // Step b (item id 2) re-lowers, re-resolves and re-keys; a and c do neither, even
    // though c's position in the file moved.
    expect![[r#"
        [
            "lower_item(Id(102))",
            "resolve_step(Id(102))",
            "step_key_fields(Id(102))",
        ]
    "#]]
    .assert_debug_eq(&executed(&db));
    assert_eq!(before[0], after[0]);
    assert_eq!(before[2], after[2]);
    assert_ne!(before[1], after[1]);
}

#[test]
fn changing_a_parameter_re_keys_only_its_users() {
    let fx = fixture(PIPELINE);
    let mut db = RootDatabase::with_execution_log();
    let file = SourceFile::new(&db, "pipeline.toml".into(), fx.pipeline.clone(), Vec::new());
    sync_files(&mut db, file, fx.files.as_ref().unwrap());
    check_all(&db, file);
    db.take_log();
    edit(&mut db, file, &fx.pipeline.replace("lr = 0.1", "lr = 0.2"));
    let after = check_all(&db, file);
    assert!(after[0].contains("0.2"), "{after:?}");
    let log = executed(&db);
    // The parameter item re-lowers; only step a's key (the one user) re-executes.
    assert_eq!(log.iter().filter(|l| l.starts_with("step_key_fields")).count(), 1, "{log:?}");
    assert!(!log.iter().any(|l| l.starts_with("resolve_step")), "{log:?}");
}

#[test]
fn a_script_digest_change_re_keys_only_that_step() {
    let fx = fixture(PIPELINE);
    let mut db = RootDatabase::with_execution_log();
    let file = SourceFile::new(&db, "pipeline.toml".into(), fx.pipeline.clone(), Vec::new());
    let mut files = fx.files.clone().unwrap();
    sync_files(&mut db, file, &files);
    check_all(&db, file);
    db.take_log();
    files.insert("c.py".into(), "print('changed')\n".into());
    sync_files(&mut db, file, &files);
    check_all(&db, file);
    let log = executed(&db);
    assert_eq!(log.iter().filter(|l| l.starts_with("step_key_fields")).count(), 1, "{log:?}");
    assert!(!log.iter().any(|l| l.starts_with("lower_item")), "{log:?}");
}

/// In a pipeline of many steps, editing one step's argument re-executes that step's
/// lowering, its block's parse and its group's summaries, and nothing whole-file beyond
/// re-splitting the text: the summaries come out equal, so `index`, `step_graph` and the
/// diagnostics are reused, and no other step's lowering or key re-executes.
#[test]
fn editing_one_of_many_steps_re_runs_one_group() {
    let mut text = String::new();
    for i in 0..300 {
        text.push_str(&format!(
            "[steps.s{i}]\ncommand = [\"echo\", \"${{outputs.o}}\", \"t{i}\"]\noutputs = [\"o\"]\n\n"
        ));
    }
    let mut db = RootDatabase::with_execution_log();
    let file = SourceFile::new(&db, "pipeline.toml".into(), text.clone(), Vec::new());
    let keys = |db: &RootDatabase| {
        let _ = file_diagnostics(db, file);
        crate::items(db, file)
            .of_kind(crate::ItemKind::Step)
            .map(|s| step_key_fields(db, file, s).clone())
            .collect::<Vec<_>>()
    };
    let before = keys(&db);
    db.take_log();
    edit(&mut db, file, &text.replace("\"t150\"]", "\"changed\"]"));
    let after = keys(&db);
    let mut counts = std::collections::BTreeMap::new();
    for entry in db.take_log() {
        *counts.entry(entry.split('(').next().unwrap_or_default().to_owned()).or_insert(0) += 1;
    }
    expect![[r#"
        {
            "blocks": 1,
            "group_checked": 1,
            "group_names": 1,
            "items": 1,
            "lower_item": 1,
            "parse_block": 1,
            "resolve_step": 1,
            "step_key_fields": 1,
        }
    "#]]
    .assert_debug_eq(&counts);
    let changed: Vec<usize> = (0..before.len()).filter(|&i| before[i] != after[i]).collect();
    assert_eq!(changed, [150]);
}

/// With unresolved references, the names index (built for their suggestions) is built once
/// and reused: editing a step that has one re-runs that step's group, which finds the index
/// current; only a change to the set of names rebuilds it (once, for every group).
#[test]
fn the_names_index_is_reused_until_the_names_change() {
    let step = |i: usize, arg: &str| {
        // Every tenth step reads a step that does not exist.
        let read = match i % 10 {
            0 => format!("\ninputs = {{ x = \"steps.missing{i}.outputs.o\" }}"),
            _ => String::new(),
        };
        format!(
            "[steps.s{i}]\ncommand = [\"echo\", \"${{outputs.o}}\", \"{arg}\"]\noutputs = [\"o\"]{read}\n\n"
        )
    };
    let text: String = (0..300).map(|i| step(i, &format!("t{i}"))).collect();
    let mut db = RootDatabase::with_execution_log();
    let file = SourceFile::new(&db, "pipeline.toml".into(), text.clone(), Vec::new());
    // How many times each of these queries executed since the last call.
    let counts = |db: &RootDatabase| {
        let log = db.take_log();
        let count = |name: &str| log.iter().filter(|l| l.split('(').next() == Some(name)).count();
        (count("names"), count("group_checked"))
    };
    let unresolved = |db: &RootDatabase| {
        let diags = file_diagnostics(db, file);
        diags.iter().filter(|d| d.code == crate::Code::UnresolvedReference).count()
    };
    assert_eq!(unresolved(&db), 30);
    let (names, groups) = counts(&db);
    assert_eq!(names, 1);
    assert!(groups > 1, "{groups}");

    // Step 150 reads a missing step: its group re-resolves it, against the same index.
    edit(&mut db, file, &text.replace("\"t150\"]", "\"changed\"]"));
    assert_eq!(unresolved(&db), 30);
    assert_eq!(counts(&db), (0, 1));

    // A new step: the names changed, the index is built again, once.
    let more = format!("{text}{}", step(300, "t300"));
    edit(&mut db, file, &more);
    assert_eq!(unresolved(&db), 31);
    assert_eq!(counts(&db).0, 1);
}
