//! The reuse-correctness table: what reruns after each kind of change, and what does not.

use crate::support::Project;
use crate::{ALL_REUSED, built_chain, chain};

/// Table row 1: First build runs everything; an unchanged second build reuses everything.
#[test]
fn first_build_runs_all_second_reuses_all() {
    let p = chain();
    let first = p.build(&[]);
    first.assert_code(0).assert_steps(&[
        ("prepare", "ran"),
        ("train", "ran"),
        ("report", "ran"),
        ("lint", "ran"),
    ]);
    assert_eq!(first.status(), "succeeded");
    for step in ["prepare", "train", "report", "lint"] {
        first.assert_reason(step, "no previous run");
    }
    assert_eq!(p.output("report", "report", "report.txt"), "1,2,3\nn=1\nreported\n");

    let second = p.build(&[]);
    second.assert_code(0).assert_steps(ALL_REUSED);
    assert_eq!(second.status(), "succeeded");
    assert!(second.run_id() > first.run_id());
    for (name, s) in second.steps() {
        assert_eq!(s.reused_from, Some(first.run_id()), "{name} reused from the first run");
    }
}

/// Table row 2: Editing a script reruns that step and everything downstream; an independent step
/// is reused.
#[test]
fn edited_script_reruns_step_and_downstream() {
    let p = built_chain();
    p.write("prepare.sh", "set -e\n{ cat \"$1\"; echo extra; } > \"$2/split.txt\"\n");
    let b = p.build(&[]);
    b.assert_code(0).assert_steps(&[
        ("prepare", "ran"),
        ("train", "ran"),
        ("report", "ran"),
        ("lint", "reused"),
    ]);
    b.assert_reason("prepare", "script")
        .assert_reason("prepare", "prepare.sh")
        .assert_reason("train", "upstream prepare")
        .assert_reason("report", "upstream train");
    assert_eq!(p.output("report", "report", "report.txt"), "1,2,3\nextra\nn=1\nreported\n");
}

/// Table row 3: Editing a `hash_paths` file reruns the step that lists it; its output is unchanged,
/// so its downstream step is reused.
#[test]
fn edited_hash_path_reruns_step() {
    let p = built_chain();
    p.write("helper.txt", "helper v2\n");
    let b = p.build(&[]);
    b.assert_code(0).assert_steps(&[
        ("prepare", "reused"),
        ("train", "ran"),
        ("report", "reused"),
        ("lint", "reused"),
    ]);
    b.assert_reason("train", "hash_paths").assert_reason("train", "helper.txt");
}

/// A folder in `hash_paths`: a file added inside it reruns the step.
#[test]
fn hash_path_folder_content_reruns_step() {
    let p = Project::with(&[
        (
            "pipeline.toml",
            r#"
[steps.fit]
script = "fit.sh"
arguments = ["${outputs.out}"]
outputs = ["out"]
hash_paths = ["common/"]
"#,
        ),
        ("fit.sh", "echo fit > \"$1/fit.txt\"\n"),
        ("common/util.sh", "# v1\n"),
    ]);
    p.build(&[]).assert_code(0).assert_steps(&[("fit", "ran")]);
    p.build(&[]).assert_code(0).assert_steps(&[("fit", "reused")]);
    p.write("common/more.sh", "# new file\n");
    let b = p.build(&[]);
    b.assert_code(0).assert_steps(&[("fit", "ran")]);
    b.assert_reason("fit", "hash_paths").assert_reason("fit", "common");
}

/// Table row 4: A file that no step's key names (even inside the snapshot folder) changes nothing.
#[test]
fn unrelated_file_changes_nothing() {
    let p = built_chain();
    p.write("notes.txt", "some notes\n");
    p.write("docs/more.md", "# more\n");
    p.build(&[]).assert_code(0).assert_steps(ALL_REUSED);
    p.write("notes.txt", "edited notes\n");
    p.build(&[]).assert_code(0).assert_steps(ALL_REUSED);
}

/// Table row 5: Touching files (same bytes, new mtime) changes nothing: keys are content, not stat.
#[test]
fn touched_files_change_nothing() {
    let p = built_chain();
    for f in ["pipeline.toml", "raw.txt", "helper.txt", "prepare.sh", "train.sh", "report.sh"] {
        p.touch(f);
    }
    p.build(&[]).assert_code(0).assert_steps(ALL_REUSED);
}

