//! Checking that the blobs of a manifest are present and intact, without rehashing every time.
//!
//! A blob is intact when its bytes still hash to its name. Rehashing every blob on every cache
//! hit is slow for large outputs, so after a successful check the blob's stat is remembered in a
//! sidecar `verified/<64 hex>`: one line `v1 <dev> <inode> <size> <mtime ns> <ctime ns>`.
//! The next check trusts the blob without reading it if the stat is identical, and rehashes it
//! otherwise. Writing a blob needs a chmod (blobs are 0444) and a write, and both set the ctime to
//! the current time, which user code cannot set back, so any modification, even one that keeps
//! the size and restores the mtime, forces a rehash. Replacing the blob changes the inode.
//! Blobs under [`SMALL_BLOB`] (16 KiB) get no record: they are rehashed every time, which
//! costs what reading a record would.
//!
//! A cache opened with [`Cache::remembering`] also keeps, in memory, the stamp of every
//! blob it found intact, small ones included, under the same rules (stat unchanged across the
//! hash, and settled); the next check of that blob is one `stat` compared with it. Nothing of it
//! outlives the process, so it needs no sync: a blob stored by the process itself is remembered
//! once it settles.
//!
//! Stat caches have a "racy" window (git's racy-git problem): timestamps are coarse, so a change
//! made in the same clock tick as the recorded stat could keep the same ctime. A record is
//! therefore only written when the blob's ctime and mtime are safely older than the moment the
//! stat was taken (100 ms, or 2 s when the filesystem shows whole-second timestamps), and the
//! stat taken after hashing equals the one before. A freshly stored blob is thus rehashed by
//! its first check. Hard-linking a blob (materializing with links) also changes its ctime, so
//! the next check rehashes it once. Records are written atomically but without fsync: losing or
//! tearing one only costs a rehash, as a record that does not parse or match is ignored.

use std::fs::{self, File};
use std::io;
use std::os::unix::fs::MetadataExt;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::atomic::write_via;
use crate::digest::hash_reader;
use crate::{Cache, Digest, Manifest, par};

/// Why a manifest's files cannot be trusted. `path` is the manifest entry's relative path (`""`
/// for a single-file output). Messages are lowercase, e.g.
/// `output file model.pkl: blob ba7816bf8f01 is missing`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    /// The blob is not in the store.
    #[error("output {}: blob {} is missing", file_label(path), digest.short())]
    MissingBlob {
        /// Relative path of the entry.
        path: String,
        /// The blob's expected digest.
        digest: Digest,
    },
    /// The blob's bytes no longer hash to its name (edited in place, disk corruption).
    #[error(
        "output {}: blob {} is corrupt (its content now hashes to {})",
        file_label(path),
        expected.short(),
        actual.short()
    )]
    Corrupt {
        /// Relative path of the entry.
        path: String,
        /// The digest the manifest records (the blob's name).
        expected: Digest,
        /// What the blob's bytes hash to now.
        actual: Digest,
    },
    /// The blob exists but cannot be read (permissions, IO error); the message is the OS error.
    #[error("output {}: blob {} cannot be read: {message}", file_label(path), digest.short())]
    Unreadable {
        /// Relative path of the entry.
        path: String,
        /// The blob's digest.
        digest: Digest,
        /// The OS error, as text.
        message: String,
    },
}

fn file_label(path: &str) -> String {
    if path.is_empty() { "file".to_owned() } else { format!("file {path}") }
}

/// Result of checking one blob.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BlobState {
    Ok,
    Missing,
    Corrupt(Digest),
}

/// Most blobs a remembering cache keeps (about 100 MB of memory at most).
const MAX_REMEMBERED: usize = 1_000_000;

/// Blobs found intact by one cache and its clones: digest → stamp when found intact.
#[derive(Debug, Default)]
pub(crate) struct Remembered(std::sync::Mutex<std::collections::HashMap<Digest, Stamp>>);

