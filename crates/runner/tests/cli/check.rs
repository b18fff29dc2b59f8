//! `runner check`: exit codes and machine-readable diagnostics.

use crate::support::Project;

/// An input naming a step that does not exist (E0102), beside a valid step.
const BROKEN_TOML: &str = r#"
[steps.prepare]
command = ["sh", "-c", "echo hi > \"$0/x.txt\"", "${outputs.out}"]
outputs = ["out"]

[steps.train]
command = ["sh", "-c", "cat \"$0\"", "${inputs.data}"]
inputs = { data = "steps.nope.outputs.out" }
"#;

/// Table row 15: A broken pipeline: exit 1, and the JSON document lists the code.
#[test]
fn check_broken_pipeline_json() {
    let p = Project::with(&[("pipeline.toml", BROKEN_TOML)]);
    let root = p.root().display().to_string();
    let run = p.run(&["check", &root, "--format", "json"]);
    run.assert_code(1);
    let doc: serde_json::Value = serde_json::from_str(run.stdout.trim())
        .unwrap_or_else(|e| panic!("not JSON ({e})\n{}", run.transcript()));
    let codes: Vec<&str> = doc["diagnostics"]
        .as_array()
        .expect("diagnostics array")
        .iter()
        .filter_map(|d| d["code"].as_str())
        .collect();
    assert!(codes.contains(&"E0102"), "E0102 among {codes:?}\n{}", run.transcript());
    assert!(doc["errors"].as_u64().unwrap() >= 1, "{}", run.transcript());
    let d = doc["diagnostics"].as_array().unwrap().iter().find(|d| d["code"] == "E0102").unwrap();
    assert_eq!(d["severity"], "error");
    assert_eq!(d["range"]["start"]["line"], 8, "the span points at the input's line: {d}");

    // Human output: same exit code, rustc-style text on stderr.
    let human = p.run(&["check", &root]);
    human.assert_code(1);
    assert!(human.stderr.contains("error[E0102]"), "{}", human.transcript());

    // A build refuses to start, and runs nothing.
    let build = p.run(&["build", &root]);
    build.assert_code(1);
    assert!(!p.state().join("history.sqlite").exists(), "no run was recorded");
}

/// Table row 15: GitHub workflow commands for CI annotations.
#[test]
fn check_broken_pipeline_github() {
    let p = Project::with(&[("pipeline.toml", BROKEN_TOML)]);
    let root = p.root().display().to_string();
    let run = p.run(&["check", &root, "--format", "github"]);
    run.assert_code(1);
    let line = run
        .stdout
        .lines()
        .find(|l| l.contains("E0102"))
        .unwrap_or_else(|| panic!("no E0102 line\n{}", run.transcript()));
    assert!(line.starts_with("::error file="), "{line}");
    assert!(line.contains("pipeline.toml"), "{line}");
    assert!(line.contains(",line=8,"), "{line}");
}

/// Table row 15: A path that cannot be read is a usage error (exit 2), not a diagnostic.
#[test]
fn check_unreadable_path_exits_2() {
    let p = Project::new();
    let missing = p.path("does-not-exist/pipeline.toml").display().to_string();
    let run = p.run(&["check", &missing]);
    run.assert_code(2);
    assert!(run.stderr.contains("does not exist"), "{}", run.transcript());
    // A folder without a pipeline file.
    let root = p.root().display().to_string();
    let run = p.run(&["check", &root, "--format", "json"]);
    run.assert_code(2);
    assert!(run.stderr.contains("no pipeline.toml"), "{}", run.transcript());
    // A pipeline path that is a folder named like a file.
    std::fs::create_dir(p.path("dir.toml")).unwrap();
    let run = p.run(&["check", &p.path("dir.toml").display().to_string()]);
    run.assert_code(2);
}

/// A valid pipeline checks clean: exit 0, no errors.
#[test]
fn check_valid_pipeline() {
    let p = crate::chain();
    let root = p.root().display().to_string();
    let run = p.run(&["check", &root, "--format", "json"]);
    run.assert_code(0);
    let doc: serde_json::Value = serde_json::from_str(run.stdout.trim()).unwrap();
    assert_eq!(doc["errors"], 0, "{}", run.transcript());
    assert!(
        doc["diagnostics"].as_array().unwrap().iter().all(|d| d["severity"] != "error"),
        "{}",
        run.transcript()
    );
}

