//! Tests of key records, dirty reasons and decisions.

use std::collections::BTreeMap;

use expect_test::expect;
use hir::{Digest, StepKeyFields, UpstreamInput};

use crate::{Decision, DirtyReason, KeyRecord, Lookup, Policy, decide, dirty_reasons};

fn d(s: &str) -> Digest {
    Digest::of_bytes(s.as_bytes())
}

fn fields() -> StepKeyFields {
    StepKeyFields {
        schema: 1,
        script: Some(("train.py".into(), d("script"))),
        modules: vec![("common/features.py".into(), d("features"))],
        sources: vec![("train.py".into(), d("script bytes"))],
        command: None,
        hash_paths: vec![("common".into(), d("common"))],
        arguments: vec!["--c".into(), "1.0".into(), "${inputs.data}".into()],
        params: vec![("C".into(), "1.0".into())],
        data_inputs: vec![("raw".into(), "digits".into(), d("data"))],
        upstream_inputs: vec![UpstreamInput {
            input: "data".into(),
            step: "prepare".into(),
            output: "split".into(),
        }],
        environment: Some(("sklearn".into(), d("env"))),
        env_vars: vec![],
    }
}

fn record(f: &StepKeyFields, upstream: &str) -> KeyRecord {
    KeyRecord::new(f, |_, _| Some(d(upstream))).unwrap()
}

fn reasons(old: &KeyRecord, new: &KeyRecord) -> Vec<String> {
    dirty_reasons(old, new).iter().map(ToString::to_string).collect()
}

#[test]
fn each_field_has_its_reason() {
    let base = record(&fields(), "split-v1");
    assert!(reasons(&base, &base).is_empty());

    let mut f = fields();
    f.script = Some(("train.py".into(), d("script v2")));
    f.params = vec![("C".into(), "0.5".into())];
    f.arguments[1] = "0.5".into();
    f.hash_paths[0].1 = d("common v2");
    let new = record(&f, "split-v2");
    expect![[r#"
        [
            "script train.py changed",
            "hash_paths common changed",
            "params.C 1.0 → 0.5",
            "input data changed: upstream prepare produced new output",
        ]
    "#]]
    .assert_debug_eq(&reasons(&base, &new));

    let mut f = fields();
    f.data_inputs[0].2 = d("data v2");
    f.environment = Some(("sklearn".into(), d("env v2")));
    expect![[r#"
        [
            "data.digits changed (input raw)",
            "environment changed",
        ]
    "#]]
    .assert_debug_eq(&reasons(&base, &record(&f, "split-v1")));
}

#[test]
fn key_depends_on_upstream_content_not_on_who_ran() {
    let a = record(&fields(), "same bytes");
    let b = record(&fields(), "same bytes");
    assert_eq!(a.digest(), b.digest());
    assert_ne!(a.digest(), record(&fields(), "other bytes").digest());
    assert_eq!(KeyRecord::from_json(&a.to_json()), Some(a));
    assert_eq!(KeyRecord::new(&fields(), |_, _| None), Err("prepare".to_owned()));
}

#[test]
fn decisions() {
    let cur = record(&fields(), "x");
    let hit = Lookup::Hit {
        run_id: 3,
        outputs: BTreeMap::new(),
        sources: cur.sources.clone(),
        reads: vec![],
    };
    assert_eq!(
        decide(true, Policy::default(), &cur, hit.clone(), None),
        Decision::Reuse { run_id: 3, outputs: BTreeMap::new(), cosmetic: vec![], reads: vec![] }
    );
    assert_eq!(
        decide(false, Policy::default(), &cur, hit.clone(), None),
        Decision::Run(vec![DirtyReason::ReuseDisabled])
    );
    assert_eq!(
        decide(true, Policy { regenerate: true }, &cur, hit, None),
        Decision::Run(vec![DirtyReason::Regenerate])
    );
    assert_eq!(
        decide(true, Policy::default(), &cur, Lookup::Miss, None),
        Decision::Run(vec![DirtyReason::NoPreviousRun])
    );
    assert_eq!(
        decide(true, Policy::default(), &cur, Lookup::Miss, Some(&cur)),
        Decision::Run(vec![DirtyReason::NotInCache])
    );
    let broken = Lookup::Broken { output: "model".into(), detail: "blob 1234 is missing".into() };
    assert_eq!(
        decide(true, Policy::default(), &cur, broken, Some(&cur)).clone(),
        Decision::Run(vec![DirtyReason::CachedOutputUnusable {
            output: "model".into(),
            detail: "blob 1234 is missing".into()
        }])
    );
}

#[test]
fn helper_modules_have_their_reasons() {
    let base = record(&fields(), "x");
    let mut f = fields();
    f.modules[0].1 = d("features v2");
    f.modules.push(("common/new.py".into(), d("new")));
    expect![[r#"
        [
            "helper module common/features.py changed",
            "helper module common/new.py is now imported",
        ]
    "#]]
    .assert_debug_eq(&reasons(&base, &record(&f, "x")));
    let mut f = fields();
    f.modules.clear();
    expect![[r#"
        [
            "helper module common/features.py no longer imported",
        ]
    "#]]
    .assert_debug_eq(&reasons(&base, &record(&f, "x")));
}

#[test]
fn sources_are_kept_beside_the_key_not_in_it() {
    let base = record(&fields(), "x");
    let mut f = fields();
    f.sources = vec![("train.py".into(), d("script bytes with a comment"))];
    let commented = record(&f, "x");
    assert_eq!(base.digest(), commented.digest());
    assert_eq!(KeyRecord::from_json(&commented.to_json()), Some(commented.clone()));
    let hit = Lookup::Hit {
        run_id: 3,
        outputs: BTreeMap::new(),
        sources: base.sources.clone(),
        reads: vec![],
    };
    let Decision::Reuse { cosmetic, .. } = decide(true, Policy::default(), &commented, hit, None)
    else {
        panic!("a hit is reused")
    };
    assert_eq!(crate::reuse_note(&cosmetic, &[]).unwrap(), "script changed only in comments");
    // A result from before sources were kept says nothing.
    assert!(crate::cosmetic_changes(&[], &commented).is_empty());
}

#[test]
fn a_result_whose_undeclared_read_changed_reruns_and_one_that_did_not_says_so() {
    let cur = record(&fields(), "x");
    let changed = Lookup::ReadChanged { path: "src/config.txt".into() };
    assert_eq!(
        reasons_of(decide(true, Policy::default(), &cur, changed, Some(&cur))),
        ["src/config.txt changed, which the step read outside its key"]
    );
    let hit = Lookup::Hit {
        run_id: 3,
        outputs: BTreeMap::new(),
        sources: vec![],
        reads: vec!["src/config.txt".into()],
    };
    let Decision::Reuse { cosmetic, reads, .. } = decide(true, Policy::default(), &cur, hit, None)
    else {
        panic!("an unchanged read is reused")
    };
    assert_eq!(
        crate::reuse_note(&cosmetic, &reads).unwrap(),
        "read src/config.txt outside its key when it ran"
    );
}

fn reasons_of(d: Decision) -> Vec<String> {
    match d {
        Decision::Run(r) => r.iter().map(ToString::to_string).collect(),
        Decision::Reuse { .. } => panic!("reused"),
    }
}