/// Table row 6: A parameter override reruns the step using it and its downstream, with the
/// parameter's old and new value as the reason.
#[test]
fn changed_param_reruns_its_step_and_downstream() {
    let p = built_chain();
    let b = p.build(&["--param", "n=2"]);
    b.assert_code(0).assert_steps(&[
        ("prepare", "reused"),
        ("train", "ran"),
        ("report", "ran"),
        ("lint", "reused"),
    ]);
    b.assert_reason("train", "params.n 1 → 2").assert_reason("report", "upstream train");
    assert_eq!(p.output("train", "model", "model.txt"), "1,2,3\nn=2\n");

    // Same override again: reused. Back to the default: the n=1 result is still cached.
    p.build(&["--param", "n=2"]).assert_code(0).assert_steps(ALL_REUSED);
    p.build(&[]).assert_code(0).assert_steps(ALL_REUSED);
    assert_eq!(p.output("train", "model", "model.txt"), "1,2,3\nn=1\n");
}

/// Table row 7: New content in a data reference reruns the step consuming it (and its downstream).
#[test]
fn changed_data_reference_reruns_consumer() {
    let p = built_chain();
    p.write("raw.txt", "4,5,6\n");
    let b = p.build(&[]);
    b.assert_code(0).assert_steps(&[
        ("prepare", "ran"),
        ("train", "ran"),
        ("report", "ran"),
        ("lint", "reused"),
    ]);
    b.assert_reason("prepare", "data.raw changed (input raw)");
    assert_eq!(p.output("report", "report", "report.txt"), "4,5,6\nn=1\nreported\n");
}

/// Table row 8: Early cutoff: an upstream step that reruns but reproduces its output byte for byte
/// leaves its downstream steps reused.
#[test]
fn early_cutoff_when_upstream_output_is_identical() {
    let p = built_chain();
    p.write(
        "prepare.sh",
        &format!("# a comment changes the script, not its output\n{}", crate::PREPARE_SH),
    );
    let b = p.build(&[]);
    b.assert_code(0).assert_steps(&[
        ("prepare", "ran"),
        ("train", "reused"),
        ("report", "reused"),
        ("lint", "reused"),
    ]);
    b.assert_reason("prepare", "script");
}

/// Table row 9: `allow_reuse = false` runs the step on every build; with identical output its
/// downstream is still reused.
#[test]
fn allow_reuse_false_runs_every_build() {
    let p = Project::with(&[
        (
            "pipeline.toml",
            r#"
[steps.always]
script = "always.sh"
arguments = ["${outputs.out}"]
outputs = ["out"]
allow_reuse = false

[steps.after]
command = ["sh", "-c", "cp \"$0/a.txt\" \"$1/b.txt\"", "${inputs.a}", "${outputs.out}"]
inputs = { a = "steps.always.outputs.out" }
outputs = ["out"]

[steps.other]
command = ["sh", "-c", "echo other > \"$0/o.txt\"", "${outputs.out}"]
outputs = ["out"]
"#,
        ),
        ("always.sh", "echo always > \"$1/a.txt\"\n"),
    ]);
    p.build(&[]).assert_code(0).assert_steps(&[
        ("always", "ran"),
        ("after", "ran"),
        ("other", "ran"),
    ]);
    for _ in 0..2 {
        let b = p.build(&[]);
        b.assert_code(0).assert_steps(&[
            ("always", "ran"),
            ("after", "reused"),
            ("other", "reused"),
        ]);
        b.assert_reason("always", "allow_reuse = false");
    }
}

/// Table row 10: `--regenerate` runs every step, then a plain build reuses them all again.
#[test]
fn regenerate_runs_everything() {
    let p = built_chain();
    let b = p.build(&["--regenerate"]);
    b.assert_code(0).assert_steps(&[
        ("prepare", "ran"),
        ("train", "ran"),
        ("report", "ran"),
        ("lint", "ran"),
    ]);
    for step in ["prepare", "train", "report", "lint"] {
        b.assert_reason(step, "--regenerate");
    }
    p.build(&[]).assert_code(0).assert_steps(ALL_REUSED);
}

