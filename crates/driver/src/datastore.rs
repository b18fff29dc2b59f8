//! Datastores: where data references live (Azure ML's `Datastore`).
//!
//! A data reference (`[data.NAME] datastore, path`) enters a step key by its content
//! identity and enters a step's argv as a path on this machine. A [`Datastore`] answers
//! both: [`Datastore::identify`] gives the identity without fetching the bytes (an object
//! store's ETag or checksum, from one metadata request), and [`Datastore::fetch`] makes the
//! bytes available, called only for a step that runs. A store whose bytes are already on
//! this machine (the `local` kind, a folder) says where through [`Datastore::local`]
//! instead: the driver hashes that path through the stat cache like any path the pipeline
//! names, and steps read it in place.
//!
//! [`Datastores`] maps a pipeline's datastore names to stores: one the host registered for
//! a name ([`Datastores::with`]: a test store), else the `[datastores.NAME]` table's own
//! kind: a folder here, or an Azure Blob container or S3 bucket ([`stores::open`], opened by
//! [`crate::Project`] when it first looks at the pipeline's paths). [`crate::Project`] holds
//! one and probes every data reference through it; the engine fetches through it. The
//! trait itself lives in the `stores` crate, beside the object-store kinds.
//!
//! Identity rule: two states of a path in a store have the same identity only if they hold
//! the same bytes (an ETag changes when an object's bytes change; a folder's tree digest
//! when any file in it does). A store that cannot promise that for a path must say
//! [`hir::FsState::Missing`] or fail, never reuse an old identity.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use hir::FsState;

pub use stores::{Datastore, DatastoreError};

/// The `local` kind: a folder on this machine, read in place.
#[derive(Debug, Clone)]
pub struct LocalFolder {
    /// Its name in the pipeline (for messages).
    pub name: String,
    /// The folder (the pipeline's folder joined with `[datastores.NAME] path`).
    pub root: PathBuf,
}

impl Datastore for LocalFolder {
    fn kind(&self) -> &str {
        "local"
    }

    fn local(&self, path: &str) -> Option<PathBuf> {
        Some(if path == "." { self.root.clone() } else { self.root.join(path) })
    }

    fn identify(&self, path: &str, digest: bool) -> Result<FsState, DatastoreError> {
        let at = self.root.join(path);
        crate::probe(&at, digest).map_err(|e| DatastoreError {
            store: self.name.clone(),
            path: path.to_owned(),
            message: format!("{e:#}"),
        })
    }

    fn fetch(&self, path: &str, _staging: &Path) -> Result<PathBuf, DatastoreError> {
        Ok(self.root.join(path))
    }

    fn url(&self, path: &str) -> String {
        self.root.join(path).display().to_string()
    }

    fn put_files(&self, files: &[(String, PathBuf)]) -> Result<(), DatastoreError> {
        let fail = |path: &str, message: String| DatastoreError {
            store: self.name.clone(),
            path: path.to_owned(),
            message,
        };
        for (path, file) in files {
            // A path is resolved below the folder before anything is written.
            let to = cache::resolve_beneath(&self.root, Path::new(path))
                .map_err(|e| fail(path, e.to_string()))?;
            let mine = cache::hash_file(file).map_err(|e| fail(path, e.to_string()))?;
            match cache::hash_file(&to) {
                Ok(theirs) if theirs == mine => continue,
                Ok(_) => return Err(fail(path, "already exists with other content".to_owned())),
                Err(_) if to.exists() => {
                    return Err(fail(path, "exists and cannot be read".to_owned()));
                }
                Err(_) => {}
            }
            let bytes = std::fs::read(file).map_err(|e| fail(path, e.to_string()))?;
            cache::write_atomic(&to, &bytes).map_err(|e| fail(path, e.to_string()))?;
        }
        Ok(())
    }
}

/// Datastores registered by name, overriding the kind a pipeline names for them. Cheap to
/// clone.
#[derive(Clone, Default)]
pub struct Datastores(BTreeMap<String, Arc<dyn Datastore>>);

impl Datastores {
    /// These stores, and `store` for the datastore the pipeline calls `name`.
    pub fn with(mut self, name: &str, store: Arc<dyn Datastore>) -> Datastores {
        self.0.insert(name.to_owned(), store);
        self
    }

    /// The store registered for `name`, if any (else the pipeline's own `local` folder is
    /// used, which the driver reads directly).
    pub fn get(&self, name: &str) -> Option<&Arc<dyn Datastore>> {
        self.0.get(name)
    }

    /// Has every registered store forget what it learnt ([`Datastore::forget`]).
    pub fn forget(&self) {
        for store in self.0.values() {
            store.forget();
        }
    }

    /// Whether every registered store is a local folder: only then may a build memo vouch
    /// for data references, since it re-checks them by `stat` alone.
    pub fn all_local(&self) -> bool {
        self.0.values().all(|s| s.local(".").is_some())
    }
}

impl fmt::Debug for Datastores {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.0.keys()).finish()
    }
}
