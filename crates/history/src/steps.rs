//! Step runs: one row per `(run_id, step)` in `step_runs`.

use rusqlite::{OptionalExtension as _, Row, params};

use crate::schema::write_tx;
use crate::{Context, Error, History, Result, StepRecord, StepStatus, ms_to_sql, opt_ms_from_sql};

/// Columns read by [`record_from_row`], in order.
const STEP_COLUMNS: &str = "run_id, step, status, key, key_fields, reused_from, dirty_reason,
    exit_code, started_ms, duration_ms, outputs, log_dir";

impl History {
    /// Records one step's outcome in run `rec.run_id`.
    ///
    /// Recording a step again in the same run replaces every field of the earlier record but
    /// keeps its position in [`History::steps`].
    /// Errors: [`Error::NoSuchRun`] if the run does not exist; [`Error::Sqlite`] otherwise.
    pub fn record_step(&self, rec: &StepRecord) -> Result<()> {
        self.record_steps(std::slice::from_ref(rec))
    }

    /// Marks step `step` of run `run_id`, recorded as run, failed after all, with `reason`
    /// appended to its dirty reason (a build found, once it was over, that it wrote into
    /// another step's output). Nothing happens if there is no such record.
    ///
    /// Errors: [`Error::Sqlite`].
    pub fn fail_step(&self, run_id: i64, step: &str, reason: &str) -> Result<()> {
        const CTX: &str = "mark step failed";
        self.conn
            .execute(
                "UPDATE step_runs SET status = ?3,
                    dirty_reason = CASE WHEN dirty_reason IS NULL OR dirty_reason = '' THEN ?4
                                        ELSE dirty_reason || '; ' || ?4 END
                 WHERE run_id = ?1 AND step = ?2",
                rusqlite::params![run_id, step, StepStatus::Failed.as_str(), reason],
            )
            .context(CTX)?;
        Ok(())
    }

    /// Records several steps' outcomes in one transaction (one disk sync instead of one per
    /// step: a no-op build of 1,000 steps records 1,000 reuses). All or none are written.
    ///
    /// Errors: as [`History::record_step`], for the first record that fails.
    pub fn record_steps(&self, recs: &[StepRecord]) -> Result<()> {
        let with: Vec<(&StepRecord, &[crate::Metric])> =
            recs.iter().map(|r| (r, &[][..])).collect();
        self.record_steps_with_metrics(&with)
    }

    /// Records several steps' outcomes, each with the metrics it logged (appended as
    /// [`History::add_metrics`] does), in one transaction. All or none are written.
    ///
    /// Errors: as [`History::record_step`], for the first record that fails.
    pub fn record_steps_with_metrics(
        &self,
        recs: &[(&StepRecord, &[crate::Metric])],
    ) -> Result<()> {
        const CTX: &str = "record step";
        let tx = write_tx(&self.conn).context(CTX)?;
        for (rec, metrics) in recs {
            insert_step(&tx, rec.run_id, rec)?;
            crate::metrics::insert_metrics(&tx, rec.run_id, &rec.step, metrics)?;
        }
        tx.commit().context(CTX)
    }
}

