//! [`ObjectDatastore`]: a datastore in an object store (an Azure Blob container, an S3
//! bucket), through `object_store`.
//!
//! Identity without the bytes: an object's identity is the sha256 of its ETag and size
//! (both change when its bytes do); a prefix's, of its objects' names and identities. They
//! come from listings: identifying `raw/a.csv` lists `raw/` once (with a delimiter) and
//! answers every other path under `raw/` from it until [`crate::Datastore::forget`], so a
//! build makes one request per prefix its data references name, however many objects.
//!
//! Bytes only for a step that runs: [`crate::Datastore::fetch`] downloads an object once
//! into the project's download cache (`.runner/datastores/NAME/<identity>`), named by its
//! identity, with `If-Match` on the ETag it was identified by (an object replaced since is
//! an error, never other bytes under an old identity) and its size checked; the step gets a
//! copy (a step that wrote into its input must not change the cache).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use futures::TryStreamExt as _;
use hir::{Digest, FsState};
use object_store::path::Path as Key;
use object_store::{
    GetOptions, ObjectStore, ObjectStoreExt as _, PutMode, PutPayload, WriteMultipart,
};
use sha2::{Digest as _, Sha256};

use crate::credentials::redacted;
use crate::{Datastore, DatastoreError, bridge};

/// Objects larger than this are uploaded in parts (Azure ML's SDK and the AWS CLI switch
/// at about the same size).
const MULTIPART_FROM: u64 = 16 << 20;
/// The size of each part of a multipart upload.
const PART: usize = 8 << 20;

#[derive(Clone, Debug)]
struct Object {
    etag: String,
    size: u64,
}

impl Object {
    fn identity(&self) -> Digest {
        Digest::of_bytes(format!("object\0{}\0{}", self.etag, self.size).as_bytes())
    }
}

/// One level of a prefix: its objects and the prefixes below it (full keys).
#[derive(Default)]
struct Listing {
    objects: BTreeMap<String, Object>,
    prefixes: BTreeSet<String>,
}

/// Every object under a prefix, by its name relative to it, sorted.
type Tree = Vec<(String, Object)>;

/// What [`ObjectDatastore::upload`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Uploaded {
    /// Nothing was there; it is now.
    New,
    /// The same bytes were there already; nothing was written.
    Same,
    /// Other bytes were there and were replaced (`--overwrite`).
    Replaced,
}

/// A datastore of kind `azure_blob` or `s3`. See the module docs.
pub struct ObjectDatastore {
    name: String,
    kind: String,
    /// The container or bucket, for messages.
    place: String,
    store: Arc<dyn ObjectStore>,
    downloads: PathBuf,
    listings: Mutex<HashMap<String, Arc<Listing>>>,
    trees: Mutex<HashMap<String, Arc<Tree>>>,
    requests: AtomicU64,
    /// The URL its paths are under (`crate::url`), ending in `/`.
    base: String,
}

/// Opens the datastore `name` declared as `info` (checked by the checker), with credentials
/// from this process's environment ([`crate::credentials`]); downloads go to `downloads`.
///
/// Errors: no credentials, or a value the client refuses. Nothing is requested yet.
pub fn open(
    name: &str,
    info: &hir::DatastoreInfo,
    downloads: PathBuf,
) -> Result<Arc<ObjectDatastore>, DatastoreError> {
    let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    let store = crate::credentials::client(&info.kind, &info.options, &env)
        .map_err(|message| DatastoreError { store: name.to_owned(), path: ".".into(), message })?;
    let place = info.options.get("container").or(info.options.get("bucket")).cloned();
    let place = place.unwrap_or_default();
    let mut opened = ObjectDatastore::new(name, &info.kind, &place, store, downloads);
    opened.base = crate::url(&info.kind, &info.options, "");
    Ok(Arc::new(opened))
}