impl Remembered {
    fn get(&self, d: &Digest) -> Option<Stamp> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).get(d).copied()
    }

    /// Remembers `d` as intact at `stamp` if the stamp is settled at `now_ns`. Past
    /// [`MAX_REMEMBERED`] blobs, everything remembered is forgotten first (and checked by
    /// reading again).
    fn note(&self, d: &Digest, stamp: Stamp, now_ns: i128) {
        if stamp.settled(now_ns) {
            let mut blobs = self.0.lock().unwrap_or_else(|e| e.into_inner());
            if blobs.len() >= MAX_REMEMBERED {
                blobs.clear();
            }
            blobs.insert(*d, stamp);
        }
    }
}

fn now_ns() -> i128 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |t| t.as_nanos() as i128)
}

/// The stat fields a verified record remembers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Stamp {
    dev: u64,
    ino: u64,
    size: u64,
    mtime_ns: i128,
    ctime_ns: i128,
}

impl Stamp {
    pub(crate) fn of(m: &fs::Metadata) -> Stamp {
        let ns = |s: i64, n: i64| i128::from(s) * 1_000_000_000 + i128::from(n);
        Stamp {
            dev: m.dev(),
            ino: m.ino(),
            size: m.size(),
            mtime_ns: ns(m.mtime(), m.mtime_nsec()),
            ctime_ns: ns(m.ctime(), m.ctime_nsec()),
        }
    }

    fn encode(&self) -> String {
        let Stamp { dev, ino, size, mtime_ns, ctime_ns } = self;
        format!("v1 {dev} {ino} {size} {mtime_ns} {ctime_ns}\n")
    }

    fn decode(text: &str) -> Option<Stamp> {
        let mut it = text.strip_suffix('\n')?.split(' ');
        if it.next()? != "v1" {
            return None;
        }
        let stamp = Stamp {
            dev: it.next()?.parse().ok()?,
            ino: it.next()?.parse().ok()?,
            size: it.next()?.parse().ok()?,
            mtime_ns: it.next()?.parse().ok()?,
            ctime_ns: it.next()?.parse().ok()?,
        };
        it.next().is_none().then_some(stamp)
    }

    /// Whether both timestamps are far enough before `now_ns` that a later change would get a
    /// different ctime.
    fn settled(&self, now_ns: i128) -> bool {
        let whole_seconds =
            self.mtime_ns % 1_000_000_000 == 0 && self.ctime_ns % 1_000_000_000 == 0;
        let margin = if whole_seconds { 2_000_000_000 } else { 100_000_000 };
        self.mtime_ns.max(self.ctime_ns) + margin < now_ns
    }
}

/// Blobs smaller than this (16 KiB) are always rehashed and never get a `verified/` record:
/// reading one costs about what reading its record would, and creating 10,000 records after
/// a build of 10,000 small outputs cost a second on this project's machine.
pub(crate) const SMALL_BLOB: u64 = 16 * 1024;

/// When this process first opened a cache with deferred sync (ns since the epoch), if it did.
static DEFERRED_SINCE: std::sync::OnceLock<i128> = std::sync::OnceLock::new();

/// Notes that this process writes blobs without fsync from now on.
pub(crate) fn note_deferred_start() {
    DEFERRED_SINCE.get_or_init(|| {
        SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |t| t.as_nanos() as i128)
    });
}

/// Whether a blob with this stamp may have been written by this process without fsync, and
/// so must not get a `verified/` record before the process's final sync (see the `cas`
/// module docs on deferred sync).
fn created_unsynced(stamp: &Stamp) -> bool {
    DEFERRED_SINCE.get().is_some_and(|since| stamp.ctime_ns >= *since)
}

