//! The build loop ([`run_build`]): plan each step in dependency order, reuse what the action
//! cache holds (verified), run the rest on their compute target, record everything, and
//! report each step as it goes to the caller's [`Sink`].
//!
//! The loop, per step, once its upstream steps are done:
//! 1. complete the step key with the manifest digests of upstream outputs (`plan::KeyRecord`);
//! 2. look the key up in the action cache and verify every output blob (a broken entry is a
//!    miss, said so);
//! 3. decide (`driver::decide_step`, as a plan decides): reuse, or run with dirty reasons
//!    from the last success;
//! 4. to run: snapshot `source_directory` (once per run and folder), copy upstream outputs
//!    in (private copies), create empty output folders, expand placeholders into argv (no
//!    shell), run the process in its own group with the target's concurrency limit. While it
//!    runs, the folders its downstream steps will need are made ahead, off the critical path
//!    (`ahead::prepare_ahead`); once it ran, its outputs are copied ahead for downstream
//!    steps that wait for four or more upstream steps (`ahead::copy_ahead`);
//! 5. on success: every output must be non-empty; adopt outputs into the CAS, then write the
//!    action cache entry, then the history record. A failed or killed step writes no cache
//!    entry, so nothing a later build trusts. Blobs are published by rename, action cache
//!    entries and history records by group commit (`ledger`: one transaction per database
//!    for the steps that ended within 100 ms of each other), and all are made durable
//!    together, by one `syncfs` when the build ends (`cache::Cache::sync`).
//!
//! `--jobs` bounds the step processes running at once ([`Shared::slots`]); twice as many
//! steps are in flight, so the next ones are looked up and prepared while processes run
//! and start the moment one exits.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::Context as _;
use cache::Cache;
use exec::{CancelToken, NodeState};
use hir::{Digest, Target};
use history::{History, NewRun, RunStatus, StepRecord, StepStatus};
use plan::{Decision, KeyRecord, Policy};

use driver::{DataSource, Project, previous};

use crate::events::{Event, Sink, StepEnd};

mod ahead;
mod announce;
mod execute;
mod export;
mod inputs;
mod integrity;
mod ledger;
pub mod memo;
mod reads;
mod remote;
pub(crate) mod stored;
mod trash;
mod views;
mod warm;

use trash::discard_inputs;
pub(crate) use trash::reap_and_tidy;

/// Everything about one step the executor needs, copied out of the database.
/// The build's read tracing: every step (`BuildOptions::trace_reads`), strict or not, and
/// the pipeline's defaults of the steps' `trace_reads`.
struct ReadsPolicy {
    trace: bool,
    strict: bool,
    defaults: hir::ReuseSwitches,
    /// The folders of the `local` datastores, besides the project's: reads there are
    /// checked too.
    stores: Vec<PathBuf>,
    /// The steps whose last traced run read outside their key (`reads::marked`).
    marked: HashSet<String>,
}

struct StepInfo {
    name: String,
    fields: hir::StepKeyFields,
    step: hir::Step,
    inputs: Vec<(String, Target)>,
    upstream: Vec<String>,
}

/// What happened to a step in this build: an element of the `--format json` document's
/// `steps`.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Outcome {
    /// The step.
    pub step: String,
    /// Ran, reused, failed, skipped or interrupted.
    pub status: StepStatus,
    /// Why it ran, failed or was skipped (`None`: reused from the action cache).
    pub reason: Option<String>,
    /// The run a reused result came from.
    pub reused_from: Option<i64>,
    /// How long its process ran (ms), for a step that ran or failed.
    pub duration_ms: Option<u64>,
    /// Its step key (64 hex), when it was computed.
    pub key: Option<String>,
    /// The step's stderr log, for a step that ran and failed (not in the JSON document).
    #[serde(skip)]
    pub stderr_log: Option<PathBuf>,
    /// When the process of a step that ran started and ended (not in the JSON document).
    #[serde(skip)]
    ran: Option<(SystemTime, SystemTime)>,
    /// For a traced step that ran: the files under the project it read that are not part
    /// of its key, relative to the project's folder (see `reads`). Omitted when none.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub undeclared_reads: Vec<String>,
}

/// What to build, and how, in an already-loaded project.
#[derive(Clone, Debug)]
pub struct BuildOptions {
    /// Steps to build (with what they need); empty: all.
    pub wanted: Vec<String>,
    /// Run every step, reusing nothing (Azure ML's `regenerate_outputs`).
    pub regenerate: bool,
    /// Experiment to record the run under (default: `[pipeline] experiment`, else its name).
    pub experiment: Option<String>,
    /// Steps running at once, at most (default: the number of CPUs).
    pub jobs: Option<usize>,
    /// Start a supervisor that kills the run's steps if this process dies (see
    /// `exec::supervise`): this process's own binary run as `BINARY __supervise TAG`; and
    /// let ssh targets open their connections through it (`BINARY __ssh-connect HOST
    /// PORT`, see `compute::ssh_connect`). So the binary must call
    /// [`crate::supervise_if_asked`] and [`crate::ssh_connect_if_asked`] first thing in
    /// `main`. Off for a host that does not (an engine test).
    pub supervise: bool,
    /// Compute targets the caller brings, by compute name (see [`crate::Targets`]).
    pub targets: crate::Targets,
    /// Run every step that must run on this compute target, whatever its `compute` says
    /// (`runner build --compute NAME`). The target is not in the step key: results are
    /// reused wherever they were computed.
    pub compute: Option<String>,
    /// Trace the files every step that runs here opens, and warn of reads outside its key
    /// (`runner build --trace-reads`; a step's or the pipeline's `trace_reads` does it
    /// for some). See `build::reads`.
    pub trace_reads: bool,
    /// As `trace_reads`, and a read outside its key fails the step, whose result is not
    /// cached (`--strict-reads`; `[pipeline] strict_reads`).
    pub strict_reads: bool,
}

