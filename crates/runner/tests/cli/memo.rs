//! The build memo (`.runner/buildmemo`): a no-op build planned without the database, and
//! every way it must step aside for a normal build.

use crate::{ALL_REUSED, CHAIN_TOML, built_chain};

fn planner(b: &crate::support::Build) -> &str {
    b.doc["planner"].as_str().unwrap_or_else(|| panic!("no planner\n{}", b.run.transcript()))
}

/// After a build, the next no-op build is planned from the memo, reuses every step from
/// the run that produced it, and is recorded in history like any other run.
#[test]
fn noop_build_is_planned_from_the_memo() {
    let p = built_chain();
    assert!(p.state().join("buildmemo").is_file());
    let trash = || std::fs::read_dir(p.state().join("trash")).unwrap().count();
    assert!(trash() > 0, "the build's spent input copies are in the trash");
    let first = p.build(&[]);
    first.assert_code(0).assert_steps(ALL_REUSED);
    assert_eq!(planner(&first), "memo", "{}", first.run.transcript());
    assert_eq!(trash(), 0, "a memo build empties the trash too");
    assert_eq!(first.step("train").reused_from, Some(1));
    let again = p.build(&[]);
    again.assert_code(0).assert_steps(ALL_REUSED);
    assert_eq!(planner(&again), "memo");
    assert_eq!(again.run_id(), first.run_id() + 1);

    // History has the run, its steps, and (through the run reused) their keys.
    let root = p.root().display().to_string();
    let run = again.run_id().to_string();
    let show = p.run(&["show", &run, "train", "--path", &root]);
    show.assert_code(0);
    assert!(show.stdout.contains("reused from run 1"), "{}", show.transcript());
    assert!(show.stdout.contains("key fields"), "{}", show.transcript());
    let runs = p.run(&["runs", &root]);
    assert!(runs.stdout.contains("succeeded"), "{}", runs.transcript());

    // The human output says the same as a normal build.
    let human = p.run(&["build", &root]);
    human.assert_code(0);
    assert!(human.stderr.contains("   reused train  (from run 1)"), "{}", human.transcript());
    assert!(human.stderr.contains("0 ran, 4 reused"), "{}", human.transcript());
}

/// Anything the plan depends on sends the build down the normal path: the file's bytes,
/// a parameter override, a step selection, a changed input.
#[test]
fn the_memo_holds_only_for_what_it_recorded() {
    let p = built_chain();
    assert_eq!(planner(&p.build(&[])), "memo");

    // A comment added: same plan, but a different file.
    p.write("pipeline.toml", &format!("# note\n{CHAIN_TOML}"));
    let b = p.build(&[]);
    b.assert_code(0).assert_steps(ALL_REUSED);
    assert_eq!(planner(&b), "database");
    assert_eq!(planner(&p.build(&[])), "memo", "the normal build wrote a new memo");

    // An override is another invocation.
    let b = p.build(&["--param", "n=1"]);
    assert_eq!(planner(&b), "database");
    b.assert_steps(ALL_REUSED);

    // One memo, for the last invocation: the plain build plans normally once, then not.
    assert_eq!(planner(&p.build(&[])), "database");
    assert_eq!(planner(&p.build(&[])), "memo");

    // An input changed under the memo.
    p.write("helper.txt", "helper v2\n");
    let b = p.build(&[]);
    assert_eq!(planner(&b), "database");
    // (train's output does not change, so report is reused: early cutoff.)
    b.assert_steps(&[
        ("prepare", "reused"),
        ("train", "ran"),
        ("report", "reused"),
        ("lint", "reused"),
    ]);
    b.assert_reason("train", "helper.txt");
}

/// A deleted output view, a deleted blob, a damaged memo: the normal path takes over and
/// repairs what it must.
#[test]
fn damage_under_the_memo_is_repaired_by_a_normal_build() {
    let p = built_chain();
    p.build(&[]);
    // The view of an output, removed.
    std::fs::remove_dir_all(p.state().join("outputs/train.model")).unwrap();
    let b = p.build(&[]);
    b.assert_code(0).assert_steps(ALL_REUSED);
    assert_eq!(planner(&b), "database");
    assert_eq!(p.output("train", "model", "model.txt"), "1,2,3\nn=1\n");

    // A blob of the report's output, removed: the report reruns.
    // A blob is named by the sha256 of its bytes: those of the report's view.
    let view = p.state().join("outputs/report.report/report.txt");
    let sum = std::process::Command::new("sha256sum").arg(&view).output().unwrap();
    let blob = String::from_utf8(sum.stdout).unwrap()[..64].to_owned();
    let cache = p.state().join("cache");
    std::fs::remove_file(cache.join(format!("cas/{blob}"))).unwrap();
    let b = p.build(&[]);
    b.assert_code(0).assert_steps(&[
        ("prepare", "reused"),
        ("train", "reused"),
        ("report", "ran"),
        ("lint", "reused"),
    ]);
    assert_eq!(planner(&b), "database");
    b.assert_reason("report", "missing");

    // A damaged memo is ignored.
    let memo = p.state().join("buildmemo");
    let mut bytes = std::fs::read(&memo).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0xff;
    std::fs::write(&memo, bytes).unwrap();
    let b = p.build(&[]);
    b.assert_code(0).assert_steps(ALL_REUSED);
    assert_eq!(planner(&b), "database");
}

