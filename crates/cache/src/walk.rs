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
    let meta = fs::metadata(root).map_err(Error::read(root))?;
    let mut out = Vec::new();
    if meta.is_file() {
        out.push(Item { abs: root.to_path_buf(), rel: String::new(), kind: file_kind(&meta) });
    } else if meta.is_dir() {
        walk_dir(root, "", rules, &mut Vec::new(), &mut out)?;
    }
    Ok(out)
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
    out: &mut Vec<Item>,
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
        if ignored(stack, &child, ft.is_dir()) {
            continue;
        }
        if ft.is_dir() {
            walk_dir(&path, &child, rules, stack, out)?;
        } else if ft.is_symlink() {
            out.push(Item { abs: path, rel: child, kind: Kind::Symlink });
        } else if ft.is_file() {
            let meta = entry.metadata().map_err(Error::read(&path))?;
            out.push(Item { abs: path, rel: child, kind: file_kind(&meta) });
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
