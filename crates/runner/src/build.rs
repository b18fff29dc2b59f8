//! `runner build` and `runner status`: plan each step in dependency order, reuse what the
//! action cache holds (verified), run the rest on their compute target, record everything.
//!
//! The loop, per step, once its upstream steps are done:
//! 1. complete the step key with the manifest digests of upstream outputs (`plan::KeyRecord`);
//! 2. look the key up in the action cache and verify every output blob (a broken entry is a
//!    miss, said so);
//! 3. decide (`plan::decide`): reuse, or run with dirty reasons from the last success;
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

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::Context as _;
use cache::{Cache, StatCache};
use exec::{CancelToken, NodeState};
use hir::{Digest, Target};
use history::{History, NewRun, RunStatus, StepRecord, StepStatus};
use plan::{Decision, KeyRecord, Policy};

use driver::{Project, previous};

/// Prints one line to stderr with a single write (stderr is unbuffered, and `eprintln!`
/// can issue a write per formatted piece: 10,000 syscalls for a 1,000-step no-op).
macro_rules! say {
    ($($arg:tt)*) => {{
        crate::progress::line(format!($($arg)*));
    }};
}

mod ahead;
mod execute;
mod inputs;
mod integrity;
mod ledger;
mod memo;
mod trash;
mod views;

use trash::discard_inputs;
pub(crate) use trash::reap_and_tidy;

/// `runner build` arguments.
#[derive(clap::Args)]
pub(crate) struct BuildArgs {
    /// `[PATH] [STEP]...`: a pipeline file or folder (default `.`), then steps to build (with
    /// what they need). The first argument is a path when it exists on disk.
    args: Vec<String>,
    /// Override a parameter for this run: NAME=VALUE (repeatable). The value is one
    /// argument to the step, never a shell word.
    #[arg(long = "param", value_name = "NAME=VALUE")]
    params: Vec<String>,
    /// Run every step, reusing nothing (Azure's regenerate_outputs).
    #[arg(long)]
    regenerate: bool,
    /// Print the plan (what would run and why) and stop.
    #[arg(long)]
    dry_run: bool,
    /// Record the run under this experiment (default: `[pipeline] experiment`, else its name).
    #[arg(long)]
    experiment: Option<String>,
    /// Steps running at once, at most: 1 to 4096 (default: the number of CPUs).
    #[arg(short = 'j', long, value_parser = crate::parse_jobs)]
    jobs: Option<usize>,
    /// Output: `human` lines on stderr, or one JSON document on stdout at the end.
    #[arg(long, value_enum, default_value_t = crate::Format::Human)]
    format: crate::Format,
}

/// Everything about one step the executor needs, copied out of the database.
struct StepInfo {
    name: String,
    fields: hir::StepKeyFields,
    step: hir::Step,
    inputs: Vec<(String, Target)>,
    upstream: Vec<String>,
}

/// What happened to a step in this build.
#[derive(Clone, Debug, serde::Serialize)]
pub(crate) struct Outcome {
    pub(crate) step: String,
    pub(crate) status: &'static str,
    pub(crate) reason: Option<String>,
    reused_from: Option<i64>,
    duration_ms: Option<u64>,
    key: Option<String>,
    /// The step's stderr log, for a step that ran and failed (not in the JSON document).
    #[serde(skip)]
    pub(crate) stderr_log: Option<PathBuf>,
    /// When the process of a step that ran started and ended (not in the JSON document).
    #[serde(skip)]
    ran: Option<(SystemTime, SystemTime)>,
}

/// How much a build prints on stderr while it runs.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Progress {
    /// `runner build`'s human output: a header, a line per step, failure log tails.
    Full,
    /// Only steps starting (with their reasons), warnings and environment builds:
    /// `runner watch` prints its own summary, failure log tails included.
    Running,
    /// Nothing (JSON output).
    Quiet,
}

