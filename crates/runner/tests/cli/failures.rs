//! Failing steps, and parameter values that try to become shell code.

use crate::support::Project;

/// `bad` feeds `after`; `good` is an independent branch.
const FAILING_TOML: &str = r#"
[steps.bad]
script = "bad.sh"
arguments = ["${outputs.out}"]
outputs = ["out"]

[steps.after]
command = ["sh", "-c", "cp \"$0/b.txt\" \"$1/b.txt\"", "${inputs.b}", "${outputs.out}"]
inputs = { b = "steps.bad.outputs.out" }
outputs = ["out"]

[steps.good]
command = ["sh", "-c", "echo good > \"$0/g.txt\"", "${outputs.out}"]
outputs = ["out"]
"#;

/// Table row 12: A step exiting 3 fails the build (exit 1): its downstream is skipped, an
/// independent branch still runs. Once the script is fixed, the step runs (nothing was
/// cached for it).
#[test]
fn failing_step_skips_downstream_and_runs_again_when_fixed() {
    // It even fills its output before failing: that must not be cached.
    let p = Project::with(&[
        ("pipeline.toml", FAILING_TOML),
        ("bad.sh", "echo partial > \"$1/b.txt\"\nexit 3\n"),
    ]);
    let b = p.build(&[]);
    b.assert_code(1).assert_steps(&[("bad", "failed"), ("after", "skipped"), ("good", "ran")]);
    assert_eq!(b.status(), "failed");
    b.assert_reason("bad", "exited with code 3");

    p.write("bad.sh", "echo fixed > \"$1/b.txt\"\n");
    let b = p.build(&[]);
    b.assert_code(0).assert_steps(&[("bad", "ran"), ("after", "ran"), ("good", "reused")]);
    assert_eq!(b.status(), "succeeded");
    assert_eq!(p.output("after", "out", "b.txt"), "fixed\n");

    p.build(&[]).assert_code(0).assert_steps(&[
        ("bad", "reused"),
        ("after", "reused"),
        ("good", "reused"),
    ]);
}

/// A failed step whose key does not change (it failed for a reason outside its key) runs
/// again on the next build: a failure is never cached.
#[test]
fn failed_step_with_unchanged_key_runs_again() {
    let p = Project::with(&[
        ("pipeline.toml", FAILING_TOML),
        // `fail.flag` sits in the snapshot but is not in bad's key.
        ("bad.sh", "if [ -e fail.flag ]; then exit 3; fi\necho ok > \"$1/b.txt\"\n"),
        ("fail.flag", ""),
    ]);
    p.build(&[]).assert_code(1).assert_steps(&[
        ("bad", "failed"),
        ("after", "skipped"),
        ("good", "ran"),
    ]);
    std::fs::remove_file(p.path("fail.flag")).unwrap();
    p.build(&[]).assert_code(0).assert_steps(&[
        ("bad", "ran"),
        ("after", "ran"),
        ("good", "reused"),
    ]);
}

/// A step that exits 0 but leaves an output folder empty fails, and is not cached.
#[test]
fn empty_output_fails_the_step() {
    let p = Project::with(&[
        ("pipeline.toml", FAILING_TOML),
        ("bad.sh", "if [ -e skip.flag ]; then exit 0; fi\necho ok > \"$1/b.txt\"\n"),
        ("skip.flag", ""),
    ]);
    let b = p.build(&[]);
    b.assert_code(1).assert_steps(&[("bad", "failed"), ("after", "skipped"), ("good", "ran")]);
    b.assert_reason("bad", "output out was not produced");
    std::fs::remove_file(p.path("skip.flag")).unwrap();
    p.build(&[]).assert_code(0).assert_steps(&[
        ("bad", "ran"),
        ("after", "ran"),
        ("good", "reused"),
    ]);
}

const ECHO_TOML: &str = r#"
[parameters]
msg = "hello"

[steps.echo]
script = "write.sh"
arguments = ["${params.msg}", "${outputs.out}"]
outputs = ["out"]
"#;

const WRITE_SH: &str = "printf '%s' \"$1\" > \"$2/msg.txt\"\n";

