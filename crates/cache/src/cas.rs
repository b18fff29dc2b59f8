//! The content-addressed store (CAS): blobs and manifests named by their digest.
//!
//! Layout under the cache root (every name is lowercase hex):
//!
//! ```text
//! cas/<64 hex>              blob: a file's bytes, read-only (mode 0444)
//! manifests/<64 hex>.json   a Manifest as JSON, named by Manifest::digest
//! ac.sqlite                 action cache, with its -wal and -shm files (see the action module)
//! verified/<64 hex>         stat record of the last successful blob check (see verify module)
//! tmp/                      temp files; everything is written here first
//! ```
//!
//! The folders are flat, not sharded by the first two hex characters as git's loose objects
//! are: every filesystem this runs on indexes large folders (ext4's htree, XFS, btrfs, APFS),
//! while creating a shard folder costs as much as creating a file, and a build that stores N
//! results would create up to 3 × min(N, 256) of them. (Measured on this project's machine:
//! a file or folder creation costs 20–400 µs, the high end right after many deletions.)
//!
//! A blob is published like a git loose object: its bytes are copied into a temp file in `tmp/`
//! while being hashed again (if they no longer match the digest computed moments before, the
//! source changed under us and the ingest fails instead of storing bytes under the wrong name),
//! the temp file is made read-only and fsynced, then hard-linked to its final name, where "already
//! exists" counts as success because the name is the hash (if linking is not supported, it is
//! renamed instead). After all blobs of a tree are in place the `cas/` folder is fsynced, and
//! only then is the manifest written (atomically, durably). So no partially written blob is ever
//! visible under `cas/`, and a manifest never names a blob that a crash could lose. An existing
//! blob is kept unless a check finds its bytes corrupt, in which case the fresh copy is renamed
//! over it.
//!
//! **Adopting** ([`Cache::adopt_tree`], what a step's outputs go through): instead of a copy,
//! a file whose blob is missing is hard-linked to the blob's name and made read-only, so the
//! step's output file and the blob are one inode. Only a file that is the step's alone is
//! adopted (link count 1, reached without a symlink); the `adopt` module has the rules and
//! the checks that make a file that moved meanwhile fail instead of being stored.
//!
//! **Deferred sync** ([`Cache::with_deferred_sync`], what `runner build` uses): the same
//! publication by temp file and rename, without the fsyncs; [`Cache::sync`] (one `syncfs`)
//! makes everything durable at once, at the end of the build. A process killed at any moment
//! still leaves only whole entries (a rename is atomic; the page cache survives the process).
//! A power loss before the sync can leave entries whose bytes never reached the disk; none of
//! them is trusted: a manifest must hash to its name, an action cache entry must parse and
//! all its blobs verify, and a blob is rehashed unless a `verified/` record vouches for it,
//! and such a record is never written for a blob this process created (it is written by a
//! later build, after this one's sync). One `syncfs` per build instead of four fsyncs per
//! step: on this project's machine a fsync costs 0.1–4 ms, more than the step itself.
//!
//! The CAS takes no lock: every publication is a single rename or link, so several runners
//! can share one root. (The action cache is one SQLite database, which locks for itself; see
//! the action module.) Temp files of killed processes stay in `tmp/` until garbage collection.

use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use sha2::{Digest as _, Sha256};

use crate::action::ActionDb;
use crate::atomic::{TempPath, create_temp, parent_of, sync_dir, write_via};
use crate::tree::{hash_item, link_text};
use crate::verify::BlobState;
use crate::walk::{self, IgnoreRules, Kind};
use crate::{Digest, Error, Manifest, Result, par};

/// What a cache keeps directly under its root.
const ENTRIES: [&str; 7] =
    ["cas", "manifests", "verified", "tmp", "ac.sqlite", "ac.sqlite-wal", "ac.sqlite-shm"];

