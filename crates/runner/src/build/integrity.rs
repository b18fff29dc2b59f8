//! The last checks of a build that ran steps, before it reports: every result it names is
//! still what was stored, in the CAS and in its output view.
//!
//! An output view (`.runner/outputs/STEP.OUTPUT/`) is made of hard links to the blobs (or is
//! the folder the step wrote, whose files became the blobs), so a step that writes into
//! another step's view (as root, despite the read-only mode) changes a stored result. Two
//! checks catch it:
//!
//! - [`check_blobs`]: each blob of the build's results still has the stat this build noted
//!   when it stored or verified it (`cache::Cache::check_unchanged`; one `stat` each). A blob
//!   written into fails the build: the result is gone (the next build runs its step again,
//!   as its blob no longer verifies).
//! - [`check_view`] (called under the views lock by `views::settle`): each file of a view is
//!   the blob's own inode (covered above) or, where it had to be a copy (an executable, a
//!   symlink's text), hashes to its entry. A view written into is laid out again.
//!
//! Either way, the steps that were running when the file was written ([`blame`], by its
//! mtime) fail: their outcome and history record say which file they wrote, and their action
//! cache entries go, so they run (and are caught) again. No step computed anything from
//! damaged bytes: inputs are hashed as they are copied (`inputs`).

use std::path::Path;
use std::time::{Duration, SystemTime};

use cache::Manifest;
use history::StepStatus;

use super::{Shared, manifest_of};

/// How far outside a step's run a write is still blamed on it when no step was running at
/// its time: timestamps are coarse.
const SLACK: Duration = Duration::from_millis(50);

/// Whether any step ran in this build (only a step can have written into a result).
pub(super) fn any_ran(shared: &Shared) -> bool {
    shared.outcomes.lock().unwrap_or_else(|e| e.into_inner()).iter().any(|o| o.status == "ran")
}

/// Checks the blobs of every result this build names, if it ran a step; reports each one
/// written into and blames the steps running then. Whether any was found.
pub(super) fn check_blobs(shared: &Shared) -> bool {
    if !any_ran(shared) {
        return false;
    }
    let results = shared.results.lock().unwrap_or_else(|e| e.into_inner()).clone();
    let mut found = false;
    for (step, outputs) in &results {
        for (output, digest) in outputs {
            let Ok(Some(m)) = manifest_of(shared, *digest) else { continue };
            let Err(e) = shared.cache.check_unchanged(&m) else { continue };
            found = true;
            let (cache::VerifyError::Corrupt { path, expected, .. }
            | cache::VerifyError::MissingBlob { path, digest: expected }
            | cache::VerifyError::Unreadable { path, digest: expected, .. }) = &e;
            let view = view_file(shared, step, output, path);
            let blob = shared.cache.blob_path(expected);
            blame(shared, step, output, &view, &blob, &e.to_string());
        }
    }
    found
}

/// Whether every file of the view `view` of result `m` holds its bytes: the blob's own inode
/// (checked by [`check_blobs`]) or a copy that hashes to its entry. The first file that does
/// not, relative to the view.
pub(super) fn check_view(shared: &Shared, view: &Path, m: &Manifest) -> Result<(), String> {
    use std::os::unix::fs::MetadataExt as _;
    for e in &m.entries {
        let file = if e.path.is_empty() { view.to_path_buf() } else { view.join(&e.path) };
        let Ok(meta) = std::fs::symlink_metadata(&file) else { return Err(e.path.clone()) };
        let blob = std::fs::symlink_metadata(shared.cache.blob_path(&e.digest));
        if blob.is_ok_and(|b| (b.dev(), b.ino()) == (meta.dev(), meta.ino())) {
            continue;
        }
        let same = meta.is_file() && cache::hash_file(&file).is_ok_and(|d| d == e.digest);
        if !same {
            return Err(e.path.clone());
        }
    }
    Ok(())
}

/// `.runner/outputs/STEP.OUTPUT/FILE`.
pub(super) fn view_file(
    shared: &Shared,
    step: &str,
    output: &str,
    file: &str,
) -> std::path::PathBuf {
    let view = shared.state.join("outputs").join(format!("{step}.{output}"));
    if file.is_empty() { view } else { view.join(file) }
}

/// Reports that output `output` of `step` was written into (`file`, whose mtime says when:
/// `stamped` is the path to stat for it) and fails the other steps of this build that were
/// running then.
pub(super) fn blame(
    shared: &Shared,
    step: &str,
    output: &str,
    file: &Path,
    stamped: &Path,
    detail: &str,
) {
    let written = std::fs::symlink_metadata(stamped).and_then(|m| m.modified()).ok();
    let suspects = suspects(shared, step, written, Duration::ZERO);
    let suspects =
        if suspects.is_empty() { self::suspects(shared, step, written, SLACK) } else { suspects };
    let names: Vec<&str> = suspects.iter().map(|s| s.0.as_str()).collect();
    let when =
        if names.is_empty() { String::new() } else { format!(", while {} ran", names.join(", ")) };
    say!(
        "    error {step}: output {output} was written into after {step} stored it{when}: {} ({detail})",
        file.display()
    );
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
        .filter(|o| o.status == "ran" && o.step != step)
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
        o.status = StepStatus::Failed.as_str();
        o.reason = Some(why);
    }
}
