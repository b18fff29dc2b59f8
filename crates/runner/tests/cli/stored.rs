//! Outputs also written to a datastore (`outputs = [{ name, datastore }]`), here a local
//! one: the folder holds each content under its digest, `runner show` says where, a no-op
//! build writes nothing, and another pipeline can read what was written as data. (The same
//! against Azure Blob and S3: `tests/stores/`.)

use crate::support::Project;

const PIPELINE: &str = r#"
[parameters]
v = "one"

[datastores.shelf]
kind = "local"
path = "shelf"

[steps.train]
command = ["sh", "-c", "echo \"$2\" > \"$0/m.txt\"; echo log > \"$1/l.txt\"", "${outputs.model}", "${outputs.log}", "${params.v}"]
outputs = [{ name = "model", datastore = "shelf" }, "log"]
"#;

#[test]
fn outputs_named_with_a_datastore_are_written_there() {
    let p = Project::with(&[("pipeline.toml", PIPELINE)]);
    let first = p.build(&[]);
    first.assert_code(0);
    let show = p.run(&["show", &first.run_id().to_string(), "train"]);
    show.assert_code(0);
    let line = show
        .stdout
        .lines()
        .find(|l| l.contains("output model is also in datastore shelf: "))
        .unwrap_or_else(|| panic!("{}", show.transcript()));
    let folder = std::path::PathBuf::from(line.rsplit(": ").next().unwrap());
    assert!(folder.starts_with(p.root().join("shelf/runner-outputs")), "{line}");
    assert_eq!(std::fs::read_to_string(folder.join("m.txt")).unwrap(), "one\n");
    assert!(!show.stdout.contains("output log is also"), "{}", show.stdout);

    // A no-op writes nothing; a new content goes beside the old one, which stays.
    let before = Project::files_under(&p.root().join("shelf"));
    p.build(&[]).assert_code(0);
    assert_eq!(Project::files_under(&p.root().join("shelf")), before);
    p.build(&["--param", "v=two"]).assert_code(0);
    let after = Project::files_under(&p.root().join("shelf"));
    assert_eq!(after.len(), 2, "{after:?}");
    assert_eq!(std::fs::read_to_string(folder.join("m.txt")).unwrap(), "one\n");

    // What was written is data for another pipeline.
    let rel = folder.strip_prefix(p.root().join("shelf")).unwrap().display().to_string();
    let reader = format!(
        "[datastores.shelf]\nkind = \"local\"\npath = \"../shelf\"\n\n[data.model]\ndatastore = \"shelf\"\npath = \"{rel}/m.txt\"\n\n\
         [steps.use]\ncommand = [\"cp\", \"${{inputs.m}}\", \"${{outputs.o}}/copy.txt\"]\ninputs = {{ m = \"data.model\" }}\noutputs = [\"o\"]\n"
    );
    p.write("reader/pipeline.toml", &reader);
    let read = crate::support::Project::at(&p.root().join("reader")).build(&[]);
    read.assert_code(0);
    assert_eq!(p.read("reader/.runner/outputs/use.o/copy.txt"), "one\n");
}

#[test]
fn an_output_table_is_checked() {
    let p = Project::with(&[(
        "pipeline.toml",
        r#"
[steps.a]
command = ["sh", "-c", "true", "${outputs.x}", "${outputs.y}"]
outputs = [{ name = "x", datastore = "nowhere" }, { name = "y", store = "shelf" }]
"#,
    )]);
    let check = p.run(&["check"]);
    check.assert_code(1);
    assert!(check.stderr.contains("no datastore named `nowhere`"), "{}", check.transcript());
    assert!(check.stderr.contains("unknown key `store`"), "{}", check.transcript());
    assert!(check.stderr.contains("needs `datastore`"), "{}", check.transcript());
}

/// A shared cache in a local datastore (a folder every machine mounts): a second project
/// with an empty `.runner/` reuses every step, and says where the results came from.
#[test]
fn a_shared_cache_in_a_local_folder() {
    let shared = tempfile::tempdir().unwrap();
    let text = format!(
        "[datastores.team]\nkind = \"local\"\npath = \"{}\"\n\n[cache]\nremote = \"team\"\n\n\
         [steps.one]\ncommand = [\"sh\", \"-c\", \"echo made > \\\"$0/a.txt\\\"\", \"${{outputs.o}}\"]\noutputs = [\"o\"]\n",
        shared.path().display()
    );
    let a = Project::with(&[("pipeline.toml", &text)]);
    a.build(&[]).assert_code(0).assert_steps(&[("one", "ran")]);
    assert!(shared.path().join("runner-cache/v1/ac").is_dir());
    let b = Project::with(&[("pipeline.toml", &text)]);
    let reused = b.build(&[]);
    reused.assert_code(0).assert_steps(&[("one", "reused")]);
    reused.assert_reason("one", "from the shared cache: run 1 of");
    assert_eq!(b.output("one", "o", "a.txt"), "made\n");
}