impl Cache {
    /// Checks every blob of `m` exists and its content still hashes to its digest, in parallel.
    ///
    /// To avoid rehashing on every call, a blob whose stat (device, inode, size, mtime ns, ctime
    /// ns) equals the record kept after its last successful check (`verified/` sidecar, see the
    /// module docs) is trusted without reading it; any other blob is rehashed. Returns the first
    /// problem in manifest order.
    pub fn verify(&self, m: &Manifest) -> Result<(), VerifyError> {
        let results = par::try_map(&m.entries, |e, buf| {
            let state = self.check_blob(&e.digest, buf).map_err(|err| VerifyError::Unreadable {
                path: e.path.clone(),
                digest: e.digest,
                message: err.to_string(),
            })?;
            match state.0 {
                BlobState::Ok => Ok(()),
                BlobState::Missing => {
                    Err(VerifyError::MissingBlob { path: e.path.clone(), digest: e.digest })
                }
                BlobState::Corrupt(actual) => {
                    Err(VerifyError::Corrupt { path: e.path.clone(), expected: e.digest, actual })
                }
            }
        });
        results.map(|_| ())
    }

    /// Checks one blob; the flag says whether it was read and hashed (false: trusted by record).
    pub(crate) fn check_blob(&self, d: &Digest, buf: &mut [u8]) -> io::Result<(BlobState, bool)> {
        let blob = self.blob_path(d);
        let remembered = self.remembered();
        if let Some(stamp) = remembered.and_then(|r| r.get(d))
            && fs::symlink_metadata(&blob).is_ok_and(|m| Stamp::of(&m) == stamp)
        {
            return Ok((BlobState::Ok, false));
        }
        let record = self.shard_path("verified", d, "");
        // Most blobs are small: read one chunk first; if that was all of it, hash it (three
        // syscalls, no record). A larger one is trusted by its record if its stat matches,
        // else hashed from the same open file.
        let mut file = match File::open(&blob) {
            Ok(f) => f,
            // A record left behind cannot vouch for a blob stored again later: that one has
            // another inode and ctime.
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Ok((BlobState::Missing, false));
            }
            Err(e) => return Err(e),
        };
        let stamp_before = Stamp::of(&file.metadata()?);
        let mut head = Vec::new();
        if let Err(e) = crate::atomic::read_rest(&mut file, &mut head, SMALL_BLOB as usize) {
            // A folder where a blob should be is no blob.
            return if file.metadata()?.is_file() {
                Err(e)
            } else {
                Ok((BlobState::Missing, false))
            };
        }
        if head.len() < SMALL_BLOB as usize {
            let actual = Digest::of_bytes(&head);
            if actual != *d {
                return Ok((BlobState::Corrupt(actual), true));
            }
            self.noted().note(d, stamp_before);
            if let Some(r) = remembered
                && Stamp::of(&file.metadata()?) == stamp_before
            {
                r.note(d, stamp_before, now_ns());
            }
            return Ok((BlobState::Ok, true));
        }
        let before = stamp_before;
        let recorded = crate::atomic::read_small(&record)
            .ok()
            .and_then(|t| String::from_utf8(t).ok())
            .and_then(|t| Stamp::decode(&t));
        if recorded == Some(before) {
            self.noted().note(d, before);
            return Ok((BlobState::Ok, false));
        }
        let (actual, _) = hash_reader(io::Read::chain(&head[..], &mut file), buf)?;
        if actual != *d {
            let _ = fs::remove_file(&record);
            return Ok((BlobState::Corrupt(actual), true));
        }
        let now_ns = now_ns();
        let after = Stamp::of(&file.metadata()?);
        if after == before {
            self.noted().note(d, after);
        }
        if let Some(r) = remembered
            && after == before
        {
            r.note(d, after, now_ns);
        }
        if after == before && after.settled(now_ns) && !created_unsynced(&after) {
            // Best effort: failing to record only means rehashing next time.
            let _ = fs::create_dir_all(crate::atomic::parent_of(&record)).map_err(|_| ()).and_then(
                |()| {
                    write_via(&self.tmp_dir(), &record, after.encode().as_bytes(), false)
                        .map_err(|_| ())
                },
            );
        }
        Ok((BlobState::Ok, true))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::digest::BUF_SIZE;
    use std::os::unix::fs::PermissionsExt;
    use std::path::Path;
    use std::time::Duration;

