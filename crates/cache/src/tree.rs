//! Folder manifests: the content of a folder as a sorted list of (path, digest, size, x-bit).
//!
//! [`hash_tree`] walks a folder (see the `walk` module for ignore rules) and hashes its files in
//! parallel (2–4 worker threads, each with its own 1 MiB buffer). A symlink is not followed: its
//! entry hashes the link's target path text (the bytes `readlink` returns), its size is that
//! text's length and it is never executable; a manifest cannot tell a symlink from a regular file
//! holding the same text. Empty folders are not recorded (as in git). Modification times,
//! owners and permission bits other than the owner execute bit are not recorded, so touching a
//! file does not change anything.
//!
//! [`Manifest::digest`] is sha256 over this canonical encoding (version 1):
//!
//! ```text
//! "runner-tree-v1\n"
//! for each entry, in order: path NUL hex-digest NUL decimal-size NUL ("1" | "0") "\n"
//! ```
//!
//! Paths cannot contain NUL and the other fields have fixed alphabets, so the encoding is
//! unambiguous. It depends on nothing machine-specific. Changing it requires a new version tag.

use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use crate::digest::hash_path;
use crate::walk::{self, IgnoreRules, Item, Kind};
use crate::{Digest, Error, Result, par};

/// Version tag that starts the canonical manifest encoding.
const TREE_V1: &[u8] = b"runner-tree-v1\n";

/// One file of a tree.
#[derive(Serialize, Deserialize, Clone, PartialEq, Eq, Debug)]
pub struct TreeEntry {
    /// Path relative to the tree root, '/'-separated, no leading `./`; `""` when the tree is a
    /// single file.
    pub path: String,
    /// sha256 of the file's bytes (of the target path text for a symlink).
    pub digest: Digest,
    /// Size in bytes of what was hashed.
    pub size: u64,
    /// The owner execute bit (`mode & 0o100`), as git records it.
    pub executable: bool,
}

/// A folder's content: entries sorted by path (byte order). Empty folders are not recorded.
#[derive(Serialize, Deserialize, Clone, PartialEq, Eq, Debug, Default)]
pub struct Manifest {
    /// The files, sorted by `path`, paths unique.
    pub entries: Vec<TreeEntry>,
}

impl Manifest {
    /// The digests of its blobs, each once, in entry order.
    pub fn blobs(&self) -> Vec<Digest> {
        let mut seen = std::collections::HashSet::new();
        self.entries.iter().map(|e| e.digest).filter(|d| seen.insert(*d)).collect()
    }

    /// sha256 over the canonical, versioned encoding described in the module docs
    /// (`"runner-tree-v1\n"`, then per entry `path NUL hex NUL size NUL x-bit "\n"`).
    /// Stable across machines; depends on entry order, so entries must be sorted.
    pub fn digest(&self) -> Digest {
        let mut h = Sha256::new();
        h.update(TREE_V1);
        for e in &self.entries {
            h.update(e.path.as_bytes());
            h.update(b"\0");
            h.update(e.digest.to_hex().as_bytes());
            h.update(b"\0");
            h.update(e.size.to_string().as_bytes());
            h.update(b"\0");
            h.update(if e.executable { b"1\n" } else { b"0\n" });
        }
        Digest(h.finalize().into())
    }

    /// Sum of the entries' sizes, in bytes.
    pub fn total_size(&self) -> u64 {
        self.entries.iter().map(|e| e.size).sum()
    }

    /// Builds a manifest from unsorted entries.
    pub(crate) fn from_unsorted(mut entries: Vec<TreeEntry>) -> Manifest {
        entries.sort_unstable_by(|a, b| a.path.cmp(&b.path));
        Manifest { entries }
    }
}

