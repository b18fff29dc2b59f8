//! `runner build PATH STEP...`: build some steps and what they need, nothing else.

/// Table row 16: Selecting a step builds it and its upstream only.
#[test]
fn selected_step_builds_with_its_upstream_only() {
    let p = crate::chain();
    p.build(&["train"]).assert_code(0).assert_steps(&[("prepare", "ran"), ("train", "ran")]);
    assert!(!p.state().join("outputs/report.report").exists(), "report was not built");
    assert!(!p.state().join("outputs/lint.log").exists(), "lint was not built");

    p.build(&["report"]).assert_code(0).assert_steps(&[
        ("prepare", "reused"),
        ("train", "reused"),
        ("report", "ran"),
    ]);
    p.build(&["lint", "prepare"])
        .assert_code(0)
        .assert_steps(&[("prepare", "reused"), ("lint", "ran")]);
    p.build(&[]).assert_code(0).assert_steps(crate::ALL_REUSED);
}

/// An unknown step name is a usage error, with a suggestion.
#[test]
fn unknown_step_is_a_usage_error() {
    let p = crate::chain();
    let root = p.root().display().to_string();
    let run = p.run(&["build", &root, "trian"]);
    run.assert_code(2);
    assert!(run.stderr.contains("no step named `trian`"), "{}", run.transcript());
    assert!(run.stderr.contains("train"), "{}", run.transcript());
}

/// `--compute NAME` runs every step that must run on NAME; a name the pipeline does not
/// declare is a usage error, also when every step would be reused (the memo's no-op does
/// not vouch for it).
#[test]
fn compute_names_a_declared_target() {
    let p = crate::chain();
    p.write(
        "pipeline.toml",
        &format!("{}\n[compute.other]\nkind = \"local\"\nmax_nodes = 1\n", crate::CHAIN_TOML),
    );
    p.build(&["--compute", "other"]).assert_code(0);
    p.build(&[]).assert_code(0).assert_steps(crate::ALL_REUSED);
    let root = p.root().display().to_string();
    let run = p.run(&["build", &root, "--compute", "othr"]);
    run.assert_code(2);
    assert!(
        run.stderr.contains("no compute target named `othr` (did you mean `other`?)"),
        "{}",
        run.transcript()
    );
}
