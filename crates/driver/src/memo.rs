//! The build memo: a no-op `runner build` that neither parses, checks nor reads the action
//! cache, as ninja's no-op reads its log instead of rebuilding its graph.
//!
//! A build's plan is a function of what was asked (the pipeline file's bytes, `--param`
//! overrides, the steps named, the experiment), of the files its step keys cover, and of what
//! the action cache and CAS hold. After a build that succeeds with every step ran or reused
//! (clean file: no diagnostic at all; every step reusable), `runner build` writes
//! `.runner/buildmemo`: the invocation digest, each named path with the state the database
//! was given for it ([`hir::FsState`]), per step its key, the run its result came from and
//! its outputs, and the stamps ([`FileStamp`]) that vouch for those results: each output
//! blob's own stamp, the action cache's files (`cache/ac.sqlite` and its log, see
//! [`Cache::action_files`]), the folder of manifests an entry does not carry
//! (`cache/manifests/`), and the output views folder (`.runner/outputs/`).
//!
//! The invocation digest covers the pipeline file through the SHA-256 of its bytes
//! ([`BuildMemo::text`]), which the memo keeps with the file's stamp: a no-op reads the file
//! only when its stamp moved ([`BuildMemo::text_digest`]).
//!
//! The next build with the same invocation checks the memo instead of the database
//! ([`BuildMemo::check`]):
//! 1. every named path must give the same state: a file the memo stamped ([`MemoPath::stamp`],
//!    a stamp settled before the build that probed it began) by keeping that stamp, a path
//!    recorded missing or as a folder whose digest is not needed by still being so; any
//!    other, or one whose stamp moved, is probed again through the stat cache, loaded only
//!    then ([`LazyStats`], [`crate::probe_with`]: no file is read whose stat is unchanged
//!    and settled), and a file that is settled now gets its stamp for the next check;
//! 2. every blob and folder must have its recorded stamp, settled when the memo was written
//!    (see [`FileStamp::racy`]). A blob edited in place changes its ctime; an action cache
//!    entry written or removed changes the database's or its log's mtime; a manifest added,
//!    removed or replaced (they are published by rename) changes its folder's mtime. A step
//!    whose blobs still have their settled stamps and whose only moved witnesses are the
//!    action cache's files (any build that stored a result writes them) has its entry read
//!    and compared: it must name the same run and outputs, and its blobs vouch for
//!    themselves. Any other step whose stamps moved is looked up and verified for real
//!    ([`crate::lookup`]) and must give the same result. The memo is then written again
//!    with the new stamps;
//! 3. the output views folder must be unchanged (else the normal path restores the views).
//!
//! When all hold, the database would compute the same keys and find the same verified
//! results, so every step is reused from the recorded run. Any other difference (an edited
//! byte in the file, a deleted blob or action cache entry, another runner version) sends the
//! build down the normal path, which plans from the database. The memo is an optimisation
//! only: deleting it costs one normal build.
//!
//! **An edit under the memo.** When 2 and 3 hold but some named paths changed content only
//! (a file still a file, a folder still a folder: [`content_only`]), the check says which
//! ([`Verdict::Changed`]) instead of giving up. The checker's diagnostics depend on a path's
//! kind, never on its digest, and a step key reads a path only through its digest, at the
//! places [`hir::step_key_paths`] names; everything else a build derives from the file is
//! the same, since the invocation (the file's bytes) is. So the only keys that can differ
//! are those of the steps that read a changed path and, through early cutoff, of the steps
//! downstream of one whose outputs changed; every other step keeps its key and its result,
//! which 2 vouched for. The memo's key records ([`keys`]: each step's complete key record,
//! trusted only when it hashes to the memo's key for that step, and the paths its key reads)
//! give those steps' new keys by putting the new digests in; each new key is looked up in
//! the action cache for real, every blob verified as [`crate::lookup`] verifies. When every
//! one is a hit, the build reuses them all (laying out the views that change under the
//! views lock, with the views folder still as stamped), and the memo is written again with
//! the new states, keys, results and blob stamps. A miss, a changed environment's
//! requirements, a record that does not verify, or any other doubt sends the build down
//! the normal path, which runs what must run and reports why, field by field: the memo
//! never runs a step. What it does not see: a manifest
//! rewritten in place, keeping its folder's stamp (manifests are only ever published by
//! rename; the blobs, which carry the outputs, are checked one by one), or an action cache
//! database replaced by one with the same inode, size and mtime.
//!
//! **The run record.** A no-op records its run in the history as a repeat of [`BuildMemo::run`]
//! (`history::History::record_repeat_run`): one row, plus a row for each step an edit under
//! the memo made reuse another run's result ([`MemoStep::base_run_id`]), not one row per
//! step; the memo's steps are that run's. The history checks the claim (the run exists,
//! succeeded, and has as many steps as the memo) and a no-op records every step when it
//! does not hold.
//!
//! **File format** (version 6, little-endian, strings as `u32` length + UTF-8; checksummed
//! like the stat cache, so a damaged or foreign file is ignored; `stamp?` is a `u8` 0, or 1
//! and a `FileStamp`):
//!
//! ```text
//! "RUNMEMO6", [u8; 32] invocation, i64 written_ns, i64 run, [u8; 32] text, stamp? text_stamp,
//! str pipeline, str experiment, str pipeline_path, u32 n × (str name, str value),
//! u32 n × (str path, u8 digest?, u8 state tag, [u8; 32] digest if the tag has one, stamp?),
//! u32 n × (str path, u8 kind /* 0 folder, 1 views, 2 written */, FileStamp),
//! u32 n × (str name, [u8; 32] key, i64 run_id, i64 base_run_id,
//!          u32 n × (str output, [u8; 32] manifest) /* sorted by output, unique */,
//!          u32 n × (str blob, FileStamp), u32 n × u32 folder index),
//! u64 CRC-64/NVME of everything above (`cache::seal`)
//! ```
//!
//! Blob and folder paths are relative to the state folder `.runner/`.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use cache::{Cache, FileStamp, Found, Reader, StampReader, StatCache, put_bytes, seal};
use hir::{Digest, FsState};
use sha2::{Digest as _, Sha256};