impl Default for BuildOptions {
    fn default() -> BuildOptions {
        BuildOptions {
            wanted: Vec::new(),
            regenerate: false,
            experiment: None,
            jobs: None,
            supervise: true,
            targets: crate::Targets::default(),
            compute: None,
            trace_reads: false,
            strict_reads: false,
        }
    }
}

/// What one build did.
pub struct BuildSummary {
    /// The run's id in history.
    pub run_id: i64,
    /// Succeeded, failed or interrupted.
    pub status: RunStatus,
    /// The pipeline's name.
    pub pipeline: String,
    /// The experiment the run is recorded under.
    pub experiment: String,
    /// Wall time of the build, in seconds.
    pub seconds: f64,
    /// One per step, in the order they finished.
    pub outcomes: Vec<Outcome>,
    /// Output name → manifest digest, per step that ran or was reused.
    pub results: BTreeMap<String, BTreeMap<String, Digest>>,
    /// Planned from the build memo (`driver::memo`) instead of the database.
    pub memo: bool,
    /// The manifests of `results`, each stored or verified in the action cache by this build.
    pub manifests: HashMap<Digest, cache::Manifest>,
    /// Some step ran but its result could not be written to the action cache.
    pub uncached: bool,
    /// The views lock, held from the moment the views were found to hold `results` until
    /// the memo that vouches for them is written (`None`: not held; write no memo). Another
    /// build of the same project, in this process or another, waits while it is held: drop
    /// the summary (or take this field) once the memo is written.
    pub views: Option<cache::FolderGuard>,
    /// The shared cache's traffic in this build, when the pipeline has one: requests made,
    /// bytes downloaded, bytes uploaded.
    pub shared_cache: Option<(u64, u64, u64)>,
}

impl BuildSummary {
    /// How many steps ended with `status`.
    pub fn count(&self, status: StepStatus) -> usize {
        self.outcomes.iter().filter(|o| o.status == status).count()
    }

    /// The `--format json` document (`hashed_bytes`: bytes read to hash the files the keys
    /// cover, 0 when the stat cache vouched for every one; `planner`: `memo` when the build
    /// memo vouched for every step, else `database`).
    pub fn json(&self, hashed_bytes: u64) -> serde_json::Value {
        let mut doc = serde_json::json!({
            "run": self.run_id, "status": self.status.as_str(), "pipeline": self.pipeline,
            "seconds": self.seconds, "hashed_bytes": hashed_bytes,
            "planner": if self.memo { "memo" } else { "database" }, "steps": self.outcomes,
        });
        if let Some((requests, down, up)) = self.shared_cache {
            doc["shared_cache"] = serde_json::json!({
                "requests": requests, "downloaded_bytes": down, "uploaded_bytes": up,
            });
        }
        doc
    }
}

struct Shared {
    project_root: PathBuf,
    state: PathBuf,
    pipeline: String,
    experiment: String,
    run_id: i64,
    cache: Cache,
    history: Mutex<History>,
    steps: Vec<StepInfo>,
    /// Data reference → where its bytes are.
    data: BTreeMap<String, DataSource>,
    params: BTreeMap<String, String>,
    envs: BTreeMap<String, (String, Option<PathBuf>)>,
    results: Mutex<HashMap<String, BTreeMap<String, Digest>>>,
    /// What a plan made just before this build found, per step (see `driver::Prefetch`): a
    /// step whose key is the one planned takes its lookup from here.
    prefetch: Mutex<driver::Prefetch>,
    /// Manifests of the outputs this build stored or found in the action cache, by digest:
    /// inputs and views are laid out from memory instead of reading manifests back.
    manifests: Mutex<HashMap<Digest, cache::Manifest>>,
    outcomes: Mutex<Vec<Outcome>>,
    /// Records of reused and skipped steps, written in one transaction when the build ends
    /// (a no-op build of 1,000 steps would otherwise commit 1,000 times).
    pending: Mutex<Vec<StepRecord>>,
    snapshots: tokio::sync::Mutex<HashMap<String, PathBuf>>,
    /// `runs/<id>/metrics/`, created when the first step starts: each step's `RUNNER_METRICS`
    /// file is `<step>.txt` there (not in the step's run folder, which is only created when
    /// something goes into it: inputs, logs, a failed step's outputs).
    metrics_dir: std::sync::OnceLock<PathBuf>,
    /// `runs/<id>/inputs/`, created when the first step needs an upstream output: input
    /// `NAME` of step `STEP` is laid out in `STEP.NAME` there.
    inputs_dir: std::sync::OnceLock<PathBuf>,
    /// Input copies of steps that succeeded, moved to `.runner/trash/` when the build ends
    /// (removing them between steps would slow the next steps' file creations down on ext4,
    /// which skips recently freed inodes when it allocates).
    spent_inputs: Mutex<Vec<PathBuf>>,
    /// Work left after steps that ran (drift check, action cache entry, history, output
    /// views), and folders made ahead for steps about to run; finished before the build ends.
    tidying: Mutex<Vec<tokio::task::JoinHandle<()>>>,
    /// Per step, the inputs that read its outputs, as (reading step, index in its `inputs`),
    /// ordered by reading step (positions in `steps`).
    readers: Vec<Vec<(usize, usize)>>,
    /// Per step, how many steps it reads outputs of.
    fan_in: Vec<usize>,
    /// Per step (position in `steps`), the copies of upstream outputs being laid out for it
    /// ahead (`ahead::copy_ahead`), each task giving the input folders it filled.
    copied_ahead: Mutex<HashMap<usize, Vec<tokio::task::JoinHandle<Vec<ahead::Laid>>>>>,
    /// Set when a step's result could not be written to the action cache (no memo then).
    uncached: std::sync::atomic::AtomicBool,
    /// Folders made ahead for downstream steps while their upstream ran
    /// (`ahead::prepare_ahead`); those left empty when the build ends are removed.
    ahead: Mutex<Vec<PathBuf>>,
    built_envs: tokio::sync::Mutex<HashMap<String, PathBuf>>,
    /// What steps that ran leave in the databases, waiting for the next group commit.
    ledger: ledger::Ledger,
    /// One permit per step process allowed at once (`--jobs`), held from its spawn to its
    /// exit only: the scheduler keeps [`LOOKAHEAD`] times as many steps in flight, so the
    /// next ones look themselves up and prepare while these run, and start the moment a
    /// process exits, while the one that exited is still being stored.
    slots: Arc<tokio::sync::Semaphore>,
    /// Per compute target, its `max_nodes` (default: the number of CPUs) permits, held as
    /// `slots`' are.
    targets: HashMap<String, (Arc<dyn exec::ComputeTarget>, Arc<tokio::sync::Semaphore>)>,
    /// The compute target every step runs on, whatever its own (`BuildOptions::compute`).
    compute: Option<String>,
    /// Which steps are traced, and whether an undeclared read fails one (`reads`).
    reads: ReadsPolicy,
    /// Whether `strace` runs here, asked once, when a step is first traced.
    strace: std::sync::OnceLock<bool>,
    /// Per step (position in `steps`), the steps it depends on.
    deps: Vec<Vec<usize>>,
    /// Step name → position in `steps`.
    positions: HashMap<String, usize>,
    /// Holds a step's `Running` until its upstream reported `Finished` (`build/announce.rs`).
    announcer: announce::Announcer,
    policy: Policy,
    cancel: CancelToken,
    /// The tag every step process of this run carries (`exec::supervise`).
    tag: exec::supervise::RunTag,
    /// The views lock (`build/views.rs`).
    views: cache::FolderLock,
    /// This build's supervisor, started with its first step process (`Some(None)`: it could
    /// not be started, or the build is over).
    supervisor: Mutex<Option<Option<exec::supervise::Supervisor>>>,
    /// Where this build's events go.
    sink: Arc<dyn Sink>,
    /// The shared cache (`[cache] remote`), if the pipeline has one.
    remote: Option<remote::Remote>,
    /// Per step (position in `steps`), the names of its outputs some step reads.
    read_outputs: Vec<Vec<String>>,
    /// The datastores outputs are also written to, by name (`build/stored.rs`).
    output_stores: BTreeMap<String, Arc<dyn driver::datastore::Datastore>>,
    /// Results whose views were not laid out because their bytes are in the shared cache
    /// (`download = "final"`), by manifest digest.
    unlaid: Mutex<std::collections::HashSet<Digest>>,
    /// Whether to start a supervisor ([`BuildOptions::supervise`]).
    supervised: bool,
    /// Targets elsewhere warmed up ahead of their first job (`build/warm.rs`).
    warming: warm::Warming,
}

