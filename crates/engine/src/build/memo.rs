//! The no-op fast path of `runner build`, and writing the memo it reads (see `driver::memo`).
//!
//! [`try_noop`] runs before the pipeline is loaded: when `.runner/buildmemo` holds for what
//! was asked, it records a run that reuses every step from the recorded runs and prints it,
//! as a normal build would (same lines, same JSON document, `"planner": "memo"`), having
//! read the memo and a few stats per step (the stat cache and the pipeline file only when a
//! named file's stamp moved). Otherwise
//! the build goes the normal way, and [`write_memo`] records the memo (and its key records,
//! `driver::memo::keys`) when it ends well. When only some inputs' content changed and the
//! action cache holds a verified result for every step's new key, [`try_noop`] reuses them
//! as well (`edit`: see `driver::memo`, "An edit under the memo"); a step that would run
//! leaves the build to the normal path.
//! [`plan_from_memo`] is the same check for `runner status` and `runner build --dry-run`:
//! when the memo holds, their plan (every step reused) is read from it.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Context as _;
use cache::Cache;
use driver::Project;
use driver::memo::keys::{MemoKeys, StepKeys};
use driver::memo::{BuildMemo, LazyStats, MemoPath, StepResult, Verdict, invocation, text_digest};
use history::{History, NewRun, RunStatus, StepRecord, StepStatus};

use super::{BuildSummary, Outcome, SETTLE_WAIT, now_ms};

mod edit;

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

/// A memo that holds, with what checking it touched.
struct Checked {
    memo: BuildMemo,
    state: PathBuf,
    stats: LazyStats,
    restamped: bool,
    /// Named paths whose content changed (see `Verdict::Changed`): empty for a no-op.
    changed: Vec<(usize, hir::FsState)>,
    cache: Cache,
    /// For a build: the run history being opened, and the git state being read, both
    /// started once the invocation matched, beside the check.
    recording: Option<Recording>,
}

/// What recording a no-op's run needs, gathered while the memo is checked.
struct Recording {
    history: std::thread::JoinHandle<history::Result<History>>,
    git: crate::git::GitProbe,
}

/// The memo of the pipeline at `path` when it holds for `asked` (see `driver::memo`);
/// `None` otherwise (the stat cache then keeps what checking hashed). With `building`, the
/// run history is opened and the git state read while the memo is checked (opening the
/// history parses its schema; on two cores that overlaps with the stats of the check).
fn valid_memo(path: &Path, asked: &Asked<'_>, building: bool) -> Option<Checked> {
    let file = driver::locate(path).ok()?;
    let root = driver::folder_of(&file);
    // Absolute once, so the stat cache does not ask for the working folder per path.
    let root = std::path::absolute(&root).ok()?;
    let state = driver::checked_state_dir(&root).ok()?;
    let mut memo = BuildMemo::load(&state)?;
    // The file is read only when its stamp moved (then through the stat cache, as any input).
    let mut stats = LazyStats::new(state.join("statcache"), root.clone());
    let (text, text_restamped) = memo.text_digest(&file, &mut stats)?;
    if memo.invocation != invocation(&file, &text, asked.overrides, asked.wanted, asked.experiment)
    {
        return None;
    }
    let recording = building.then(|| {
        let db = state.join("history.sqlite");
        let history = std::thread::spawn(move || History::open(&db));
        Recording { history, git: crate::git::GitProbe::start(&root) }
    });
    let verdict = Cache::open(&state.join("cache"))
        .map(|cache| (memo.check(&root, &state, &mut stats, &cache), cache));
    let (restamped, changed, cache) = match verdict {
        Ok((Ok(Verdict::Valid { restamped }), cache)) => {
            (restamped || text_restamped, Vec::new(), cache)
        }
        Ok((Ok(Verdict::Changed { paths, restamped }), cache)) => {
            (restamped || text_restamped, paths, cache)
        }
        _ => {
            // The normal path opens the history itself: this connection closes first.
            if let Some(r) = recording {
                let _ = r.history.join();
            }
            give_up(stats);
            return None;
        }
    };
    Some(Checked { memo, state, stats, restamped, changed, cache, recording })
}

