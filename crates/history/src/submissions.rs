//! Submissions of published pipelines (`POST /pipelines/ID/submit` on `runner serve`): table
//! `submissions` (schema version 4, see [`crate::schema`]).
//!
//! A submission is the REST run Azure ML returns from a published pipeline's endpoint: its
//! id (a UUID) is what the client polls. It is recorded `Queued` when accepted, `Running`
//! once its build starts (with the history run it made, `run_id`), and ends `Finished`,
//! `Failed` or `Canceled`. The table is the server's queue: a server that restarts takes
//! the queued ones up again, and marks the ones it was running when it died as failed
//! ([`History::recover_submissions`]).

use std::fmt;
use std::str::FromStr;

use rusqlite::{OptionalExtension, params};
use serde::Serialize;

use crate::schema::write_tx;
use crate::{Context, Error, History, Result, ms_to_sql};

/// A submission's state, named as Azure ML names a pipeline run's status
/// (`azureml.core.Run.get_status`: `NotStarted`, `Queued`, `Running`, `Finished`, `Failed`,
/// `Canceled`). Stored as that text.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
pub enum SubmissionStatus {
    /// Taken from the queue; its snapshot is being laid out, its build not started yet.
    NotStarted,
    /// Accepted, waiting for a free build slot.
    Queued,
    /// Its build is running.
    Running,
    /// Its build succeeded.
    Finished,
    /// Its build failed, could not start, or the server died while it ran.
    Failed,
    /// Cancelled before or while it ran.
    Canceled,
}

impl SubmissionStatus {
    /// The stored and serialized name (Azure ML's).
    pub fn as_str(self) -> &'static str {
        match self {
            SubmissionStatus::NotStarted => "NotStarted",
            SubmissionStatus::Queued => "Queued",
            SubmissionStatus::Running => "Running",
            SubmissionStatus::Finished => "Finished",
            SubmissionStatus::Failed => "Failed",
            SubmissionStatus::Canceled => "Canceled",
        }
    }

    /// Whether the submission has ended (finished, failed or cancelled).
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            SubmissionStatus::Finished | SubmissionStatus::Failed | SubmissionStatus::Canceled
        )
    }
}

impl FromStr for SubmissionStatus {
    type Err = Error;

    /// Parses the stored name; anything else is [`Error::UnknownStatus`].
    fn from_str(s: &str) -> Result<Self> {
        Ok(match s {
            "NotStarted" => SubmissionStatus::NotStarted,
            "Queued" => SubmissionStatus::Queued,
            "Running" => SubmissionStatus::Running,
            "Finished" => SubmissionStatus::Finished,
            "Failed" => SubmissionStatus::Failed,
            "Canceled" => SubmissionStatus::Canceled,
            _ => return Err(Error::UnknownStatus { kind: "submission", value: s.to_owned() }),
        })
    }
}

impl fmt::Display for SubmissionStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A submission as stored.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Submission {
    /// Its id (UUID): the REST run id.
    pub id: String,
    /// The published pipeline it starts.
    pub published_id: String,
    /// The experiment its run is recorded under (the body's `ExperimentName`).
    pub experiment: String,
    /// The parameter assignments of the body, `(name, value)` as canonical text.
    pub params: Vec<(String, String)>,
    /// The name of the token that submitted it.
    pub submitted_by: Option<String>,
    /// Where it is.
    pub status: SubmissionStatus,
    /// The history run its build recorded, once started.
    pub run_id: Option<i64>,
    /// Why it failed or was cancelled, when it says.
    pub message: Option<String>,
    /// When it was accepted, unix ms.
    pub submitted_ms: u64,
    /// When its build started, unix ms.
    pub started_ms: Option<u64>,
    /// When it ended, unix ms.
    pub ended_ms: Option<u64>,
}

const COLUMNS: &str = "id, published_id, experiment, params, submitted_by, status, run_id, \
                       message, submitted_ms, started_ms, ended_ms";

fn from_row(row: &rusqlite::Row<'_>) -> Result<Submission> {
    const CTX: &str = "read submission";
    let params: String = row.get(3).context(CTX)?;
    let params = serde_json::from_str(&params)
        .map_err(|e| Error::Corrupt(format!("submission params: {e}")))?;
    let status: String = row.get(5).context(CTX)?;
    let time = |v: Option<i64>| v.map(|v| u64::try_from(v).unwrap_or(0));
    Ok(Submission {
        id: row.get(0).context(CTX)?,
        published_id: row.get(1).context(CTX)?,
        experiment: row.get(2).context(CTX)?,
        params,
        submitted_by: row.get(4).context(CTX)?,
        status: status.parse()?,
        run_id: row.get(6).context(CTX)?,
        message: row.get(7).context(CTX)?,
        submitted_ms: time(row.get(8).context(CTX)?).unwrap_or(0),
        started_ms: time(row.get(9).context(CTX)?),
        ended_ms: time(row.get(10).context(CTX)?),
    })
}

