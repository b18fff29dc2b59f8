//! Building one submission, on a blocking thread: lay out the published pipeline's
//! snapshot (once per published pipeline), load it with the submission's parameters in the
//! project's own state folder, check it, and build it through the engine, reporting to the
//! queue's live view. The submission moves `Queued` → `NotStarted` → `Running` → `Finished`,
//! `Failed` or `Canceled`; each move is conditional, so a cancellation is never overwritten.

use std::path::Path;
use std::sync::Arc;

use anyhow::Context as _;
use driver::Project;
use engine::{BuildOptions, Event, Sink};
use exec::CancelToken;
use history::{RunStatus, SubmissionStatus};

use crate::app::{App, now_ms};
use crate::queue::{Live, Update};

use SubmissionStatus::{Canceled, Failed, Finished, NotStarted, Queued, Running};

/// Builds submission `id` on `rt` (see the module docs). Returns when it is recorded.
pub(crate) fn execute(app: &Arc<App>, rt: &tokio::runtime::Runtime, id: &str) {
    let cancel = CancelToken::new();
    app.queue.live().insert(
        id.to_owned(),
        Live { cancel: cancel.clone(), run_id: None, steps: Default::default() },
    );
    let started = app.db().move_submission(id, &[Queued], NotStarted, None, None, now_ms());
    if !matches!(started, Ok(true)) {
        // Cancelled while queued (or gone): nothing to do.
        app.queue.live().remove(id);
        return;
    }
    let outcome = build(app, rt, id, &cancel);
    let (status, message) = match outcome {
        Ok(RunStatus::Succeeded) => (Finished, None),
        Ok(RunStatus::Interrupted) if cancel.is_cancelled() => {
            let why =
                if app.queue.taking() { "cancelled" } else { "cancelled: the server stopped" };
            (Canceled, Some(why.to_owned()))
        }
        Ok(RunStatus::Interrupted) => (Failed, Some("interrupted".to_owned())),
        Ok(_) => (Failed, Some("a step failed (see the run's steps)".to_owned())),
        Err(e) => (Failed, Some(engine::error_text(&e))),
    };
    let _ = app.db().move_submission(
        id,
        &[NotStarted, Running],
        status,
        None,
        message.as_deref(),
        now_ms(),
    );
    let live = app.queue.live().remove(id);
    if let Some(run_id) = live.and_then(|l| l.run_id) {
        app.queue.publish(Update { run_id, step: None, status: status.as_str().to_owned() });
    }
}

/// Lays out, loads, checks and builds submission `id`; its run's status.
fn build(
    app: &Arc<App>,
    rt: &tokio::runtime::Runtime,
    id: &str,
    cancel: &CancelToken,
) -> anyhow::Result<RunStatus> {
    let (submission, published) = {
        let db = app.db();
        let s = db.submission(id)?.context("the submission vanished from history")?;
        let p = db
            .published_one(&s.published_id)?
            .with_context(|| format!("published pipeline {} vanished", s.published_id))?;
        (s, p)
    };
    let tree = app.tree_of(&published.id);
    lay_out(app, &published, &tree)?;
    let file = tree.join(&app.pipeline_file);
    let mut project =
        Project::load(&file, submission.params.clone())?.with_state_dir(app.state.clone());
    project.refresh_fs()?;
    let errors: Vec<String> = project
        .problems()
        .into_iter()
        .filter(|d| d.severity() == hir::Severity::Error)
        .map(|d| d.message.clone())
        .collect();
    if let Some(first) = errors.first() {
        anyhow::bail!("the published pipeline has {} error(s) here: {first}", errors.len());
    }
    let param_errors = &hir::param_values(&project.db, project.file).errors;
    if let Some(first) = param_errors.first() {
        anyhow::bail!("{first}");
    }
    let cache = engine::open_cache(&project)?;
    let opts = BuildOptions {
        experiment: Some(submission.experiment.clone()),
        supervise: true,
        ..BuildOptions::default()
    };
    let sink = Arc::new(Reporter { app: app.clone(), id: id.to_owned() });
    let summary = engine::run_build(&project, &cache, None, &opts, rt, cancel, sink)?;
    Ok(summary.status)
}

/// Lays out `published`'s snapshot in `tree` unless it is there: from the project's CAS,
/// into a temporary sibling renamed into place (two builds of it at once: one rename wins,
/// both use it). The pipeline file is the published text.
fn lay_out(app: &App, published: &history::Published, tree: &Path) -> anyhow::Result<()> {
    if tree.join(&app.pipeline_file).is_file() {
        return Ok(());
    }
    let cache = cache::Cache::open(&app.state.join("cache")).context("opening the cache")?;
    let digest: base::Digest = published
        .snapshot
        .parse()
        .map_err(|_| anyhow::anyhow!("the snapshot's digest is corrupt"))?;
    let manifest = cache
        .get_manifest(&digest)?
        .with_context(|| format!("the snapshot of {} is no longer in the cache", published.name))?;
    let parent = tree.parent().context("a tree has a parent")?;
    std::fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
    let tmp = tempfile::Builder::new().prefix(".tree-").tempdir_in(parent)?;
    let staged = tmp.path().join("tree");
    cache.materialize(&manifest, &staged, false).context("laying out the snapshot")?;
    let pipeline = staged.join(&app.pipeline_file);
    let _ = std::fs::remove_file(&pipeline);
    std::fs::write(&pipeline, &published.pipeline)
        .with_context(|| format!("writing {}", pipeline.display()))?;
    match std::fs::rename(&staged, tree) {
        Ok(()) => Ok(()),
        Err(_) if tree.join(&app.pipeline_file).is_file() => Ok(()),
        Err(e) => Err(e).with_context(|| format!("moving the snapshot to {}", tree.display())),
    }
}

/// The build's sink: moves the submission to `Running` with its run, and keeps the live
/// view and its streams up to date.
struct Reporter {
    app: Arc<App>,
    id: String,
}

impl Reporter {
    fn step(&self, step: &str, status: &str) {
        let run_id = {
            let mut live = self.app.queue.live();
            let Some(l) = live.get_mut(&self.id) else { return };
            l.steps.insert(step.to_owned(), status.to_owned());
            l.run_id
        };
        if let Some(run_id) = run_id {
            let update = Update { run_id, step: Some(step.to_owned()), status: status.to_owned() };
            self.app.queue.publish(update);
        }
    }
}

impl Sink for Reporter {
    fn event(&self, event: Event) {
        match event {
            Event::Started { run, .. } => {
                if let Some(l) = self.app.queue.live().get_mut(&self.id) {
                    l.run_id = Some(run);
                }
                let _ = self.app.db().move_submission(
                    &self.id,
                    &[NotStarted],
                    Running,
                    Some(run),
                    None,
                    now_ms(),
                );
                let status = Running.as_str().to_owned();
                self.app.queue.publish(Update { run_id: run, step: None, status });
            }
            Event::Running { step, .. } => self.step(&step, "running"),
            Event::Finished(end) => self.step(&end.step, end.status.as_str()),
            _ => {}
        }
    }
}
