//! Loading a pipeline: find the file, read it, fill the database, hash the paths it names.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context as _;
use cache::StatCache;
use hir::{Diagnostic, FsState, RootDatabase, SourceFile};
use salsa::Setter as _;

use crate::datastore::{Datastore, Datastores};

/// A loaded pipeline: its database and where things are.
pub struct Project {
    /// The folder holding the pipeline file; relative paths in the file start here.
    pub root: PathBuf,
    /// The pipeline file as the user named it (for messages).
    pub display: String,
    /// The pipeline file's path (as found by [`locate`]).
    pub path: PathBuf,
    /// The checker's database.
    pub db: RootDatabase,
    /// The pipeline file's input in `db`.
    pub file: SourceFile,
    /// Datastores the host brought for some of the pipeline's datastore names (the others
    /// are the pipeline's own local folders). Set before the first refresh.
    pub datastores: Datastores,
    /// Byte offset of the first invalid UTF-8 sequence, if any.
    encoding_error: Option<usize>,
    /// What each Python file read so far holds, by the digest of its bytes: a file is
    /// parsed once per content for the life of the project (watch mode, the language
    /// server), and not at all by a build the memo answers.
    python: HashMap<hir::Digest, Arc<python::Analysis>>,
    /// The remote datastores this project opened itself, as declared when opened.
    opened: HashMap<String, hir::DatastoreInfo>,
    /// The state folder, when it is not `.runner/` beside the pipeline
    /// ([`Project::with_state_dir`]).
    state: Option<PathBuf>,
}

/// Where a data reference's (or any named path's) bytes are: the one rule for the
/// driver's probing and the engine's fetching ([`Project::data_source`]).
#[derive(Clone)]
pub enum DataSource {
    /// On this machine, read in place (absolute when the project's folder is).
    Here(PathBuf),
    /// In a datastore the host registered that is not a folder here: identified there,
    /// fetched for a step that runs. The path is inside the store.
    Store(Arc<dyn Datastore>, String),
}

impl Project {
    /// Ends this process's use of the project without freeing it, for a command that exits
    /// next: freeing the checker's database of a 10,000-step pipeline took 9% of a
    /// `runner build --dry-run` (measured with `perf`), and the OS reclaims it at once.
    pub fn forget(self) {
        std::mem::forget(self);
    }
}

/// The pipeline file for `path`: the file itself, or `pipeline.toml` (else the only
/// `*.pipeline.toml`) in a folder.
pub fn locate(path: &Path) -> anyhow::Result<PathBuf> {
    if path.is_dir() {
        let candidate = path.join("pipeline.toml");
        if candidate.is_file() {
            return Ok(candidate);
        }
        let mut found: Vec<PathBuf> = std::fs::read_dir(path)
            .with_context(|| format!("reading {}", path.display()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.ends_with(".pipeline.toml"))
            })
            .collect();
        found.sort();
        return match found.len() {
            1 => Ok(found.remove(0)),
            0 => anyhow::bail!("no pipeline.toml in {}", path.display()),
            _ => anyhow::bail!("several *.pipeline.toml in {}: name one", path.display()),
        };
    }
    if path.exists() {
        return Ok(path.to_path_buf());
    }
    anyhow::bail!("{} does not exist", path.display())
}

