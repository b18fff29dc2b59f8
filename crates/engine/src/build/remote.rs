//! The shared cache (`[cache] remote`): results a build did not find here are looked up
//! there, results of steps that ran here are written there (`stores::SharedCache` moves
//! the bytes; this module decides what moves).
//!
//! Import, on a local miss: the entry (`ac/<key>`) is read; every output's manifest must be
//! embedded in it; the blobs the `download` setting wants and the local CAS lacks are
//! downloaded and stored through `Cache::put_blob_file`, which hashes them first (a blob
//! that does not hash to its digest is never stored, and the entry is not used); the entry
//! is then written to the local action cache with `run_id` 0 and its `origin`, and the
//! producing run's logs and metrics are kept in `.runner/shared/<key>/`. From then on the
//! step's result is local: the normal lookup (which verifies every blob) reuses it.
//!
//! Export, once a step's entry is in the local action cache: each blob, then the logs, then
//! the entry, every write create-only, so an entry in the store names blobs that are there.
//!
//! A store that fails (down, refusing, timing out after the client's retries) is said once
//! as a warning and not asked again in this build: the build goes on with the local cache.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::Context as _;
use cache::{ActionResult, Digest};
use serde::{Deserialize, Serialize};

use super::{Shared, export};

/// Which outputs of a result taken from the shared cache are downloaded (`[cache]
/// download`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Download {
    /// Every output.
    All,
    /// Outputs no step of the pipeline reads (Bazel's "build without the bytes"): an
    /// output a step that runs needs is fetched then.
    Final,
    /// None: the results are known, their bytes stay in the store.
    None,
}

/// The shared cache of one build.
pub(crate) struct Remote {
    store: Arc<stores::SharedCache>,
    download: Download,
    /// Set at the first failure: the store is not asked again in this build.
    failed: Arc<AtomicBool>,
    /// Whether the failure was said (once).
    warned: AtomicBool,
    /// The upload queue (`None`: `upload = false`).
    exporter: Option<export::Exporter>,
    /// Where the producing runs' logs and metrics are kept (`.runner/shared/`).
    logs: PathBuf,
    /// Keys the store was asked for in this build and did not have: not asked again.
    missed: std::sync::Mutex<std::collections::HashSet<Digest>>,
}

/// What the store keeps beside an entry: the producing run's logs and metrics.
#[derive(Serialize, Deserialize, Default)]
pub(crate) struct Logs {
    pub(crate) stdout: String,
    pub(crate) stderr: String,
    pub(crate) metrics: Vec<(String, f64)>,
}

/// The small blobs an exported entry carries itself (`inline`: hex of each, by digest, as
/// Bazel's remote cache inlines small outputs), so that a result whose outputs are small
/// is imported with one request. Read beside the `ActionResult` the entry also is.
#[derive(Deserialize, Default)]
struct Inline {
    #[serde(default)]
    inline: BTreeMap<String, String>,
}

impl Inline {
    /// The blobs whose digest and hex parse (anything else is ignored: every blob is
    /// hashed before it is stored anyway).
    fn decoded(self) -> BTreeMap<Digest, Vec<u8>> {
        self.inline
            .into_iter()
            .filter_map(|(d, hex)| Some((d.parse().ok()?, export::unhex(&hex)?)))
            .collect()
    }
}

/// Requests in flight at once when a build starts by importing many results.
const PREFETCH_THREADS: usize = 8;

impl Remote {
    /// The shared cache `[cache]` declares for the pipeline indexed by `ix`, opened for a
    /// build of run `run_id` of `pipeline` in `root`, or `None` when there is none.
    ///
    /// Errors: the store cannot be opened (no credentials): the build does not start.
    pub(crate) fn open(
        ix: &hir::Index,
        cache: &cache::Cache,
        (root, state): (&std::path::Path, &std::path::Path),
        run_id: i64,
        pipeline: &str,
    ) -> anyhow::Result<Option<Remote>> {
        let Some(info) = &ix.cache else { return Ok(None) };
        let remote = ix.remote_datastores.get(&info.remote);
        let folder = ix.datastores.get(&info.remote).map(|f| root.join(f)).unwrap_or_default();
        let store = stores::open_shared(&info.remote, remote, &folder)
            .with_context(|| format!("opening the shared cache `{}`", info.remote))?;
        let download = match info.download.as_str() {
            "all" => Download::All,
            "none" => Download::None,
            _ => Download::Final,
        };
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
        let origin = format!("run {run_id} of {pipeline} in {} on {}", root.display(), host.trim());
        let (store, failed) = (Arc::new(store), Arc::new(AtomicBool::new(false)));
        let exporter = info
            .upload
            .then(|| export::Exporter::new(store.clone(), cache.clone(), origin, failed.clone()));
        Ok(Some(Remote {
            store,
            download,
            failed,
            warned: AtomicBool::new(false),
            exporter,
            logs: state.join("shared"),
            missed: std::sync::Mutex::default(),
        }))
    }

