//! The plan behind lenses and step hovers: `driver::plan_with` on the snapshot (the
//! editor's buffer, the files as last probed) against `.runner/` beside the pipeline, read
//! only, through the cache the server keeps for that folder (`Shared::cache`).
//! Cached per document generation, `.runner/` generation (from watched files) and a stamp
//! of the recorded state (sizes and times of the history and action cache databases and
//! their logs, so clients that do not watch files still see new runs), for at most 10 s.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use ide::{PlanView, StepState};

use crate::state::{PlanEntry, Shared, Snapshot};

const MAX_AGE: Duration = Duration::from_secs(10);

/// Changes whenever a build records something under `state`.
pub(crate) fn stamp(state: &std::path::Path) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    let files = ["history.sqlite", "history.sqlite-wal", "cache/ac.sqlite", "cache/ac.sqlite-wal"];
    for p in files {
        if let Ok(m) = std::fs::metadata(state.join(p)) {
            (p, m.len(), m.modified().ok()).hash(&mut h);
        }
    }
    h.finish()
}

/// The plan for the snapshot's document, or `None` when it has no folder on disk.
pub fn plan(shared: &Shared, snap: &Snapshot) -> Option<Arc<PlanView>> {
    let root = snap.root.as_ref()?;
    let state = root.join(".runner");
    let stamp = stamp(&state);
    {
        let plans = shared.plans.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(e) = plans.get(&snap.uri)
            && e.generation == snap.generation
            && e.runner_generation == snap.runner_generation
            && e.stamp == stamp
            && e.at.elapsed() < MAX_AGE
        {
            return Some(e.plan.clone());
        }
    }
    let name = hir::index(&snap.db, snap.file).meta.name.clone().unwrap_or_else(|| {
        std::fs::canonicalize(root)
            .ok()
            .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
            .unwrap_or_else(|| "pipeline".to_owned())
    });
    let cache = shared.cache(&state);
    let history = driver::open_history(&state);
    let recorded = driver::Recorded {
        cache: cache.as_ref(),
        history: history.as_ref(),
        pipeline: &name,
        keep_lookups: false,
        root: Some(root),
    };
    let steps = driver::plan_with(&snap.db, snap.file, &recorded, plan::Policy::default()).steps;
    let now_ms = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64);
    let mut view = PlanView::new();
    // Reused steps mostly come from a handful of runs: read each run once.
    let mut run_times: std::collections::HashMap<i64, Option<u64>> = Default::default();
    for s in steps {
        let state = match s.planned {
            driver::Planned::Reuse { run_id, .. } => {
                let at = *run_times.entry(run_id).or_insert_with(|| {
                    history
                        .as_ref()
                        .and_then(|h| h.run(run_id).ok().flatten())
                        .map(|r| r.ended_ms.unwrap_or(r.started_ms))
                });
                StepState::Reuse { run_id, age_secs: at.map(|t| now_ms.saturating_sub(t) / 1000) }
            }
            driver::Planned::Run(reasons) if reasons == ["no previous run"] => StepState::NeverRun,
            driver::Planned::Run(reasons) => StepState::Run(reasons),
            driver::Planned::AfterUpstream(up) => StepState::AfterUpstream(up),
            driver::Planned::Blocked(why) => StepState::Blocked(why),
        };
        view.insert(s.step, state);
    }
    let plan = Arc::new(view);
    shared.plans.lock().unwrap_or_else(|e| e.into_inner()).insert(
        snap.uri.clone(),
        PlanEntry {
            generation: snap.generation,
            runner_generation: snap.runner_generation,
            stamp,
            at: Instant::now(),
            plan: plan.clone(),
        },
    );
    Some(plan)
}