impl Shared {
    /// The compute name step `i` runs on: the build's (`--compute`), else its own.
    fn compute_of(&self, i: usize) -> &str {
        self.compute.as_deref().unwrap_or_else(|| {
            let step = &self.steps[i].step;
            step.compute.as_ref().map_or(hir::schema::BUILTIN_COMPUTE, |c| c.value.as_str())
        })
    }

    /// Starts this build's supervisor (`exec::supervise`) unless it runs already or the build
    /// is over: a copy of this binary (`/proc/self/exe`, which works even if the file was
    /// replaced since) that kills the run's step processes if this process dies before
    /// [`Shared::stop_supervising`].
    fn supervise(&self) {
        let mut sup = self.supervisor.lock().unwrap_or_else(|e| e.into_inner());
        if sup.is_none() && self.supervised {
            let args = [crate::SUPERVISE_ARG, self.tag.as_str()];
            let started = exec::supervise::Supervisor::start(Path::new("/proc/self/exe"), &args);
            if let Err(e) = &started {
                self.warn(
                    None,
                    format!("no supervisor ({e}): if this process is killed, its steps live on"),
                );
            }
            *sup = Some(started.ok());
        }
    }

    /// Sends `event` to the build's sink.
    fn emit(&self, event: Event) {
        self.sink.event(event);
    }

    /// Reports a warning (concerning `step`, if one).
    fn warn(&self, step: Option<&str>, message: String) {
        self.emit(Event::Warning { step: step.map(str::to_owned), message });
    }

    /// Tells the supervisor, if one was started, that every step process is gone; none is
    /// started after this.
    fn stop_supervising(&self) {
        let sup = self.supervisor.lock().unwrap_or_else(|e| e.into_inner()).replace(None);
        if let Some(Some(sup)) = sup {
            sup.finish();
        }
    }
}

fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

/// Steps in flight per process slot (`--jobs`): a step looks itself up, lays out its
/// inputs and makes its output folders before it waits for a slot ([`Shared::slots`]).
/// Measured on a cold build of 100 independent trivial steps at `-j2`: with one step in
/// flight per slot, two processes ran at once during only a third of the build.
const LOOKAHEAD: usize = 2;

/// How long a build waits at its end, at most, for files hashed in their racy window to
/// settle, so the next build can trust their stat (see `cache::StatCache::settle`).
pub const SETTLE_WAIT: Duration = Duration::from_millis(150);

/// Copies what the executor needs out of the database, in topological order, limited to
/// `wanted` steps and their dependencies.
fn step_infos(project: &Project, wanted: &[String]) -> anyhow::Result<Vec<StepInfo>> {
    let db = &project.db;
    let g = hir::step_graph(db, project.file);
    let keep = selection(project, wanted)?;
    let mut out = Vec::new();
    let items = driver::steps_by_name(db, project.file);
    for (i, name) in g.order.iter().enumerate() {
        if !keep[i] {
            continue;
        }
        let item = *items.get(name.as_str()).context("step vanished")?;
        let fields = match hir::step_key_fields(db, project.file, item) {
            Ok(f) => f.clone(),
            Err(e) => anyhow::bail!("step {name}: cannot compute its key: {e:?}"),
        };
        let step = hir::lower_item(db, item).step().cloned().context("not a step")?;
        let resolved = hir::resolve_step(db, project.file, item);
        out.push(StepInfo {
            name: name.clone(),
            fields,
            step,
            inputs: resolved.inputs.clone(),
            upstream: resolved.deps.clone(),
        });
    }
    Ok(out)
}