    /// Requests made, bytes downloaded, bytes uploaded.
    pub(crate) fn traffic(&self) -> (u64, u64, u64) {
        self.store.traffic()
    }

    fn fail(&self, shared: &Shared, e: &dyn std::fmt::Display) {
        self.failed.store(true, Ordering::Relaxed);
        if !self.warned.swap(true, Ordering::Relaxed) {
            let name = self.store.name();
            shared.warn(
                None,
                format!("the shared cache `{name}` failed ({e}); this build goes on with the local cache"),
            );
        }
    }

    /// The folder holding the logs of the run that produced the shared result of `key`.
    pub(crate) fn logs_of(&self, key: &Digest) -> PathBuf {
        self.logs.join(key.to_hex())
    }

    /// Looks `key` (of step `i`) up in the shared cache and, when found and verified, puts
    /// it in the local cache with the blobs of the outputs `download` wants (`final` leaves
    /// the outputs some step reads in the store). Returns whether it did; the caller then
    /// looks the key up locally.
    pub(crate) fn import(&self, shared: &Shared, i: usize, key: &Digest) -> bool {
        if self.failed.load(Ordering::Relaxed) {
            return false;
        }
        match self.try_import(shared, i, key) {
            Ok(done) => done,
            Err(e) => {
                self.fail(shared, &format!("{e:#}"));
                false
            }
        }
    }

    fn try_import(&self, shared: &Shared, i: usize, key: &Digest) -> anyhow::Result<bool> {
        let read = &shared.read_outputs[i];
        if self.missed.lock().unwrap_or_else(|e| e.into_inner()).contains(key) {
            return Ok(false);
        }
        let Some(bytes) = self.store.get("ac", key)? else {
            self.missed.lock().unwrap_or_else(|e| e.into_inner()).insert(*key);
            return Ok(false);
        };
        let inline =
            serde_json::from_slice::<Inline>(&bytes).map(|i| i.decoded()).unwrap_or_default();
        let Ok(mut result) = serde_json::from_slice::<ActionResult>(&bytes) else {
            shared
                .warn(None, format!("shared cache entry {} does not parse: not used", key.short()));
            return Ok(false);
        };
        // The entry is hostile input: its output names become folder names (views), so they
        // must be the ones the step declares.
        let declared = shared.steps[i].step.outputs.iter().map(|o| &o.value);
        if !result.outputs.keys().eq(declared.collect::<std::collections::BTreeSet<_>>()) {
            let what =
                format!("shared cache entry {} names other outputs than the step's", key.short());
            shared.warn(None, format!("{what}: not used"));
            return Ok(false);
        }
        for name in result.outputs.keys() {
            let Some(m) = result.manifest(name) else {
                let what =
                    format!("shared cache entry {} lacks the manifest of {name}", key.short());
                shared.warn(None, format!("{what}: not used"));
                return Ok(false);
            };
            let fetch = match self.download {
                Download::All => true,
                Download::Final => !read.contains(name),
                Download::None => false,
            };
            if fetch && let Some(why) = self.fetch_blobs(shared, m, &inline)? {
                shared.warn(None, format!("{why}: entry {} not used", key.short()));
                return Ok(false);
            }
        }
        self.keep_logs(key);
        result.run_id = 0;
        result.origin.get_or_insert_with(|| "the shared cache".to_owned());
        shared.cache.put_action(key, &result).context("writing the local action cache")?;
        Ok(true)
    }

    /// Imports, several at once, the shared results of the steps that read no other step's
    /// output (their keys are known before anything is reused) and that the local cache
    /// lacks: a fresh clone of a wide pipeline then waits for [`PREFETCH_THREADS`] requests
    /// at a time instead of one. What is not imported here is looked up one by one later.
    pub(crate) fn prefetch_roots(&self, shared: &Shared, deps: &[Vec<usize>]) {
        if shared.policy.regenerate {
            return;
        }
        let roots: Vec<(usize, Digest)> = (0..shared.steps.len())
            .filter(|&i| deps[i].is_empty() && shared.steps[i].step.allow_reuse)
            .filter_map(|i| {
                let record = plan::KeyRecord::new(&shared.steps[i].fields, |_, _| None).ok()?;
                let key = record.digest();
                matches!(shared.cache.get_action(&key), Ok(None)).then_some((i, key))
            })
            .collect();
        if roots.len() < 2 {
            return;
        }
        let next = std::sync::atomic::AtomicUsize::new(0);
        std::thread::scope(|s| {
            for _ in 0..PREFETCH_THREADS.min(roots.len()) {
                s.spawn(|| {
                    while !self.failed.load(Ordering::Relaxed) {
                        let k = next.fetch_add(1, Ordering::Relaxed);
                        let Some((i, key)) = roots.get(k) else { break };
                        self.import(shared, *i, key);
                    }
                });
            }
        });
    }

