//! Work done ahead of a step, off its critical path: the folders it will need, made while
//! its upstream runs ([`prepare_ahead`]), and its copies of upstream outputs, laid out as each
//! upstream step finishes when the step waits for several ([`copy_ahead`]).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use hir::{Digest, Target};

use super::execute::{input_dir, output_dir};
use super::inputs::LaidAhead;
use super::{Shared, manifest_of};

/// While step `i` runs, makes the folders its downstream steps will need from it: their
/// outputs' staging folders and the folders their copies of `i`'s outputs go in. On a chain
/// the runner would otherwise make them between two steps, on the critical path, where each
/// folder costs 20–400 µs on ext4 right after many deletions (see `cache`'s module docs);
/// here they are made on a blocking thread while `i`'s process runs (the input folders of a
/// step whose copies are made ahead come with its copies, from [`copy_ahead`]). Those left
/// unused (the downstream step was reused or skipped) are removed when the build ends.
pub(super) fn prepare_ahead(shared: &Arc<Shared>, i: usize) {
    if shared.readers[i].is_empty() {
        return;
    }
    let sh = shared.clone();
    let task = tokio::task::spawn_blocking(move || {
        let mut made = Vec::new();
        for run in sh.readers[i].chunk_by(|a, b| a.0 == b.0) {
            let j = run[0].0;
            let info = &sh.steps[j];
            for o in &info.step.outputs {
                // Only a folder this call made is recorded (a step with many upstream steps
                // would otherwise be listed once per upstream).
                let dir = output_dir(&sh, &info.name, &o.value);
                if make_dir(&dir).unwrap_or(false) {
                    made.push(dir);
                }
            }
            // A step whose copies are made ahead gets its input folders from `copy_ahead`.
            if sh.fan_in[j] >= COPY_AHEAD_FAN_IN {
                continue;
            }
            for &(_, k) in run {
                let dir = input_dir(&sh, &info.name, &info.inputs[k].0);
                if std::fs::create_dir(&dir).is_ok() {
                    made.push(dir);
                }
            }
        }
        sh.ahead.lock().unwrap_or_else(|e| e.into_inner()).extend(made);
    });
    shared.tidying.lock().unwrap_or_else(|e| e.into_inner()).push(task);
}

/// Creates `dir`, and its parents if needed, in one `mkdir` when the parent exists. `true`
/// when this call made it, `false` when it was there already.
pub(super) fn make_dir(dir: &Path) -> std::io::Result<bool> {
    match std::fs::create_dir(dir) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            std::fs::create_dir_all(dir).map(|()| true)
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(false),
        Err(e) => Err(e),
    }
}

/// Fewest upstream steps for which a step's copies of their outputs are laid out ahead
/// ([`copy_ahead`]). Below it, the copies are made when the step starts: each is then on
/// the critical path anyway, and a small copy costs less than a thread hand-off.
const COPY_AHEAD_FAN_IN: usize = 4;

/// Step `i` ran and its outputs (`outputs`, output name → manifest digest) are final for this
/// build: lays out the copies of them that its downstream steps waiting for at least
/// [`COPY_AHEAD_FAN_IN`] upstream steps will read, on a blocking thread, while other steps
/// run. Such a step (an aggregate of a thousand results) would otherwise make every copy
/// after its last upstream step finished, alone on the critical path. It awaits them before
/// it starts ([`take_copied`]); copies for a step that does not run are discarded with the
/// build's other input copies ([`drain_copied`]). A copy that fails is removed, and made
/// again, with its error reported, when the step starts.
///
/// Only steps that ran call this: after a reused step the downstream step is often reused
/// too, and its copies would be made for nothing.
pub(super) fn copy_ahead(shared: &Arc<Shared>, i: usize, outputs: &BTreeMap<String, Digest>) {
    let readers = &shared.readers[i];
    for run in readers.chunk_by(|a, b| a.0 == b.0) {
        let j = run[0].0;
        if shared.fan_in[j] < COPY_AHEAD_FAN_IN {
            continue;
        }
        let info = &shared.steps[j];
        let wanted: Vec<(Digest, PathBuf)> = run
            .iter()
            .filter_map(|&(_, k)| match &info.inputs[k] {
                (name, Target::Output { output, .. }) => {
                    Some((*outputs.get(output)?, input_dir(shared, &info.name, name)))
                }
                _ => None,
            })
            .collect();
        if wanted.is_empty() {
            continue;
        }
        let sh = shared.clone();
        let task = tokio::task::spawn_blocking(move || {
            let mut laid = Vec::new();
            for (digest, dest) in wanted {
                let copied = match manifest_of(&sh, digest) {
                    Ok(Some(m)) => sh.cache.materialize_private(&m, &dest, false).map(|s| (m, s)),
                    _ => Err(cache::Error::Exists { path: dest.clone() }),
                };
                match copied {
                    Ok((m, stamps)) => laid.push((dest, m, stamps)),
                    Err(_) => {
                        let _ = std::fs::remove_dir_all(&dest);
                    }
                }
            }
            laid
        });
        let mut pending = shared.copied_ahead.lock().unwrap_or_else(|e| e.into_inner());
        pending.entry(j).or_default().push(task);
    }
}

/// One input folder laid out ahead: where, what it holds, the stats of its files.
pub(super) type Laid = (PathBuf, cache::Manifest, cache::CopyStamps);

/// The input folders of step `j` already laid out by [`copy_ahead`], once those copies are
/// done: what each holds and the stats of its files.
pub(super) async fn take_copied(shared: &Shared, j: usize) -> LaidAhead {
    let tasks = shared.copied_ahead.lock().unwrap_or_else(|e| e.into_inner()).remove(&j);
    let mut laid = LaidAhead::new();
    for task in tasks.into_iter().flatten() {
        laid.extend(task.await.unwrap_or_default().into_iter().map(|(d, m, s)| (d, (m, s))));
    }
    laid
}

/// When the build ends: the input folders laid out by [`copy_ahead`] for steps that did not
/// start (reused, skipped, interrupted), once those copies are done, to discard.
pub(super) async fn drain_copied(shared: &Shared) -> Vec<PathBuf> {
    let all = std::mem::take(&mut *shared.copied_ahead.lock().unwrap_or_else(|e| e.into_inner()));
    let mut laid = Vec::new();
    for task in all.into_values().flatten() {
        laid.extend(task.await.unwrap_or_default().into_iter().map(|(d, _, _)| d));
    }
    laid
}
