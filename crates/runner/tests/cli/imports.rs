//! What a step reads beyond its script: helper modules feed its key (a stale model is
//! never reused), a comment-only edit reruns nothing and says so, and a traced step's
//! undeclared read is reported, or fails it under `--strict-reads`.

use crate::support::Project;

const PIPELINE: &str = r#"
[steps.prep]
script = "prep.py"
source_directory = "src"
outputs = ["data"]
arguments = ["${outputs.data}"]

[steps.train]
script = "train.py"
source_directory = "src"
inputs = { data = "steps.prep.outputs.data" }
outputs = ["model"]
arguments = ["${inputs.data}", "${outputs.model}"]
"#;

const PREP: &str = "import os, sys\nopen(os.path.join(sys.argv[1], 'd.txt'), 'w').write('1,2,3')\n";
const TRAIN: &str = "\
import os, sys
from common import features

data = open(os.path.join(sys.argv[1], 'd.txt')).read()
open(os.path.join(sys.argv[2], 'model.txt'), 'w').write(str(features.scale(data)))
";

fn project() -> Project {
    let p = Project::with(&[
        ("pipeline.toml", PIPELINE),
        ("src/prep.py", PREP),
        ("src/train.py", TRAIN),
        ("src/common/__init__.py", ""),
        ("src/common/features.py", "def scale(s):\n    return len(s) * 2\n"),
    ]);
    p.build(&[]).assert_code(0).assert_steps(&[("prep", "ran"), ("train", "ran")]);
    p
}

#[test]
fn an_edit_to_a_helper_module_reruns_only_the_steps_that_import_it() {
    let p = project();
    assert_eq!(p.output("train", "model", "model.txt"), "10");
    p.write("src/common/features.py", "def scale(s):\n    return len(s) * 3\n");
    let b = p.build(&[]);
    b.assert_code(0).assert_steps(&[("prep", "reused"), ("train", "ran")]);
    b.assert_reason("train", "helper module common/features.py changed");
    assert_eq!(p.output("train", "model", "model.txt"), "15", "no stale model");
    // With track_imports = false (Azure ML's rule), the module is not in the key.
    p.write("pipeline.toml", &format!("[pipeline]\ntrack_imports = false\n{PIPELINE}"));
    p.build(&[]).assert_code(0);
    p.write("src/common/features.py", "def scale(s):\n    return len(s) * 4\n");
    p.build(&[]).assert_code(0).assert_steps(&[("prep", "reused"), ("train", "reused")]);
}

#[test]
fn a_comment_only_edit_reruns_nothing_and_says_so() {
    let p = project();
    p.write("src/train.py", &format!("# Trains the model.\n\n{TRAIN}\n# end\n"));
    p.write("src/common/features.py", "def scale(s):  # doubles\n\n    return len(s)*2\n");
    // Said by the build that first sees the edit (later no-op builds answer from the memo).
    let root = p.root().display().to_string();
    let human = p.run(&["build", &root]);
    human.assert_code(0);
    assert!(
        human.stderr.contains(
            "reused train  (from run 1, script changed only in comments; helper module \
             common/features.py changed only in comments)"
        ),
        "{}",
        human.transcript()
    );
    p.build(&[]).assert_code(0).assert_steps(&[("prep", "reused"), ("train", "reused")]);
    // A string is code, even one that looks like a comment.
    p.write("src/train.py", &TRAIN.replace("str(", "'# ' + str("));
    let b = p.build(&[]);
    b.assert_steps(&[("prep", "reused"), ("train", "ran")]);
    b.assert_reason("train", "script train.py changed");
    assert_eq!(p.output("train", "model", "model.txt"), "# 10");
}

/// The built project with `train.py` reading `src/config.txt`, which no key names; `None`
/// where strace cannot run (never in CI, which installs it).
fn reading_config() -> Option<Project> {
    if !exec::trace::available() {
        assert!(std::env::var_os("CI").is_none(), "strace must run in CI");
        return None;
    }
    let p = project();
    p.write("src/config.txt", "lr=1\n");
    p.write("src/train.py", &format!("{TRAIN}cfg = open('config.txt').read()\n"));
    Some(p)
}