use crate::{lookup, probe_below, probe_with};

const MAGIC: &[u8; 8] = b"RUNMEMO6";

/// The memo's file name in the state folder.
pub const MEMO_FILE: &str = "buildmemo";

/// A named path and the state the database was given for it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MemoPath {
    /// As [`hir::needed_paths`] names it (relative to the pipeline's folder, or absolute).
    pub path: String,
    /// Whether its digest is needed (else only its kind).
    pub digest: bool,
    /// What was there.
    pub state: FsState,
    /// For a file: its stamp, settled before `state` was probed. The same stamp now means the
    /// same content, so a check whose named paths all keep their stamps reads no stat cache.
    /// `None`: checked through the stat cache.
    pub stamp: Option<FileStamp>,
}

/// One step of a memoised build.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MemoStep {
    /// The step's name.
    pub name: String,
    /// Its step key.
    pub key: Digest,
    /// The run that produced the result it reuses.
    pub run_id: i64,
    /// The run [`BuildMemo::run`]'s record of this step names: that run itself where the
    /// step ran there, else the run it reused. Where an edit under the memo changed
    /// [`MemoStep::run_id`], the two differ, and a no-op records this step itself.
    pub base_run_id: i64,
    /// Output name and manifest digest, sorted by name (a list, not a map: a no-op decodes
    /// one per step).
    pub outputs: Vec<(String, Digest)>,
    /// Its outputs' blobs (relative to `.runner/`), with their stamps.
    pub blobs: Vec<(String, FileStamp)>,
    /// Indices into [`BuildMemo::folders`]: the folders holding its action cache entry and
    /// its manifests.
    pub folders: Vec<u32>,
}

/// A folder whose stamp vouches for the entries it holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MemoFolder {
    /// Relative to `.runner/`.
    pub path: String,
    /// Its stamp when the memo was written.
    pub stamp: FileStamp,
    /// What the stamp vouches for, and so how it is compared.
    pub kind: StampKind,
}

/// What a stamped path of the memo (`MemoFolder`) is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StampKind {
    /// A folder whose entries are published by rename (`cache/manifests/`): any entry added,
    /// removed or replaced moves its mtime and ctime.
    Folder,
    /// The output views folder: a change needs a normal build (to restore views), not a
    /// lookup.
    Views,
    /// A file written in place (the action cache database and its log): compared by inode,
    /// size and mtime, which every write moves. Its ctime is left out: SQLite running as
    /// root `fchown`s the log on every open, which moves only the ctime.
    Written,
}

impl StampKind {
    /// `stamp` as this kind compares it.
    pub fn relevant(self, stamp: FileStamp) -> FileStamp {
        match self {
            StampKind::Written => FileStamp { ctime_ns: stamp.mtime_ns, ..stamp },
            StampKind::Folder | StampKind::Views => stamp,
        }
    }

    fn tag(self) -> u8 {
        match self {
            StampKind::Folder => 0,
            StampKind::Views => 1,
            StampKind::Written => 2,
        }
    }

    fn of_tag(tag: u8) -> Option<StampKind> {
        Some(match tag {
            0 => StampKind::Folder,
            1 => StampKind::Views,
            2 => StampKind::Written,
            _ => return None,
        })
    }
}

