//! A persistent stat cache of file digests: a file whose stat has not changed since it was
//! hashed is not read again.
//!
//! Each entry maps a path to what `stat` said when the file was hashed (device, inode, size,
//! mtime ns, ctime ns), the sha256 of its bytes, and when it was hashed (`hashed_ns`, wall
//! clock, read *before* the file was opened). A lookup trusts the entry when the stat is
//! identical and the entry is not *racy*.
//!
//! **Racy entries** (git's "racy clean" problem). Timestamps have a granularity: the kernel
//! stamps a write with a coarse clock (one tick is 1–10 ms on Linux, a whole second or two on
//! some filesystems). A file hashed in the same tick as a write can be written again in that
//! tick with the same size, and its stat does not change (an mtime can even be set back by
//! hand). So an entry whose ctime lies within the granularity window of its `hashed_ns` is
//! racy: it is never trusted, and the file is hashed again. Once the window has passed, any
//! write, chmod or `touch` stamps a later ctime (the kernel sets it to the current time and
//! user code cannot set it back, unlike an mtime), so a settled entry is safe. The ctime, not
//! the mtime, decides: an mtime set into the future (`touch -d`, an unpacked archive) would
//! otherwise never settle. The window is [`FINE_WINDOW_NS`] (100 ms: ten ticks of the
//! coarsest Linux clock) for filesystems with sub-second timestamps and [`COARSE_WINDOW_NS`]
//! (2 s) when the ctime is a whole second (1 s filesystems, FAT's 2 s). [`StatCache::settle`] re-hashes racy entries once
//! their window has passed, so the next run can trust them.
//!
//! **File format** (`.runner/statcache`, version 1, little-endian), chosen to load fast: one
//! read, one linear pass, no text parsing (10,000 entries ≈ 1 MB load in about a
//! millisecond; JSON would parse 10,000 objects and 20,000 hex strings; SQLite would add a
//! connection and a query for the same rows):
//!
//! ```text
//! "RUNSTAT2"                       8-byte magic and version
//! u32 count
//! count × { u32 len, len path bytes, u64 dev, u64 ino, u64 size,
//!           i64 mtime_ns, i64 ctime_ns, i64 hashed_ns, [u8; 32] sha256 }
//! u64 CRC-64/NVME of everything above (`seal`)
//! ```
//!
//! Paths are stored relative to the cache's base folder when they are inside it (the project
//! folder, so moving the project keeps the cache), else absolute. A file that is missing,
//! truncated, of another version or whose checksum does not match loads as an empty cache: a
//! lost cache only costs hashing again; a damaged one is never trusted. It is written with
//! the temp-file-and-rename protocol (readers see the old or the new file) but without fsync:
//! the checksum catches a file a crash left half written.

use std::collections::HashMap;
use std::fs::{self, File};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::atomic::{parent_of, write_via};
use crate::digest::hash_reader;
use crate::stamp::{FileStamp, Reader, now_ns, seal};
use crate::tree::{Manifest, TreeEntry, link_text};
use crate::walk::{self, IgnoreRules, Item, Kind};
use crate::{Digest, Error, Result, par};

const MAGIC: &[u8; 8] = b"RUNSTAT2";

type Stamp = FileStamp;

/// What [`StatCache::settle`] assumes re-hashing a file costs per byte, in ns: 1 GB/s, a
/// cautious figure for reading and hashing (sha2 with SHA-NI runs at 1.6 GB/s here).
pub const SETTLE_HASH_NS_PER_BYTE: u64 = 1;

#[derive(Debug, Clone, Copy)]
struct Entry {
    stamp: Stamp,
    digest: Digest,
    hashed_ns: i64,
    /// Looked up or recorded since the cache was loaded (not stored).
    seen: bool,
}

/// A fresh hash of one file: its digest, the bytes read, and the entry to record (none when
/// the file changed while it was read).
struct Fresh {
    digest: Digest,
    bytes: u64,
    entry: Option<Entry>,
}

/// Hashes `path` and returns what to record: the stat is taken before and after reading,
/// on the open file, and the entry is kept only if they agree.
fn hash_fresh(path: &Path, buf: &mut [u8]) -> Result<Fresh> {
    let hashed_ns = now_ns();
    let mut file = File::open(path).map_err(Error::read(path))?;
    let before = Stamp::of(&file.metadata().map_err(Error::read(path))?);
    let (digest, bytes) = hash_reader(&mut file, buf).map_err(Error::read(path))?;
    let after = Stamp::of(&file.metadata().map_err(Error::read(path))?);
    let entry = (before == after && bytes == before.size).then_some(Entry {
        stamp: before,
        digest,
        hashed_ns,
        seen: true,
    });
    Ok(Fresh { digest, bytes, entry })
}