/// No memo for a pipeline with warnings (they must be printed) or with a step that never
/// reuses; `--regenerate` never reads it.
#[test]
fn no_memo_when_a_build_must_do_more_than_reuse() {
    let p = built_chain();
    p.write("pipeline.toml", &CHAIN_TOML.replace("n = 1", "n = 1\nunused = 2"));
    p.build(&[]).assert_code(0);
    let b = p.build(&[]);
    assert_eq!(planner(&b), "database", "a warning keeps the database in charge");

    p.write(
        "pipeline.toml",
        &CHAIN_TOML.replace("outputs = [\"log\"]", "outputs = [\"log\"]\nallow_reuse = false"),
    );
    p.build(&[]).assert_code(0);
    let b = p.build(&[]);
    assert_eq!(planner(&b), "database");
    assert_eq!(b.step("lint").status, "ran");

    p.write("pipeline.toml", CHAIN_TOML);
    p.build(&[]).assert_code(0);
    assert_eq!(planner(&p.build(&[])), "memo");
    let b = p.build(&["--regenerate"]);
    assert_eq!(planner(&b), "database");
    b.assert_steps(&[("prepare", "ran"), ("train", "ran"), ("report", "ran"), ("lint", "ran")]);
}

/// No memo when results could not be cached: an action cache that cannot be opened makes
/// every step run and say so, and the next build runs them again instead of trusting a memo.
#[test]
fn no_memo_when_results_are_not_cached() {
    let p = crate::chain();
    let cache = p.state().join("cache");
    std::fs::create_dir_all(cache.join("ac.sqlite")).unwrap(); // a folder: cannot be opened
    let b = p.build(&[]);
    b.assert_code(0).assert_reason("lint", "not cached");
    assert!(!p.state().join("buildmemo").exists());
    let again = p.build(&[]);
    assert_eq!(planner(&again), "database");
    assert_eq!(again.step("lint").status, "ran");
}

/// `runner status` and `runner build --dry-run` read their plan from the memo when it
/// holds: the same lines and JSON as the database's plan, no run recorded, the memo left
/// as it was; when it does not hold (an input changed), they plan from the database.
#[test]
fn status_and_dry_run_read_the_memo_as_the_database_would_plan() {
    let p = built_chain();
    let root = p.root().display().to_string();
    let memo = p.state().join("buildmemo");
    let written = std::fs::read(&memo).unwrap();
    let runs = || p.run(&["runs", &root]).stdout.lines().count();
    let before = runs();
    let plans = |args: &[&str]| -> Vec<String> {
        [&["status", &root][..], &["status", &root, "--format", "json"], args]
            .iter()
            .map(|a| {
                let r = p.run(a);
                r.assert_code(0);
                format!("{}{}", r.stdout, r.stderr)
            })
            .collect()
    };
    let dry = ["build", "--dry-run", &root];
    let from_memo = plans(&dry);
    assert!(from_memo[0].contains("    reuse train    from run 1"), "{}", from_memo[0]);
    assert!(from_memo[0].ends_with("0 to run, 4 to reuse\n"), "{}", from_memo[0]);
    assert_eq!(runs(), before, "a plan records no run");
    assert_eq!(std::fs::read(&memo).unwrap(), written, "a plan rewrites no memo");

    // The database's plan, with the memo out of the way: the same, byte for byte.
    std::fs::rename(&memo, p.state().join("memo.aside")).unwrap();
    assert_eq!(plans(&dry), from_memo);
    std::fs::rename(p.state().join("memo.aside"), &memo).unwrap();

    // An input changed under the memo: the plan comes from the database and says why.
    p.write("helper.txt", "helper v2\n");
    let changed = p.run(&["status", &root]);
    changed.assert_code(0);
    assert!(changed.stdout.contains("will run train"), "{}", changed.transcript());
    assert!(changed.stdout.contains("helper.txt"), "{}", changed.transcript());
}
