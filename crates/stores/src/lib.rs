//! Datastores: where data references live (Azure ML's `Datastore`), and the kinds that are
//! not folders on this machine.
//!
//! A data reference (`[data.NAME] datastore, path`) enters a step key by its content
//! identity and enters a step's argv as a path on this machine. A [`Datastore`] answers
//! both: [`Datastore::identify`] gives the identity without fetching the bytes (an object
//! store's ETag, from one listing request per prefix), and [`Datastore::fetch`] makes the
//! bytes available, called only for a step that runs. A store whose bytes are already on
//! this machine (the `local` kind, a folder, in `driver`) says where through
//! [`Datastore::local`] instead.
//!
//! [`ObjectDatastore`] is the `azure_blob` and `s3` kinds, over Apache Arrow's
//! `object_store` crate (its clients, retries and conditional puts); [`open`] makes one
//! from a pipeline's `[datastores.NAME]` keys and the cloud's usual environment variables
//! ([`credentials`]). The driver opens them for every host alike (CLI, watch, language
//! server), so an editor shows the plan a build will run.
//!
//! Identity rule: two states of a path in a store have the same identity only if they hold
//! the same bytes (an ETag changes when an object's bytes change; a folder's digest when
//! any object under it does). A store that cannot promise that for a path must fail, never
//! reuse an old identity.
//!
//! Secrets: no key, token, SAS or signed URL is ever put in an error, a log line, the
//! history or a cached object: credentials live only in the client `object_store` builds.

mod bridge;
pub mod credentials;
mod object;
pub mod shared;

use std::path::{Path, PathBuf};

pub use object::{ObjectDatastore, Uploaded, open};
pub use shared::{SharedCache, open_shared};

/// A datastore failed to answer.
#[derive(Debug, thiserror::Error)]
#[error("datastore `{store}`{}: {message}", shown(path))]
pub struct DatastoreError {
    /// The datastore's name in the pipeline.
    pub store: String,
    /// The path inside it (`.` for the store itself).
    pub path: String,
    /// What went wrong, for a person (never a secret: no key, token or signed URL).
    pub message: String,
}

/// `: PATH`, or nothing for the store itself (`.`).
fn shown(path: &str) -> String {
    if path == "." { String::new() } else { format!(": {path}") }
}

/// Where data lives. See the module docs.
pub trait Datastore: Send + Sync {
    /// Its kind, as `[datastores.NAME] kind` names it (`local`, `azure_blob`, `s3`).
    fn kind(&self) -> &str;

    /// Where `path` (normalised, relative to the store's root) is on this machine, when the
    /// store is a folder here: then it is hashed through the stat cache and read in place,
    /// and [`Self::identify`] and [`Self::fetch`] are not called for it.
    fn local(&self, path: &str) -> Option<PathBuf>;

    /// The content identity of `path`: [`hir::FsState::File`] with a digest that changes
    /// whenever the object's bytes do (for an object store, the sha256 of its ETag and
    /// size), [`hir::FsState::Dir`] for a prefix holding objects (with a digest over their
    /// names and identities when `digest`), [`hir::FsState::Missing`] when nothing is
    /// there. Must not download the bytes. A store may answer from what it learnt since
    /// its last [`Self::forget`].
    ///
    /// Errors: the store cannot be reached or refuses (the message says which).
    fn identify(&self, path: &str, digest: bool) -> Result<hir::FsState, DatastoreError>;

    /// Makes the bytes of `path` available on this machine, below `staging` (an empty
    /// folder the caller owns and removes), and returns where: the file or folder a step
    /// reads. Called only for a step about to run.
    ///
    /// Errors: the store cannot be reached, refuses, or `path` is gone or changed since it
    /// was identified; writing below `staging` fails. Never writes outside `staging` (and
    /// the store's own download cache).
    fn fetch(&self, path: &str, staging: &Path) -> Result<PathBuf, DatastoreError>;

    /// Drops what the store remembers of earlier answers: called once at the start of each
    /// look at the pipeline's paths (a build, a check), so that a build sees every change
    /// made before it started and makes at most one request per prefix.
    fn forget(&self) {}

    /// Where `path` is in this store, for a person: an `https://` or `s3://` URL, or a
    /// folder on this machine.
    fn url(&self, path: &str) -> String {
        format!("{}:{path}", self.kind())
    }

    /// Writes each `(path in the store, file here)` unless the same bytes are there already
    /// (create-only: other bytes at a path are an error naming it, and are left as they
    /// are). For outputs written to a datastore, whose paths hold their content digest.
    ///
    /// Errors: the store cannot be written (the default: this kind is read only), refuses,
    /// or holds other bytes at a path; a file here cannot be read.
    fn put_files(&self, files: &[(String, PathBuf)]) -> Result<(), DatastoreError> {
        let path = files.first().map_or(".", |(p, _)| p.as_str());
        Err(DatastoreError {
            store: String::new(),
            path: path.to_owned(),
            message: format!("a `{}` datastore cannot be written to", self.kind()),
        })
    }
}

/// The URL of `path` in a datastore of `kind` declared with `options` (no request, no
/// credentials): `ENDPOINT/CONTAINER/PATH` or `https://ACCOUNT.blob.core.windows.net/…` for
/// Azure Blob, `ENDPOINT/BUCKET/PATH` or `s3://BUCKET/PATH` for S3.
pub fn url(kind: &str, options: &std::collections::BTreeMap<String, String>, path: &str) -> String {
    let opt = |k: &str| options.get(k).map(String::as_str).unwrap_or_default();
    let endpoint = options.get("endpoint").map(|e| e.trim_end_matches('/').to_owned());
    let base = match kind {
        "azure_blob" => {
            let account = opt("account");
            let endpoint =
                endpoint.unwrap_or_else(|| format!("https://{account}.blob.core.windows.net"));
            format!("{endpoint}/{}", opt("container"))
        }
        "s3" => match endpoint {
            Some(e) => format!("{e}/{}", opt("bucket")),
            None => format!("s3://{}", opt("bucket")),
        },
        other => format!("{other}:"),
    };
    format!("{base}/{path}")
}