/// The content-addressed store and action cache under one root folder (normally
/// `.runner/cache`).
///
/// Layout: `cas/<64 hex>` blobs (read-only, mode 0444), `manifests/<hex>.json`,
/// `ac.sqlite` (the action cache), `verified/<hex>`, `tmp/`. Cheap to clone (clones share the
/// action cache connection); `Send + Sync`; all
/// methods take `&self` and are safe to call from several threads and processes at once.
#[derive(Debug, Clone)]
pub struct Cache {
    root: PathBuf,
    /// Whether each entry is fsynced as it is published (see the module docs).
    durable: bool,
    /// The action cache's connection, shared by clones.
    actions: Arc<ActionDb>,
    /// Blobs found intact, remembered in memory, if this cache was opened for a long-lived
    /// session ([`Cache::remembering`], which also keeps action cache entries); shared by
    /// clones.
    remembered: Option<Arc<crate::verify::Remembered>>,
    /// Blobs this handle and its clones stored or found intact, with their stats then (see
    /// `cache::tamper`).
    noted: Arc<crate::tamper::Noted>,
    /// The identity of `cas/` when opened (inode and birth time: an inode number alone is
    /// soon reused), so a long-lived holder can tell the folder was removed or replaced
    /// under it ([`Cache::is_current`]).
    cas_id: (u64, Option<std::time::SystemTime>),
}

impl Cache {
    /// Opens (creating if needed) the cache rooted at `root` and its `cas`, `manifests`,
    /// `verified` and `tmp` folders. The action cache database is opened on first use.
    /// Everything it writes directly under `root` must stay there: a symlink in its place
    /// that leads out (which would send blobs or the database elsewhere) is refused.
    ///
    /// Errors: [`Error::Outside`] for such a symlink; [`Error::Write`] if a folder cannot
    /// be created.
    pub fn open(root: &Path) -> Result<Cache> {
        for name in ENTRIES {
            crate::resolve_beneath(root, Path::new(name))?;
        }
        for sub in ["cas", "manifests", "verified", "tmp"] {
            let p = root.join(sub);
            fs::create_dir_all(&p).map_err(Error::write(&p))?;
        }
        let cas = root.join("cas");
        let cas_id = folder_id(&fs::metadata(&cas).map_err(Error::write(&cas))?);
        Ok(Cache {
            root: root.to_path_buf(),
            durable: true,
            actions: Arc::default(),
            remembered: None,
            noted: Arc::default(),
            cas_id,
        })
    }

    /// Whether the folders this cache opened are still there: `false` once its `cas` folder
    /// was removed or replaced (`rm -rf .runner`), when a long-lived holder (`runner watch`,
    /// the language server) must open the cache again rather than keep using what it
    /// remembers or write into a folder that is gone. One `stat`.
    pub fn is_current(&self) -> bool {
        fs::metadata(self.root.join("cas")).is_ok_and(|m| folder_id(&m) == self.cas_id)
    }

    /// This cache, for a process that looks the same steps up again and again (`runner
    /// watch`, the language server): it keeps in memory what it read, so a second lookup of
    /// an unchanged step costs no query and no read. Action cache entries are kept until
    /// another connection commits to the database (see `cache::action`); blobs found intact
    /// are kept with their stat (device, inode, size, mtime and ctime in ns), so checking one
    /// again costs one `stat` instead of a read, small blobs included (see `cache::verify`).
    /// A one-shot build looks each step up once and gains nothing from it.
    pub fn remembering(mut self) -> Cache {
        self.remembered = Some(Arc::default());
        self
    }

    pub(crate) fn remembered(&self) -> Option<&crate::verify::Remembered> {
        self.remembered.as_deref()
    }

    pub(crate) fn noted(&self) -> &crate::tamper::Noted {
        &self.noted
    }

    /// This cache with deferred sync (see the module docs): entries are published atomically
    /// but not fsynced one by one; call [`Cache::sync`] when a batch of work is done.
    pub fn with_deferred_sync(mut self) -> Cache {
        self.durable = false;
        // A connection of its own, configured for deferred sync when it opens.
        self.actions = Arc::default();
        crate::verify::note_deferred_start();
        self
    }