/// What to build, and how, in an already-loaded project.
pub(crate) struct BuildOpts {
    /// Steps to build (with what they need); empty: all.
    pub(crate) wanted: Vec<String>,
    /// Run every step, reusing nothing.
    pub(crate) regenerate: bool,
    /// Experiment to record the run under (default: `[pipeline] experiment`, else its name).
    pub(crate) experiment: Option<String>,
    /// Steps running at once, at most (default: the number of CPUs).
    pub(crate) jobs: Option<usize>,
    /// What to print while building.
    pub(crate) progress: Progress,
}

/// What one build did.
pub(crate) struct BuildSummary {
    pub(crate) run_id: i64,
    pub(crate) status: RunStatus,
    pub(crate) pipeline: String,
    pub(crate) experiment: String,
    pub(crate) seconds: f64,
    /// One per step, in the order they finished.
    pub(crate) outcomes: Vec<Outcome>,
    /// Output name → manifest digest, per step that ran or was reused.
    pub(crate) results: BTreeMap<String, BTreeMap<String, Digest>>,
    /// Planned from the build memo (`driver::memo`) instead of the database.
    pub(crate) memo: bool,
    /// The manifests of `results`, each stored or verified in the action cache by this build.
    pub(crate) manifests: HashMap<Digest, cache::Manifest>,
    /// Some step ran but its result could not be written to the action cache.
    pub(crate) uncached: bool,
    /// The views lock, held from the moment the views were found to hold `results` until
    /// the memo that vouches for them is written (`None`: not held; write no memo).
    pub(crate) views: Option<cache::FolderGuard>,
}

impl BuildSummary {
    /// How many steps ended with `status` (`ran`, `reused`, `failed`, …).
    pub(crate) fn count(&self, status: &str) -> usize {
        self.outcomes.iter().filter(|o| o.status == status).count()
    }

    /// The `--format json` document (`hashed_bytes`: bytes read to hash the files the keys
    /// cover, 0 when the stat cache vouched for every one; `planner`: `memo` when the build
    /// memo vouched for every step, else `database`).
    pub(crate) fn json(&self, hashed_bytes: u64) -> serde_json::Value {
        serde_json::json!({
            "run": self.run_id, "status": self.status.as_str(), "pipeline": self.pipeline,
            "seconds": self.seconds, "hashed_bytes": hashed_bytes,
            "planner": if self.memo { "memo" } else { "database" }, "steps": self.outcomes,
        })
    }

    /// The exit code: 0 succeeded, 128 + the signal's number interrupted (130 for Ctrl-C),
    /// 1 otherwise.
    pub(crate) fn exit_code(&self) -> ExitCode {
        match self.status {
            RunStatus::Succeeded => ExitCode::SUCCESS,
            RunStatus::Interrupted => crate::signals::exit_code(),
            _ => ExitCode::from(1),
        }
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
    data_paths: BTreeMap<String, PathBuf>,
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
    targets: HashMap<String, Arc<tokio::sync::Semaphore>>,
    policy: Policy,
    cancel: CancelToken,
    /// The tag every step process of this run carries (`exec::supervise`).
    tag: exec::supervise::RunTag,
    /// The views lock (`build/views.rs`).
    views: cache::FolderLock,
    /// This build's supervisor, started with its first step process (`None` inside: it
    /// could not be started).
    supervisor: Mutex<Option<Option<exec::supervise::Supervisor>>>,
    /// Print running steps, warnings, environment builds ([`Progress::Full`] or `Running`).
    human: bool,
    /// Print everything `runner build` prints ([`Progress::Full`]).
    full: bool,
}

impl Shared {
    /// Starts this build's supervisor (`exec::supervise`) unless it runs already: a copy of
    /// this binary (`/proc/self/exe`, which works even if the file was replaced since) that
    /// kills the run's step processes if this process dies before [`Shared::stop_supervising`].
    fn supervise(&self) {
        let mut sup = self.supervisor.lock().unwrap_or_else(|e| e.into_inner());
        if sup.is_none() {
            let args = [crate::SUPERVISE_ARG, self.tag.as_str()];
            let started = exec::supervise::Supervisor::start(Path::new("/proc/self/exe"), &args);
            if let Err(e) = &started
                && self.human
            {
                say!("  warning: no supervisor ({e}): if runner is killed, its steps live on");
            }
            *sup = Some(started.ok());
        }
    }