/// What `.runner/buildmemo` holds; see the module docs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BuildMemo {
    /// Digest of what was asked ([`invocation`]).
    pub invocation: Digest,
    /// When the stamps were taken (ns since the epoch, read before the first stamp).
    pub written_ns: i64,
    /// The run whose history records are exactly [`BuildMemo::steps`]: the build that wrote
    /// the memo (each step ran there or was reused from [`MemoStep::run_id`]), or the edit
    /// under the memo that wrote it again.
    pub run: i64,
    /// The SHA-256 of the pipeline file's bytes, as [`BuildMemo::invocation`] covers them.
    pub text: Digest,
    /// The pipeline file's stamp, settled before `text` was taken: while the file keeps it,
    /// `text` is its digest ([`BuildMemo::text_digest`]).
    pub text_stamp: Option<FileStamp>,
    /// The pipeline's name.
    pub pipeline: String,
    /// The experiment the run is recorded under.
    pub experiment: String,
    /// The pipeline file's canonical path, for the run record.
    pub pipeline_path: String,
    /// Parameter values (canonical text) after overrides, for the run record.
    pub params: Vec<(String, String)>,
    /// Every path the pipeline names.
    pub paths: Vec<MemoPath>,
    /// The folders the steps' stamps refer to.
    pub folders: Vec<MemoFolder>,
    /// Every step built, in the order built.
    pub steps: Vec<MemoStep>,
}

/// One step's verified result, to memoise ([`BuildMemo::stamp`]).
#[derive(Clone, Debug)]
pub struct StepResult<'a> {
    /// The step's name.
    pub name: &'a str,
    /// Its step key.
    pub key: Digest,
    /// The run that produced the result.
    pub run_id: i64,
    /// Output name → manifest digest.
    pub outputs: &'a BTreeMap<String, Digest>,
    /// The outputs' manifests, when the caller holds them for a result it verified in the
    /// action cache or stored there itself (a build's own steps): such a step is not looked up
    /// again. `None`: it is read from the action cache and must match `run_id` and `outputs`.
    pub manifests: Option<Vec<&'a cache::Manifest>>,
}

/// The outcome of [`BuildMemo::check`].
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Every step is reused as recorded. `restamped`: some witnesses moved but their results
    /// verified, and the memo's stamps were updated (save it again).
    Valid {
        /// Whether the memo changed and should be saved.
        restamped: bool,
    },
    /// Only the content of some named paths changed (a file still a file, a folder still a
    /// folder: [`content_only`]); everything else holds as for `Valid`. Each changed path's
    /// index in [`BuildMemo::paths`] and its state now: the steps whose keys read them, and
    /// their downstream steps, must be keyed again (see "An edit under the memo").
    Changed {
        /// The changed paths.
        paths: Vec<(usize, FsState)>,
        /// As for `Valid`.
        restamped: bool,
    },
    /// The memo does not hold; why (for tracing: the normal path explains reruns itself).
    Stale(String),
}

/// Digest of what a build was asked: the runner's version, the pipeline file's path and
/// the SHA-256 of its bytes (`text`: [`text_digest`] of the bytes read, or
/// [`BuildMemo::text_digest`], which reads the file only when its stamp moved), the
/// `--param` overrides in order, the steps named, and the `--experiment` option.
pub fn invocation(
    file: &Path,
    text: &Digest,
    overrides: &[(String, String)],
    wanted: &[String],
    experiment: Option<&str>,
) -> Digest {
    let mut h = Sha256::new();
    let mut put = |b: &[u8]| {
        h.update((b.len() as u64).to_le_bytes());
        h.update(b);
    };
    put(MAGIC);
    put(env!("CARGO_PKG_VERSION").as_bytes());
    put(std::path::absolute(file)
        .unwrap_or_else(|_| file.to_path_buf())
        .as_os_str()
        .as_encoded_bytes());
    put(&text.0);
    for (k, v) in overrides {
        put(k.as_bytes());
        put(v.as_bytes());
    }
    put(b"--");
    for w in wanted {
        put(w.as_bytes());
    }
    put(experiment.unwrap_or("\0none").as_bytes());
    Digest(h.finalize().into())
}

/// The SHA-256 of a pipeline file's bytes, as [`invocation`] takes it (and as the stat
/// cache gives it for the file on disk).
pub fn text_digest(text: &[u8]) -> Digest {
    Digest(Sha256::digest(text).into())
}

fn rel_of(state: &Path, path: &Path) -> Option<String> {
    Some(path.strip_prefix(state).ok()?.to_str()?.to_owned())
}

fn stamp_all(state: &Path, files: Vec<PathBuf>) -> Option<Vec<(String, FileStamp)>> {
    files.into_iter().map(|f| Some((rel_of(state, &f)?, FileStamp::read(&f).ok()??))).collect()
}

