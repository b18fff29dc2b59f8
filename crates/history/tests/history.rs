//! Tests on real SQLite files in temporary folders.

use std::path::{Path, PathBuf};

use history::{Error, GitInfo, History, Metric, NewRun, RunStatus, StepRecord, StepStatus, schema};

fn db() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("history.sqlite");
    (dir, path)
}

fn new_run(experiment: &str, pipeline: &str, started_ms: u64) -> NewRun {
    NewRun {
        experiment: experiment.to_owned(),
        pipeline: pipeline.to_owned(),
        pipeline_path: format!("{pipeline}/pipeline.toml"),
        params: vec![("lr".to_owned(), "0.1".to_owned()), ("epochs".to_owned(), "3".to_owned())],
        git: Some(GitInfo {
            commit: "abc123".to_owned(),
            branch: Some("main".to_owned()),
            dirty: true,
        }),
        started_ms,
        pid: std::process::id(),
    }
}

fn step(run_id: i64, name: &str, status: StepStatus) -> StepRecord {
    StepRecord {
        run_id,
        step: name.to_owned(),
        status,
        key: Some(format!("key-{run_id}-{name}")),
        key_fields: Some(format!(r#"{{"run":{run_id}}}"#)),
        reused_from: (status == StepStatus::Reused).then_some(run_id - 1),
        dirty_reason: (status == StepStatus::Ran).then(|| "script changed".to_owned()),
        exit_code: matches!(status, StepStatus::Ran | StepStatus::Failed)
            .then_some(i32::from(status == StepStatus::Failed)),
        started_ms: Some(1_000),
        duration_ms: Some(250),
        outputs: Some(r#"{"model":"sha256:00"}"#.to_owned()),
        log_dir: Some(format!(".runner/logs/{run_id}/{name}")),
    }
}

#[test]
fn run_lifecycle() {
    let (_dir, path) = db();
    let h = History::open(&path).unwrap();

    let r1 = h.start_run(&new_run("exp-a", "train", 100)).unwrap();
    let r2 = h.start_run(&new_run("exp-b", "train", 200)).unwrap();
    let r3 = h.start_run(&new_run("exp-a", "train", 300)).unwrap();
    assert_eq!((r1, r2, r3), (1, 2, 3));

    let recs = [
        step(r3, "prep", StepStatus::Reused),
        step(r3, "train", StepStatus::Ran),
        step(r3, "eval", StepStatus::Failed),
        step(r3, "report", StepStatus::Skipped),
    ];
    for rec in &recs {
        h.record_step(rec).unwrap();
    }
    assert_eq!(h.steps(r3).unwrap(), recs);

    // Re-recording replaces the record but keeps its position.
    let mut train = recs[1].clone();
    train.duration_ms = Some(999);
    h.record_step(&train).unwrap();
    assert_eq!(h.steps(r3).unwrap()[1], train);
    assert_eq!(h.steps(r3).unwrap().len(), 4);

    let metrics = vec![
        Metric { name: "loss".into(), value: 0.5, index: Some(0) },
        Metric { name: "acc".into(), value: 0.9, index: Some(1) },
    ];
    h.add_metrics(r3, "train", &metrics).unwrap();
    h.add_metrics(r3, "eval", &[Metric { name: "f1".into(), value: 0.7, index: None }]).unwrap();
    let all = h.metrics(r3, None).unwrap();
    assert_eq!(all.len(), 3);
    assert_eq!(all[0], ("train".to_owned(), metrics[0].clone()));
    assert_eq!(all[2].0, "eval");
    let train_only = h.metrics(r3, Some("train")).unwrap();
    assert_eq!(train_only.into_iter().map(|(_, m)| m).collect::<Vec<_>>(), metrics);
    assert!(h.metrics(r1, None).unwrap().is_empty());

    h.finish_run(r3, RunStatus::Failed, 5_000).unwrap();
    h.finish_run(r1, RunStatus::Succeeded, 150).unwrap();

    let runs = h.runs(None, 10).unwrap();
    assert_eq!(runs.iter().map(|r| r.id).collect::<Vec<_>>(), [3, 2, 1]);
    let s3 = &runs[0];
    assert_eq!(s3.experiment, "exp-a");
    assert_eq!(s3.pipeline, "train");
    assert_eq!(s3.pipeline_path, "train/pipeline.toml");
    assert_eq!(s3.status, RunStatus::Failed);
    assert_eq!(s3.params, new_run("x", "y", 0).params);
    assert_eq!(s3.git, new_run("x", "y", 0).git);
    assert_eq!((s3.started_ms, s3.ended_ms), (300, Some(5_000)));
    assert_eq!((s3.steps_ran, s3.steps_reused, s3.steps_failed), (1, 1, 1));
    assert_eq!(runs[1].status, RunStatus::Running);
    assert_eq!(runs[1].ended_ms, None);
    assert_eq!((runs[1].steps_ran, runs[1].steps_reused, runs[1].steps_failed), (0, 0, 0));

    let a = h.runs(Some("exp-a"), 10).unwrap();
    assert_eq!(a.iter().map(|r| r.id).collect::<Vec<_>>(), [3, 1]);
    assert_eq!(h.runs(Some("exp-a"), 1).unwrap().len(), 1);
    assert!(h.runs(Some("nope"), 10).unwrap().is_empty());

    assert_eq!(h.run(r3).unwrap().as_ref(), Some(s3));
    assert_eq!(h.run(42).unwrap(), None);
}

#[test]
fn run_without_git_and_params() {
    let (_dir, path) = db();
    let h = History::open(&path).unwrap();
    let mut run = new_run("e", "p", 7);
    run.git = None;
    run.params.clear();
    let id = h.start_run(&run).unwrap();
    let s = h.run(id).unwrap().unwrap();
    assert_eq!(s.git, None);
    assert!(s.params.is_empty());
}

#[test]
fn unknown_run_is_an_error() {
    let (_dir, path) = db();
    let h = History::open(&path).unwrap();
    assert!(matches!(h.record_step(&step(9, "a", StepStatus::Ran)), Err(Error::NoSuchRun(9))));
    assert!(matches!(h.add_metrics(9, "a", &[]), Err(Error::NoSuchRun(9))));
    assert!(matches!(h.finish_run(9, RunStatus::Failed, 1), Err(Error::NoSuchRun(9))));
    let msg = h.finish_run(9, RunStatus::Failed, 1).unwrap_err().to_string();
    assert_eq!(msg, "run 9 does not exist in the history database");
}

#[test]
fn steps_and_their_metrics_are_recorded_together() {
    let (_dir, path) = db();
    let h = History::open(&path).unwrap();
    let id = h.start_run(&new_run("e", "p", 1)).unwrap();
    let (a, b) = (step(id, "a", StepStatus::Ran), step(id, "b", StepStatus::Ran));
    let m = [Metric { name: "acc".into(), value: 0.9, index: None }];
    h.record_steps_with_metrics(&[(&a, &m[..]), (&b, &[][..])]).unwrap();
    let names: Vec<String> = h.steps(id).unwrap().into_iter().map(|s| s.step).collect();
    assert_eq!(names, ["a", "b"]);
    let metrics = h.metrics(id, None).unwrap();
    assert_eq!(metrics.len(), 1);
    assert_eq!((metrics[0].0.as_str(), metrics[0].1.value), ("a", 0.9));
    // All or none: a record for a run that does not exist fails the whole batch.
    let c = step(id, "c", StepStatus::Ran);
    let stray = step(id + 100, "d", StepStatus::Ran);
    assert!(h.record_steps_with_metrics(&[(&c, &m[..]), (&stray, &[][..])]).is_err());
    assert_eq!(h.steps(id).unwrap().len(), 2, "c was rolled back");
    assert_eq!(h.metrics(id, None).unwrap().len(), 1);
}

#[test]
fn nan_metric_round_trips() {
    let (_dir, path) = db();
    let h = History::open(&path).unwrap();
    let id = h.start_run(&new_run("e", "p", 1)).unwrap();
    h.add_metrics(id, "s", &[Metric { name: "x".into(), value: f64::NAN, index: Some(0) }])
        .unwrap();
    assert!(h.metrics(id, None).unwrap()[0].1.value.is_nan());
}

#[test]
fn last_success_ignores_failed_and_skipped_and_returns_newest() {
    let (_dir, path) = db();
    let h = History::open(&path).unwrap();
    assert_eq!(h.last_success("train", "fit").unwrap(), None);

    let r1 = h.start_run(&new_run("e", "train", 1)).unwrap();
    h.record_step(&step(r1, "fit", StepStatus::Ran)).unwrap();
    let r2 = h.start_run(&new_run("e", "train", 2)).unwrap();
    h.record_step(&step(r2, "fit", StepStatus::Reused)).unwrap();
    let r3 = h.start_run(&new_run("e", "train", 3)).unwrap();
    h.record_step(&step(r3, "fit", StepStatus::Failed)).unwrap();
    let r4 = h.start_run(&new_run("e", "train", 4)).unwrap();
    h.record_step(&step(r4, "fit", StepStatus::Skipped)).unwrap();
    // Same step name in another pipeline does not count.
    let r5 = h.start_run(&new_run("e", "other", 5)).unwrap();
    h.record_step(&step(r5, "fit", StepStatus::Ran)).unwrap();

    assert_eq!(h.last_success("train", "fit").unwrap(), Some(step(r2, "fit", StepStatus::Reused)));
    assert_eq!(h.last_success("other", "fit").unwrap().unwrap().run_id, r5);
    assert_eq!(h.last_success("train", "nope").unwrap(), None);

    let r6 = h.start_run(&new_run("e", "train", 6)).unwrap();
    h.record_step(&step(r6, "fit", StepStatus::Ran)).unwrap();
    assert_eq!(h.last_success("train", "fit").unwrap().unwrap().run_id, r6);
}

#[test]
fn two_handles_write_concurrently() {
    const N: usize = 200;
    let (_dir, path) = db();
    let setup = History::open(&path).unwrap();
    let run_a = setup.start_run(&new_run("e", "p", 1)).unwrap();
    let run_b = setup.start_run(&new_run("e", "p", 2)).unwrap();

    let writer = |path: PathBuf, run_id: i64, prefix: &'static str| {
        std::thread::spawn(move || {
            // Each thread opens its own handle, as a second process would.
            let h = History::open(&path).unwrap();
            for i in 0..N {
                let mut rec = step(run_id, &format!("{prefix}-{i}"), StepStatus::Ran);
                rec.run_id = run_id;
                h.record_step(&rec).unwrap();
                if i % 10 == 0 {
                    let m = Metric { name: "i".into(), value: i as f64, index: Some(i as i64) };
                    h.add_metrics(run_id, &rec.step, &[m]).unwrap();
                    // Readers interleave with the other thread's writes too.
                    h.runs(None, 5).unwrap();
                }
            }
            h.finish_run(run_id, RunStatus::Succeeded, 10).unwrap();
        })
    };
    let ta = writer(path.clone(), run_a, "a");
    let tb = writer(path.clone(), run_b, "b");
    ta.join().unwrap();
    tb.join().unwrap();

    let h = History::open(&path).unwrap();
    for (run_id, prefix) in [(run_a, "a"), (run_b, "b")] {
        let steps = h.steps(run_id).unwrap();
        assert_eq!(steps.len(), N);
        let names: Vec<String> = steps.into_iter().map(|s| s.step).collect();
        let expected: Vec<String> = (0..N).map(|i| format!("{prefix}-{i}")).collect();
        assert_eq!(names, expected);
        assert_eq!(h.metrics(run_id, None).unwrap().len(), N / 10);
        let s = h.run(run_id).unwrap().unwrap();
        assert_eq!((s.status, s.steps_ran), (RunStatus::Succeeded, N as u32));
    }
}

#[test]
fn two_handles_open_a_new_file_concurrently() {
    let (_dir, path) = db();
    let threads: Vec<_> = (0..4)
        .map(|i| {
            let path = path.clone();
            std::thread::spawn(move || {
                let h = History::open(&path).unwrap();
                h.start_run(&new_run("e", "p", i)).unwrap()
            })
        })
        .collect();
    let mut ids: Vec<i64> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    ids.sort();
    assert_eq!(ids, [1, 2, 3, 4]);
}

#[test]
fn reap_stale_marks_dead_pids_only() {
    let (_dir, path) = db();
    let h = History::open(&path).unwrap();

    let mut child = std::process::Command::new("true").spawn().unwrap();
    let dead_pid = child.id();
    child.wait().unwrap();

    let mut dead = new_run("e", "p", 1);
    dead.pid = dead_pid;
    let dead_id = h.start_run(&dead).unwrap();
    let live_id = h.start_run(&new_run("e", "p", 2)).unwrap();
    let mut finished = new_run("e", "p", 3);
    finished.pid = dead_pid;
    let finished_id = h.start_run(&finished).unwrap();
    h.finish_run(finished_id, RunStatus::Succeeded, 4).unwrap();

    assert_eq!(h.reap_stale().unwrap(), vec![dead_id]);
    assert_eq!(h.run(dead_id).unwrap().unwrap().status, RunStatus::Interrupted);
    assert_eq!(h.run(live_id).unwrap().unwrap().status, RunStatus::Running);
    assert_eq!(h.run(finished_id).unwrap().unwrap().status, RunStatus::Succeeded);
    assert_eq!(h.reap_stale().unwrap(), Vec::<i64>::new());
}

/// Reads `PRAGMA user_version` through a fresh handle's connection.
fn user_version(path: &Path) -> i64 {
    let h = History::open(path).unwrap();
    h.connection().query_row("PRAGMA user_version", [], |r| r.get(0)).unwrap()
}

#[test]
fn reopening_keeps_data_and_migration_is_idempotent() {
    let (_dir, path) = db();
    let id = {
        let h = History::open(&path).unwrap();
        let id = h.start_run(&new_run("e", "p", 1)).unwrap();
        h.record_step(&step(id, "s", StepStatus::Ran)).unwrap();
        h.add_metrics(id, "s", &[Metric { name: "m".into(), value: 1.0, index: Some(0) }]).unwrap();
        h.finish_run(id, RunStatus::Succeeded, 2).unwrap();
        id
    };
    for _ in 0..3 {
        let h = History::open(&path).unwrap();
        let s = h.run(id).unwrap().unwrap();
        assert_eq!((s.status, s.steps_ran), (RunStatus::Succeeded, 1));
        assert_eq!(h.steps(id).unwrap(), [step(id, "s", StepStatus::Ran)]);
        assert_eq!(h.metrics(id, Some("s")).unwrap().len(), 1);
    }
    assert_eq!(user_version(&path), schema::SCHEMA_VERSION);
    // Ids keep counting after reopen.
    let h = History::open(&path).unwrap();
    assert_eq!(h.start_run(&new_run("e", "p", 3)).unwrap(), id + 1);
    let mode: String = h.connection().query_row("PRAGMA journal_mode", [], |r| r.get(0)).unwrap();
    assert_eq!(mode, "wal");
}

#[test]
fn newer_schema_is_refused() {
    let (_dir, path) = db();
    {
        let h = History::open(&path).unwrap();
        h.connection().pragma_update(None, "user_version", schema::SCHEMA_VERSION + 1).unwrap();
    }
    let err = History::open(&path).err().unwrap();
    assert!(matches!(err, Error::SchemaTooNew { .. }), "{err}");
}

#[test]
fn status_strings_round_trip() {
    for s in [RunStatus::Running, RunStatus::Succeeded, RunStatus::Failed, RunStatus::Interrupted] {
        assert_eq!(s.as_str().parse::<RunStatus>().unwrap(), s);
        assert_eq!(serde_json::to_string(&s).unwrap(), format!("\"{s}\""));
    }
    for s in [
        StepStatus::Ran,
        StepStatus::Reused,
        StepStatus::Failed,
        StepStatus::Skipped,
        StepStatus::Interrupted,
    ] {
        assert_eq!(s.as_str().parse::<StepStatus>().unwrap(), s);
        assert_eq!(serde_json::to_string(&s).unwrap(), format!("\"{s}\""));
    }
    let err = "done".parse::<RunStatus>().unwrap_err();
    assert_eq!(err.to_string(), "unknown run status `done`");
}

#[test]
fn a_finished_run_is_recorded_at_once_and_reused_records_are_filled_in() {
    let (_dir, path) = db();
    let h = History::open(&path).unwrap();
    let r1 = h.start_run(&new_run("e", "p", 100)).unwrap();
    h.record_step(&step(r1, "train", StepStatus::Ran)).unwrap();
    h.finish_run(r1, RunStatus::Succeeded, 150).unwrap();

    // What a no-op build records: only the step, its status and the run it reused.
    let bare =
        StepRecord { reused_from: Some(r1), ..StepRecord::bare(0, "train", StepStatus::Reused) };
    assert_eq!((bare.key.as_deref(), bare.outputs.as_deref(), bare.started_ms), (None, None, None));
    let r2 = h
        .record_finished_run(
            &new_run("e", "p", 200),
            std::slice::from_ref(&bare),
            RunStatus::Succeeded,
            210,
        )
        .unwrap();
    assert_eq!(r2, r1 + 1);
    let run = h.run(r2).unwrap().unwrap();
    assert_eq!((run.status, run.ended_ms, run.steps_reused), (RunStatus::Succeeded, Some(210), 1));
    let mut got = h.steps(r2).unwrap();
    assert_eq!(got, vec![StepRecord { run_id: r2, ..bare.clone() }]);

    let source = step(r1, "train", StepStatus::Ran);
    h.fill_reused(&mut got[0]).unwrap();
    assert_eq!(got[0].key, source.key);
    assert_eq!(got[0].key_fields, source.key_fields);
    assert_eq!(got[0].outputs, source.outputs);
    // The last success is the reused record, with the fields of the run it reused.
    let last = h.last_success("p", "train").unwrap().unwrap();
    assert_eq!((last.run_id, last.key_fields), (r2, source.key_fields));

    // Many bare records keep their order; records with more fields take the general path.
    let named = |n: &str| StepRecord { step: n.into(), ..bare.clone() };
    let recs = [named("c"), named("a"), named("b")];
    let r3 =
        h.record_finished_run(&new_run("e", "p", 300), &recs, RunStatus::Succeeded, 310).unwrap();
    let order: Vec<String> = h.steps(r3).unwrap().into_iter().map(|r| r.step).collect();
    assert_eq!(order, ["c", "a", "b"]);
    let full = [step(0, "x", StepStatus::Ran), named("y")];
    let r4 = h.record_finished_run(&new_run("e", "p", 400), &full, RunStatus::Failed, 410).unwrap();
    let got = h.steps(r4).unwrap();
    assert_eq!(got[0], StepRecord { run_id: r4, ..full[0].clone() });
    assert_eq!(got[1], StepRecord { run_id: r4, ..full[1].clone() });
    assert_eq!(h.run(r4).unwrap().unwrap().status, RunStatus::Failed);
}

#[test]
fn a_repeat_run_reads_as_its_base_run_reused_and_is_refused_when_the_claim_fails() {
    let (_dir, path) = db();
    let h = History::open(&path).unwrap();
    let r1 = h.start_run(&new_run("e", "p", 100)).unwrap();
    h.record_step(&step(r1, "prep", StepStatus::Ran)).unwrap();
    h.finish_run(r1, RunStatus::Succeeded, 150).unwrap();
    // Run 2 ran train and reused prep from run 1: the build that writes the memo.
    let r2 = h.start_run(&new_run("e", "p", 200)).unwrap();
    h.record_steps(&[step(r2, "prep", StepStatus::Reused), step(r2, "train", StepStatus::Ran)])
        .unwrap();
    h.finish_run(r2, RunStatus::Succeeded, 250).unwrap();

    let r3 = h.record_repeat_run(&new_run("e", "p", 300), r2, 2, &[], 310).unwrap().unwrap();
    let got: Vec<(String, StepStatus, Option<i64>)> =
        h.steps(r3).unwrap().into_iter().map(|s| (s.step, s.status, s.reused_from)).collect();
    let reused = StepStatus::Reused;
    assert_eq!(got, [("prep".into(), reused, Some(r1)), ("train".into(), reused, Some(r2))]);
    let one = h.step(r3, "train").unwrap().unwrap();
    assert_eq!((one.run_id, one.status, one.reused_from, one.key), (r3, reused, Some(r2), None));
    assert_eq!(h.step(r3, "nope").unwrap(), None);
    let summary = h.run(r3).unwrap().unwrap();
    assert_eq!(
        (summary.status, summary.steps_ran, summary.steps_reused, summary.steps_failed),
        (RunStatus::Succeeded, 0, 2, 0)
    );
    assert_eq!(h.runs(None, 1).unwrap()[0].steps_reused, 2);
    // The last success of train is the repeat, with the key fields of the run that ran it.
    let last = h.last_success("p", "train").unwrap().unwrap();
    assert_eq!((last.run_id, last.key_fields), (r3, step(r2, "train", StepStatus::Ran).key_fields));

    // Every claim that does not hold is refused, and nothing is written for it.
    let refused = |base, steps, pipeline| {
        h.record_repeat_run(&new_run("e", pipeline, 400), base, steps, &[], 410).unwrap()
    };
    assert_eq!(refused(r2, 3, "p"), None, "another number of steps");
    assert_eq!(refused(r2, 2, "q"), None, "another pipeline");
    assert_eq!(refused(r3, 2, "p"), None, "a repeat of a repeat");
    assert_eq!(refused(99, 0, "p"), None, "no such run");
    let elsewhere = StepRecord { reused_from: Some(r1), ..step(0, "nope", StepStatus::Reused) };
    let made = h.record_repeat_run(&new_run("e", "p", 450), r2, 2, &[elsewhere], 460).unwrap();
    assert_eq!(made, None, "an own record of a step the base does not have");
    assert_eq!(h.runs(None, 10).unwrap().len(), 3, "the refused claims wrote nothing");

    // An edit under the memo: train reused from another run (run 1 here), prep as in run 2.
    let edited = StepRecord { reused_from: Some(r1), ..step(0, "train", StepStatus::Reused) };
    let r3b = h
        .record_repeat_run(&new_run("e", "p", 470), r2, 2, std::slice::from_ref(&edited), 480)
        .unwrap()
        .unwrap();
    let got: Vec<(String, StepStatus, Option<i64>)> =
        h.steps(r3b).unwrap().into_iter().map(|s| (s.step, s.status, s.reused_from)).collect();
    assert_eq!(got, [("prep".into(), reused, Some(r1)), ("train".into(), reused, Some(r1))]);
    assert_eq!(h.step(r3b, "train").unwrap().unwrap(), StepRecord { run_id: r3b, ..edited });
    assert_eq!(h.step(r3b, "prep").unwrap().unwrap().reused_from, Some(r1));
    let summary = h.run(r3b).unwrap().unwrap();
    assert_eq!((summary.steps_ran, summary.steps_reused, summary.steps_failed), (0, 2, 0));

    let r4 = h.start_run(&new_run("e", "p", 500)).unwrap();
    h.record_step(&step(r4, "prep", StepStatus::Failed)).unwrap();
    h.finish_run(r4, RunStatus::Failed, 510).unwrap();
    assert_eq!(refused(r4, 1, "p"), None, "a failed run");
    let r5 = h.start_run(&new_run("e", "p", 600)).unwrap();
    h.record_step(&step(r5, "prep", StepStatus::Failed)).unwrap();
    h.finish_run(r5, RunStatus::Succeeded, 610).unwrap();
    assert_eq!(refused(r5, 1, "p"), None, "a step neither ran nor reused");
    assert_eq!(h.runs(None, 10).unwrap().len(), 6, "the refused claims wrote nothing");
}

#[test]
fn a_repeat_run_keeps_its_parameters_by_reference_only_when_they_are_its_base_runs() {
    let (_dir, path) = db();
    let h = History::open(&path).unwrap();
    let r1 = h.start_run(&new_run("e", "p", 100)).unwrap();
    h.record_step(&step(r1, "prep", StepStatus::Ran)).unwrap();
    h.finish_run(r1, RunStatus::Succeeded, 150).unwrap();
    let stored = |id: i64| -> String {
        let sql = "SELECT params FROM runs WHERE id = ?1";
        h.connection().query_row(sql, [id], |r| r.get(0)).unwrap()
    };

    let same = h.record_repeat_run(&new_run("e", "p", 200), r1, 1, &[], 210).unwrap().unwrap();
    assert_eq!(stored(same), "", "the same values are not copied");
    assert_eq!(h.run(same).unwrap().unwrap().params, new_run("e", "p", 0).params);

    let mut other = new_run("e", "p", 300);
    other.params[0].1 = "0.2".to_owned();
    let differs = h.record_repeat_run(&other, r1, 1, &[], 310).unwrap().unwrap();
    assert_eq!(stored(differs), r#"[["lr","0.2"],["epochs","3"]]"#);
    let listed = h.runs(None, 10).unwrap();
    let params_of = |id| listed.iter().find(|r| r.id == id).unwrap().params.clone();
    assert_eq!(params_of(differs), other.params);
    assert_eq!(params_of(same), params_of(r1));
}

#[test]
fn published_pipelines_and_tokens() {
    let (_dir, path) = db();
    let h = History::open(&path).unwrap();
    let p = history::NewPublished {
        id: "id-1".into(),
        name: "train".into(),
        version: "1.0".into(),
        description: Some("trains".into()),
        pipeline: "[steps.a]\n".into(),
        snapshot: "ab".repeat(32),
        params: vec![("C".into(), "1.0".into())],
        git_commit: None,
        created_ms: 5,
    };
    h.publish(&p).unwrap();
    let again = h.publish(&history::NewPublished { id: "id-2".into(), ..p.clone() });
    assert!(matches!(again, Err(history::Error::AlreadyPublished { id, .. }) if id == "id-1"));
    assert!(h.set_published_enabled("id-1", false).unwrap());
    assert!(h.published(false).unwrap().is_empty());
    let all = h.published(true).unwrap();
    assert_eq!((all.len(), all[0].enabled, all[0].params.clone()), (1, false, p.params.clone()));
    assert!(!h.set_published_enabled("nope", true).unwrap());
    h.create_token("ci", "hash-1", 1).unwrap();
    assert!(matches!(h.create_token("ci", "hash-2", 2), Err(history::Error::TokenExists(_))));
    assert_eq!(h.token_by_hash("hash-1").unwrap().as_deref(), Some("ci"));
    assert!(h.revoke_token("ci", 3).unwrap());
    assert_eq!(h.token_by_hash("hash-1").unwrap(), None, "a revoked token is refused");
    assert!(!h.revoke_token("ci", 4).unwrap());
    h.create_token("ci", "hash-2", 5).unwrap();
    assert_eq!(h.token_by_hash("hash-2").unwrap().as_deref(), Some("ci"));
}