/// The folder a pipeline file's relative paths start from (`.` for a bare file name); its
/// state folder is `.runner/` there.
pub fn folder_of(file: &Path) -> PathBuf {
    match file.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

impl Project {
    /// Reads the pipeline at `path` (file or folder) with `--param` overrides.
    ///
    /// Errors: no pipeline file there, it cannot be read, or its state folder (or an entry
    /// in it) leads outside the project ([`crate::checked_state_dir`]): every command
    /// that loads a project may write there.
    pub fn load(path: &Path, overrides: Vec<(String, String)>) -> anyhow::Result<Project> {
        let file_path = locate(path)?;
        let (text, encoding_error) = read_text(&file_path)?;
        let root = folder_of(&file_path);
        crate::checked_state_dir(&root)?;
        let display = file_path.display().to_string();
        let db = RootDatabase::default();
        let file = SourceFile::new(&db, display.clone(), text, overrides);
        let datastores = Datastores::default();
        Ok(Project {
            root,
            display,
            path: file_path,
            db,
            file,
            datastores,
            encoding_error,
            python: HashMap::new(),
            opened: HashMap::new(),
            state: None,
        })
    }

    /// Reads the pipeline file again and, if its text changed, sets the new text on the
    /// same database (salsa re-runs only what depends on what changed). Returns whether it
    /// changed.
    pub fn reload_text(&mut self) -> anyhow::Result<bool> {
        let (text, encoding_error) = read_text(&self.path)?;
        self.encoding_error = encoding_error;
        if *self.file.text(&self.db) == text {
            return Ok(false);
        }
        self.file.set_text(&mut self.db).to(text);
        Ok(true)
    }

    /// Looks at every path the pipeline names and sets what is there on the database
    /// (without a saved stat cache: every file is read).
    pub fn refresh_fs(&mut self) -> anyhow::Result<()> {
        let mut stats = StatCache::new(&self.root);
        self.refresh_fs_with(&mut stats).map(drop)
    }

    /// [`Self::refresh_fs`] through a stat cache: a file whose stat is unchanged since it was
    /// last hashed is not read (see [`cache::StatCache`]). Returns the paths whose state
    /// changed on the database.
    pub fn refresh_fs_with(&mut self, stats: &mut StatCache) -> anyhow::Result<Vec<String>> {
        hir::prime(&self.db, self.file);
        self.open_datastores()?;
        let needs = hir::needed_paths(&self.db, self.file).clone();
        let mut changed = self.refresh_needs(&needs, stats)?;
        changed.extend(self.settle(stats)?);
        Ok(changed)
    }

    /// Probes what the paths found so far name in turn (the modules a script imports,
    /// then theirs) until every path [`hir::needed_paths`] lists has been looked at.
    /// Returns the paths whose state changed.
    fn settle(&mut self, stats: &mut StatCache) -> anyhow::Result<Vec<String>> {
        let mut changed = Vec::new();
        let mut asked: HashSet<String> = HashSet::new();
        loop {
            let db = &self.db;
            let needs: Vec<hir::PathNeed> = hir::needed_paths(db, self.file)
                .iter()
                .filter(|n| {
                    let entry = hir::Db::fs_entry(db, &n.path);
                    let unread = n.python
                        && matches!(entry.state(db), FsState::File(_))
                        && entry.python(db).is_none();
                    (entry.state(db) == FsState::Unknown || unread) && !asked.contains(&n.path)
                })
                .cloned()
                .collect();
            if needs.is_empty() {
                return Ok(changed);
            }
            asked.extend(needs.iter().map(|n| n.path.clone()));
            changed.extend(self.refresh_needs(&needs, stats)?);
        }
    }

    /// [`Self::refresh_fs_with`] for the paths in `paths` only (relative, normalised, as
    /// [`hir::needed_paths`] names them; others are ignored), and for the paths what they
    /// hold names anew (a module a changed script now imports): what a file watcher calls
    /// for the paths an event touched. Returns the paths whose state changed.
    pub fn refresh_paths_with(
        &mut self,
        paths: &[String],
        stats: &mut StatCache,
    ) -> anyhow::Result<Vec<String>> {
        let needs: Vec<hir::PathNeed> = hir::needed_paths(&self.db, self.file)
            .iter()
            .filter(|n| paths.contains(&n.path))
            .cloned()
            .collect();
        let mut changed = self.refresh_needs(&needs, stats)?;
        changed.extend(self.settle(stats)?);
        Ok(changed)
    }

    /// Opens each `azure_blob` or `s3` datastore the pipeline declares that the host did not
    /// register (once per declaration: a changed table opens it anew), and has every store
    /// forget what it listed before, so this look sees every change made before it.
    ///
    /// Errors: a store without credentials (the message says which variables to set).
    fn open_datastores(&mut self) -> anyhow::Result<()> {
        let ix = hir::index(&self.db, self.file);
        for (name, info) in &ix.remote_datastores {
            if self.datastores.get(name).is_some()
                && !self.opened.get(name).is_some_and(|i| i != info)
            {
                continue;
            }
            let downloads = self.state_dir().join("datastores").join(name);
            let store = stores::open(name, info, downloads)?;
            self.datastores = std::mem::take(&mut self.datastores).with(name, store);
            self.opened.insert(name.clone(), info.clone());
        }
        self.datastores.forget();
        Ok(())
    }

    fn refresh_needs(
        &mut self,
        needs: &[hir::PathNeed],
        stats: &mut StatCache,
    ) -> anyhow::Result<Vec<String>> {
        // `hir::needed_paths` lists no path holding a NUL (the checker reports it); one that
        // got here anyway is left unprobed rather than failing the whole load.
        let needs: Vec<&hir::PathNeed> = needs.iter().filter(|n| !n.path.contains('\0')).collect();
        let mut changed = Vec::new();
        let mut here = Vec::with_capacity(needs.len());
        let mut paths = Vec::with_capacity(needs.len());
        for need in needs {
            let at = need.datastore.as_ref().map(|(s, p)| (s.as_str(), p.as_str()));
            match self.data_source(at, &need.path) {
                DataSource::Here(path) => {
                    here.push(need);
                    paths.push(path);
                }
                DataSource::Store(store, path) => {
                    let state = store.identify(&path, need.digest)?;
                    if self.db.set_fs_state(&need.path, state) {
                        changed.push(need.path.clone());
                    }
                }
            }
        }
        // Every path here is stat'ed (and a file hashed through the stat cache) at once, on
        // several threads; folders are then hashed one by one.
        let probed = stats.probe_all(&paths);
        for ((need, path), probed) in here.iter().zip(&paths).zip(probed) {
            let state = match probed.with_context(|| format!("reading {}", path.display()))? {
                cache::Probed::Missing => FsState::Missing,
                cache::Probed::File(d) => FsState::File(d),
                cache::Probed::Dir if !need.digest => FsState::Dir(None),
                cache::Probed::Dir => probe_with(path, true, stats)?,
            };
            if self.db.set_fs_state(&need.path, state) {
                changed.push(need.path.clone());
            }
            if need.python && self.read_python(&need.path, path, state)? {
                changed.push(need.path.clone());
            }
        }
        Ok(changed)
    }

    /// Sets what the Python file `rel` (at `path`, found in `state`) holds, parsing it
    /// unless a file with the same bytes was parsed before. Returns whether it changed.
    ///
    /// The analysis must be of the bytes `state` names: a file rewritten between its hashing
    /// and this read has the digest of what was read set too, so a key never pairs one
    /// content's digest with another's imports.
    fn read_python(&mut self, rel: &str, path: &Path, state: FsState) -> anyhow::Result<bool> {
        let FsState::File(digest) = state else {
            return Ok(self.db.set_python(rel, None));
        };
        if let Some(known) = self.python.get(&digest) {
            let known = known.clone();
            return Ok(self.db.set_python(rel, Some(known)));
        }
        let bytes = match std::fs::read(path) {
            Ok(b) => b,
            Err(e) if cache::absent(&e) => {
                self.db.set_fs_state(rel, FsState::Missing);
                return Ok(self.db.set_python(rel, None));
            }
            Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
        };
        let read = hir::Digest::of_bytes(&bytes);
        // Not UTF-8: not Python source Python would run; its bytes stay its identity.
        let analysis = Arc::new(match std::str::from_utf8(&bytes) {
            Ok(text) => python::analyze(text),
            Err(_) => python::Analysis::default(),
        });
        self.python.insert(read, analysis.clone());
        let mut changed = false;
        if read != digest {
            changed |= self.db.set_fs_state(rel, FsState::File(read));
        }
        changed |= self.db.set_python(rel, Some(analysis));
        Ok(changed)
    }

    /// Where the bytes of a path the pipeline names are: in the datastore the host
    /// registered for `at`'s store (`(datastore, path inside it)`), unless that store is a
    /// folder here; else `path` (relative to the pipeline's folder) on this machine.
    pub fn data_source(&self, at: Option<(&str, &str)>, path: &str) -> DataSource {
        if let Some((name, inner)) = at
            && let Some(store) = self.datastores.get(name)
        {
            return match store.local(inner) {
                Some(path) => DataSource::Here(path),
                None => DataSource::Store(store.clone(), inner.to_owned()),
            };
        }
        DataSource::Here(self.abs(path))
    }

    /// Where the stat cache lives: `.runner/statcache`.
    pub fn stat_cache_path(&self) -> PathBuf {
        self.state_dir().join("statcache")
    }

    /// The saved stat cache (empty when there is none or it is damaged).
    pub fn load_stat_cache(&self) -> StatCache {
        StatCache::load(&self.stat_cache_path(), &self.root)
    }

    /// Saves the stat cache if it changed and the state folder exists (a `check` or
    /// `status` in a folder never built creates nothing). Returns whether it wrote.
    pub fn save_stat_cache(&self, stats: &mut StatCache) -> anyhow::Result<bool> {
        if !self.state_dir().is_dir() {
            return Ok(false);
        }
        let path = self.stat_cache_path();
        stats.save(&path).with_context(|| format!("writing {}", path.display()))
    }

    /// Loads the stat cache, refreshes every path through it and saves it (best effort):
    /// [`Self::refresh_fs`] for commands that look once. Returns the bytes hashed.
    pub fn refresh_fs_cached(&mut self) -> anyhow::Result<u64> {
        let mut stats = self.load_stat_cache();
        self.refresh_fs_with(&mut stats)?;
        let _ = self.save_stat_cache(&mut stats);
        Ok(stats.hashed_bytes())
    }

    /// `rel` (normalised, relative to the pipeline's folder) as a real path.
    pub fn abs(&self, rel: &str) -> PathBuf {
        if rel == "." { self.root.clone() } else { self.root.join(rel) }
    }

    /// The file's text.
    pub fn text(&self) -> &str {
        self.file.text(&self.db)
    }

    /// Every diagnostic, including a bad encoding.
    pub fn diagnostics(&self) -> Vec<Diagnostic> {
        let mut out = Vec::new();
        if let Some(at) = self.encoding_error {
            let at = u32::try_from(at).unwrap_or(u32::MAX);
            out.push(
                Diagnostic::new(
                    hir::Code::InvalidEncoding,
                    syntax::Span::new(at, at.saturating_add(1)),
                    "the file is not valid UTF-8",
                )
                .with_help("TOML files are UTF-8; invalid bytes were read as U+FFFD"),
            );
        }
        hir::prime(&self.db, self.file);
        out.extend(hir::file_diagnostics(&self.db, self.file).iter().cloned());
        out
    }

    /// [`Self::diagnostics`] without the notes: the errors and warnings a build prints and
    /// that keep it from writing its memo (a note is for `runner check` and editors, and a
    /// no-op build through the memo could not print it again).
    pub fn problems(&self) -> Vec<Diagnostic> {
        let mut diags = self.diagnostics();
        diags.retain(|d| d.severity() != hir::Severity::Note);
        diags
    }

    /// The state folder: `.runner/` beside the pipeline (checked when the project was
    /// loaded: see [`crate::checked_state_dir`]), or the one [`Project::with_state_dir`] set.
    pub fn state_dir(&self) -> PathBuf {
        self.state.clone().unwrap_or_else(|| self.root.join(".runner"))
    }

    /// This project, keeping its state (cache, history, views, logs) in `state` instead of
    /// beside the pipeline: the state folder of another project, whose cache and history it
    /// then shares. `runner serve` builds a published pipeline's snapshot this way, in the
    /// state of the project it was published from, so a step either one ran is reused by
    /// the other.
    pub fn with_state_dir(mut self, state: PathBuf) -> Project {
        self.state = Some(state);
        self
    }

    /// The pipeline's name: `[pipeline] name`, else the folder's name.
    pub fn name(&self) -> String {
        hir::index(&self.db, self.file).meta.name.clone().unwrap_or_else(|| {
            std::fs::canonicalize(&self.root)
                .ok()
                .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
                .unwrap_or_else(|| "pipeline".to_owned())
        })
    }
}

/// The text of the pipeline file, decoded lossily, and where the first invalid UTF-8 byte is.
fn read_text(path: &Path) -> anyhow::Result<(String, Option<usize>)> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    Ok(match String::from_utf8(bytes) {
        Ok(t) => (t, None),
        Err(e) => {
            let at = e.utf8_error().valid_up_to();
            (String::from_utf8_lossy(e.as_bytes()).into_owned(), Some(at))
        }
    })
}

