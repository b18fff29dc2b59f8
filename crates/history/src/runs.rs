//! Experiments and runs: starting, finishing, listing, and reaping runs whose process died.

use std::path::Path;

use rusqlite::{OptionalExtension, Row, params};

use crate::schema::write_tx;
use crate::{
    Context, Error, GitInfo, History, NewRun, Result, RunStatus, RunSummary, StepRecord,
    StepStatus, ms_from_sql, ms_to_sql, opt_ms_from_sql,
};

/// Inserts run `run` with `status` (and `ended_ms`, if it is over) inside an open
/// transaction, creating its experiment on first use; returns its id.
fn insert_run(
    tx: &rusqlite::Transaction<'_>,
    run: &NewRun,
    status: RunStatus,
    ended_ms: Option<u64>,
    steps_of: Option<i64>,
) -> Result<i64> {
    insert_run_with(tx, run, &params_json(run)?, status, ended_ms, steps_of)
}

/// `run`'s parameters as stored in `runs.params`.
fn params_json(run: &NewRun) -> Result<String> {
    serde_json::to_string(&run.params)
        .map_err(|e| Error::Corrupt(format!("cannot encode run parameters: {e}")))
}

/// [`insert_run`] with the text to store in `runs.params` (`''` for a repeat's: see
/// [`crate::schema`], version 6).
fn insert_run_with(
    tx: &rusqlite::Transaction<'_>,
    run: &NewRun,
    params: &str,
    status: RunStatus,
    ended_ms: Option<u64>,
    steps_of: Option<i64>,
) -> Result<i64> {
    const CTX: &str = "start run";
    tx.execute(
        "INSERT OR IGNORE INTO experiments (name, created_ms) VALUES (?1, ?2)",
        params![run.experiment, ms_to_sql(run.started_ms)],
    )
    .context(CTX)?;
    let experiment_id: i64 = tx
        .query_row("SELECT id FROM experiments WHERE name = ?1", [&run.experiment], |r| r.get(0))
        .context(CTX)?;
    let git = run.git.as_ref();
    tx.execute(
        "INSERT INTO runs (experiment_id, pipeline, pipeline_path, status, params,
                           git_commit, git_branch, git_dirty, started_ms, ended_ms, pid,
                           steps_of)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
        params![
            experiment_id,
            run.pipeline,
            run.pipeline_path,
            status.as_str(),
            params,
            git.map(|g| &g.commit),
            git.and_then(|g| g.branch.as_ref()),
            git.map(|g| g.dirty),
            ms_to_sql(run.started_ms),
            ended_ms.map(ms_to_sql),
            run.pid,
            steps_of,
        ],
    )
    .context(CTX)?;
    Ok(tx.last_insert_rowid())
}

/// Columns read by [`summary_from_row`], in order; `r` is `runs`, `e` is `experiments`.
const SUMMARY_SELECT: &str = "
    SELECT r.id, e.name, r.pipeline, r.pipeline_path, r.status,
           CASE WHEN r.steps_of IS NOT NULL AND r.params = ''
                THEN (SELECT b.params FROM runs b WHERE b.id = r.steps_of) ELSE r.params END,
           r.git_commit, r.git_branch, r.git_dirty, r.started_ms, r.ended_ms,
           (SELECT count(*) FROM step_runs s WHERE s.run_id = r.id AND s.status = 'ran'),
           (SELECT count(*) FROM step_runs s WHERE s.run_id = r.id AND s.status = 'reused')
             + CASE WHEN r.steps_of IS NULL THEN 0 ELSE
                 (SELECT count(*) FROM step_runs s WHERE s.run_id = r.steps_of)
                 - (SELECT count(*) FROM step_runs s WHERE s.run_id = r.id) END,
           (SELECT count(*) FROM step_runs s WHERE s.run_id = r.id AND s.status = 'failed')
    FROM runs r JOIN experiments e ON e.id = r.experiment_id";

impl History {
    /// Starts a run in `run.experiment` (created on first use) with status `running`.
    ///
    /// Returns the new run id: 1, 2, 3… per database, monotonic, never reused.
    /// Errors: [`Error::Sqlite`] on a database failure.
    pub fn start_run(&self, run: &NewRun) -> Result<i64> {
        let tx = write_tx(&self.conn).context("start run")?;
        let id = insert_run(&tx, run, RunStatus::Running, None, None)?;
        tx.commit().context("start run")?;
        Ok(id)
    }

