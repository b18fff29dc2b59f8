//! Keeping writes inside a folder.
//!
//! [`resolve_beneath`] is the check every path the runner writes or deletes goes through
//! when part of it comes from a pipeline file, a command-line argument or a step: it proves
//! that the path, as the disk is now, names a place inside its root folder. The rules are
//! those of Linux's `openat2(2)` with `RESOLVE_BENEATH`: the relative path and every symlink
//! met on the way are followed as the kernel would, and resolution fails as soon as it would
//! leave the root, by `..` or by an absolute symlink (even one naming a place inside: its
//! meaning would change with the root's location). The walk is done here, with `lstat` and
//! `readlink`, rather than by `openat2` itself: callers write by path (`rename`,
//! `create_dir_all`, copies), so a file descriptor would not outlive the check, and the part
//! of a path that does not exist yet (what the caller is about to create) needs the same
//! rules without the kernel. The tests hold the walk against `openat2` on the paths that
//! exist.
//!
//! A check by path is a picture of the disk at one moment: it stops what was there before
//! the command ran (a checked-out repository, what an earlier step left, a mistyped
//! argument), not a process racing the runner. Where the runner hands a step's files to the
//! cache it opens them without following any symlink instead ([`open_no_symlinks`]), which
//! holds against such a race too.

use std::collections::VecDeque;
use std::ffi::{OsStr, OsString};
use std::fs::{self, File};
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use crate::{Error, Result};

/// Most symlinks followed while resolving one path (Linux's `MAXSYMLINKS`).
const MAX_LINKS: usize = 40;

/// Resolves `rel` under `root` for writing, and returns `root.join(rel)` (with `.` and
/// empty components dropped; `""` or `"."` is `root` itself).
///
/// `rel` must be relative, without a `..` component and without a NUL byte. Every
/// component of `root.join(rel)` that exists is then followed as the kernel would: a symlink
/// must lead to a place inside `root` (a relative target, resolved from the link's folder,
/// that does not climb above `root`); an absolute symlink target is refused even when it
/// names a place inside. The first component that does not exist ends the walk; the rest of
/// a dangling symlink's target is judged by its text alone. `root` itself is taken as it is
/// (it may be, or go through, a symlink: it is the trusted anchor).
///
/// One `lstat` per existing component, and a `readlink` per symlink.
///
/// Errors: [`Error::Outside`] naming `rel`, `root` and the reason (`..`, absolute, NUL, a
/// symlink and its target, or more than 40 symlinks, as for a loop); [`Error::Read`] when a
/// component cannot be examined (permission denied).
pub fn resolve_beneath(root: &Path, rel: &Path) -> Result<PathBuf> {
    let outside = |reason: String| Error::Outside {
        path: rel.to_path_buf(),
        root: root.to_path_buf(),
        reason,
    };
    let parts = plain_parts(rel).map_err(outside)?;
    match walk_beneath(root, parts.iter().map(|p| p.to_os_string()).collect())? {
        Resolved::Inside => Ok(parts.iter().fold(root.to_path_buf(), |p, c| p.join(c))),
        Resolved::Outside(reason) | Resolved::Loop(reason) => Err(outside(reason)),
    }
}

/// Whether `path` is a real, empty folder: a symlink is not one, even to an empty folder
/// (`lstat` first, then one directory read).
pub fn is_empty_dir(path: &Path) -> bool {
    fs::symlink_metadata(path).is_ok_and(|m| m.is_dir())
        && fs::read_dir(path).is_ok_and(|mut entries| entries.next().is_none())
}

/// The components of `rel`, refusing what can never stay beneath a root: a NUL byte, an
/// absolute path, a `..`. `.` and empty components are dropped.
fn plain_parts(rel: &Path) -> std::result::Result<Vec<&OsStr>, String> {
    if rel.as_os_str().as_bytes().contains(&0) {
        return Err("it contains a NUL byte".into());
    }
    let mut parts = Vec::new();
    for c in rel.components() {
        match c {
            Component::Normal(p) => parts.push(p),
            Component::CurDir => {}
            Component::ParentDir => return Err("`..` is not allowed".into()),
            Component::RootDir | Component::Prefix(_) => {
                return Err("it is an absolute path".into());
            }
        }
    }
    Ok(parts)
}

/// Where a walk of [`walk_beneath`] ended.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Resolved {
    /// Everything it followed stayed beneath the root (the rest did not exist yet).
    Inside,
    /// It would leave the root; why, lowercase.
    Outside(String),
    /// More than [`MAX_LINKS`] symlinks: it resolves nowhere (a loop, as the kernel says
    /// `ELOOP`); where it was.
    Loop(String),
}

