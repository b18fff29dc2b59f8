//! Telling whether bytes the cache stored or handed out were written into since.
//!
//! A step's output files become blobs by hard link ([`Cache::adopt_tree`]), and its output
//! view is the folder it wrote, so the view's files and the blobs are one inode each: a
//! process that writes into a view (as root, through the read-only mode; a misbehaving step)
//! changes the blob. Two checks keep such a write from turning into a wrong result:
//!
//! - **Blobs since this handle stored or verified them** ([`Cache::check_unchanged`],
//!   [`Cache::is_noted`]): every blob a cache handle (and its clones) adopts, stores or finds
//!   intact is noted with its stat (device, inode, size, mtime and ctime in ns). A build that
//!   ran steps checks, before it reports success, that each blob of its results still has
//!   the noted stat (one `stat` each, of the blob or of the view's link to it); a blob whose
//!   stat moved, or that was never noted, is verified as a lookup would ([`Cache::verify`]'s
//!   rules: small blobs rehashed, large ones by their `verified/` record or rehashed).
//! - **A step's private input copies** ([`CopyStamps`], [`Cache::copy_intact`]): each file
//!   laid out by [`Cache::materialize_private`] is noted with its stat after it was written;
//!   once the step is over, a file under [`SMALL_BLOB`] is rehashed and a larger one compared
//!   by stat (rehashed if it moved), so a result is cached only if every input still holds
//!   the bytes its key names.
//!
//! Comparing stats relies on a write moving the ctime. On kernels with fine-grained
//! ("multigrain") timestamps (Linux 6.13+ on ext4, XFS, btrfs, tmpfs) a write after the
//! stat was taken always does; on older ones, a write within the same clock tick (a few
//! milliseconds) that keeps the size can go unseen for a file of [`SMALL_BLOB`] or more.

use std::collections::HashMap;
use std::fs;
use std::path::Path;
use std::sync::Mutex;

use crate::verify::{BlobState, SMALL_BLOB, Stamp};
use crate::{Cache, Digest, Manifest, VerifyError, par};

/// Most blobs one handle notes before it forgets them all (about 100 MB of memory).
const MAX_NOTED: usize = 1_000_000;

/// Blobs a cache handle stored or found intact, with their stats at that moment.
#[derive(Debug, Default)]
pub(crate) struct Noted(Mutex<HashMap<Digest, Stamp>>);

impl Noted {
    pub(crate) fn note(&self, d: &Digest, stamp: Stamp) {
        let mut blobs = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if blobs.len() >= MAX_NOTED {
            blobs.clear();
        }
        blobs.insert(*d, stamp);
    }

    fn get(&self, d: &Digest) -> Option<Stamp> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).get(d).copied()
    }
}

/// The stats of the files of a private copy, as they were once written
/// ([`Cache::materialize_private`]); one per manifest entry, in manifest order (`None` where
/// no stat could be taken).
#[derive(Debug, Clone, Default)]
pub struct CopyStamps(pub(crate) Vec<Option<Stamp>>);

impl Cache {
    /// Checks that every blob of `m` still holds what this handle (or a clone) stored or
    /// verified: one `stat` per blob noted then; any other blob is verified in full (see the
    /// module docs). Returns the first problem in manifest order.
    ///
    /// Errors: [`VerifyError`], as [`Cache::verify`].
    pub fn check_unchanged(&self, m: &Manifest) -> Result<(), VerifyError> {
        let noted = self.noted();
        par::try_map(&m.entries, |e, buf| {
            let blob = self.blob_path(&e.digest);
            let now = fs::symlink_metadata(&blob).ok().map(|m| Stamp::of(&m));
            if now.is_some() && noted.get(&e.digest) == now {
                return Ok(());
            }
            let unreadable = |err: std::io::Error| VerifyError::Unreadable {
                path: e.path.clone(),
                digest: e.digest,
                message: err.to_string(),
            };
            match self.check_blob(&e.digest, buf).map_err(unreadable)?.0 {
                BlobState::Ok => Ok(()),
                BlobState::Missing => {
                    Err(VerifyError::MissingBlob { path: e.path.clone(), digest: e.digest })
                }
                BlobState::Corrupt(actual) => {
                    Err(VerifyError::Corrupt { path: e.path.clone(), expected: e.digest, actual })
                }
            }
        })
        .map(drop)
    }

