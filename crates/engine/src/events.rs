//! What a build reports while it runs: [`Event`]s, in the order things happen, to a [`Sink`]
//! the caller supplies. The engine prints nothing; `runner build` renders events as lines
//! and a progress bar, `--format json` and `runner watch` as they need, a server as it
//! needs.

use std::path::PathBuf;

use history::StepStatus;

/// One thing that happened in a build.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// The run is recorded and its steps are about to be planned.
    Started {
        /// The run's id in history.
        run: i64,
        /// The pipeline's name.
        pipeline: String,
        /// The experiment the run is recorded under.
        experiment: String,
        /// How many steps the build covers.
        steps: usize,
    },
    /// A step's key is being computed by a concurrent build (on the same `.runner/`): this
    /// build waits for its result.
    Waiting {
        /// The step.
        step: String,
    },
    /// A step is about to run, for `reason` (its dirty reasons, `; `-separated).
    Running {
        /// The step.
        step: String,
        /// Why it runs.
        reason: String,
    },
    /// A step's process ended (whatever it ended with); its outcome follows when it is
    /// recorded ([`Event::Finished`]). For a live view of what is running.
    Exited {
        /// The step.
        step: String,
    },
    /// A step's outcome: ran, reused, failed, skipped, interrupted.
    Finished(StepEnd),
    /// An environment is being created (once per requirements digest, for every project
    /// of the user); it takes a while.
    Environment {
        /// The environment's name in the pipeline.
        name: String,
        /// Its requirements file, if any.
        requirements: Option<PathBuf>,
        /// Where it is made (in the user's cache, see `crate::envs_root`).
        dir: PathBuf,
    },
    /// A line the installer (pip or uv) printed while making an environment.
    EnvironmentOutput {
        /// The environment's name in the pipeline.
        name: String,
        /// The line, without its end.
        line: String,
    },
    /// An environment is ready, made in `seconds` (wall time).
    EnvironmentReady {
        /// The environment's name in the pipeline.
        name: String,
        /// How long making it took, in seconds.
        seconds: f64,
    },
    /// Something worth saying that is not a step's outcome: a result not cached, a metrics
    /// line that does not parse, history that could not be written. `step`: which step it
    /// concerns, if one.
    Warning {
        /// The step concerned.
        step: Option<String>,
        /// What happened, one line.
        message: String,
    },
    /// Something that fails the build though no step failed by itself (a result written
    /// into after it was stored).
    Error {
        /// The step concerned.
        step: Option<String>,
        /// What happened, one line.
        message: String,
    },
}

/// How one step ended, as [`Event::Finished`] reports it.
#[derive(Debug, Clone, PartialEq)]
pub struct StepEnd {
    /// The step.
    pub step: String,
    /// Ran, reused, failed, skipped or interrupted.
    pub status: StepStatus,
    /// Why (a failure's message, a skip's cause); `None` for a plain reuse or run.
    pub reason: Option<String>,
    /// The run a reused result came from.
    pub reused_from: Option<i64>,
    /// How long its process ran, for a step that ran or failed.
    pub seconds: Option<f64>,
    /// The metrics it logged, in order (`RUNNER_METRICS`).
    pub metrics: Vec<(String, f64)>,
    /// For a step that failed: the last lines of its stderr, and the log's path.
    pub log_tail: Option<(String, PathBuf)>,
}

/// Where a build's [`Event`]s go. Called from the build's threads, in the order things
/// happen; it should return quickly (a slow sink slows the build).
pub trait Sink: Send + Sync {
    /// Receives one event.
    fn event(&self, event: Event);
}

/// A sink that drops every event.
#[derive(Debug, Default, Clone, Copy)]
pub struct Quiet;

impl Sink for Quiet {
    fn event(&self, _: Event) {}
}

/// A sink that keeps every event, in order (for tests, and callers that render at the end).
#[derive(Debug, Default)]
pub struct Recorder(std::sync::Mutex<Vec<Event>>);

impl Recorder {
    /// The events received so far.
    pub fn events(&self) -> Vec<Event> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

impl Sink for Recorder {
    fn event(&self, event: Event) {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).push(event);
    }
}