/// What [`StatCache::probe_all`] found at a path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Probed {
    /// Nothing is there.
    Missing,
    /// A folder (not hashed).
    Dir,
    /// A file (or a symlink to one), with the digest of its bytes.
    File(Digest),
}

/// File digests keyed by path and stat, persisted between runs. See the module docs for the
/// rules and the file format.
#[derive(Debug)]
pub struct StatCache {
    base: PathBuf,
    entries: HashMap<Vec<u8>, Entry>,
    changed: bool,
    hashed_bytes: u64,
    hashed_files: u64,
}

impl StatCache {
    /// An empty cache whose paths are stored relative to `base` (made absolute).
    pub fn new(base: &Path) -> StatCache {
        StatCache {
            base: std::path::absolute(base).unwrap_or_else(|_| base.to_path_buf()),
            entries: HashMap::new(),
            changed: false,
            hashed_bytes: 0,
            hashed_files: 0,
        }
    }

    /// Loads the cache saved at `file` (see [`StatCache::save`]); a missing, damaged or
    /// foreign file gives an empty cache (and a damaged one is replaced on the next save).
    pub fn load(file: &Path, base: &Path) -> StatCache {
        let mut cache = StatCache::new(base);
        if let Ok(bytes) = fs::read(file) {
            match decode(&bytes) {
                Some(entries) => cache.entries = entries,
                None => cache.changed = true,
            }
        }
        cache
    }

