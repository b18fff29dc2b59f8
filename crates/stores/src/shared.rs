//! [`SharedCache`]: the shared cache's objects in a datastore (`[cache] remote`).
//!
//! Layout under the store's root, all names content-derived so that two writers of one name
//! always mean the same bytes:
//!
//! ```text
//! runner-cache/v1/ac/<step key hex>     the action cache entry (cache::ActionResult, JSON)
//! runner-cache/v1/cas/<sha256 hex>      an output file's bytes
//! runner-cache/v1/logs/<step key hex>   the producing run's logs and metrics (JSON)
//! ```
//!
//! Writes are create-only (`If-None-Match: *` on Azure and S3, `O_EXCL` on a folder): a
//! name that exists is never replaced, so writers never clobber each other and a reader
//! never sees an object change. An entry is written after every blob it names, so an entry
//! that is there names blobs that are there (a reader still verifies each blob it
//! downloads against its digest: the store is shared, not trusted). The engine decides
//! what to read and write (`engine::build::remote`); this type only moves bytes.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use hir::Digest;
use object_store::path::Path as Key;
use object_store::{ObjectStore, ObjectStoreExt as _, PutMode, PutPayload};

use crate::credentials::redacted;
use crate::{DatastoreError, bridge};

/// The prefix every object of the shared cache is under; its version changes when the
/// layout or the entry format does.
pub const PREFIX: &str = "runner-cache/v1";

/// Blobs from this size on are uploaded in parts.
const MULTIPART_FROM: u64 = 16 << 20;

/// The shared cache in one datastore. See the module docs.
pub struct SharedCache {
    name: String,
    store: Arc<dyn ObjectStore>,
    requests: AtomicU64,
    down: AtomicU64,
    up: AtomicU64,
}

/// Opens the shared cache `[cache] remote` names: an `azure_blob` or `s3` datastore
/// (credentials from the environment, as for its data), or a `local` datastore's folder
/// `folder` (absolute; created if missing), e.g. a share every machine mounts.
///
/// Errors: no credentials, a client the store's keys cannot make, a folder that cannot be
/// created.
pub fn open_shared(
    name: &str,
    remote: Option<&hir::DatastoreInfo>,
    folder: &Path,
) -> Result<SharedCache, DatastoreError> {
    let fail = |message: String| DatastoreError {
        store: name.to_owned(),
        path: ".".to_owned(),
        message: redacted(&message),
    };
    let store: Arc<dyn ObjectStore> = match remote {
        Some(info) => {
            let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
            crate::credentials::client(&info.kind, &info.options, &env).map_err(fail)?
        }
        None => {
            std::fs::create_dir_all(folder)
                .map_err(|e| fail(format!("creating {}: {e}", folder.display())))?;
            let fs = object_store::local::LocalFileSystem::new_with_prefix(folder)
                .map_err(|e| fail(e.to_string()))?;
            Arc::new(fs)
        }
    };
    Ok(SharedCache::new(name, store))
}

impl SharedCache {
    /// The shared cache in `store`, called `name` in messages.
    pub fn new(name: &str, store: Arc<dyn ObjectStore>) -> SharedCache {
        SharedCache {
            name: name.to_owned(),
            store,
            requests: AtomicU64::new(0),
            down: AtomicU64::new(0),
            up: AtomicU64::new(0),
        }
    }

    /// The datastore's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Requests made, bytes downloaded and bytes uploaded so far.
    pub fn traffic(&self) -> (u64, u64, u64) {
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        (get(&self.requests), get(&self.down), get(&self.up))
    }

    fn key(kind: &str, d: &Digest) -> Key {
        Key::from(format!("{PREFIX}/{kind}/{}", d.to_hex()))
    }

    fn error(&self, what: &str, e: &object_store::Error) -> DatastoreError {
        DatastoreError {
            store: self.name.clone(),
            path: what.to_owned(),
            message: redacted(&format!("shared cache: {e}")),
        }
    }