    /// Whether `meta` (the stat of some path: a file of an output view, which is a hard link
    /// to the blob) is blob `d` exactly as this handle (or a clone) last stored or verified
    /// it: same device, inode, size, mtime and ctime. One comparison, no IO.
    pub fn is_noted(&self, d: &Digest, meta: &fs::Metadata) -> bool {
        self.noted().get(d) == Some(Stamp::of(meta))
    }

    /// Whether the private copy of `m` laid out in `dir` (with `stamps` from
    /// [`Cache::materialize_private`]) still holds `m`'s bytes: `None` if so, else the path
    /// of the first file that changed (or went missing), relative to `dir`.
    pub fn copy_intact(&self, dir: &Path, m: &Manifest, stamps: &CopyStamps) -> Option<String> {
        let entries: Vec<(&crate::TreeEntry, Option<Stamp>)> = m
            .entries
            .iter()
            .enumerate()
            .map(|(i, e)| (e, stamps.0.get(i).copied().flatten()))
            .collect();
        let changed = par::try_map(&entries, |(e, stamp), buf| {
            let file = if e.path.is_empty() { dir.to_path_buf() } else { dir.join(&e.path) };
            if intact(&file, e.digest, *stamp, buf) { Ok(()) } else { Err(e.path.clone()) }
        });
        changed.err()
    }
}

/// Whether `file` holds the bytes with digest `d`: by its stat when it is large and has
/// `stamp` still, else by hashing it.
fn intact(file: &Path, d: Digest, stamp: Option<Stamp>, buf: &mut [u8]) -> bool {
    let Ok(meta) = fs::symlink_metadata(file) else { return false };
    if !meta.is_file() {
        return false;
    }
    if meta.len() >= SMALL_BLOB && stamp == Some(Stamp::of(&meta)) {
        return true;
    }
    fs::File::open(file)
        .and_then(|f| crate::digest::hash_reader(f, buf))
        .is_ok_and(|(actual, _)| actual == d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cas::tests::sample_cache;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn a_blob_written_through_its_view_is_caught() {
        let dir = tempfile::tempdir().unwrap();
        let (src, cache) = sample_cache(dir.path());
        let m = cache.adopt_tree(&src).unwrap();
        cache.check_unchanged(&m).unwrap();
        // The adopted folder is the view: its files are the blobs.
        let file = src.join("model.pkl");
        fs::set_permissions(&file, fs::Permissions::from_mode(0o644)).unwrap();
        fs::write(&file, b"weightz").unwrap();
        let err = cache.check_unchanged(&m).unwrap_err();
        assert!(
            matches!(err, VerifyError::Corrupt { ref path, .. } if path == "model.pkl"),
            "{err}"
        );
    }

    #[test]
    fn a_blob_noted_by_another_handle_is_verified_in_full() {
        let dir = tempfile::tempdir().unwrap();
        let (src, cache) = sample_cache(dir.path());
        let m = cache.ingest_tree(&src).unwrap();
        let other = Cache::open(cache.root()).unwrap();
        other.check_unchanged(&m).unwrap();
        let blob = cache.blob_path(&m.entries[0].digest);
        fs::set_permissions(&blob, fs::Permissions::from_mode(0o644)).unwrap();
        fs::write(&blob, b"changed").unwrap();
        assert!(Cache::open(cache.root()).unwrap().check_unchanged(&m).is_err());
    }

    #[test]
    fn a_private_copy_written_into_is_caught() {
        let dir = tempfile::tempdir().unwrap();
        let (src, cache) = sample_cache(dir.path());
        let m = cache.ingest_tree(&src).unwrap();
        let copy = dir.path().join("copy");
        let stamps = cache.materialize_private(&m, &copy, false).unwrap();
        assert_eq!(cache.copy_intact(&copy, &m, &stamps), None);
        fs::write(copy.join("model.pkl"), b"weightz").unwrap();
        assert_eq!(cache.copy_intact(&copy, &m, &stamps).as_deref(), Some("model.pkl"));
        fs::write(copy.join("model.pkl"), b"weights").unwrap();
        assert_eq!(cache.copy_intact(&copy, &m, &stamps), None, "the same bytes again");
        fs::remove_file(copy.join("model.pkl")).unwrap();
        assert_eq!(cache.copy_intact(&copy, &m, &stamps).as_deref(), Some("model.pkl"));
    }
}