/// Builds the echo pipeline with `--param msg=VALUE` and checks the step received VALUE as
/// exactly one argument and that no shell ever saw it.
fn assert_param_is_literal(value: &str) {
    let p = Project::with(&[("pipeline.toml", ECHO_TOML), ("write.sh", WRITE_SH)]);
    std::fs::create_dir(p.path("canary")).unwrap();
    let param = format!("msg={value}");
    let b = p.build(&["--param", &param]);
    b.assert_code(0).assert_steps(&[("echo", "ran")]);
    assert_eq!(p.output("echo", "out", "msg.txt"), value);
    assert!(p.path("canary").is_dir(), "canary folder was removed");
    let pwned: Vec<_> = Project::files_under(p.root())
        .into_iter()
        .filter(|f| f.file_name().is_some_and(|n| n.to_string_lossy().starts_with("pwned")))
        .collect();
    assert!(pwned.is_empty(), "the parameter value was run by a shell: {pwned:?}");
    // Same value again: the step key holds it verbatim, so it is reused.
    p.build(&["--param", &param]).assert_code(0).assert_steps(&[("echo", "reused")]);
}

/// Table row 13: A parameter value full of shell syntax reaches the step as one literal argument.
/// (`rm -rf canary` rather than `rm -rf /`: same test, harmless if it ever fails.)
#[test]
fn param_with_shell_syntax_is_one_literal_argument() {
    assert_param_is_literal("'; rm -rf canary $(touch pwned) `whoami`'");
    assert_param_is_literal("\"; touch pwned2; echo \" && touch pwned3 | cat > pwned4\nnext line");
}

/// A value that looks like a placeholder is not expanded again.
#[test]
fn param_with_placeholder_text_is_not_expanded() {
    assert_param_is_literal("${outputs.out} ${params.msg} $${x} ${env.HOME} a=b");
}

