//! Folder walking with Azure ML snapshot ignore rules.
//!
//! The walk lists the regular files and symlinks under a folder, never following symlinks (a
//! symlink is reported as itself; the root path itself is followed if it is a link). Sockets,
//! FIFOs and device files are skipped. Paths are reported relative to the root, '/'-separated;
//! a file name that is not UTF-8 is an error ([`crate::Error::NonUtf8Path`]).
//!
//! With [`IgnoreRules::Snapshot`] the walk reproduces what Azure ML uploads as a step snapshot:
//! in every folder, the ignore file is `.amlignore` if that folder has one, else `.gitignore`
//! (Azure's documented rule: "if both files exist, the .amlignore file is used and the .gitignore
//! file is unused"). Patterns use gitignore syntax (via the `ignore` crate's gitignore matcher)
//! and apply relative to the folder holding the file; a deeper ignore file takes precedence over
//! a shallower one, and within a file the last matching pattern wins, so `!name` re-includes. The
//! rules apply whether or not the folder is inside a git repository, and global git excludes are
//! not read (the result must not depend on the machine). An ignored folder is not entered, so
//! nothing below it can be re-included (as in git). Entries named `.git` or `.runner` are never
//! listed or entered. Ignore files themselves are listed like any other file. Lines that are not
//! valid glob patterns are skipped.

use std::collections::HashSet;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use ignore::Match;
use ignore::gitignore::{Gitignore, GitignoreBuilder};

use crate::{Error, Result};

/// Which ignore files a tree walk honours.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum IgnoreRules {
    /// Every file is kept.
    #[default]
    None,
    /// Azure ML snapshot rules: `.gitignore` and `.amlignore` in every folder (`.amlignore` wins:
    /// where a folder has both, its `.gitignore` is unused); `.git` and `.runner` are never
    /// entered. Honoured outside git repositories too.
    Snapshot,
}

/// What a walked entry is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// A regular file; `executable` is the owner execute bit (git's rule).
    File { executable: bool },
    /// A symlink, not followed.
    Symlink,
}

/// One walked file.
#[derive(Debug, Clone)]
pub(crate) struct Item {
    /// Where it is on disk.
    pub abs: PathBuf,
    /// Relative '/'-separated path; `""` when the walk root is itself a file.
    pub rel: String,
    pub kind: Kind,
}

/// Lists the files under `root` that `rules` keep (unsorted).
///
/// A `root` that is a file yields one item with `rel == ""`; a special file yields none.
pub(crate) fn walk(root: &Path, rules: IgnoreRules) -> Result<Vec<Item>> {
    walk_except(root, rules, &[])
}

/// [`walk`] that also leaves out the relative paths in `skip` (files, or folders with
/// everything below them), without entering them.
pub(crate) fn walk_except(root: &Path, rules: IgnoreRules, skip: &[String]) -> Result<Vec<Item>> {
    let meta = fs::metadata(root).map_err(Error::read(root))?;
    let mut out = Vec::new();
    if meta.is_file() {
        out.push(Item { abs: root.to_path_buf(), rel: String::new(), kind: file_kind(&meta) });
    } else if meta.is_dir() {
        let skip: HashSet<&str> = skip.iter().map(String::as_str).collect();
        let mut sink = Sink { items: &mut out, dirs: None, skip: &skip };
        walk_dir(root, "", rules, &mut Vec::new(), &mut sink)?;
    }
    Ok(out)
}

/// Every folder a walk of `root` with `rules` enters, `root` first (absolute when `root` is),
/// without listing files: the folders a watcher needs to watch to see every change to what
/// [`crate::hash_tree`] hashes. Ignored folders (and `.git`, `.runner` under
/// [`IgnoreRules::Snapshot`]) are not entered, so they are not listed. A `root` that is a file
/// yields nothing.
///
/// Errors: [`Error::Read`] for an unreadable folder (including `root` missing),
/// [`Error::NonUtf8Path`] for a name that is not UTF-8.
pub fn list_dirs(root: &Path, rules: IgnoreRules) -> Result<Vec<PathBuf>> {
    let meta = fs::metadata(root).map_err(Error::read(root))?;
    let mut dirs = Vec::new();
    if meta.is_dir() {
        dirs.push(root.to_path_buf());
        let mut sink =
            Sink { items: &mut Vec::new(), dirs: Some(&mut dirs), skip: &HashSet::new() };
        walk_dir(root, "", rules, &mut Vec::new(), &mut sink)?;
    }
    Ok(dirs)
}

