//! Step snapshots: copying the files of a source folder that the ignore rules keep.
//!
//! [`copy_tree`] lists files exactly as [`crate::hash_tree`] does, so after a copy
//! `hash_tree(dest, IgnoreRules::None) == hash_tree(src, rules)`. Regular files are copied with
//! their permission bits (`std::fs::copy`, which uses `copy_file_range` and may reflink);
//! symlinks that stay inside the copied folder are recreated as symlinks with the same target
//! text; empty folders are not created.
//!
//! A symlink that leads outside the copied folder (an absolute target, or one that climbs
//! out with `..`, followed as the kernel would: see [`crate::resolve_beneath`]) is refused,
//! dangling or not, before anything is written: in a copy it would no longer mean what it
//! meant (a relative target now starts from the copy's location), and a step that writes
//! through it would write outside its snapshot, creating the target if it dangles. Nor is
//! it copied as the content it names: the step key hashes a symlink inside a folder as its
//! target text (see [`crate::hash_tree`]), so that content would be read without being part
//! of the key. A symlink that stays inside keeps its meaning in the copy, where its target is
//! copied too (unless an ignore rule leaves it out). A loop leads nowhere and is kept.
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
/// of files (and symlinks) copied. Symlinks are copied as symlinks when they stay inside `src`,
/// and refused when they lead outside (see the module docs).
///
/// Errors: [`Error::Exists`] if `dest` exists; [`Error::Outside`] for a symlink that leads
/// outside `src` (nothing is written then); [`Error::Read`] / [`Error::Write`] with the path
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
    for item in items.iter().filter(|i| i.kind == Kind::Symlink) {
        if let Some(reason) = crate::confine::symlink_leaves(src, &item.rel)? {
            return Err(Error::Outside { path: item.abs.clone(), root: src.to_path_buf(), reason });
        }
    }
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
    use std::path::PathBuf;

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

    /// Symlinks that stay inside are kept as they are (to a file, to a folder, dangling, in a
    /// loop); each kind that leads outside (to a file, to a folder, dangling, absolute or by
    /// `..`, or through another symlink) refuses the whole copy, which writes nothing.
    #[test]
    fn symlinks_are_kept_inside_and_refused_when_they_lead_out() {
        use std::os::unix::fs::symlink;
        let dir = tempfile::tempdir().unwrap();
        let (src, outside) = (dir.path().join("src"), dir.path().join("outside"));
        fs::create_dir_all(src.join("pkg/deep")).unwrap();
        fs::create_dir_all(&outside).unwrap();
        fs::write(src.join("pkg/train.py"), "print()").unwrap();
        fs::write(outside.join("secret"), "s").unwrap();
        symlink("pkg/train.py", src.join("to_file")).unwrap();
        symlink("pkg", src.join("to_folder")).unwrap();
        symlink("../../pkg/train.py", src.join("pkg/deep/up")).unwrap();
        symlink("not_yet", src.join("dangling")).unwrap();
        symlink("loop_b", src.join("loop_a")).unwrap();
        symlink("loop_a", src.join("loop_b")).unwrap();
        let kept = dir.path().join("snap/kept");
        assert_eq!(copy_tree(&src, &kept, IgnoreRules::Snapshot).unwrap(), 7);
        for link in ["to_file", "to_folder", "pkg/deep/up", "dangling", "loop_a", "loop_b"] {
            assert_eq!(
                fs::read_link(kept.join(link)).unwrap(),
                fs::read_link(src.join(link)).unwrap()
            );
        }
        assert_eq!(fs::read(kept.join("pkg/deep/up")).unwrap(), b"print()");
        assert_eq!(
            hash_tree(&kept, IgnoreRules::None).unwrap(),
            hash_tree(&src, IgnoreRules::Snapshot).unwrap(),
            "the snapshot holds what the key hashed"
        );

        let leaving: &[(&str, PathBuf)] = &[
            ("abs_file", outside.join("secret")),
            ("abs_folder", outside.clone()),
            ("abs_dangling", outside.join("created_through_the_link")),
            ("up_file", PathBuf::from("../outside/secret")),
            ("pkg/up_folder", PathBuf::from("../../outside")),
            ("up_dangling", PathBuf::from("../nowhere")),
            ("via_inside", PathBuf::from("to_folder/../../outside")),
        ];
        for (i, (name, target)) in leaving.iter().enumerate() {
            symlink(target, src.join(name)).unwrap();
            let dest = dir.path().join(format!("snap/{i}"));
            let err = copy_tree(&src, &dest, IgnoreRules::Snapshot).unwrap_err();
            let Error::Outside { path, root, reason } = &err else { panic!("{name}: {err}") };
            assert_eq!((path, root), (&src.join(name), &src), "{err}");
            assert!(reason.contains(&target.display().to_string()), "{name}: {err}");
            assert!(!dest.exists(), "{name}");
            fs::remove_file(src.join(name)).unwrap();
        }
        assert_eq!(fs::read_dir(dir.path().join("snap")).unwrap().count(), 1, "no temp left");
        // One the ignore rules leave out is not copied, so not refused.
        symlink(outside.join("secret"), src.join("ignored")).unwrap();
        fs::write(src.join(".amlignore"), "ignored\n").unwrap();
        copy_tree(&src, &dir.path().join("snap/ignoring"), IgnoreRules::Snapshot).unwrap();
        assert!(!dir.path().join("snap/ignoring/ignored").exists());
        let names: Vec<_> =
            fs::read_dir(&outside).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names, ["secret"]);
    }
}