/// Refuses to build `project` in a state folder whose last run was of another pipeline
/// file in the same folder ([`crate::Error::SharedState`]). File names are compared, not
/// paths: a project folder that moved keeps its state.
fn refuse_shared_state(history: &History, project: &Project, state: &Path) -> anyhow::Result<()> {
    let name = |p: &Path| p.file_name().map(|n| n.to_string_lossy().into_owned());
    let Some(last) = history.runs(None, 1).context("reading run history")?.into_iter().next()
    else {
        return Ok(());
    };
    let (other, this) = (name(Path::new(&last.pipeline_path)), name(&project.path));
    match (other, this) {
        (Some(other), Some(this)) if other != this => {
            Err(crate::Error::SharedState { state: state.display().to_string(), other, this }
                .into())
        }
        _ => Ok(()),
    }
}

/// Which steps a build of `wanted` covers (all when empty): one flag per step, in
/// `hir::step_graph` order.
///
/// Errors: a name that is not a step (with the closest name, if any).
pub fn selection(project: &Project, wanted: &[String]) -> crate::Result<Vec<bool>> {
    let g = hir::step_graph(&project.db, project.file);
    let mut roots = Vec::new();
    for w in wanted {
        match g.position(w) {
            Some(i) => roots.push(i),
            None => {
                // The step names, indexed as the checker's suggestions are (the graph's
                // steps are the index's).
                let names = hir::names(&project.db, project.file, hir::NameKind::Step);
                let closest = names.closest(w).map(str::to_owned);
                return Err(crate::Error::UnknownStep { name: w.clone(), closest });
            }
        }
    }
    Ok(if roots.is_empty() { vec![true; g.order.len()] } else { g.closure(&roots) })
}

/// The runtime builds run on.
pub fn runtime() -> crate::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the scheduler")
        .map_err(crate::Error::Io)
}

/// The cache builds of `project` write through: `.runner/cache`, created if needed (and
/// `.runner/` with it, ignored by git: `driver::make_state_dir`), with
/// deferred sync (entries are published atomically but fsynced once, when a build ends; see
/// `cache::Cache`). A session that builds again and again (`runner watch`) keeps one, so its
/// lookups of unchanged steps are answered from memory.
pub fn open_cache(project: &Project) -> crate::Result<Cache> {
    let open = || -> anyhow::Result<Cache> {
        let state = std::path::absolute(project.state_dir())?;
        driver::make_state_dir(&state)?;
        Ok(Cache::open(&state.join("cache")).context("opening the cache")?.with_deferred_sync())
    };
    open().map_err(crate::Error::classify)
}

/// Plans and runs one build of an already-loaded, checked project (its paths refreshed)
/// through `cache` (from [`open_cache`]): reuses what the action cache holds, runs the rest,
/// records the run. `prefetch` is what a plan made just before found (`runner watch` plans
/// first, to see whether anything must run): a step whose key is the one planned takes its
/// lookup from there; without one, each step looks itself up. Steps that can be reused at
/// once are reused on the calling thread before the scheduler starts, which then gets only
/// what must run and what waits for it (`reuse_ahead`). Cancelling
/// `cancel` stops running steps (SIGTERM, then SIGKILL) and records the run as interrupted.
/// Reports to `sink` as it goes ([`Event`]); prints nothing.
///
/// Errors ([`crate::Error`]): a step named in `opts.wanted` is not in the pipeline; the
/// state folder, the history or the cache cannot be used; the disk is full. A step that
/// fails is not an error: the summary says so.
pub fn run_build(
    project: &Project,
    cache: &Cache,
    prefetch: Option<driver::Prefetch>,
    opts: &BuildOptions,
    rt: &tokio::runtime::Runtime,
    cancel: &CancelToken,
    sink: Arc<dyn Sink>,
) -> crate::Result<BuildSummary> {
    build_once(project, cache, prefetch, opts, rt, cancel, sink).map_err(|e| {
        match e.downcast::<crate::Error>() {
            Ok(typed) => typed,
            Err(e) => crate::Error::classify(e),
        }
    })
}