impl History {
    /// Records `s` (normally `Queued`).
    ///
    /// Errors: SQLite failures (an id taken, a published id that does not exist).
    pub fn submit(&self, s: &Submission) -> Result<()> {
        const CTX: &str = "record submission";
        let params = serde_json::to_string(&s.params).expect("pairs of strings serialize");
        self.conn
            .execute(
                &format!(
                    "INSERT INTO submissions ({COLUMNS}) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)"
                ),
                params![
                    s.id,
                    s.published_id,
                    s.experiment,
                    params,
                    s.submitted_by,
                    s.status.as_str(),
                    s.run_id,
                    s.message,
                    ms_to_sql(s.submitted_ms),
                    s.started_ms.map(ms_to_sql),
                    s.ended_ms.map(ms_to_sql),
                ],
            )
            .context(CTX)?;
        Ok(())
    }

    /// Submission `id`, if any.
    ///
    /// Errors: SQLite failures; a corrupt row.
    pub fn submission(&self, id: &str) -> Result<Option<Submission>> {
        const CTX: &str = "read submission";
        let sql = format!("SELECT {COLUMNS} FROM submissions WHERE id = ?1");
        let mut stmt = self.conn.prepare_cached(&sql).context(CTX)?;
        let mut rows = stmt.query(params![id]).context(CTX)?;
        rows.next().context(CTX)?.map(from_row).transpose()
    }

    /// The submission whose build recorded history run `run_id`, if any.
    ///
    /// Errors: SQLite failures; a corrupt row.
    pub fn submission_of_run(&self, run_id: i64) -> Result<Option<Submission>> {
        const CTX: &str = "read submission";
        let sql = format!("SELECT {COLUMNS} FROM submissions WHERE run_id = ?1");
        let mut stmt = self.conn.prepare_cached(&sql).context(CTX)?;
        let mut rows = stmt.query(params![run_id]).context(CTX)?;
        rows.next().context(CTX)?.map(from_row).transpose()
    }

    /// The newest `limit` submissions, newest first.
    ///
    /// Errors: SQLite failures; a corrupt row.
    pub fn submissions(&self, limit: usize) -> Result<Vec<Submission>> {
        const CTX: &str = "list submissions";
        let sql = format!(
            "SELECT {COLUMNS} FROM submissions ORDER BY submitted_ms DESC, rowid DESC LIMIT ?1"
        );
        let mut stmt = self.conn.prepare_cached(&sql).context(CTX)?;
        let mut rows =
            stmt.query(params![i64::try_from(limit).unwrap_or(i64::MAX)]).context(CTX)?;
        let mut out = Vec::new();
        while let Some(row) = rows.next().context(CTX)? {
            out.push(from_row(row)?);
        }
        Ok(out)
    }

    /// Moves submission `id` from `from` to `to` (with `run_id`, `message`, and the start or
    /// end time `at_ms`: a start for `NotStarted`/`Running`, an end for a terminal status)
    /// when it is still in `from`. Returns whether it moved: a cancelled submission is not
    /// started afterwards, and a finished one is not cancelled.
    ///
    /// Errors: SQLite failures.
    pub fn move_submission(
        &self,
        id: &str,
        from: &[SubmissionStatus],
        to: SubmissionStatus,
        run_id: Option<i64>,
        message: Option<&str>,
        at_ms: u64,
    ) -> Result<bool> {
        const CTX: &str = "update submission";
        let tx = write_tx(&self.conn).context(CTX)?;
        let now: Option<String> = tx
            .query_row("SELECT status FROM submissions WHERE id = ?1", params![id], |r| r.get(0))
            .optional()
            .context(CTX)?;
        let Some(now) = now else { return Ok(false) };
        let now: SubmissionStatus = now.parse()?;
        if !from.contains(&now) {
            return Ok(false);
        }
        let (start, end) = if to.is_terminal() { (None, Some(at_ms)) } else { (Some(at_ms), None) };
        tx.execute(
            "UPDATE submissions SET status = ?2, run_id = COALESCE(?3, run_id), \
             message = COALESCE(?4, message), started_ms = COALESCE(started_ms, ?5), \
             ended_ms = COALESCE(?6, ended_ms) WHERE id = ?1",
            params![id, to.as_str(), run_id, message, start.map(ms_to_sql), end.map(ms_to_sql)],
        )
        .context(CTX)?;
        tx.commit().context(CTX)?;
        Ok(true)
    }

