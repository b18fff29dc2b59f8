//! Code lens wording: reuse, will run (with reasons), never run, after upstream.

use expect_test::expect;

use super::{DIGITS, load};
use crate::{PlanView, StepState};

#[test]
fn titles() {
    let states = [
        StepState::Reuse { run_id: 7, age_secs: Some(7300) },
        StepState::Reuse { run_id: 3, age_secs: None },
        StepState::Run(vec!["params.C 1.0 → 0.5".into(), "script train.py changed".into()]),
        StepState::NeverRun,
        StepState::AfterUpstream("prepare".into()),
        StepState::Blocked("the step has errors".into()),
    ];
    let got: Vec<String> = states.iter().map(StepState::title).collect();
    expect![[r#"
        reuse: run 7 (2 h ago)
        reuse: run 3
        will run: params.C 1.0 → 0.5, script train.py changed
        never run
        will run after upstream prepare
        blocked: the step has errors"#]]
    .assert_eq(&got.join("\n"));
}

#[test]
fn two_lenses_per_step() {
    let fx = load(DIGITS);
    let mut plan = PlanView::new();
    plan.insert("prepare".into(), StepState::Reuse { run_id: 2, age_secs: Some(30) });
    plan.insert("train".into(), StepState::AfterUpstream("prepare".into()));
    let lenses = crate::code_lenses(&fx.db, fx.file, Some(&plan));
    let got: Vec<String> = lenses
        .iter()
        .map(|l| format!("{} {} {:?}", &fx.text()[l.span.range()], l.title, l.build_step))
        .collect();
    expect![[r#"
        prepare reuse: run 2 (just now) None
        prepare ▶ build step Some("prepare")
        train will run after upstream prepare None
        train ▶ build step Some("train")"#]]
    .assert_eq(&got.join("\n"));
}

#[test]
fn a_step_on_another_target_says_where() {
    let fx = load(
        r#"
[compute.cluster]
kind = "slurm"
workdir = "/srv/runner"

[steps.train]
command = ["true"]
compute = "cluster"

[steps.here]
command = ["true"]
"#,
    );
    let mut plan = PlanView::new();
    plan.insert("train".into(), StepState::NeverRun);
    plan.insert("here".into(), StepState::NeverRun);
    let lenses = crate::code_lenses(&fx.db, fx.file, Some(&plan));
    let got: Vec<&str> = lenses.iter().map(|l| l.title.as_str()).collect();
    expect![[r#"
        never run · on cluster (slurm)
        ▶ build step
        never run
        ▶ build step"#]]
    .assert_eq(&got.join("\n"));
}