impl ObjectDatastore {
    /// A datastore called `name` (for messages) of `kind` over `store`, whose container or
    /// bucket is `place`, downloading into `downloads`.
    pub fn new(
        name: &str,
        kind: &str,
        place: &str,
        store: Arc<dyn ObjectStore>,
        downloads: PathBuf,
    ) -> ObjectDatastore {
        ObjectDatastore {
            name: name.to_owned(),
            kind: kind.to_owned(),
            place: place.to_owned(),
            store,
            downloads,
            listings: Mutex::default(),
            trees: Mutex::default(),
            requests: AtomicU64::new(0),
            base: format!("{kind}:{place}/"),
        }
    }

    /// How many requests this store has made (listings, reads, writes), for tests and
    /// benchmarks that hold the one-request-per-prefix promise.
    pub fn requests(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }

    /// The `object_store` client, for the shared cache kept in this store.
    pub fn client(&self) -> &Arc<dyn ObjectStore> {
        &self.store
    }

    fn error(&self, path: &str, message: impl Into<String>) -> DatastoreError {
        DatastoreError {
            store: self.name.clone(),
            path: path.to_owned(),
            message: redacted(&message.into()),
        }
    }

    fn missing_place(&self) -> String {
        let noun = if self.kind == "s3" { "bucket" } else { "container" };
        let place = &self.place;
        format!("the {noun} `{place}` does not exist (or is not visible to these credentials)")
    }

    fn failed(&self, path: &str, e: &object_store::Error) -> DatastoreError {
        let message = match e {
            object_store::Error::NotFound { .. } if path == "." || path.ends_with('/') => {
                self.missing_place()
            }
            object_store::Error::NotFound { .. } => "no such object".to_owned(),
            object_store::Error::Precondition { .. } => {
                "it changed since this build identified it: build again".to_owned()
            }
            other => format!("{} {}: {other}", self.kind, self.place),
        };
        self.error(path, message)
    }

    fn key(&self, path: &str) -> Result<Key, DatastoreError> {
        Key::parse(path).map_err(|e| self.error(path, format!("not an object name: {e}")))
    }

    /// One level of `prefix` (`""`: the store's root), listed once until `forget`.
    fn listing(&self, prefix: &str) -> Result<Arc<Listing>, DatastoreError> {
        if let Some(l) = self.listings.lock().unwrap().get(prefix) {
            return Ok(l.clone());
        }
        let key = if prefix.is_empty() { None } else { Some(self.key(prefix)?) };
        let store = self.store.clone();
        self.requests.fetch_add(1, Ordering::Relaxed);
        let listed = bridge::run(async move { store.list_with_delimiter(key.as_ref()).await });
        let listed = listed.map_err(|e| self.failed(&format!("{prefix}/"), &e))?;
        let mut listing = Listing::default();
        for meta in listed.objects {
            let object = self.object(&meta)?;
            listing.objects.insert(meta.location.to_string(), object);
        }
        listing.prefixes = listed.common_prefixes.iter().map(ToString::to_string).collect();
        let listing = Arc::new(listing);
        self.listings.lock().unwrap().insert(prefix.to_owned(), listing.clone());
        Ok(listing)
    }

    fn object(&self, meta: &object_store::ObjectMeta) -> Result<Object, DatastoreError> {
        let Some(etag) = meta.e_tag.clone() else {
            let message = "the store gave no ETag, so a change to it could not be seen";
            return Err(self.error(meta.location.as_ref(), message));
        };
        Ok(Object { etag, size: meta.size })
    }

    /// Every object under the prefix `path`, by its name relative to it, listed once until
    /// `forget` (paginated by the client).
    fn tree(&self, path: &str) -> Result<Arc<Tree>, DatastoreError> {
        if let Some(t) = self.trees.lock().unwrap().get(path) {
            return Ok(t.clone());
        }
        let key = self.key(path)?;
        let store = self.store.clone();
        self.requests.fetch_add(1, Ordering::Relaxed);
        let listed =
            bridge::run(async move { store.list(Some(&key)).try_collect::<Vec<_>>().await });
        let listed = listed.map_err(|e| self.failed(&format!("{path}/"), &e))?;
        let mut out = Vec::with_capacity(listed.len());
        let base = format!("{path}/");
        for meta in &listed {
            let name = meta.location.to_string();
            let Some(rel) = name.strip_prefix(&base) else { continue };
            out.push((rel.to_owned(), self.object(meta)?));
        }
        out.sort_by(|a, b| a.0.cmp(&b.0));
        let out = Arc::new(out);
        self.trees.lock().unwrap().insert(path.to_owned(), out.clone());
        Ok(out)
    }