/// Which folders and which steps' blobs still have their stamps, settled at `written_ns`
/// (the views folder need only have its stamp).
/// Stats run on two threads (they are most of a no-op build's time): the folders here, the
/// blobs on the other.
fn holding(state: &Path, memo: &BuildMemo, also: impl FnOnce()) -> (Vec<bool>, Vec<bool>) {
    let settled = |stamp: &FileStamp, now: Option<FileStamp>| {
        !stamp.racy(memo.written_ns) && now == Some(*stamp)
    };
    std::thread::scope(|scope| {
        let blobs = scope.spawn(|| {
            let mut reader = StampReader::new(state);
            memo.steps
                .iter()
                .map(|step| step.blobs.iter().all(|(rel, st)| settled(st, reader.read(rel))))
                .collect::<Vec<bool>>()
        });
        also();
        let mut reader = StampReader::new(state);
        // Views are not trusted for anything: an unchanged stamp is enough.
        let folders = memo
            .folders
            .iter()
            .map(|f| {
                let now = reader.read(&f.path).map(|s| f.kind.relevant(s));
                match f.kind {
                    StampKind::Views => now == Some(f.stamp),
                    StampKind::Folder | StampKind::Written => settled(&f.stamp, now),
                }
            })
            .collect();
        let blobs = blobs.join().unwrap_or_else(|_| vec![false; memo.steps.len()]);
        (folders, blobs)
    })
}

impl BuildMemo {
    /// The memo in state folder `state`; `None` when there is none, or it is damaged or of
    /// another version.
    pub fn load(state: &Path) -> Option<BuildMemo> {
        decode(&std::fs::read(state.join(MEMO_FILE)).ok()?)
    }

    /// Writes the memo to `state/buildmemo` (temp file, rename; no fsync: a memo lost to a
    /// crash costs one normal build, and a torn one fails its checksum and is ignored). What
    /// it vouches for must be durable first: a build writes it after its `syncfs`.
    ///
    /// Errors: the write failed.
    pub fn save(&self, state: &Path) -> anyhow::Result<()> {
        let path = state.join(MEMO_FILE);
        cache::write_replace(&path, &encode(self))
            .with_context(|| format!("writing {}", path.display()))
    }

    /// Removes the memo in `state`, if any (a build that changes what the memo vouches for
    /// without writing a new one).
    pub fn forget(state: &Path) {
        let _ = std::fs::remove_file(state.join(MEMO_FILE));
    }

