//! Connection setup and schema migrations.
//!
//! The schema version is kept in `PRAGMA user_version`: 0 for a new file, then one number per
//! entry of `MIGRATIONS`. Opening a database runs every migration whose number is above the
//! stored version, each in one `BEGIN IMMEDIATE` transaction that re-reads the version first, so
//! two processes opening a new file at once migrate it exactly once. A file whose version is
//! above [`SCHEMA_VERSION`] was written by a newer runner and is refused.
//!
//! Version 1 tables (all times integer unix ms, statuses lowercase text):
//!
//! ```sql
//! experiments(id INTEGER PRIMARY KEY, name TEXT UNIQUE, created_ms INTEGER)
//! runs(id INTEGER PRIMARY KEY AUTOINCREMENT, experiment_id → experiments, pipeline,
//!      pipeline_path, status, params /* JSON [[k,v],…] */, git_commit, git_branch,
//!      git_dirty /* 0|1 */, started_ms, ended_ms, pid)
//! step_runs(id INTEGER PRIMARY KEY AUTOINCREMENT, run_id → runs ON DELETE CASCADE, pipeline,
//!      step, status, key, key_fields, reused_from, dirty_reason, exit_code, started_ms,
//!      duration_ms, outputs, log_dir, UNIQUE(run_id, step))
//! metrics(id INTEGER PRIMARY KEY AUTOINCREMENT, run_id → runs ON DELETE CASCADE, step, name,
//!      value /* REAL, NULL = NaN */, idx)
//! ```
//!
//! Version 3 adds:
//!
//! ```sql
//! published(id TEXT PRIMARY KEY /* UUID */, name, version, description, pipeline /* text */,
//!      snapshot /* manifest digest, hex */, params /* JSON [[k,v],…] defaults */, git_commit,
//!      created_ms, enabled /* 0|1 */, UNIQUE(name, version))
//! tokens(name TEXT PRIMARY KEY, hash TEXT UNIQUE /* sha256 of the token, hex */, created_ms,
//!      revoked_ms)
//! ```
//!
//! Version 4 adds the submissions of published pipelines over REST (`runner serve`):
//!
//! ```sql
//! submissions(id TEXT PRIMARY KEY /* UUID, the REST run id */, published_id → published,
//!      experiment, params /* JSON [[k,v],…] assignments */, submitted_by /* token name */,
//!      status /* NotStarted|Queued|Running|Finished|Failed|Canceled */, run_id /* runs.id */,
//!      message, submitted_ms, started_ms, ended_ms)
//! ```
//!
//! Version 5 adds `runs.steps_of INTEGER`: set on a run that reused every step of run
//! `steps_of` (a build from the build memo; see `History::record_repeat_run`) and records
//! only the steps it reused from elsewhere. Its steps read as that run's, each `reused`
//! from the run that one had it from (itself where it ran), except the steps it has rows
//! of its own for, which are always steps of that run. `steps_of` never names a run that
//! has a `steps_of` of its own.
//!
//! Version 6 adds the index `step_runs(run_id, status)`, and a run with `steps_of` may have
//! `params = ''`: its parameters are those of run `steps_of` (a repeat is only recorded with
//! the same values; see `History::record_repeat_run`).
//!
//! `step_runs.reused_from` is deliberately not a foreign key: the run a cached result came from
//! may have been deleted, or recorded in another database.

use std::path::Path;
use std::time::{Duration, Instant};

use rusqlite::{Connection, Transaction, TransactionBehavior};

use crate::{Error, Result};

