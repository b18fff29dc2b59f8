//! Laying a manifest out as files: [`Cache::materialize`].
//!
//! Each entry becomes a hard link to its blob or a copy of it, inside a temp sibling of the
//! destination (`.<name>.tmp.<pid>.<n>`) that is renamed into place at the end, so a reader never
//! sees a half-restored output and a failure leaves nothing behind. Hard links share the blob's
//! inode and therefore its mode: they stay read-only (0444), which makes an in-place edit fail
//! instead of silently corrupting the cache (DVC's "protected" outputs), and an executable entry is
//! always copied because a 0444 inode cannot carry its execute bit. Manifest paths are checked
//! before anything is written: they must be sorted, unique, relative and free of `.`/`..`/empty
//! components and NUL bytes, so a corrupt or hostile manifest cannot write outside the
//! destination. Entries are laid out inside a folder this creates, and it creates no
//! symlink (a symlink entry comes back as a file holding its target text), so no entry can
//! lead through a symlink either.
//!
//! If something appears at `dest` between the initial check and the final rename, rename(2)
//! decides: a folder output fails over a non-empty folder and replaces an empty one; a
//! single-file output replaces a file.

use std::fs;
use std::io;
use std::path::Path;

use crate::atomic::{TempPath, parent_of, temp_name};
use crate::confine::is_empty_dir;
use crate::snapshot::copy_error;
use crate::verify::Stamp;
use crate::{Cache, CopyStamps, Digest, Error, Manifest, Result, TreeEntry};

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
        let guard = TempPath(Some(tmp.clone()));
        self.lay_out(m, single_file, &tmp, Place { link, verify: false })?;
        if fs::symlink_metadata(dest).is_ok() {
            return Err(Error::Exists { path: dest.to_path_buf() });
        }
        fs::rename(&tmp, dest).map_err(Error::write(dest))?;
        guard.disarm();
        Ok(())
    }

    /// [`Cache::materialize`] straight into `dest`, without the temp sibling and rename: for a
    /// destination nothing reads before this returns (a step's private input folder), where
    /// publishing atomically would only cost a folder and a rename per input. `dest` must not
    /// exist, or be an empty folder (made ahead, off the critical path); its parent must. On
    /// error, what was laid out so far is left for the caller to remove.
    ///
    /// Every file copied is hashed as it is copied and must hash to its blob's name: a step
    /// reads exactly the bytes its key names, even if something wrote into the blob after it
    /// was stored (an output view is the blob's own inode, and root can write through its
    /// read-only mode), and the blob found corrupt is reported instead of laid out.
    ///
    /// Returns the stats of the files as written, for [`Cache::copy_intact`] to tell, once
    /// the step is over, whether anything wrote into them.
    ///
    /// Errors: as [`Cache::materialize`], and [`Error::CorruptBlob`].
    pub fn materialize_private(&self, m: &Manifest, dest: &Path, link: bool) -> Result<CopyStamps> {
        let single_file = check_layout(m)?;
        self.lay_out(m, single_file, dest, Place { link, verify: true }).map(CopyStamps)
    }

    /// [`Cache::materialize_private`] for several trees at once, on 2–4 threads (a step that
    /// reads a thousand upstream outputs waits for a thousand folders and files to be
    /// created). Stops at the first error, which names the destination; what was laid out
    /// is left for the caller to remove.
    ///
    /// Errors: as [`Cache::materialize`].
    pub fn materialize_all_private(
        &self,
        trees: &[(&Manifest, &Path)],
        link: bool,
    ) -> Result<Vec<CopyStamps>> {
        crate::par::try_map(trees, |(m, dest), _| self.materialize_private(m, dest, link))
    }

    /// Creates `to` (a folder unless `single_file`) holding the entries of `m`. A folder `to`
    /// that already exists is filled if it is empty (made ahead by the caller). Returns, per
    /// entry, the stat of a file copied with `how.verify` once written.
    fn lay_out(
        &self,
        m: &Manifest,
        single_file: bool,
        to: &Path,
        how: Place,
    ) -> Result<Vec<Option<Stamp>>> {
        if single_file && is_empty_dir(to) {
            // A folder made ahead, for what turned out to be one file.
            fs::remove_dir(to).map_err(Error::write(to))?;
        } else if !single_file {
            fs::create_dir(to).or_else(|e| match e.kind() {
                io::ErrorKind::AlreadyExists if is_empty_dir(to) => Ok(()),
                io::ErrorKind::AlreadyExists => Err(Error::Exists { path: to.to_path_buf() }),
                _ => Err(Error::Write { path: to.to_path_buf(), source: e }),
            })?;
        }
        let mut stamps = Vec::with_capacity(if how.verify { m.entries.len() } else { 0 });
        for e in &m.entries {
            let file = if e.path.is_empty() { to.to_path_buf() } else { to.join(&e.path) };
            if let Some(dir) = file.parent().filter(|d| *d != to) {
                fs::create_dir_all(dir).map_err(Error::write(dir))?;
            }
            let stamp = self.place(e, &file, how)?;
            if how.verify {
                stamps.push(stamp);
            }
        }
        Ok(stamps)
    }

    /// Places one entry; the stat of a file copied with `how.verify`, once written.
    fn place(&self, e: &TreeEntry, to: &Path, how: Place) -> Result<Option<Stamp>> {
        let blob = self.blob_path(&e.digest);
        let missing = || match fs::symlink_metadata(&blob) {
            Err(err) if err.kind() == io::ErrorKind::NotFound => {
                Some(Error::MissingBlob { path: e.path.clone(), digest: e.digest })
            }
            _ => None,
        };
        if how.link && !e.executable && fs::hard_link(&blob, to).is_ok() {
            return Ok(None);
        }
        let mode = if e.executable { 0o755 } else { 0o644 };
        if !how.verify {
            return match copy_new(&blob, to, mode) {
                Ok(()) => Ok(None),
                Err(source) => Err(missing().unwrap_or_else(|| copy_error(&blob, to, source))),
            };
        }
        match copy_hashed(&blob, to, mode) {
            Ok((actual, stamp)) if actual == e.digest => Ok(stamp),
            Ok((actual, _)) => {
                Err(Error::CorruptBlob { path: e.path.clone(), expected: e.digest, actual })
            }
            Err(source) => Err(missing().unwrap_or_else(|| copy_error(&blob, to, source))),
        }
    }
}