    /// Makes everything written so far durable: one `syncfs` of the cache's filesystem.
    ///
    /// Errors: [`Error::Write`] if the filesystem reports a write-back error.
    pub fn sync(&self) -> Result<()> {
        let dir = File::open(&self.root).map_err(Error::write(&self.root))?;
        rustix::fs::syncfs(&dir).map_err(|e| Error::write(&self.root)(e.into()))
    }

    /// Whether entries are fsynced as they are published.
    pub(crate) fn durable(&self) -> bool {
        self.durable
    }

    pub(crate) fn actions(&self) -> &ActionDb {
        &self.actions
    }

    /// The root folder given to [`Cache::open`].
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Where the blob with digest `d` lives (`<root>/cas/<64 hex>`), whether or not it
    /// exists.
    pub fn blob_path(&self, d: &Digest) -> PathBuf {
        self.shard_path("cas", d, "")
    }

    pub(crate) fn shard_path(&self, kind: &str, d: &Digest, ext: &str) -> PathBuf {
        let hex = d.to_hex();
        self.root.join(kind).join(hex + ext)
    }

    pub(crate) fn tmp_dir(&self) -> PathBuf {
        self.root.join("tmp")
    }

    pub(crate) fn ensure_parent(&self, path: &Path) -> Result<()> {
        let dir = parent_of(path);
        fs::create_dir_all(dir).map_err(Error::write(dir))
    }

    /// Hashes every file under `dir` (no ignore rules; a file `dir` gives one entry `""`), stores
    /// each file's bytes as a blob, stores the manifest and returns it. Symlinks are stored as
    /// their target path text (see [`crate::hash_tree`]).
    ///
    /// Files are processed by 2–4 threads. Never leaves a partially written blob under `cas/`.
    /// Errors: [`Error::Read`] / [`Error::Write`] with the failing path, [`Error::Changed`] if a
    /// file's bytes changed while it was being stored, [`Error::NonUtf8Path`].
    pub fn ingest_tree(&self, dir: &Path) -> Result<Manifest> {
        self.ingest(dir, false, IgnoreRules::None)
    }

    /// [`Cache::ingest_tree`] under `rules`: [`IgnoreRules::Snapshot`] stores a folder as a
    /// step's snapshot holds it (`.amlignore`/`.gitignore` honoured, no `.git` or `.runner`),
    /// which is what a published pipeline keeps of its sources.
    ///
    /// Errors: as [`Cache::ingest_tree`].
    pub fn ingest_tree_with(&self, dir: &Path, rules: IgnoreRules) -> Result<Manifest> {
        self.ingest(dir, false, rules)
    }

    /// [`Cache::ingest_tree`] that hands the files over instead of copying them: a regular,
    /// non-executable file whose blob is missing becomes that blob by a hard link and is made
    /// read-only (0444, as every blob is). Storing then costs one read of each file, no copy
    /// and no new inode: what a step wrote is stored where it lies (DVC's `hardlink` cache
    /// type, Bazel moving outputs into its CAS).
    ///
    /// Afterwards the files under `dir` must not be written: they may be the cache's blobs.
    /// One edited in place anyway (as root, through the read-only mode) moves the blob's
    /// ctime, so [`Cache::verify`] rehashes it, finds it corrupt and the result is not trusted;
    /// nothing wrong is reused, the result is only lost. Copied as by [`Cache::ingest_tree`]
    /// instead: executables (a 0444 inode cannot keep the execute bit), symlinks, files with
    /// another name (a link count above 1: a file hard-linked from elsewhere must not become
    /// read-only), everything when `dir` itself is a symlink, and files that cannot be linked
    /// (another filesystem, link limit). Each file is opened without following a symlink on
    /// the way and hashed from that open file; one that moved while it was hashed and linked
    /// is unlinked again (its mode restored) and reported as [`Error::Changed`].
    ///
    /// The manifest is returned, not stored under `manifests/`: the caller records it where
    /// it is needed (`runner build` puts it in the action cache entry, see
    /// [`crate::ActionResult::manifests`]), which saves a file per output.
    ///
    /// Errors: as [`Cache::ingest_tree`].
    pub fn adopt_tree(&self, dir: &Path) -> Result<Manifest> {
        self.ingest(dir, true, IgnoreRules::None)
    }

