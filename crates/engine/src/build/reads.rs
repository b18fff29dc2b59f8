//! Undeclared reads: files a traced step opened that are not part of its key.
//!
//! A step runs from a snapshot of its `source_directory`, so a file it reads there without
//! naming it (`config.txt` beside the script) is invisible to the key: edit it and the
//! step is reused with a stale result. With `trace_reads` (or `--trace-reads`,
//! `--strict-reads`, `strict_reads`), and once a run of it did read outside its key, the
//! step runs under `exec::trace` and every file it opened for reading is checked here once
//! it is over:
//!
//! * in its snapshot: fine when it is the script, a helper module, or under a `hash_paths`
//!   entry; reported otherwise, as the project path it was copied from
//!   (`src/config.txt`);
//! * elsewhere under the project's folder or a `local` datastore's: fine under a data
//!   reference, an input copy or the step's own outputs, or in the state folder `.runner/`;
//!   reported otherwise (a datastore's file outside the project by its absolute path);
//! * anywhere else (the environment, the standard library, `/proc`, `/dev`, `/tmp`): never
//!   reported. Nor is anything under `__pycache__`, `site-packages`, `dist-packages`,
//!   `.git`, `.venv` or `venv` (bytecode caches, installed packages, a project's own
//!   virtual environment).
//!
//! A report is a warning, or with `strict_reads` a failure whose result is not cached. A
//! result that is cached keeps the digests of the files read outside its key
//! (`cache::ActionResult::reads`): a lookup that finds one of them changed does not reuse it
//! (the step runs, `config.txt changed, which the step read outside its key`), and a reuse
//! of it says what it read. So an undeclared read is a dependency found by running, as a
//! depfile is to ninja, from the first traced run on.

use std::path::{Component, Path, PathBuf};

use super::{Shared, StepInfo};
use crate::events::Event;

/// Folder names whose contents are never reported.
const NEVER: &[&str] = &["__pycache__", "site-packages", "dist-packages", ".git", ".venv", "venv"];

/// The file a traced step's log of opened files goes to, in its run folder.
const TRACE_LOG: &str = "reads.trace";

/// Whether step `info` runs traced in this build, and whether an undeclared read fails it.
/// Traced: when asked (`--trace-reads`, `--strict-reads`, `trace_reads`), and when its last
/// successful run read outside its key (so a dependency found by running is not forgotten
/// by the next run).
pub(super) fn policy(shared: &Shared, info: &StepInfo) -> (bool, bool) {
    let strict = shared.reads.strict;
    let switches = info.step.reuse.or(shared.reads.defaults);
    let asked = strict || shared.reads.trace || switches.traces_reads();
    (asked || read_outside_before(shared, info), strict)
}

/// Whether the step's last traced run read outside its key: it has a marker in
/// [`MARKERS`] (listed once per build, so a step that runs costs nothing to ask).
fn read_outside_before(shared: &Shared, info: &StepInfo) -> bool {
    shared.reads.marked.contains(&info.name)
}

/// The folder in the state folder holding one empty file per step whose last traced run
/// read outside its key (named as the step: step names are letters, digits, `_` and `-`).
pub(super) const MARKERS: &str = "traced";

/// The steps marked in state folder `state` ([`MARKERS`]).
pub(super) fn marked(state: &Path) -> std::collections::HashSet<String> {
    std::fs::read_dir(state.join(MARKERS))
        .into_iter()
        .flatten()
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .collect()
}

/// Marks step `step` as read outside its key (`found` not empty) or not, best effort: a
/// marker that cannot be written leaves the step traced only when asked.
fn mark(shared: &Shared, step: &str, found: bool) {
    let dir = shared.state.join(MARKERS);
    let marker = dir.join(step);
    if found {
        let _ = std::fs::create_dir_all(&dir).and_then(|()| std::fs::write(&marker, b""));
    } else if shared.reads.marked.contains(step) {
        let _ = std::fs::remove_file(&marker);
    }
}

/// Says once per step that its reads are not traced on compute target `compute`, which is
/// elsewhere. Returns `false`: the step runs untraced.
pub(super) fn not_here(shared: &Shared, info: &StepInfo, compute: &str) -> bool {
    let message = format!("reads are traced on this machine only, not on compute target {compute}");
    shared.emit(Event::Warning { step: Some(info.name.clone()), message });
    false
}

/// `spec` run under strace, its log in the step's run folder `run_dir` ([`TRACE_LOG`]).
///
/// Errors (a message for the step's failure): strace cannot run here; the run folder cannot
/// be made (strace opens its log before the step's own logs would make it).
pub(super) fn trace(
    shared: &Shared,
    spec: &mut exec::ProcessSpec,
    run_dir: &Path,
) -> Result<(), String> {
    if !*shared.strace.get_or_init(exec::trace::available) {
        return Err("trace_reads needs strace, which cannot run here (Debian: apt install strace)"
            .to_owned());
    }
    std::fs::create_dir_all(run_dir).map_err(|e| format!("creating {}: {e}", run_dir.display()))?;
    exec::trace::wrap(spec, &run_dir.join(TRACE_LOG));
    Ok(())
}