    /// Tells the supervisor, if one was started, that every step process is gone.
    fn stop_supervising(&self) {
        let sup = self.supervisor.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(Some(sup)) = sup {
            sup.finish();
        }
    }
}

fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

fn hdig(d: cache::Digest) -> Digest {
    Digest(d.0)
}

fn cdig(d: Digest) -> cache::Digest {
    cache::Digest(d.0)
}

/// Steps in flight per process slot (`--jobs`): a step looks itself up, lays out its
/// inputs and makes its output folders before it waits for a slot ([`Shared::slots`]).
/// Measured on a cold build of 100 independent trivial steps at `-j2`: with one step in
/// flight per slot, two processes ran at once during only a third of the build.
const LOOKAHEAD: usize = 2;

/// How long a build waits at its end, at most, for files hashed in their racy window to
/// settle, so the next build can trust their stat (see `cache::StatCache::settle`).
pub(crate) const SETTLE_WAIT: Duration = Duration::from_millis(150);

/// Loads, checks and prepares a project, hashing through the stat cache; prints
/// diagnostics. `Err(code)` to stop.
fn prepare(
    path: &Path,
    raw_params: &[String],
) -> anyhow::Result<Result<(Project, StatCache), ExitCode>> {
    let params = crate::parse_params(raw_params)?;
    let mut project = Project::load(path, params)?;
    let mut stats = project.load_stat_cache();
    project.refresh_fs_with(&mut stats)?;
    let ready = ready_to_build(&project);
    if ready.is_err() {
        stats.settle(Duration::ZERO);
        let _ = project.save_stat_cache(&mut stats);
    }
    Ok(ready.map(|()| (project, stats)))
}

/// Prints the diagnostics; `Err(1)` when the pipeline has errors, `Err(2)` for bad
/// `--param` values.
pub(crate) fn ready_to_build(project: &Project) -> Result<(), ExitCode> {
    let diags = project.problems();
    let (errors, _) = crate::report(project, &diags);
    if errors > 0 {
        say!(
            "{}: {errors} error{}: fix them to build",
            project.display,
            if errors == 1 { "" } else { "s" }
        );
        return Err(ExitCode::from(1));
    }
    let param_errors = &hir::param_values(&project.db, project.file).errors;
    if !param_errors.is_empty() {
        for e in param_errors {
            say!("runner: {e}");
        }
        return Err(ExitCode::from(2));
    }
    Ok(())
}

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

/// Which steps a build of `wanted` covers (all when empty): one flag per step, in
/// `hir::step_graph` order.
///
/// Errors: a name that is not a step (with the closest name, if any).
fn selection(project: &Project, wanted: &[String]) -> anyhow::Result<Vec<bool>> {
    let g = hir::step_graph(&project.db, project.file);
    let mut roots = Vec::new();
    for w in wanted {
        match g.position(w) {
            Some(i) => roots.push(i),
            None => {
                // The step names, indexed as the checker's suggestions are (the graph's
                // steps are the index's).
                let hint = hir::names(&project.db, project.file, hir::NameKind::Step)
                    .closest(w)
                    .map(|s| format!(" (did you mean `{s}`?)"))
                    .unwrap_or_default();
                anyhow::bail!("no step named `{w}`{hint}");
            }
        }
    }
    Ok(if roots.is_empty() { vec![true; g.order.len()] } else { g.closure(&roots) })
}

fn split_args(args: &[String]) -> (PathBuf, Vec<String>) {
    match args.split_first() {
        Some((first, rest)) if Path::new(first).exists() => (PathBuf::from(first), rest.to_vec()),
        _ => (PathBuf::from("."), args.to_vec()),
    }
}

/// `runner build`.
pub(crate) fn build(args: BuildArgs) -> anyhow::Result<ExitCode> {
    let (path, wanted) = split_args(&args.args);
    if args.dry_run {
        return plan_only(
            &path,
            &args.params,
            &wanted,
            args.format == crate::Format::Json,
            Policy { regenerate: args.regenerate },
        );
    }
    let json = args.format == crate::Format::Json;
    let overrides = crate::parse_params(&args.params)?;
    let asked = memo::Asked {
        overrides: &overrides,
        wanted: &wanted,
        experiment: args.experiment.as_deref(),
    };
    if !args.regenerate
        && let Some((summary, hashed)) = memo::try_noop(&path, &asked)?
    {
        if !json {
            memo::print_steps(&summary);
        }
        print_summary(&summary, json, hashed);
        return Ok(summary.exit_code());
    }
    let (project, stats) = match prepare(&path, &args.params)? {
        Ok(p) => p,
        Err(code) => return Ok(code),
    };
    // Bytes read to bring the keys up to date (what the stat cache could not vouch for).
    let hashed = stats.hashed_bytes();
    // Files hashed in their racy window are hashed again once it passes, while the steps
    // run, so the next build can trust their stat (nothing below reads the stat cache).
    let settling = std::thread::spawn(move || {
        let mut stats = stats;
        stats.settle(SETTLE_WAIT);
        stats
    });
    let rt = runtime()?;
    let cancel = CancelToken::new();
    {
        let _entered = rt.enter();
        let cancel = cancel.clone();
        crate::signals::on_stop(move |name| {
            say!("runner: {name}: stopping running steps");
            cancel.cancel();
        })
        .context("installing signal handlers")?;
    }
    let opts = BuildOpts {
        wanted: wanted.clone(),
        regenerate: args.regenerate,
        experiment: args.experiment.clone(),
        jobs: args.jobs,
        progress: if json { Progress::Quiet } else { Progress::Full },
    };
    let summary =
        open_cache(&project).and_then(|c| run_build(&project, &c, None, &opts, &rt, &cancel));
    if let Ok(mut stats) = settling.join() {
        let _ = project.save_stat_cache(&mut stats);
    }
    let summary = summary?;
    let all_reusable = {
        let items = driver::steps_by_name(&project.db, project.file);
        let order = &hir::step_graph(&project.db, project.file).order;
        let reusable = |name: &String| {
            items.get(name.as_str()).is_none_or(|item| {
                hir::lower_item(&project.db, *item).step().is_none_or(|step| step.allow_reuse)
            })
        };
        order.iter().zip(selection(&project, &wanted)?).all(|(name, keep)| !keep || reusable(name))
    };
    memo::write_memo(&project, &summary, &asked, all_reusable);
    print_summary(&summary, json, hashed);
    project.forget(); // the process exits next; freeing the database would only cost time
    Ok(summary.exit_code())
}

/// Prints the end of a build: the JSON document, or the summary line.
fn print_summary(summary: &BuildSummary, json: bool, hashed: u64) {
    if json {
        outln!("{}", summary.json(hashed));
    } else {
        say!(
            "run {} {}: {} ran, {} reused, {} failed, {} skipped in {:.2}s",
            summary.run_id,
            summary.status.as_str(),
            summary.count("ran"),
            summary.count("reused"),
            summary.count("failed"),
            summary.count("skipped"),
            summary.seconds,
        );
    }
}

/// The runtime builds run on.
pub(crate) fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the scheduler")
}