    /// The object at `path`, if one is there (from its prefix's listing).
    fn find(&self, path: &str) -> Result<Option<Object>, DatastoreError> {
        let parent = path.rsplit_once('/').map_or("", |(p, _)| p);
        Ok(self.listing(parent)?.objects.get(path).cloned())
    }

    /// Downloads `object` at `key` into the download cache (once per identity) and copies
    /// it to `dest`.
    fn fetch_object(&self, key: &str, object: &Object, dest: &Path) -> Result<(), DatastoreError> {
        let cached = self.downloads.join(object.identity().to_hex());
        if !cached.is_file() {
            self.download(key, object, &cached)?;
        }
        if let Some(parent) = dest.parent() {
            std::fs::create_dir_all(parent)
                .map_err(|e| self.error(key, format!("creating {}: {e}", parent.display())))?;
        }
        std::fs::copy(&cached, dest)
            .map_err(|e| self.error(key, format!("copying to {}: {e}", dest.display())))?;
        Ok(())
    }

    fn download(&self, key: &str, object: &Object, to: &Path) -> Result<(), DatastoreError> {
        std::fs::create_dir_all(&self.downloads)
            .map_err(|e| self.error(key, format!("creating {}: {e}", self.downloads.display())))?;
        let mut tmp = tempfile::NamedTempFile::new_in(&self.downloads)
            .map_err(|e| self.error(key, format!("in {}: {e}", self.downloads.display())))?;
        let (store, at) = (self.store.clone(), self.key(key)?);
        let options = GetOptions { if_match: Some(object.etag.clone()), ..Default::default() };
        self.requests.fetch_add(1, Ordering::Relaxed);
        let mut file = tmp.as_file().try_clone().map_err(|e| self.error(key, e.to_string()))?;
        let written = bridge::run(async move { get_into(&*store, &at, options, &mut file).await });
        let written = written.map_err(|e| self.failed(key, &e))?;
        if written != object.size {
            let message = format!("the download was cut short: {written} of {} bytes", object.size);
            return Err(self.error(key, message));
        }
        tmp.as_file_mut().sync_all().map_err(|e| self.error(key, e.to_string()))?;
        tmp.persist(to).map_err(|e| self.error(key, format!("{}: {e}", to.display())))?;
        Ok(())
    }

    /// Uploads the file `local` to `key` (Azure ML's `upload_files`): in parts past 16 MiB.
    /// Without `overwrite`, an object already at `key` with other bytes is an error naming
    /// it (the same bytes: [`Uploaded::Same`], nothing written); small objects are written
    /// with `If-None-Match: *`, so two uploads racing for a name never both win.
    ///
    /// Errors: `local` unreadable; the store unreachable or refusing; a different object
    /// there without `overwrite`.
    pub fn upload(
        &self,
        local: &Path,
        key: &str,
        overwrite: bool,
    ) -> Result<Uploaded, DatastoreError> {
        let at = self.key(key)?;
        let size = std::fs::metadata(local)
            .map_err(|e| self.error(key, format!("reading {}: {e}", local.display())))?
            .len();
        let existing = self.head(key)?;
        if let Some(there) = &existing {
            if there.size == size && self.same_bytes(key, there, local)? {
                return Ok(Uploaded::Same);
            }
            if !overwrite {
                return Err(
                    self.error(key, "already exists with other content (--overwrite replaces it)")
                );
            }
        }
        let store = self.store.clone();
        let file = local.to_owned();
        self.requests.fetch_add(1, Ordering::Relaxed);
        let create = existing.is_none() && !overwrite;
        let put = bridge::run(async move { put_file(store, at, file, size, create).await });
        match put {
            Ok(()) => Ok(if existing.is_some() { Uploaded::Replaced } else { Uploaded::New }),
            Err(object_store::Error::AlreadyExists { .. }) => {
                Err(self.error(key, "was created by someone else during this upload"))
            }
            Err(object_store::Error::Generic { store: "local file", source }) => {
                Err(self.error(key, format!("reading {}: {source}", local.display())))
            }
            // A write to a name whose parent is missing: the container or bucket is.
            Err(object_store::Error::NotFound { .. }) => Err(self.error(key, self.missing_place())),
            Err(e) => Err(self.failed(key, &e)),
        }
    }

