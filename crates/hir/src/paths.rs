//! Which paths the pipeline names, resolved relative to the pipeline's folder.
//!
//! Resolution is lexical (`a/./b/../c` → `a/c`), with `/` separators, so it is the same on
//! every machine and needs no IO. The driver hashes what [`needed_paths`] lists and sets
//! the results with [`crate::RootDatabase::set_fs_state`].

use crate::fxhash::FxHashMap;
use crate::group::{NamedPath, group_names};
use crate::{Db, SourceFile, index, items};

/// Lexically normalises a `/`-separated path: drops `.` and empty parts, folds `..`
/// (keeping leading `..` of a relative path). Returns `.` for an empty result.
pub fn normalize(path: &str) -> String {
    let absolute = path.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." if parts.last().is_some_and(|p| *p != "..") => {
                parts.pop();
            }
            ".." if absolute => {}
            p => parts.push(p),
        }
    }
    let joined = parts.join("/");
    match (absolute, joined.is_empty()) {
        (true, _) => format!("/{joined}"),
        (false, true) => ".".to_owned(),
        (false, false) => joined,
    }
}

/// `rel` resolved against `base` (both `/`-separated); an absolute `rel` stands alone.
pub fn join(base: &str, rel: &str) -> String {
    if rel.starts_with('/') { normalize(rel) } else { normalize(&format!("{base}/{rel}")) }
}

/// What a path is used for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, salsa::SalsaValue)]
pub enum PathUse {
    /// A step's `source_directory` (must be a folder; not hashed).
    SourceDirectory,
    /// A step's script (a file; hashed).
    Script,
    /// A `hash_paths` entry (a file or folder; hashed).
    HashPath,
    /// A data reference's path (a file or folder; hashed).
    Data,
    /// An environment's requirements file (hashed).
    Requirements,
    /// A place a Python script's import may be found (a helper module when it is a file;
    /// see `hir::modules`): a file is hashed and read as Python, a folder is not hashed.
    Module,
}

/// One path to look at.
#[derive(Clone, Debug, PartialEq, Eq, Hash, salsa::SalsaValue)]
pub struct PathNeed {
    /// Normalised, relative to the pipeline's folder (or absolute).
    pub path: String,
    /// Whether its digest is needed (otherwise only whether it exists, and its kind).
    pub digest: bool,
    /// What for (the first use, in file order).
    pub usage: PathUse,
    /// For a data reference's path: its datastore and its path inside it (see
    /// [`crate::Index::data_locations`]), so that a datastore that is not a local folder
    /// can be asked about it.
    pub datastore: Option<(String, String)>,
    /// Whether the driver is to read it as Python when it is a file, and set what
    /// [`python::analyze`] finds with [`crate::RootDatabase::set_python`]: a `.py` script,
    /// or a place one of its imports may be.
    pub python: bool,
}

/// Every path the pipeline names, each once, in file order; none holding a NUL character.
#[salsa::tracked(returns(ref))]
pub fn needed_paths(db: &dyn Db, file: SourceFile) -> Vec<PathNeed> {
    let index = index(db, file);
    // Path, its first use, for a data reference its datastore and path inside it, and
    // whether it is read as Python.
    type Named<'a> = (&'a str, PathUse, Option<&'a (String, String)>, bool);
    let mut named: Vec<Named<'_>> = Vec::new();
    let mut here_seen = false;
    let mut scanned: FxHashMap<&str, ()> = FxHashMap::default();
    let default_tracking = index.meta.reuse.track_imports;
    for &group in &items(db, file).groups {
        for path in &group_names(db, group).paths {
            match path {
                NamedPath::Path(p, usage) => named.push((p, *usage, None, false)),
                NamedPath::Script(p, track) => {
                    let python = p.ends_with(".py");
                    named.push((p, PathUse::Script, None, python));
                    let tracked = track.or(default_tracking).unwrap_or(true);
                    if python && tracked && scanned.insert(p, ()).is_none() {
                        let scan = crate::modules::script_modules(db, db.fs_entry(p));
                        for (m, python) in &scan.looked_at {
                            named.push((m, PathUse::Module, None, *python));
                        }
                    }
                }
                // Most steps work in the pipeline's folder: one entry for all of them.
                NamedPath::Here if !here_seen => {
                    here_seen = true;
                    named.push((".", PathUse::SourceDirectory, None, false));
                }
                NamedPath::Here => {}
                NamedPath::Data(name) => {
                    if let Some(Some(path)) = index.data.get(name) {
                        let at = index.data_locations.get(name);
                        named.push((path, PathUse::Data, at, false));
                    }
                }
            }
        }
    }
    let mut out: Vec<PathNeed> = Vec::new();
    let mut seen: FxHashMap<&str, usize> = FxHashMap::default();
    for (path, usage, datastore, python) in named {
        // Lowering reports it; no file system can hold such a path, so none is probed.
        if path.contains('\0') {
            continue;
        }
        // A module's place may be a folder (a package), whose tree is not keyed; a file
        // there is hashed when found either way (see `Probed`).
        let digest = !matches!(usage, PathUse::SourceDirectory | PathUse::Module);
        match seen.get(path) {
            Some(&i) => {
                out[i].digest |= digest;
                out[i].python |= python;
                if out[i].datastore.is_none() {
                    out[i].datastore = datastore.cloned();
                }
            }
            None => {
                seen.insert(path, out.len());
                let datastore = datastore.cloned();
                out.push(PathNeed { path: path.to_owned(), digest, usage, datastore, python });
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalizes() {
        assert_eq!(normalize("./src//common/"), "src/common");
        assert_eq!(normalize("a/../../b"), "../b");
        assert_eq!(normalize("/x/../../y"), "/y");
        assert_eq!(normalize(""), ".");
        assert_eq!(join("src", "../data/x.csv"), "data/x.csv");
        assert_eq!(join(".", "/abs/p"), "/abs/p");
    }
}