    /// Records a whole run at once, in one transaction: the run with its final `status` and
    /// end time `ended_ms`, then `steps` in order (their `run_id` fields are ignored: they
    /// belong to the new run). What a build that ran nothing records. Returns the new run id.
    ///
    /// Errors: [`Error::Sqlite`] on a database failure; nothing is recorded then.
    pub fn record_finished_run(
        &self,
        run: &NewRun,
        steps: &[StepRecord],
        status: RunStatus,
        ended_ms: u64,
    ) -> Result<i64> {
        const CTX: &str = "record run";
        let tx = write_tx(&self.conn).context(CTX)?;
        let id = insert_run(&tx, run, status, Some(ended_ms), None)?;
        let bare = |r: &StepRecord| {
            r.status == StepStatus::Reused
                && r.key.is_none()
                && r.key_fields.is_none()
                && r.dirty_reason.is_none()
                && r.exit_code.is_none()
                && r.started_ms.is_none()
                && r.duration_ms.is_none()
                && r.outputs.is_none()
                && r.log_dir.is_none()
        };
        if steps.iter().all(bare) {
            // What a no-op build records: one statement for every row (a JSON array of
            // [step, reused_from] pairs), a third of the time of one INSERT per row.
            let pairs: Vec<(&str, Option<i64>)> =
                steps.iter().map(|r| (r.step.as_str(), r.reused_from)).collect();
            let json = serde_json::to_string(&pairs)
                .map_err(|e| Error::Corrupt(format!("cannot encode step records: {e}")))?;
            tx.execute(
                "INSERT INTO step_runs (run_id, pipeline, step, status, reused_from)
                 SELECT ?1, ?2, value ->> 0, 'reused', value ->> 1 FROM json_each(?3)
                 ORDER BY key",
                params![id, run.pipeline, json],
            )
            .context(CTX)?;
            tx.commit().context(CTX)?;
            return Ok(id);
        }
        for rec in steps {
            crate::steps::insert_step(&tx, id, rec)?;
        }
        tx.commit().context(CTX)?;
        Ok(id)
    }

    /// Records a finished, succeeded run that reused every step of run `base`, as one row
    /// (`runs.steps_of`; see [`crate::schema`], version 5) and the records in `own`: what a
    /// build from the build memo records, where [`History::record_finished_run`] would write
    /// a row per step. Its steps then read ([`History::steps`], [`History::step`],
    /// [`History::runs`]) as `base`'s, in `base`'s order, each `reused` from the run `base`
    /// had it from (or from `base` where it ran there), except those `own` records, which
    /// read as given (an edit under the memo reuses another run's result for them).
    ///
    /// The claim is checked in the same transaction: `base` must exist, have succeeded, be of
    /// the same pipeline, not be a repeat itself, and have exactly `steps` step records, each
    /// `ran` or `reused`; every step of `own` must be one of them. `Ok(None)` when it does
    /// not hold (nothing is written; record the steps one by one instead); else the new
    /// run's id. The `run_id` fields of `own` are ignored. Where `run`'s parameters are
    /// `base`'s (a build from the memo repeats the invocation that wrote it), the new row
    /// refers to them instead of holding a copy.
    ///
    /// Errors: [`Error::Sqlite`] on a database failure; nothing is recorded then.
    pub fn record_repeat_run(
        &self,
        run: &NewRun,
        base: i64,
        steps: usize,
        own: &[StepRecord],
        ended_ms: u64,
    ) -> Result<Option<i64>> {
        const CTX: &str = "record run";
        let params = params_json(run)?;
        let tx = write_tx(&self.conn).context(CTX)?;
        // Both counts read the index `step_runs(run_id, status)` alone.
        let holds = tx
            .prepare_cached(
                "SELECT r.status = 'succeeded' AND r.steps_of IS NULL AND r.pipeline = ?2,
                    r.params = ?3,
                    (SELECT count(*) FROM step_runs s WHERE s.run_id = r.id),
                    (SELECT count(*) FROM step_runs s
                     WHERE s.run_id = r.id AND s.status IN ('ran', 'reused'))
                 FROM runs r WHERE r.id = ?1",
            )
            .context(CTX)?
            .query_row(params![base, run.pipeline, params], |r| {
                let counts = [r.get::<_, i64>(2)?, r.get(3)?];
                Ok((r.get::<_, bool>(0)? && counts == [steps as i64; 2], r.get::<_, bool>(1)?))
            })
            .optional()
            .context(CTX)?;
        let Some((true, same_params)) = holds else { return Ok(None) };
        for rec in own {
            let known = tx
                .prepare_cached("SELECT 1 FROM step_runs WHERE run_id = ?1 AND step = ?2")
                .context(CTX)?
                .exists(params![base, rec.step])
                .context(CTX)?;
            if !known {
                return Ok(None);
            }
        }
        let params = if same_params { "" } else { params.as_str() };
        let id =
            insert_run_with(&tx, run, params, RunStatus::Succeeded, Some(ended_ms), Some(base))?;
        for rec in own {
            crate::steps::insert_step(&tx, id, rec)?;
        }
        tx.commit().context(CTX)?;
        Ok(Some(id))
    }

