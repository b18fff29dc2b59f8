//! The database owner: one OS thread holds every open pipeline's salsa database and applies
//! edits strictly in arrival order. Everyone else talks to it through [`Msg`]s:
//!
//! * `did_open`/`did_change`/`did_close`/`didChangeWatchedFiles` push a message and return,
//!   before any `.await`, so edits keep the client's order;
//! * a request asks for a [`Snapshot`] (a `db.clone()`) through the same channel, so it sees
//!   every edit sent before it, and runs on it elsewhere;
//! * after every write the thread starts a diagnostics job on a fresh snapshot; the next
//!   write cancels it (salsa unwinds the reader with `Cancelled`), and the publisher drops
//!   results older than what it already sent.
//!
//! The thread also does the disk side: it probes the paths the pipeline names
//! ([`driver::probe_with`], with an in-memory stat cache) when they first appear and when
//! the client says they changed.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, Sender};
use std::sync::{Arc, Mutex};

use hir::{FsState, RootDatabase, SourceFile};
use salsa::Setter as _;
use tower_lsp_server::Client;
use tower_lsp_server::ls_types::{self as lsp, TextDocumentContentChangeEvent, Uri};

use crate::convert::{self, Enc};

/// What the database thread is asked to do.
pub enum Msg {
    /// A document was opened.
    Open {
        /// Its URI.
        uri: Uri,
        /// Its version.
        version: i32,
        /// Its text.
        text: String,
    },
    /// A document changed.
    Change {
        /// Its URI.
        uri: Uri,
        /// The new version.
        version: i32,
        /// The changes, in order.
        changes: Vec<TextDocumentContentChangeEvent>,
    },
    /// A document was saved (its file on disk may differ now: re-check its encoding and
    /// the paths it names, for clients that do not watch files).
    Saved(Uri),
    /// A document was closed.
    Close(Uri),
    /// Files changed on disk (from `workspace/didChangeWatchedFiles`).
    FilesChanged(Vec<PathBuf>),
    /// A request wants a snapshot of this document.
    Snapshot(Uri, tokio::sync::oneshot::Sender<Option<Snapshot>>),
}

/// A read-only view of one document for a request: a clone of its database.
pub struct Snapshot {
    /// The database (a salsa snapshot: reads only; a write elsewhere cancels it).
    pub db: RootDatabase,
    /// The pipeline file in `db`.
    pub file: SourceFile,
    /// The document's URI.
    pub uri: Uri,
    /// The document's version.
    pub version: i32,
    /// The pipeline file on disk, for `file:` URIs.
    pub path: Option<PathBuf>,
    /// Its folder: relative paths in the pipeline start here.
    pub root: Option<PathBuf>,
    /// The negotiated position encoding.
    pub enc: Enc,
    /// Byte offset of the first invalid UTF-8 sequence in the file on disk, when the
    /// buffer is that file read lossily.
    pub encoding_error: Option<usize>,
    /// Bumped on every write to this document's database (text or files).
    pub generation: u64,
    /// Bumped when `.runner/` under the document's folder changed.
    pub runner_generation: u64,
}

/// State shared between the protocol side and the database thread.
pub struct Shared {
    /// The negotiated position encoding.
    pub enc: Mutex<Enc>,
    /// Whether the client takes `workspace/codeLens/refresh`.
    pub code_lens_refresh: std::sync::atomic::AtomicBool,
    /// Whether the client registers file watchers dynamically, and with relative patterns.
    pub watch: Mutex<(bool, bool)>,
    /// Bumped when any `.runner/` folder changed (lens caches key on it).
    pub runner_generation: AtomicU64,
    /// Plans computed for lenses and hovers: (uri) → (generation, runner generation, when, plan).
    pub plans: Mutex<HashMap<Uri, PlanEntry>>,
    /// One cache per `.runner/` folder planned against, kept between plans (its action cache
    /// entries and verified blobs stay in memory) while it is current.
    pub caches: Mutex<HashMap<PathBuf, cache::Cache>>,
    /// Per `.runner/` folder, the stamp of the recorded state and the undeclared reads of
    /// each step's last success (`handlers::diagnostics`).
    pub reads: Mutex<HashMap<PathBuf, (u64, Arc<crate::handlers::diagnostics::Reads>)>>,
}

