//! The compute-target seam: a target the engine has never seen, brought by the caller for
//! one compute name, runs that name's steps; the engine prepares the job, stores what the
//! target left in the output folders (hashing it like any step's outputs), feeds it
//! downstream to a step that runs locally, and reuses it next time without calling the
//! target. Nothing in the engine changes to add a target: this file is the whole of it.

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use engine::{BuildOptions, Event, Recorder, Targets};
use exec::{CancelToken, ComputeTarget, Finished, Job, JobFuture, Outcome};
use history::{RunStatus, StepStatus};

/// A target that runs nothing: it writes each job's step name into its output folders.
#[derive(Default)]
struct Writer {
    jobs: Mutex<Vec<(String, usize)>>,
}

impl ComputeTarget for Writer {
    fn describe(&self) -> String {
        "writer".to_owned()
    }

    fn run(&self, job: Job, _cancel: CancelToken) -> JobFuture<'_> {
        Box::pin(async move {
            let now = SystemTime::now();
            for dir in &job.outputs {
                std::fs::write(
                    dir.join("out.txt"),
                    format!("written by writer for {}\n", job.step),
                )
                .unwrap();
            }
            self.jobs.lock().unwrap().push((job.step.clone(), job.reads.len()));
            Finished { outcome: Outcome::Exited(0), elapsed: Duration::ZERO, window: (now, now) }
        })
    }
}

const PIPELINE: &str = r#"
[compute.elsewhere]
kind = "local"

[steps.remote]
command = ["false", "${outputs.o}"]
outputs = ["o"]
compute = "elsewhere"

[steps.here]
command = ["sh", "-c", "cat \"$0/out.txt\" > \"$1/copy.txt\"", "${inputs.r}", "${outputs.o}"]
inputs = { r = "steps.remote.outputs.o" }
outputs = ["o"]
"#;

fn build(dir: &std::path::Path, writer: &Arc<Writer>) -> (engine::BuildSummary, Vec<Event>) {
    let mut project = driver::Project::load(dir, Vec::new()).unwrap();
    project.refresh_fs().unwrap();
    assert!(project.problems().is_empty(), "{:?}", project.problems());
    let opts = BuildOptions {
        supervise: false,
        targets: Targets::default().with("elsewhere", writer.clone()),
        ..BuildOptions::default()
    };
    let rt = engine::runtime().unwrap();
    let cache = engine::open_cache(&project).unwrap();
    let sink = Arc::new(Recorder::default());
    let summary =
        engine::run_build(&project, &cache, None, &opts, &rt, &CancelToken::new(), sink.clone())
            .unwrap();
    (summary, sink.events())
}

fn status(summary: &engine::BuildSummary, step: &str) -> StepStatus {
    summary.outcomes.iter().find(|o| o.step == step).unwrap().status
}

#[test]
fn a_target_brought_by_the_caller_runs_its_steps() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("pipeline.toml"), PIPELINE).unwrap();
    let writer = Arc::new(Writer::default());

    let (summary, events) = build(dir.path(), &writer);
    assert_eq!(summary.status, RunStatus::Succeeded);
    assert_eq!(status(&summary, "remote"), StepStatus::Ran);
    assert_eq!(status(&summary, "here"), StepStatus::Ran);
    // The target got the job (its snapshot among what it reads); `false` never ran.
    assert_eq!(*writer.jobs.lock().unwrap(), [("remote".to_owned(), 1)]);
    let copy = dir.path().join(".runner/outputs/here.o/copy.txt");
    assert_eq!(std::fs::read_to_string(copy).unwrap(), "written by writer for remote\n");
    assert!(events.iter().any(|e| matches!(e, Event::Running { step, .. } if step == "remote")));

    // The summary holds the views lock until it goes (see `BuildSummary::views`).
    drop(summary);
    // Reuse does not depend on where a step ran: the target is not called again.
    let (summary, _) = build(dir.path(), &writer);
    assert_eq!(status(&summary, "remote"), StepStatus::Reused);
    assert_eq!(status(&summary, "here"), StepStatus::Reused);
    assert_eq!(writer.jobs.lock().unwrap().len(), 1);
}

#[test]
fn an_unknown_step_is_a_typed_error_naming_the_closest() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("pipeline.toml"), PIPELINE).unwrap();
    let mut project = driver::Project::load(dir.path(), Vec::new()).unwrap();
    project.refresh_fs().unwrap();
    let opts = BuildOptions { wanted: vec!["remot".to_owned()], ..BuildOptions::default() };
    let rt = engine::runtime().unwrap();
    let cache = engine::open_cache(&project).unwrap();
    let quiet = Arc::new(engine::Quiet);
    let Err(err) =
        engine::run_build(&project, &cache, None, &opts, &rt, &CancelToken::new(), quiet)
    else {
        panic!("built an unknown step");
    };
    match &err {
        engine::Error::UnknownStep { name, closest } => {
            assert_eq!((name.as_str(), closest.as_deref()), ("remot", Some("remote")));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(err.to_string(), "no step named `remot` (did you mean `remote`?)");
}