/// The schema version this crate writes and understands.
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// How long a statement waits for another connection's write lock before failing.
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// Migration `i` (0-based) takes the schema from version `i` to `i + 1`.
const MIGRATIONS: &[&str] = &[
    // 1: initial schema.
    r#"
    CREATE TABLE experiments (
        id          INTEGER PRIMARY KEY,
        name        TEXT NOT NULL UNIQUE,
        created_ms  INTEGER NOT NULL
    );
    CREATE TABLE runs (
        id             INTEGER PRIMARY KEY AUTOINCREMENT,
        experiment_id  INTEGER NOT NULL REFERENCES experiments(id),
        pipeline       TEXT NOT NULL,
        pipeline_path  TEXT NOT NULL,
        status         TEXT NOT NULL,
        params         TEXT NOT NULL DEFAULT '[]',
        git_commit     TEXT,
        git_branch     TEXT,
        git_dirty      INTEGER,
        started_ms     INTEGER NOT NULL,
        ended_ms       INTEGER,
        pid            INTEGER
    );
    CREATE INDEX runs_experiment ON runs(experiment_id, id);
    CREATE INDEX runs_status ON runs(status);
    CREATE TABLE step_runs (
        id            INTEGER PRIMARY KEY AUTOINCREMENT,
        run_id        INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
        pipeline      TEXT NOT NULL,
        step          TEXT NOT NULL,
        status        TEXT NOT NULL,
        key           TEXT,
        key_fields    TEXT,
        reused_from   INTEGER,
        dirty_reason  TEXT,
        exit_code     INTEGER,
        started_ms    INTEGER,
        duration_ms   INTEGER,
        outputs       TEXT,
        log_dir       TEXT,
        UNIQUE (run_id, step)
    );
    CREATE INDEX step_runs_last_success ON step_runs(pipeline, step, status, run_id);
    CREATE TABLE metrics (
        id      INTEGER PRIMARY KEY AUTOINCREMENT,
        run_id  INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
        step    TEXT NOT NULL,
        name    TEXT NOT NULL,
        value   REAL,
        idx     INTEGER
    );
    CREATE INDEX metrics_run_step ON metrics(run_id, step);
    "#,
    // 2: no per-step index. Every build records a row per step, and an index led by the step
    // name put each of those rows on a different page: a no-op build of 1,000 steps wrote
    // about 1,000 index pages. Rows now only go to the end of `(run_id, step)`;
    // `last_success` walks runs newest first instead.
    r#"
    DROP INDEX step_runs_last_success;
    "#,
    // 3: published pipelines and the tokens that start them over REST.
    r#"
    CREATE TABLE published (
        id           TEXT PRIMARY KEY,
        name         TEXT NOT NULL,
        version      TEXT NOT NULL,
        description  TEXT,
        pipeline     TEXT NOT NULL,
        snapshot     TEXT NOT NULL,
        params       TEXT NOT NULL DEFAULT '[]',
        git_commit   TEXT,
        created_ms   INTEGER NOT NULL,
        enabled      INTEGER NOT NULL DEFAULT 1,
        UNIQUE (name, version)
    );
    CREATE TABLE tokens (
        name        TEXT PRIMARY KEY,
        hash        TEXT NOT NULL UNIQUE,
        created_ms  INTEGER NOT NULL,
        revoked_ms  INTEGER
    );
    "#,
    // 4: submissions of published pipelines (the REST server's queue, kept across restarts).
    r#"
    CREATE TABLE submissions (
        id            TEXT PRIMARY KEY,
        published_id  TEXT NOT NULL REFERENCES published(id),
        experiment    TEXT NOT NULL,
        params        TEXT NOT NULL DEFAULT '[]',
        submitted_by  TEXT,
        status        TEXT NOT NULL,
        run_id        INTEGER,
        message       TEXT,
        submitted_ms  INTEGER NOT NULL,
        started_ms    INTEGER,
        ended_ms      INTEGER
    );
    CREATE INDEX submissions_status ON submissions(status, submitted_ms);
    CREATE INDEX submissions_run ON submissions(run_id);
    "#,
    // 5: a no-op build at 1,000 steps wrote 1,000 step rows (about 50 KiB of pages, every
    // time, kept forever); it now writes one run row naming the run whose steps it repeats.
    r#"
    ALTER TABLE runs ADD COLUMN steps_of INTEGER;
    "#,
    // 6: a repeat's claim (a run's count of steps, all ran or reused) and a run summary's
    // counts by status read this index alone, not a table row per step; and a repeat keeps
    // its parameters by reference (`params = ''`), not a copy of them per no-op build.
    r#"
    CREATE INDEX step_runs_status ON step_runs(run_id, status);
    "#,
];

/// Opens `path`, applies the connection pragmas and migrates the schema.
pub(crate) fn open(path: &Path) -> Result<Connection> {
    let open_err = |source| Error::Open { path: path.to_owned(), source };
    let mut conn = Connection::open(path).map_err(open_err)?;
    // The busy timeout first: switching to WAL and migrating may wait for another process.
    conn.busy_timeout(BUSY_TIMEOUT).map_err(open_err)?;
    // SQLite skips the busy handler (returns SQLITE_BUSY at once) where waiting could deadlock,
    // which happens when several connections set up a new file at the same moment. Setup is
    // idempotent, so retry it until the busy timeout has passed.
    let deadline = Instant::now() + BUSY_TIMEOUT;
    loop {
        match setup(&mut conn, path) {
            Err(Error::Open { source, .. }) if is_busy(&source) && Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(5));
            }
            Err(e) => return Err(e),
            Ok(()) => return Ok(conn),
        }
    }
}

