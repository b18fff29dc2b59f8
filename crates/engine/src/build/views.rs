//! The output views (`.runner/outputs/STEP.OUTPUT/`): the latest result of each output, laid
//! out for people. The runner never reads a view back; it only keeps each one in line with
//! the result the build that last touched it reports.
//!
//! Several builds may share one `.runner/` (different `--param` values, a CI job beside an
//! editor). Every change to a view is made under the views lock (`.runner/views.lock`, a
//! [`cache::FolderLock`]), and a build ends by [`settle`]: under the lock, if any other build
//! changed a view since this one's last change, every view this build names is checked
//! against its result (by the digest recorded on it, `cache::view_digest`) and laid out again
//! where it differs. The build keeps the lock until it has written its memo, whose stamp of
//! the views folder then vouches for views that hold this build's results.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use cache::FolderGuard;
use hir::Digest;

use super::{Shared, manifest_of};

/// The view of output `name` of `step`: `.runner/outputs/STEP.OUTPUT/`. One flat folder:
/// names have no dots (`E0111 invalid-name`), and a folder per step as well would be one
/// more inode per step to create on a first build, the costliest part of preparing a
/// trivial step on ext4.
fn view_dir(state: &Path, step: &str, name: &str) -> PathBuf {
    state.join("outputs").join(format!("{step}.{name}"))
}

/// The views lock of the state folder `state`.
pub(super) fn lock_of(state: &Path) -> cache::FolderLock {
    cache::FolderLock::new(&state.join("views.lock"))
}

/// Keeps each view of `step` in line with its result `outputs`: copies it out of the CAS
/// when the digest recorded on it names another result. Best effort: a view that cannot be
/// laid out is only missing.
pub(super) fn update(shared: &Shared, step: &str, outputs: &BTreeMap<String, Digest>) {
    // Views already right are left without taking the lock (the common case: a reused
    // step): a change by another build after this look moves the generation, which
    // `settle` sees against the build's first hold (`baseline`).
    let right = |(name, digest): (&String, &Digest)| {
        cache::view_digest(&view_dir(&shared.state, step, name)) == Some(*digest)
    };
    if outputs.iter().all(right) {
        return;
    }
    let Ok(guard) = shared.views.lock() else { return };
    for (name, digest) in outputs {
        lay_out(shared, &guard, step, name, *digest);
    }
}

/// Takes and releases the views lock once, before the build looks at any view, so that
/// [`settle`] can tell whether another build changed views since.
pub(super) fn baseline(shared: &Shared) {
    drop(shared.views.lock());
}

/// Lays out the view of `step`'s output `name` from the CAS unless it holds `digest`
/// already, as hard links to the blobs (read-only; copies where a link cannot be: an
/// executable, another filesystem); the caller holds the views lock. Whether the view now holds `digest`; a view
/// whose manifest cannot be found is left as it is.
fn lay_out(shared: &Shared, guard: &FolderGuard, step: &str, name: &str, digest: Digest) -> bool {
    let view = view_dir(&shared.state, step, name);
    if cache::view_digest(&view) == Some(digest) {
        return true;
    }
    let Ok(Some(manifest)) = manifest_of(shared, digest) else { return false };
    // An output whose bytes the shared cache kept (`download = "final"`) has no view; an
    // older view is left as it is, under its own digest.
    if manifest.blobs().iter().any(|d| !shared.cache.blob_path(d).is_file()) {
        shared.unlaid.lock().unwrap_or_else(|e| e.into_inner()).insert(digest);
        return false;
    }
    replace(&shared.cache, guard, &view, digest, &manifest)
}

/// Lays out the view of `step`'s output `name` in state folder `state` from `manifest`
/// (digest `digest`) unless it holds it already; the caller holds the views lock (`guard`).
/// For a caller without a build's shared state (the memo's edit path). Whether the view now
/// holds `digest`.
pub(super) fn lay_out_known(
    cache: &cache::Cache,
    guard: &FolderGuard,
    state: &Path,
    (step, name): (&str, &str),
    digest: Digest,
    manifest: &cache::Manifest,
) -> bool {
    let view = view_dir(state, step, name);
    cache::view_digest(&view) == Some(digest) || replace(cache, guard, &view, digest, manifest)
}

