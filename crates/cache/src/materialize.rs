//! Laying a manifest out as files: [`Cache::materialize`].
//!
//! Each entry becomes a hard link to its blob or a copy of it, inside a temp sibling of the
//! destination (`.<name>.tmp.<pid>.<n>`) that is renamed into place at the end, so a reader never
//! sees a half-restored output and a failure leaves nothing behind. Hard links share the blob's
//! inode and therefore its mode: they stay read-only (0444), which makes an in-place edit fail
//! instead of silently corrupting the cache (DVC's "protected" outputs), and an executable entry is
//! always copied because a 0444 inode cannot carry its execute bit. Manifest paths are checked
//! before anything is written: they must be sorted, unique, relative and free of `.`/`..`/empty
//! components, so a corrupt or hostile manifest cannot write outside the destination.
//!
//! If something appears at `dest` between the initial check and the final rename, rename(2)
//! decides: a folder output fails over a non-empty folder and replaces an empty one; a
//! single-file output replaces a file.

use std::fs;
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use crate::atomic::{TempPath, parent_of, temp_name};
use crate::snapshot::copy_error;
use crate::{Cache, Error, Manifest, Result, TreeEntry};

impl Cache {
    /// Creates `dest` (must not exist; parent folders are created) holding the tree of `m`: a
    /// folder, or a single file when `m` is one entry with path `""`.
    ///
    /// With `link`, non-executable files are hard links to the read-only blobs (so they stay
    /// read-only, and editing them in place fails instead of corrupting the cache); executables,
    /// and every file when `link` is false or linking fails (another filesystem, link limit), are
    /// copies made writable (0644, or 0755 for executables). Symlink entries come back as regular
    /// files holding the target text. The tree is built in a temp sibling of `dest` and renamed
    /// into place; on error the temp sibling is removed. Does not verify blob contents (call
    /// [`Cache::verify`] first).
    ///
    /// Errors: [`Error::Exists`], [`Error::BadManifest`] (unsafe paths), [`Error::MissingBlob`],
    /// [`Error::Read`] / [`Error::Write`].
    pub fn materialize(&self, m: &Manifest, dest: &Path, link: bool) -> Result<()> {
        let single_file = check_layout(m)?;
        if fs::symlink_metadata(dest).is_ok() {
            return Err(Error::Exists { path: dest.to_path_buf() });
        }
        let parent = parent_of(dest);
        fs::create_dir_all(parent).map_err(Error::write(parent))?;
        let tmp = temp_name(parent, dest);
        if !single_file {
            fs::create_dir(&tmp).map_err(Error::write(&tmp))?;
        }
        let guard = TempPath(Some(tmp.clone()));
        for e in &m.entries {
            let to = if e.path.is_empty() { tmp.clone() } else { tmp.join(&e.path) };
            if let Some(dir) = to.parent().filter(|d| *d != tmp) {
                fs::create_dir_all(dir).map_err(Error::write(dir))?;
            }
            self.place(e, &to, link)?;
        }
        if fs::symlink_metadata(dest).is_ok() {
            return Err(Error::Exists { path: dest.to_path_buf() });
        }
        fs::rename(&tmp, dest).map_err(Error::write(dest))?;
        guard.disarm();
        Ok(())
    }

    fn place(&self, e: &TreeEntry, to: &Path, link: bool) -> Result<()> {
        let blob = self.blob_path(&e.digest);
        let missing = || match fs::symlink_metadata(&blob) {
            Err(err) if err.kind() == io::ErrorKind::NotFound => {
                Some(Error::MissingBlob { path: e.path.clone(), digest: e.digest })
            }
            _ => None,
        };
        if link && !e.executable && fs::hard_link(&blob, to).is_ok() {
            return Ok(());
        }
        if let Err(source) = fs::copy(&blob, to) {
            return Err(missing().unwrap_or_else(|| copy_error(&blob, to, source)));
        }
        let mode = if e.executable { 0o755 } else { 0o644 };
        fs::set_permissions(to, fs::Permissions::from_mode(mode)).map_err(Error::write(to))
    }
}