/// What the Python file at `path` holds ([`python::analyze`]; a file that is not UTF-8 has
/// no imports and no normalised digest). `None` when it cannot be read.
pub fn analyze_python(path: &Path) -> Option<Arc<python::Analysis>> {
    let bytes = std::fs::read(path).ok()?;
    Some(Arc::new(match std::str::from_utf8(&bytes) {
        Ok(text) => python::analyze(text),
        Err(_) => python::Analysis::default(),
    }))
}

/// Whether `path` holds a NUL byte, which no file system path can: such a path is
/// [`FsState::Unknown`], never an IO error.
fn unprobeable(path: &Path) -> bool {
    use std::os::unix::ffi::OsStrExt as _;
    path.as_os_str().as_bytes().contains(&0)
}

/// [`probe`] through a stat cache: unchanged files are not read again.
pub fn probe_with(path: &Path, digest: bool, stats: &mut StatCache) -> anyhow::Result<FsState> {
    if unprobeable(path) {
        return Ok(FsState::Unknown);
    }
    let meta = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(e) if cache::absent(&e) => return Ok(FsState::Missing),
        Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
    };
    if meta.is_dir() {
        if !digest {
            return Ok(FsState::Dir(None));
        }
        let manifest = cache::hash_tree_with(path, cache::IgnoreRules::Snapshot, stats)
            .with_context(|| format!("hashing {}", path.display()))?;
        return Ok(FsState::Dir(Some(hir::Digest(manifest.digest().0))));
    }
    let d =
        stats.hash_file_with(path, &meta).with_context(|| format!("hashing {}", path.display()))?;
    Ok(FsState::File(d))
}