/// [`run_build`], with its errors untyped.
#[allow(clippy::too_many_arguments)]
fn build_once(
    project: &Project,
    cache: &Cache,
    prefetch: Option<driver::Prefetch>,
    opts: &BuildOptions,
    rt: &tokio::runtime::Runtime,
    cancel: &CancelToken,
    sink: Arc<dyn Sink>,
) -> anyhow::Result<BuildSummary> {
    let git = crate::git::GitProbe::start(&project.root);
    let steps = step_infos(project, &opts.wanted)?;
    if let Some(c) = &opts.compute
        && !hir::index(&project.db, project.file).computes.contains_key(c)
    {
        let names = hir::names(&project.db, project.file, hir::NameKind::Compute);
        let closest = names.closest(c).map(str::to_owned);
        return Err(crate::Error::UnknownCompute { name: c.clone(), closest }.into());
    }
    let state = std::path::absolute(project.state_dir())?;
    let prefetch = prefetch.unwrap_or_default();
    let cache = cache.clone();
    let history = History::open(&state.join("history.sqlite")).context("opening run history")?;
    refuse_shared_state(&history, project, &state)?;
    let emptying = reap_and_tidy(&history, &state)?;
    // Off the critical path: a cold build writes it while its first steps run.
    let reserving = {
        let state = state.clone();
        std::thread::spawn(move || trash::keep_reserve(&state))
    };
    let ix = hir::index(&project.db, project.file);
    let pipeline = project.name();
    let experiment = opts
        .experiment
        .clone()
        .or_else(|| ix.meta.experiment.clone())
        .unwrap_or_else(|| pipeline.clone());
    let params: BTreeMap<String, String> = hir::param_values(&project.db, project.file)
        .values
        .iter()
        .map(|(k, v)| (k.clone(), v.canonical()))
        .collect();
    let run_id = history
        .start_run(&NewRun {
            experiment: experiment.clone(),
            pipeline: pipeline.clone(),
            pipeline_path: std::fs::canonicalize(&project.display)
                .map_or(project.display.clone(), |p| p.display().to_string()),
            params: params.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
            git: git.finish(),
            started_ms: now_ms(),
            pid: std::process::id(),
        })
        .context("recording the run")?;
    driver::new_run_dir(&state, run_id)?;
    let cpus = std::thread::available_parallelism().map_or(2, usize::from);
    let targets = ix
        .computes
        .iter()
        .map(|(name, info)| {
            let max = info.max_nodes.map_or(cpus, |m| m as usize);
            let target = opts.targets.resolve(name, info, &project.root, opts.supervise);
            (name.clone(), (target, Arc::new(tokio::sync::Semaphore::new(max))))
        })
        .collect();
    let jobs = opts.jobs.unwrap_or(cpus).max(1);
    sink.event(Event::Started {
        run: run_id,
        pipeline: pipeline.clone(),
        experiment: experiment.clone(),
        steps: steps.len(),
    });
    let position: HashMap<&str, usize> =
        steps.iter().enumerate().map(|(i, s)| (s.name.as_str(), i)).collect();
    let deps: Vec<Vec<usize>> = steps
        .iter()
        .map(|s| s.upstream.iter().filter_map(|u| position.get(u.as_str()).copied()).collect())
        .collect();
    let positions: HashMap<String, usize> =
        position.iter().map(|(k, v)| ((*k).to_owned(), *v)).collect();
    let root = std::path::absolute(&project.root)?;
    let remote = remote::Remote::open(ix, &cache, (&root, &state), run_id, &pipeline)?;
    let mut readers = vec![Vec::new(); steps.len()];
    for (j, s) in steps.iter().enumerate() {
        for (k, (_, target)) in s.inputs.iter().enumerate() {
            if let Target::Output { step, .. } = target
                && let Some(&i) = position.get(step.as_str())
            {
                readers[i].push((j, k));
            }
        }
    }
    let read_outputs = readers
        .iter()
        .map(|rs: &Vec<(usize, usize)>| {
            let mut names: Vec<String> = rs
                .iter()
                .filter_map(|&(j, k)| match &steps[j].inputs[k].1 {
                    Target::Output { output, .. } => Some(output.clone()),
                    Target::Data(_) => None,
                })
                .collect();
            names.sort();
            names.dedup();
            names
        })
        .collect();
    let output_stores = stored::stores_of(project, ix, &steps);
    let shared = Arc::new(Shared {
        output_stores,
        unlaid: Mutex::default(),
        remote,
        read_outputs,
        project_root: std::path::absolute(&project.root)?,
        state: state.clone(),
        pipeline,
        experiment,
        run_id,
        cache,
        history: Mutex::new(history),
        data: data_sources(project, ix),
        params,
        envs: ix
            .environments
            .iter()
            .map(|(k, (py, req))| (k.clone(), (py.clone(), req.as_ref().map(|r| project.abs(r)))))
            .collect(),
        steps,
        results: Mutex::default(),
        prefetch: Mutex::new(prefetch),
        manifests: Mutex::default(),
        outcomes: Mutex::default(),
        pending: Mutex::default(),
        snapshots: tokio::sync::Mutex::default(),
        metrics_dir: std::sync::OnceLock::new(),
        inputs_dir: std::sync::OnceLock::new(),
        spent_inputs: Mutex::default(),
        tidying: Mutex::default(),
        readers,
        fan_in: deps.iter().map(Vec::len).collect(),
        copied_ahead: Mutex::default(),
        ahead: Mutex::default(),
        uncached: std::sync::atomic::AtomicBool::new(false),
        built_envs: tokio::sync::Mutex::default(),
        ledger: ledger::Ledger::default(),
        slots: Arc::new(tokio::sync::Semaphore::new(jobs)),
        targets,
        compute: opts.compute.clone(),
        reads: ReadsPolicy {
            trace: opts.trace_reads,
            strict: opts.strict_reads || ix.meta.strict_reads.unwrap_or(false),
            defaults: ix.meta.reuse,
            stores: ix.datastores.values().map(|d| project.abs(d)).collect(),
            marked: reads::marked(&state),
        },
        strace: std::sync::OnceLock::new(),
        announcer: announce::Announcer::new(deps.len()),
        positions,
        deps: deps.clone(),
        policy: Policy { regenerate: opts.regenerate },
        cancel: cancel.clone(),
        tag: exec::supervise::RunTag::new(&state, run_id),
        views: views::lock_of(&state),
        supervisor: Mutex::default(),
        sink,
        supervised: opts.supervise,
        warming: warm::Warming::default(),
    });
    views::baseline(&shared);
    let started = Instant::now();
    if let Some(remote) = &shared.remote {
        remote.prefetch_roots(&shared, &deps);
    }
    let states = rt.block_on(async {
        let reused = reuse_ahead(&shared, &deps);
        let (rest, rest_deps) = remaining(&deps, &reused);
        let sh = shared.clone();
        let in_flight = jobs.saturating_mul(LOOKAHEAD);
        let to_run = rest.clone();
        let scheduled = exec::schedule(&rest_deps, in_flight, shared.cancel.clone(), move |k| {
            let (sh, i) = (sh.clone(), to_run[k]);
            async move { run_step(&sh, i).await }
        })
        .await;
        let mut states = vec![NodeState::Succeeded; deps.len()];
        for (k, &i) in rest.iter().enumerate() {
            states[i] = scheduled[k];
        }
        let tidying =
            std::mem::take(&mut *shared.tidying.lock().unwrap_or_else(|e| e.into_inner()));
        for t in tidying {
            let _ = t.await;
        }
        ledger::flush(&shared);
        shared.announcer.flush(|e| shared.emit(e));
        // Folders made ahead for steps that did not run (reused, skipped) go again.
        let ahead = std::mem::take(&mut *shared.ahead.lock().unwrap_or_else(|e| e.into_inner()));
        for dir in ahead {
            let _ = std::fs::remove_dir(&dir);
        }
        let mut spent =
            std::mem::take(&mut *shared.spent_inputs.lock().unwrap_or_else(|e| e.into_inner()));
        spent.extend(ahead::drain_copied(&shared).await);
        discard_inputs(&shared, spent, &states);
        shared.stop_supervising();
        shared.stop_warming();
        if let Some(t) = emptying {
            let _ = t.join();
        }
        let _ = reserving.join();
        states
    });
    finish(&shared, &states, started)
}

