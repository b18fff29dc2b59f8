//! An edit under the memo: the invocation is the memo's and only the content of some named
//! paths changed (see `driver::memo`, "An edit under the memo"). The steps whose keys read a
//! changed path, and the steps downstream of one whose outputs changed, are keyed again from
//! their recorded key records; when the action cache holds a verified result for every new
//! key, the build reuses them all without loading the pipeline. Any step that would run
//! sends the build down the normal path, which runs it and says why.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use cache::{Cache, FileStamp, FolderGuard};
use driver::memo::keys::{MemoKeys, StepKeys};
use driver::memo::{BuildMemo, StampKind};
use hir::{Digest, FsState, KeySlot};
use plan::KeyRecord;

use super::super::views;

/// What an edit applied: the memo's keys, to save with the memo, and the views lock, to
/// hold until the memo is saved.
pub(super) struct Edit {
    /// The memo's key records, updated.
    pub keys: MemoKeys,
    /// The views lock, held since the views were found to hold the memo's results.
    pub views: FolderGuard,
}

/// A step keyed again: its memo index, its new key, the result found and its manifests.
type Rekeyed = (usize, Digest, i64, BTreeMap<String, Digest>, Vec<cache::Manifest>);

/// Applies the content changes `changed` (index in `memo.paths`, state now) to `memo`,
/// checked against state folder `state` and `cache`: keys again every step they reach,
/// reuses the verified results found for the new keys, lays out the views that change and
/// stamps what vouches for the new results. `None` when it cannot (no key records, a step
/// whose new key has no verified result, an environment's requirements changed, the views
/// or the action cache moved meanwhile): build normally.
pub(super) fn apply(
    memo: &mut BuildMemo,
    changed: &[(usize, FsState)],
    state: &Path,
    cache: &Cache,
) -> Option<Edit> {
    let mut keys = MemoKeys::load(state)?;
    let same_steps = keys.steps.len() == memo.steps.len()
        && keys.steps.iter().zip(&memo.steps).all(|(k, s)| k.name == s.name);
    if keys.invocation != memo.invocation || !same_steps {
        return None;
    }
    // Path → (digest recorded, digest now), as key records write them.
    let mut digests: HashMap<String, (String, String)> = HashMap::new();
    for (i, now) in changed {
        let path = memo.paths.get(*i)?;
        digests.insert(path.path.clone(), (digest_hex(&path.state)?, digest_hex(now)?));
    }
    let rekeyed = cache.snapshot_reads(|| rekey_all(memo, &mut keys, &digests, cache))?;
    // The action cache's files must still be as the memo's stamps say (checked just before):
    // then every result the memo keeps is still vouched for.
    let written = memo.folders.iter().filter(|f| f.kind == StampKind::Written);
    for f in written {
        let now = FileStamp::read(&state.join(&f.path)).ok()??;
        if f.kind.relevant(now) != f.stamp {
            return None;
        }
    }
    let guard = lay_out_views(memo, &rekeyed, state, cache)?;
    for (i, now) in changed {
        memo.paths[*i].state = *now;
    }
    for (i, key, run_id, outputs, manifests) in rekeyed {
        memo.rekey(i, (key, run_id, outputs), &manifests, cache, state)?;
    }
    Some(Edit { keys, views: guard })
}

/// The digest of `state` as a key record writes it (hex); `None` for a state without one.
fn digest_hex(state: &FsState) -> Option<String> {
    match state {
        FsState::File(d) | FsState::Dir(Some(d)) => Some(d.to_hex()),
        _ => None,
    }
}

/// Keys again, in the memo's (graph) order, every step that reads a changed path or an
/// upstream output that changed, and looks each new key up. `None` as soon as one has no
/// verified result.
fn rekey_all(
    memo: &BuildMemo,
    keys: &mut MemoKeys,
    digests: &HashMap<String, (String, String)>,
    cache: &Cache,
) -> Option<Vec<Rekeyed>> {
    let mut changed_outputs: HashMap<String, BTreeMap<String, Digest>> = HashMap::new();
    let mut rekeyed: Vec<Rekeyed> = Vec::new();
    for (i, (sk, step)) in keys.steps.iter_mut().zip(&memo.steps).enumerate() {
        let reads_path = sk.paths.iter().any(|(_, p)| digests.contains_key(p));
        let reads_output = sk.upstream.iter().any(|u| changed_outputs.contains_key(&u.step));
        if !reads_path && !reads_output {
            continue;
        }
        let record = rekey(sk, step.key, digests, &changed_outputs)?;
        let key = record.digest();
        let (run_id, outputs, manifests) = verified_hit(cache, &key)?;
        sk.record = record.to_json();
        if !driver::memo::same_outputs(&outputs, &step.outputs) {
            changed_outputs.insert(step.name.clone(), outputs.clone());
        }
        rekeyed.push((i, key, run_id, outputs, manifests));
    }
    Some(rekeyed)
}

