//! Adopting a step's files into the CAS ([`Cache::adopt_tree`]): a file becomes its blob by a
//! hard link instead of a copy, and is made read-only.
//!
//! Only a file that is the step's alone is adopted: one reached through real folders below
//! the output folder (opened with no symlink followed, see `confine::open_no_symlinks`),
//! whose link count is 1. A file with another name (a step that hard-linked a file from
//! elsewhere into its output) is copied instead: adopting it would make that other name
//! read-only and part of the cache. The link count is read from the opened file, so the
//! checks and the bytes hashed are of one inode; after the link, the blob must be that inode
//! and carry exactly two names (the output's and its own), with size and mtime unchanged,
//! or the adoption is undone (mode restored, blob name removed) and reported as
//! [`Error::Changed`]. What is left is a process that links the file elsewhere after that
//! last check: it already had the file, and the blob's moved ctime makes a later
//! [`Cache::verify`] rehash it.

use std::fs::{self, File};
use std::io::{self, Seek};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

use crate::digest::hash_reader;
use crate::tree::TreeEntry;
use crate::verify::BlobState;
use crate::walk::Item;
use crate::{Cache, Digest, Error, Result};

/// The output folder (or single file) `dir` opened for adopting what is below it; `None` when
/// `dir` is a symlink (or cannot be opened): its files are then copied, not adopted.
pub(crate) fn adoption_root(dir: &Path) -> Option<File> {
    use std::os::unix::fs::OpenOptionsExt;
    fs::OpenOptions::new().read(true).custom_flags(libc::O_NOFOLLOW).open(dir).ok()
}

impl Cache {
    /// Hashes the plain file `item` (below the open `root`) and stores it: adopted when it is
    /// new to the CAS and the step's alone, copied otherwise. Returns its entry and whether
    /// a blob was published.
    pub(crate) fn adopt_item(
        &self,
        root: &File,
        item: &Item,
        buf: &mut [u8],
    ) -> Result<(TreeEntry, bool)> {
        let src = &item.abs;
        let opened = if item.rel.is_empty() {
            root.try_clone()
        } else {
            crate::confine::open_no_symlinks(root, &item.rel)
        };
        let mut file = opened.map_err(Error::read(src))?;
        let before = file.metadata().map_err(Error::read(src))?;
        if !before.is_file() {
            return Err(Error::Changed { path: src.clone() });
        }
        let (digest, size) = hash_reader(&file, buf).map_err(Error::read(src))?;
        let executable = before.mode() & 0o100 != 0;
        let entry = TreeEntry { path: item.rel.clone(), digest, size, executable };
        let blob = self.blob_path(&digest);
        let replace = match self.check_blob(&digest, buf).map_err(Error::read(&blob))?.0 {
            BlobState::Ok => return Ok((entry, false)),
            BlobState::Missing => false,
            BlobState::Corrupt(_) => true,
        };
        // A 0444 inode cannot keep an execute bit; another name must not become read-only.
        if replace || executable || before.nlink() != 1 {
            file.rewind().map_err(Error::read(src))?;
            self.store_reader(&file, src, &digest, replace, buf)?;
        } else {
            self.adopt_file(&mut file, src, &before, &digest, buf)?;
        }
        Ok((entry, true))
    }