/// Whether a walk of `root` with `rules` leaves out `rel` (a '/'-separated path below
/// `root`; `is_dir` says whether it is a folder): it is named `.git` or `.runner`, an ignore
/// file in `root` or a folder between `root` and `rel` ignores it, or one of its parent
/// folders is ignored (an ignored folder is not entered). The same rules as the walk; the
/// path need not exist (a deleted file is judged by its name). Always `false` with
/// [`IgnoreRules::None`].
///
/// Errors: [`Error::Read`] for an ignore file that exists but cannot be read.
pub fn is_ignored(root: &Path, rel: &str, is_dir: bool, rules: IgnoreRules) -> Result<bool> {
    if rules == IgnoreRules::None {
        return Ok(false);
    }
    let parts: Vec<&str> = rel.split('/').filter(|p| !p.is_empty() && *p != ".").collect();
    let mut stack = Vec::new();
    let mut dir_rel = String::new();
    let mut dir_abs = root.to_path_buf();
    for (i, name) in parts.iter().enumerate() {
        if *name == ".git" || *name == ".runner" {
            return Ok(true);
        }
        if let Some(matcher) = load_ignore_file(&dir_abs)? {
            stack.push(Rules { dir: dir_rel.clone(), matcher });
        }
        let child =
            if dir_rel.is_empty() { (*name).to_owned() } else { format!("{dir_rel}/{name}") };
        let last = i + 1 == parts.len();
        if ignored(&stack, &child, !last || is_dir) {
            return Ok(true);
        }
        dir_rel = child;
        dir_abs.push(name);
    }
    Ok(false)
}

/// Where a walk puts what it finds: files always, folders when asked.
struct Sink<'a> {
    items: &'a mut Vec<Item>,
    dirs: Option<&'a mut Vec<PathBuf>>,
    /// Relative paths left out, with everything below them.
    skip: &'a HashSet<&'a str>,
}

fn file_kind(meta: &fs::Metadata) -> Kind {
    Kind::File { executable: meta.permissions().mode() & 0o100 != 0 }
}

/// One ignore file's matcher and the relative folder it applies to.
struct Rules {
    dir: String,
    matcher: Gitignore,
}

fn walk_dir(
    abs: &Path,
    rel: &str,
    rules: IgnoreRules,
    stack: &mut Vec<Rules>,
    out: &mut Sink<'_>,
) -> Result<()> {
    let pushed = match rules {
        IgnoreRules::None => false,
        IgnoreRules::Snapshot => match load_ignore_file(abs)? {
            Some(matcher) => {
                stack.push(Rules { dir: rel.to_owned(), matcher });
                true
            }
            None => false,
        },
    };
    let entries = fs::read_dir(abs).map_err(Error::read(abs))?;
    for entry in entries {
        let entry = entry.map_err(Error::read(abs))?;
        let path = entry.path();
        let name = entry.file_name();
        let Some(name) = name.to_str() else {
            return Err(Error::NonUtf8Path { path });
        };
        if rules == IgnoreRules::Snapshot && (name == ".git" || name == ".runner") {
            continue;
        }
        let child = if rel.is_empty() { name.to_owned() } else { format!("{rel}/{name}") };
        let ft = entry.file_type().map_err(Error::read(&path))?;
        if ignored(stack, &child, ft.is_dir()) || out.skip.contains(child.as_str()) {
            continue;
        }
        if ft.is_dir() {
            if let Some(dirs) = out.dirs.as_deref_mut() {
                dirs.push(path.clone());
            }
            walk_dir(&path, &child, rules, stack, out)?;
        } else if out.dirs.is_some() {
            // Listing folders only.
        } else if ft.is_symlink() {
            out.items.push(Item { abs: path, rel: child, kind: Kind::Symlink });
        } else if ft.is_file() {
            let meta = entry.metadata().map_err(Error::read(&path))?;
            out.items.push(Item { abs: path, rel: child, kind: file_kind(&meta) });
        }
    }
    if pushed {
        stack.pop();
    }
    Ok(())
}