    /// Stamps what vouches for `results` (verified results in `cache`, under state folder
    /// `state`) now, giving the memo's `folders` and `steps`. `None` when something is
    /// missing or an action cache entry does not hold the given result (the memo is then not
    /// written: the next build plans normally).
    pub fn stamp(
        cache: &Cache,
        state: &Path,
        results: &[StepResult<'_>],
    ) -> Option<(Vec<MemoFolder>, Vec<MemoStep>)> {
        let mut folders: Vec<MemoFolder> = Vec::new();
        let mut index: HashMap<PathBuf, u32> = HashMap::new();
        let mut stamped = |path: &Path, kind: StampKind| -> Option<u32> {
            if let Some(i) = index.get(path) {
                return Some(*i);
            }
            let i = u32::try_from(folders.len()).ok()?;
            let stamp = kind.relevant(FileStamp::read(path).ok()??);
            folders.push(MemoFolder { path: rel_of(state, path)?, stamp, kind });
            index.insert(path.to_path_buf(), i);
            Some(i)
        };
        if results.iter().any(|r| !r.outputs.is_empty()) {
            stamped(&state.join("outputs"), StampKind::Views)?;
        }
        // Every step's entry is in the one database: a write to it moves one of the two.
        let mut entries = Vec::new();
        if !results.is_empty() {
            for file in cache.action_files() {
                entries.push(stamped(&file, StampKind::Written)?);
            }
        }
        let mut steps = Vec::with_capacity(results.len());
        for r in results {
            let mut step_folders = entries.clone();
            let mut blobs = Vec::new();
            if let Some(known) = &r.manifests {
                for m in known {
                    blobs.extend(m.entries.iter().map(|e| cache.blob_path(&e.digest)));
                }
            } else {
                let action = cache.get_action(&r.key).ok()??;
                let recorded: BTreeMap<String, Digest> =
                    action.outputs.iter().map(|(k, v)| (k.clone(), *v)).collect();
                if action.run_id != r.run_id || &recorded != r.outputs {
                    return None;
                }
                for (name, d) in r.outputs {
                    // A manifest the entry carries needs no stamp of its own.
                    let manifest = match action.manifest(name) {
                        Some(m) => m.clone(),
                        None => {
                            let folder = cache.manifest_path(d).parent()?.to_path_buf();
                            step_folders.push(stamped(&folder, StampKind::Folder)?);
                            cache.get_manifest(d).ok()??
                        }
                    };
                    blobs.extend(manifest.entries.iter().map(|e| cache.blob_path(&e.digest)));
                }
            }
            step_folders.sort_unstable();
            step_folders.dedup();
            steps.push(MemoStep {
                name: r.name.to_owned(),
                key: r.key,
                run_id: r.run_id,
                base_run_id: r.run_id,
                outputs: r.outputs.iter().map(|(k, v)| (k.clone(), *v)).collect(),
                blobs: stamp_all(state, blobs)?,
                folders: step_folders,
            });
        }
        Some((folders, steps))
    }

    /// Whether the memo still holds for the pipeline in `root`, the state folder `state`, the
    /// stat cache `stats` and the cache `cache`; see the module docs. May update stamps
    /// (`Verdict::Valid { restamped: true }`).
    ///
    /// Errors: a named path cannot be read (the normal path reports it properly).
    pub fn check(
        &mut self,
        root: &Path,
        state: &Path,
        stats: &mut LazyStats,
        cache: &Cache,
    ) -> anyhow::Result<Verdict> {
        let now = cache::now_ns();
        let mut changed_paths = Ok(Default::default());
        let (folders_ok, blobs_ok) = holding(state, self, || {
            changed_paths = self.changed_paths(root, stats, now);
        });
        let (changed, restamps) = changed_paths?;
        let path_restamped = !restamps.is_empty();
        for (i, stamp) in restamps {
            self.paths[i].stamp = stamp;
        }
        if let Some(&(i, _)) =
            changed.iter().find(|(i, new)| !content_only(&self.paths[*i].state, new))
        {
            return Ok(Verdict::Stale(format!("{} changed", self.paths[i].path)));
        }
        let views_moved = |(f, ok): &(&MemoFolder, &bool)| f.kind == StampKind::Views && !**ok;
        if let Some(f) = self.folders.iter().zip(&folders_ok).find(views_moved) {
            return Ok(Verdict::Stale(format!("{} changed", f.0.path)));
        }
        // When every witness held, nothing is looked up: the action cache's database is not
        // even opened (opening it reads its whole write-ahead log).
        let all_held = folders_ok.iter().chain(&blobs_ok).all(|ok| *ok);
        let mut restamped = if all_held {
            path_restamped
        } else {
            match cache.snapshot_reads(|| self.verify_moved(state, cache, &folders_ok, blobs_ok)) {
                Ok(restamped) => restamped || path_restamped,
                Err(stale) => return Ok(Verdict::Stale(stale)),
            }
        };
        for (f, ok) in self.folders.iter_mut().zip(folders_ok) {
            if !ok {
                let Ok(Some(stamp)) = FileStamp::read(&state.join(&f.path)) else {
                    return Ok(Verdict::Stale(format!("{} changed", f.path)));
                };
                f.stamp = f.kind.relevant(stamp);
                restamped = true;
            }
        }
        if restamped {
            self.written_ns = now;
        }
        if changed.is_empty() {
            Ok(Verdict::Valid { restamped })
        } else {
            Ok(Verdict::Changed { paths: changed, restamped })
        }
    }

    /// Verifies the steps some of whose witnesses moved (`folders_ok`, `blobs_ok`: which
    /// held). A step whose own blobs still have their settled stamps, and whose only moved
    /// witnesses are the action cache's files (written by any build that stored a result),
    /// has its entry read and compared: its blobs vouch for themselves, as in a no-op. Any
    /// other is looked up and verified in full, and its blobs stamped anew. Whether a stamp
    /// changed; `Err(why)` when a result is not the memo's.
    fn verify_moved(
        &mut self,
        state: &Path,
        cache: &Cache,
        folders_ok: &[bool],
        blobs_ok: Vec<bool>,
    ) -> Result<bool, String> {
        let mut restamped = false;
        for (step, blobs_ok) in self.steps.iter_mut().zip(blobs_ok) {
            let moved = || step.folders.iter().filter(|&&i| !folders_ok[i as usize]);
            if blobs_ok && moved().next().is_none() {
                continue;
            }
            let stale = || format!("step {}: cache entry changed", step.name);
            if blobs_ok && moved().all(|&i| self.folders[i as usize].kind == StampKind::Written) {
                match cache.get_action(&step.key) {
                    Ok(Some(a))
                        if a.run_id == step.run_id && same_outputs(&a.outputs, &step.outputs) =>
                    {
                        continue;
                    }
                    _ => return Err(stale()),
                }
            }
            match lookup(cache, &step.key) {
                plan::Lookup::Hit { run_id, outputs, .. }
                    if run_id == step.run_id && same_outputs(&outputs, &step.outputs) => {}
                _ => return Err(stale()),
            }
            let files = step.blobs.iter().map(|(rel, _)| state.join(rel)).collect();
            step.blobs = stamp_all(state, files).ok_or_else(stale)?;
            restamped = true;
        }
        Ok(restamped)
    }

    /// Step `i` now reuses `run_id`'s result `outputs` under `key`, verified in `cache`
    /// (whose files the memo's stamps already vouch for) with its outputs' `manifests`: its
    /// blobs are stamped now. `None` when a blob cannot be stamped (the memo is then not to
    /// be written).
    pub fn rekey(
        &mut self,
        i: usize,
        result: (Digest, i64, BTreeMap<String, Digest>),
        manifests: &[cache::Manifest],
        cache: &Cache,
        state: &Path,
    ) -> Option<()> {
        let entries: Vec<u32> = (0..self.folders.len())
            .filter(|&f| self.folders[f].kind == StampKind::Written)
            .map(|f| u32::try_from(f).ok())
            .collect::<Option<_>>()?;
        let files = manifests
            .iter()
            .flat_map(|m| m.entries.iter().map(|e| cache.blob_path(&e.digest)))
            .collect();
        let step = self.steps.get_mut(i)?;
        let (key, run_id, outputs) = result;
        *step = MemoStep {
            name: std::mem::take(&mut step.name),
            key,
            run_id,
            base_run_id: step.base_run_id,
            outputs: outputs.into_iter().collect(),
            blobs: stamp_all(state, files)?,
            folders: entries,
        };
        Some(())
    }

    /// Every named path whose state is not the recorded one: its index in `paths`, and its
    /// state now; and the paths whose stamp is to change (a file probed through the stat
    /// cache gets its stamp when it had settled by `now`, taken before the probe; else none).
    fn changed_paths(
        &self,
        root: &Path,
        stats: &mut LazyStats,
        now: i64,
    ) -> anyhow::Result<(Vec<(usize, FsState)>, Restamps)> {
        let mut changed = Vec::new();
        let mut restamps = Vec::new();
        // Relative to a handle on the root: the kernel walks only the path's own components.
        let base = std::fs::File::open(root).ok();
        for (i, p) in self.paths.iter().enumerate() {
            // One stat says whether a stamped file, a missing path or a folder whose digest
            // is not needed still holds; only the others need the stat cache.
            let found = base.as_ref().map_or(Found::Unknown, |b| Found::at(b, &p.path));
            let holds = match (&p.state, found) {
                (FsState::File(_), Found::File(st)) => p.stamp == Some(st),
                (FsState::Missing, Found::Missing) | (FsState::Dir(None), Found::Folder) => true,
                _ => false,
            };
            if holds {
                continue;
            }
            let stats = stats.get();
            let now_state = match &base {
                Some(base) if p.path != "." => probe_below(base, root, &p.path, p.digest, stats)?,
                _ => {
                    let abs = if p.path == "." { root.to_path_buf() } else { root.join(&p.path) };
                    probe_with(&abs, p.digest, stats)?
                }
            };
            let stamp = match found {
                Found::File(st) if matches!(now_state, FsState::File(_)) && !st.racy(now) => {
                    Some(st)
                }
                _ => None,
            };
            if stamp != p.stamp {
                restamps.push((i, stamp));
            }
            if now_state != p.state {
                // A change of kind changes what the checker says: the normal path reports it.
                if !content_only(&p.state, &now_state) {
                    return Ok((vec![(i, now_state)], Vec::new()));
                }
                changed.push((i, now_state));
            }
        }
        Ok((changed, restamps))
    }

    /// The pipeline file's digest at `file`: [`BuildMemo::text`] while the file keeps
    /// [`BuildMemo::text_stamp`], else hashed through the stat cache (and the stamp taken anew
    /// when settled: `true` then, save the memo). `None` when it cannot be read.
    pub fn text_digest(&mut self, file: &Path, stats: &mut LazyStats) -> Option<(Digest, bool)> {
        let now = cache::now_ns();
        let seen = FileStamp::read(file).ok().flatten();
        if self.text_stamp.is_some() && seen == self.text_stamp {
            return Some((self.text, false));
        }
        let d = Digest(stats.get().hash_file(file).ok()?.0);
        let settled = seen.filter(|st| !st.racy(now));
        let restamped = settled != self.text_stamp;
        self.text_stamp = settled;
        self.text = d;
        Some((d, restamped))
    }

    /// Gives each file of [`BuildMemo::paths`] and the pipeline file at `file` their stamps
    /// now where settled before `began_ns`, which must be earlier than anything the memo's
    /// states and [`BuildMemo::text`] were read from (a build's start): a file whose stamp
    /// settled before then has not changed since, so its state is still the one probed.
    /// Paths are relative to `root`, the pipeline's folder.
    pub fn stamp_paths(&mut self, root: &Path, file: &Path, began_ns: i64) {
        let settled = |st: Option<FileStamp>| st.filter(|st| !st.racy(began_ns));
        self.text_stamp = settled(FileStamp::read(file).ok().flatten());
        let Ok(base) = std::fs::File::open(root) else { return };
        for p in &mut self.paths {
            p.stamp = match (&p.state, Found::at(&base, &p.path)) {
                (FsState::File(_), Found::File(st)) => settled(Some(st)),
                _ => None,
            };
        }
    }
}

/// Named paths whose stamp changes: the index in [`BuildMemo::paths`] and the new stamp.
type Restamps = Vec<(usize, Option<FileStamp>)>;

/// The stat cache, loaded on first use: a memo check whose named paths all keep their
/// stamps never reads it.
pub struct LazyStats {
    file: PathBuf,
    base: PathBuf,
    loaded: Option<StatCache>,
}

impl LazyStats {
    /// The stat cache saved at `file`, for paths below `base` (see [`StatCache::load`]).
    pub fn new(file: PathBuf, base: PathBuf) -> LazyStats {
        LazyStats { file, base, loaded: None }
    }