/// Saves what checking a memo that does not hold hashed: the normal path loads the stat
/// cache again.
fn give_up(stats: LazyStats) {
    stats.finish(std::time::Duration::ZERO);
}

/// What a plan finds when the memo holds: every step reused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemoPlan {
    /// The pipeline's name.
    pub pipeline: String,
    /// Each step the build covers, in `hir::step_graph` order, and the run whose result it
    /// reuses.
    pub steps: Vec<(String, i64)>,
}

/// The plan of `runner status` and `runner build --dry-run` from the memo, when it holds
/// for `asked`: every step reused, as the database would find (the memo is checked as a
/// no-op build checks it). `Ok(None)`: plan normally. Reads only: records no run and
/// rewrites no memo.
///
/// Errors: none today (a memo that cannot be read or checked is `None`); typed for a host.
pub fn plan_from_memo(path: &Path, asked: &Asked<'_>) -> crate::Result<Option<MemoPlan>> {
    let Some(c) = valid_memo(path, asked, false) else { return Ok(None) };
    if !c.changed.is_empty() {
        // What a change would reuse needs lookups: the database plans it, with its reasons.
        give_up(c.stats);
        return Ok(None);
    }
    c.stats.finish(std::time::Duration::ZERO);
    let steps = c.memo.steps.iter().map(|s| (s.name.clone(), s.run_id)).collect();
    Ok(Some(MemoPlan { pipeline: c.memo.pipeline.clone(), steps }))
}

/// [`try_noop`], with its errors untyped.
fn noop(path: &Path, asked: &Asked<'_>) -> anyhow::Result<Option<(BuildSummary, u64)>> {
    let started = Instant::now();
    let Some(Checked {
        mut memo,
        state,
        stats,
        mut restamped,
        changed,
        cache,
        recording: Some(Recording { history, git }),
    }) = valid_memo(path, asked, true)
    else {
        return Ok(None);
    };
    let edit = if changed.is_empty() {
        None
    } else {
        match edit::apply(&mut memo, &changed, &state, &cache) {
            Some(e) => Some(e),
            None => {
                let _ = history.join();
                give_up(stats);
                return Ok(None);
            }
        }
    };
    let history = history
        .join()
        .map_err(|_| anyhow::anyhow!("opening run history: the thread opening it panicked"))?
        .context("opening run history")?;
    // The trash (the last build's spent input copies) is emptied while this one records its run.
    let emptying = super::reap_and_tidy(&history, &state)?;
    let run = NewRun {
        experiment: memo.experiment.clone(),
        pipeline: memo.pipeline.clone(),
        pipeline_path: memo.pipeline_path.clone(),
        params: memo.params.clone(),
        git: git.finish(),
        started_ms: now_ms(),
        pid: std::process::id(),
    };
    // One row naming the run whose steps these are, and one for each step an edit under the
    // memo made reuse another result; every step's row only where the history cannot vouch
    // for that run, which then becomes the one the memo names.
    let reused = |s: &driver::memo::MemoStep| StepRecord {
        reused_from: Some(s.run_id),
        ..StepRecord::bare(0, &s.name, StepStatus::Reused)
    };
    let own: Vec<StepRecord> =
        memo.steps.iter().filter(|s| s.run_id != s.base_run_id).map(reused).collect();
    let repeat = history
        .record_repeat_run(&run, memo.run, memo.steps.len(), &own, now_ms())
        .context("recording the run")?;
    let run_id = match repeat {
        Some(id) => id,
        None => {
            let records: Vec<StepRecord> = memo.steps.iter().map(reused).collect();
            let id = history
                .record_finished_run(&run, &records, RunStatus::Succeeded, now_ms())
                .context("recording the run")?;
            memo.run = id;
            for s in &mut memo.steps {
                s.base_run_id = s.run_id;
            }
            restamped = true;
            id
        }
    };
    let hashed = stats.hashed_bytes();
    stats.finish(SETTLE_WAIT);
    if let Some(e) = edit {
        // The keys first: with the new memo, the old records would not hash to its keys.
        let _ = e.keys.save(&state);
        let _ = memo.save(&state);
        drop(e.views);
    } else if restamped {
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
            undeclared_reads: Vec::new(),
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
        shared_cache: None,
    };
    Ok(Some((summary, hashed)))
}

