//! Compute targets: where a step's process runs (Azure ML's `ComputeTarget`). The engine
//! prepares every step on this machine (its snapshot, its private input copies, empty
//! output folders, the argv with every placeholder expanded) and hands it to the step's
//! target as a [`Job`]; the target runs it and leaves its outputs in the job's output
//! folders, where the engine stores them (hashing and verifying every file) exactly as for
//! a local step. A target is reached through `Arc<dyn ComputeTarget>`, so adding a kind
//! (ssh hosts, a Slurm cluster) is one implementation of this trait and its tests, with no
//! change to the build loop; the step key never includes the target, so a result computed
//! on one target is reused on any other.
//!
//! [`Local`] runs the job's process on this machine ([`run_process`]).

use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::time::{Duration, SystemTime};

use crate::{CancelToken, Outcome, ProcessSpec, run_process};

/// One step, prepared to run.
#[derive(Debug, Clone)]
pub struct Job {
    /// The pipeline's name (for a target's own names: a Slurm job is called
    /// `runner:<pipeline>:<step>:<run id>`).
    pub pipeline: String,
    /// The step's name.
    pub step: String,
    /// The run it belongs to.
    pub run_id: i64,
    /// What `spec.argv[0]` is, for a target that runs the job elsewhere and must find its
    /// own (a target whose [`ComputeTarget::runs_here`] is true runs `argv[0]` as given).
    pub program: Program,
    /// The file the step appends its metrics to (`RUNNER_METRICS`, named in `spec.env`): a
    /// target elsewhere appends what the step wrote there to this file.
    pub metrics: PathBuf,
    /// Its process: argv (no shell), working folder (its snapshot), environment, log files,
    /// timeout. Every path in it is a path on this machine.
    pub spec: ProcessSpec,
    /// The folders it reads on this machine: its snapshot, its input copies, the data
    /// references it names (a remote target stages them).
    pub reads: Vec<PathBuf>,
    /// Its output folders on this machine, created empty: when the job ends, each must hold
    /// what the step wrote (a remote target fetches them back).
    pub outputs: Vec<PathBuf>,
}

/// What a job's `argv[0]` is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Program {
    /// As given: a script in the snapshot (a path under `reads[0]`) or a command's program,
    /// found on the `PATH` of wherever it runs.
    Given,
    /// `sh` (a `.sh` script).
    Shell,
    /// Python (a `.py` script): the bare interpreter, or an environment's.
    Python(Option<Environment>),
}

/// A step's Python environment (`[environments.NAME]`), for a target that makes it where
/// the step runs: once per digest, then reused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Environment {
    /// Its name in the pipeline.
    pub name: String,
    /// Its content digest (hex), which names it on every target.
    pub digest: String,
    /// The interpreter it is made from (`python` of the environment).
    pub python: String,
    /// Its requirements file on this machine, if it has one.
    pub requirements: Option<PathBuf>,
}

/// How a job ended.
#[derive(Debug, Clone)]
pub struct Finished {
    /// Its process's outcome (exit code, signal, timeout, cancelled, …).
    pub outcome: Outcome,
    /// Its process's wall time.
    pub elapsed: Duration,
    /// When its process started and ended (for telling which steps ran when a file was
    /// written).
    pub window: (SystemTime, SystemTime),
}

/// The future a target returns for one job.
pub type JobFuture<'a> = Pin<Box<dyn Future<Output = Finished> + Send + 'a>>;

/// The future of [`ComputeTarget::warm_up`].
pub type WarmFuture<'a> = Pin<Box<dyn Future<Output = ()> + Send + 'a>>;

/// Where steps run. See the module docs.
pub trait ComputeTarget: Send + Sync {
    /// What to call it in messages (`local`, `slurm cluster`, …).
    fn describe(&self) -> String;

    /// Whether jobs run on this machine, with `argv[0]` as given (an environment is then
    /// made here before the job). A target elsewhere returns false and makes what
    /// [`Job::program`] names where the job runs; its jobs also do not take one of the
    /// build's local slots (`--jobs`), only its own `max_nodes`.
    fn runs_here(&self) -> bool {
        true
    }

    /// Runs one job to its end: stage what it reads, start it, wait for it (stopping it
    /// when `cancel` fires or its timeout passes), and leave its outputs in
    /// [`Job::outputs`]. Never panics on the job's account: every failure is an
    /// [`Outcome`] whose message names what failed.
    fn run(&self, job: Job, cancel: CancelToken) -> JobFuture<'_>;

    /// Told that a job is sure to come (a step on this target must run), before the
    /// engine has prepared it: a target elsewhere may start what its first job would
    /// otherwise wait for (opening its connection), so that it overlaps with the engine's
    /// own work. Never called for a build that runs nothing on this target. It reports
    /// nothing: a failure is left for the jobs to meet and report. The engine may drop the
    /// future unfinished when the build ends. The default does nothing.
    fn warm_up(&self) -> WarmFuture<'_> {
        Box::pin(std::future::ready(()))
    }
}

/// This machine: the job's process runs here, in its own process group ([`run_process`]).
#[derive(Debug, Default, Clone, Copy)]
pub struct Local;

impl ComputeTarget for Local {
    fn describe(&self) -> String {
        "local".to_owned()
    }

    fn run(&self, job: Job, cancel: CancelToken) -> JobFuture<'_> {
        Box::pin(async move {
            let started = SystemTime::now();
            let (outcome, elapsed) = run_process(job.spec, cancel).await;
            Finished { outcome, elapsed, window: (started, SystemTime::now()) }
        })
    }
}