/// The cache builds of `project` write through: `.runner/cache`, created if needed, with
/// deferred sync (entries are published atomically but fsynced once, when a build ends; see
/// `cache::Cache`). A session that builds again and again (`runner watch`) keeps one, so its
/// lookups of unchanged steps are answered from memory.
pub(crate) fn open_cache(project: &Project) -> anyhow::Result<Cache> {
    let state = std::path::absolute(project.state_dir())?;
    std::fs::create_dir_all(&state).with_context(|| format!("creating {}", state.display()))?;
    Ok(Cache::open(&state.join("cache")).context("opening the cache")?.with_deferred_sync())
}

/// Plans and runs one build of an already-loaded, checked project (its paths refreshed)
/// through `cache` (from [`open_cache`]): reuses what the action cache holds, runs the rest,
/// records the run. `prefetch` is what a plan made just before found (`runner watch` plans
/// first, to see whether anything must run): a step whose key is the one planned takes its
/// lookup from there; without one, each step looks itself up. (Planning first in a one-shot
/// build measured no faster and adds a pass before the first step starts.) Cancelling
/// `cancel` stops running steps (SIGTERM, then SIGKILL) and records the run as interrupted.
/// Prints per `opts.progress`, but not the final summary line or document.
pub(crate) fn run_build(
    project: &Project,
    cache: &Cache,
    prefetch: Option<driver::Prefetch>,
    opts: &BuildOpts,
    rt: &tokio::runtime::Runtime,
    cancel: &CancelToken,
) -> anyhow::Result<BuildSummary> {
    let git = crate::git::GitProbe::start(&project.root);
    let steps = step_infos(project, &opts.wanted)?;
    let state = std::path::absolute(project.state_dir())?;
    let prefetch = prefetch.unwrap_or_default();
    let cache = cache.clone();
    let history = History::open(&state.join("history.sqlite")).context("opening run history")?;
    let emptying = reap_and_tidy(&history, &state)?;
    trash::keep_reserve(&state);
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
        .map(|(name, max)| {
            (name.clone(), Arc::new(tokio::sync::Semaphore::new(max.map_or(cpus, |m| m as usize))))
        })
        .collect();
    let full = opts.progress == Progress::Full;
    let jobs = opts.jobs.unwrap_or(cpus).max(1);
    if full {
        say!(
            "build {pipeline}: run {run_id} in experiment {experiment}, {} step{}",
            steps.len(),
            if steps.len() == 1 { "" } else { "s" }
        );
    }
    let position: HashMap<&str, usize> =
        steps.iter().enumerate().map(|(i, s)| (s.name.as_str(), i)).collect();
    let deps: Vec<Vec<usize>> = steps
        .iter()
        .map(|s| s.upstream.iter().filter_map(|u| position.get(u.as_str()).copied()).collect())
        .collect();
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
    let shared = Arc::new(Shared {
        project_root: std::path::absolute(&project.root)?,
        state: state.clone(),
        pipeline,
        experiment,
        run_id,
        cache,
        history: Mutex::new(history),
        data_paths: ix
            .data
            .iter()
            .filter_map(|(k, v)| {
                let p = project.abs(v.as_ref()?);
                Some((k.clone(), std::path::absolute(&p).unwrap_or(p)))
            })
            .collect(),
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
        policy: Policy { regenerate: opts.regenerate },
        cancel: cancel.clone(),
        tag: exec::supervise::RunTag::new(&state, run_id),
        views: views::lock_of(&state),
        supervisor: Mutex::default(),
        human: opts.progress != Progress::Quiet,
        full,
    });
    views::baseline(&shared);
    let started = Instant::now();
    if full && crate::progress::wanted() {
        crate::progress::start(shared.steps.len());
    }
    let states = rt.block_on(async {
        let sh = shared.clone();
        let in_flight = jobs.saturating_mul(LOOKAHEAD);
        let states = exec::schedule(&deps, in_flight, shared.cancel.clone(), move |i| {
            let sh = sh.clone();
            async move {
                let state = run_step(&sh, i).await;
                crate::progress::done();
                state
            }
        })
        .await;
        let tidying =
            std::mem::take(&mut *shared.tidying.lock().unwrap_or_else(|e| e.into_inner()));
        for t in tidying {
            let _ = t.await;
        }
        ledger::flush(&shared);
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
        if let Some(t) = emptying {
            let _ = t.join();
        }
        states
    });
    crate::progress::stop();
    finish(&shared, &states, started)
}