    fn setup(root: &Path) -> (Cache, Manifest) {
        let src = root.join("out");
        fs::create_dir_all(src.join("sub")).unwrap();
        // Large enough to be trusted through its record; the log is small.
        fs::write(src.join("model.pkl"), "weights!".repeat(4096)).unwrap();
        fs::write(src.join("sub/log.txt"), "log").unwrap();
        let cache = Cache::open(&root.join("cache")).unwrap();
        let m = cache.ingest_tree(&src).unwrap();
        (cache, m)
    }

    #[test]
    fn stamp_roundtrip() {
        let s = Stamp { dev: 1, ino: 2, size: 3, mtime_ns: -4, ctime_ns: 5 };
        assert_eq!(Stamp::decode(&s.encode()), Some(s));
        assert_eq!(Stamp::decode("v1 1 2 3 4"), None);
        assert_eq!(Stamp::decode("v1 1 2 3 4 5 6\n"), None);
    }

    #[test]
    fn missing_blob() {
        let dir = tempfile::tempdir().unwrap();
        let (cache, m) = setup(dir.path());
        cache.verify(&m).unwrap();
        let e = &m.entries[0];
        fs::remove_file(cache.blob_path(&e.digest)).unwrap();
        let err = cache.verify(&m).unwrap_err();
        assert_eq!(err, VerifyError::MissingBlob { path: "model.pkl".into(), digest: e.digest });
        assert_eq!(
            err.to_string(),
            format!("output file model.pkl: blob {} is missing", e.digest.short())
        );
    }

    #[test]
    fn corrupt_blob_detected_through_the_stat_record() {
        let dir = tempfile::tempdir().unwrap();
        let (cache, m) = setup(dir.path());
        let e = &m.entries[0];
        let blob = cache.blob_path(&e.digest);
        let record = cache.shard_path("verified", &e.digest, "");
        let mut buf = vec![0u8; BUF_SIZE];

        // Fresh blobs are too recent to record; once settled, one check records and the next one
        // trusts the record without reading the blob.
        assert_eq!(cache.check_blob(&e.digest, &mut buf).unwrap(), (BlobState::Ok, true));
        assert!(!record.exists());
        std::thread::sleep(Duration::from_millis(250));
        cache.verify(&m).unwrap();
        assert!(record.exists());
        assert_eq!(cache.check_blob(&e.digest, &mut buf).unwrap(), (BlobState::Ok, false));

        // Overwrite with the same size and put the old mtime back: the ctime still changes.
        let old = fs::metadata(&blob).unwrap();
        fs::set_permissions(&blob, fs::Permissions::from_mode(0o644)).unwrap();
        fs::write(&blob, "WEIGHTS!".repeat(4096)).unwrap();
        fs::set_permissions(&blob, fs::Permissions::from_mode(0o444)).unwrap();
        let mtime = filetime::FileTime::from_last_modification_time(&old);
        filetime::set_file_mtime(&blob, mtime).unwrap();
        assert_eq!(fs::metadata(&blob).unwrap().len(), old.len());

        let err = cache.verify(&m).unwrap_err();
        assert_eq!(
            err,
            VerifyError::Corrupt {
                path: "model.pkl".into(),
                expected: e.digest,
                actual: Digest::of_bytes("WEIGHTS!".repeat(4096).as_bytes()),
            }
        );
        assert!(err.to_string().starts_with("output file model.pkl: blob "), "{err}");
        assert!(!record.exists());
        assert_eq!(fs::read_dir(cache.tmp_dir()).unwrap().count(), 0);
    }

