//! Planning against recorded state, without running anything.

use std::collections::{BTreeMap, HashMap};

use cache::Cache;
use hir::Digest;
use history::History;
use plan::{Decision, KeyRecord, Lookup, Policy};

use crate::Project;

/// Looks `key` up in the action cache and verifies every output it records.
pub fn lookup(cache: &Cache, key: &Digest) -> Lookup {
    lookup_with(cache, key, &mut |_, _| {})
}

/// [`lookup`] that hands each verified output's manifest to `keep` (its digest, the
/// manifest), for a caller that lays the outputs out next.
pub fn lookup_with(
    cache: &Cache,
    key: &Digest,
    keep: &mut dyn FnMut(Digest, cache::Manifest),
) -> Lookup {
    let Ok(Some(result)) = cache.get_action(key) else { return Lookup::Miss };
    let mut outputs = BTreeMap::new();
    let mut kept = Vec::new();
    for (name, mdigest) in &result.outputs {
        let embedded = result.manifest(name).cloned();
        let manifest = match embedded.map_or_else(|| cache.get_manifest(mdigest), |m| Ok(Some(m))) {
            Ok(Some(m)) => m,
            _ => {
                return Lookup::Broken {
                    output: name.clone(),
                    detail: format!("manifest {} is missing", mdigest.short()),
                };
            }
        };
        if let Err(e) = cache.verify(&manifest) {
            return Lookup::Broken { output: name.clone(), detail: e.to_string() };
        }
        outputs.insert(name.clone(), *mdigest);
        kept.push((*mdigest, manifest));
    }
    for (d, m) in kept {
        keep(d, m);
    }
    Lookup::Hit { run_id: result.run_id, outputs }
}

/// The key record of a step's last success, from history.
pub fn previous(history: &History, pipeline: &str, step: &str) -> Option<KeyRecord> {
    history
        .last_success(pipeline, step)
        .ok()
        .flatten()?
        .key_fields
        .as_deref()
        .and_then(KeyRecord::from_json)
}

/// What a build would do with one step.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Planned {
    /// Reused from run `run_id`.
    Reuse {
        /// The run the result came from.
        run_id: i64,
    },
    /// Runs, for these reasons.
    Run(Vec<String>),
    /// Runs after `upstream` runs, unless that reproduces its outputs (early cutoff).
    AfterUpstream(String),
    /// Cannot be planned: its key cannot be computed (errors, or a file not hashed).
    Blocked(String),
}

/// One step of a plan.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StepPlan {
    /// The step.
    pub step: String,
    /// What a build would do.
    pub planned: Planned,
}

/// The plan for every step (in topological order) given the recorded state under
/// `.runner/` (read only; missing state means nothing was recorded).
pub fn plan(project: &Project, policy: Policy) -> Vec<StepPlan> {
    plan_in(&project.db, project.file, &project.state_dir(), &project.name(), policy)
}

/// [`plan()`] for any database and file (the language server plans on a snapshot of the
/// editor's buffer): `state` is the `.runner/` folder, `pipeline` the pipeline's name as
/// history records it.
pub fn plan_in(
    db: &dyn hir::Db,
    file: hir::SourceFile,
    state: &std::path::Path,
    pipeline: &str,
    policy: Policy,
) -> Vec<StepPlan> {
    let cache =
        state.join("cache").is_dir().then(|| Cache::open(&state.join("cache")).ok()).flatten();
    plan_using(db, file, cache.as_ref(), state, pipeline, policy)
}

/// What planning found in the action cache for one step: its key, the verified lookup, and
/// the manifests of the outputs it verified (digest, manifest).
#[derive(Clone, Debug)]
pub struct Found {
    /// The step key looked up.
    pub key: Digest,
    /// What the lookup found (a hit's outputs verified).
    pub lookup: Lookup,
    /// The verified outputs' manifests, for laying them out.
    pub manifests: Vec<(Digest, cache::Manifest)>,
}

/// Step name → what its plan's lookup found: a build right after the plan takes a step's
/// lookup from here when its key is the one planned, instead of querying again.
pub type Prefetch = HashMap<String, Found>;

/// [`plan_in`] through a cache the caller keeps open (`state`'s `cache` folder): a session
/// that plans again and again (the language server) so looks unchanged steps up from the
/// entries a remembering cache keeps in memory (see `cache::action`).
pub fn plan_through(
    db: &dyn hir::Db,
    file: hir::SourceFile,
    cache: &Cache,
    state: &std::path::Path,
    pipeline: &str,
    policy: Policy,
) -> Vec<StepPlan> {
    plan_using(db, file, Some(cache), state, pipeline, policy)
}