    fn ingest(&self, dir: &Path, adopt: bool, rules: IgnoreRules) -> Result<Manifest> {
        let items = walk::walk(dir, rules)?;
        // Files are handed over only from a real folder (or file), never through a symlink.
        let root = if adopt { crate::adopt::adoption_root(dir) } else { None };
        let stored = par::try_map(&items, |item, buf| {
            if let Some(root) = &root
                && item.kind == (Kind::File { executable: false })
            {
                return self.adopt_item(root, item, buf);
            }
            let entry = hash_item(item, buf)?;
            let blob = self.blob_path(&entry.digest);
            let replace = match self.check_blob(&entry.digest, buf).map_err(Error::read(&blob))?.0 {
                BlobState::Ok => return Ok((entry, false)),
                BlobState::Missing => false,
                BlobState::Corrupt(_) => true,
            };
            match item.kind {
                Kind::File { .. } => self.store_file(&item.abs, &entry.digest, replace, buf)?,
                Kind::Symlink => {
                    let text = link_text(&item.abs)?;
                    if Digest::of_bytes(&text) != entry.digest {
                        return Err(Error::Changed { path: item.abs.clone() });
                    }
                    self.store_reader(&text[..], &item.abs, &entry.digest, replace, buf)?;
                }
            }
            Ok((entry, true))
        })?;
        let published = stored.iter().any(|(_, published)| *published);
        if self.durable && published {
            sync_dir(&self.root.join("cas"))?;
        }
        let entries = stored.into_iter().map(|(entry, _)| entry).collect();
        let m = Manifest::from_unsorted(entries);
        if !adopt {
            self.put_manifest(&m)?;
        }
        Ok(m)
    }

    /// Stores the file at `src` as blob `expected` (a copy; `src` is left as it is) if its
    /// bytes hash to `expected`: how bytes from elsewhere (the shared cache) enter the CAS,
    /// never trusted before they are hashed. A blob already there is kept.
    ///
    /// Errors: [`Error::Changed`] when the bytes do not hash to `expected` (nothing is
    /// stored); [`Error::Read`] / [`Error::Write`].
    pub fn put_blob_file(&self, src: &Path, expected: &Digest) -> Result<()> {
        let mut buf = vec![0u8; 1 << 16];
        self.store_file(src, expected, false, &mut buf)
    }

    pub(crate) fn store_file(
        &self,
        src: &Path,
        expected: &Digest,
        replace: bool,
        buf: &mut [u8],
    ) -> Result<()> {
        let file = File::open(src).map_err(Error::read(src))?;
        self.store_reader(file, src, expected, replace, buf)
    }