#[test]
fn an_undeclared_read_is_reported_and_fails_the_step_under_strict_reads() {
    let Some(p) = reading_config() else { return };
    let root = p.root().display().to_string();
    let traced = p.run(&["build", &root, "--trace-reads"]);
    traced.assert_code(0);
    let warning = "step train read src/config.txt, which is not part of its key; add it to \
                   hash_paths or inputs";
    assert!(traced.stderr.contains(warning), "{}", traced.transcript());
    assert!(!traced.stderr.contains("read src/train.py"), "the script is in the key");
    assert!(!traced.stderr.contains("features.py"), "a helper module is in the key");
    // As an annotation at the step's header, and in `runner show`.
    p.write("src/config.txt", "lr=2\n");
    let github = p.run(&["build", &root, "--trace-reads", "--regenerate", "--format", "github"]);
    let line = PIPELINE.lines().position(|l| l == "[steps.train]").unwrap() + 1;
    let annotation = format!(
        "::warning file={root}/pipeline.toml,line={line},title=step train read outside its key::{warning}"
    );
    assert!(github.stdout.contains(&annotation), "{}\nwant {annotation}", github.transcript());
    let run =
        github.stderr.split("run ").nth(1).and_then(|r| r.split(' ').next()).unwrap().to_owned();
    let show = p.run(&["show", &run, "train", "-p", &root]);
    assert!(show.stdout.contains("read outside its key: src/config.txt"), "{}", show.transcript());
    assert!(
        show.stdout.contains("helper modules in the key: common/__init__.py, common/features.py"),
        "{}",
        show.transcript()
    );
    p.write("src/train.py", &format!("{TRAIN}cfg = open('config.txt').read()  # strict\n"));
    p.write("src/common/features.py", "def scale(s):\n    return len(s) * 5\n");
    let b = p.build(&["--strict-reads"]);
    b.assert_code(1).assert_steps(&[("prep", "reused"), ("train", "failed")]);
    b.assert_reason("train", "outside its key (strict_reads): src/config.txt");
    // Nothing was cached: listed in hash_paths, the read is declared and the step runs.
    let declared = PIPELINE.replace(
        "arguments = [\"${inputs.data}\"",
        "hash_paths = [\"config.txt\"]\narguments = [\"${inputs.data}\"",
    );
    p.write("pipeline.toml", &declared);
    let b = p.build(&["--strict-reads"]);
    b.assert_code(0).assert_steps(&[("prep", "reused"), ("train", "ran")]);
}

/// The build memo vouches for a no-op by stat alone: the helper modules are among the paths
/// it checks, and a change to a Python file it cannot key again goes through the database.
#[test]
fn the_build_memo_misses_no_module_edit() {
    let p = project();
    p.write("pipeline.toml", &format!("[pipeline]\nnormalize_script = false\n{PIPELINE}"));
    p.build(&[]).assert_code(0);
    let b = p.build(&[]);
    assert_eq!(b.doc["planner"], "memo", "{}", b.run.transcript());
    // A new import of a new module: the script changes by bytes; the module joins the key.
    p.write("src/extra.py", "K = 1\n");
    p.write("src/train.py", &format!("import extra\n{TRAIN}"));
    let b = p.build(&[]);
    b.assert_steps(&[("prep", "reused"), ("train", "ran")]);
    b.assert_reason("train", "helper module extra.py is now imported");
    assert_eq!(p.build(&[]).doc["planner"], "memo");
    p.write("src/extra.py", "K = 2\n");
    let b = p.build(&[]);
    b.assert_steps(&[("prep", "reused"), ("train", "ran")]);
    b.assert_reason("train", "helper module extra.py changed");
}

/// A read found by a traced run becomes a dependency of the result: an edit to the file
/// reruns the step (traced again, so the dependency stays known), and a reuse says what the
/// result was made reading.
#[test]
fn a_file_read_outside_the_key_reruns_the_step_when_it_changes() {
    let Some(p) = reading_config() else { return };
    p.build(&["--trace-reads"])
        .assert_code(0)
        .assert_steps(&[("prep", "reused"), ("train", "ran")]);
    let root = p.root().display().to_string();
    let again = p.run(&["build", &root]);
    assert!(
        again.stderr.contains(
            "reused train  (from run 2, read src/config.txt outside its key when it ran)"
        ),
        "{}",
        again.transcript()
    );
    for (n, value) in ["lr=2\n", "lr=3\n"].iter().enumerate() {
        p.write("src/config.txt", value);
        let b = p.build(&[]);
        b.assert_steps(&[("prep", "reused"), ("train", "ran")]);
        b.assert_reason("train", "src/config.txt changed, which the step read outside its key");
        assert_eq!(b.doc["planner"], "database", "edit {n}: no memo vouches for such a result");
    }
    let status = p.run(&["status", &root]);
    assert!(
        status.stdout.contains("read src/config.txt outside its key"),
        "{}",
        status.transcript()
    );
}