/// The lookups of a plan, for a build about to start: whether every step would be reused,
/// and what each lookup found ([`Prefetch`]; steps whose key depends on an upstream that
/// would run are not in it). All in one read transaction of `cache`. Run reasons are not
/// worked out (they need run history; the build works out its own).
pub fn prefetch(
    db: &dyn hir::Db,
    file: hir::SourceFile,
    cache: &Cache,
    policy: Policy,
) -> (bool, Prefetch) {
    let mut found = Prefetch::new();
    let plan = cache
        .snapshot_reads(|| plan_with(db, file, Some(cache), None, "", policy, Some(&mut found)));
    (plan.iter().all(|p| matches!(p.planned, Planned::Reuse { .. })), found)
}

/// [`plan_in`] with the cache opened (if there is one) and history still to open.
fn plan_using(
    db: &dyn hir::Db,
    file: hir::SourceFile,
    cache: Option<&Cache>,
    state: &std::path::Path,
    pipeline: &str,
    policy: Policy,
) -> Vec<StepPlan> {
    let db_path = state.join("history.sqlite");
    let history = db_path.is_file().then(|| History::open(&db_path).ok()).flatten();
    let history = history.as_ref();
    match cache {
        Some(c) => {
            c.snapshot_reads(|| plan_with(db, file, Some(c), history, pipeline, policy, None))
        }
        None => plan_with(db, file, None, history, pipeline, policy, None),
    }
}

/// [`plan_in`] with the cache and history opened; fills `prefetch` when given.
fn plan_with(
    db: &dyn hir::Db,
    file: hir::SourceFile,
    cache: Option<&Cache>,
    history: Option<&History>,
    pipeline: &str,
    policy: Policy,
    mut prefetch: Option<&mut Prefetch>,
) -> Vec<StepPlan> {
    let mut results: HashMap<String, BTreeMap<String, Digest>> = HashMap::new();
    let mut out = Vec::new();
    let steps = steps_by_name(db, file);
    for name in &hir::step_graph(db, file).order {
        let Some(&item) = steps.get(name.as_str()) else { continue };
        let planned = match hir::step_key_fields(db, file, item) {
            Err(e) => Planned::Blocked(match e {
                hir::KeyError::Invalid => "the step has errors".to_owned(),
                hir::KeyError::NoDigest(p) => format!("{p} is missing"),
            }),
            Ok(fields) => {
                match KeyRecord::new(fields, |s, o| results.get(s).and_then(|m| m.get(o)).copied())
                {
                    Err(upstream) => Planned::AfterUpstream(upstream),
                    Ok(record) => {
                        let key = record.digest();
                        let mut kept = Vec::new();
                        let found = cache.map_or(Lookup::Miss, |c| {
                            lookup_with(c, &key, &mut |d, m| {
                                if prefetch.is_some() {
                                    kept.push((d, m));
                                }
                            })
                        });
                        if let Some(f) = prefetch.as_deref_mut() {
                            let entry = Found { key, lookup: found.clone(), manifests: kept };
                            f.insert(name.clone(), entry);
                        }
                        let allow = hir::lower_item(db, item).step().is_none_or(|s| s.allow_reuse);
                        // The last success only explains a run: a reusable hit needs none.
                        let reusable =
                            matches!(found, Lookup::Hit { .. }) && allow && !policy.regenerate;
                        let prev = (!reusable)
                            .then(|| history.and_then(|h| previous(h, pipeline, name)))
                            .flatten();
                        match plan::decide(allow, policy, &record, found, prev.as_ref()) {
                            Decision::Reuse { run_id, outputs } => {
                                results.insert(name.clone(), outputs);
                                Planned::Reuse { run_id }
                            }
                            Decision::Run(reasons) => {
                                Planned::Run(reasons.iter().map(ToString::to_string).collect())
                            }
                        }
                    }
                }
            }
        };
        out.push(StepPlan { step: name.clone(), planned });
    }
    out
}

/// Every step item by name: one pass over the file's items (looking each name up with
/// [`hir::find_step`] is linear, so a plan of N steps would be quadratic).
pub fn steps_by_name<'db>(
    db: &'db dyn hir::Db,
    file: hir::SourceFile,
) -> HashMap<&'db str, hir::Item<'db>> {
    hir::items(db, file).of_kind(hir::ItemKind::Step).map(|it| (it.name(db).as_str(), it)).collect()
}