/// Replaces the view at `view` with `manifest`'s files (digest `digest`), under the lock.
fn replace(
    cache: &cache::Cache,
    guard: &FolderGuard,
    view: &Path,
    digest: Digest,
    manifest: &cache::Manifest,
) -> bool {
    guard.changed();
    cache::clear_view_digest(view);
    let _ = std::fs::remove_dir_all(view);
    let laid = cache.materialize(manifest, view, true).is_ok();
    if laid {
        cache::set_view_digest(view, &digest);
    }
    laid
}

/// Makes the folders steps just wrote their views, by moving them (no copy; falls back to
/// laying the view out from the CAS), under one hold of the views lock: each is (step,
/// output, manifest digest, folder written), already stored in the CAS.
pub(super) fn publish_all(shared: &Shared, written: &[(&str, &str, Digest, &Path)]) {
    if written.is_empty() {
        return;
    }
    let Ok(guard) = shared.views.lock() else { return };
    guard.changed();
    for &(step, name, digest, folder) in written {
        let view = view_dir(&shared.state, step, name);
        // A first build has no view yet (and an empty one is replaced by the rename): one
        // rename. An older view is removed first.
        let moved = std::fs::rename(folder, &view).is_ok() || {
            cache::clear_view_digest(&view);
            let _ = std::fs::remove_dir_all(&view);
            std::fs::rename(folder, &view).is_ok()
        };
        if moved {
            cache::set_view_digest(&view, &digest);
        } else {
            lay_out(shared, &guard, step, name, digest);
        }
    }
}

/// Ends a build's work on the views: under the views lock, checks every result this build
/// names and its view, and lays out again the views that do not hold their result: all of
/// them when this build ran a step (a step may have written into one: see `integrity`, which
/// blames the steps running then), else only if another build changed views since this one
/// first looked. Returns whether a result was found written into (the build fails), and the
/// held lock, to keep until the memo is written (`None` if it cannot be taken or some view
/// could not be laid out: no view is then vouched for, and the caller writes no memo).
/// Needs the manifests of this build's results in memory (call it before they are handed to
/// the summary).
pub(super) fn settle(
    shared: &Shared,
    results: &HashMap<String, BTreeMap<String, Digest>>,
) -> (bool, Option<FolderGuard>) {
    use super::integrity::{Found, check_result};
    let Ok(guard) = shared.views.lock() else { return (false, None) };
    let ran = super::integrity::any_ran(shared);
    if !ran && !guard.changed_by_others() {
        return (false, Some(guard));
    }
    // Views this build laid out or found right, and nobody changed since, still hold its
    // results: their recorded digests need no second look.
    let others = guard.changed_by_others();
    let (mut all, mut written) = (true, false);
    for (step, outputs) in results {
        for (name, digest) in outputs {
            let view = view_dir(&shared.state, step, name);
            // A result whose bytes the shared cache kept has no view to check: laid out now
            // if a step that read it fetched them, else no memo vouches for it.
            if shared.unlaid.lock().unwrap_or_else(|e| e.into_inner()).contains(digest) {
                all &= lay_out(shared, &guard, step, name, *digest);
                continue;
            }
            let holds = !others || cache::view_digest(&view) == Some(*digest);
            let mut relay = !holds;
            if ran {
                match check_result(shared, step, name, *digest, holds.then_some(view.as_path())) {
                    Found::Intact => {}
                    Found::ViewWritten => {
                        written = true;
                        relay = true;
                        cache::clear_view_digest(&view);
                    }
                    // Nothing intact to lay out: the view is left, and no memo vouches for it.
                    Found::BlobWritten => {
                        written = true;
                        all = false;
                        continue;
                    }
                }
            }
            if relay {
                all &= lay_out(shared, &guard, step, name, *digest);
            }
        }
    }
    guard.seen();
    (written, all.then_some(guard))
}
