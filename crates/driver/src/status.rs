//! Planning against recorded state, without running anything.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use cache::Cache;
use hir::{Digest, FsState};
use history::History;
use plan::{Decision, KeyRecord, Lookup, Policy};

use crate::Project;

/// Looks `key` up in the action cache and verifies every output it records (not the
/// files its run read outside the key: see [`lookup_with`]).
pub fn lookup(cache: &Cache, key: &Digest) -> Lookup {
    lookup_with(cache, key, None, &mut |_, _| {})
}

/// [`lookup`] that hands each verified output's manifest to `keep` (its digest, the
/// manifest), for a caller that lays the outputs out next; with the project's folder
/// `root`, it also hashes each file the entry's run read outside its key (`reads`, known
/// when the step was traced) and answers [`Lookup::ReadChanged`] when one is not as it was.
pub fn lookup_with(
    cache: &Cache,
    key: &Digest,
    root: Option<&Path>,
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
        // A result taken from the shared cache may leave an output's bytes there
        // (`download = "final"`): the blobs that are here are verified, the others are
        // fetched when a step reads them.
        let partial;
        let here = match &result.origin {
            Some(_) => {
                let entries = manifest.entries.iter();
                let present = entries.filter(|e| cache.blob_path(&e.digest).is_file());
                partial = cache::Manifest { entries: present.cloned().collect() };
                &partial
            }
            None => &manifest,
        };
        if let Err(e) = cache.verify(here) {
            return Lookup::Broken { output: name.clone(), detail: e.to_string() };
        }
        outputs.insert(name.clone(), *mdigest);
        kept.push((*mdigest, manifest));
    }
    if let Some(root) = root
        && let Some(path) = changed_read(root, &result.reads)
    {
        return Lookup::ReadChanged { path };
    }
    for (d, m) in kept {
        keep(d, m);
    }
    let reads = result.reads.into_iter().map(|(p, _)| p).collect();
    Lookup::Hit { run_id: result.run_id, outputs, sources: result.sources, reads }
}

