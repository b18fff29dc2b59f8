//! The no-op fast path of `runner build`, and writing the memo it reads (see `driver::memo`).
//!
//! [`try_noop`] runs before the pipeline is loaded: when `.runner/buildmemo` holds for what
//! was asked, it records a run that reuses every step from the recorded runs and prints it,
//! as a normal build would (same lines, same JSON document, `"planner": "memo"`), having
//! read the pipeline's bytes, the memo, the stat cache and a few stats per step. Otherwise
//! the build goes the normal way, and [`write_memo`] records the memo when it ends well.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::time::Instant;

use anyhow::Context as _;
use cache::{Cache, StatCache};
use driver::Project;
use driver::memo::{BuildMemo, MemoPath, StepResult, Verdict, invocation};
use history::{History, NewRun, RunStatus, StepRecord, StepStatus};

use super::{BuildSummary, Outcome, SETTLE_WAIT, empty_record, now_ms};

/// What a build was asked, as far as the memo is concerned.
pub struct Asked<'a> {
    /// `--param` overrides, as given.
    pub overrides: &'a [(String, String)],
    /// The steps asked for (empty: all).
    pub wanted: &'a [String],
    /// `--experiment`, if given.
    pub experiment: Option<&'a str>,
}

/// Builds from the memo when it holds: records a run reusing every step, and returns its
/// summary and the bytes hashed to check the memo (files whose stat moved). `Ok(None)`: the
/// memo does not hold (or there is none); build normally.
///
/// Errors: recording the run failed.
pub fn try_noop(path: &Path, asked: &Asked<'_>) -> crate::Result<Option<(BuildSummary, u64)>> {
    noop(path, asked).map_err(crate::Error::classify)
}

/// [`try_noop`], with its errors untyped.
fn noop(path: &Path, asked: &Asked<'_>) -> anyhow::Result<Option<(BuildSummary, u64)>> {
    let started = Instant::now();
    let Ok(file) = driver::locate(path) else { return Ok(None) };
    let root = driver::folder_of(&file);
    // Absolute once, so the stat cache does not ask for the working folder per path.
    let Ok(root) = std::path::absolute(&root) else { return Ok(None) };
    let Ok(state) = driver::checked_state_dir(&root) else { return Ok(None) };
    let Some(mut memo) = BuildMemo::load(&state) else { return Ok(None) };
    let Ok(text) = std::fs::read(&file) else { return Ok(None) };
    if memo.invocation != invocation(&file, &text, asked.overrides, asked.wanted, asked.experiment)
    {
        return Ok(None);
    }
    let git = crate::git::GitProbe::start(&root);
    let stats_path = state.join("statcache");
    let mut stats = StatCache::load(&stats_path, &root);
    let Ok(cache) = Cache::open(&state.join("cache")) else { return Ok(None) };
    let verdict = memo.check(&root, &state, &mut stats, &cache);
    let Ok(Verdict::Valid { restamped }) = verdict else {
        // What was hashed stays known: the normal path loads the stat cache again.
        stats.settle(std::time::Duration::ZERO);
        let _ = stats.save(&stats_path);
        return Ok(None);
    };
    let history = History::open(&state.join("history.sqlite")).context("opening run history")?;
    // The trash (the last build's spent input copies) is emptied while this one records its run.
    let emptying = super::reap_and_tidy(&history, &state)?;
    let records: Vec<StepRecord> = memo
        .steps
        .iter()
        .map(|s| StepRecord {
            reused_from: Some(s.run_id),
            ..empty_record(0, &s.name, StepStatus::Reused)
        })
        .collect();
    let run = NewRun {
        experiment: memo.experiment.clone(),
        pipeline: memo.pipeline.clone(),
        pipeline_path: memo.pipeline_path.clone(),
        params: memo.params.clone(),
        git: git.finish(),
        started_ms: now_ms(),
        pid: std::process::id(),
    };
    let run_id = history
        .record_finished_run(&run, &records, RunStatus::Succeeded, now_ms())
        .context("recording the run")?;
    let hashed = stats.hashed_bytes();
    stats.settle(SETTLE_WAIT);
    let _ = stats.save(&stats_path);
    if restamped {
        let _ = memo.save(&state);
    }
    if let Some(t) = emptying {
        let _ = t.join();
    }
    let outcomes = memo
        .steps
        .iter()
        .map(|s| Outcome {
            step: s.name.clone(),
            status: StepStatus::Reused,
            reason: None,
            reused_from: Some(s.run_id),
            duration_ms: None,
            key: Some(s.key.to_hex()),
            stderr_log: None,
            ran: None,
        })
        .collect();
    let summary = BuildSummary {
        run_id,
        status: RunStatus::Succeeded,
        pipeline: memo.pipeline.clone(),
        experiment: memo.experiment.clone(),
        seconds: started.elapsed().as_secs_f64(),
        outcomes,
        results: BTreeMap::new(),
        memo: true,
        manifests: HashMap::new(),
        uncached: false,
        views: None,
    };
    Ok(Some((summary, hashed)))
}

