//! The crate's error type. Every IO failure carries the path it happened on, so a message like
//! `writing .runner/cache/cas/ab12…: No space left on device` can be shown to the user as is.

use std::io;
use std::path::PathBuf;

use crate::Digest;

/// `Result` with this crate's [`Error`] as the default error type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in this crate. Messages are lowercase and name the path involved.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Reading a file, a folder listing, a symlink or file metadata failed.
    #[error("reading {}: {source}", path.display())]
    Read {
        /// The file or folder being read.
        path: PathBuf,
        /// The underlying OS error.
        source: io::Error,
    },
    /// Creating, writing, syncing, renaming, linking or removing a file or folder failed.
    #[error("writing {}: {source}", path.display())]
    Write {
        /// The file or folder being written.
        path: PathBuf,
        /// The underlying OS error.
        source: io::Error,
    },
    /// A destination that must not exist already exists.
    #[error("{} already exists", path.display())]
    Exists {
        /// The destination.
        path: PathBuf,
    },
    /// A file name under a walked folder is not valid UTF-8; manifests only hold UTF-8 paths.
    #[error("{}: file name is not valid utf-8", path.display())]
    NonUtf8Path {
        /// The offending path (lossily displayed).
        path: PathBuf,
    },
    /// A file's bytes changed between hashing it and copying it into the store.
    #[error("{} changed while it was being stored", path.display())]
    Changed {
        /// The source file.
        path: PathBuf,
    },
    /// Serializing a record to JSON failed.
    #[error("encoding {}: {source}", path.display())]
    Json {
        /// The record file that was being written.
        path: PathBuf,
        /// The serde error.
        source: serde_json::Error,
    },
    /// The action cache database could not be opened, read or written.
    #[error("action cache {}: {source}", path.display())]
    Db {
        /// The database file.
        path: PathBuf,
        /// The SQLite error.
        source: rusqlite::Error,
    },
    /// A blob a manifest refers to is not in the store (e.g. while materializing).
    #[error("file {path}: blob {} is missing from the cache", digest.short())]
    MissingBlob {
        /// The manifest entry's relative path (`""` for a single-file manifest).
        path: String,
        /// The missing blob's digest.
        digest: Digest,
    },
    /// A blob's bytes, read to be copied out, no longer hash to its name: something wrote
    /// into it after it was stored (through an output view, which shares the blob's inode,
    /// as root despite its read-only mode), or the disk corrupted it.
    #[error(
        "file {path}: blob {} no longer holds what was stored (its bytes hash to {}): something wrote into it after it was stored",
        expected.short(),
        actual.short()
    )]
    CorruptBlob {
        /// The manifest entry's relative path (`""` for a single-file manifest).
        path: String,
        /// The blob's name.
        expected: Digest,
        /// What its bytes hash to now.
        actual: Digest,
    },
    /// A path would lead outside the folder it must stay in (see [`crate::resolve_beneath`]):
    /// it climbs out with `..`, is absolute, holds a NUL byte, or goes through a symlink
    /// that leads out.
    #[error("{} leads outside {}: {reason}", path.display(), root.display())]
    Outside {
        /// The path as it was given (relative to `root`), or the symlink found under `root`.
        path: PathBuf,
        /// The folder it must stay in.
        root: PathBuf,
        /// Why, lowercase, naming the symlink and its target when one leads out.
        reason: String,
    },
    /// A manifest cannot be laid out as a folder: an unsafe path (absolute, `..`, empty
    /// component, NUL byte) or a `""` entry next to other entries.
    #[error("invalid manifest: {reason}")]
    BadManifest {
        /// What is wrong, lowercase.
        reason: String,
    },
}

impl Error {
    pub(crate) fn read(path: impl Into<PathBuf>) -> impl FnOnce(io::Error) -> Error {
        let path = path.into();
        move |source| Error::Read { path, source }
    }

    pub(crate) fn write(path: impl Into<PathBuf>) -> impl FnOnce(io::Error) -> Error {
        let path = path.into();
        move |source| Error::Write { path, source }
    }
}