/// Inserts or replaces one step record inside an open transaction, in run `run_id` (not
/// `rec.run_id`).
pub(crate) fn insert_step(
    tx: &rusqlite::Transaction<'_>,
    run_id: i64,
    rec: &StepRecord,
) -> Result<()> {
    const CTX: &str = "record step";
    {
        // INSERT … SELECT copies the run's pipeline name and inserts nothing if the run is missing.
        let n = tx
            .prepare_cached(
                "INSERT INTO step_runs (run_id, pipeline, step, status, key, key_fields,
                    reused_from, dirty_reason, exit_code, started_ms, duration_ms, outputs, log_dir)
                 SELECT id, pipeline, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12
                 FROM runs WHERE id = ?1
                 ON CONFLICT (run_id, step) DO UPDATE SET
                    status = excluded.status, key = excluded.key,
                    key_fields = excluded.key_fields, reused_from = excluded.reused_from,
                    dirty_reason = excluded.dirty_reason, exit_code = excluded.exit_code,
                    started_ms = excluded.started_ms, duration_ms = excluded.duration_ms,
                    outputs = excluded.outputs, log_dir = excluded.log_dir",
            )
            .context(CTX)?
            .execute(params![
                run_id,
                rec.step,
                rec.status.as_str(),
                rec.key,
                rec.key_fields,
                rec.reused_from,
                rec.dirty_reason,
                rec.exit_code,
                rec.started_ms.map(ms_to_sql),
                rec.duration_ms.map(ms_to_sql),
                rec.outputs,
                rec.log_dir,
            ])
            .context(CTX)?;
        if n == 0 {
            return Err(Error::NoSuchRun(run_id));
        }
        Ok(())
    }
}

impl History {
    /// The steps of run `run_id` in the order first recorded; empty for an unknown run.
    ///
    /// Errors: [`Error::Sqlite`]; [`Error::Corrupt`] / [`Error::UnknownStatus`] for bad rows.
    pub fn steps(&self, run_id: i64) -> Result<Vec<StepRecord>> {
        const CTX: &str = "list steps";
        let base = self.steps_of(run_id)?;
        let sql = format!("SELECT {STEP_COLUMNS} FROM step_runs WHERE run_id = ?1 ORDER BY id");
        let mut stmt = self.conn.prepare_cached(&sql).context(CTX)?;
        let mut read = |id: i64| -> Result<Vec<StepRecord>> {
            let mut rows = stmt.query([id]).context(CTX)?;
            let mut out = Vec::new();
            while let Some(row) = rows.next().context(CTX)? {
                out.push(record_from_row(row)?);
            }
            Ok(out)
        };
        let own = read(run_id)?;
        let Some(base) = base else { return Ok(own) };
        // A repeat's own records stand in for its base's records of the same steps.
        let mut own: std::collections::HashMap<String, StepRecord> =
            own.into_iter().map(|r| (r.step.clone(), r)).collect();
        Ok(read(base)?
            .into_iter()
            .map(|rec| own.remove(&rec.step).unwrap_or_else(|| as_repeat(rec, run_id, base)))
            .collect())
    }

    /// The run whose step records stand for run `run_id`'s (`runs.steps_of`, see
    /// [`History::record_repeat_run`]); `None` for a run with records of its own, or no run.
    fn steps_of(&self, run_id: i64) -> Result<Option<i64>> {
        const CTX: &str = "read run";
        self.conn
            .prepare_cached("SELECT steps_of FROM runs WHERE id = ?1")
            .context(CTX)?
            .query_row([run_id], |r| r.get::<_, Option<i64>>(0))
            .optional()
            .context(CTX)
            .map(Option::flatten)
    }

    /// The newest record (highest run id) of step `step` of pipeline `pipeline` whose status is
    /// `ran` or `reused`; used to explain why a step reruns by comparing key fields. A reused
    /// record stores no key fields (they are those of the run it reused, same key); this fills
    /// them in from the record of step `step` in run `reused_from`.
    ///
    /// Errors: as [`History::steps`].
    pub fn last_success(&self, pipeline: &str, step: &str) -> Result<Option<StepRecord>> {
        let Some(mut rec) = self.newest_success(pipeline, step)? else { return Ok(None) };
        self.fill_reused(&mut rec)?;
        Ok(Some(rec))
    }

    /// Fills in what a reused record leaves out (key, key fields, outputs: the same as in
    /// the record of step `step` in run `reused_from`, as the key is the same) from that
    /// record. Does nothing for other records.
    ///
    /// Errors: as [`History::steps`].
    pub fn fill_reused(&self, rec: &mut StepRecord) -> Result<()> {
        let Some(from) = rec.reused_from else { return Ok(()) };
        if rec.key.is_some() && rec.key_fields.is_some() && rec.outputs.is_some() {
            return Ok(());
        }
        if let Some(src) = self.step(from, &rec.step)? {
            rec.key = rec.key.take().or(src.key);
            rec.key_fields = rec.key_fields.take().or(src.key_fields);
            rec.outputs = rec.outputs.take().or(src.outputs);
        }
        Ok(())
    }