/// The steps not `reused` (indices into `deps`) and their dependencies among themselves
/// (indices into that list): the graph left for the scheduler.
fn remaining(deps: &[Vec<usize>], reused: &[bool]) -> (Vec<usize>, Vec<Vec<usize>>) {
    let rest: Vec<usize> = (0..deps.len()).filter(|&i| !reused[i]).collect();
    let mut at = vec![usize::MAX; deps.len()];
    for (k, &i) in rest.iter().enumerate() {
        at[i] = k;
    }
    let rest_deps = rest
        .iter()
        .map(|&i| deps[i].iter().filter(|&&d| !reused[d]).map(|&d| at[d]).collect())
        .collect();
    (rest, rest_deps)
}

/// Makes the cache durable (one `syncfs`, on another thread) while it records what the
/// scheduler left undone and the end of the run.
fn finish(shared: &Shared, states: &[NodeState], started: Instant) -> anyhow::Result<BuildSummary> {
    // The sync waits for the disk; the history below needs none of it.
    let cache = shared.cache.clone();
    let syncing = std::thread::spawn(move || cache.sync());
    if let Some(remote) = &shared.remote {
        remote.drain(shared);
    }
    stored::write_all(shared);
    let results = shared.results.lock().unwrap_or_else(|e| e.into_inner()).clone();
    let (written, views) = views::settle(shared, &results);
    let summary = record_end(shared, states, started, written).map(|s| BuildSummary { views, ..s });
    match syncing.join() {
        Ok(Ok(())) => {}
        Ok(Err(e)) => shared.warn(None, format!("syncing the cache to disk: {e}")),
        Err(_) => shared.warn(None, "syncing the cache to disk failed".to_owned()),
    }
    summary.map(|s| BuildSummary { seconds: started.elapsed().as_secs_f64(), ..s })
}

/// Records what the scheduler left undone and the end of the run (failed if `damaged`: a
/// result was written into, see `integrity`); the build's summary.
fn record_end(
    shared: &Shared,
    states: &[NodeState],
    started: Instant,
    damaged: bool,
) -> anyhow::Result<BuildSummary> {
    let history = shared.history.lock().unwrap_or_else(|e| e.into_inner());
    for (i, s) in states.iter().enumerate() {
        let name = &shared.steps[i].name;
        let status = match s {
            NodeState::Skipped => StepStatus::Skipped,
            NodeState::Cancelled
                if !shared
                    .outcomes
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .iter()
                    .any(|o| &o.step == name) =>
            {
                StepStatus::Interrupted
            }
            _ => continue,
        };
        let reason = if status == StepStatus::Skipped {
            "an upstream step failed"
        } else {
            "interrupted before it started"
        };
        shared.pending.lock().unwrap_or_else(|e| e.into_inner()).push(StepRecord {
            dirty_reason: Some(reason.to_owned()),
            ..StepRecord::bare(shared.run_id, name, status)
        });
        finished(
            shared,
            Outcome {
                step: name.clone(),
                status,
                reason: Some(reason.to_owned()),
                reused_from: None,
                duration_ms: None,
                key: None,
                stderr_log: None,
                ran: None,
                undeclared_reads: Vec::new(),
            },
            Vec::new(),
            None,
        );
    }
    let pending = std::mem::take(&mut *shared.pending.lock().unwrap_or_else(|e| e.into_inner()));
    if let Err(e) = with_space(shared, true, || history.record_steps(&pending)) {
        shared.warn(None, format!("recording {} step records: {e}", pending.len()));
    }
    let interrupted = shared.cancel.is_cancelled();
    let failed = states.iter().any(|s| matches!(s, NodeState::Failed | NodeState::Skipped));
    let status = if interrupted {
        RunStatus::Interrupted
    } else if failed || damaged {
        RunStatus::Failed
    } else {
        RunStatus::Succeeded
    };
    with_space(shared, true, || history.finish_run(shared.run_id, status, now_ms()))
        .context("recording the end of the run")?;
    let outcomes = shared.outcomes.lock().unwrap_or_else(|e| e.into_inner()).clone();
    let results = shared.results.lock().unwrap_or_else(|e| e.into_inner()).clone();
    let manifests =
        std::mem::take(&mut *shared.manifests.lock().unwrap_or_else(|e| e.into_inner()));
    Ok(BuildSummary {
        run_id: shared.run_id,
        status,
        pipeline: shared.pipeline.clone(),
        experiment: shared.experiment.clone(),
        seconds: started.elapsed().as_secs_f64(),
        outcomes,
        results: results.into_iter().collect(),
        memo: false,
        manifests,
        uncached: shared.uncached.load(std::sync::atomic::Ordering::Relaxed),
        views: None,
        shared_cache: shared.remote.as_ref().map(remote::Remote::traffic),
    })
}

/// `write()`, tried again once, after freeing what this build can ([`trash::free_space`];
/// `ended`: its steps are over), if it fails: on a full disk, the end of a run that ran out
/// of space is still recorded.
fn with_space<T>(
    shared: &Shared,
    ended: bool,
    write: impl Fn() -> history::Result<T>,
) -> history::Result<T> {
    write().or_else(|_| {
        trash::free_space(shared, ended);
        write()
    })
}

/// Records a step's outcome for the summary and reports it ([`Event::Finished`]), with the
/// metrics it logged and, for a failure, its stderr's last lines and log path.
fn finished(
    shared: &Shared,
    o: Outcome,
    metrics: Vec<(String, f64)>,
    log_tail: Option<(String, PathBuf)>,
) {
    let end = StepEnd {
        step: o.step.clone(),
        status: o.status,
        reason: o.reason.clone(),
        reused_from: o.reused_from,
        seconds: o.duration_ms.map(|ms| ms as f64 / 1000.0),
        metrics,
        log_tail,
    };
    let i = shared.positions.get(&o.step).copied();
    shared.outcomes.lock().unwrap_or_else(|e| e.into_inner()).push(o);
    shared.emit(Event::Finished(end));
    if let Some(i) = i {
        shared.announcer.finished(i, &shared.deps, |e| shared.emit(e));
    }
}