/// Step `sk`'s key record with the changed paths' digests and the changed upstream outputs
/// put in: the record the database would compute now. `None` when its recorded record does
/// not hash to its memo key `key`, when a slot does not hold the digest the memo recorded
/// for its path, or when a changed path goes into its environment's digest.
fn rekey(
    sk: &StepKeys,
    key: Digest,
    digests: &HashMap<String, (String, String)>,
    changed_outputs: &HashMap<String, BTreeMap<String, Digest>>,
) -> Option<KeyRecord> {
    let mut record = KeyRecord::from_json(&sk.record)?;
    if record.digest() != key {
        return None;
    }
    for (slot, path) in &sk.paths {
        let Some((was, now)) = digests.get(path) else { continue };
        let field = match slot {
            KeySlot::Script => &mut record.script.as_mut()?.1,
            KeySlot::HashPath(j) => &mut record.hash_paths.get_mut(*j as usize)?.1,
            KeySlot::Data(input) => {
                &mut record.inputs.iter_mut().find(|r| &r.name == input)?.digest
            }
            KeySlot::Environment | KeySlot::Python => return None,
        };
        if field != was {
            return None;
        }
        field.clone_from(now);
    }
    for u in &sk.upstream {
        let Some(outputs) = changed_outputs.get(&u.step) else { continue };
        let source = format!("steps.{}.outputs.{}", u.step, u.output);
        let field = record.inputs.iter_mut().find(|r| r.name == u.input && r.source == source)?;
        field.digest = outputs.get(&u.output)?.to_hex();
    }
    Some(record)
}

/// The result the action cache holds for `key` when every output's manifest is in the entry
/// and every blob verifies (as `driver::lookup` verifies them): its run, outputs and
/// manifests.
fn verified_hit(
    cache: &Cache,
    key: &Digest,
) -> Option<(i64, BTreeMap<String, Digest>, Vec<cache::Manifest>)> {
    let action = cache.get_action(key).ok()??;
    // Made reading files outside its key: only a lookup that checks them may reuse it.
    if !action.reads.is_empty() {
        return None;
    }
    let mut manifests = Vec::with_capacity(action.outputs.len());
    for name in action.outputs.keys() {
        // An entry without its manifests would need the manifests folder's stamp too.
        let m = action.manifest(name)?;
        cache.verify(m).ok()?;
        manifests.push(m.clone());
    }
    Some((action.run_id, action.outputs, manifests))
}

/// Under the views lock, with the views folder as the memo stamped it (every view holds the
/// memo's result), lays out the views of the steps keyed again and stamps the folder anew.
/// The lock, or `None` when the views moved or a view cannot be laid out.
fn lay_out_views(
    memo: &mut BuildMemo,
    rekeyed: &[Rekeyed],
    state: &Path,
    cache: &Cache,
) -> Option<FolderGuard> {
    let guard = views::lock_of(state).lock().ok()?;
    let Some(f) = memo.folders.iter_mut().find(|f| f.kind == StampKind::Views) else {
        // No step has outputs: no view to lay out.
        return Some(guard);
    };
    let folder = state.join(&f.path);
    if FileStamp::read(&folder).ok()? != Some(f.stamp) {
        return None;
    }
    for (i, _, _, outputs, manifests) in rekeyed {
        let step = &memo.steps[*i].name;
        for ((name, d), m) in outputs.iter().zip(manifests) {
            if !views::lay_out_known(cache, &guard, state, (step, name), *d, m) {
                return None;
            }
        }
    }
    f.stamp = FileStamp::read(&folder).ok()??;
    Some(guard)
}