/// Table row 11: A cached output blob deleted from the CAS: the step that recorded it is a miss and
/// reruns, saying why; it reproduces the same bytes, so its downstream is reused.
#[test]
fn deleted_cas_blob_reruns_its_step() {
    let p = built_chain();
    let model = p.output("train", "model", "model.txt");
    let cas = p.state().join("cache").join("cas");
    let blobs: Vec<_> = Project::files_under(&cas)
        .into_iter()
        .filter(|f| std::fs::read_to_string(f).is_ok_and(|t| t == model))
        .collect();
    assert_eq!(blobs.len(), 1, "exactly one blob holds train's model.txt: {blobs:?}");
    let blob = &blobs[0];
    let mut perm = std::fs::metadata(blob).unwrap().permissions();
    #[allow(clippy::permissions_set_readonly_false)]
    perm.set_readonly(false);
    std::fs::set_permissions(blob, perm).unwrap();
    std::fs::remove_file(blob).unwrap();

    let b = p.build(&[]);
    b.assert_code(0).assert_steps(&[
        ("prepare", "reused"),
        ("train", "ran"),
        ("report", "reused"),
        ("lint", "reused"),
    ]);
    b.assert_reason("train", "cached output model is unusable").assert_reason("train", "missing");
    assert!(blob.exists(), "the rerun stored the blob again");
    p.build(&[]).assert_code(0).assert_steps(ALL_REUSED);
}

/// A cached blob whose bytes were changed in place is not trusted either.
#[test]
fn corrupted_cas_blob_reruns_its_step() {
    let p = built_chain();
    let log = p.output("lint", "log", "lint.txt");
    let cas = p.state().join("cache").join("cas");
    let blob = Project::files_under(&cas)
        .into_iter()
        .find(|f| std::fs::read_to_string(f).is_ok_and(|t| t == log))
        .expect("lint's blob");
    let mut perm = std::fs::metadata(&blob).unwrap().permissions();
    #[allow(clippy::permissions_set_readonly_false)]
    perm.set_readonly(false);
    std::fs::set_permissions(&blob, perm).unwrap();
    std::fs::write(&blob, "lint: DIRTY\n").unwrap();

    let b = p.build(&[]);
    b.assert_code(0).assert_steps(&[
        ("prepare", "reused"),
        ("train", "reused"),
        ("report", "reused"),
        ("lint", "ran"),
    ]);
    b.assert_reason("lint", "cached output log is unusable");
    assert_eq!(p.output("lint", "log", "lint.txt"), "lint: clean\n");
}

/// `runner status` tells the same story as a build, without running anything.
#[test]
fn status_explains_what_would_run() {
    let p = built_chain();
    p.write("prepare.sh", "set -e\n{ cat \"$1\"; echo extra; } > \"$2/split.txt\"\n");
    let root = p.root().display().to_string();
    let run = p.run(&["status", &root, "--format", "json"]);
    run.assert_code(0);
    let doc: serde_json::Value = serde_json::from_str(run.stdout.trim()).unwrap();
    let rows: std::collections::BTreeMap<String, (String, String)> = doc["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["step"].as_str().unwrap().to_owned(),
                (
                    s["action"].as_str().unwrap().to_owned(),
                    s["detail"].as_str().unwrap().to_owned(),
                ),
            )
        })
        .collect();
    assert_eq!(rows["prepare"].0, "will run", "{rows:?}");
    assert!(rows["prepare"].1.contains("script prepare.sh changed"), "{rows:?}");
    assert_eq!(rows["train"].0, "will run", "{rows:?}");
    assert_eq!(rows["lint"].0, "reuse", "{rows:?}");
    // Nothing ran: a build still finds prepare dirty.
    p.build(&[]).assert_code(0).assert_steps(&[
        ("prepare", "ran"),
        ("train", "ran"),
        ("report", "ran"),
        ("lint", "reused"),
    ]);
}

/// Edits to pipeline.toml that no key holds (descriptions, comments, layout, the compute
/// target's size) change nothing.
#[test]
fn pipeline_edits_outside_keys_change_nothing() {
    let p = built_chain();
    let edited = crate::CHAIN_TOML
        .replace("[pipeline]\n", "# a comment\n[pipeline]\ndescription = \"now described\"\n")
        .replace(
            "[steps.lint]\n",
            concat!(
                "[compute.local]\nmax_nodes = 1\n\n",
                "[steps.lint]\ndescription = \"checks\"\ncompute = \"local\"\n",
            ),
        );
    p.write("pipeline.toml", &edited);
    p.build(&[]).assert_code(0).assert_steps(ALL_REUSED);
    // Steps declared in another order: same graph, same keys.
    let (head, steps) =
        crate::CHAIN_TOML.split_at(crate::CHAIN_TOML.find("[steps.prepare]").unwrap());
    let lint_at = steps.find("[steps.lint]").unwrap();
    p.write("pipeline.toml", &format!("{head}{}\n{}", &steps[lint_at..], &steps[..lint_at]));
    p.build(&[]).assert_code(0).assert_steps(ALL_REUSED);
}

