//! Uploading the results of steps that ran to the shared cache, on [`EXPORT_THREADS`]
//! threads beside the build (`Remote::export` queues, `Remote::drain` waits): each result's
//! blobs, then its logs and metrics, then its entry, every write create-only, so an entry
//! in the store names blobs that are there.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, Sender};
use std::sync::{Arc, Mutex};

use anyhow::Context as _;
use cache::{ActionResult, Cache, Digest};

use super::remote::Logs;

/// Uploads in flight at once.
pub(crate) const EXPORT_THREADS: usize = 8;

/// At most this much of each log goes to the store (its end, where errors are).
const LOG_TAIL: usize = 1 << 20;

/// Blobs up to this size are also carried in the entry (`inline`), up to [`INLINE_TOTAL`]
/// per entry: a reader then needs one request for the result.
const INLINE_MAX: u64 = 16 << 10;
const INLINE_TOTAL: u64 = 64 << 10;

/// Lowercase hex of `bytes`.
fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The bytes of lowercase or uppercase hex `text` (`None` when it is not hex).
pub(crate) fn unhex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len()).step_by(2).map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok()).collect()
}

/// One result to upload.
pub(crate) struct Export {
    pub(crate) key: Digest,
    pub(crate) result: ActionResult,
    pub(crate) log_dir: Option<PathBuf>,
    pub(crate) metrics: Vec<(String, f64)>,
}

/// What the upload threads share.
struct Ctx {
    store: Arc<stores::SharedCache>,
    cache: Cache,
    origin: String,
    /// Set at the first failure (shared with `Remote`): nothing more is asked of the store.
    failed: Arc<AtomicBool>,
    /// The first failure, said by `Remote::drain`.
    error: Mutex<Option<String>>,
}

/// The upload queue and its threads (started at the first result).
pub(crate) struct Exporter {
    ctx: Arc<Ctx>,
    queue: Mutex<Option<Sender<Export>>>,
    workers: Mutex<Vec<std::thread::JoinHandle<()>>>,
}

impl Exporter {
    pub(crate) fn new(
        store: Arc<stores::SharedCache>,
        cache: Cache,
        origin: String,
        failed: Arc<AtomicBool>,
    ) -> Exporter {
        let ctx = Arc::new(Ctx { store, cache, origin, failed, error: Mutex::default() });
        Exporter { ctx, queue: Mutex::default(), workers: Mutex::default() }
    }

    /// Queues `job`, starting the threads if this is the first.
    pub(crate) fn send(&self, job: Export) {
        let mut queue = self.queue.lock().unwrap_or_else(|e| e.into_inner());
        if queue.is_none() {
            let (tx, rx) = std::sync::mpsc::channel::<Export>();
            let rx = Arc::new(Mutex::new(rx));
            let mut workers = self.workers.lock().unwrap_or_else(|e| e.into_inner());
            for _ in 0..EXPORT_THREADS {
                let (ctx, rx) = (self.ctx.clone(), rx.clone());
                workers.push(std::thread::spawn(move || work(&ctx, &rx)));
            }
            *queue = Some(tx);
        }
        if let Some(tx) = queue.as_ref() {
            let _ = tx.send(job);
        }
    }

    /// Closes the queue, waits for every upload, and gives the first failure.
    pub(crate) fn finish(&self) -> Option<String> {
        drop(self.queue.lock().unwrap_or_else(|e| e.into_inner()).take());
        let workers = std::mem::take(&mut *self.workers.lock().unwrap_or_else(|e| e.into_inner()));
        for w in workers {
            let _ = w.join();
        }
        self.ctx.error.lock().unwrap_or_else(|e| e.into_inner()).take()
    }
}

fn work(ctx: &Ctx, rx: &Mutex<Receiver<Export>>) {
    loop {
        let job = match rx.lock().unwrap_or_else(|e| e.into_inner()).recv() {
            Ok(job) => job,
            Err(_) => return,
        };
        if ctx.failed.load(Ordering::Relaxed) {
            continue;
        }
        if let Err(e) = upload(ctx, job)
            && !ctx.failed.swap(true, Ordering::Relaxed)
        {
            *ctx.error.lock().unwrap_or_else(|e| e.into_inner()) = Some(format!("{e:#}"));
        }
    }
}

fn upload(ctx: &Ctx, job: Export) -> anyhow::Result<()> {
    let Export { key, mut result, log_dir, metrics } = job;
    for name in result.outputs.keys().cloned().collect::<Vec<_>>() {
        if result.manifest(&name).is_none() {
            let d = result.outputs[&name];
            let m = ctx.cache.get_manifest(&d)?.context("an output's manifest is gone")?;
            result.manifests.insert(name, m);
        }
    }
    let mut inline = serde_json::Map::new();
    let mut inlined = 0;
    for m in result.manifests.values() {
        for e in &m.entries {
            if e.size <= INLINE_MAX && inlined + e.size <= INLINE_TOTAL {
                let bytes = std::fs::read(ctx.cache.blob_path(&e.digest))?;
                inlined += e.size;
                inline.insert(e.digest.to_hex(), hex(&bytes).into());
            }
        }
        for d in m.blobs() {
            ctx.store.put_blob(&d, &ctx.cache.blob_path(&d))?;
        }
    }
    let read = |f: &str| {
        let text = log_dir
            .as_ref()
            .map(|d| std::fs::read_to_string(d.join(f)).unwrap_or_default())
            .unwrap_or_default();
        let cut = text.len().saturating_sub(LOG_TAIL);
        let cut = (cut..text.len()).find(|&i| text.is_char_boundary(i)).unwrap_or(text.len());
        text[cut..].to_owned()
    };
    let logs = Logs { stdout: read("stdout.log"), stderr: read("stderr.log"), metrics };
    // A step that printed and measured nothing has nothing to keep.
    if !(logs.stdout.is_empty() && logs.stderr.is_empty() && logs.metrics.is_empty()) {
        ctx.store.put("logs", &key, serde_json::to_vec(&logs)?)?;
    }
    result.origin = Some(ctx.origin.clone());
    let mut entry = serde_json::to_value(&result)?;
    if !inline.is_empty() {
        entry["inline"] = inline.into();
    }
    ctx.store.put("ac", &key, serde_json::to_vec(&entry)?)?;
    Ok(())
}