/// Bad command lines are usage errors (exit 2).
#[test]
fn usage_errors_exit_2() {
    let p = crate::chain();
    let root = p.root().display().to_string();
    p.run(&["build", &root, "--param", "noequals"]).assert_code(2);
    p.run(&["build", &root, "--param", "n=notanumber"]).assert_code(2);
    p.run(&["build", &root, "--frobnicate"]).assert_code(2);
    p.run(&["check", &root, "--format", "yaml"]).assert_code(2);
    assert!(!p.state().exists(), "a usage error starts no run");
}

/// `runner check --format json` on `p`: exit code and the document.
fn check_json(p: &Project) -> (Option<i32>, serde_json::Value) {
    let root = p.root().display().to_string();
    let run = p.run(&["check", &root, "--format", "json"]);
    let doc = serde_json::from_str(run.stdout.trim())
        .unwrap_or_else(|e| panic!("not JSON ({e})\n{}", run.transcript()));
    (run.code, doc)
}

/// A note (a hash path outside the pipeline's folder) shows in every form of `check`, and
/// `build` neither prints it nor lets it stop the no-op memo.
#[test]
fn notes_show_in_check_not_in_build() {
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join("common.txt"), "shared\n").unwrap();
    let abs = outside.path().join("common.txt").display().to_string();
    let p = Project::with(&[(
        "pipeline.toml",
        &format!(
            "[steps.a]\ncommand = [\"sh\", \"-c\", \"echo x > \\\"$0/x\\\"\", \"${{outputs.o}}\"]\noutputs = [\"o\"]\nhash_paths = [\"{abs}\"]\n"
        ),
    )]);
    let (code, doc) = check_json(&p);
    assert_eq!(code, Some(0), "{doc}");
    assert_eq!(
        (&doc["errors"], &doc["warnings"], &doc["notes"]),
        (&0.into(), &0.into(), &1.into())
    );
    let d = &doc["diagnostics"][0];
    assert_eq!((&d["code"], &d["severity"]), (&"N0301".into(), &"note".into()), "{d}");
    let root = p.root().display().to_string();
    let github = p.run(&["check", &root, "--format", "github"]);
    assert!(github.stdout.starts_with("::notice file="), "{}", github.transcript());
    let human = p.run(&["check", &root]);
    human.assert_code(0);
    assert!(human.stderr.contains("note[N0301]"), "{}", human.transcript());
    assert!(human.stderr.contains("0 errors, 0 warnings, 1 note"), "{}", human.transcript());

    let build = p.run(&["build", &root]);
    build.assert_code(0);
    assert!(!build.stderr.contains("N0301"), "build prints no note\n{}", build.transcript());
    assert!(p.state().join("buildmemo").is_file(), "a note does not stop the memo");
    let again = p.build(&[]);
    assert_eq!(again.doc["planner"], "memo", "{}", again.run.transcript());
}

/// The issue's reproduction: a parameter inside a `sh -c` script is a warning (the
/// pipeline still checks clean of errors and would run), at the script's element.
#[test]
fn parameter_inside_sh_c_is_a_warning() {
    let p = Project::with(&[(
        "pipeline.toml",
        "[parameters]\nq = \"x\"\n[steps.a]\ncommand = [\"sh\", \"-c\", \"echo ${params.q} > \\\"$0/unsafe.txt\\\"\", \"${outputs.o}\"]\noutputs = [\"o\"]\n",
    )]);
    let (code, doc) = check_json(&p);
    assert_eq!(code, Some(0), "{doc}");
    let d = &doc["diagnostics"][0];
    assert_eq!((&d["code"], &d["severity"]), (&"W0205".into(), &"warning".into()), "{d}");
    assert_eq!(d["range"]["start"]["line"], 4, "{d}");
    assert!(d["help"].as_str().unwrap().contains("\"$1\""), "{d}");
}

/// A NUL character in a path is a spanned error diagnostic (exit 1), never an
/// infrastructure error (exit 2), for check and build alike.
#[test]
fn nul_in_a_path_is_a_diagnostic() {
    let p = Project::with(&[
        ("pipeline.toml", "[steps.a]\nscript = \"s\\u0000.sh\"\nhash_paths = [\"h\\u0000\"]\n"),
        ("s.sh", "true\n"),
    ]);
    let (code, doc) = check_json(&p);
    assert_eq!(code, Some(1), "{doc}");
    let lines: Vec<(&str, u64)> = doc["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| (d["code"].as_str().unwrap(), d["range"]["start"]["line"].as_u64().unwrap()))
        .collect();
    assert_eq!(lines, [("E0112", 2), ("E0112", 3)], "{doc}");
    let root = p.root().display().to_string();
    p.run(&["build", &root]).assert_code(1);
    p.run(&["status", &root]).assert_code(1);
}