/// An override equal to the default is no change.
#[test]
fn param_override_equal_to_default_changes_nothing() {
    let p = built_chain();
    p.build(&["--param", "n=1"]).assert_code(0).assert_steps(ALL_REUSED);
}

/// A step's `env` is part of its key.
#[test]
fn changed_env_var_reruns_step() {
    let toml = |v: &str| {
        format!(
            r#"
[steps.e]
command = ["sh", "-c", "echo \"$GREETING\" > \"$0/e.txt\"", "${{outputs.out}}"]
outputs = ["out"]
env = {{ GREETING = "{v}" }}

[steps.other]
command = ["sh", "-c", "echo other > \"$0/o.txt\"", "${{outputs.out}}"]
outputs = ["out"]
"#
        )
    };
    let p = Project::with(&[("pipeline.toml", &toml("hi"))]);
    p.build(&[]).assert_code(0).assert_steps(&[("e", "ran"), ("other", "ran")]);
    p.write("pipeline.toml", &toml("hello"));
    let b = p.build(&[]);
    b.assert_code(0).assert_steps(&[("e", "ran"), ("other", "reused")]);
    b.assert_reason("e", "env GREETING changed");
    assert_eq!(p.output("e", "out", "e.txt"), "hello\n");
}

/// A `command` edit reruns the step.
#[test]
fn changed_command_reruns_step() {
    let toml = |word: &str| {
        format!(
            r#"
[steps.c]
command = ["sh", "-c", "echo {word} > \"$0/c.txt\"", "${{outputs.out}}"]
outputs = ["out"]
"#
        )
    };
    let p = Project::with(&[("pipeline.toml", &toml("one"))]);
    p.build(&[]).assert_code(0).assert_steps(&[("c", "ran")]);
    p.write("pipeline.toml", &toml("two"));
    let b = p.build(&[]);
    b.assert_code(0).assert_steps(&[("c", "ran")]);
    b.assert_reason("c", "command changed");
}

/// A script renamed with the same content: the key changes (the path is in it), and the
/// reason names both paths.
#[test]
fn renamed_script_reruns_step() {
    let p = built_chain();
    std::fs::rename(p.path("lint.sh"), p.path("lint2.sh")).unwrap();
    p.write("pipeline.toml", &crate::CHAIN_TOML.replace("\"lint.sh\"", "\"lint2.sh\""));
    let b = p.build(&[]);
    b.assert_code(0).assert_steps(&[
        ("prepare", "reused"),
        ("train", "reused"),
        ("report", "reused"),
        ("lint", "ran"),
    ]);
    b.assert_reason("lint", "lint.sh").assert_reason("lint", "lint2.sh");
}

/// A folder in `hash_paths` honours `.gitignore`: ignored files do not feed the key.
#[test]
fn gitignored_file_in_hash_path_folder_changes_nothing() {
    let p = Project::with(&[
        (
            "pipeline.toml",
            r#"
[steps.fit]
script = "fit.sh"
arguments = ["${outputs.out}"]
outputs = ["out"]
hash_paths = ["common"]
"#,
        ),
        ("fit.sh", "echo fit > \"$1/fit.txt\"\n"),
        ("common/util.sh", "# v1\n"),
        ("common/.gitignore", "*.log\n"),
        ("common/debug.log", "one\n"),
    ]);
    p.build(&[]).assert_code(0).assert_steps(&[("fit", "ran")]);
    p.write("common/debug.log", "two\n");
    p.write("common/other.log", "new\n");
    p.build(&[]).assert_code(0).assert_steps(&[("fit", "reused")]);
    p.write("common/util.sh", "# v2\n");
    p.build(&[]).assert_code(0).assert_steps(&[("fit", "ran")]);
}

/// A data reference that is a folder: a file added inside it reruns its consumer.
#[test]
fn data_folder_content_change_reruns_consumer() {
    let p = Project::with(&[
        (
            "pipeline.toml",
            r#"
[data.images]
path = "images"

[steps.count]
command = ["sh", "-c", "ls \"$0\" | wc -l | tr -d ' ' > \"$1/n.txt\"", "${inputs.imgs}", "${outputs.out}"]
inputs = { imgs = "data.images" }
outputs = ["out"]
"#,
        ),
        ("images/a.png", "a"),
    ]);
    p.build(&[]).assert_code(0).assert_steps(&[("count", "ran")]);
    p.build(&[]).assert_code(0).assert_steps(&[("count", "reused")]);
    p.write("images/b.png", "b");
    let b = p.build(&[]);
    b.assert_code(0).assert_steps(&[("count", "ran")]);
    b.assert_reason("count", "data.images");
    assert_eq!(p.output("count", "out", "n.txt"), "2\n");
}