/// Checks that `m` can be laid out safely; returns whether it is a single file (`""`).
fn check_layout(m: &Manifest) -> Result<bool> {
    let bad = |reason: String| Err(Error::BadManifest { reason });
    if m.entries.len() == 1 && m.entries[0].path.is_empty() {
        return Ok(true);
    }
    if let Some(w) = m.entries.windows(2).find(|w| w[0].path >= w[1].path) {
        return bad(format!("entries not sorted or duplicated at {:?}", w[1].path));
    }
    for e in &m.entries {
        if e.path.is_empty() {
            return bad("an entry with an empty path next to other entries".into());
        }
        if e.path.split('/').any(|c| c.is_empty() || c == "." || c == "..") {
            return bad(format!("unsafe path {:?}", e.path));
        }
    }
    Ok(false)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cas::tests::sample_tree;
    use crate::{IgnoreRules, hash_tree};
    use std::os::unix::fs::MetadataExt;

    #[test]
    fn materialize_roundtrip() {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("out");
        sample_tree(&src);
        let cache = Cache::open(&dir.path().join("cache")).unwrap();
        let m = cache.ingest_tree(&src).unwrap();

        for link in [true, false] {
            let dest = dir.path().join(format!("restored/{link}"));
            cache.materialize(&m, &dest, link).unwrap();
            // The symlink comes back as a file holding its target text: same manifest.
            assert_eq!(hash_tree(&dest, IgnoreRules::None).unwrap(), m);
            let model = fs::metadata(dest.join("model.pkl")).unwrap();
            let run = fs::metadata(dest.join("bin/run.sh")).unwrap();
            assert_eq!(run.mode() & 0o777, 0o755);
            if link {
                assert_eq!(model.mode() & 0o777, 0o444);
                let e = m.entries.iter().find(|e| e.path == "model.pkl").unwrap();
                assert_eq!(model.ino(), fs::metadata(cache.blob_path(&e.digest)).unwrap().ino());
            } else {
                assert_eq!(model.mode() & 0o777, 0o644);
                assert_eq!(model.nlink(), 1);
            }
            assert_eq!(run.nlink(), 1);
        }
        // No temp siblings left next to the destinations.
        assert_eq!(fs::read_dir(dir.path().join("restored")).unwrap().count(), 2);

        let err = cache.materialize(&m, &dir.path().join("restored/true"), true).unwrap_err();
        assert!(matches!(err, Error::Exists { .. }), "{err}");

        let one = cache.ingest_tree(&src.join("model.pkl")).unwrap();
        let dest = dir.path().join("model.pkl");
        cache.materialize(&one, &dest, false).unwrap();
        assert_eq!(fs::read(&dest).unwrap(), b"weights");

        let empty = dir.path().join("empty_out");
        cache.materialize(&Manifest::default(), &empty, true).unwrap();
        assert!(empty.is_dir());
    }

    #[test]
    fn materialize_reports_missing_blobs_and_unsafe_paths() {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("out");
        sample_tree(&src);
        let cache = Cache::open(&dir.path().join("cache")).unwrap();
        let m = cache.ingest_tree(&src).unwrap();
        fs::remove_file(cache.blob_path(&m.entries[0].digest)).unwrap();
        let dest = dir.path().join("dest");
        let err = cache.materialize(&m, &dest, true).unwrap_err();
        assert!(matches!(err, Error::MissingBlob { .. }), "{err}");
        assert!(!dest.exists());
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 2, "temp sibling removed");

        let mut evil = m.clone();
        evil.entries[0].path = "../escape".into();
        let err = cache.materialize(&evil, &dest, false).unwrap_err();
        assert!(matches!(err, Error::BadManifest { .. }), "{err}");
    }
}