    /// Writes the cache to `file` if anything changed since it was loaded: temp file in the
    /// same folder, rename (no fsync: see the module docs). Entries not looked up since the
    /// cache was loaded are dropped (files the pipeline no longer names). Returns whether it
    /// wrote. Creates missing parent folders.
    ///
    /// Errors: [`Error::Write`].
    pub fn save(&mut self, file: &Path) -> Result<bool> {
        let before = self.entries.len();
        self.entries.retain(|_, e| e.seen);
        if self.entries.len() != before {
            self.changed = true;
        }
        if !self.changed {
            return Ok(false);
        }
        let bytes = encode(&self.entries);
        let dir = parent_of(file);
        fs::create_dir_all(dir).map_err(Error::write(dir))?;
        write_via(dir, file, &bytes, false)?;
        self.changed = false;
        Ok(true)
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether there are no entries.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Whether [`StatCache::save`] has something to write.
    pub fn is_changed(&self) -> bool {
        self.changed || self.entries.values().any(|e| !e.seen)
    }

    /// Bytes read to hash files through this cache since it was created (0 when every file
    /// was vouched for by its stat). Symlink targets are not counted.
    pub fn hashed_bytes(&self) -> u64 {
        self.hashed_bytes
    }

    /// Files read to hash them through this cache since it was created.
    pub fn hashed_files(&self) -> u64 {
        self.hashed_files
    }

    /// The digest of the file at `path` (following symlinks, like [`crate::hash_file`]):
    /// from the cache when its stat is unchanged and the entry is not racy, else by reading
    /// it (and recording it).
    ///
    /// Errors: [`Error::Read`] if the file cannot be opened or read.
    pub fn hash_file(&mut self, path: &Path) -> Result<Digest> {
        let meta = fs::metadata(path).map_err(Error::read(path))?;
        self.hash_file_with(path, &meta)
    }

    /// [`StatCache::hash_file`] for a caller that has just read `meta` (`fs::metadata` of
    /// `path`), saving a second `stat`.
    ///
    /// Errors: [`Error::Read`] if the file cannot be opened or read.
    pub fn hash_file_with(&mut self, path: &Path, meta: &fs::Metadata) -> Result<Digest> {
        let key = self.key(path);
        if let Some(d) = self.lookup(&key, &Stamp::of(meta)) {
            return Ok(d);
        }
        let fresh = par::with_buffer(|buf| hash_fresh(path, buf))?;
        self.record(key, fresh.bytes, fresh.entry);
        Ok(fresh.digest)
    }

    /// What is at `rel`, a path below this cache's base folder, as [`StatCache::probe_all`]
    /// says it for one path: stat'ed through `base`, an open handle on that folder
    /// (`fstatat`), so the kernel walks `rel`'s components only, and keyed by `rel` as
    /// given. For a caller that checks many paths of one project (the build memo).
    /// `None` when `rel` is not plainly relative (empty, absolute, or holding `.`, `..` or an
    /// empty component: its key would not be `rel`); use [`StatCache::hash_file`] then.
    ///
    /// Errors: [`Error::Read`] for a path that cannot be stat'ed or read.
    pub fn probe_below(&mut self, base: &File, rel: &str) -> Option<Result<Probed>> {
        let plain = !rel.is_empty()
            && rel.split('/').all(|c| !c.is_empty() && c != "." && c != "..")
            && !rel.contains('\0');
        if !plain {
            return None;
        }
        let st = match rustix::fs::statat(base, rel, rustix::fs::AtFlags::empty()) {
            Ok(st) => st,
            Err(rustix::io::Errno::NOENT | rustix::io::Errno::NOTDIR) => {
                return Some(Ok(Probed::Missing));
            }
            Err(e) => {
                let path = self.base.join(rel);
                return Some(Err(Error::Read { path, source: e.into() }));
            }
        };
        if rustix::fs::FileType::from_raw_mode(st.st_mode) == rustix::fs::FileType::Directory {
            return Some(Ok(Probed::Dir));
        }
        let key = rel.as_bytes();
        if let Some(d) = self.lookup(key, &Stamp::of_stat(&st)) {
            return Some(Ok(Probed::File(d)));
        }
        let path = self.base.join(rel);
        Some(par::with_buffer(|buf| hash_fresh(&path, buf)).map(|fresh| {
            let d = fresh.digest;
            self.record(key.to_vec(), fresh.bytes, fresh.entry);
            Probed::File(d)
        }))
    }

    /// What is at each of `paths` (absolute), in input order: missing, a folder (not
    /// hashed: see [`hash_tree_with`]), or a file and its digest, through the cache as
    /// [`StatCache::hash_file_with`]. The `stat`s, lookups and hashing of missed files run
    /// on 2–4 threads: a 10,000-step pipeline names 10,000 data files, and probing them one
    /// by one took a fifth of its check and plan.
    ///
    /// Errors (per path): [`Error::Read`] for a path that cannot be stat'ed or read.
    pub fn probe_all(&mut self, paths: &[PathBuf]) -> Vec<Result<Probed>> {
        enum Found {
            Done(Probed),
            Hit(Vec<u8>, Digest),
            Fresh(Vec<u8>, Fresh),
        }
        let this = &*self;
        // One parallel pass over the paths, reading the cache only; the sequential pass after
        // it records what was hashed.
        let found = par::try_map(paths, |path, buf| {
            let mut found = || {
                let meta = match fs::metadata(path) {
                    Ok(m) => m,
                    // A path through a file (`helper.py/__init__.py`) is as missing as one
                    // through nothing.
                    Err(e) if crate::absent(&e) => {
                        return Ok(Found::Done(Probed::Missing));
                    }
                    Err(e) => return Err(Error::Read { path: path.clone(), source: e }),
                };
                if meta.is_dir() {
                    return Ok(Found::Done(Probed::Dir));
                }
                let key = this.key(path);
                Ok(match this.peek(&key, &Stamp::of(&meta)) {
                    Some(d) => Found::Hit(key, d),
                    None => Found::Fresh(key, hash_fresh(path, buf)?),
                })
            };
            Ok::<_, std::convert::Infallible>(found())
        });
        let Ok(found) = found;
        found
            .into_iter()
            .map(|r| match r? {
                Found::Done(p) => Ok(p),
                Found::Hit(key, d) => {
                    if let Some(e) = self.entries.get_mut(&key) {
                        e.seen = true;
                    }
                    Ok(Probed::File(d))
                }
                Found::Fresh(key, f) => {
                    let d = f.digest;
                    self.record(key, f.bytes, f.entry);
                    Ok(Probed::File(d))
                }
            })
            .collect()
    }

    /// Re-hashes entries used in this session that are racy and whose racy window has
    /// passed, so a later run can trust them; waits up to `max_wait` for windows that end
    /// within it, but only when re-hashing those files next time would cost more than the
    /// wait (at `SETTLE_HASH_NS_PER_BYTE`): a few small files just edited are cheaper to
    /// hash again than to wait for. A file that changed since it was hashed gets its new
    /// digest. Files that are gone are forgotten.
    pub fn settle(&mut self, max_wait: Duration) {
        self.settle_priced(max_wait, SETTLE_HASH_NS_PER_BYTE);
    }

    /// [`StatCache::settle`], re-hashing priced at `ns_per_byte`.
    fn settle_priced(&mut self, max_wait: Duration, ns_per_byte: u64) {
        let racy: Vec<(Vec<u8>, i64, u64)> = self
            .entries
            .iter()
            .filter(|(_, e)| e.seen && e.stamp.racy(e.hashed_ns))
            .map(|(k, e)| (k.clone(), e.stamp.settles_at(), e.stamp.size))
            .collect();
        let Some(last) = racy.iter().map(|(_, at, _)| *at).max() else { return };
        let wait = last.saturating_sub(now_ns()).saturating_add(1_000_000);
        let max_wait = i64::try_from(max_wait.as_nanos()).unwrap_or(i64::MAX);
        let bytes: u64 = racy.iter().map(|(_, _, size)| size).sum();
        let rehash_ns = i64::try_from(bytes.saturating_mul(ns_per_byte)).unwrap_or(i64::MAX);
        if wait > 0 && wait <= max_wait && rehash_ns > wait {
            std::thread::sleep(Duration::from_nanos(wait.unsigned_abs()));
        }
        let now = now_ns();
        for (key, settles_at, _) in racy {
            if settles_at >= now {
                continue;
            }
            let path = self.path_of(&key);
            match par::with_buffer(|buf| hash_fresh(&path, buf)) {
                Ok(fresh) => self.record(key, fresh.bytes, fresh.entry),
                Err(_) => {
                    self.entries.remove(&key);
                    self.changed = true;
                }
            }
        }
    }

    /// The cache key of `path`: relative to the base when inside it, else absolute.
    fn key(&self, path: &Path) -> Vec<u8> {
        let abs;
        let path = if path.is_absolute() {
            path
        } else {
            abs = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
            &abs
        };
        match path.strip_prefix(&self.base) {
            Ok(rel) if !rel.as_os_str().is_empty() => rel.as_os_str().as_bytes().to_vec(),
            _ => path.as_os_str().as_bytes().to_vec(),
        }
    }

    /// The path a key stands for.
    fn path_of(&self, key: &[u8]) -> PathBuf {
        let p = Path::new(std::ffi::OsStr::from_bytes(key));
        if p.is_absolute() { p.to_path_buf() } else { self.base.join(p) }
    }

    /// The recorded digest for `key` if `stamp` matches and the entry is not racy; marks
    /// the entry as seen either way.
    fn lookup(&mut self, key: &[u8], stamp: &Stamp) -> Option<Digest> {
        let e = self.entries.get_mut(key)?;
        e.seen = true;
        (e.stamp == *stamp && !e.stamp.racy(e.hashed_ns)).then_some(e.digest)
    }

    /// [`Self::lookup`] without marking (for parallel lookups; marked afterwards).
    fn peek(&self, key: &[u8], stamp: &Stamp) -> Option<Digest> {
        let e = self.entries.get(key)?;
        (e.stamp == *stamp && !e.stamp.racy(e.hashed_ns)).then_some(e.digest)
    }

    /// Records a fresh hash (or forgets the path when the file changed while read).
    fn record(&mut self, key: Vec<u8>, bytes: u64, entry: Option<Entry>) {
        self.hashed_bytes += bytes;
        self.hashed_files += 1;
        self.changed = true;
        match entry {
            Some(e) => {
                self.entries.insert(key, e);
            }
            None => {
                self.entries.remove(&key);
            }
        }
    }
}

/// [`crate::hash_tree`] through a [`StatCache`]: the same manifest, but a file whose stat is
/// unchanged since it was hashed (and not racy) is not read. Files are stat'ed and, when
/// needed, hashed in parallel.
///
/// Errors: as [`crate::hash_tree`].
pub fn hash_tree_with(dir: &Path, rules: IgnoreRules, cache: &mut StatCache) -> Result<Manifest> {
    let items = walk::walk(dir, rules)?;
    let shared: &StatCache = cache;
    let results = par::try_map(&items, |item, buf| tree_entry(shared, item, buf))?;
    let mut entries = Vec::with_capacity(results.len());
    for (entry, outcome) in results {
        match outcome {
            Outcome::Symlink => {}
            Outcome::Hit(key) => {
                if let Some(e) = cache.entries.get_mut(&key) {
                    e.seen = true;
                }
            }
            Outcome::Hashed(key, bytes, rec) => cache.record(key, bytes, rec),
        }
        entries.push(entry);
    }
    Ok(Manifest::from_unsorted(entries))
}

/// How a tree entry's digest was found.
enum Outcome {
    Symlink,
    Hit(Vec<u8>),
    Hashed(Vec<u8>, u64, Option<Entry>),
}

fn tree_entry(cache: &StatCache, item: &Item, buf: &mut [u8]) -> Result<(TreeEntry, Outcome)> {
    let executable = match item.kind {
        Kind::Symlink => {
            let target = link_text(&item.abs)?;
            let entry = TreeEntry {
                path: item.rel.clone(),
                digest: Digest::of_bytes(&target),
                size: target.len() as u64,
                executable: false,
            };
            return Ok((entry, Outcome::Symlink));
        }
        Kind::File { executable } => executable,
    };
    let key = cache.key(&item.abs);
    let meta = fs::symlink_metadata(&item.abs).map_err(Error::read(&item.abs))?;
    let stamp = Stamp::of(&meta);
    if let Some(digest) = cache.peek(&key, &stamp) {
        let entry = TreeEntry { path: item.rel.clone(), digest, size: stamp.size, executable };
        return Ok((entry, Outcome::Hit(key)));
    }
    let fresh = hash_fresh(&item.abs, buf)?;
    let entry =
        TreeEntry { path: item.rel.clone(), digest: fresh.digest, size: fresh.bytes, executable };
    Ok((entry, Outcome::Hashed(key, fresh.bytes, fresh.entry)))
}

fn encode(entries: &HashMap<Vec<u8>, Entry>) -> Vec<u8> {
    let mut keys: Vec<&Vec<u8>> = entries.keys().collect();
    keys.sort_unstable();
    let size: usize = keys.iter().map(|k| k.len() + 84).sum::<usize>() + 44;
    let mut out = Vec::with_capacity(size);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&(keys.len() as u32).to_le_bytes());
    for key in keys {
        let e = &entries[key];
        out.extend_from_slice(&(key.len() as u32).to_le_bytes());
        out.extend_from_slice(key);
        e.stamp.encode(&mut out);
        out.extend_from_slice(&e.hashed_ns.to_le_bytes());
        out.extend_from_slice(&e.digest.0);
    }
    seal(&mut out);
    out
}