/// A cached plan.
pub struct PlanEntry {
    /// Document generation it was computed at.
    pub generation: u64,
    /// `.runner/` generation it was computed at.
    pub runner_generation: u64,
    /// Stamp of the recorded state it was computed from.
    pub stamp: u64,
    /// When.
    pub at: std::time::Instant,
    /// The plan.
    pub plan: Arc<ide::PlanView>,
}

impl Shared {
    pub fn new() -> Shared {
        Shared {
            enc: Mutex::new(Enc::Utf16),
            code_lens_refresh: Default::default(),
            watch: Mutex::new((false, false)),
            runner_generation: AtomicU64::new(0),
            plans: Mutex::new(HashMap::new()),
            caches: Mutex::new(HashMap::new()),
            reads: Mutex::new(HashMap::new()),
        }
    }

    /// The kept cache of the state folder `state` (`.runner/`), opened on first use; `None`
    /// while it has no `cache` folder (nothing was ever built: planning opens nothing).
    pub fn cache(&self, state: &Path) -> Option<cache::Cache> {
        let root = state.join("cache");
        let mut caches = self.caches.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(c) = caches.get(state).filter(|c| c.is_current()) {
            return Some(c.clone());
        }
        if !root.join("cas").is_dir() {
            caches.remove(state);
            return None;
        }
        let c = cache::Cache::open(&root).ok()?.remembering();
        caches.insert(state.to_path_buf(), c.clone());
        Some(c)
    }

    pub fn enc(&self) -> Enc {
        *self.enc.lock().unwrap_or_else(|e| e.into_inner())
    }
}

struct Doc {
    uri: Uri,
    version: i32,
    db: RootDatabase,
    file: SourceFile,
    path: Option<PathBuf>,
    root: Option<PathBuf>,
    encoding_error: Option<usize>,
    generation: u64,
    /// Paths already probed (relative, as `needed_paths` names them).
    probed: HashSet<String>,
    stats: Option<driver::StatCache>,
}

/// A finished diagnostics job, for the publisher.
pub struct Published {
    pub uri: Uri,
    pub version: i32,
    pub generation: u64,
    pub diagnostics: Vec<lsp::Diagnostic>,
}

/// Starts the database thread. Returns the channel to it.
pub fn spawn(
    shared: Arc<Shared>,
    client: Client,
    rt: tokio::runtime::Handle,
) -> anyhow::Result<Sender<Msg>> {
    let (tx, rx) = std::sync::mpsc::channel::<Msg>();
    let (pub_tx, pub_rx) = tokio::sync::mpsc::unbounded_channel::<Published>();
    rt.spawn(publisher(client.clone(), pub_rx));
    std::thread::Builder::new().name("runner-lsp-db".to_owned()).spawn(move || {
        let mut main = Main {
            docs: HashMap::new(),
            shared,
            client,
            rt,
            publish: pub_tx,
            watched_roots: HashSet::new(),
        };
        main.run(rx);
    })?;
    Ok(tx)
}

/// Publishes diagnostics in order, dropping any older than what was already sent.
async fn publisher(client: Client, mut rx: tokio::sync::mpsc::UnboundedReceiver<Published>) {
    let mut sent: HashMap<Uri, u64> = HashMap::new();
    while let Some(p) = rx.recv().await {
        let last = sent.entry(p.uri.clone()).or_insert(0);
        if p.generation < *last {
            continue;
        }
        *last = p.generation;
        client.publish_diagnostics(p.uri, p.diagnostics, Some(p.version)).await;
    }
}