/// Whether `e` is SQLITE_BUSY / SQLITE_LOCKED (any extended code).
fn is_busy(e: &rusqlite::Error) -> bool {
    matches!(
        e.sqlite_error_code(),
        Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
    )
}

/// Journal mode, pragmas, migrations.
fn setup(conn: &mut Connection, path: &Path) -> Result<()> {
    let open_err = |source| Error::Open { path: path.to_owned(), source };
    // A new (empty) file is set up unsynced: switching it to WAL and creating the tables
    // would cost six fsyncs, 10 ms on this project's machine, in every project's first
    // build. Only a power loss in those milliseconds could tear it, and it holds nothing
    // yet. An existing file keeps `synchronous = NORMAL` throughout (its checkpoint below
    // must be synced).
    let fresh = std::fs::metadata(path).map_or(true, |m| m.len() == 0);
    if fresh {
        conn.execute_batch("PRAGMA synchronous = OFF").map_err(open_err)?;
    }
    // `journal_mode` returns the resulting mode; WAL is persistent in the file.
    let mode: String =
        conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0)).map_err(open_err)?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(Error::NoWal { path: path.to_owned(), mode });
    }
    // journal_size_limit: the WAL file is cut back to 4 MiB whenever it restarts, so one
    // large build does not leave a large file behind.
    let sync = if fresh { "" } else { "PRAGMA synchronous = NORMAL;" };
    conn.execute_batch(&format!(
        "{sync} PRAGMA foreign_keys = ON; PRAGMA journal_size_limit = 4194304;"
    ))
    .map_err(open_err)?;
    // Closing the last connection would checkpoint the WAL into the database: two or more
    // fsyncs, most of what recording a no-op build costs. Instead the WAL is left for the
    // next opener, and checkpointed (and truncated) here once it passes
    // `WAL_CHECKPOINT_BYTES`; an opener re-reads the WAL to index it, so it stays small.
    conn.set_db_config(rusqlite::config::DbConfig::SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, true)
        .map_err(open_err)?;
    let wal = path.with_file_name(format!(
        "{}-wal",
        path.file_name().map(|n| n.to_string_lossy()).unwrap_or_default()
    ));
    if std::fs::metadata(&wal).is_ok_and(|m| m.len() > WAL_CHECKPOINT_BYTES) {
        conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(())).map_err(open_err)?;
    }
    migrate(conn, path)?;
    if fresh {
        conn.execute_batch("PRAGMA synchronous = NORMAL").map_err(open_err)?;
    }
    Ok(())
}

/// WAL size above which an opener checkpoints it into the database and truncates it.
pub const WAL_CHECKPOINT_BYTES: u64 = 1 << 20;

/// Runs the migrations above the stored `user_version`.
fn migrate(conn: &mut Connection, path: &Path) -> Result<()> {
    let open_err = |source| Error::Open { path: path.to_owned(), source };
    let version = user_version(conn).map_err(open_err)?;
    check_not_newer(version, path)?;
    if version == SCHEMA_VERSION {
        return Ok(());
    }
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(open_err)?;
    // Another process may have migrated between the read above and taking the write lock.
    let version = user_version(&tx).map_err(open_err)?;
    check_not_newer(version, path)?;
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(usize::try_from(version).unwrap_or(0)) {
        tx.execute_batch(sql).map_err(open_err)?;
        tx.pragma_update(None, "user_version", i as i64 + 1).map_err(open_err)?;
    }
    tx.commit().map_err(open_err)
}

fn user_version(conn: &Connection) -> rusqlite::Result<i64> {
    conn.query_row("PRAGMA user_version", [], |r| r.get(0))
}

fn check_not_newer(found: i64, path: &Path) -> Result<()> {
    if found > SCHEMA_VERSION {
        return Err(Error::SchemaTooNew {
            path: path.to_owned(),
            found,
            supported: SCHEMA_VERSION,
        });
    }
    Ok(())
}

/// Starts a write transaction that takes the write lock at once (waiting up to the busy timeout),
/// so it never fails half-way with `SQLITE_BUSY` when another connection writes concurrently.
pub(crate) fn write_tx(conn: &Connection) -> rusqlite::Result<Transaction<'_>> {
    Transaction::new_unchecked(conn, TransactionBehavior::Immediate)
}