    /// Ends run `run_id` with `status` and end time `ended_ms` (unix ms).
    ///
    /// Errors: [`Error::NoSuchRun`] if the run does not exist; [`Error::Sqlite`] otherwise.
    pub fn finish_run(&self, run_id: i64, status: RunStatus, ended_ms: u64) -> Result<()> {
        const CTX: &str = "finish run";
        let tx = write_tx(&self.conn).context(CTX)?;
        let n = tx
            .execute(
                "UPDATE runs SET status = ?1, ended_ms = ?2 WHERE id = ?3",
                params![status.as_str(), ms_to_sql(ended_ms), run_id],
            )
            .context(CTX)?;
        if n == 0 {
            return Err(Error::NoSuchRun(run_id));
        }
        tx.commit().context(CTX)
    }

    /// Lists runs newest first (by id), only those of `experiment` when given, at most `limit`.
    ///
    /// Errors: [`Error::Sqlite`]; [`Error::Corrupt`] / [`Error::UnknownStatus`] for bad rows.
    pub fn runs(&self, experiment: Option<&str>, limit: usize) -> Result<Vec<RunSummary>> {
        const CTX: &str = "list runs";
        let sql = format!(
            "{SUMMARY_SELECT} WHERE (?1 IS NULL OR e.name = ?1) ORDER BY r.id DESC LIMIT ?2"
        );
        let mut stmt = self.conn.prepare_cached(&sql).context(CTX)?;
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let mut rows = stmt.query(params![experiment, limit]).context(CTX)?;
        let mut out = Vec::new();
        while let Some(row) = rows.next().context(CTX)? {
            out.push(summary_from_row(row)?);
        }
        Ok(out)
    }

    /// Every experiment with runs: its name, how many runs it has, and its newest run's id;
    /// the experiment with the newest run first.
    ///
    /// Errors: SQLite failures.
    pub fn experiments(&self) -> Result<Vec<(String, u64, i64)>> {
        const CTX: &str = "list experiments";
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT e.name, COUNT(r.id), MAX(r.id) FROM experiments e \
                 JOIN runs r ON r.experiment_id = e.id GROUP BY e.id ORDER BY MAX(r.id) DESC",
            )
            .context(CTX)?;
        let rows = stmt
            .query_map([], |r| {
                let n: i64 = r.get(1)?;
                Ok((r.get(0)?, u64::try_from(n).unwrap_or(0), r.get(2)?))
            })
            .context(CTX)?;
        rows.collect::<rusqlite::Result<Vec<_>>>().context(CTX)
    }

    /// The run with id `run_id`, or `None` if there is none.
    ///
    /// Errors: as [`History::runs`].
    pub fn run(&self, run_id: i64) -> Result<Option<RunSummary>> {
        const CTX: &str = "read run";
        let sql = format!("{SUMMARY_SELECT} WHERE r.id = ?1");
        let mut stmt = self.conn.prepare_cached(&sql).context(CTX)?;
        let mut rows = stmt.query([run_id]).context(CTX)?;
        match rows.next().context(CTX)? {
            Some(row) => Ok(Some(summary_from_row(row)?)),
            None => Ok(None),
        }
    }

    /// Marks runs still `running` whose owning process is gone as `interrupted`; call at the start
    /// of a build. Returns the ids of the runs it marked, so the caller can tidy what they left.
    /// Their `ended_ms` stays `None` (unknown).
    ///
    /// A process counts as alive when it is this process, or — on Linux — `/proc/<pid>/stat`
    /// exists and is not a zombie, or — on other Unixes — `kill -0 <pid>` succeeds or is refused
    /// with "not permitted". Elsewhere every process counts as alive, so nothing is reaped. A run
    /// without a pid is reaped. Limits: a recycled pid keeps a dead run `running` until the pid
    /// is free again, and pids are only meaningful on one host (and in one pid namespace).
    ///
    /// Errors: [`Error::Sqlite`].
    pub fn reap_stale(&self) -> Result<Vec<i64>> {
        const CTX: &str = "reap stale runs";
        let stale = self.stale_runs()?;
        if stale.is_empty() {
            return Ok(Vec::new());
        }
        let tx = write_tx(&self.conn).context(CTX)?;
        let mut reaped = Vec::new();
        for id in stale {
            // Re-check the status: the owner may have finished the run since the read above.
            let marked = tx
                .execute(
                    "UPDATE runs SET status = ?1 WHERE id = ?2 AND status = ?3",
                    params![RunStatus::Interrupted.as_str(), id, RunStatus::Running.as_str()],
                )
                .context(CTX)?;
            if marked > 0 {
                reaped.push(id);
            }
        }
        tx.commit().context(CTX)?;
        Ok(reaped)
    }

    /// The runs [`History::reap_stale`] would mark, without writing anything: still `running`,
    /// their owning process gone (a read, for a caller that must free space before it can
    /// write).
    ///
    /// Errors: [`Error::Sqlite`].
    pub fn stale_runs(&self) -> Result<Vec<i64>> {
        const CTX: &str = "find stale runs";
        let running: Vec<(i64, Option<i64>)> = {
            let mut stmt = self
                .conn
                .prepare_cached("SELECT id, pid FROM runs WHERE status = ?1")
                .context(CTX)?;
            stmt.query_map([RunStatus::Running.as_str()], |r| Ok((r.get(0)?, r.get(1)?)))
                .context(CTX)?
                .collect::<rusqlite::Result<_>>()
                .context(CTX)?
        };
        Ok(running
            .into_iter()
            .filter(|&(_, pid)| !pid.and_then(|p| u32::try_from(p).ok()).is_some_and(pid_alive))
            .map(|(id, _)| id)
            .collect())
    }

    /// Whether a run with id `run_id` exists (used inside write transactions).
    pub(crate) fn run_exists(conn: &rusqlite::Connection, run_id: i64) -> rusqlite::Result<bool> {
        conn.query_row("SELECT 1 FROM runs WHERE id = ?1", [run_id], |_| Ok(()))
            .optional()
            .map(|r| r.is_some())
    }
}