    #[test]
    fn small_blobs_are_hashed_every_time_and_never_recorded() {
        let dir = tempfile::tempdir().unwrap();
        let (cache, m) = setup(dir.path());
        let e = m.entries.iter().find(|e| e.path == "sub/log.txt").unwrap();
        let mut buf = vec![0u8; BUF_SIZE];
        std::thread::sleep(Duration::from_millis(250));
        for _ in 0..2 {
            assert_eq!(cache.check_blob(&e.digest, &mut buf).unwrap(), (BlobState::Ok, true));
        }
        assert!(!cache.shard_path("verified", &e.digest, "").exists());
        let blob = cache.blob_path(&e.digest);
        fs::set_permissions(&blob, fs::Permissions::from_mode(0o644)).unwrap();
        fs::write(&blob, "LOG").unwrap();
        let state = cache.check_blob(&e.digest, &mut buf).unwrap().0;
        assert_eq!(state, BlobState::Corrupt(Digest::of_bytes(b"LOG")));
    }

    #[test]
    fn a_remembering_cache_checks_a_settled_blob_by_stat_and_sees_edits() {
        let dir = tempfile::tempdir().unwrap();
        let (cache, m) = setup(dir.path());
        let cache = cache.remembering();
        let e = m.entries.iter().find(|e| e.path == "sub/log.txt").unwrap();
        let mut buf = vec![0u8; BUF_SIZE];
        // Fresh: hashed, and not remembered until settled.
        assert_eq!(cache.check_blob(&e.digest, &mut buf).unwrap(), (BlobState::Ok, true));
        assert_eq!(cache.check_blob(&e.digest, &mut buf).unwrap(), (BlobState::Ok, true));
        std::thread::sleep(Duration::from_millis(250));
        assert_eq!(cache.check_blob(&e.digest, &mut buf).unwrap(), (BlobState::Ok, true));
        // Settled and remembered: a clone checks it by its stat alone.
        let clone = cache.clone();
        assert_eq!(clone.check_blob(&e.digest, &mut buf).unwrap(), (BlobState::Ok, false));
        assert!(!cache.shard_path("verified", &e.digest, "").exists(), "memory only");
        // Same size, old mtime put back: the ctime moved, so it is read again.
        let blob = cache.blob_path(&e.digest);
        let old = fs::metadata(&blob).unwrap();
        fs::set_permissions(&blob, fs::Permissions::from_mode(0o644)).unwrap();
        fs::write(&blob, "LOG").unwrap();
        filetime::set_file_mtime(&blob, filetime::FileTime::from_last_modification_time(&old))
            .unwrap();
        let state = cache.check_blob(&e.digest, &mut buf).unwrap().0;
        assert_eq!(state, BlobState::Corrupt(Digest::of_bytes(b"LOG")));
        // A cache that does not remember reads small blobs every time.
        let plain = Cache::open(&dir.path().join("cache")).unwrap();
        fs::write(&blob, "log").unwrap();
        std::thread::sleep(Duration::from_millis(250));
        for _ in 0..2 {
            assert_eq!(plain.check_blob(&e.digest, &mut buf).unwrap(), (BlobState::Ok, true));
        }
    }

    #[test]
    fn racy_stamps_are_not_settled() {
        let now = 1_000_000_000_000i128;
        let s = |m: i128, c: i128| Stamp { dev: 0, ino: 0, size: 0, mtime_ns: m, ctime_ns: c };
        assert!(s(now - 500_000_001, now - 200_000_001).settled(now));
        assert!(!s(now - 500_000_001, now - 50_000_001).settled(now));
        // Whole-second timestamps need two seconds.
        assert!(!s(now - 1_000_000_000, now - 1_000_000_000).settled(now));
        assert!(s(now - 3_000_000_000, now - 3_000_000_000).settled(now));
        // A future mtime never settles.
        assert!(!s(now + 10, now - 500_000_001).settled(now));
    }
}
