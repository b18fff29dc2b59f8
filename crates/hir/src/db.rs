//! The database, its inputs, and the digest type.

#![allow(missing_docs)] // salsa generates constructors, getters and setters without docs; ours are documented.
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use salsa::Setter;

/// A sha256 digest: the one type every layer shares (`base::Digest`).
pub use base::Digest;

/// What the driver found at a path.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, salsa::SalsaValue)]
pub enum FsState {
    /// Not looked at yet: no "not found" diagnostic, no key.
    Unknown,
    /// Nothing there (or unreadable).
    Missing,
    /// A file and the sha256 of its bytes.
    File(Digest),
    /// A folder and, when asked for, the digest of its tree (see `cache::Manifest::digest`).
    Dir(Option<Digest>),
}

/// The pipeline file: its path (as shown in messages), its text, and this run's parameter
/// overrides (`--param name=value`, in order given).
///
/// Made with [`SourceFile::new`], at medium durability: the text changes less often than
/// the [`FsEntry`] states (low durability) a driver sets after every load, so salsa can
/// skip re-verifying every per-item query that reads only the text when a path changes.
#[salsa::input(debug, constructor = new_with_default_durability)]
pub struct SourceFile {
    /// The path as the user gave it; only used in messages.
    #[returns(ref)]
    pub path: String,
    /// The whole text. A file that is not UTF-8 is decoded lossily by the driver, which
    /// reports that itself.
    #[returns(ref)]
    pub text: String,
    /// `--param` overrides: (name, raw value).
    #[returns(ref)]
    pub overrides: Vec<(String, String)>,
}

impl SourceFile {
    /// A new pipeline file input, at [`salsa::Durability::MEDIUM`] (setters keep it).
    pub fn new<D: ?Sized + salsa::Database>(
        db: &D,
        path: String,
        text: String,
        overrides: Vec<(String, String)>,
    ) -> SourceFile {
        SourceFile::builder(path, text, overrides).durability(salsa::Durability::MEDIUM).new(db)
    }
}

/// One path the pipeline names, relative to the pipeline's folder, `/`-separated and
/// normalised (see [`crate::needed_paths`]), and what the driver found there.
#[salsa::input(debug)]
pub struct FsEntry {
    /// Normalised relative path (or absolute, if the pipeline wrote one).
    #[returns(ref)]
    pub path: String,
    /// What is there.
    #[returns(copy)]
    pub state: FsState,
    /// For a Python file the driver was asked to read as one ([`crate::PathNeed::python`]):
    /// what [`python::analyze`] found in it. `None` until then.
    #[returns(ref)]
    pub python: Option<Arc<python::Analysis>>,
}

/// The database trait every query takes as `db: &dyn Db`.
#[salsa::db]
pub trait Db: salsa::Database {
    /// The input for `path`, created (as [`FsState::Unknown`]) on first use. Reading its
    /// state records a dependency, so a later [`RootDatabase::set_fs_state`] re-runs
    /// exactly the queries that looked at this path.
    fn fs_entry(&self, path: &str) -> FsEntry;

    /// Another handle on the same database for a second thread (salsa's snapshot), if this
    /// database can make one; [`crate::prime`] uses it to compute per-block and per-group
    /// queries of a large file on two threads.
    fn fork(&self) -> Option<Box<dyn Db>> {
        None
    }
}

/// The one database implementation, shared by the CLI, watch mode and the language server.
/// Cloning is cheap and gives a snapshot for another thread (salsa's model).
#[salsa::db]
#[derive(Clone, Default)]
pub struct RootDatabase {
    storage: salsa::Storage<Self>,
    entries: Arc<Mutex<HashMap<String, FsEntry>>>,
    log: Option<Arc<Mutex<Vec<String>>>>,
}

impl RootDatabase {
    /// A database that records the name and argument of every query that executes
    /// (salsa's `WillExecute` event), for incrementality tests. See [`Self::take_log`].
    pub fn with_execution_log() -> Self {
        let log: Arc<Mutex<Vec<String>>> = Arc::default();
        let sink = log.clone();
        let storage = salsa::Storage::new(Some(Box::new(move |event: salsa::Event| {
            if let salsa::EventKind::WillExecute { database_key } = event.kind {
                sink.lock().unwrap_or_else(|e| e.into_inner()).push(format!("{database_key:?}"));
            }
        })));
        RootDatabase { storage, entries: Arc::default(), log: Some(log) }
    }

    /// Queries executed since the last call, in order (empty without an execution log).
    pub fn take_log(&self) -> Vec<String> {
        self.log
            .as_ref()
            .map(|l| std::mem::take(&mut *l.lock().unwrap_or_else(|e| e.into_inner())))
            .unwrap_or_default()
    }

    /// Sets what the driver found at `path`. Returns whether it changed (an unchanged state
    /// starts no new revision, so nothing re-runs).
    pub fn set_fs_state(&mut self, path: &str, state: FsState) -> bool {
        let entry = self.fs_entry(path);
        if entry.state(self) == state {
            return false;
        }
        entry.set_state(self).to(state);
        true
    }

    /// Sets what [`python::analyze`] found in the Python file at `path` (`None`: nothing
    /// known, e.g. the file is gone). Returns whether it changed.
    pub fn set_python(&mut self, path: &str, analysis: Option<Arc<python::Analysis>>) -> bool {
        let entry = self.fs_entry(path);
        if *entry.python(self) == analysis {
            return false;
        }
        entry.set_python(self).to(analysis);
        true
    }

    /// Every path an [`FsEntry`] exists for, with its state.
    pub fn fs_states(&self) -> Vec<(String, FsState)> {
        let entries: Vec<FsEntry> =
            self.entries.lock().unwrap_or_else(|e| e.into_inner()).values().copied().collect();
        entries.into_iter().map(|e| (e.path(self).clone(), e.state(self))).collect()
    }
}

#[salsa::db]
impl salsa::Database for RootDatabase {}

#[salsa::db]
impl Db for RootDatabase {
    fn fs_entry(&self, path: &str) -> FsEntry {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        *entries
            .entry(path.to_owned())
            .or_insert_with(|| FsEntry::new(self, path.to_owned(), FsState::Unknown, None))
    }

    fn fork(&self) -> Option<Box<dyn Db>> {
        Some(Box::new(self.clone()))
    }
}

/// A parameter's name, interned so [`param_value`] can be a query per parameter.
#[salsa::interned(debug)]
pub struct ParamName<'db> {
    /// The name.
    #[returns(ref)]
    pub text: String,
}
