//! The datastore seam: a store the engine has never seen, brought by the host for one
//! datastore name, holds a data reference. Its identity (an ETag, no download) goes into
//! the step key; its bytes are fetched only for a step that runs; a new ETag reruns the
//! step. Nothing in the driver or the engine changes to add a store: this file is the
//! whole of it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use driver::datastore::{Datastore, DatastoreError, Datastores};
use engine::{BuildOptions, Recorder};
use exec::CancelToken;
use hir::FsState;
use history::{RunStatus, StepStatus};
use sha2::{Digest as _, Sha256};

/// An object store in memory: key → (ETag, bytes), and what it was asked.
#[derive(Default)]
struct Bucket {
    objects: Mutex<BTreeMap<String, (String, Vec<u8>)>>,
    identified: Mutex<usize>,
    fetched: Mutex<usize>,
}

impl Bucket {
    fn put(&self, key: &str, etag: &str, bytes: &[u8]) {
        self.objects.lock().unwrap().insert(key.to_owned(), (etag.to_owned(), bytes.to_vec()));
    }
}

impl Datastore for Bucket {
    fn kind(&self) -> &str {
        "bucket"
    }

    fn local(&self, _path: &str) -> Option<PathBuf> {
        None
    }

    fn identify(&self, path: &str, _digest: bool) -> Result<FsState, DatastoreError> {
        *self.identified.lock().unwrap() += 1;
        Ok(match self.objects.lock().unwrap().get(path) {
            Some((etag, _)) => FsState::File(hir::Digest(Sha256::digest(etag).into())),
            None => FsState::Missing,
        })
    }

    fn fetch(&self, path: &str, staging: &Path) -> Result<PathBuf, DatastoreError> {
        *self.fetched.lock().unwrap() += 1;
        let objects = self.objects.lock().unwrap();
        let (_, bytes) = objects.get(path).ok_or_else(|| DatastoreError {
            store: "bucket".to_owned(),
            path: path.to_owned(),
            message: "no such object".to_owned(),
        })?;
        let to = staging.join(Path::new(path).file_name().unwrap());
        std::fs::write(&to, bytes).unwrap();
        Ok(to)
    }
}

const PIPELINE: &str = r#"
[datastores.bucket]
kind = "local"
path = "not-here"

[data.raw]
datastore = "bucket"
path = "sets/raw.csv"

[steps.count]
command = ["sh", "-c", "wc -c < \"$0\" | tr -d ' ' > \"$1/n.txt\"", "${inputs.d}", "${outputs.o}"]
inputs = { d = "data.raw" }
outputs = ["o"]
"#;

fn build(dir: &Path, bucket: &Arc<Bucket>) -> StepStatus {
    let mut project = driver::Project::load(dir, Vec::new()).unwrap();
    project.datastores = Datastores::default().with("bucket", bucket.clone());
    project.refresh_fs().unwrap();
    assert!(project.problems().is_empty(), "{:?}", project.problems());
    let opts = BuildOptions { supervise: false, ..BuildOptions::default() };
    let rt = engine::runtime().unwrap();
    let cache = engine::open_cache(&project).unwrap();
    let sink = Arc::new(Recorder::default());
    let summary =
        engine::run_build(&project, &cache, None, &opts, &rt, &CancelToken::new(), sink).unwrap();
    assert_eq!(summary.status, RunStatus::Succeeded);
    summary.outcomes.iter().find(|o| o.step == "count").unwrap().status
}

fn counted(dir: &Path) -> String {
    std::fs::read_to_string(dir.join(".runner/outputs/count.o/n.txt")).unwrap()
}