/// After a traced step ran: its reads outside its key ([`undeclared`]), warned of, kept in
/// its run folder ([`driver::UNDECLARED_READS_FILE`]) and in its marker, with the digest each
/// has now ([`digests`]), for its cache entry.
///
/// Errors (the step's failure message): under `strict`, any such read.
pub(super) fn check(
    shared: &Shared,
    info: &StepInfo,
    run_dir: &Path,
    snapshot: &Path,
    allowed: &[PathBuf],
    strict: bool,
) -> Result<Vec<(String, hir::Digest)>, String> {
    let log_file = run_dir.join(TRACE_LOG);
    let log = std::fs::read_to_string(&log_file).unwrap_or_default();
    let _ = std::fs::remove_file(&log_file);
    let found = undeclared(shared, info, snapshot, allowed, &log);
    mark(shared, &info.name, !found.is_empty());
    if found.is_empty() {
        return Ok(Vec::new());
    }
    let list: String = found.iter().map(|p| format!("{p}\n")).collect();
    let _ = std::fs::write(run_dir.join(driver::UNDECLARED_READS_FILE), list);
    for path in &found {
        let message = message(&info.name, path);
        shared.emit(Event::Warning { step: Some(info.name.clone()), message });
    }
    if strict {
        let count =
            if found.len() == 1 { "a file".to_owned() } else { format!("{} files", found.len()) };
        return Err(format!("read {count} outside its key (strict_reads): {}", found.join(", ")));
    }
    Ok(digests(shared, &found))
}

/// The reads in `log` (strace's text) that are not part of step `info`'s key, as paths
/// relative to the project's folder, sorted. `snapshot`: the folder the step ran from;
/// `allowed`: the folders it was given (input copies, data references, outputs).
fn undeclared(
    shared: &Shared,
    info: &StepInfo,
    snapshot: &Path,
    allowed: &[PathBuf],
    log: &str,
) -> Vec<String> {
    let canon = |p: &Path| std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf());
    let snapshot = canon(snapshot);
    let root = canon(&shared.project_root);
    let state = canon(&shared.state);
    let allowed: Vec<PathBuf> = allowed.iter().map(|p| canon(p)).collect();
    let stores: Vec<PathBuf> = shared.reads.stores.iter().map(|p| canon(p)).collect();
    let src = hir::paths::normalize(info.step.source_directory());
    let fields = &info.fields;
    let keyed = |rel: &str| {
        fields.script.as_ref().is_some_and(|(s, _)| s == rel)
            || fields.modules.iter().any(|(m, _)| m == rel)
            || fields.hash_paths.iter().any(|(h, _)| under(rel, h))
    };
    let mut out: Vec<String> = Vec::new();
    for path in exec::trace::opened_for_reading(log) {
        if path
            .components()
            .any(|c| matches!(c, Component::Normal(n) if NEVER.iter().any(|x| n == *x)))
        {
            continue;
        }
        let shown = if let Ok(rel) = path.strip_prefix(&snapshot) {
            let rel = rel.to_string_lossy();
            if keyed(&rel) {
                continue;
            }
            hir::paths::join(&src, &rel)
        } else if path.starts_with(&root) || stores.iter().any(|s| path.starts_with(s)) {
            if path.starts_with(&state) || allowed.iter().any(|a| path.starts_with(a)) {
                continue;
            }
            match path.strip_prefix(&root) {
                Ok(rel) => rel.to_string_lossy().into_owned(),
                Err(_) => path.to_string_lossy().into_owned(),
            }
        } else {
            continue;
        };
        out.push(shown);
    }
    out.sort();
    out.dedup();
    out
}

/// Each of `found` (relative to the project's folder) with the digest of its content now,
/// to be checked by the lookups that would reuse the result (`driver::lookup_with`). A file
/// gone already (the step's own temporary file) is left out.
fn digests(shared: &Shared, found: &[String]) -> Vec<(String, hir::Digest)> {
    found
        .iter()
        .filter_map(|rel| match driver::probe(&shared.project_root.join(rel), false) {
            Ok(hir::FsState::File(d)) => Some((rel.clone(), d)),
            _ => None,
        })
        .collect()
}

/// Whether `rel` is `entry` or below it (both `/`-separated, relative).
fn under(rel: &str, entry: &str) -> bool {
    let entry = entry.trim_end_matches('/');
    entry == "." || rel == entry || rel.strip_prefix(entry).is_some_and(|r| r.starts_with('/'))
}

/// The warning for one undeclared read.
fn message(step: &str, path: &str) -> String {
    format!("step {step} read {path}, which is not part of its key; add it to hash_paths or inputs")
}

#[cfg(test)]
mod tests {
    use super::under;

    #[test]
    fn entries_cover_their_trees() {
        assert!(under("lib/u.py", "lib"));
        assert!(under("lib/u.py", "lib/"));
        assert!(under("lib", "lib"));
        assert!(!under("library/u.py", "lib"));
        assert!(under("anything", "."));
    }
}