/// Makes the cache durable (one `syncfs`, on another thread) while it records what the
/// scheduler left undone and the end of the run.
fn finish(shared: &Shared, states: &[NodeState], started: Instant) -> anyhow::Result<BuildSummary> {
    // The sync waits for the disk; the history below needs none of it.
    let cache = shared.cache.clone();
    let syncing = std::thread::spawn(move || cache.sync());
    let results = shared.results.lock().unwrap_or_else(|e| e.into_inner()).clone();
    let (written, views) = views::settle(shared, &results);
    let summary = record_end(shared, states, started, written).map(|s| BuildSummary { views, ..s });
    match syncing.join() {
        Ok(Ok(())) => {}
        Ok(Err(e)) => say!("runner: syncing the cache to disk: {e}"),
        Err(_) => say!("runner: syncing the cache to disk failed"),
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
            ..empty_record(shared.run_id, name, status)
        });
        push_outcome(
            shared,
            Outcome {
                step: name.clone(),
                status: status.as_str(),
                reason: Some(reason.to_owned()),
                reused_from: None,
                duration_ms: None,
                key: None,
                stderr_log: None,
                ran: None,
            },
        );
        if shared.full {
            say!("{:>9} {name}  ({reason})", status.as_str());
        }
    }
    let pending = std::mem::take(&mut *shared.pending.lock().unwrap_or_else(|e| e.into_inner()));
    if let Err(e) = with_space(shared, true, || history.record_steps(&pending)) {
        say!("runner: recording {} step records: {e}", pending.len());
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

fn empty_record(run_id: i64, step: &str, status: StepStatus) -> StepRecord {
    StepRecord {
        run_id,
        step: step.to_owned(),
        status,
        key: None,
        key_fields: None,
        reused_from: None,
        dirty_reason: None,
        exit_code: None,
        started_ms: None,
        duration_ms: None,
        outputs: None,
        log_dir: None,
    }
}

fn push_outcome(shared: &Shared, o: Outcome) {
    shared.outcomes.lock().unwrap_or_else(|e| e.into_inner()).push(o);
}

async fn run_step(shared: &Arc<Shared>, i: usize) -> NodeState {
    let info = &shared.steps[i];
    let record = {
        let results = shared.results.lock().unwrap_or_else(|e| e.into_inner());
        KeyRecord::new(&info.fields, |s, o| results.get(s).and_then(|m| m.get(o)).copied())
    };
    let Ok(record) = record else { return NodeState::Skipped };
    let key = record.digest();
    let planned = shared.prefetch.lock().unwrap_or_else(|e| e.into_inner()).remove(&info.name);
    let (found, kept) = match planned {
        Some(f) if f.key == key => (f.lookup, f.manifests),
        _ => {
            let mut kept = Vec::new();
            let found = driver::lookup_with(&shared.cache, &key, &mut |d, m| kept.push((d, m)));
            (found, kept)
        }
    };
    if !kept.is_empty() {
        shared.manifests.lock().unwrap_or_else(|e| e.into_inner()).extend(kept);
    }
    // The last success only explains a run; a verified hit that may be reused needs none.
    let reusable = matches!(found, plan::Lookup::Hit { .. })
        && info.step.allow_reuse
        && !shared.policy.regenerate;
    let prev = if reusable {
        None
    } else {
        previous(
            &shared.history.lock().unwrap_or_else(|e| e.into_inner()),
            &shared.pipeline,
            &info.name,
        )
    };
    match plan::decide(info.step.allow_reuse, shared.policy, &record, found, prev.as_ref()) {
        Decision::Reuse { run_id, outputs } => reuse(shared, i, key, run_id, outputs, None),
        Decision::Run(reasons) => {
            let reason = reasons.iter().map(ToString::to_string).collect::<Vec<_>>().join("; ");
            match claim(shared, i, key).await {
                Claim::Run(lock) => execute::execute(shared, i, key, record, reason, lock).await,
                Claim::Reuse { run_id, outputs } => {
                    reuse(shared, i, key, run_id, outputs, Some("computed by a concurrent build"))
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
    Reuse { run_id: i64, outputs: BTreeMap<String, Digest> },
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
        let lock = match shared.cache.try_lock_key(&cdig(key)) {
            Ok(Some(lock)) => lock,
            Ok(None) => {
                if !waited && shared.full {
                    say!("{:>9} {}  (a concurrent build is running it)", "waiting", info.name);
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
        return match driver::lookup_with(&shared.cache, &key, &mut |d, m| kept.push((d, m))) {
            plan::Lookup::Hit { run_id, outputs } => {
                shared.manifests.lock().unwrap_or_else(|e| e.into_inner()).extend(kept);
                Claim::Reuse { run_id, outputs }
            }
            _ => Claim::Run(Some(lock)),
        };
    }
}

/// Step `i` (key `key`) reuses the result of run `run_id`: its views, its record, its
/// outcome. `why`: how the result came to be reused, when not simply found.
fn reuse(
    shared: &Shared,
    i: usize,
    key: Digest,
    run_id: i64,
    outputs: BTreeMap<String, Digest>,
    why: Option<&str>,
) -> NodeState {
    let info = &shared.steps[i];
    views::update(shared, &info.name, &outputs);
    let rec = StepRecord {
        reused_from: Some(run_id),
        ..empty_record(shared.run_id, &info.name, StepStatus::Reused)
    };
    shared.pending.lock().unwrap_or_else(|e| e.into_inner()).push(rec);
    shared.results.lock().unwrap_or_else(|e| e.into_inner()).insert(info.name.clone(), outputs);
    if shared.full {
        let why = why.map(|w| format!(", {w}")).unwrap_or_default();
        say!("{:>9} {}  (from run {run_id}{why})", "reused", info.name);
    }
    push_outcome(
        shared,
        Outcome {
            step: info.name.clone(),
            status: "reused",
            reason: why.map(str::to_owned),
            reused_from: Some(run_id),
            duration_ms: None,
            key: Some(key.to_hex()),
            stderr_log: None,
            ran: None,
        },
    );
    NodeState::Succeeded
}

/// Records one step's record now (a step that failed or was interrupted).
fn record_locked(shared: &Shared, rec: StepRecord) {
    let history = shared.history.lock().unwrap_or_else(|e| e.into_inner());
    if let Err(e) = with_space(shared, false, || history.record_step(&rec)) {
        say!("runner: recording step {}: {e}", rec.step);
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
        None => shared.cache.get_manifest(&cdig(d)),
    }
}

/// `runner status`.
pub(crate) fn status(path: &Path, params: &[String], json: bool) -> anyhow::Result<ExitCode> {
    plan_only(path, params, &[], json, Policy::default())
}

/// Prints what a build would do, without running anything.
fn plan_only(
    path: &Path,
    params: &[String],
    wanted: &[String],
    json: bool,
    policy: Policy,
) -> anyhow::Result<ExitCode> {
    let (project, mut stats) = match prepare(path, params)? {
        Ok(p) => p,
        Err(code) => return Ok(code),
    };
    stats.settle(Duration::ZERO);
    let _ = project.save_stat_cache(&mut stats);
    let keep = selection(&project, wanted)?;
    let order = &hir::step_graph(&project.db, project.file).order;
    let selected: std::collections::HashSet<&str> =
        order.iter().zip(keep).filter(|(_, k)| *k).map(|(n, _)| n.as_str()).collect();
    let rows: Vec<(String, String, String)> = driver::plan(&project, policy)
        .into_iter()
        .filter(|p| selected.contains(p.step.as_str()))
        .map(|p| {
            let (action, detail) = match p.planned {
                driver::Planned::Reuse { run_id } => ("reuse", format!("from run {run_id}")),
                driver::Planned::Run(reasons) => ("will run", reasons.join("; ")),
                driver::Planned::AfterUpstream(u) => {
                    ("will run", format!("after upstream {u}, unless it reproduces its outputs"))
                }
                driver::Planned::Blocked(why) => ("blocked", why),
            };
            (p.step, action.to_owned(), detail)
        })
        .collect();
    if json {
        let doc: Vec<_> = rows
            .iter()
            .map(|(s, a, d)| serde_json::json!({"step": s, "action": a, "detail": d}))
            .collect();
        outln!("{}", serde_json::json!({"pipeline": project.name(), "steps": doc}));
    } else {
        let width = rows.iter().map(|r| r.0.len()).max().unwrap_or(0);
        for (s, a, d) in &rows {
            outln!("{a:>9} {s:width$}  {d}");
        }
        let runs = rows.iter().filter(|r| r.1 == "will run").count();
        outln!("{} to run, {} to reuse", runs, rows.len() - runs);
    }
    project.forget();
    std::mem::forget(stats);
    Ok(ExitCode::SUCCESS)
}
