//! Group commit of what steps that ran leave in the databases: their action cache entries,
//! history records and metrics, written in one transaction per database for every step
//! that finished within [`FLUSH_DELAY`] of another, instead of three transactions per step
//! (a cold build of 1,000 trivial steps made 3,000). Their output views follow, under one
//! hold of the views lock: a view appears once its result is committed.
//!
//! Nothing waits for these writes: downstream steps need only the outputs' digests,
//! published as each step ends, and the build flushes what is left ([`flush`]) before it
//! records its end, writes its memo or reports. A process killed between a step's end and
//! the next flush loses that step's entry: it runs again next time, as if it had been killed
//! itself. So only quick steps wait: the entry of a step that ran for [`COMMIT_AT_ONCE`] or
//! longer is committed when it is submitted (with any waiting), and a kill costs at most
//! reruns of steps that each took less. Only steps that succeeded are submitted, so no entry
//! is ever written for one that did not.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use cache::ActionResult;
use hir::Digest;
use history::{Metric, StepRecord};

use super::Shared;

/// How long a submitted entry waits for others to share its transaction, at most.
pub(super) const FLUSH_DELAY: Duration = Duration::from_millis(100);

/// Steps that ran at least this long have their entries committed at once.
pub(super) const COMMIT_AT_ONCE: Duration = Duration::from_secs(1);

/// What one step that ran leaves in the databases.
pub(super) struct Entry {
    /// Its key, and the action cache entry to write under it (`None`: not to be cached, e.g.
    /// a file it read changed while it ran).
    pub(super) action: Option<(Digest, ActionResult)>,
    /// Its history record; `; not cached: …` is appended to its reason if the action cache
    /// write fails.
    pub(super) record: StepRecord,
    /// The metrics it logged.
    pub(super) metrics: Vec<Metric>,
    /// Its outputs, to become their views once the entry is committed: (manifest digest,
    /// output name, the folder it wrote).
    pub(super) views: Vec<(Digest, String, std::path::PathBuf)>,
    /// The lock of its key, held until the entry is committed: a concurrent build waiting
    /// for the key then finds the entry (see `claim`).
    pub(super) _key_lock: Option<cache::KeyLock>,
}

/// Entries waiting for the next flush, and the lock one flush at a time holds.
#[derive(Default)]
pub(super) struct Ledger {
    queue: Mutex<Queue>,
    flushing: Mutex<()>,
}

/// The entries not yet written, and whether a flush is scheduled for them.
#[derive(Default)]
struct Queue {
    entries: Vec<Entry>,
    scheduled: bool,
}

/// Queues `entry` of a step that ran for `took`; the first entry queued after a flush
/// schedules the next, [`FLUSH_DELAY`] later, on the runtime's blocking threads. A step that
/// took [`COMMIT_AT_ONCE`] or longer is committed now, on this (blocking) thread. Must run
/// inside the build's runtime.
pub(super) fn submit(shared: &Arc<Shared>, entry: Entry, took: Duration) {
    let schedule = {
        let mut queue = shared.ledger.queue.lock().unwrap_or_else(|e| e.into_inner());
        queue.entries.push(entry);
        !std::mem::replace(&mut queue.scheduled, true)
    };
    if took >= COMMIT_AT_ONCE {
        flush(shared);
    } else if schedule {
        let sh = shared.clone();
        tokio::runtime::Handle::current().spawn(async move {
            tokio::time::sleep(FLUSH_DELAY).await;
            let _ = tokio::task::spawn_blocking(move || flush(&sh)).await;
        });
    }
}

/// Writes every queued entry: the action cache entries in one transaction, then the history
/// records with their metrics in one. If the action cache write fails, none of them is
/// cached: each step's record says why, the build is marked uncached (no memo) and, when
/// printing, a warning names each step. Blocking; a flush running on another thread is
/// waited for, so once this returns everything submitted before is written.
pub(super) fn flush(shared: &Shared) {
    let _one_at_a_time = shared.ledger.flushing.lock().unwrap_or_else(|e| e.into_inner());
    let mut entries = {
        let mut queue = shared.ledger.queue.lock().unwrap_or_else(|e| e.into_inner());
        queue.scheduled = false;
        std::mem::take(&mut queue.entries)
    };
    if entries.is_empty() {
        return;
    }
    let actions: Vec<(cache::Digest, &ActionResult)> = entries
        .iter()
        .filter_map(|e| e.action.as_ref().map(|(key, result)| (*key, result)))
        .collect();
    if !actions.is_empty()
        && let Err(e) = shared.cache.put_actions(&actions)
    {
        let why = format!("writing the action cache failed: {e}");
        shared.uncached.store(true, std::sync::atomic::Ordering::Relaxed);
        let mut outcomes = shared.outcomes.lock().unwrap_or_else(|e| e.into_inner());
        for entry in entries.iter_mut().filter(|e| e.action.is_some()) {
            let step = &entry.record.step;
            shared.warn(Some(step), format!("{why}; its result is not cached"));
            let reason = entry.record.dirty_reason.get_or_insert_default();
            reason.push_str(&format!("; not cached: {why}"));
            if let Some(o) = outcomes.iter_mut().find(|o| &o.step == step) {
                o.reason = Some(reason.clone());
            }
        }
    }
    let records: Vec<(&StepRecord, &[Metric])> =
        entries.iter().map(|e| (&e.record, e.metrics.as_slice())).collect();
    let history = shared.history.lock().unwrap_or_else(|e| e.into_inner());
    if let Err(e) = super::with_space(shared, false, || history.record_steps_with_metrics(&records))
    {
        shared.warn(None, format!("recording {} step records: {e}", records.len()));
    }
    drop(history);
    let views: Vec<(&str, &str, Digest, &std::path::Path)> = entries
        .iter()
        .flat_map(|e| {
            let step = e.record.step.as_str();
            e.views.iter().map(move |(d, name, dir)| (step, name.as_str(), *d, dir.as_path()))
        })
        .collect();
    super::views::publish_all(shared, &views);
    // Last: the build's own files come first, and a shared cache that is slow or down
    // only delays the end of the build (and says so once).
    if let Some(remote) = &shared.remote
        && !shared.uncached.load(std::sync::atomic::Ordering::Relaxed)
    {
        for e in &entries {
            let Some((key, result)) = &e.action else { continue };
            let metrics: Vec<(String, f64)> =
                e.metrics.iter().map(|m| (m.name.clone(), m.value)).collect();
            remote.export(key, result, e.record.log_dir.as_deref(), &metrics);
        }
    }
}