/// A step that fails after a success: what it wrote goes to its run folder, next to its logs,
/// and the view of the last good output stays as it was.
#[test]
fn failed_rerun_keeps_the_last_view_and_files_its_partial_output() {
    let p =
        Project::with(&[("pipeline.toml", FAILING_TOML), ("bad.sh", "echo good > \"$1/b.txt\"\n")]);
    p.build(&["bad"]).assert_code(0).assert_steps(&[("bad", "ran")]);
    p.write("bad.sh", "echo partial > \"$1/b.txt\"\nexit 3\n");
    let b = p.build(&["bad"]);
    b.assert_code(1).assert_steps(&[("bad", "failed")]);
    assert_eq!(p.output("bad", "out", "b.txt"), "good\n");
    let run = b.run_id();
    assert_eq!(p.read(&format!(".runner/runs/{run}/bad/outputs/out/b.txt")), "partial\n");
    // Nothing half-written is left beside the view.
    let names: Vec<String> = std::fs::read_dir(p.state().join("outputs"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, ["bad.out"]);
}

/// What a step prints is in its logs, one file per stream it wrote to; a silent step has
/// none. Its metrics reach run history.
#[test]
fn logs_and_metrics_of_a_run() {
    let p = Project::with(&[(
        "pipeline.toml",
        r#"
[steps.talk]
command = ["sh", "-c", "echo out; echo err >&2; echo 'accuracy 0.9' >> \"$RUNNER_METRICS\"; echo x > \"$0/x\"", "${outputs.out}"]
outputs = ["out"]

[steps.quiet]
command = ["sh", "-c", "echo x > \"$0/x\"", "${outputs.out}"]
outputs = ["out"]
"#,
    )]);
    let b = p.build(&[]);
    b.assert_code(0).assert_steps(&[("talk", "ran"), ("quiet", "ran")]);
    let run = b.run_id().to_string();
    let logs = |args: &[&str]| {
        let mut all = vec!["logs", run.as_str()];
        all.extend_from_slice(args);
        let r = p.run(&all);
        r.assert_code(0);
        r.stdout.clone()
    };
    assert_eq!(logs(&["talk"]), "out\n");
    assert_eq!(logs(&["talk", "--stderr"]), "err\n");
    assert_eq!(logs(&["quiet"]), "");
    let show = p.run(&["show", run.as_str(), "talk"]);
    show.assert_code(0);
    assert!(show.stdout.contains("metric accuracy = 0.9"), "{}", show.transcript());
    assert!(show.stdout.contains("stdout.log, "), "{}", show.transcript());
    let show = p.run(&["show", run.as_str(), "quiet"]);
    assert!(show.stdout.contains("logs: none"), "{}", show.transcript());
    assert!(!p.state().join(format!("runs/{run}/quiet")).exists());

    // Reused in the next run: its logs are those of the run that produced the result.
    let again = p.build(&[]);
    again.assert_steps(&[("talk", "reused"), ("quiet", "reused")]);
    let next = again.run_id().to_string();
    for (args, out) in [
        (vec!["logs", next.as_str(), "talk"], "out\n"),
        (vec!["logs", next.as_str(), "talk", "--stderr"], "err\n"),
    ] {
        let r = p.run(&args);
        r.assert_code(0);
        assert_eq!(r.stdout, out, "{}", r.transcript());
        let said = format!("step talk was reused in run {next}; its logs are from run {run}");
        assert!(r.stderr.contains(&said), "{}", r.transcript());
    }
}

/// A step's copies of upstream outputs are removed when the build ends, unless it failed:
/// then they stay for a look, beside its logs.
#[test]
fn input_copies_are_kept_only_for_failed_steps() {
    let p =
        Project::with(&[("pipeline.toml", FAILING_TOML), ("bad.sh", "echo fine > \"$1/b.txt\"\n")]);
    let b = p.build(&[]);
    b.assert_code(0).assert_steps(&[("bad", "ran"), ("after", "ran"), ("good", "ran")]);
    assert!(!p.state().join(format!("runs/{}/inputs", b.run_id())).exists());
    // Moved to the trash, which the next build empties.
    let binned = p.state().join(format!("trash/{}-inputs/after.b/b.txt", b.run_id()));
    assert_eq!(std::fs::read_to_string(&binned).unwrap(), "fine\n");

    // `after` now fails, reading what `bad` wrote.
    p.write(
        "pipeline.toml",
        &FAILING_TOML
            .replace("cp \\\"$0/b.txt\\\" \\\"$1/b.txt\\\"", "cat \\\"$0/b.txt\\\"; exit 4"),
    );
    let b = p.build(&[]);
    b.assert_code(1).assert_steps(&[("bad", "reused"), ("after", "failed"), ("good", "reused")]);
    let kept = p.state().join(format!("runs/{}/inputs/after.b/b.txt", b.run_id()));
    assert_eq!(std::fs::read_to_string(kept).unwrap(), "fine\n");
    assert!(!binned.exists());
}

/// Folders made ahead for a downstream step while its upstream runs (its output's staging
/// folder, its input's folder) are removed when the step does not run after all: reused by
/// early cutoff, or skipped after a failure.
#[test]
fn folders_made_ahead_for_steps_that_did_not_run_are_removed() {
    let writes_b = "echo fine > \"$1/b.txt\"\n";
    let p = Project::with(&[("pipeline.toml", FAILING_TOML), ("bad.sh", writes_b)]);
    p.build(&[]).assert_code(0).assert_steps(&[("bad", "ran"), ("after", "ran"), ("good", "ran")]);
    // Everything under `outputs/`, folders too (a folder made ahead is empty).
    let left = |p: &Project| {
        let root = p.state().join("outputs");
        let mut names = Vec::new();
        let mut stack = vec![root.clone()];
        while let Some(dir) = stack.pop() {
            for e in std::fs::read_dir(&dir).unwrap().flatten() {
                names.push(e.path().strip_prefix(&root).unwrap().display().to_string());
                if e.file_type().unwrap().is_dir() {
                    stack.push(e.path());
                }
            }
        }
        names.sort();
        names
    };
    let built =
        ["after.out", "after.out/b.txt", "bad.out", "bad.out/b.txt", "good.out", "good.out/g.txt"];
    assert_eq!(left(&p), built);

    // `bad` runs again and writes the same bytes: `after` is reused, and nothing made for it
    // stays.
    p.write("bad.sh", &format!("# same output\n{writes_b}"));
    let b = p.build(&[]);
    b.assert_code(0).assert_steps(&[("bad", "ran"), ("after", "reused"), ("good", "reused")]);
    assert_eq!(left(&p), built);
    assert!(!p.state().join(format!("runs/{}/inputs", b.run_id())).exists());

    // A fresh project whose `bad` fails: `after` is skipped, and has no folder at all.
    let p = Project::with(&[("pipeline.toml", FAILING_TOML), ("bad.sh", "exit 3\n")]);
    let b = p.build(&[]);
    b.assert_code(1).assert_steps(&[("bad", "failed"), ("after", "skipped"), ("good", "ran")]);
    assert_eq!(left(&p), ["good.out", "good.out/g.txt"]);
    assert!(!p.state().join(format!("runs/{}/inputs", b.run_id())).exists());
}

/// `-j` out of range is a usage error that names the range, not a panic.
#[test]
fn out_of_range_jobs_is_a_usage_error() {
    let p = Project::with(&[("pipeline.toml", "[steps.a]\ncommand = [\"true\"]\n")]);
    for jobs in ["0", "4097", "2305843009213693952", "many"] {
        let run = p.run(&["build", ".", "-j", jobs]);
        run.assert_code(2);
        assert!(run.stderr.contains("from 1 to 4096"), "{}", run.transcript());
    }
}