#[test]
fn a_datastore_brought_by_the_host_keys_by_identity_and_fetches_only_to_run() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("pipeline.toml"), PIPELINE).unwrap();
    let bucket = Arc::new(Bucket::default());
    bucket.put("sets/raw.csv", "etag-1", b"a,b\n1,2\n");

    assert_eq!(build(dir.path(), &bucket), StepStatus::Ran);
    assert_eq!(counted(dir.path()), "8\n");
    assert_eq!(*bucket.fetched.lock().unwrap(), 1);

    // Same ETag: reused, identified again but not downloaded.
    let asked = *bucket.identified.lock().unwrap();
    assert_eq!(build(dir.path(), &bucket), StepStatus::Reused);
    assert!(*bucket.identified.lock().unwrap() > asked);
    assert_eq!(*bucket.fetched.lock().unwrap(), 1);

    // New bytes, new ETag: the step runs on them.
    bucket.put("sets/raw.csv", "etag-2", b"a,b\n1,2\n3,4\n");
    assert_eq!(build(dir.path(), &bucket), StepStatus::Ran);
    assert_eq!(counted(dir.path()), "12\n");
    assert_eq!(*bucket.fetched.lock().unwrap(), 2);
    // Nothing was written where the pipeline's own folder for the datastore would be.
    assert!(!dir.path().join("not-here").exists());
}

#[test]
fn an_object_missing_from_the_store_is_the_checkers_missing_data() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("pipeline.toml"), PIPELINE).unwrap();
    let mut project = driver::Project::load(dir.path(), Vec::new()).unwrap();
    project.datastores = Datastores::default().with("bucket", Arc::new(Bucket::default()));
    project.refresh_fs().unwrap();
    let problems: Vec<String> = project.problems().iter().map(|d| d.message.clone()).collect();
    assert!(
        problems.iter().any(|m| m.contains("data `sets/raw.csv` was not found")),
        "{problems:?}"
    );
}

/// A store whose `fetch` answers with a path outside the staging folder it was given.
struct Liar {
    inner: Bucket,
    elsewhere: PathBuf,
}

impl Datastore for Liar {
    fn kind(&self) -> &str {
        "liar"
    }

    fn local(&self, _path: &str) -> Option<PathBuf> {
        None
    }

    fn identify(&self, path: &str, digest: bool) -> Result<FsState, DatastoreError> {
        self.inner.identify(path, digest)
    }

    fn fetch(&self, _path: &str, _staging: &Path) -> Result<PathBuf, DatastoreError> {
        Ok(self.elsewhere.clone())
    }
}

/// The engine refuses a fetched path outside the step's staging folder: the step would
/// read (and its key vouch for) bytes nobody identified. The step fails saying so, and
/// nothing is cached: an honest store's build runs it.
#[test]
fn a_fetch_that_answers_outside_its_staging_folder_fails_the_step() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("pipeline.toml"), PIPELINE).unwrap();
    let elsewhere = dir.path().join("planted.csv");
    std::fs::write(&elsewhere, "not what was identified\n").unwrap();
    let liar = Liar { inner: Bucket::default(), elsewhere };
    liar.inner.put("sets/raw.csv", "etag-1", b"a,b\n1,2\n");

    let mut project = driver::Project::load(dir.path(), Vec::new()).unwrap();
    project.datastores = Datastores::default().with("bucket", Arc::new(liar));
    project.refresh_fs().unwrap();
    let opts = BuildOptions { supervise: false, ..BuildOptions::default() };
    let rt = engine::runtime().unwrap();
    let cache = engine::open_cache(&project).unwrap();
    let sink = Arc::new(Recorder::default());
    let summary =
        engine::run_build(&project, &cache, None, &opts, &rt, &CancelToken::new(), sink).unwrap();
    let count = summary.outcomes.iter().find(|o| o.step == "count").unwrap();
    assert_eq!(count.status, StepStatus::Failed);
    let reason = count.reason.clone().unwrap_or_default();
    assert!(reason.contains("the datastore answered") && reason.contains("outside"), "{reason}");
    drop(summary);

    let bucket = Arc::new(Bucket::default());
    bucket.put("sets/raw.csv", "etag-1", b"a,b\n1,2\n");
    assert_eq!(build(dir.path(), &bucket), StepStatus::Ran);
    assert_eq!(counted(dir.path()), "8\n");
}