    /// The record of step `step` in run `run_id`, if any.
    ///
    /// Errors: as [`History::steps`].
    pub fn step(&self, run_id: i64, step: &str) -> Result<Option<StepRecord>> {
        self.step_in(run_id, self.steps_of(run_id)?, step)
    }

    /// [`History::step`], for a run whose `steps_of` is known.
    fn step_in(&self, run_id: i64, base: Option<i64>, step: &str) -> Result<Option<StepRecord>> {
        if let Some(base) = base {
            if let Some(own) = self.step_in(run_id, None, step)? {
                return Ok(Some(own));
            }
            return Ok(self.step_in(base, None, step)?.map(|rec| as_repeat(rec, run_id, base)));
        }
        const CTX: &str = "read step";
        let sql = format!("SELECT {STEP_COLUMNS} FROM step_runs WHERE run_id = ?1 AND step = ?2");
        let mut stmt = self.conn.prepare_cached(&sql).context(CTX)?;
        let mut rows = stmt.query(params![run_id, step]).context(CTX)?;
        match rows.next().context(CTX)? {
            Some(row) => Ok(Some(record_from_row(row)?)),
            None => Ok(None),
        }
    }

    fn newest_success(&self, pipeline: &str, step: &str) -> Result<Option<StepRecord>> {
        const CTX: &str = "find last success";
        // Runs newest first (rowid order, no sort), one `(run_id, step)` lookup each: the
        // last success is almost always in one of the last few runs.
        let mut runs = self
            .conn
            .prepare_cached("SELECT id, steps_of FROM runs WHERE pipeline = ?1 ORDER BY id DESC")
            .context(CTX)?;
        let mut ids = runs.query([pipeline]).context(CTX)?;
        while let Some(row) = ids.next().context(CTX)? {
            let id: i64 = row.get(0).context(CTX)?;
            if let Some(rec) = self.step_in(id, row.get(1).context(CTX)?, step)?
                && matches!(rec.status, StepStatus::Ran | StepStatus::Reused)
            {
                return Ok(Some(rec));
            }
        }
        Ok(None)
    }
}

/// Record `rec` of run `base` as run `run_id`, a repeat of `base`, has it: reused from where
/// `base` had it (`base` itself where it ran), with nothing of its own.
fn as_repeat(rec: StepRecord, run_id: i64, base: i64) -> StepRecord {
    let from = if rec.status == StepStatus::Ran { base } else { rec.reused_from.unwrap_or(base) };
    StepRecord {
        reused_from: Some(from),
        ..StepRecord::bare(run_id, &rec.step, StepStatus::Reused)
    }
}

/// Decodes one row selected with [`STEP_COLUMNS`].
fn record_from_row(row: &Row<'_>) -> Result<StepRecord> {
    const CTX: &str = "read step row";
    let status: String = row.get(2).context(CTX)?;
    Ok(StepRecord {
        run_id: row.get(0).context(CTX)?,
        step: row.get(1).context(CTX)?,
        status: status.parse::<StepStatus>()?,
        key: row.get(3).context(CTX)?,
        key_fields: row.get(4).context(CTX)?,
        reused_from: row.get(5).context(CTX)?,
        dirty_reason: row.get(6).context(CTX)?,
        exit_code: row.get(7).context(CTX)?,
        started_ms: opt_ms_from_sql(row.get(8).context(CTX)?, "step start time")?,
        duration_ms: opt_ms_from_sql(row.get(9).context(CTX)?, "step duration")?,
        outputs: row.get(10).context(CTX)?,
        log_dir: row.get(11).context(CTX)?,
    })
}