    fn head(&self, key: &str) -> Result<Option<Object>, DatastoreError> {
        let (store, at) = (self.store.clone(), self.key(key)?);
        self.requests.fetch_add(1, Ordering::Relaxed);
        match bridge::run(async move { store.head(&at).await }) {
            Ok(meta) => Ok(Some(self.object(&meta)?)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(self.failed(key, &e)),
        }
    }

    /// Whether the object at `key` holds the bytes of `local` (downloaded and compared by
    /// sha256: ETags are not content hashes on every store).
    fn same_bytes(&self, key: &str, there: &Object, local: &Path) -> Result<bool, DatastoreError> {
        let mine = cache::hash_file(local).map_err(|e| self.error(key, e.to_string()))?;
        let scratch = tempfile::tempdir().map_err(|e| self.error(key, e.to_string()))?;
        let theirs = scratch.path().join("object");
        self.download(key, there, &theirs)?;
        let theirs = cache::hash_file(&theirs).map_err(|e| self.error(key, e.to_string()))?;
        Ok(mine == theirs)
    }

    /// The bytes at `key`, or `None` when nothing is there.
    ///
    /// Errors: the store unreachable or refusing.
    pub fn get_bytes(&self, key: &str) -> Result<Option<Vec<u8>>, DatastoreError> {
        let (store, at) = (self.store.clone(), self.key(key)?);
        self.requests.fetch_add(1, Ordering::Relaxed);
        match bridge::run(async move { store.get(&at).await?.bytes().await }) {
            Ok(b) => Ok(Some(b.to_vec())),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(self.failed(key, &e)),
        }
    }

    /// Writes `bytes` at `key` unless something is there already (`If-None-Match: *` or the
    /// store's equivalent): returns whether it wrote. Two writers never clobber each other.
    ///
    /// Errors: the store unreachable or refusing.
    pub fn put_new(&self, key: &str, bytes: Vec<u8>) -> Result<bool, DatastoreError> {
        let (store, at) = (self.store.clone(), self.key(key)?);
        self.requests.fetch_add(1, Ordering::Relaxed);
        let put = bridge::run(async move {
            store.put_opts(&at, PutPayload::from(bytes), PutMode::Create.into()).await
        });
        match put {
            Ok(_) => Ok(true),
            Err(
                object_store::Error::AlreadyExists { .. }
                | object_store::Error::Precondition { .. },
            ) => Ok(false),
            Err(e) => Err(self.failed(key, &e)),
        }
    }
}

/// Puts the file at `from` to `at`: one request (conditional when `create`) up to
/// [`MULTIPART_FROM`], else a multipart upload of [`PART`]-sized parts, two in flight.
async fn put_file(
    store: Arc<dyn ObjectStore>,
    at: Key,
    from: PathBuf,
    size: u64,
    create: bool,
) -> object_store::Result<()> {
    let local = |e: std::io::Error| object_store::Error::Generic {
        store: "local file",
        source: Box::new(e),
    };
    if size < MULTIPART_FROM {
        let bytes = std::fs::read(&from).map_err(local)?;
        let mode = if create { PutMode::Create } else { PutMode::Overwrite };
        store.put_opts(&at, PutPayload::from(bytes), mode.into()).await?;
        return Ok(());
    }
    put_in_parts(&*store, &at, &from).await
}

/// Streams the object at `at` (read with `options`) into `file`: the bytes written. A write
/// error is `Error::Generic` from the store `"local file"`.
pub(crate) async fn get_into(
    store: &dyn ObjectStore,
    at: &Key,
    options: GetOptions,
    file: &mut std::fs::File,
) -> object_store::Result<u64> {
    let mut stream = store.get_opts(at, options).await?.into_stream();
    let mut n = 0u64;
    while let Some(chunk) = stream.try_next().await? {
        n += chunk.len() as u64;
        file.write_all(&chunk).map_err(|e| object_store::Error::Generic {
            store: "local file",
            source: Box::new(e),
        })?;
    }
    Ok(n)
}

/// Uploads the file `from` to `at` in [`PART`]-sized parts, two in flight (`object_store`'s
/// multipart upload: a failed upload is aborted, never left half visible). A read error is
/// `Error::Generic` from the store `"local file"`.
pub(crate) async fn put_in_parts(
    store: &dyn ObjectStore,
    at: &Key,
    from: &Path,
) -> object_store::Result<()> {
    let local = |e: std::io::Error| object_store::Error::Generic {
        store: "local file",
        source: Box::new(e),
    };
    let mut file = std::fs::File::open(from).map_err(local)?;
    let mut upload = WriteMultipart::new_with_chunk_size(store.put_multipart(at).await?, PART);
    let mut buf = vec![0u8; PART];
    loop {
        let n = std::io::Read::read(&mut file, &mut buf).map_err(local)?;
        if n == 0 {
            break;
        }
        upload.wait_for_capacity(2).await?;
        upload.write(&buf[..n]);
    }
    upload.finish().await?;
    Ok(())
}

impl Datastore for ObjectDatastore {
    fn kind(&self) -> &str {
        &self.kind
    }