/// How [`Cache::lay_out`] places each file.
#[derive(Clone, Copy)]
struct Place {
    /// Hard-link non-executable files to their blobs where possible (else copy).
    link: bool,
    /// Hash each file copied, to check it against its blob's name.
    verify: bool,
}

/// Copies `from` to the new file `to`, created with `mode` (less the umask). Three syscalls
/// fewer than `fs::copy` then `chmod`, which matters with a copy per input per step.
fn copy_new(from: &Path, to: &Path, mode: u32) -> io::Result<()> {
    let (mut src, mut dest) = open_pair(from, to, mode)?;
    io::copy(&mut src, &mut dest).map(drop)
}

/// [`copy_new`] through a buffer, hashing the bytes written: the digest of what `to` holds,
/// and its stat once written (`None` if it could not be taken).
fn copy_hashed(from: &Path, to: &Path, mode: u32) -> io::Result<(Digest, Option<Stamp>)> {
    use sha2::Digest as _;
    use std::io::{Read as _, Write as _};
    let (mut src, mut dest) = open_pair(from, to, mode)?;
    thread_local! {
        static BUF: std::cell::RefCell<Vec<u8>> = std::cell::RefCell::new(vec![0u8; COPY_BUF]);
    }
    BUF.with_borrow_mut(|buf| {
        let mut hasher = sha2::Sha256::new();
        loop {
            let n = match src.read(buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            hasher.update(&buf[..n]);
            dest.write_all(&buf[..n])?;
        }
        let stamp = dest.metadata().ok().map(|m| Stamp::of(&m));
        Ok((Digest(hasher.finalize().into()), stamp))
    })
}

/// The buffer of [`copy_hashed`], one per thread: 256 KiB.
const COPY_BUF: usize = 256 * 1024;

fn open_pair(from: &Path, to: &Path, mode: u32) -> io::Result<(fs::File, fs::File)> {
    use std::os::unix::fs::OpenOptionsExt;
    let src = fs::File::open(from)?;
    let dest = fs::OpenOptions::new().write(true).create_new(true).mode(mode).open(to)?;
    Ok((src, dest))
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
        if e.path.contains('\0') || e.path.split('/').any(|c| c.is_empty() || c == "." || c == "..")
        {
            return bad(format!("unsafe path {:?}", e.path));
        }
    }
    Ok(false)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cas::tests::sample_cache;
    use crate::{IgnoreRules, hash_tree};
    use std::os::unix::fs::MetadataExt;

    #[test]
    fn materialize_roundtrip() {
        let dir = tempfile::tempdir().unwrap();
        let (src, cache) = sample_cache(dir.path());
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

        // Straight into place: the same tree, no temp sibling, and no second time.
        let private = dir.path().join("private");
        fs::create_dir(&private).unwrap();
        cache.materialize_private(&m, &private.join("in"), false).unwrap();
        assert_eq!(hash_tree(&private.join("in"), IgnoreRules::None).unwrap(), m);
        assert_eq!(fs::read_dir(&private).unwrap().count(), 1);
        let err = cache.materialize_private(&m, &private.join("in"), false).unwrap_err();
        assert!(matches!(err, Error::Exists { .. }), "{err}");
        // An empty folder made ahead is filled.
        fs::create_dir(private.join("ahead")).unwrap();
        cache.materialize_private(&m, &private.join("ahead"), false).unwrap();
        assert_eq!(hash_tree(&private.join("ahead"), IgnoreRules::None).unwrap(), m);
    }

    #[test]
    fn materialize_reports_missing_blobs_and_unsafe_paths() {
        let dir = tempfile::tempdir().unwrap();
        let (src, cache) = sample_cache(dir.path());
        let m = cache.ingest_tree(&src).unwrap();
        fs::remove_file(cache.blob_path(&m.entries[0].digest)).unwrap();
        let dest = dir.path().join("dest");
        let err = cache.materialize(&m, &dest, true).unwrap_err();
        assert!(matches!(err, Error::MissingBlob { .. }), "{err}");
        assert!(!dest.exists());
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 2, "temp sibling removed");

        // Hostile entry paths: refused before anything is written, here or where they point.
        let outside = dir.path().join("outside");
        fs::create_dir(&outside).unwrap();
        let absolute = outside.join("planted").display().to_string();
        for bad in ["../escape", absolute.as_str(), "a/../../escape", "./x", "a\0b", "a//b"] {
            let mut evil = m.clone();
            evil.entries[0].path = bad.into();
            evil.entries.sort_by(|a, b| a.path.cmp(&b.path));
            for link in [true, false] {
                let err = cache.materialize(&evil, &dest, link).unwrap_err();
                assert!(matches!(err, Error::BadManifest { .. }), "{bad:?}: {err}");
                let err = cache.materialize_private(&evil, &dest, link).unwrap_err();
                assert!(matches!(err, Error::BadManifest { .. }), "{bad:?}: {err}");
            }
        }
        assert!(!dest.exists());
        assert_eq!(fs::read_dir(&outside).unwrap().count(), 0);
        assert!(!dir.path().join("escape").exists());
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 3, "no temp sibling left");
    }

    /// A folder made ahead that turned into a symlink (to an empty folder elsewhere) is not
    /// taken for the empty folder: nothing is laid out through it.
    #[test]
    fn materialize_private_does_not_fill_a_symlink() {
        let dir = tempfile::tempdir().unwrap();
        let (src, cache) = sample_cache(dir.path());
        let m = cache.ingest_tree(&src).unwrap();
        let outside = dir.path().join("outside");
        fs::create_dir(&outside).unwrap();
        let dest = dir.path().join("ahead");
        std::os::unix::fs::symlink(&outside, &dest).unwrap();
        let err = cache.materialize_private(&m, &dest, false).unwrap_err();
        assert!(matches!(err, Error::Exists { .. }), "{err}");
        assert_eq!(fs::read_dir(&outside).unwrap().count(), 0);
    }

    #[test]
    fn private_copies_refuse_a_blob_written_through_a_view() {
        let dir = tempfile::tempdir().unwrap();
        let (src, cache) = sample_cache(dir.path());
        let m = cache.ingest_tree(&src).unwrap();
        let view = dir.path().join("view");
        cache.materialize(&m, &view, true).unwrap();
        // The view's file is the blob: writing it (as root can, or after a chmod) changes it.
        let file = view.join("model.pkl");
        fs::set_permissions(&file, std::os::unix::fs::PermissionsExt::from_mode(0o644)).unwrap();
        fs::write(&file, b"TAMPERED").unwrap();
        let err = cache.materialize_private(&m, &dir.path().join("input"), false).unwrap_err();
        match err {
            Error::CorruptBlob { path, expected, actual } => {
                assert_eq!(path, "model.pkl");
                assert_eq!(actual, Digest::of_bytes(b"TAMPERED"));
                assert_ne!(expected, actual);
            }
            other => panic!("{other}"),
        }
        // Intact blobs are copied as before.
        let one = cache.ingest_tree(&src.join("bin")).unwrap();
        let stamps = cache.materialize_private(&one, &dir.path().join("bin"), false).unwrap();
        assert_eq!(cache.copy_intact(&dir.path().join("bin"), &one, &stamps), None);
        assert_eq!(hash_tree(&dir.path().join("bin"), IgnoreRules::None).unwrap(), one);
    }
}