    /// The stat cache, loaded now if it was not.
    pub fn get(&mut self) -> &mut StatCache {
        self.loaded.get_or_insert_with(|| StatCache::load(&self.file, &self.base))
    }

    /// Whether it was loaded (some path needed it).
    pub fn is_loaded(&self) -> bool {
        self.loaded.is_some()
    }

    /// Bytes hashed through it (0 when it was never loaded).
    pub fn hashed_bytes(&self) -> u64 {
        self.loaded.as_ref().map_or(0, StatCache::hashed_bytes)
    }

    /// Settles what was hashed in its racy window (waiting at most `max_wait`, see
    /// [`StatCache::settle`]) and saves the cache; nothing when it was never loaded. Best
    /// effort: a cache not saved only costs the next build some hashing.
    pub fn finish(self, max_wait: std::time::Duration) {
        if let Some(mut stats) = self.loaded {
            stats.settle(max_wait);
            let _ = stats.save(&self.file);
        }
    }
}

/// Whether `map` (an action cache entry's or a lookup's outputs) is `list` (a memo step's).
pub fn same_outputs(map: &BTreeMap<String, Digest>, list: &[(String, Digest)]) -> bool {
    map.len() == list.len() && map.iter().zip(list).all(|((k, v), (l, w))| k == l && v == w)
}

/// Whether going from `was` to `now` changes only a digest: a file still a file, a folder
/// still a folder, both hashed. The checker's diagnostics depend on a path's kind only, never
/// on its digest, so such a change changes nothing but the key fields that read the digest
/// (`hir::step_key_paths`).
pub fn content_only(was: &FsState, now: &FsState) -> bool {
    matches!(
        (was, now),
        (FsState::File(_), FsState::File(_)) | (FsState::Dir(Some(_)), FsState::Dir(Some(_)))
    )
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    put_bytes(out, s.as_bytes());
}

fn put_len(out: &mut Vec<u8>, n: usize) {
    out.extend_from_slice(&u32::try_from(n).unwrap_or(u32::MAX).to_le_bytes());
}

fn encode_state(out: &mut Vec<u8>, s: &FsState) {
    match s {
        FsState::Unknown => out.push(0),
        FsState::Missing => out.push(1),
        FsState::File(d) => {
            out.push(2);
            out.extend_from_slice(&d.0);
        }
        FsState::Dir(None) => out.push(3),
        FsState::Dir(Some(d)) => {
            out.push(4);
            out.extend_from_slice(&d.0);
        }
    }
}

fn encode_opt_stamp(out: &mut Vec<u8>, stamp: Option<&FileStamp>) {
    match stamp {
        None => out.push(0),
        Some(st) => {
            out.push(1);
            st.encode(out);
        }
    }
}

fn decode_opt_stamp(r: &mut Reader<'_>) -> Option<Option<FileStamp>> {
    match r.take(1)?[0] {
        0 => Some(None),
        1 => Some(Some(FileStamp::decode(r)?)),
        _ => None,
    }
}

fn encode_stamps(out: &mut Vec<u8>, stamps: &[(String, FileStamp)]) {
    put_len(out, stamps.len());
    for (rel, stamp) in stamps {
        put_str(out, rel);
        stamp.encode(out);
    }
}

fn encode(m: &BuildMemo) -> Vec<u8> {
    let mut out = Vec::with_capacity(64 + m.steps.len() * 512);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&m.invocation.0);
    out.extend_from_slice(&m.written_ns.to_le_bytes());
    out.extend_from_slice(&m.run.to_le_bytes());
    out.extend_from_slice(&m.text.0);
    encode_opt_stamp(&mut out, m.text_stamp.as_ref());
    put_str(&mut out, &m.pipeline);
    put_str(&mut out, &m.experiment);
    put_str(&mut out, &m.pipeline_path);
    put_len(&mut out, m.params.len());
    for (k, v) in &m.params {
        put_str(&mut out, k);
        put_str(&mut out, v);
    }
    put_len(&mut out, m.paths.len());
    for p in &m.paths {
        put_str(&mut out, &p.path);
        out.push(u8::from(p.digest));
        encode_state(&mut out, &p.state);
        encode_opt_stamp(&mut out, p.stamp.as_ref());
    }
    put_len(&mut out, m.folders.len());
    for f in &m.folders {
        put_str(&mut out, &f.path);
        out.push(f.kind.tag());
        f.stamp.encode(&mut out);
    }
    put_len(&mut out, m.steps.len());
    for s in &m.steps {
        put_str(&mut out, &s.name);
        out.extend_from_slice(&s.key.0);
        out.extend_from_slice(&s.run_id.to_le_bytes());
        out.extend_from_slice(&s.base_run_id.to_le_bytes());
        put_len(&mut out, s.outputs.len());
        for (name, d) in &s.outputs {
            put_str(&mut out, name);
            out.extend_from_slice(&d.0);
        }
        encode_stamps(&mut out, &s.blobs);
        put_len(&mut out, s.folders.len());
        for i in &s.folders {
            out.extend_from_slice(&i.to_le_bytes());
        }
    }
    seal(&mut out);
    out
}