/// Whether `rel` is ignored: the deepest ignore file with a matching pattern decides.
fn ignored(stack: &[Rules], rel: &str, is_dir: bool) -> bool {
    for rules in stack.iter().rev() {
        let sub = if rules.dir.is_empty() {
            rel
        } else {
            match rel.strip_prefix(rules.dir.as_str()).and_then(|s| s.strip_prefix('/')) {
                Some(s) => s,
                None => continue,
            }
        };
        match rules.matcher.matched(sub, is_dir) {
            Match::Ignore(_) => return true,
            Match::Whitelist(_) => return false,
            Match::None => {}
        }
    }
    false
}

/// The matcher for folder `dir`: its `.amlignore` if present, else its `.gitignore`, else none.
fn load_ignore_file(dir: &Path) -> Result<Option<Gitignore>> {
    for name in [".amlignore", ".gitignore"] {
        let path = dir.join(name);
        let bytes = match fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(Error::Read { path, source: e }),
        };
        let text = String::from_utf8_lossy(&bytes);
        let text = text.strip_prefix('\u{feff}').unwrap_or(&text);
        // Root "." means "match paths as given": we pass paths relative to `dir`.
        let mut builder = GitignoreBuilder::new(".");
        for line in text.lines() {
            // A line that is not a valid glob is skipped, like a pattern that matches nothing.
            let _ = builder.add_line(Some(path.clone()), line);
        }
        let matcher = builder.build().map_err(|e| Error::Read {
            source: std::io::Error::new(std::io::ErrorKind::InvalidData, e.to_string()),
            path: path.clone(),
        })?;
        return Ok(Some(matcher));
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(root: &Path, rel: &str) {
        let p = root.join(rel);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(p, "x").unwrap();
    }

    #[test]
    fn list_dirs_follows_the_walk_rules() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        fs::write(root.join(".gitignore"), "build/\n").unwrap();
        write(root, "a/b/f.txt");
        write(root, "build/out.o");
        write(root, ".runner/cache/x");
        write(root, ".git/HEAD");
        fs::create_dir(root.join("empty")).unwrap();
        let mut dirs = list_dirs(root, IgnoreRules::Snapshot).unwrap();
        dirs.sort();
        let rel: Vec<_> = dirs.iter().map(|d| d.strip_prefix(root).unwrap().to_owned()).collect();
        let want: Vec<PathBuf> = ["", "a", "a/b", "empty"].iter().map(PathBuf::from).collect();
        assert_eq!(rel, want);
        assert_eq!(list_dirs(root, IgnoreRules::None).unwrap().len(), 8);
        assert!(list_dirs(&root.join("a/b/f.txt"), IgnoreRules::Snapshot).unwrap().is_empty());
    }

    #[test]
    fn is_ignored_agrees_with_the_walk() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        fs::write(root.join(".gitignore"), "*.log\nbuild/\n").unwrap();
        write(root, "sub/.amlignore");
        fs::write(root.join("sub/.amlignore"), "/local.txt\n!keep.log\n").unwrap();
        let ig =
            |rel: &str, is_dir: bool| is_ignored(root, rel, is_dir, IgnoreRules::Snapshot).unwrap();
        assert!(ig("run.log", false));
        assert!(!ig("train.py", false));
        assert!(ig("build", true));
        assert!(!ig("build", false)); // `build/` matches folders only
        assert!(ig("build/deep/x.txt", false)); // inside an ignored folder
        assert!(ig(".runner/statcache", false));
        assert!(ig("sub/.git", true));
        assert!(ig("sub/local.txt", false));
        assert!(!ig("sub/deep/local.txt", false));
        assert!(!ig("sub/keep.log", false)); // .amlignore wins in sub: .gitignore unused there
        assert!(ig("sub/other.log", false)); // still ignored by the root .gitignore
        assert!(!is_ignored(root, "run.log", false, IgnoreRules::None).unwrap());
    }
}