fn decode(bytes: &[u8]) -> Option<HashMap<Vec<u8>, Entry>> {
    let mut r = Reader::open_sealed(bytes, MAGIC)?;
    let count = r.u32()? as usize;
    let mut entries = HashMap::with_capacity(count.min(1 << 20));
    for _ in 0..count {
        let len = r.u32()? as usize;
        let key = r.take(len)?.to_vec();
        let stamp = Stamp::decode(&mut r)?;
        let hashed_ns = r.u64()? as i64;
        let digest = Digest(r.take(32)?.try_into().ok()?);
        entries.insert(key, Entry { stamp, digest, hashed_ns, seen: false });
    }
    r.is_empty().then_some(entries)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{COARSE_WINDOW_NS, FINE_WINDOW_NS};
    use std::time::Instant;
    use std::time::UNIX_EPOCH;

    /// Makes every entry old enough to trust, as if hashed well after the last write.
    fn age(c: &mut StatCache) {
        for e in c.entries.values_mut() {
            e.hashed_ns = e.stamp.settles_at() + 1;
        }
    }

    #[test]
    fn probe_all_stats_and_hashes_many_paths_at_once() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        fs::create_dir(root.join("folder")).unwrap();
        let mut paths = vec![root.join("gone"), root.join("folder")];
        for i in 0..50 {
            fs::write(root.join(format!("f{i}")), format!("file {i}")).unwrap();
            paths.push(root.join(format!("f{i}")));
        }
        let mut c = StatCache::new(root);
        let want = |i: usize| Probed::File(Digest::of_bytes(format!("file {i}").as_bytes()));
        let check = |got: Vec<Result<Probed>>| {
            assert_eq!(got[0].as_ref().unwrap(), &Probed::Missing);
            assert_eq!(got[1].as_ref().unwrap(), &Probed::Dir);
            for i in 0..50 {
                assert_eq!(got[i + 2].as_ref().unwrap(), &want(i));
            }
        };
        check(c.probe_all(&paths));
        assert_eq!(c.hashed_files(), 50);
        // Trusted once settled: nothing is read again.
        age(&mut c);
        check(c.probe_all(&paths));
        assert_eq!(c.hashed_files(), 50);
        // A changed file is read again, and only it.
        fs::write(root.join("f7"), "changed, longer").unwrap();
        let got = c.probe_all(&paths);
        assert_eq!(got[9].as_ref().unwrap(), &Probed::File(Digest::of_bytes(b"changed, longer")));
        assert_eq!(c.hashed_files(), 51);
    }

    #[test]
    fn probe_below_agrees_with_probe_all_and_shares_its_entries() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        fs::create_dir_all(root.join("data/sub")).unwrap();
        fs::write(root.join("data/a.txt"), "a").unwrap();
        fs::write(root.join("top"), "t").unwrap();
        let base = File::open(root).unwrap();
        let mut c = StatCache::new(root);
        let rels = ["data/a.txt", "top", "data/sub", "data/gone", "top/under", "gone/x"];
        let below: Vec<Probed> =
            rels.iter().map(|r| c.probe_below(&base, r).unwrap().unwrap()).collect();
        let paths: Vec<PathBuf> = rels.iter().map(|r| root.join(r)).collect();
        let all: Vec<Probed> = c.probe_all(&paths).into_iter().map(|p| p.unwrap()).collect();
        assert_eq!(below, all);
        assert_eq!(below[0], Probed::File(Digest::of_bytes(b"a")));
        assert_eq!(
            (&below[2], &below[3], &below[4]),
            (&Probed::Dir, &Probed::Missing, &Probed::Missing)
        );
        // One entry per file, whichever way it was reached: settled, nothing is read again.
        age(&mut c);
        let read = c.hashed_files();
        c.probe_below(&base, "data/a.txt").unwrap().unwrap();
        c.hash_file(&root.join("data/a.txt")).unwrap();
        assert_eq!(c.hashed_files(), read);
        // Paths whose key would not be the text given are left to the caller.
        for odd in ["", "/etc/passwd", "./top", "data/../top", "data//a.txt", "data/", "a\0b"] {
            assert!(c.probe_below(&base, odd).is_none(), "{odd:?}");
        }
    }

    #[test]
    fn unchanged_file_is_not_read_again() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("a.txt");
        fs::write(&f, "hello").unwrap();
        let mut c = StatCache::new(dir.path());
        assert_eq!(c.hash_file(&f).unwrap(), Digest::of_bytes(b"hello"));
        assert_eq!(c.hashed_bytes(), 5);
        // Just written: racy, so read again.
        assert_eq!(c.hash_file(&f).unwrap(), Digest::of_bytes(b"hello"));
        assert_eq!(c.hashed_bytes(), 10);
        age(&mut c);
        assert_eq!(c.hash_file(&f).unwrap(), Digest::of_bytes(b"hello"));
        assert_eq!(c.hashed_bytes(), 10, "a settled, unchanged file is not read");
        // A change of content and size is seen through the stat.
        fs::write(&f, "hello world").unwrap();
        assert_eq!(c.hash_file(&f).unwrap(), Digest::of_bytes(b"hello world"));
        assert_eq!(c.hashed_bytes(), 21);
    }

    /// Git's racy-clean case: a file rewritten with the same size in the same timestamp tick,
    /// with its mtime put back, has an identical stat. It must be hashed again while the
    /// recorded hash time is within the granularity window of its timestamps.
    #[test]
    fn racy_rewrite_in_the_same_tick_is_rehashed() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("train.sh");
        fs::write(&f, "echo aaaa\n").unwrap();
        let mut c = StatCache::new(dir.path());
        assert_eq!(c.hash_file(&f).unwrap(), Digest::of_bytes(b"echo aaaa\n"));
        let key = c.key(&f);
        let recorded = c.entries[&key];
        assert!(recorded.stamp.racy(recorded.hashed_ns), "hashed right after the write");

        // Rewrite: same size, mtime set back to the recorded value.
        fs::write(&f, "echo bbbb\n").unwrap();
        let mtime = UNIX_EPOCH + Duration::from_nanos(recorded.stamp.mtime_ns as u64);
        File::options().write(true).open(&f).unwrap().set_modified(mtime).unwrap();
        let now = Stamp::of(&fs::metadata(&f).unwrap());
        assert_eq!((now.size, now.mtime_ns), (recorded.stamp.size, recorded.stamp.mtime_ns));
        // The kernel may or may not have moved the ctime (it does only on a new tick); make
        // the stat identical, as in the same tick, so only the racy rule can catch it.
        c.entries.get_mut(&key).unwrap().stamp = now;
        assert!(c.entries[&key].stamp.racy(recorded.hashed_ns));
        let bytes = c.hashed_bytes();
        assert_eq!(c.hash_file(&f).unwrap(), Digest::of_bytes(b"echo bbbb\n"));
        assert_eq!(c.hashed_bytes(), bytes + 10, "the racy entry was re-hashed");

        // The same identical stat, but recorded after the window: trusted (the stale digest
        // comes back), which is why the racy rule is needed at all.
        let e = c.entries.get_mut(&key).unwrap();
        e.digest = Digest::of_bytes(b"stale");
        e.hashed_ns = e.stamp.settles_at() + 1;
        assert_eq!(c.hash_file(&f).unwrap(), Digest::of_bytes(b"stale"));
    }

    #[test]
    fn racy_window_follows_timestamp_granularity() {
        let s = |m: i64, c: i64| Stamp { dev: 0, ino: 0, size: 0, mtime_ns: m, ctime_ns: c };
        let t = 1_700_000_000_123_456_789i64;
        assert!(s(t, t).racy(t + FINE_WINDOW_NS));
        assert!(!s(t, t).racy(t + FINE_WINDOW_NS + 1));
        assert!(s(t - 10 * FINE_WINDOW_NS, t).racy(t + 1), "the ctime decides");
        // An mtime set into the future (touch -d) or the past does not: the ctime moved.
        assert!(!s(t + 5_000_000_000, t).racy(t + FINE_WINDOW_NS + 1));
        assert!(!s(t - 5_000_000_000, t).racy(t + FINE_WINDOW_NS + 1));
        let whole = 1_700_000_000_000_000_000i64;
        assert!(s(t, whole).racy(whole + 1_500_000_000), "whole-second ctime: 2 s window");
        assert!(!s(t, whole).racy(whole + COARSE_WINDOW_NS + 1));
    }

    #[test]
    fn settle_rehashes_racy_entries_once_their_window_passed() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("a.txt");
        fs::write(&f, "abc").unwrap();
        let mut c = StatCache::new(dir.path());
        c.hash_file(&f).unwrap();
        // Three bytes: hashing them again next time is cheaper than waiting.
        let started = Instant::now();
        c.settle(Duration::from_millis(500));
        assert!(started.elapsed() < Duration::from_millis(50));
        assert_eq!(c.hashed_bytes(), 3);
        // Priced as if they were expensive, they are waited for and re-hashed.
        let started = Instant::now();
        c.settle_priced(Duration::from_millis(500), u64::MAX / 4);
        assert!(started.elapsed() < Duration::from_millis(450));
        assert_eq!(c.hashed_bytes(), 6);
        let e = c.entries[&c.key(&f)];
        assert!(!e.stamp.racy(e.hashed_ns));
        assert_eq!(c.hash_file(&f).unwrap(), Digest::of_bytes(b"abc"));
        assert_eq!(c.hashed_bytes(), 6);
        // A file gone by then is forgotten.
        fs::write(dir.path().join("b.txt"), "b").unwrap();
        c.hash_file(&dir.path().join("b.txt")).unwrap();
        fs::remove_file(dir.path().join("b.txt")).unwrap();
        c.settle_priced(Duration::from_millis(500), u64::MAX / 4);
        assert_eq!(c.len(), 1);
    }

    #[test]
    fn save_and_load_roundtrip_and_damage() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        fs::create_dir(root.join("src")).unwrap();
        fs::write(root.join("src/a.py"), "print(1)").unwrap();
        let outside = tempfile::tempdir().unwrap();
        fs::write(outside.path().join("data.csv"), "1,2").unwrap();
        let file = root.join(".runner/statcache");
        let mut c = StatCache::new(root);
        c.hash_file(&root.join("src/a.py")).unwrap();
        c.hash_file(&outside.path().join("data.csv")).unwrap();
        age(&mut c);
        assert!(c.save(&file).unwrap());
        assert!(!c.save(&file).unwrap(), "nothing changed: not written again");

        // Relative base, absolute lookups: same keys.
        let mut d = StatCache::load(&file, root);
        assert_eq!(d.len(), 2);
        assert!(d.entries.contains_key(b"src/a.py".as_slice()));
        assert_eq!(d.hash_file(&root.join("src/a.py")).unwrap(), Digest::of_bytes(b"print(1)"));
        assert_eq!(
            d.hash_file(&outside.path().join("data.csv")).unwrap(),
            Digest::of_bytes(b"1,2")
        );
        assert_eq!(d.hashed_bytes(), 0);

        // Entries not used in a session are dropped on save.
        let mut e = StatCache::load(&file, root);
        e.hash_file(&root.join("src/a.py")).unwrap();
        assert!(e.save(&file).unwrap());
        assert_eq!(StatCache::load(&file, root).len(), 1);

        // Damage: a flipped byte or a truncation loads as empty.
        let mut bytes = fs::read(&file).unwrap();
        bytes[20] ^= 1;
        fs::write(&file, &bytes).unwrap();
        let damaged = StatCache::load(&file, root);
        assert!(damaged.is_empty() && damaged.is_changed());
        fs::write(&file, &bytes[..10]).unwrap();
        assert!(StatCache::load(&file, root).is_empty());
        assert!(StatCache::load(&root.join("nope"), root).is_empty());
    }

    #[test]
    fn hash_tree_with_matches_hash_tree_and_skips_unchanged_files() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        fs::write(root.join(".gitignore"), "*.log\n").unwrap();
        for i in 0..50 {
            let p = root.join(format!("d{}/f{i}.txt", i % 5));
            fs::create_dir_all(p.parent().unwrap()).unwrap();
            fs::write(p, format!("content {i}")).unwrap();
        }
        fs::write(root.join("skip.log"), "ignored").unwrap();
        std::os::unix::fs::symlink("d0/f0.txt", root.join("link")).unwrap();
        let plain = crate::hash_tree(root, IgnoreRules::Snapshot).unwrap();
        let mut c = StatCache::new(root);
        assert_eq!(hash_tree_with(root, IgnoreRules::Snapshot, &mut c).unwrap(), plain);
        assert_eq!(c.hashed_files(), 51);
        age(&mut c);
        let (bytes, files) = (c.hashed_bytes(), c.hashed_files());
        assert_eq!(hash_tree_with(root, IgnoreRules::Snapshot, &mut c).unwrap(), plain);
        assert_eq!((c.hashed_bytes(), c.hashed_files()), (bytes, files), "nothing re-read");
        fs::write(root.join("d1/f1.txt"), "changed!!").unwrap();
        let m = hash_tree_with(root, IgnoreRules::Snapshot, &mut c).unwrap();
        assert_eq!(m, crate::hash_tree(root, IgnoreRules::Snapshot).unwrap());
        assert_eq!(c.hashed_files(), files + 1);
        assert_eq!(c.hashed_bytes(), bytes + 9);
    }

    /// Loading 10,000 entries must stay far below what hashing them would cost.
    #[test]
    #[allow(clippy::print_stderr)] // the measured time, with --nocapture
    fn ten_thousand_entries_load_fast() {
        let dir = tempfile::tempdir().unwrap();
        let mut c = StatCache::new(dir.path());
        for i in 0..10_000u64 {
            let key = format!("src/module_{}/file_{i:05}.py", i % 100).into_bytes();
            let stamp = Stamp { dev: 1, ino: i, size: i, mtime_ns: 1, ctime_ns: 1 };
            c.entries
                .insert(key, Entry { stamp, digest: Digest([7; 32]), hashed_ns: 5, seen: true });
        }
        c.changed = true;
        let file = dir.path().join("statcache");
        c.save(&file).unwrap();
        let size = fs::metadata(&file).unwrap().len();
        let started = Instant::now();
        let loaded = StatCache::load(&file, dir.path());
        let took = started.elapsed();
        assert_eq!(loaded.len(), 10_000);
        eprintln!("statcache: 10,000 entries, {size} bytes, loaded in {took:?}");
        assert!(took < Duration::from_millis(500), "{took:?}");
    }
}
