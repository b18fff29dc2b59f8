//! Content-addressed storage for `runner`: file digests, folder manifests, the blob store (CAS),
//! the action cache, and atomic writes.
//!
//! The pieces, bottom up:
//!
//! - [`Digest`] is a sha256 value; [`hash_file`] streams a file through it with a 1 MiB buffer.
//! - [`hash_tree`] walks a folder (optionally honouring `.amlignore` / `.gitignore`, see
//!   [`IgnoreRules`]) and returns a [`Manifest`]: one [`TreeEntry`] per file, sorted by path.
//!   [`Manifest::digest`] is sha256 over a canonical, versioned encoding of those entries, so a
//!   folder's digest is the same on every machine and changes when any file's bytes, name or
//!   executable bit change, but not when a file is only touched.
//! - [`copy_tree`] copies the files an ignore rule keeps (step snapshots of `source_directory`).
//! - [`Cache`] is the on-disk store under one root (normally `.runner/cache`): blobs named by their
//!   digest (read-only, never overwritten with different bytes), manifests named by their digest,
//!   and the action cache mapping a step key to an [`ActionResult`] (rows of one SQLite
//!   database). Every blob and manifest is published by writing a temp file, fsyncing it and
//!   renaming (or linking) it into place, and an action cache entry is one transaction, so a
//!   killed run never leaves an entry a later run could trust, and two runners sharing one root
//!   cannot corrupt it.
//!   [`Cache::verify`] re-checks blobs before a cache hit is trusted.
//! - [`Cache::try_lock_key`] and [`FolderLock`]: locks between runners sharing a `.runner/`
//!   (a step key being computed; the output views).
//! - [`write_atomic`] is the same publish protocol for any single file.
//! - [`resolve_beneath`] proves that a relative path names a place inside a root folder
//!   (no `..`, no absolute path, no NUL, no symlink on the way that leads out) before the
//!   caller writes or deletes there; [`copy_tree`] and [`Cache::adopt_tree`] keep to the
//!   same rule for the symlinks they meet.
//! - [`StatCache`] remembers file digests by path and stat (`.runner/statcache`), so a file
//!   whose stat did not change is not read again ([`StatCache::hash_file`],
//!   [`hash_tree_with`]); entries written within the timestamp granularity of their hash are
//!   "racy" and always re-hashed (git's racy-clean rule). [`list_dirs`] and [`is_ignored`]
//!   expose the walk's rules to a file watcher.
//!
//! Everything here is synchronous, blocking IO; async callers should use `spawn_blocking`.

mod action;
mod adopt;
mod atomic;
mod cas;
mod confine;
mod digest;
mod error;
mod lock;
mod materialize;
mod par;
mod snapshot;
mod stamp;
mod statcache;
mod tamper;
mod tree;
mod verify;
mod view;
mod walk;

pub use action::ActionResult;
pub use atomic::{write_atomic, write_replace};
pub use cas::Cache;
pub use confine::{is_empty_dir, resolve_beneath};
pub use digest::{Digest, ParseDigestError, hash_file};
pub use error::{Error, Result};
pub use lock::{FolderGuard, FolderLock, KeyLock};
pub use snapshot::{copy_tree, copy_tree_except};
pub use stamp::{
    COARSE_WINDOW_NS, FINE_WINDOW_NS, FileStamp, Found, Reader, StampReader, now_ns, put_bytes,
    seal,
};
pub use statcache::{Probed, StatCache, hash_tree_with};
pub use tamper::CopyStamps;
pub use tree::{Manifest, TreeEntry, hash_tree};
pub use verify::VerifyError;
pub use view::{clear_view_digest, set_view_digest, view_digest};
pub use walk::{IgnoreRules, is_ignored, list_dirs};

/// Whether an IO error says that nothing is at the path: not found, or a parent is not a
/// folder (`ENOTDIR`: `a.py/__init__.py` when `a.py` is a file).
pub fn absent(e: &std::io::Error) -> bool {
    matches!(e.kind(), std::io::ErrorKind::NotFound | std::io::ErrorKind::NotADirectory)
}