    /// Publishes the open `file` (found at `src`, stat `before` taken when it was opened,
    /// hashed to `expected`) as its blob by a hard link, then makes it read-only; falls back
    /// to a copy where linking is not possible.
    fn adopt_file(
        &self,
        file: &mut File,
        src: &Path,
        before: &fs::Metadata,
        expected: &Digest,
        buf: &mut [u8],
    ) -> Result<()> {
        let blob = self.blob_path(expected);
        if self.durable() {
            file.sync_all().map_err(Error::write(src))?;
        }
        let mut linked = fs::hard_link(src, &blob);
        if matches!(&linked, Err(e) if e.kind() == io::ErrorKind::NotFound) {
            self.ensure_parent(&blob)?;
            linked = fs::hard_link(src, &blob);
        }
        match linked {
            Ok(()) => {}
            // Published meanwhile by someone else: same name, same bytes.
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => return Ok(()),
            Err(_) => {
                file.rewind().map_err(Error::read(src))?;
                return self.store_reader(&*file, src, expected, false, buf);
            }
        }
        // The link went by name: the name must still be the inode that was opened.
        let same_inode = fs::symlink_metadata(&blob)
            .is_ok_and(|b| (b.dev(), b.ino()) == (before.dev(), before.ino()));
        if !same_inode {
            let _ = fs::remove_file(&blob);
            return Err(Error::Changed { path: src.to_path_buf() });
        }
        let read_only = file.set_permissions(fs::Permissions::from_mode(0o444));
        let after = read_only.and_then(|()| file.metadata());
        let unmoved = after.as_ref().is_ok_and(|a| {
            a.nlink() == 2
                && a.size() == before.size()
                && (a.mtime(), a.mtime_nsec()) == (before.mtime(), before.mtime_nsec())
        });
        if !unmoved {
            let _ = file.set_permissions(fs::Permissions::from_mode(before.mode() & 0o7777));
            let _ = fs::remove_file(&blob);
            after.map_err(Error::write(&blob))?;
            return Err(Error::Changed { path: src.to_path_buf() });
        }
        if let Ok(after) = &after {
            self.noted().note(expected, crate::verify::Stamp::of(after));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cas::tests::write;
    use crate::{IgnoreRules, hash_tree};

    fn mode(p: &Path) -> u32 {
        fs::metadata(p).unwrap().mode() & 0o777
    }

    /// A step that hard-links a file from outside its project into its output: the outside
    /// file keeps its mode and its inode stays out of the CAS; the output still holds the
    /// bytes, stored by copy.
    #[test]
    fn a_file_with_another_name_is_copied_not_adopted() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::open(&dir.path().join("cache")).unwrap();
        let (out, elsewhere) = (dir.path().join("out"), dir.path().join("elsewhere"));
        write(&out, "own.txt", "the step's own");
        write(&elsewhere, "precious.txt", "someone else's");
        fs::hard_link(elsewhere.join("precious.txt"), out.join("linked.txt")).unwrap();
        let m = cache.adopt_tree(&out).unwrap();
        assert_eq!(m, hash_tree(&out, IgnoreRules::None).unwrap());
        let blob =
            |rel: &str| cache.blob_path(&m.entries.iter().find(|e| e.path == rel).unwrap().digest);
        let ino = |p: &Path| fs::symlink_metadata(p).unwrap().ino();
        assert_eq!(mode(&elsewhere.join("precious.txt")), 0o644);
        assert_ne!(ino(&blob("linked.txt")), ino(&elsewhere.join("precious.txt")));
        assert_eq!(fs::metadata(elsewhere.join("precious.txt")).unwrap().nlink(), 2);
        // The step's own file is adopted as before.
        assert_eq!(ino(&blob("own.txt")), ino(&out.join("own.txt")));
        assert_eq!(mode(&out.join("own.txt")), 0o444);
        cache.verify(&m).unwrap();
    }

    /// An output folder that is a symlink (the step replaced it with one to a folder
    /// elsewhere): what it names is copied into the CAS, never made read-only or adopted.
    #[test]
    fn files_through_a_symlinked_output_folder_are_copied() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::open(&dir.path().join("cache")).unwrap();
        let elsewhere = dir.path().join("elsewhere");
        write(&elsewhere, "a.txt", "a");
        write(&elsewhere, "sub/b.txt", "b");
        let out = dir.path().join("out");
        std::os::unix::fs::symlink(&elsewhere, &out).unwrap();
        let m = cache.adopt_tree(&out).unwrap();
        assert_eq!(m.entries.len(), 2);
        for rel in ["a.txt", "sub/b.txt"] {
            assert_eq!(mode(&elsewhere.join(rel)), 0o644, "{rel}");
            assert_eq!(fs::metadata(elsewhere.join(rel)).unwrap().nlink(), 1, "{rel}");
        }
        cache.verify(&m).unwrap();
    }

    /// A single-file output is adopted when it is its own, copied when it has another name.
    #[test]
    fn a_single_file_is_adopted_only_when_it_is_its_own() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::open(&dir.path().join("cache")).unwrap();
        write(dir.path(), "own", "own bytes");
        let m = cache.adopt_tree(&dir.path().join("own")).unwrap();
        assert_eq!(mode(&dir.path().join("own")), 0o444);
        assert_eq!(fs::metadata(cache.blob_path(&m.entries[0].digest)).unwrap().nlink(), 2);
        write(dir.path(), "shared", "shared bytes");
        fs::hard_link(dir.path().join("shared"), dir.path().join("other_name")).unwrap();
        cache.adopt_tree(&dir.path().join("shared")).unwrap();
        assert_eq!(mode(&dir.path().join("other_name")), 0o644);
        assert_eq!(fs::metadata(dir.path().join("other_name")).unwrap().nlink(), 2);
    }
}