/// The first of `reads` (path relative to `root`, digest then) whose content is not the
/// recorded one now (changed, gone, or a folder).
fn changed_read(root: &Path, reads: &[(String, Digest)]) -> Option<String> {
    reads.iter().find_map(|(rel, was)| match crate::probe(&root.join(rel), false) {
        Ok(FsState::File(now)) if now == *was => None,
        _ => Some(rel.clone()),
    })
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

/// The files the run that made step `step`'s last successful result read outside its key
/// (a traced run: [`crate::UNDECLARED_READS_FILE`] in its run folder), followed through a
/// reuse to the run that produced it. Empty when none, or nothing is recorded.
pub fn recorded_reads(history: &History, pipeline: &str, step: &str) -> Vec<String> {
    let Ok(Some(mut rec)) = history.last_success(pipeline, step) else { return Vec::new() };
    if let Some(from) = rec.reused_from {
        match history.step(from, step) {
            Ok(Some(made)) => rec = made,
            _ => return Vec::new(),
        }
    }
    let Some(dir) = rec.log_dir else { return Vec::new() };
    let list = Path::new(&dir).join(crate::UNDECLARED_READS_FILE);
    std::fs::read_to_string(list)
        .map(|text| text.lines().map(str::to_owned).collect())
        .unwrap_or_default()
}

/// What a build would do with one step.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Planned {
    /// Reused from run `run_id`.
    Reuse {
        /// The run the result came from.
        run_id: i64,
        /// Files that changed only in comments since (`plan::cosmetic_changes`).
        cosmetic: Vec<String>,
        /// Files its run read outside its key (unchanged since).
        reads: Vec<String>,
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

/// What a plan reads of the recorded state: the action cache (lookups, verified), run
/// history (the last success of a step that would run, for its reasons) and the pipeline's
/// name as history records it. Either may be missing (nothing recorded yet).
#[derive(Clone, Copy)]
pub struct Recorded<'a> {
    /// The action cache and CAS (`.runner/cache`).
    pub cache: Option<&'a Cache>,
    /// Run history (`.runner/history.sqlite`); without it, a step that would run gets the
    /// reason `no previous run`.
    pub history: Option<&'a History>,
    /// The pipeline's name in history.
    pub pipeline: &'a str,
    /// Keep what each lookup found, manifests included ([`Plan::lookups`]), for a build
    /// about to start.
    pub keep_lookups: bool,
    /// The project's folder, to check the files a result's run read outside its key (see
    /// [`lookup_with`]); `None` skips that check.
    pub root: Option<&'a Path>,
}

/// What a build would do with every step, and what the plan's lookups found.
#[derive(Clone, Debug, Default)]
pub struct Plan {
    /// Every step, in topological order.
    pub steps: Vec<StepPlan>,
    /// Step name → its lookup ([`Recorded::keep_lookups`]; steps whose key depends on an
    /// upstream that would run are not in it): a build right after the plan takes a step's
    /// lookup from here when its key is the one planned.
    pub lookups: Prefetch,
}

impl Plan {
    /// Whether every step would be reused (nothing to run, nothing blocked).
    pub fn all_reused(&self) -> bool {
        self.steps.iter().all(|p| matches!(p.planned, Planned::Reuse { .. }))
    }
}

/// The plan of `project` against its own `.runner/` (read only), as `runner status` and
/// `runner build --dry-run` show it.
pub fn plan(project: &Project, policy: Policy) -> Plan {
    let state = project.state_dir();
    let cache = open_cache_read_only(&state);
    let history = open_history(&state);
    let recorded = Recorded {
        cache: cache.as_ref(),
        history: history.as_ref(),
        pipeline: &project.name(),
        keep_lookups: false,
        root: Some(&project.root),
    };
    plan_with(&project.db, project.file, &recorded, policy)
}

/// The action cache under the state folder `state`, if a build made one (never creates it).
pub fn open_cache_read_only(state: &std::path::Path) -> Option<Cache> {
    state.join("cache").is_dir().then(|| Cache::open(&state.join("cache")).ok()).flatten()
}

/// Run history under the state folder `state`, if a build made it (never creates it).
pub fn open_history(state: &std::path::Path) -> Option<History> {
    let path = state.join("history.sqlite");
    path.is_file().then(|| History::open(&path).ok()).flatten()
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

/// Step name → what its plan's lookup found.
pub type Prefetch = HashMap<String, Found>;

/// The one planner: what a build would do with each step of `file` in `db` (the CLI's
/// project, the language server's snapshot of the editor's buffer) given `recorded`, with
/// every lookup in one read transaction of the cache. Each step is decided by
/// [`decide_step`], as a build decides it.
pub fn plan_with(
    db: &dyn hir::Db,
    file: hir::SourceFile,
    recorded: &Recorded<'_>,
    policy: Policy,
) -> Plan {
    match recorded.cache {
        Some(c) => c.snapshot_reads(|| plan_steps(db, file, recorded, policy)),
        None => plan_steps(db, file, recorded, policy),
    }
}

fn plan_steps(
    db: &dyn hir::Db,
    file: hir::SourceFile,
    recorded: &Recorded<'_>,
    policy: Policy,
) -> Plan {
    let mut results: HashMap<String, BTreeMap<String, Digest>> = HashMap::new();
    let mut out = Plan::default();
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
                        let found = recorded.cache.map_or(Lookup::Miss, |c| {
                            lookup_with(c, &key, recorded.root, &mut |d, m| {
                                if recorded.keep_lookups {
                                    kept.push((d, m));
                                }
                            })
                        });
                        if recorded.keep_lookups {
                            let entry = Found { key, lookup: found.clone(), manifests: kept };
                            out.lookups.insert(name.clone(), entry);
                        }
                        let allow = hir::lower_item(db, item).step().is_none_or(|s| s.allow_reuse);
                        let step = StepDecision { name, allow_reuse: allow, policy };
                        let last =
                            || recorded.history.and_then(|h| previous(h, recorded.pipeline, name));
                        match decide_step(&step, &record, found, last) {
                            Decision::Reuse { run_id, outputs, cosmetic, reads } => {
                                results.insert(name.clone(), outputs);
                                Planned::Reuse { run_id, cosmetic, reads }
                            }
                            Decision::Run(reasons) => {
                                Planned::Run(reasons.iter().map(ToString::to_string).collect())
                            }
                        }
                    }
                }
            }
        };
        out.steps.push(StepPlan { step: name.clone(), planned });
    }
    out
}

/// A step as [`decide_step`] needs it.
pub struct StepDecision<'a> {
    /// Its name.
    pub name: &'a str,
    /// Its `allow_reuse`.
    pub allow_reuse: bool,
    /// `--regenerate` or not.
    pub policy: Policy,
}

/// The one step decision, made the same way by a plan (`runner status`, `--dry-run`, the
/// language server's lenses) and by a build: given a step's key record and what the lookup
/// of its key found, reuse the recorded result or run, with the dirty reasons against the
/// step's last success (`last_success`, called only when it runs: a verified hit that may
/// be reused needs no reasons, and reading history costs a query).
pub fn decide_step(
    step: &StepDecision<'_>,
    record: &KeyRecord,
    found: Lookup,
    last_success: impl FnOnce() -> Option<KeyRecord>,
) -> Decision {
    let reusable =
        matches!(found, Lookup::Hit { .. }) && step.allow_reuse && !step.policy.regenerate;
    let prev = if reusable { None } else { last_success() };
    plan::decide(step.allow_reuse, step.policy, record, found, prev.as_ref())
}

/// Every step item by name: one pass over the file's items (looking each name up with
/// [`hir::find_step`] is linear, so a plan of N steps would be quadratic).
pub fn steps_by_name<'db>(
    db: &'db dyn hir::Db,
    file: hir::SourceFile,
) -> HashMap<&'db str, hir::Item<'db>> {
    hir::items(db, file).of_kind(hir::ItemKind::Step).map(|it| (it.name(db).as_str(), it)).collect()
}