fn digest(r: &mut Reader<'_>) -> Option<Digest> {
    Some(Digest(r.take(32)?.try_into().ok()?))
}

fn string(r: &mut Reader<'_>) -> Option<String> {
    r.str().map(str::to_owned)
}

fn decode_stamps(r: &mut Reader<'_>) -> Option<Vec<(String, FileStamp)>> {
    let n = r.u32()? as usize;
    let mut out = Vec::with_capacity(n.min(1 << 16));
    for _ in 0..n {
        out.push((string(r)?, FileStamp::decode(r)?));
    }
    Some(out)
}

fn decode(bytes: &[u8]) -> Option<BuildMemo> {
    let mut r = Reader::open_sealed(bytes, MAGIC)?;
    let invocation = digest(&mut r)?;
    let written_ns = r.i64()?;
    let run = r.i64()?;
    let text = digest(&mut r)?;
    let text_stamp = decode_opt_stamp(&mut r)?;
    let pipeline = string(&mut r)?;
    let experiment = string(&mut r)?;
    let pipeline_path = string(&mut r)?;
    let n = r.u32()? as usize;
    let mut params = Vec::with_capacity(n.min(1 << 16));
    for _ in 0..n {
        params.push((string(&mut r)?, string(&mut r)?));
    }
    let n = r.u32()? as usize;
    let mut paths = Vec::with_capacity(n.min(1 << 16));
    for _ in 0..n {
        let path = string(&mut r)?;
        let digest_flag = r.take(1)?[0] != 0;
        let state = match r.take(1)?[0] {
            0 => FsState::Unknown,
            1 => FsState::Missing,
            2 => FsState::File(digest(&mut r)?),
            3 => FsState::Dir(None),
            4 => FsState::Dir(Some(digest(&mut r)?)),
            _ => return None,
        };
        let stamp = decode_opt_stamp(&mut r)?;
        paths.push(MemoPath { path, digest: digest_flag, state, stamp });
    }
    let n = r.u32()? as usize;
    let mut folders = Vec::with_capacity(n.min(1 << 16));
    for _ in 0..n {
        let path = string(&mut r)?;
        let kind = StampKind::of_tag(r.take(1)?[0])?;
        folders.push(MemoFolder { path, kind, stamp: FileStamp::decode(&mut r)? });
    }
    let n = r.u32()? as usize;
    let mut steps = Vec::with_capacity(n.min(1 << 16));
    for _ in 0..n {
        let name = string(&mut r)?;
        let key = digest(&mut r)?;
        let run_id = r.i64()?;
        let base_run_id = r.i64()?;
        let k = r.u32()? as usize;
        let mut outputs: Vec<(String, Digest)> = Vec::with_capacity(k.min(1 << 16));
        for _ in 0..k {
            let o = string(&mut r)?;
            // Sorted and unique, as written from a map.
            if outputs.last().is_some_and(|(last, _)| *last >= o) {
                return None;
            }
            outputs.push((o, digest(&mut r)?));
        }
        let blobs = decode_stamps(&mut r)?;
        let k = r.u32()? as usize;
        let mut step_folders = Vec::with_capacity(k.min(1 << 16));
        for _ in 0..k {
            let i = r.u32()?;
            if i as usize >= folders.len() {
                return None;
            }
            step_folders.push(i);
        }
        steps.push(MemoStep {
            name,
            key,
            run_id,
            base_run_id,
            outputs,
            blobs,
            folders: step_folders,
        });
    }
    r.is_empty().then_some(BuildMemo {
        invocation,
        written_ns,
        run,
        text,
        text_stamp,
        pipeline,
        experiment,
        pipeline_path,
        params,
        paths,
        folders,
        steps,
    })
}

pub mod keys;

#[cfg(test)]
mod tests;