/// Writes the memo after a normal build, when it may: the build succeeded with every step
/// ran or reused, the file has no error or warning, and every step may be reused. Best
/// effort: a memo that cannot be written only costs the next no-op its speed. An older memo
/// is left alone when this one is not written: it is checked in full before it is trusted.
/// `began_ns` (ns since the epoch, [`cache::now_ns`]): when the build began, before the
/// project was loaded; the named files whose stamps had settled by then are stamped (see
/// `BuildMemo::stamp_paths`).
pub fn write_memo(project: &Project, summary: &BuildSummary, asked: &Asked<'_>, began_ns: i64) {
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
            // A result made reading files outside its key is checked by every lookup;
            // the memo, which checks only named paths, cannot vouch for it.
            && summary.outcomes.iter().all(|o| o.undeclared_reads.is_empty())
            && project.problems().is_empty();
        if !clean {
            return None;
        }
        let cache = Cache::open(&state.join("cache")).ok()?;
        // In graph order, so that a plan read from the memo lists steps as the database's does.
        let graph = hir::step_graph(&project.db, project.file);
        let mut outcomes: Vec<&Outcome> = summary.outcomes.iter().collect();
        outcomes.sort_by_key(|o| graph.position(&o.step).unwrap_or(usize::MAX));
        let mut results = Vec::with_capacity(outcomes.len());
        for o in outcomes {
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
                stamp: None,
            })
            .collect();
        let params = hir::param_values(&project.db, project.file)
            .values
            .iter()
            .map(|(k, v)| (k.clone(), v.canonical()))
            .collect();
        let text = text_digest(project.text().as_bytes());
        let mut memo = BuildMemo {
            invocation: invocation(
                &project.path,
                &text,
                asked.overrides,
                asked.wanted,
                asked.experiment,
            ),
            written_ns,
            run: summary.run_id,
            text,
            text_stamp: None,
            pipeline: summary.pipeline.clone(),
            experiment: summary.experiment.clone(),
            pipeline_path: std::fs::canonicalize(&project.display)
                .map_or(project.display.clone(), |p| p.display().to_string()),
            params,
            paths,
            folders,
            steps,
        };
        memo.stamp_paths(&driver::folder_of(&project.path), &project.path, began_ns);
        Some(memo)
    })();
    if let Some(m) = memo {
        // The keys first (see `noop`); without them an edit under the memo builds normally.
        match memo_keys(project, summary, &m) {
            Some(keys) => {
                let _ = keys.save(&state);
            }
            None => MemoKeys::forget(&state),
        }
        let _ = m.save(&state);
    }
}

/// The key records of `memo`'s steps, from the database of the build that wrote it: each
/// step's complete record (its key fields and the upstream outputs of this build's results),
/// which must hash to the memo's key, and where the named paths its key reads go. `None`
/// when one cannot be made.
fn memo_keys(project: &Project, summary: &BuildSummary, memo: &BuildMemo) -> Option<MemoKeys> {
    let items = driver::steps_by_name(&project.db, project.file);
    let mut steps = Vec::with_capacity(memo.steps.len());
    for s in &memo.steps {
        let item = *items.get(s.name.as_str())?;
        let fields = hir::step_key_fields(&project.db, project.file, item).as_ref().ok()?;
        let record = plan::KeyRecord::new(fields, |step, output| {
            summary.results.get(step).and_then(|o| o.get(output)).copied()
        })
        .ok()?;
        if record.digest() != s.key {
            return None;
        }
        steps.push(StepKeys {
            name: s.name.clone(),
            record: record.to_json(),
            paths: hir::step_key_paths(&project.db, project.file, item)?,
            upstream: fields.upstream_inputs.clone(),
        });
    }
    Some(MemoKeys { invocation: memo.invocation, steps })
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