/// Writes the memo after a normal build, when it may: the build succeeded with every step
/// ran or reused, the file has no error or warning, and every step may be reused. Best
/// effort: a memo that cannot be written only costs the next no-op its speed. An older memo
/// is left alone when this one is not written: it is checked in full before it is trusted.
pub fn write_memo(project: &Project, summary: &BuildSummary, asked: &Asked<'_>) {
    let Ok(all_reusable) = all_reusable(project, asked.wanted) else { return };
    let Ok(state) = std::path::absolute(project.state_dir()) else { return };
    let written_ns = cache::now_ns();
    let memo = (|| {
        // Only views found to hold this build's results, and kept so under the views lock
        // until the memo's stamps are taken, may be vouched for.
        // The memo re-checks named paths by `stat`; a datastore elsewhere has none.
        let clean = summary.status == RunStatus::Succeeded
            && project.datastores.all_local()
            && summary.views.is_some()
            && !summary.uncached
            && all_reusable
            && summary
                .outcomes
                .iter()
                .all(|o| matches!(o.status, StepStatus::Ran | StepStatus::Reused))
            && project.problems().is_empty();
        if !clean {
            return None;
        }
        let cache = Cache::open(&state.join("cache")).ok()?;
        let mut results = Vec::with_capacity(summary.outcomes.len());
        for o in &summary.outcomes {
            let outputs = summary.results.get(&o.step)?;
            // This build stored or verified each of these; one it does not hold is read back.
            let manifests: Option<Vec<&cache::Manifest>> =
                outputs.values().map(|d| summary.manifests.get(d)).collect();
            results.push(StepResult {
                name: &o.step,
                key: hir::Digest(o.key.as_deref()?.parse::<cache::Digest>().ok()?.0),
                run_id: o.reused_from.unwrap_or(summary.run_id),
                outputs,
                manifests,
            });
        }
        let (folders, steps) = BuildMemo::stamp(&cache, &state, &results)?;
        let states: BTreeMap<String, hir::FsState> = project.db.fs_states().into_iter().collect();
        let paths = hir::needed_paths(&project.db, project.file)
            .iter()
            .map(|n| MemoPath {
                path: n.path.clone(),
                digest: n.digest,
                state: states.get(&n.path).cloned().unwrap_or(hir::FsState::Unknown),
            })
            .collect();
        let params = hir::param_values(&project.db, project.file)
            .values
            .iter()
            .map(|(k, v)| (k.clone(), v.canonical()))
            .collect();
        Some(BuildMemo {
            invocation: invocation(
                &project.path,
                project.text().as_bytes(),
                asked.overrides,
                asked.wanted,
                asked.experiment,
            ),
            written_ns,
            pipeline: summary.pipeline.clone(),
            experiment: summary.experiment.clone(),
            pipeline_path: std::fs::canonicalize(&project.display)
                .map_or(project.display.clone(), |p| p.display().to_string()),
            params,
            paths,
            folders,
            steps,
        })
    })();
    if let Some(m) = memo {
        let _ = m.save(&state);
    }
}

/// Whether every step a build of `wanted` covers may be reused (`allow_reuse`): a memo
/// vouches only for such builds.
///
/// Errors: `wanted` names a step that does not exist.
fn all_reusable(project: &Project, wanted: &[String]) -> anyhow::Result<bool> {
    let items = driver::steps_by_name(&project.db, project.file);
    let order = &hir::step_graph(&project.db, project.file).order;
    let reusable = |name: &String| {
        items.get(name.as_str()).is_none_or(|item| {
            hir::lower_item(&project.db, *item).step().is_none_or(|step| step.allow_reuse)
        })
    };
    let keep = super::selection(project, wanted)?;
    Ok(order.iter().zip(keep).all(|(name, keep)| !keep || reusable(name)))
}