struct Main {
    docs: HashMap<Uri, Doc>,
    shared: Arc<Shared>,
    client: Client,
    rt: tokio::runtime::Handle,
    publish: tokio::sync::mpsc::UnboundedSender<Published>,
    watched_roots: HashSet<PathBuf>,
}

impl Main {
    fn run(&mut self, rx: Receiver<Msg>) {
        while let Ok(msg) = rx.recv() {
            // A bug in one message must not take the database thread down with it.
            let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.handle(msg)));
            if r.is_err() {
                crate::log("internal error while applying a change (recovered)");
            }
        }
    }

    fn handle(&mut self, msg: Msg) {
        match msg {
            Msg::Open { uri, version, text } => self.open(uri, version, text),
            Msg::Change { uri, version, changes } => self.change(&uri, version, changes),
            Msg::Saved(uri) => {
                if let Some(doc) = self.docs.get_mut(&uri) {
                    doc.encoding_error =
                        encoding_error(doc.path.as_deref(), doc.file.text(&doc.db));
                    doc.probed.clear();
                    self.after_write(&uri, true);
                }
            }
            Msg::Close(uri) => {
                self.docs.remove(&uri);
                self.shared.plans.lock().unwrap_or_else(|e| e.into_inner()).remove(&uri);
                let client = self.client.clone();
                self.rt
                    .spawn(async move { client.publish_diagnostics(uri, Vec::new(), None).await });
            }
            Msg::FilesChanged(paths) => self.files_changed(&paths),
            Msg::Snapshot(uri, reply) => {
                let snap = self.docs.get(&uri).map(|d| self.snapshot(d));
                let _ = reply.send(snap);
            }
        }
    }

    fn snapshot(&self, d: &Doc) -> Snapshot {
        Snapshot {
            db: d.db.clone(),
            file: d.file,
            uri: d.uri.clone(),
            version: d.version,
            path: d.path.clone(),
            root: d.root.clone(),
            enc: self.shared.enc(),
            encoding_error: d.encoding_error,
            generation: d.generation,
            runner_generation: self.shared.runner_generation.load(Ordering::SeqCst),
        }
    }

    fn open(&mut self, uri: Uri, version: i32, text: String) {
        let path = convert::uri_path(&uri);
        let root = path.as_ref().map(|p| match p.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
            _ => PathBuf::from("."),
        });
        let encoding_error = encoding_error(path.as_deref(), &text);
        let db = RootDatabase::default();
        let display =
            path.as_ref().map_or_else(|| uri.as_str().to_owned(), |p| p.display().to_string());
        let file = SourceFile::new(&db, display, text, Vec::new());
        let stats = root.as_ref().map(|r| driver::StatCache::new(r));
        if let Some(r) = &root {
            self.watch_root(r);
        }
        let doc = Doc {
            uri: uri.clone(),
            version,
            db,
            file,
            path,
            root,
            encoding_error,
            generation: 0,
            probed: HashSet::new(),
            stats,
        };
        self.docs.insert(uri.clone(), doc);
        self.after_write(&uri, false);
    }

    fn change(&mut self, uri: &Uri, version: i32, changes: Vec<TextDocumentContentChangeEvent>) {
        let enc = self.shared.enc();
        let Some(doc) = self.docs.get_mut(uri) else { return };
        if version <= doc.version && version != 0 {
            // A stale or replayed edit: versions only grow.
            return;
        }
        let mut text = doc.file.text(&doc.db).clone();
        for ch in changes {
            match ch.range {
                None => text = ch.text,
                Some(r) => {
                    let li = line_index::LineIndex::new(&text);
                    let start = convert::offset(&li, &text, enc, r.start) as usize;
                    let end = (convert::offset(&li, &text, enc, r.end) as usize).max(start);
                    text.replace_range(start..end, &ch.text);
                }
            }
        }
        if doc.encoding_error.is_some() && !text.contains('\u{FFFD}') {
            doc.encoding_error = None;
        }
        doc.version = version;
        doc.file.set_text(&mut doc.db).to(text);
        self.after_write(uri, false);
    }

    /// After a write: probe paths the pipeline names that were not probed yet, bump the
    /// generation, start a diagnostics job, and (when files changed) ask for new lenses.
    fn after_write(&mut self, uri: &Uri, files_changed: bool) {
        let Some(doc) = self.docs.get_mut(uri) else { return };
        let mut changed = files_changed;
        if let Some(root) = doc.root.clone() {
            changed |= probe_fresh(doc, &root);
        }
        doc.generation += 1;
        let snap = self.snapshot(self.docs.get(uri).expect("doc exists"));
        self.start_diagnostics(snap);
        if changed {
            self.refresh_lenses();
        }
    }

    fn start_diagnostics(&self, snap: Snapshot) {
        let tx = self.publish.clone();
        let shared = self.shared.clone();
        self.rt.spawn_blocking(move || {
            let snap = snap;
            let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                salsa::Cancelled::catch(std::panic::AssertUnwindSafe(|| {
                    crate::handlers::diagnostics::compute(&shared, &snap)
                }))
            }));
            match r {
                Ok(Ok(diagnostics)) => {
                    let _ = tx.send(Published {
                        uri: snap.uri.clone(),
                        version: snap.version,
                        generation: snap.generation,
                        diagnostics,
                    });
                }
                Ok(Err(_cancelled)) => {} // a newer write started its own job
                Err(_) => crate::log("internal error computing diagnostics (recovered)"),
            }
        });
    }

    fn refresh_lenses(&self) {
        if self.shared.code_lens_refresh.load(Ordering::SeqCst) {
            let client = self.client.clone();
            self.rt.spawn(async move {
                let _ = client.code_lens_refresh().await;
            });
        }
    }

    /// Asks the client to watch `root/**/*` (once per folder), when it can.
    fn watch_root(&mut self, root: &Path) {
        let (dynamic, relative) = *self.shared.watch.lock().unwrap_or_else(|e| e.into_inner());
        if !dynamic || !self.watched_roots.insert(root.to_path_buf()) {
            return;
        }
        let abs = std::fs::canonicalize(root).unwrap_or_else(|_| root.to_path_buf());
        let glob = match (relative, convert::path_uri(&abs)) {
            (true, Some(base)) => lsp::GlobPattern::Relative(lsp::RelativePattern {
                base_uri: lsp::OneOf::Right(base),
                pattern: "**/*".to_owned(),
            }),
            _ => lsp::GlobPattern::String(format!("{}/**/*", abs.display())),
        };
        let options = lsp::DidChangeWatchedFilesRegistrationOptions {
            watchers: vec![lsp::FileSystemWatcher { glob_pattern: glob, kind: None }],
        };
        let registration = lsp::Registration {
            id: format!("runner-watch-{}", abs.display()),
            method: "workspace/didChangeWatchedFiles".to_owned(),
            register_options: serde_json::to_value(options).ok(),
        };
        let client = self.client.clone();
        self.rt.spawn(async move {
            let _ = client.register_capability(vec![registration]).await;
        });
    }

    /// Re-probes the paths the changed files touch, in every open pipeline.
    fn files_changed(&mut self, paths: &[PathBuf]) {
        let mut runner_state = false;
        let mut touched: Vec<Uri> = Vec::new();
        for doc in self.docs.values_mut() {
            let Some(root) = doc.root.clone() else { continue };
            let canon_root = std::fs::canonicalize(&root).unwrap_or_else(|_| root.clone());
            let rels: Vec<String> = paths
                .iter()
                .filter_map(|p| {
                    let p = p.strip_prefix(&canon_root).or_else(|_| p.strip_prefix(&root)).ok()?;
                    Some(
                        p.components()
                            .map(|c| c.as_os_str().to_string_lossy())
                            .collect::<Vec<_>>()
                            .join("/"),
                    )
                })
                .collect();
            if rels.iter().any(|r| r == ".runner" || r.starts_with(".runner/")) {
                runner_state = true;
            }
            let needs = hir::needed_paths(&doc.db, doc.file).clone();
            let mut changed = false;
            for need in needs {
                let hit = rels.iter().any(|r| {
                    r == &need.path
                        || need.path == "."
                        || r.starts_with(&format!("{}/", need.path))
                        || need.path.starts_with(&format!("{r}/"))
                });
                if hit {
                    changed |= probe_into(doc, &root, &need);
                    doc.probed.insert(need.path);
                }
            }
            // What changed may name more paths (a module a script now imports).
            changed |= probe_fresh(doc, &root);
            if changed {
                touched.push(doc.uri.clone());
            }
        }
        if runner_state {
            self.shared.runner_generation.fetch_add(1, Ordering::SeqCst);
            // A build recorded something: the undeclared reads (W0206) may have changed.
            for uri in self.docs.keys() {
                if !touched.contains(uri) {
                    touched.push(uri.clone());
                }
            }
        }
        for uri in &touched {
            if let Some(doc) = self.docs.get_mut(uri) {
                doc.generation += 1;
            }
            let snap = self.snapshot(&self.docs[uri]);
            self.start_diagnostics(snap);
        }
        if runner_state || !touched.is_empty() {
            self.refresh_lenses();
        }
    }
}