/// Early cutoff is per output: when a step reruns and only the output nobody reads changes,
/// the consumer of its other (identical) output is reused.
#[test]
fn early_cutoff_per_output() {
    let p = Project::with(&[
        (
            "pipeline.toml",
            r#"
[steps.up]
script = "up.sh"
arguments = ["${outputs.stable}", "${outputs.stamp}"]
outputs = ["stable", "stamp"]

[steps.down]
command = ["sh", "-c", "cp \"$0/s.txt\" \"$1/d.txt\"", "${inputs.s}", "${outputs.out}"]
inputs = { s = "steps.up.outputs.stable" }
outputs = ["out"]
"#,
        ),
        ("up.sh", "echo same > \"$1/s.txt\"\necho v1 > \"$2/t.txt\"\n"),
    ]);
    p.build(&[]).assert_code(0).assert_steps(&[("up", "ran"), ("down", "ran")]);
    p.write("up.sh", "echo same > \"$1/s.txt\"\necho v2 > \"$2/t.txt\"\n");
    p.build(&[]).assert_code(0).assert_steps(&[("up", "ran"), ("down", "reused")]);
    assert_eq!(p.output("up", "stamp", "t.txt"), "v2\n");
}

/// A script edited while a build is running (here by an earlier step, standing in for a
/// person saving a file mid-build) must not leave a result recorded under the key of the
/// script as it was when the build started: after restoring that script, its output must
/// be the one that script produces.
#[test]
fn script_edited_during_build_is_not_cached_under_the_old_key() {
    let p = Project::new();
    p.write(
        "pipeline.toml",
        &format!(
            r#"
[steps.first]
command = ["sh", "-c", "cp \"$P/b/second_v2.sh\" \"$P/b/second.sh\"; echo first > \"$0/f.txt\"", "${{outputs.out}}"]
source_directory = "a"
env = {{ P = "{}" }}
outputs = ["out"]

[steps.second]
script = "second.sh"
source_directory = "b"
arguments = ["${{inputs.f}}", "${{outputs.out}}"]
inputs = {{ f = "steps.first.outputs.out" }}
outputs = ["out"]
"#,
            p.root().display()
        ),
    );
    p.write("a/keep.txt", "");
    p.write("b/second.sh", "echo S1 > \"$2/x.txt\"\n");
    p.write("b/second_v2.sh", "echo S2 > \"$2/x.txt\"\n");
    p.build(&[]).assert_code(0).assert_steps(&[("first", "ran"), ("second", "ran")]);
    // Back to the script the build started with.
    p.write("b/second.sh", "echo S1 > \"$2/x.txt\"\n");
    let b = p.build(&[]);
    b.assert_code(0);
    assert_eq!(
        p.output("second", "out", "x.txt"),
        "S1\n",
        "second.sh is the original script, so its output must be the original's; second: {:?}",
        b.step("second")
    );
}

/// The same for a data reference changed mid-build: the consumer's result must not be
/// recorded under the key of the data's old content.
#[test]
fn data_edited_during_build_is_not_cached_under_the_old_key() {
    let p = Project::new();
    p.write(
        "pipeline.toml",
        &format!(
            r#"
[data.raw]
path = "raw.txt"

[steps.first]
command = ["sh", "-c", "echo new > \"$P/raw.txt\"; echo first > \"$0/f.txt\"", "${{outputs.out}}"]
env = {{ P = "{}" }}
outputs = ["out"]

[steps.second]
command = ["sh", "-c", "cp \"$1\" \"$2/x.txt\"", "${{inputs.f}}", "${{inputs.raw}}", "${{outputs.out}}"]
inputs = {{ f = "steps.first.outputs.out", raw = "data.raw" }}
outputs = ["out"]
"#,
            p.root().display()
        ),
    );
    p.write("raw.txt", "old\n");
    p.build(&[]).assert_code(0).assert_steps(&[("first", "ran"), ("second", "ran")]);
    p.write("raw.txt", "old\n");
    let b = p.build(&[]);
    b.assert_code(0);
    assert_eq!(
        p.output("second", "out", "x.txt"),
        "old\n",
        "raw.txt holds `old`, so second's output must be `old`; second: {:?}",
        b.step("second")
    );
}
