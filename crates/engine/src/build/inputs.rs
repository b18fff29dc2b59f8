//! A step's private copies of its upstream outputs (`runs/<id>/inputs/STEP.INPUT/`): laid
//! out from the CAS with every file hashed as it is copied (a blob written into after it was
//! stored is refused, naming the output view it was written through), and checked once the
//! step is over, so a result is only cached if each input still holds the bytes its key
//! names (`cache::tamper`).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context as _;
use cache::{CopyStamps, Manifest};
use hir::Target;

use super::ahead::take_copied;
use super::execute::input_dir;
use super::{Shared, manifest_of};

/// One upstream output copied for a step.
pub(super) struct InputCopy {
    /// The step's input name.
    pub(super) input: String,
    /// The upstream step and its output.
    pub(super) upstream: (String, String),
    /// Where it is laid out.
    pub(super) dir: PathBuf,
    /// What it holds.
    pub(super) manifest: Manifest,
    /// The stats of its files as written.
    pub(super) stamps: CopyStamps,
}

/// Lays out step `i`'s copies of its upstream outputs (those laid out ahead are taken as
/// they are, see `ahead::copy_ahead`); returns them, with their folders.
///
/// Errors: an upstream result or manifest is missing; a copy fails, or finds a blob written
/// into since it was stored (the message names the view it was written through).
pub(super) async fn lay_out(shared: &Arc<Shared>, i: usize) -> anyhow::Result<Vec<InputCopy>> {
    let info = &shared.steps[i];
    let mut laid = take_copied(shared, i).await;
    let mut done = Vec::new();
    let mut todo = Vec::new();
    for (name, target) in &info.inputs {
        let Target::Output { step, output } = target else { continue };
        let dir = input_dir(shared, &info.name, name);
        let upstream = (step.clone(), output.clone());
        if let Some((manifest, stamps)) = laid.remove(&dir) {
            done.push(InputCopy { input: name.clone(), upstream, dir, manifest, stamps });
            continue;
        }
        let digest = shared
            .results
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(step)
            .and_then(|m| m.get(output))
            .copied()
            .with_context(|| format!("upstream {step} has no output {output}"))?;
        let manifest = manifest_of(shared, digest)?
            .with_context(|| format!("manifest of {step}.{output} is missing"))?;
        let stamps = CopyStamps::default();
        todo.push(InputCopy { input: name.clone(), upstream, dir, manifest, stamps });
    }
    // An output `download = "final"` left in the shared cache is fetched now that a step
    // that runs reads it.
    if shared.remote.is_some() {
        for c in &todo {
            let sh = shared.clone();
            let m = c.manifest.clone();
            let (step, output) = &c.upstream;
            let fetched = tokio::task::spawn_blocking(move || {
                sh.remote.as_ref().map_or(Ok(()), |r| r.ensure(&sh, &m))
            });
            fetched.await?.with_context(|| format!("input {} ({step}.{output})", c.input))?;
        }
    }
    let n = todo.len();
    // Copies, not hard links: a step running as root could write through a link into the CAS
    // and poison every later result that reads the blob. Straight into place (each folder is
    // this step's alone), several at once.
    let copy_all = move |cache: &cache::Cache, state: &Path| -> anyhow::Result<Vec<InputCopy>> {
        let trees: Vec<(&Manifest, &Path)> =
            todo.iter().map(|c| (&c.manifest, c.dir.as_path())).collect();
        let stamps = cache
            .materialize_all_private(&trees, false)
            .map_err(|e| explain(e, &todo, state))
            .context("laying out the step's inputs")?;
        Ok(todo.into_iter().zip(stamps).map(|(c, stamps)| InputCopy { stamps, ..c }).collect())
    };
    let copied = match n {
        0 => Vec::new(),
        // A thread hand-off costs more than one small copy on the critical path of a chain.
        1..=3 => copy_all(&shared.cache, &shared.state)?,
        _ => {
            let (cache, state) = (shared.cache.clone(), shared.state.clone());
            tokio::task::spawn_blocking(move || copy_all(&cache, &state)).await??
        }
    };
    done.extend(copied);
    Ok(done)
}

/// A copy error as the user needs it: a blob found written into names the output view the
/// write most likely came through.
fn explain(e: cache::Error, copies: &[InputCopy], state: &Path) -> anyhow::Error {
    let cache::Error::CorruptBlob { path, expected, .. } = &e else { return e.into() };
    let Some(c) = copies
        .iter()
        .find(|c| c.manifest.entries.iter().any(|x| &x.path == path && x.digest == *expected))
    else {
        return e.into();
    };
    let (step, output) = &c.upstream;
    let view = state.join("outputs").join(format!("{step}.{output}")).join(path);
    anyhow::anyhow!(
        "input {}: output {output} of step {step} was changed after {step} stored it \
         ({} no longer holds those bytes: a step wrote outside its own outputs, or someone \
         edited the view); {step} runs again in the next build",
        c.input,
        view.display()
    )
}

/// The first input of a step that no longer holds the bytes its key names, once the step is
/// over: `input NAME (FILE)`. `None` when all are intact.
pub(super) fn changed(shared: &Shared, copies: &[InputCopy]) -> Option<String> {
    copies.iter().find_map(|c| {
        let file = shared.cache.copy_intact(&c.dir, &c.manifest, &c.stamps)?;
        let file = if file.is_empty() { String::new() } else { format!(" ({file})") };
        Some(format!("input {}{file}", c.input))
    })
}

/// The folders laid out ahead for steps, by folder: what they hold and the stats of its
/// files (see `ahead::copy_ahead`).
pub(super) type LaidAhead = HashMap<PathBuf, (Manifest, CopyStamps)>;