/// Probes every needed path not probed yet, then what those name in turn (the modules a
/// script imports), until nothing new is named. Returns whether a state changed.
fn probe_fresh(doc: &mut Doc, root: &Path) -> bool {
    let mut changed = false;
    loop {
        hir::prime(&doc.db, doc.file);
        let needs = hir::needed_paths(&doc.db, doc.file).clone();
        let fresh: Vec<hir::PathNeed> =
            needs.into_iter().filter(|n| !doc.probed.contains(&n.path)).collect();
        if fresh.is_empty() {
            return changed;
        }
        for need in fresh {
            changed |= probe_into(doc, root, &need);
            doc.probed.insert(need.path);
        }
    }
}

/// Sets what is at `need` on the document's database, and for a Python file what it
/// holds. Returns whether that changed.
fn probe_into(doc: &mut Doc, root: &Path, need: &hir::PathNeed) -> bool {
    let state = probe(root, need, doc.stats.as_mut());
    let mut changed = doc.db.set_fs_state(&need.path, state);
    if need.python {
        let abs = root.join(&need.path);
        let analysis =
            matches!(state, FsState::File(_)).then(|| driver::analyze_python(&abs)).flatten();
        changed |= doc.db.set_python(&need.path, analysis);
    }
    changed
}

/// What is at a needed path (missing when it cannot be read). A data reference in an
/// `azure_blob` or `s3` datastore is not asked of the store from the editor (no request
/// per keystroke, no credentials needed to edit): its state stays unknown, which no
/// diagnostic reports; `runner check` and `runner build` ask the store.
fn probe(root: &Path, need: &hir::PathNeed, stats: Option<&mut driver::StatCache>) -> FsState {
    if need.path.starts_with(&hir::remote_folder("")) {
        return FsState::Unknown;
    }
    let abs = if need.path == "." { root.to_path_buf() } else { root.join(&need.path) };
    let r = match stats {
        Some(s) => driver::probe_with(&abs, need.digest, s),
        None => driver::probe(&abs, need.digest),
    };
    r.unwrap_or(FsState::Missing)
}

/// Where the file on disk stops being UTF-8, when `text` is that file read lossily.
fn encoding_error(path: Option<&Path>, text: &str) -> Option<usize> {
    if !text.contains('\u{FFFD}') {
        return None;
    }
    let bytes = std::fs::read(path?).ok()?;
    match std::str::from_utf8(&bytes) {
        Ok(_) => None,
        Err(e) => (String::from_utf8_lossy(&bytes) == text).then(|| e.valid_up_to()),
    }
}