    /// What a server does when it starts: every submission left `NotStarted` or `Running`
    /// (its server died with it in hand) becomes `Failed` with `message`; returns the
    /// `Queued` ones, oldest first, to take up again.
    ///
    /// Errors: SQLite failures; a corrupt row.
    pub fn recover_submissions(&self, message: &str, at_ms: u64) -> Result<Vec<Submission>> {
        const CTX: &str = "recover submissions";
        let tx = write_tx(&self.conn).context(CTX)?;
        tx.execute(
            "UPDATE submissions SET status = 'Failed', message = ?1, ended_ms = ?2 \
             WHERE status IN ('NotStarted', 'Running')",
            params![message, ms_to_sql(at_ms)],
        )
        .context(CTX)?;
        tx.commit().context(CTX)?;
        let sql = format!(
            "SELECT {COLUMNS} FROM submissions WHERE status = 'Queued' \
             ORDER BY submitted_ms, rowid"
        );
        let mut stmt = self.conn.prepare_cached(&sql).context(CTX)?;
        let mut rows = stmt.query([]).context(CTX)?;
        let mut out = Vec::new();
        while let Some(row) = rows.next().context(CTX)? {
            out.push(from_row(row)?);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::NewPublished;

    fn history() -> (tempfile::TempDir, History) {
        let dir = tempfile::tempdir().unwrap();
        let h = History::open(&dir.path().join("h.sqlite")).unwrap();
        h.publish(&NewPublished {
            id: "p1".into(),
            name: "n".into(),
            version: "1".into(),
            description: None,
            pipeline: String::new(),
            snapshot: "00".into(),
            params: vec![],
            git_commit: None,
            created_ms: 1,
        })
        .unwrap();
        (dir, h)
    }

    fn queued(id: &str, at: u64) -> Submission {
        Submission {
            id: id.into(),
            published_id: "p1".into(),
            experiment: "e".into(),
            params: vec![("a".into(), "20".into())],
            submitted_by: Some("ci".into()),
            status: SubmissionStatus::Queued,
            run_id: None,
            message: None,
            submitted_ms: at,
            started_ms: None,
            ended_ms: None,
        }
    }

    #[test]
    fn a_submission_moves_only_from_the_states_named() {
        use SubmissionStatus::*;
        let (_d, h) = history();
        h.submit(&queued("s1", 10)).unwrap();
        assert_eq!(h.submission("s1").unwrap().unwrap(), queued("s1", 10));
        assert!(!h.move_submission("s1", &[Running], Finished, None, None, 20).unwrap());
        assert!(h.move_submission("s1", &[Queued], Running, Some(7), None, 20).unwrap());
        assert!(h.move_submission("s1", &[Running], Canceled, None, Some("asked"), 30).unwrap());
        // A build that ends after its cancellation cannot overwrite it.
        assert!(!h.move_submission("s1", &[Running], Finished, None, None, 40).unwrap());
        let s = h.submission("s1").unwrap().unwrap();
        assert_eq!(
            (s.status, s.run_id, s.message.as_deref(), s.started_ms, s.ended_ms),
            (Canceled, Some(7), Some("asked"), Some(20), Some(30))
        );
        assert_eq!(h.submission_of_run(7).unwrap().unwrap().id, "s1");
        assert!(!h.move_submission("nope", &[Queued], Running, None, None, 1).unwrap());
    }

    #[test]
    fn recovery_fails_what_was_running_and_keeps_the_queue_in_order() {
        use SubmissionStatus::*;
        let (_d, h) = history();
        for (id, at) in [("b", 20), ("a", 10), ("run", 5), ("done", 1)] {
            h.submit(&queued(id, at)).unwrap();
        }
        h.move_submission("run", &[Queued], Running, Some(1), None, 6).unwrap();
        h.move_submission("done", &[Queued], Finished, None, None, 6).unwrap();
        let queue = h.recover_submissions("the server stopped", 99).unwrap();
        let ids: Vec<_> = queue.iter().map(|s| s.id.as_str()).collect();
        assert_eq!(ids, ["a", "b"]);
        let run = h.submission("run").unwrap().unwrap();
        assert_eq!((run.status, run.message.as_deref()), (Failed, Some("the server stopped")));
        assert_eq!(h.submission("done").unwrap().unwrap().status, Finished);
        let newest: Vec<_> = h.submissions(2).unwrap().into_iter().map(|s| s.id).collect();
        assert_eq!(newest, ["b", "a"]);
    }
}