/// [`probe_with`] for `rel`, a path below `root` (the stat cache's base folder), stat'ed
/// through `base`, an open handle on `root` ([`StatCache::probe_below`]); a path that is not
/// plainly relative, and a folder whose digest is needed, go through [`probe_with`].
///
/// Errors: as [`probe_with`].
pub fn probe_below(
    base: &std::fs::File,
    root: &Path,
    rel: &str,
    digest: bool,
    stats: &mut StatCache,
) -> anyhow::Result<FsState> {
    match stats.probe_below(base, rel) {
        Some(Ok(cache::Probed::Missing)) => Ok(FsState::Missing),
        Some(Ok(cache::Probed::File(d))) => Ok(FsState::File(hir::Digest(d.0))),
        Some(Ok(cache::Probed::Dir)) if !digest => Ok(FsState::Dir(None)),
        Some(Err(e)) => Err(e).with_context(|| format!("reading {}", root.join(rel).display())),
        Some(Ok(cache::Probed::Dir)) | None => probe_with(&root.join(rel), digest, stats),
    }
}

/// What is at `path`: file digest, folder (tree digest when `digest`), or missing
/// ([`FsState::Unknown`] for a path holding a NUL byte).
pub fn probe(path: &Path, digest: bool) -> anyhow::Result<FsState> {
    if unprobeable(path) {
        return Ok(FsState::Unknown);
    }
    let meta = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(e) if cache::absent(&e) => return Ok(FsState::Missing),
        Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
    };
    if meta.is_dir() {
        if !digest {
            return Ok(FsState::Dir(None));
        }
        let manifest = cache::hash_tree(path, cache::IgnoreRules::Snapshot)
            .with_context(|| format!("hashing {}", path.display()))?;
        return Ok(FsState::Dir(Some(hir::Digest(manifest.digest().0))));
    }
    let d = cache::hash_file(path).with_context(|| format!("hashing {}", path.display()))?;
    Ok(FsState::File(d))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_path_holding_a_nul_is_unknown_not_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let nul = dir.path().join("s\0.sh");
        assert_eq!(probe(&nul, true).unwrap(), FsState::Unknown);
        let mut stats = StatCache::load(&dir.path().join("statcache"), dir.path());
        assert_eq!(probe_with(&nul, true, &mut stats).unwrap(), FsState::Unknown);
    }
}
