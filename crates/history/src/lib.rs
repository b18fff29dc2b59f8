//! Run history: experiments, runs, step runs and metrics in one SQLite database.
//!
//! The database normally lives at `.runner/history.sqlite` next to `pipeline.toml`; this crate only
//! takes a path. It is opened in WAL mode with a 10 s busy timeout, so two runners (two processes)
//! may read and write one file at the same time; every write is a short `BEGIN IMMEDIATE`
//! transaction.
//!
//! # Schema (see [`schema`] for each version)
//!
//! - `experiments(id, name UNIQUE, created_ms)`: a named group of runs (Azure ML `Experiment`),
//!   created the first time a run names it.
//! - `runs(id, experiment_id → experiments, pipeline, pipeline_path, status, params, git_commit,
//!   git_branch, git_dirty, started_ms, ended_ms, pid)`: one `runner build`. `id` is
//!   `AUTOINCREMENT`, so ids are 1, 2, 3… and never reused within a database. `params` is JSON
//!   text `[["name","value"], …]` in the order given. `pid` is the process that owns a `running`
//!   run (see [`History::reap_stale`]). `steps_of` (version 5): a run that stored no step runs
//!   because it reused every step of that run ([`History::record_repeat_run`]).
//! - `step_runs(id, run_id → runs, pipeline, step, status, key, key_fields, reused_from,
//!   dirty_reason, exit_code, started_ms, duration_ms, outputs, log_dir)`, unique on
//!   `(run_id, step)`: what happened to one step in one run. `pipeline` is copied from the run so
//!   that [`History::last_success`] is one index lookup on `(pipeline, step, status, run_id)`.
//! - `metrics(id, run_id → runs, step, name, value, idx)`: metrics a step logged, in the order
//!   added. A NaN value is stored as SQL `NULL` (SQLite has no NaN) and read back as NaN.
//!
//! All times are integer milliseconds since the Unix epoch; durations are milliseconds. Statuses
//! are stored as their lowercase names ([`RunStatus::as_str`], [`StepStatus::as_str`]). Deleting a
//! run deletes its step runs and metrics (`ON DELETE CASCADE`).

mod metrics;
mod published;
mod runs;
pub mod schema;
mod steps;
mod submissions;

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use rusqlite::Connection;
use serde::Serialize;

pub use metrics::parse_metrics;
pub use published::{NewPublished, Published, TokenInfo};
pub use submissions::{Submission, SubmissionStatus};

/// Everything that can go wrong reading or writing the history database.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The database file could not be opened or configured (pragmas, migrations).
    #[error("cannot open history database {}: {source}", path.display())]
    Open {
        /// The database file.
        path: PathBuf,
        /// The underlying SQLite error.
        #[source]
        source: rusqlite::Error,
    },
    /// SQLite refused WAL mode (e.g. some network file systems); concurrent use would be unsafe.
    #[error("cannot put history database {} in WAL mode (journal mode stays {mode})", path.display())]
    NoWal {
        /// The database file.
        path: PathBuf,
        /// The journal mode SQLite reported instead.
        mode: String,
    },
    /// The file was written by a newer runner whose schema this one does not understand.
    #[error(
        "history database {} has schema version {found}, newer than the {supported} this runner supports",
        path.display()
    )]
    SchemaTooNew {
        /// The database file.
        path: PathBuf,
        /// `PRAGMA user_version` found in the file.
        found: i64,
        /// The newest schema version this crate knows.
        supported: i64,
    },
    /// A query or statement failed; `context` says which operation.
    #[error("history database: {context}: {source}")]
    Sqlite {
        /// The operation that failed, e.g. `"start run"`.
        context: &'static str,
        /// The underlying SQLite error.
        #[source]
        source: rusqlite::Error,
    },
    /// The run id given does not exist in this database.
    #[error("run {0} does not exist in the history database")]
    NoSuchRun(i64),
    /// A status string is not one of the known names (parsing, or a row written by a newer runner).
    #[error("unknown {kind} status `{value}`")]
    UnknownStatus {
        /// `"run"` or `"step"`.
        kind: &'static str,
        /// The text that was not recognised.
        value: String,
    },
    /// A stored value could not be decoded (bad JSON, negative time, …).
    #[error("corrupt history row: {0}")]
    Corrupt(String),
    /// A pipeline of this name and version is published already.
    #[error(
        "pipeline {name} version {version} is published already (id {id}); publish a new version"
    )]
    AlreadyPublished {
        /// The name.
        name: String,
        /// The version.
        version: String,
        /// The id it has.
        id: String,
    },
    /// A live token of this name exists.
    #[error("a token named {0} exists; revoke it first, or choose another name")]
    TokenExists(String),
}