/// Step `i`'s key record, its key, and what the lookup of its key found (taken from
/// `Shared::prefetch` when a plan made before looked the same key up); the verified
/// outputs' manifests go to `Shared::manifests`. `None`: an upstream result is missing.
fn key_and_lookup(shared: &Shared, i: usize) -> Option<(KeyRecord, Digest, plan::Lookup)> {
    let info = &shared.steps[i];
    let record = {
        let results = shared.results.lock().unwrap_or_else(|e| e.into_inner());
        KeyRecord::new(&info.fields, |s, o| results.get(s).and_then(|m| m.get(o)).copied())
    };
    let record = record.ok()?;
    let key = record.digest();
    let planned = shared.prefetch.lock().unwrap_or_else(|e| e.into_inner()).remove(&info.name);
    let root = Some(shared.project_root.as_path());
    let (mut found, mut kept) = match planned {
        Some(f) if f.key == key => (f.lookup, f.manifests),
        _ => {
            let mut kept = Vec::new();
            let found =
                driver::lookup_with(&shared.cache, &key, root, &mut |d, m| kept.push((d, m)));
            (found, kept)
        }
    };
    if matches!(found, plan::Lookup::Miss)
        && let Some(remote) = &shared.remote
        && remote.import(shared, i, &key)
    {
        kept.clear();
        found = driver::lookup_with(&shared.cache, &key, root, &mut |d, m| kept.push((d, m)));
    }
    if !kept.is_empty() {
        shared.manifests.lock().unwrap_or_else(|e| e.into_inner()).extend(kept);
    }
    Some((record, key, found))
}

/// The one step decision (`driver::decide_step`) for step `i`, with its last success read
/// from history only when it runs.
fn decide(shared: &Shared, i: usize, record: &KeyRecord, found: plan::Lookup) -> Decision {
    let info = &shared.steps[i];
    let step = driver::StepDecision {
        name: &info.name,
        allow_reuse: info.step.allow_reuse,
        policy: shared.policy,
    };
    let last = || {
        let history = shared.history.lock().unwrap_or_else(|e| e.into_inner());
        previous(&history, &shared.pipeline, &info.name)
    };
    driver::decide_step(&step, record, found, last)
}

/// Reuses, on this thread and before the scheduler starts, every step that can be decided
/// now: in order, a step whose upstream steps were all reused here is keyed and looked up
/// (every lookup in one read transaction of the action cache) and, when its result may be
/// reused, reused. The scheduler then gets only the rest (what must run, and what waits for
/// it), so a build that reruns one step of a thousand spawns no task for the others. A step
/// that must run keeps its lookup (`Shared::prefetch`) for the scheduler, so nothing is
/// looked up twice, and warms up its target when that is elsewhere (`build/warm.rs`), so
/// a connection opens while the rest is looked up. Returns one flag per step: reused here.
fn reuse_ahead(shared: &Shared, deps: &[Vec<usize>]) -> Vec<bool> {
    let mut done = vec![false; shared.steps.len()];
    if shared.policy.regenerate {
        // Every step runs: those with no upstream at once.
        for i in (0..deps.len()).filter(|&i| deps[i].is_empty()) {
            shared.warm_up(i);
        }
        return done;
    }
    shared.cache.snapshot_reads(|| {
        for i in 0..shared.steps.len() {
            if shared.cancel.is_cancelled() {
                break;
            }
            if !deps[i].iter().all(|&d| done[d]) {
                continue;
            }
            let Some((record, key, found)) = key_and_lookup(shared, i) else { continue };
            let reusable =
                matches!(found, plan::Lookup::Hit { .. }) && shared.steps[i].step.allow_reuse;
            if !reusable {
                let name = shared.steps[i].name.clone();
                let kept = driver::Found { key, lookup: found, manifests: Vec::new() };
                shared.prefetch.lock().unwrap_or_else(|e| e.into_inner()).insert(name, kept);
                shared.warm_up(i);
                continue;
            }
            if let Decision::Reuse { run_id, outputs, cosmetic, reads } =
                decide(shared, i, &record, found)
            {
                let note = plan::reuse_note(&cosmetic, &reads);
                let reused = reuse(shared, i, key, (run_id, outputs), note.as_deref(), reads);
                done[i] = reused == NodeState::Succeeded;
            }
            if !done[i] {
                shared.warm_up(i);
            }
        }
    });
    done
}

async fn run_step(shared: &Arc<Shared>, i: usize) -> NodeState {
    let Some((record, key, found)) = key_and_lookup(shared, i) else {
        return NodeState::Skipped;
    };
    match decide(shared, i, &record, found) {
        Decision::Reuse { run_id, outputs, cosmetic, reads } => {
            let note = plan::reuse_note(&cosmetic, &reads);
            reuse(shared, i, key, (run_id, outputs), note.as_deref(), reads)
        }
        Decision::Run(reasons) => {
            let reason = reasons.iter().map(ToString::to_string).collect::<Vec<_>>().join("; ");
            match claim(shared, i, key).await {
                Claim::Run(lock) => execute::execute(shared, i, key, record, reason, lock).await,
                Claim::Reuse { run_id, outputs, reads } => {
                    let why = Some("computed by a concurrent build");
                    reuse(shared, i, key, (run_id, outputs), why, reads)
                }
                // Recorded as interrupted before it started, with the steps never started.
                Claim::Cancelled => NodeState::Cancelled,
            }
        }
    }
}

/// What [`claim`] found.
enum Claim {
    /// Run the step, holding its key's lock (`None`: no lock is needed or to be had).
    Run(Option<cache::KeyLock>),
    /// A concurrent build computed the key meanwhile: reuse its result.
    Reuse { run_id: i64, outputs: BTreeMap<String, Digest>, reads: Vec<String> },
    /// The build was cancelled while waiting.
    Cancelled,
}