    /// Downloads the blobs of `m` the local CAS lacks, for a step about to read them (an
    /// output `download = "final"` left in the store).
    ///
    /// Errors: the store failed (now or earlier in this build), or lacks or garbles a blob.
    pub(crate) fn ensure(&self, shared: &Shared, m: &cache::Manifest) -> anyhow::Result<()> {
        if m.blobs().iter().all(|d| shared.cache.blob_path(d).is_file()) {
            return Ok(());
        }
        let name = self.store.name();
        anyhow::ensure!(
            !self.failed.load(Ordering::Relaxed),
            "its bytes are in the shared cache `{name}`, which failed earlier in this build"
        );
        match self.fetch_blobs(shared, m, &BTreeMap::new()) {
            Ok(None) => Ok(()),
            Ok(Some(why)) => anyhow::bail!("{why}"),
            Err(e) => {
                self.fail(shared, &format!("{e:#}"));
                Err(e.context(format!("fetching its bytes from the shared cache `{name}`")))
            }
        }
    }

    /// Downloads the blobs of `m` the local CAS lacks. `Some(why)`: the store lacks one, or
    /// gave bytes that do not hash to its name (not stored).
    fn fetch_blobs(
        &self,
        shared: &Shared,
        m: &cache::Manifest,
        inline: &BTreeMap<Digest, Vec<u8>>,
    ) -> anyhow::Result<Option<String>> {
        for d in m.blobs() {
            if let Some(why) = self.fetch_blob(shared, &d, inline.get(&d))? {
                return Ok(Some(why));
            }
        }
        Ok(None)
    }

    /// Stores blob `d` from `inline` (its bytes, carried in the entry) or from the store,
    /// unless the local CAS has it. Either way the bytes are hashed before they are stored.
    fn fetch_blob(
        &self,
        shared: &Shared,
        d: &Digest,
        inline: Option<&Vec<u8>>,
    ) -> anyhow::Result<Option<String>> {
        if shared.cache.blob_path(d).is_file() {
            return Ok(None);
        }
        let tmp = tempfile::NamedTempFile::new_in(shared.state.join("tmp").as_path())
            .or_else(|_| tempfile::NamedTempFile::new())
            .context("a temporary file for a download")?;
        if let Some(bytes) = inline {
            std::fs::write(tmp.path(), bytes).context("writing an inlined blob")?;
        } else if !self.store.get_blob(d, tmp.path())? {
            return Ok(Some(format!("the shared cache lacks blob {}", d.short())));
        }
        match shared.cache.put_blob_file(tmp.path(), d) {
            Ok(()) => Ok(None),
            Err(cache::Error::Changed { .. }) => {
                Ok(Some(format!("shared cache blob {} does not hash to its name", d.short())))
            }
            Err(e) => Err(e).context("storing a downloaded blob"),
        }
    }

    /// Keeps the producing run's logs and metrics in `.runner/shared/<key>/` (best effort:
    /// a result without them is still a result).
    fn keep_logs(&self, key: &Digest) {
        let Ok(Some(bytes)) = self.store.get("logs", key) else { return };
        let Ok(logs) = serde_json::from_slice::<Logs>(&bytes) else { return };
        let dir = self.logs_of(key);
        let _ = std::fs::create_dir_all(&dir);
        let _ = cache::write_replace(&dir.join("stdout.log"), logs.stdout.as_bytes());
        let _ = cache::write_replace(&dir.join("stderr.log"), logs.stderr.as_bytes());
        let metrics: String = logs.metrics.iter().map(|(k, v)| format!("{k} {v}\n")).collect();
        let _ = cache::write_replace(&dir.join("metrics.txt"), metrics.as_bytes());
    }

    /// Queues the result of `key`, made by this build, for the shared cache with its logs
    /// (`log_dir`) and metrics, unless `upload = false` or the store failed: uploaded by
    /// `export::EXPORT_THREADS` threads while the build goes on; [`Remote::drain`] waits.
    pub(crate) fn export(
        &self,
        key: &Digest,
        result: &ActionResult,
        log_dir: Option<&str>,
        metrics: &[(String, f64)],
    ) {
        if let Some(exporter) = &self.exporter
            && !self.failed.load(Ordering::Relaxed)
        {
            let job = export::Export {
                key: *key,
                result: result.clone(),
                log_dir: log_dir.map(PathBuf::from),
                metrics: metrics.to_vec(),
            };
            exporter.send(job);
        }
    }

    /// Waits for every queued upload; says once if the store failed meanwhile. Blocking.
    pub(crate) fn drain(&self, shared: &Shared) {
        if let Some(e) = self.exporter.as_ref().and_then(export::Exporter::finish) {
            self.fail(shared, &e);
        }
    }
}
