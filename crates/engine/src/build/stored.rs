//! Outputs also written to a datastore (`outputs = [{ name = "model", datastore = "blob" }]`,
//! Azure ML's `PipelineData(datastore=...)`): once a build's steps are over, every such
//! output of its results goes to its datastore under [`layout`], a path that holds the
//! content digest, so a new content never replaces an old one and writers never collide.
//!
//! Writes are create-only (`Datastore::put_files`). A marker per URL written in
//! `.runner/stored/` skips what this project wrote before, so a no-op build writes nothing
//! and asks the store nothing. An output the shared cache kept (`download = "final"`) is
//! fetched first. A store that fails is a warning naming it: the results stay cached here,
//! and the next build writes them.

use std::path::PathBuf;
use std::sync::Arc;

use driver::datastore::Datastore;
use hir::Digest;

use super::{Shared, manifest_of};

/// Where output `output` of `step` in `pipeline`, with manifest digest `digest`, is written
/// in its datastore: `runner-outputs/PIPELINE/STEP/OUTPUT/DIGEST` (a folder of its files).
pub fn layout(pipeline: &str, step: &str, output: &str, digest: &Digest) -> String {
    format!("runner-outputs/{pipeline}/{step}/{output}/{}", digest.to_hex())
}

/// Writes every output of this build's results that names a datastore, unless written
/// before. Blocking.
pub(super) fn write_all(shared: &Shared) {
    let results = shared.results.lock().unwrap_or_else(|e| e.into_inner()).clone();
    for info in &shared.steps {
        for (output, store_name) in &info.step.output_stores {
            let Some(digest) = results.get(&info.name).and_then(|o| o.get(output)) else {
                continue;
            };
            let Some(store) = shared.output_stores.get(&store_name.value) else { continue };
            let at = layout(&shared.pipeline, &info.name, output, digest);
            let marker = marker(shared, store.as_ref(), &at);
            if marker.exists() {
                continue;
            }
            if let Err(e) = write_one(shared, store.as_ref(), &at, digest) {
                let name = &store_name.value;
                shared.warn(
                    Some(&info.name),
                    format!("writing output {output} to datastore `{name}`: {e:#} (it stays cached here; the next build tries again)"),
                );
                continue;
            }
            let _ = cache::write_replace(&marker, b"");
        }
    }
}

/// The marker of `at` written to `store`: named by the digest of its URL, so a renamed
/// pipeline or a store moved elsewhere is written anew.
fn marker(shared: &Shared, store: &dyn Datastore, at: &str) -> PathBuf {
    let place = Digest::of_bytes(store.url(at).as_bytes());
    shared.state.join("stored").join(place.to_hex())
}

fn write_one(
    shared: &Shared,
    store: &dyn Datastore,
    at: &str,
    digest: &Digest,
) -> anyhow::Result<()> {
    let manifest = manifest_of(shared, *digest)?
        .ok_or_else(|| anyhow::anyhow!("its manifest {} is missing", digest.short()))?;
    if let Some(remote) = &shared.remote {
        remote.ensure(shared, &manifest)?;
    }
    let files: Vec<(String, PathBuf)> = manifest
        .entries
        .iter()
        .map(|e| {
            let path = if e.path.is_empty() { at.to_owned() } else { format!("{at}/{}", e.path) };
            (path, shared.cache.blob_path(&e.digest))
        })
        .collect();
    store.put_files(&files)?;
    Ok(())
}

/// The datastores the pipeline's outputs name, by name: a store the project opened or the
/// host registered, else the `local` folder the pipeline declares.
pub(super) fn stores_of(
    project: &driver::Project,
    ix: &hir::Index,
    steps: &[super::StepInfo],
) -> std::collections::BTreeMap<String, Arc<dyn Datastore>> {
    let mut out = std::collections::BTreeMap::new();
    for name in steps.iter().flat_map(|s| s.step.output_stores.iter().map(|(_, d)| &d.value)) {
        if out.contains_key(name) {
            continue;
        }
        let store: Arc<dyn Datastore> = match project.datastores.get(name) {
            Some(s) => s.clone(),
            None => {
                let Some(folder) = ix.datastores.get(name) else { continue };
                let root = std::path::absolute(project.abs(folder))
                    .unwrap_or_else(|_| project.abs(folder));
                Arc::new(driver::datastore::LocalFolder { name: name.clone(), root })
            }
        };
        out.insert(name.clone(), store);
    }
    out
}