    /// Copies `r` into a temp file while hashing it, checks the digest, makes it read-only,
    /// fsyncs it and publishes it as blob `expected`.
    pub(crate) fn store_reader(
        &self,
        mut r: impl Read,
        src: &Path,
        expected: &Digest,
        replace: bool,
        buf: &mut [u8],
    ) -> Result<()> {
        let blob = self.blob_path(expected);
        let (mut tmp_file, tmp) = create_temp(&self.tmp_dir(), &blob)?;
        let guard = TempPath(Some(tmp.clone()));
        let mut hasher = Sha256::new();
        loop {
            let n = match r.read(buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(Error::Read { path: src.to_path_buf(), source: e }),
            };
            hasher.update(&buf[..n]);
            tmp_file.write_all(&buf[..n]).map_err(Error::write(&tmp))?;
        }
        if Digest(hasher.finalize().into()) != *expected {
            return Err(Error::Changed { path: src.to_path_buf() });
        }
        tmp_file.set_permissions(fs::Permissions::from_mode(0o444)).map_err(Error::write(&tmp))?;
        if self.durable {
            tmp_file.sync_all().map_err(Error::write(&tmp))?;
        }
        drop(tmp_file);
        self.ensure_parent(&blob)?;
        // (published, renamed): a blob already there is kept (same name, same bytes); a
        // renamed temp file is gone, a linked one is removed.
        let (published, renamed) = if replace {
            fs::rename(&tmp, &blob).map_err(Error::write(&blob))?;
            (true, true)
        } else {
            match fs::hard_link(&tmp, &blob) {
                Ok(()) => (true, false),
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => (false, false),
                Err(_) => {
                    fs::rename(&tmp, &blob).map_err(Error::write(&blob))?;
                    (true, true)
                }
            }
        };
        if !renamed {
            fs::remove_file(&tmp).map_err(Error::write(&tmp))?;
        }
        guard.disarm();
        if published && let Ok(meta) = fs::symlink_metadata(&blob) {
            self.noted.note(expected, crate::verify::Stamp::of(&meta));
        }
        Ok(())
    }

    /// Where the manifest with digest `d` lives (`<root>/manifests/<64 hex>.json`),
    /// whether or not it exists.
    pub fn manifest_path(&self, d: &Digest) -> PathBuf {
        self.shard_path("manifests", d, ".json")
    }

    /// Stores `m` as `manifests/<digest hex>.json` (atomic and durable; skipped if a valid
    /// copy is already there) and returns `m.digest()`. `m`'s entries must be sorted by path.
    ///
    /// Errors: [`Error::Json`], [`Error::Write`].
    pub fn put_manifest(&self, m: &Manifest) -> Result<Digest> {
        let d = m.digest();
        if self.get_manifest(&d)?.is_some() {
            return Ok(d);
        }
        let path = self.manifest_path(&d);
        let json =
            serde_json::to_vec(m).map_err(|source| Error::Json { path: path.clone(), source })?;
        self.ensure_parent(&path)?;
        write_via(&self.tmp_dir(), &path, &json, self.durable)?;
        Ok(d)
    }

    /// The manifest with digest `d`. Missing, unparsable, or not hashing to `d` → `Ok(None)`.
    ///
    /// Errors: [`Error::Read`] if the file exists but cannot be read.
    pub fn get_manifest(&self, d: &Digest) -> Result<Option<Manifest>> {
        let path = self.manifest_path(d);
        let bytes = match crate::atomic::read_small(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(Error::Read { path, source: e }),
        };
        Ok(serde_json::from_slice::<Manifest>(&bytes).ok().filter(|m| m.digest() == *d))
    }
}