impl Error {
    /// Whether SQLite failed for lack of room (`SQLITE_FULL`: the disk, or a quota, is full;
    /// see <https://www.sqlite.org/rescode.html#full>).
    pub fn is_disk_full(&self) -> bool {
        let source = match self {
            Error::Open { source, .. } | Error::Sqlite { source, .. } => source,
            _ => return false,
        };
        matches!(source, rusqlite::Error::SqliteFailure(e, _) if e.code == rusqlite::ErrorCode::DiskFull)
    }
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Extension to attach an operation name to rusqlite errors.
pub(crate) trait Context<T> {
    /// Wraps the error as [`Error::Sqlite`] with `context`.
    fn context(self, context: &'static str) -> Result<T>;
}

impl<T> Context<T> for rusqlite::Result<T> {
    fn context(self, context: &'static str) -> Result<T> {
        self.map_err(|source| Error::Sqlite { context, source })
    }
}

/// A handle on the history database: one SQLite connection.
///
/// Not `Sync`: use one handle per thread (opening more handles on one file is cheap and safe).
pub struct History {
    conn: Connection,
}

impl History {
    /// Opens the database at `path`, creating the file and schema if missing.
    ///
    /// Sets WAL mode, `synchronous=NORMAL`, a 10 s busy timeout and `foreign_keys=ON`, then
    /// migrates the schema forward by `PRAGMA user_version` (idempotent; safe when two processes
    /// open one file at once). The parent folder must exist.
    ///
    /// Errors: [`Error::Open`] when the file cannot be opened or configured,
    /// [`Error::SchemaTooNew`] when a newer runner created it.
    pub fn open(path: &Path) -> Result<History> {
        let conn = schema::open(path)?;
        Ok(History { conn })
    }

    /// The underlying connection, for crates that add their own tables (e.g. published pipelines).
    pub fn connection(&self) -> &Connection {
        &self.conn
    }
}

/// What is known about a run when it starts; see [`History::start_run`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewRun {
    /// Experiment name; created on first use.
    pub experiment: String,
    /// Pipeline name (from `pipeline.toml`).
    pub pipeline: String,
    /// Path of the `pipeline.toml`, as the runner shows it.
    pub pipeline_path: String,
    /// Parameter values of this run, `(name, value)`, in display order.
    pub params: Vec<(String, String)>,
    /// The git commit of the source tree, when it is a git checkout.
    pub git: Option<GitInfo>,
    /// Start time, unix ms.
    pub started_ms: u64,
    /// Process id of the runner that owns the run (normally `std::process::id()`).
    pub pid: u32,
}

/// The git state of the source tree when a run started.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct GitInfo {
    /// Full commit hash of `HEAD`.
    pub commit: String,
    /// Branch name; `None` on a detached `HEAD`.
    pub branch: Option<String>,
    /// Whether the work tree had uncommitted changes.
    pub dirty: bool,
}

/// State of a run. Serialized and stored in lowercase.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RunStatus {
    /// Started and not finished (or its process died; see [`History::reap_stale`]).
    Running,
    /// Every requested step ran or was reused.
    Succeeded,
    /// At least one step failed.
    Failed,
    /// Stopped before the end: cancelled, or its process disappeared.
    Interrupted,
}

/// What happened to one step in one run. Serialized and stored in lowercase.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum StepStatus {
    /// Executed, and exited successfully.
    Ran,
    /// Not executed: its outputs came from the action cache.
    Reused,
    /// Executed and failed (non-zero exit, timeout, missing output, …).
    Failed,
    /// Not executed because an upstream step failed or the run stopped first.
    Skipped,
    /// Executing when the run was cancelled.
    Interrupted,
}

macro_rules! status_strings {
    ($ty:ident, $kind:literal, $($variant:ident => $text:literal),+ $(,)?) => {
        impl $ty {
            /// The lowercase name, as stored and serialized.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($ty::$variant => $text,)+
                }
            }
        }

        impl FromStr for $ty {
            type Err = Error;

            /// Parses the lowercase name; anything else is [`Error::UnknownStatus`].
            fn from_str(s: &str) -> Result<Self> {
                match s {
                    $($text => Ok($ty::$variant),)+
                    _ => Err(Error::UnknownStatus { kind: $kind, value: s.to_owned() }),
                }
            }
        }

        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

