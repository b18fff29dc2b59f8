//! The last check of a build that ran steps, before it reports: every result it names is
//! still what was stored, in the CAS and in its output view.
//!
//! An output view (`.runner/outputs/STEP.OUTPUT/`) is made of hard links to the blobs (or is
//! the folder the step wrote, whose files became the blobs), so a step that writes into
//! another step's view (as root, despite the read-only mode) changes a stored result.
//! [`check_result`] (called for each result under the views lock by `views::settle`) takes
//! one `stat` per file of the view: a file that is its blob with the stat this build noted
//! when it stored or verified it (`cache::Cache::is_noted`) is intact, view and blob alike.
//! Any other is looked at closely: the blob is verified (`cache::Cache::check_unchanged`), and
//! a view file that is not the blob's inode (a copy: an executable, a symlink's text) is
//! hashed. A damaged blob loses the result (the next build runs its step again: the blob no
//! longer verifies); a damaged view is laid out again. Either way the build fails, and the
//! steps that were running when the file was written ([`blame`], by its mtime) fail: their
//! outcome and history record say which file they wrote, and their action cache entries go,
//! so they run (and are caught) again. No step computed anything from damaged bytes: inputs
//! are hashed as they are copied (`inputs`).

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use cache::TreeEntry;
use hir::Digest;
use history::StepStatus;

use super::{Shared, manifest_of};
use crate::events::Event;

/// How far outside a step's run a write is still blamed on it when no step was running at
/// its time: timestamps are coarse.
const SLACK: Duration = Duration::from_millis(50);

/// What [`check_result`] found.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Found {
    /// Blob and view hold what was stored.
    Intact,
    /// The view was written into (its blob is intact): lay it out again.
    ViewWritten,
    /// A blob was written into: the result is lost.
    BlobWritten,
}

/// Whether any step ran in this build (only a step can have written into a result).
pub(super) fn any_ran(shared: &Shared) -> bool {
    let outcomes = shared.outcomes.lock().unwrap_or_else(|e| e.into_inner());
    outcomes.iter().any(|o| o.status == StepStatus::Ran)
}

/// Checks output `output` of `step` (manifest `digest`), and its view when `view` is given
/// (the view records it holds this result); reports and blames what was written into.
pub(super) fn check_result(
    shared: &Shared,
    step: &str,
    output: &str,
    digest: Digest,
    view: Option<&Path>,
) -> Found {
    let Ok(Some(m)) = manifest_of(shared, digest) else { return Found::Intact };
    for e in &m.entries {
        let file = view.map(|v| entry_path(v, e));
        let meta = file.as_deref().and_then(|f| std::fs::symlink_metadata(f).ok());
        if meta.as_ref().is_some_and(|meta| shared.cache.is_noted(&e.digest, meta)) {
            continue;
        }
        let one = cache::Manifest { entries: vec![e.clone()] };
        if let Err(err) = shared.cache.check_unchanged(&one) {
            let shown = entry_path(&view_dir(shared, step, output), e);
            blame(
                shared,
                step,
                output,
                &shown,
                &shared.cache.blob_path(&e.digest),
                &err.to_string(),
            );
            return Found::BlobWritten;
        }
        if let Some(file) = file
            && !view_file_holds(shared, &file, e)
        {
            blame(shared, step, output, &file, &file, "it no longer holds the bytes stored");
            return Found::ViewWritten;
        }
    }
    Found::Intact
}

/// Whether `file` (of a view) is `e`'s blob itself, or a copy holding its bytes.
fn view_file_holds(shared: &Shared, file: &Path, e: &TreeEntry) -> bool {
    use std::os::unix::fs::MetadataExt as _;
    let Ok(meta) = std::fs::symlink_metadata(file) else { return false };
    let blob = std::fs::symlink_metadata(shared.cache.blob_path(&e.digest));
    if blob.is_ok_and(|b| (b.dev(), b.ino()) == (meta.dev(), meta.ino())) {
        return true;
    }
    meta.is_file() && cache::hash_file(file).is_ok_and(|d| d == e.digest)
}

fn view_dir(shared: &Shared, step: &str, output: &str) -> PathBuf {
    shared.state.join("outputs").join(format!("{step}.{output}"))
}

fn entry_path(dir: &Path, e: &TreeEntry) -> PathBuf {
    if e.path.is_empty() { dir.to_path_buf() } else { dir.join(&e.path) }
}

/// Reports that output `output` of `step` was written into (`file`; `stamped` is the path
/// whose mtime says when) and fails the other steps of this build that were running then.
fn blame(shared: &Shared, step: &str, output: &str, file: &Path, stamped: &Path, detail: &str) {
    let written = std::fs::symlink_metadata(stamped).and_then(|m| m.modified()).ok();
    let suspects = suspects(shared, step, written, Duration::ZERO);
    let suspects =
        if suspects.is_empty() { self::suspects(shared, step, written, SLACK) } else { suspects };
    let names: Vec<&str> = suspects.iter().map(|s| s.0.as_str()).collect();
    let when =
        if names.is_empty() { String::new() } else { format!(", while {} ran", names.join(", ")) };
    shared.emit(Event::Error {
        step: Some(step.to_owned()),
        message: format!(
            "output {output} was written into after {step} stored it{when}: {} ({detail})",
            file.display()
        ),
    });
    for (suspect, key) in suspects {
        fail_suspect(shared, &suspect, key.as_deref(), file);
    }
}

/// The steps of this build other than `step` whose process was running at `written`
/// (within `slack` of its start or end), with their keys.
fn suspects(
    shared: &Shared,
    step: &str,
    written: Option<SystemTime>,
    slack: Duration,
) -> Vec<(String, Option<String>)> {
    let Some(w) = written else { return Vec::new() };
    let outcomes = shared.outcomes.lock().unwrap_or_else(|e| e.into_inner());
    outcomes
        .iter()
        .filter(|o| o.status == StepStatus::Ran && o.step != step)
        .filter(|o| o.ran.is_some_and(|(start, end)| w + slack >= start && w <= end + slack))
        .map(|o| (o.step.clone(), o.key.clone()))
        .collect()
}

/// Fails step `step`, which ran while a file of another step's output was written into:
/// its outcome and history record say so, and its action cache entry goes.
fn fail_suspect(shared: &Shared, step: &str, key: Option<&str>, file: &Path) {
    let why = format!("wrote into {}, which it does not own", file.display());
    if let Some(key) = key.and_then(|k| k.parse::<cache::Digest>().ok()) {
        let _ = shared.cache.remove_action(&key);
    }
    let history = shared.history.lock().unwrap_or_else(|e| e.into_inner());
    let _ = history.fail_step(shared.run_id, step, &why);
    drop(history);
    let mut outcomes = shared.outcomes.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(o) = outcomes.iter_mut().find(|o| o.step == step) {
        o.status = StepStatus::Failed;
        o.reason = Some(why);
    }
}