    fn local(&self, _path: &str) -> Option<PathBuf> {
        None
    }

    fn identify(&self, path: &str, digest: bool) -> Result<FsState, DatastoreError> {
        if path == "." || path.is_empty() {
            self.listing("")?;
            return Ok(FsState::Dir(None));
        }
        if let Some(object) = self.find(path)? {
            return Ok(FsState::File(object.identity()));
        }
        let parent = path.rsplit_once('/').map_or("", |(p, _)| p);
        if !self.listing(parent)?.prefixes.contains(path) {
            return Ok(FsState::Missing);
        }
        if !digest {
            return Ok(FsState::Dir(None));
        }
        let mut h = Sha256::new();
        for (rel, object) in self.tree(path)?.iter() {
            h.update(rel.as_bytes());
            h.update([0]);
            h.update(object.identity().0);
        }
        Ok(FsState::Dir(Some(Digest(h.finalize().into()))))
    }

    fn fetch(&self, path: &str, staging: &Path) -> Result<PathBuf, DatastoreError> {
        let base = path.rsplit('/').next().unwrap_or(path);
        let dest = staging.join(base);
        if let Some(object) = self.find(path)? {
            self.fetch_object(path, &object, &dest)?;
            return Ok(dest);
        }
        let tree = self.tree(path)?;
        if tree.is_empty() {
            return Err(self.error(path, "no such object or prefix"));
        }
        std::fs::create_dir_all(&dest)
            .map_err(|e| self.error(path, format!("creating {}: {e}", dest.display())))?;
        for (rel, object) in tree.iter() {
            // An object name is hostile input: it lands below the staging folder or not at all.
            let to = cache::resolve_beneath(&dest, Path::new(rel))
                .map_err(|e| self.error(&format!("{path}/{rel}"), e.to_string()))?;
            self.fetch_object(&format!("{path}/{rel}"), object, &to)?;
        }
        Ok(dest)
    }

    fn forget(&self) {
        self.listings.lock().unwrap().clear();
        self.trees.lock().unwrap().clear();
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    fn put_files(&self, files: &[(String, PathBuf)]) -> Result<(), DatastoreError> {
        for (key, file) in files {
            self.upload(file, key, false)?;
        }
        Ok(())
    }
}