/// Hashes every file under `dir` that `rules` keep and returns the sorted manifest.
///
/// Symlinks are not followed: their entry hashes the link target path text (see module docs). If
/// `dir` is itself a file (or a symlink to one), the manifest has one entry with path `""`.
/// Errors: [`Error::Read`] for an unreadable file or folder (including `dir` missing),
/// [`Error::NonUtf8Path`] for a file name that is not UTF-8.
pub fn hash_tree(dir: &Path, rules: IgnoreRules) -> Result<Manifest> {
    let items = walk::walk(dir, rules)?;
    let entries = par::try_map(&items, hash_item)?;
    Ok(Manifest::from_unsorted(entries))
}

/// Hashes one walked item into its manifest entry.
pub(crate) fn hash_item(item: &Item, buf: &mut [u8]) -> Result<TreeEntry> {
    let (digest, size, executable) = match item.kind {
        Kind::Symlink => {
            let target = link_text(&item.abs)?;
            (Digest::of_bytes(&target), target.len() as u64, false)
        }
        Kind::File { executable } => {
            let (d, size) = hash_path(&item.abs, buf)?;
            (d, size, executable)
        }
    };
    Ok(TreeEntry { path: item.rel.clone(), digest, size, executable })
}

/// The bytes of a symlink's target path.
pub(crate) fn link_text(path: &Path) -> Result<Vec<u8>> {
    let target = std::fs::read_link(path).map_err(Error::read(path))?;
    Ok(target.as_os_str().as_bytes().to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;
    use std::os::unix::fs::PermissionsExt;

    fn write(root: &Path, rel: &str, text: &str) {
        let p = root.join(rel);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(p, text).unwrap();
    }

    fn paths(m: &Manifest) -> Vec<&str> {
        m.entries.iter().map(|e| e.path.as_str()).collect()
    }

    #[test]
    fn manifest_digest_tracks_content_name_and_xbit_not_mtime() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        write(root, "a.txt", "hello");
        write(root, "sub/b.txt", "world");
        fs::create_dir(root.join("empty")).unwrap();
        let m0 = hash_tree(root, IgnoreRules::None).unwrap();
        assert_eq!(paths(&m0), ["a.txt", "sub/b.txt"]);
        assert_eq!(m0.entries[0].digest, Digest::of_bytes(b"hello"));
        assert_eq!(m0.total_size(), 10);
        let d0 = m0.digest();
        assert_eq!(hash_tree(root, IgnoreRules::None).unwrap().digest(), d0);

        // Touch: new mtime, same digest.
        let later = filetime::FileTime::from_unix_time(2_000_000_000, 0);
        filetime::set_file_mtime(root.join("a.txt"), later).unwrap();
        assert_eq!(hash_tree(root, IgnoreRules::None).unwrap().digest(), d0);

        // Content.
        write(root, "a.txt", "hellO");
        let d1 = hash_tree(root, IgnoreRules::None).unwrap().digest();
        assert_ne!(d1, d0);
        write(root, "a.txt", "hello");
        assert_eq!(hash_tree(root, IgnoreRules::None).unwrap().digest(), d0);

        // Name.
        fs::rename(root.join("a.txt"), root.join("c.txt")).unwrap();
        assert_ne!(hash_tree(root, IgnoreRules::None).unwrap().digest(), d0);
        fs::rename(root.join("c.txt"), root.join("a.txt")).unwrap();

        // Executable bit.
        fs::set_permissions(root.join("a.txt"), fs::Permissions::from_mode(0o755)).unwrap();
        let m2 = hash_tree(root, IgnoreRules::None).unwrap();
        assert!(m2.entries[0].executable);
        assert_ne!(m2.digest(), d0);
        fs::set_permissions(root.join("a.txt"), fs::Permissions::from_mode(0o644)).unwrap();
        assert_eq!(hash_tree(root, IgnoreRules::None).unwrap().digest(), d0);
    }

    #[test]
    fn canonical_encoding_is_pinned() {
        // Guards against accidental changes to the v1 encoding.
        let m = Manifest {
            entries: vec![TreeEntry {
                path: "a".into(),
                digest: Digest::of_bytes(b"abc"),
                size: 3,
                executable: true,
            }],
        };
        let text = format!("runner-tree-v1\na\0{}\x003\x001\n", Digest::of_bytes(b"abc"));
        assert_eq!(m.digest(), Digest::of_bytes(text.as_bytes()));
        assert_eq!(Manifest::default().digest(), Digest::of_bytes(b"runner-tree-v1\n"));
    }

    #[test]
    fn single_file_and_symlinks() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        write(root, "f", "abc");
        let m = hash_tree(&root.join("f"), IgnoreRules::None).unwrap();
        assert_eq!(paths(&m), [""]);
        assert_eq!(m.entries[0].size, 3);

        std::os::unix::fs::symlink("f", root.join("link")).unwrap();
        std::os::unix::fs::symlink("/nowhere/at/all", root.join("dangling")).unwrap();
        let m = hash_tree(root, IgnoreRules::None).unwrap();
        assert_eq!(paths(&m), ["dangling", "f", "link"]);
        assert_eq!(m.entries[2].digest, Digest::of_bytes(b"f"));
        assert_eq!(m.entries[2].size, 1);
        assert_eq!(m.entries[0].digest, Digest::of_bytes(b"/nowhere/at/all"));
    }

    #[test]
    fn many_files_sorted_and_parallel_matches_serial() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        for i in 0..200 {
            write(root, &format!("d{}/f{i}.txt", i % 7), &format!("content {i}"));
        }
        write(root, "a.b", "x");
        write(root, "a/b", "y");
        let m = hash_tree(root, IgnoreRules::None).unwrap();
        assert_eq!(m.entries.len(), 202);
        assert!(m.entries.windows(2).all(|w| w[0].path < w[1].path));
        for e in &m.entries {
            assert_eq!(e.digest, crate::hash_file(&root.join(&e.path)).unwrap());
        }
    }

    #[test]
    fn snapshot_rules() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        // Not a git repository: .gitignore still applies.
        write(root, ".gitignore", "*.log\nbuild/\n");
        write(root, "train.py", "print()");
        write(root, "run.log", "noise");
        write(root, "build/out.o", "obj");
        write(root, ".git/HEAD", "ref");
        write(root, ".runner/cache/x", "y");
        write(root, "sub/.runner", "a file named .runner is skipped too");
        let m = hash_tree(root, IgnoreRules::Snapshot).unwrap();
        assert_eq!(paths(&m), [".gitignore", "train.py"]);
        let all = hash_tree(root, IgnoreRules::None).unwrap();
        assert_eq!(all.entries.len(), 7);

        // .amlignore wins: in this folder .gitignore is unused, and `!keep.log` is honoured.
        write(root, ".amlignore", "*.log\n!keep.log\ndata/\n");
        write(root, "keep.log", "kept");
        write(root, "data/big.csv", "1,2");
        let m = hash_tree(root, IgnoreRules::Snapshot).unwrap();
        assert_eq!(paths(&m), [".amlignore", ".gitignore", "build/out.o", "keep.log", "train.py"]);

        // A nested ignore file applies relative to its folder and overrides the parent.
        write(root, "sub/.gitignore", "/local.txt\n!*.log\n");
        write(root, "sub/local.txt", "x");
        write(root, "sub/deep/local.txt", "x");
        write(root, "sub/s.log", "x");
        let m = hash_tree(root, IgnoreRules::Snapshot).unwrap();
        let p = paths(&m);
        assert!(!p.contains(&"sub/local.txt"), "{p:?}");
        assert!(p.contains(&"sub/deep/local.txt"), "{p:?}");
        assert!(p.contains(&"sub/s.log"), "{p:?}");
        assert!(!p.contains(&"sub/.runner"), "{p:?}");
    }

    #[test]
    fn non_utf8_name_is_an_error() {
        use std::os::unix::ffi::OsStrExt;
        let dir = tempfile::tempdir().unwrap();
        let name = std::ffi::OsStr::from_bytes(b"bad\xff");
        if fs::write(dir.path().join(name), b"").is_err() {
            return; // filesystem refuses such names
        }
        let err = hash_tree(dir.path(), IgnoreRules::None).unwrap_err();
        assert!(matches!(err, Error::NonUtf8Path { .. }), "{err}");
    }
}
