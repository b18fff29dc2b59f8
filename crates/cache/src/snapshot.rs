//! Step snapshots: copying the files of a source folder that the ignore rules keep.
//!
//! [`copy_tree`] lists files exactly as [`crate::hash_tree`] does, so after a copy
//! `hash_tree(dest, IgnoreRules::None) == hash_tree(src, rules)`. Regular files are copied with
//! their permission bits (`std::fs::copy`, which uses `copy_file_range` and may reflink);
//! symlinks are recreated as symlinks with the same target text; empty folders are not created.
//! The copy is built in a temp sibling `.<dest name>.tmp.<pid>.<n>` and renamed to `dest` at the
//! end, so a killed run never leaves a half-copied snapshot under `dest`; on error the temp
//! sibling is removed.

use std::fs;
use std::path::Path;

use crate::atomic::{TempPath, parent_of, temp_name};
use crate::walk::{self, IgnoreRules, Kind};
use crate::{Error, Result};

/// Copies the files of `src` that `rules` keep into `dest`, which is created and must not exist
/// (its parent folders are created). A file `src` is copied to the file `dest`. Returns the number
/// of files (and symlinks) copied.
///
/// Errors: [`Error::Exists`] if `dest` exists; [`Error::Read`] / [`Error::Write`] with the path
/// that failed; [`Error::NonUtf8Path`] as for [`crate::hash_tree`].
pub fn copy_tree(src: &Path, dest: &Path, rules: IgnoreRules) -> Result<u64> {
    copy_tree_except(src, dest, rules, &[])
}

/// [`copy_tree`] leaving out the '/'-separated paths relative to `src` in `skip`: files, or
/// folders with everything below them (not entered). A step snapshot leaves out the data
/// references inside its `source_directory` this way, as the step reads those in place.
///
/// Errors: as [`copy_tree`].
pub fn copy_tree_except(
    src: &Path,
    dest: &Path,
    rules: IgnoreRules,
    skip: &[String],
) -> Result<u64> {
    if fs::symlink_metadata(dest).is_ok() {
        return Err(Error::Exists { path: dest.to_path_buf() });
    }
    let items = walk::walk_except(src, rules, skip)?;
    let parent = parent_of(dest);
    fs::create_dir_all(parent).map_err(Error::write(parent))?;
    let tmp = temp_name(parent, dest);
    let single_file = items.len() == 1 && items[0].rel.is_empty();
    if !single_file {
        fs::create_dir(&tmp).map_err(Error::write(&tmp))?;
    }
    let guard = TempPath(Some(tmp.clone()));
    for item in &items {
        let to = if item.rel.is_empty() { tmp.clone() } else { tmp.join(&item.rel) };
        if let Some(dir) = to.parent().filter(|d| *d != tmp) {
            fs::create_dir_all(dir).map_err(Error::write(dir))?;
        }
        match item.kind {
            Kind::File { .. } => {
                fs::copy(&item.abs, &to).map_err(|source| copy_error(&item.abs, &to, source))?;
            }
            Kind::Symlink => {
                let target = fs::read_link(&item.abs).map_err(Error::read(&item.abs))?;
                std::os::unix::fs::symlink(target, &to).map_err(Error::write(&to))?;
            }
        }
    }
    if fs::symlink_metadata(dest).is_ok() {
        return Err(Error::Exists { path: dest.to_path_buf() });
    }
    fs::rename(&tmp, dest).map_err(Error::write(dest))?;
    guard.disarm();
    Ok(items.len() as u64)
}

/// Attributes a failed copy to the source if it can no longer be read, else to the destination.
pub(crate) fn copy_error(from: &Path, to: &Path, source: std::io::Error) -> Error {
    if fs::File::open(from).is_err() {
        Error::Read { path: from.to_path_buf(), source }
    } else {
        Error::Write { path: to.to_path_buf(), source }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hash_tree;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn copies_what_the_rules_keep() {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("src");
        fs::create_dir_all(src.join("pkg")).unwrap();
        fs::create_dir_all(src.join(".git")).unwrap();
        fs::write(src.join(".git/HEAD"), "x").unwrap();
        fs::write(src.join(".amlignore"), "*.csv\n").unwrap();
        fs::write(src.join("data.csv"), "1,2").unwrap();
        fs::write(src.join("pkg/train.py"), "print()").unwrap();
        fs::write(src.join("run.sh"), "#!/bin/sh\n").unwrap();
        fs::set_permissions(src.join("run.sh"), fs::Permissions::from_mode(0o755)).unwrap();
        std::os::unix::fs::symlink("pkg/train.py", src.join("link.py")).unwrap();

        let dest = dir.path().join("snap/1");
        let n = copy_tree(&src, &dest, IgnoreRules::Snapshot).unwrap();
        assert_eq!(n, 4);
        assert_eq!(
            hash_tree(&dest, IgnoreRules::None).unwrap(),
            hash_tree(&src, IgnoreRules::Snapshot).unwrap()
        );
        assert!(fs::symlink_metadata(dest.join("link.py")).unwrap().file_type().is_symlink());
        assert!(!dest.join("data.csv").exists());
        // No temp siblings left behind.
        assert_eq!(fs::read_dir(dir.path().join("snap")).unwrap().count(), 1);

        let err = copy_tree(&src, &dest, IgnoreRules::Snapshot).unwrap_err();
        assert!(matches!(err, Error::Exists { .. }), "{err}");

        let skipped = dir.path().join("snap/2");
        let skip = ["pkg".to_owned(), "run.sh".to_owned(), "link".to_owned()];
        assert_eq!(copy_tree_except(&src, &skipped, IgnoreRules::Snapshot, &skip).unwrap(), 2);
        assert!(skipped.join(".amlignore").is_file() && skipped.join("link.py").is_symlink());

        let one = dir.path().join("one.py");
        assert_eq!(copy_tree(&src.join("pkg/train.py"), &one, IgnoreRules::None).unwrap(), 1);
        assert_eq!(fs::read(&one).unwrap(), b"print()");
    }
}