/// How often a step whose key another build is computing checks whether it is done.
const CLAIM_POLL: Duration = Duration::from_millis(25);

/// Takes the lock of step `i`'s key before it runs (`cache::Cache::try_lock_key`), so two
/// builds never compute one key at once: when another build holds it, waits for it and
/// looks the key up again, to reuse what that build recorded. A step that must run anyway
/// (`allow_reuse = false`, `--regenerate`) takes no lock.
async fn claim(shared: &Shared, i: usize, key: Digest) -> Claim {
    let info = &shared.steps[i];
    if !info.step.allow_reuse || shared.policy.regenerate {
        return Claim::Run(None);
    }
    let mut waited = false;
    loop {
        let lock = match shared.cache.try_lock_key(&key) {
            Ok(Some(lock)) => lock,
            Ok(None) => {
                if !waited {
                    shared.emit(Event::Waiting { step: info.name.clone() });
                }
                waited = true;
                tokio::select! {
                    () = tokio::time::sleep(CLAIM_POLL) => continue,
                    () = shared.cancel.cancelled() => return Claim::Cancelled,
                }
            }
            // No lock to be had: run without sharing.
            Err(_) => return Claim::Run(None),
        };
        if !waited {
            return Claim::Run(Some(lock));
        }
        let mut kept = Vec::new();
        let root = Some(shared.project_root.as_path());
        return match driver::lookup_with(&shared.cache, &key, root, &mut |d, m| kept.push((d, m))) {
            plan::Lookup::Hit { run_id, outputs, reads, .. } => {
                shared.manifests.lock().unwrap_or_else(|e| e.into_inner()).extend(kept);
                Claim::Reuse { run_id, outputs, reads }
            }
            _ => Claim::Run(Some(lock)),
        };
    }
}

/// Every data reference with a path, by where its bytes are (`Project::data_source`: the
/// rule the driver probed them by), paths here made absolute.
fn data_sources(project: &Project, ix: &hir::Index) -> BTreeMap<String, DataSource> {
    ix.data
        .iter()
        .filter_map(|(name, path)| {
            let path = path.as_ref()?;
            let at = ix.data_locations.get(name).map(|(s, p)| (s.as_str(), p.as_str()));
            let source = match project.data_source(at, path) {
                DataSource::Here(p) => DataSource::Here(std::path::absolute(&p).unwrap_or(p)),
                store => store,
            };
            Some((name.clone(), source))
        })
        .collect()
}

/// Step `i` (key `key`) reuses the result of run `run_id`: its views, its record, its
/// outcome. `why`: how the result came to be reused, or what to say with it; `reads`: the
/// files its run read outside its key (unchanged since).
fn reuse(
    shared: &Shared,
    i: usize,
    key: Digest,
    (run_id, outputs): (i64, BTreeMap<String, Digest>),
    why: Option<&str>,
    reads: Vec<String>,
) -> NodeState {
    let info = &shared.steps[i];
    views::update(shared, &info.name, &outputs);
    // Run 0: a result from the shared cache, made by no run of this history; its origin
    // is said instead, and the producing run's logs are where the import kept them.
    let shared_origin = (run_id == 0)
        .then(|| shared.cache.get_action(&key).ok().flatten().and_then(|r| r.origin))
        .flatten();
    let why = match (&shared_origin, why) {
        (Some(origin), Some(w)) => Some(format!("from the shared cache: {origin}; {w}")),
        (Some(origin), None) => Some(format!("from the shared cache: {origin}")),
        (None, w) => w.map(str::to_owned),
    };
    let reused_from = shared_origin.is_none().then_some(run_id);
    let log_dir = match (&shared.remote, &shared_origin) {
        (Some(r), Some(_)) => Some(r.logs_of(&key)).filter(|d| d.is_dir()),
        _ => None,
    };
    let rec = StepRecord {
        reused_from,
        dirty_reason: why.clone().filter(|_| shared_origin.is_some()),
        // No run of this history names them: the record does.
        outputs: shared_origin.is_some().then(|| outputs_json(&outputs)),
        log_dir: log_dir.map(|d| d.display().to_string()),
        ..StepRecord::bare(shared.run_id, &info.name, StepStatus::Reused)
    };
    shared.pending.lock().unwrap_or_else(|e| e.into_inner()).push(rec);
    shared.results.lock().unwrap_or_else(|e| e.into_inner()).insert(info.name.clone(), outputs);
    finished(
        shared,
        Outcome {
            step: info.name.clone(),
            status: StepStatus::Reused,
            reason: why,
            reused_from,
            duration_ms: None,
            key: Some(key.to_hex()),
            stderr_log: None,
            ran: None,
            undeclared_reads: reads,
        },
        Vec::new(),
        None,
    );
    NodeState::Succeeded
}

/// Records one step's record now (a step that failed or was interrupted).
fn record_locked(shared: &Shared, rec: StepRecord) {
    let history = shared.history.lock().unwrap_or_else(|e| e.into_inner());
    if let Err(e) = with_space(shared, false, || history.record_step(&rec)) {
        shared.warn(Some(&rec.step), format!("recording step {}: {e}", rec.step));
    }
}

fn outputs_json(outputs: &BTreeMap<String, Digest>) -> String {
    serde_json::to_string(
        &outputs.iter().map(|(k, v)| (k.clone(), v.to_hex())).collect::<BTreeMap<_, _>>(),
    )
    .unwrap_or_default()
}

/// The manifest with digest `d`: from memory when this build stored or looked it up, else
/// from `manifests/`. `Ok(None)` when it is nowhere.
fn manifest_of(shared: &Shared, d: Digest) -> cache::Result<Option<cache::Manifest>> {
    let known = shared.manifests.lock().unwrap_or_else(|e| e.into_inner()).get(&d).cloned();
    match known {
        Some(m) => Ok(Some(m)),
        None => shared.cache.get_manifest(&d),
    }
}