status_strings!(RunStatus, "run",
    Running => "running", Succeeded => "succeeded", Failed => "failed", Interrupted => "interrupted");
status_strings!(StepStatus, "step",
    Ran => "ran", Reused => "reused", Failed => "failed", Skipped => "skipped",
    Interrupted => "interrupted");

/// One step's outcome in one run; see [`History::record_step`].
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct StepRecord {
    /// The run this record belongs to.
    pub run_id: i64,
    /// Step name.
    pub step: String,
    /// What happened.
    pub status: StepStatus,
    /// Step key, lowercase hex sha256; `None` when skipped before keying.
    pub key: Option<String>,
    /// JSON text of the fields the key was computed from; opaque to this crate. `runner`
    /// leaves it (and `key`, `outputs`) out of reused records: they are those of run
    /// `reused_from`'s record, as the key is the same ([`History::fill_reused`]).
    pub key_fields: Option<String>,
    /// For a reused step, the run id its result came from.
    pub reused_from: Option<i64>,
    /// Why the step ran instead of being reused, human text.
    pub dirty_reason: Option<String>,
    /// Process exit code, when it ran to an exit.
    pub exit_code: Option<i32>,
    /// Start time, unix ms.
    pub started_ms: Option<u64>,
    /// Wall-clock duration, ms.
    pub duration_ms: Option<u64>,
    /// JSON text: output name → manifest digest.
    pub outputs: Option<String>,
    /// Folder holding `stdout.log` / `stderr.log`.
    pub log_dir: Option<String>,
}

impl StepRecord {
    /// A record of step `step` in run `run_id` with `status` and nothing else: no key, no
    /// times, no outputs, reused from no run (fill in what the caller knows).
    pub fn bare(run_id: i64, step: &str, status: StepStatus) -> StepRecord {
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
}

/// A run as listed by [`History::runs`] and [`History::run`].
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RunSummary {
    /// Run id (1, 2, 3… per database).
    pub id: i64,
    /// Experiment name.
    pub experiment: String,
    /// Pipeline name.
    pub pipeline: String,
    /// Path of the `pipeline.toml`.
    pub pipeline_path: String,
    /// Current status.
    pub status: RunStatus,
    /// Parameter values, `(name, value)`, in the order given at start.
    pub params: Vec<(String, String)>,
    /// Git state at start.
    pub git: Option<GitInfo>,
    /// Start time, unix ms.
    pub started_ms: u64,
    /// End time, unix ms; `None` while running, or when reaped as interrupted.
    pub ended_ms: Option<u64>,
    /// Number of step records with status `ran`.
    pub steps_ran: u32,
    /// Number of step records with status `reused`.
    pub steps_reused: u32,
    /// Number of step records with status `failed`.
    pub steps_failed: u32,
}

/// One metric value logged by a step.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Metric {
    /// Metric name, e.g. `accuracy`.
    pub name: String,
    /// Value; may be NaN or infinite.
    pub value: f64,
    /// Position within the step's metrics log, 0-based (across all names); `None` if unknown.
    pub index: Option<i64>,
}

/// Converts unix ms / durations to SQLite integers (saturating at `i64::MAX`).
/// A time in milliseconds since the Unix epoch as `YYYY-MM-DD HH:MM:SSZ` (UTC, ISO 8601
/// with a space), as run listings show it.
pub fn utc_text(ms: u64) -> String {
    let secs = ms / 1000;
    let (days, rem) = (secs / 86_400, secs % 86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's `civil_from_days`).
    let z = i64::try_from(days).unwrap_or(0) + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}Z", rem / 3600, rem % 3600 / 60, rem % 60)
}

pub(crate) fn ms_to_sql(ms: u64) -> i64 {
    i64::try_from(ms).unwrap_or(i64::MAX)
}

/// Converts a stored integer back to ms; negative values are corrupt.
pub(crate) fn ms_from_sql(v: i64, what: &str) -> Result<u64> {
    u64::try_from(v).map_err(|_| Error::Corrupt(format!("negative {what} {v}")))
}

/// Converts an optional stored integer back to ms.
pub(crate) fn opt_ms_from_sql(v: Option<i64>, what: &str) -> Result<Option<u64>> {
    v.map(|v| ms_from_sql(v, what)).transpose()
}