/// Decodes one row of [`SUMMARY_SELECT`].
fn summary_from_row(row: &Row<'_>) -> Result<RunSummary> {
    const CTX: &str = "read run row";
    let id: i64 = row.get(0).context(CTX)?;
    let status: String = row.get(4).context(CTX)?;
    let params: String = row.get(5).context(CTX)?;
    let params = serde_json::from_str(&params)
        .map_err(|e| Error::Corrupt(format!("run {id}: bad params JSON: {e}")))?;
    let commit: Option<String> = row.get(6).context(CTX)?;
    let git = match commit {
        Some(commit) => Some(GitInfo {
            commit,
            branch: row.get(7).context(CTX)?,
            dirty: row.get::<_, Option<bool>>(8).context(CTX)?.unwrap_or(false),
        }),
        None => None,
    };
    let count = |i| -> Result<u32> {
        let n: i64 = row.get(i).context(CTX)?;
        Ok(u32::try_from(n).unwrap_or(u32::MAX))
    };
    Ok(RunSummary {
        id,
        experiment: row.get(1).context(CTX)?,
        pipeline: row.get(2).context(CTX)?,
        pipeline_path: row.get(3).context(CTX)?,
        status: status.parse()?,
        params,
        git,
        started_ms: ms_from_sql(row.get(9).context(CTX)?, "run start time")?,
        ended_ms: opt_ms_from_sql(row.get(10).context(CTX)?, "run end time")?,
        steps_ran: count(11)?,
        steps_reused: count(12)?,
        steps_failed: count(13)?,
    })
}

/// Whether process `pid` is alive on this host; see [`History::reap_stale`].
pub(crate) fn pid_alive(pid: u32) -> bool {
    if pid == std::process::id() {
        return true;
    }
    if pid == 0 || i32::try_from(pid).is_err() {
        return false;
    }
    if let Some(alive) = proc_alive(pid) {
        return alive;
    }
    kill_alive(pid)
}

/// Linux: reads `/proc/<pid>/stat`. `None` when there is no usable `/proc`.
fn proc_alive(pid: u32) -> Option<bool> {
    if !Path::new("/proc/self/stat").exists() {
        return None;
    }
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        // Format: `pid (comm) S …`; comm may contain spaces and parentheses, so split at the last `)`.
        Ok(stat) => {
            let state =
                stat.rsplit_once(')').and_then(|(_, rest)| rest.trim_start().chars().next());
            Some(!matches!(state, Some('Z' | 'X' | 'x')))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Some(false),
        Err(_) => None,
    }
}

/// Other Unixes: `kill -0 <pid>` (the shell utility, since this workspace forbids `unsafe`).
#[cfg(unix)]
fn kill_alive(pid: u32) -> bool {
    use std::process::{Command, Stdio};
    match Command::new("kill").arg("-0").arg(pid.to_string()).stdin(Stdio::null()).output() {
        Ok(out) if out.status.success() => true,
        // EPERM: the process exists but belongs to another user.
        Ok(out) => String::from_utf8_lossy(&out.stderr).to_lowercase().contains("not permitted"),
        // Cannot tell: never reap on doubt.
        Err(_) => true,
    }
}

/// Non-Unix: cannot tell, so never reap.
#[cfg(not(unix))]
fn kill_alive(_pid: u32) -> bool {
    true
}