/// Follows `parts` (components, `..` allowed) from `root` as `openat2(RESOLVE_BENEATH)`
/// would: `..` may not climb above `root`, a symlink's target replaces it (relative to the
/// link's folder; an absolute one leaves), and a component that does not exist ends the
/// disk walk, the rest being judged by its text (`..` still counted).
///
/// Errors: [`Error::Read`] for a component that cannot be examined.
pub(crate) fn walk_beneath(root: &Path, parts: VecDeque<OsString>) -> Result<Resolved> {
    // Components still to follow, each with the symlink whose target it came from (an index
    // into `links`), for messages.
    let mut pending: VecDeque<(OsString, Option<usize>)> =
        parts.into_iter().map(|p| (p, None)).collect();
    let mut links: Vec<(PathBuf, PathBuf)> = Vec::new();
    // The folder reached so far: `root` and real (non-symlink) components below it.
    let mut at = root.to_path_buf();
    let mut depth = 0usize;
    let mut missing = false;
    let shown = |p: &Path| p.strip_prefix(root).unwrap_or(p).display().to_string();
    while let Some((part, origin)) = pending.pop_front() {
        if part.is_empty() || part == "." {
            continue;
        }
        if part == ".." {
            if depth == 0 {
                return Ok(Resolved::Outside(match origin.map(|i| &links[i]) {
                    Some((link, target)) => format!(
                        "`{}` is a symlink to `{}`, which climbs out of it",
                        shown(link),
                        target.display()
                    ),
                    None => "`..` climbs out of it".into(),
                }));
            }
            depth -= 1;
            at.pop();
            continue;
        }
        let next = at.join(&part);
        if missing {
            (at, depth) = (next, depth + 1);
            continue;
        }
        let meta = match fs::symlink_metadata(&next) {
            Ok(m) => m,
            Err(e)
                if matches!(e.kind(), io::ErrorKind::NotFound | io::ErrorKind::NotADirectory) =>
            {
                missing = true;
                (at, depth) = (next, depth + 1);
                continue;
            }
            Err(e) => return Err(Error::Read { path: next, source: e }),
        };
        if !meta.file_type().is_symlink() {
            (at, depth) = (next, depth + 1);
            continue;
        }
        if links.len() == MAX_LINKS {
            return Ok(Resolved::Loop(format!(
                "more than {MAX_LINKS} symlinks at `{}` (a loop)",
                shown(&next)
            )));
        }
        let target = fs::read_link(&next).map_err(Error::read(&next))?;
        if target.has_root() {
            return Ok(Resolved::Outside(format!(
                "`{}` is a symlink to `{}`, an absolute path",
                shown(&next),
                target.display()
            )));
        }
        for c in target.components().rev() {
            pending.push_front((c.as_os_str().to_os_string(), Some(links.len())));
        }
        links.push((next, target));
    }
    Ok(Resolved::Inside)
}

/// Whether following the symlink at `rel` (a path below `root` whose folders are real
/// folders, as a walk of `root` finds it) leads outside `root`: `Some(why)` if it does. A
/// dangling symlink is judged by where it points; a loop leads nowhere (`None`).
///
/// Errors: as [`walk_beneath`].
pub(crate) fn symlink_leaves(root: &Path, rel: &str) -> Result<Option<String>> {
    let parts = rel.split('/').map(OsString::from).collect();
    Ok(match walk_beneath(root, parts)? {
        Resolved::Outside(why) => Some(why),
        Resolved::Inside | Resolved::Loop(_) => None,
    })
}

/// Whether `openat2` answered `ENOSYS` once (a kernel older than 5.6): the fallback is
/// used from then on.
static NO_OPENAT2: AtomicBool = AtomicBool::new(false);

/// Opens the file at `rel` (`/`-separated, relative, no `.` or `..`) below the open folder
/// `dir` for reading, following no symlink at all, on the way or at the end: what is opened
/// is reached through real folders below `dir`, whatever a concurrent process renames.
/// One `openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS)` where the kernel has it, else one
/// `openat(O_NOFOLLOW)` per component.
///
/// Errors: the OS error; a symlink on the way is `ELOOP` or `ENOTDIR`, a `.`/`..` or empty
/// path `InvalidInput`.
pub(crate) fn open_no_symlinks(dir: &File, rel: &str) -> io::Result<File> {
    use rustix::fs::{Mode, OFlags, ResolveFlags};
    let parts: Vec<&str> = rel.split('/').filter(|p| !p.is_empty()).collect();
    if parts.is_empty() || parts.iter().any(|p| *p == "." || *p == "..") {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, format!("bad path {rel:?}")));
    }
    let flags = OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    if !NO_OPENAT2.load(Ordering::Relaxed) {
        let how = ResolveFlags::BENEATH | ResolveFlags::NO_SYMLINKS | ResolveFlags::NO_MAGICLINKS;
        match rustix::fs::openat2(dir, rel, flags, Mode::empty(), how) {
            Ok(fd) => return Ok(File::from(fd)),
            Err(rustix::io::Errno::NOSYS) => NO_OPENAT2.store(true, Ordering::Relaxed),
            // A sandbox that forbids it (EPERM), flags it does not know (EINVAL, E2BIG), a
            // rename racing the lookup (EAGAIN): the fallback decides.
            Err(
                rustix::io::Errno::PERM
                | rustix::io::Errno::INVAL
                | rustix::io::Errno::TOOBIG
                | rustix::io::Errno::AGAIN,
            ) => {}
            Err(e) => return Err(e.into()),
        }
    }
    open_by_components(dir, &parts, flags)
}

/// [`open_no_symlinks`] without `openat2`: each folder on the way opened by `openat` with
/// `O_NOFOLLOW | O_DIRECTORY` (a symlink there fails) relative to the one before, then the
/// file with `flags`.
fn open_by_components(dir: &File, parts: &[&str], flags: rustix::fs::OFlags) -> io::Result<File> {
    use rustix::fs::{Mode, OFlags};
    let Some((last, folders)) = parts.split_last() else {
        return Err(io::Error::from(io::ErrorKind::InvalidInput));
    };
    let folder = OFlags::PATH | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    let mut at: Option<std::os::fd::OwnedFd> = None;
    for name in folders {
        let next = match &at {
            Some(fd) => rustix::fs::openat(fd, *name, folder, Mode::empty()),
            None => rustix::fs::openat(dir, *name, folder, Mode::empty()),
        }?;
        at = Some(next);
    }
    let fd = match &at {
        Some(fd) => rustix::fs::openat(fd, *last, flags, Mode::empty()),
        None => rustix::fs::openat(dir, *last, flags, Mode::empty()),
    }?;
    Ok(File::from(fd))
}

#[cfg(test)]
mod tests;