/// A folder's identity: its inode and, where the filesystem records it, its birth time.
fn folder_id(m: &fs::Metadata) -> (u64, Option<std::time::SystemTime>) {
    (m.ino(), m.created().ok())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::{TreeEntry, hash_tree};
    use std::os::unix::fs::MetadataExt;

    pub(crate) fn write(root: &Path, rel: &str, text: &str) {
        let p = root.join(rel);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(p, text).unwrap();
    }

    /// A source tree with nested folders, an executable, an empty file, a duplicate and a symlink.
    pub(crate) fn sample_tree(root: &Path) {
        write(root, "model.pkl", "weights");
        write(root, "metrics/eval.json", "{\"acc\": 0.9}");
        write(root, "metrics/copy.json", "{\"acc\": 0.9}");
        write(root, "empty.txt", "");
        write(root, "bin/run.sh", "#!/bin/sh\necho hi\n");
        fs::set_permissions(root.join("bin/run.sh"), fs::Permissions::from_mode(0o755)).unwrap();
        std::os::unix::fs::symlink("model.pkl", root.join("latest")).unwrap();
    }

    /// A cache in `dir/cache` and the sample tree in `dir/out`.
    pub(crate) fn sample_cache(dir: &Path) -> (PathBuf, Cache) {
        let src = dir.join("out");
        sample_tree(&src);
        (src, Cache::open(&dir.join("cache")).unwrap())
    }

    #[test]
    fn a_cache_is_current_until_its_folder_is_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("cache");
        let cache = Cache::open(&root).unwrap();
        assert!(cache.is_current());
        assert!(cache.clone().remembering().is_current(), "clones share what they opened");
        fs::remove_dir_all(&root).unwrap();
        assert!(!cache.is_current(), "removed");
        let again = Cache::open(&root).unwrap();
        assert!(again.is_current());
        assert!(!cache.is_current(), "replaced by a new folder");
    }

    /// A folder or the database planted as a symlink to elsewhere: the cache does not open,
    /// and writes nothing there.
    #[test]
    fn open_refuses_entries_that_lead_outside() {
        let dir = tempfile::tempdir().unwrap();
        let elsewhere = dir.path().join("elsewhere");
        fs::create_dir(&elsewhere).unwrap();
        for name in ENTRIES {
            let root = dir.path().join(format!("cache-{name}"));
            fs::create_dir(&root).unwrap();
            std::os::unix::fs::symlink(&elsewhere, root.join(name)).unwrap();
            let err = Cache::open(&root).unwrap_err();
            assert!(matches!(err, Error::Outside { .. }), "{name}: {err}");
            assert!(err.to_string().contains(name), "{err}");
            assert_eq!(fs::read_dir(&root).unwrap().count(), 1, "{name}: nothing created");
        }
        assert_eq!(fs::read_dir(&elsewhere).unwrap().count(), 0);
        // One that stays inside is followed as any folder would be.
        let root = dir.path().join("cache-inside");
        fs::create_dir_all(root.join("real_cas")).unwrap();
        std::os::unix::fs::symlink("real_cas", root.join("cas")).unwrap();
        Cache::open(&root).unwrap();
    }

    fn tmp_is_empty(cache: &Cache) -> bool {
        fs::read_dir(cache.tmp_dir()).unwrap().count() == 0
    }

    #[test]
    fn ingest_stores_read_only_blobs_and_manifest() {
        let dir = tempfile::tempdir().unwrap();
        let (src, cache) = sample_cache(dir.path());
        let m = cache.ingest_tree(&src).unwrap();
        assert_eq!(m, hash_tree(&src, IgnoreRules::None).unwrap());
        assert_eq!(m.entries.len(), 6);
        for e in &m.entries {
            let meta = fs::metadata(cache.blob_path(&e.digest)).unwrap();
            assert_eq!(meta.mode() & 0o777, 0o444, "{}", e.path);
            assert_eq!(crate::hash_file(&cache.blob_path(&e.digest)).unwrap(), e.digest);
        }
        assert_eq!(cache.get_manifest(&m.digest()).unwrap(), Some(m.clone()));
        assert!(tmp_is_empty(&cache));

        // Ingesting again keeps the existing blobs (same inode).
        let blob = cache.blob_path(&m.entries[0].digest);
        let ino = fs::metadata(&blob).unwrap().ino();
        assert_eq!(cache.ingest_tree(&src).unwrap(), m);
        assert_eq!(fs::metadata(&blob).unwrap().ino(), ino);
        assert!(tmp_is_empty(&cache));

        // A single file.
        let one = cache.ingest_tree(&src.join("model.pkl")).unwrap();
        assert_eq!(one.entries.len(), 1);
        assert_eq!(one.entries[0].path, "");
    }

    #[test]
    fn adopting_links_new_files_and_copies_the_rest() {
        let dir = tempfile::tempdir().unwrap();
        let (src, cache) = sample_cache(dir.path());
        // One blob is already stored: its file is left alone.
        let pre = dir.path().join("pre");
        write(&pre, "x", "weights");
        cache.ingest_tree(&pre).unwrap();

        let m = cache.adopt_tree(&src).unwrap();
        assert_eq!(m, hash_tree(&src, IgnoreRules::None).unwrap());
        // The caller stores the manifest where it wants it.
        assert_eq!(cache.get_manifest(&m.digest()).unwrap(), None);
        let ino = |p: &Path| fs::symlink_metadata(p).unwrap().ino();
        let blob_of =
            |rel: &str| cache.blob_path(&m.entries.iter().find(|e| e.path == rel).unwrap().digest);
        // New, plain files: the file is the blob, read-only. Of two files with the same
        // bytes, one became the blob; the other found it stored and is left alone.
        let blob = ino(&blob_of("metrics/eval.json"));
        let (eval, copy) = (src.join("metrics/eval.json"), src.join("metrics/copy.json"));
        assert!((ino(&eval) == blob) != (ino(&copy) == blob));
        let eval = if ino(&eval) == blob { eval } else { copy };
        assert_eq!(fs::metadata(&eval).unwrap().mode() & 0o777, 0o444);
        // Already stored before: untouched.
        assert_ne!(ino(&src.join("model.pkl")), ino(&blob_of("model.pkl")));
        // Executables keep their mode and are copied; symlinks stay symlinks.
        assert_ne!(ino(&src.join("bin/run.sh")), ino(&blob_of("bin/run.sh")));
        assert_eq!(fs::metadata(src.join("bin/run.sh")).unwrap().mode() & 0o111, 0o111);
        assert!(fs::symlink_metadata(src.join("latest")).unwrap().file_type().is_symlink());
        cache.verify(&m).unwrap();
        assert!(tmp_is_empty(&cache));

        // Editing an adopted file in place (as root can) is caught, not trusted.
        fs::set_permissions(&eval, fs::Permissions::from_mode(0o644)).unwrap();
        fs::write(&eval, "{\"acc\": 0.1}").unwrap();
        let err = cache.verify(&m).unwrap_err();
        assert!(err.to_string().contains("is corrupt"), "{err}");
    }

    #[test]
    fn ingest_replaces_a_corrupt_blob() {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("out");
        write(&src, "a", "good bytes");
        let cache = Cache::open(&dir.path().join("cache")).unwrap();
        let m = cache.ingest_tree(&src).unwrap();
        let blob = cache.blob_path(&m.entries[0].digest);
        fs::set_permissions(&blob, fs::Permissions::from_mode(0o644)).unwrap();
        fs::write(&blob, "evil bytes").unwrap();
        assert!(cache.verify(&m).is_err());
        cache.ingest_tree(&src).unwrap();
        cache.verify(&m).unwrap();
        assert!(tmp_is_empty(&cache));
    }

    #[test]
    fn manifests_roundtrip_and_reject_corruption() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::open(dir.path()).unwrap();
        let m = Manifest {
            entries: vec![TreeEntry {
                path: "x".into(),
                digest: Digest::of_bytes(b"x"),
                size: 1,
                executable: false,
            }],
        };
        let d = cache.put_manifest(&m).unwrap();
        assert_eq!(d, m.digest());
        assert_eq!(cache.get_manifest(&d).unwrap(), Some(m.clone()));
        assert_eq!(cache.get_manifest(&Digest::of_bytes(b"nope")).unwrap(), None);
        let path = cache.manifest_path(&d);
        fs::write(&path, "{\"entries\": [").unwrap();
        assert_eq!(cache.get_manifest(&d).unwrap(), None);
        // Parsable but not the manifest its name promises.
        fs::write(&path, "{\"entries\": []}").unwrap();
        assert_eq!(cache.get_manifest(&d).unwrap(), None);
        // put_manifest repairs it.
        cache.put_manifest(&m).unwrap();
        assert_eq!(cache.get_manifest(&d).unwrap(), Some(m));
        assert!(tmp_is_empty(&cache));
    }
}