    /// The bytes of `kind/<d>` (`ac`, `logs`), `None` when absent.
    ///
    /// Errors: the store unreachable or refusing (after retries).
    pub fn get(&self, kind: &str, d: &Digest) -> Result<Option<Vec<u8>>, DatastoreError> {
        let (store, key) = (self.store.clone(), Self::key(kind, d));
        self.requests.fetch_add(1, Ordering::Relaxed);
        let what = key.to_string();
        match bridge::run(async move { store.get(&key).await?.bytes().await }) {
            Ok(b) => {
                self.down.fetch_add(b.len() as u64, Ordering::Relaxed);
                Ok(Some(b.to_vec()))
            }
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(self.error(&what, &e)),
        }
    }

    /// Writes `bytes` at `kind/<d>` unless something is there: whether it wrote.
    ///
    /// Errors: the store unreachable or refusing (after retries).
    pub fn put(&self, kind: &str, d: &Digest, bytes: Vec<u8>) -> Result<bool, DatastoreError> {
        let (store, key) = (self.store.clone(), Self::key(kind, d));
        let what = key.to_string();
        let n = bytes.len() as u64;
        self.requests.fetch_add(1, Ordering::Relaxed);
        let put = bridge::run(async move {
            store.put_opts(&key, PutPayload::from(bytes), PutMode::Create.into()).await
        });
        match put {
            Ok(_) => {
                self.up.fetch_add(n, Ordering::Relaxed);
                Ok(true)
            }
            Err(
                object_store::Error::AlreadyExists { .. }
                | object_store::Error::Precondition { .. },
            ) => Ok(false),
            Err(e) => Err(self.error(&what, &e)),
        }
    }

    /// Downloads blob `d` into the new file `to`: whether the store has it. The caller
    /// verifies the bytes against `d` before trusting them.
    ///
    /// Errors: the store unreachable or refusing (after retries), a cut download, `to` not
    /// writable.
    pub fn get_blob(&self, d: &Digest, to: &Path) -> Result<bool, DatastoreError> {
        let (store, key) = (self.store.clone(), Self::key("cas", d));
        let what = key.to_string();
        let mut file = std::fs::File::create(to).map_err(|e| DatastoreError {
            store: self.name.clone(),
            path: what.clone(),
            message: format!("creating {}: {e}", to.display()),
        })?;
        self.requests.fetch_add(1, Ordering::Relaxed);
        let got = bridge::run(async move {
            crate::object::get_into(&*store, &key, Default::default(), &mut file).await
        });
        match got {
            Ok(n) => {
                self.down.fetch_add(n, Ordering::Relaxed);
                Ok(true)
            }
            Err(object_store::Error::NotFound { .. }) => Ok(false),
            Err(e) => Err(self.error(&what, &e)),
        }
    }

    /// Uploads the file `from` as blob `d` unless the store has it (one `HEAD` first for a
    /// large blob, so its bytes are not sent to be refused): whether it wrote.
    ///
    /// Errors: the store unreachable or refusing (after retries), `from` unreadable.
    pub fn put_blob(&self, d: &Digest, from: &Path) -> Result<bool, DatastoreError> {
        let (store, key) = (self.store.clone(), Self::key("cas", d));
        let what = key.to_string();
        let local = |e: std::io::Error| DatastoreError {
            store: self.name.clone(),
            path: what.clone(),
            message: format!("reading {}: {e}", from.display()),
        };
        let size = std::fs::metadata(from).map_err(local)?.len();
        if size < MULTIPART_FROM {
            let bytes = std::fs::read(from).map_err(local)?;
            return self.put("cas", d, bytes);
        }
        self.requests.fetch_add(2, Ordering::Relaxed);
        let from: PathBuf = from.to_owned();
        let put = bridge::run(async move {
            match store.head(&key).await {
                Ok(_) => return Ok(false),
                Err(object_store::Error::NotFound { .. }) => {}
                Err(e) => return Err(e),
            }
            crate::object::put_in_parts(&*store, &key, &from).await?;
            Ok(true)
        });
        match put {
            Ok(wrote) => {
                if wrote {
                    self.up.fetch_add(size, Ordering::Relaxed);
                }
                Ok(wrote)
            }
            Err(e) => Err(self.error(&what, &e)),
        }
    }
}
