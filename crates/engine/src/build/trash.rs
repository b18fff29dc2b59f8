//! The trash: what a build no longer needs (spent input copies, what runs killed mid-build
//! left) is moved to `.runner/trash/` by a rename and deleted by the next build, on a thread
//! of its own, off the critical path.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use exec::NodeState;
use history::History;

use super::Shared;

/// Moves the input copies of steps that succeeded to `.runner/trash/` (a rename each, or
/// one for the whole folder when no step failed), for [`empty_trash`] to delete during the
/// next build, off its critical path (as Bazel deletes sandboxes asynchronously): deleting a
/// thousand copies took a build 0.1–0.2 s. Copies of steps that failed stay for a look.
pub(super) fn discard_inputs(shared: &Shared, spent: Vec<PathBuf>, states: &[NodeState]) {
    let Some(dir) = shared.inputs_dir.get() else { return };
    let trash = shared.state.join("trash");
    let _ = std::fs::create_dir_all(&trash);
    let all = states.iter().all(|s| matches!(s, NodeState::Succeeded | NodeState::Skipped));
    let binned = |what: &str| trash.join(format!("{}-{what}", shared.run_id));
    if all && std::fs::rename(dir, binned("inputs")).is_ok() {
        return;
    }
    for d in spent {
        let name = d.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        bin(&d, &binned(&name));
    }
    let _ = std::fs::remove_dir(dir); // if nothing failed, it is empty now
}

/// Moves `from` to `to` in the trash; deletes it where it is if it cannot be moved.
fn bin(from: &Path, to: &Path) {
    if std::fs::rename(from, to).is_err() {
        let _ = std::fs::remove_dir_all(from);
    }
}

/// What both build paths do first: marks runs whose runner died `interrupted`, kills their
/// step processes still alive (by their tags, see `exec::supervise`: the supervisor of the
/// run may have died too), moves what they left to the trash ([`bin_leftovers`]) and starts
/// emptying it ([`empty_trash`]); the caller joins the returned thread before it exits. When
/// history cannot be written (a full disk), what those runs left and the trash are deleted
/// first, and it is tried again.
///
/// Errors: run history cannot be written, even then.
pub(crate) fn reap_and_tidy(
    history: &History,
    state: &Path,
) -> anyhow::Result<Option<std::thread::JoinHandle<()>>> {
    let reaped = match history.reap_stale() {
        Ok(reaped) => reaped,
        Err(_) => {
            // A full disk, perhaps: what dead runs left (partial outputs of their failed steps
            // too), the trash and the reserve may free enough.
            let stale = history.stale_runs().unwrap_or_default();
            bin_leftovers(state, &stale);
            for id in &stale {
                remove_partial_outputs(&state.join("runs").join(id.to_string()));
            }
            let _ = std::fs::remove_file(state.join(RESERVE));
            if let Some(emptying) = empty_trash(state) {
                let _ = emptying.join();
            }
            history.reap_stale().context("reaping stale runs")?
        }
    };
    if !reaped.is_empty() {
        let tags: Vec<_> =
            reaped.iter().map(|&id| exec::supervise::RunTag::new(state, id)).collect();
        exec::supervise::kill_tagged(&tags, exec::supervise::KILL_GRACE);
    }
    bin_leftovers(state, &reaped);
    Ok(empty_trash(state))
}

/// Moves what runs that died without finishing (`reaped`, e.g. a runner killed with SIGKILL)
/// left behind into `.runner/trash/`: their outputs' staging folders
/// (`outputs/.STEP.OUTPUT.runID`) and their input copies (`runs/ID/inputs/`). Their logs
/// stay. Reads `outputs/` once, only when some run was reaped.
fn bin_leftovers(state: &Path, reaped: &[i64]) {
    if reaped.is_empty() {
        return;
    }
    let trash = state.join("trash");
    let _ = std::fs::create_dir_all(&trash);
    let suffixes: Vec<String> = reaped.iter().map(|id| format!(".run{id}")).collect();
    let staged = std::fs::read_dir(state.join("outputs")).into_iter().flatten().flatten();
    for entry in staged {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') && suffixes.iter().any(|s| name.ends_with(s.as_str())) {
            bin(&entry.path(), &trash.join(format!("killed{name}")));
        }
    }
    for id in reaped {
        let inputs = state.join("runs").join(id.to_string()).join("inputs");
        if inputs.is_dir() {
            bin(&inputs, &trash.join(format!("{id}-inputs")));
        }
    }
}

/// Frees what a build that ran out of space can free: the reserve and the trash, and, once
/// its steps are over (`ended`), its own input copies, the partial outputs of its failed
/// steps (kept for a look otherwise) and its snapshots. For a retry of a write that failed.
pub(super) fn free_space(shared: &Shared, ended: bool) {
    let _ = std::fs::remove_file(shared.state.join(RESERVE));
    if ended {
        if let Some(dir) = shared.inputs_dir.get() {
            let _ = std::fs::remove_dir_all(dir);
        }
        let run = shared.state.join("runs").join(shared.run_id.to_string());
        remove_partial_outputs(&run);
        let _ = std::fs::remove_dir_all(run.join("snapshots"));
    }
    if let Some(emptying) = empty_trash(&shared.state) {
        let _ = emptying.join();
    }
}

/// `.runner/reserve`: space held back ([`RESERVE_BYTES`] of zeros) so that a build that runs
/// out of space can still record how it ended: [`free_space`] deletes it before it retries.
const RESERVE: &str = "reserve";

/// The size of the reserve: enough for the history records of a build's end.
const RESERVE_BYTES: usize = 256 * 1024;

/// Writes the reserve if it is missing (one `stat` when it is there). Best effort.
pub(super) fn keep_reserve(state: &Path) {
    let path = state.join(RESERVE);
    if std::fs::symlink_metadata(&path).is_err() {
        let _ = cache::write_replace(&path, &vec![0u8; RESERVE_BYTES]);
    }
}

/// Removes the partial outputs a run kept of its failed steps (`runs/ID/STEP/outputs/`).
fn remove_partial_outputs(run: &Path) {
    for step in std::fs::read_dir(run).into_iter().flatten().flatten() {
        let _ = std::fs::remove_dir_all(step.path().join("outputs"));
    }
}

/// Deletes what earlier builds left in `.runner/trash/`, on a thread of its own, while this
/// build runs (or a memo build records its run); the build joins it when its steps are done.
fn empty_trash(state: &Path) -> Option<std::thread::JoinHandle<()>> {
    let trash = state.join("trash");
    let entries: Vec<PathBuf> =
        std::fs::read_dir(&trash).ok()?.filter_map(|e| e.ok().map(|e| e.path())).collect();
    if entries.is_empty() {
        return None;
    }
    std::thread::Builder::new()
        .name("trash".into())
        .spawn(move || {
            for e in entries {
                let _ = std::fs::remove_dir_all(e);
            }
        })
        .ok()
}
