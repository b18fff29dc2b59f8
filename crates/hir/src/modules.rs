//! Helper modules: the local Python files a script imports, found the way Python finds them.
//!
//! `python script.py` puts the script's folder first on `sys.path`, so an absolute import
//! (`import helper`, `from common import features`) is looked up there before the
//! standard library and installed packages: the first part of a dotted name is a regular
//! package (`common/__init__.py`), else a module (`common.py`), else a namespace package
//! (a folder `common/` without `__init__.py`), else not local (the environment covers
//! it). Each further part is looked up in the package found so far; every package's
//! `__init__.py` on the way is imported, so it is a module of the step too. `from P import
//! name` tries each name as a submodule of package `P`. A relative import (`from . import
//! y`, `from ..x import y`) starts at the importing module's package; in the script itself
//! (`__main__`, no package) Python refuses it, so it adds nothing. Imports of every module
//! found are followed, each file once.
//!
//! All of this is lexical over the file states the driver set, so it is a query: a path
//! whose state (or, for a module, whose [`python::Analysis`]) is not known yet is listed in
//! [`ModuleScan::looked_at`] and makes the scan [`ModuleScan::pending`]; the driver probes
//! what the scan looked at and asks again until nothing new is looked at.
//!
//! What Python does and this does not: `sys.path` changes made by the script, `.pth`
//! files, `PYTHONPATH`, import hooks and modules loaded by a computed name (reported by
//! the checker as notes: `python::Analysis::dynamic`). A module on `PYTHONPATH` outside
//! the script's folder belongs in `hash_paths`.

use std::collections::{BTreeSet, HashSet, VecDeque};

use crate::paths::join;
use crate::{Db, FsEntry, FsState};

/// What [`crate::script_modules`] found for one script.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, salsa::SalsaValue)]
pub struct ModuleScan {
    /// Every local module file the script imports, transitively, without the script:
    /// normalised paths relative to the pipeline's folder, sorted.
    pub modules: Vec<String>,
    /// Every path the scan looked at, in order, each once, and whether the driver is to
    /// read it as Python when it is a file.
    pub looked_at: Vec<(String, bool)>,
    /// The first path whose state or analysis is not known yet: the scan is incomplete.
    pub pending: Option<String>,
}

/// The modules `script` (a `.py` file's entry) imports; see the module docs.
#[salsa::tracked(returns(ref))]
pub(crate) fn script_modules(db: &dyn Db, script: FsEntry) -> ModuleScan {
    let script_path = script.path(db).clone();
    let mut scan = Scan {
        db,
        root: parent(&script_path),
        script: script_path.clone(),
        out: ModuleScan::default(),
        seen_looks: HashSet::new(),
        found: BTreeSet::new(),
        queue: VecDeque::new(),
    };
    scan.queue.push_back(script_path.clone());
    while let Some(file) = scan.queue.pop_front() {
        let entry = db.fs_entry(&file);
        match entry.state(db) {
            FsState::File(_) => {}
            FsState::Unknown => {
                scan.pending(&file);
                continue;
            }
            _ => continue,
        }
        let Some(analysis) = entry.python(db).clone() else {
            scan.pending(&file);
            continue;
        };
        for import in &analysis.imports {
            let base = if import.level == 0 {
                scan.root.clone()
            } else {
                match scan.package_base(&file, &script_path, import.level) {
                    Some(b) => b,
                    None => continue,
                }
            };
            scan.resolve(&base, &import.module, &import.names);
        }
    }
    scan.out.modules = scan.found.into_iter().collect();
    scan.out
}

/// The folder of a normalised path (`.` for a bare name).
fn parent(path: &str) -> String {
    match path.rsplit_once('/') {
        Some(("", _)) => "/".to_owned(),
        Some((dir, _)) => dir.to_owned(),
        None => ".".to_owned(),
    }
}

/// Whether `dir` is strictly below `root` (both normalised).
fn strictly_under(dir: &str, root: &str) -> bool {
    if root == "." {
        return dir != "." && !dir.starts_with("../") && dir != ".." && !dir.starts_with('/');
    }
    dir.strip_prefix(root).is_some_and(|rest| rest.starts_with('/') && rest.len() > 1)
}

struct Scan<'db> {
    db: &'db dyn Db,
    /// The script's folder: `sys.path[0]`.
    root: String,
    /// The script (a module may import it back; it is not a module of its own).
    script: String,
    out: ModuleScan,
    seen_looks: HashSet<String>,
    found: BTreeSet<String>,
    queue: VecDeque<String>,
}

/// Where a name resolved in one folder.
enum Found {
    /// A regular package: its folder (its `__init__.py` is a module).
    Package(String),
    /// A namespace package: its folder.
    Namespace(String),
    /// A module file.
    Module,
    /// Not here (or not known yet).
    Nothing,
}

impl Scan<'_> {
    fn pending(&mut self, path: &str) {
        if self.out.pending.is_none() {
            self.out.pending = Some(path.to_owned());
        }
    }

    /// The state of `path`, recording that the scan looked at it.
    fn look(&mut self, path: &str, python: bool) -> FsState {
        if self.seen_looks.insert(path.to_owned()) {
            self.out.looked_at.push((path.to_owned(), python));
        }
        let state = self.db.fs_entry(path).state(self.db);
        if state == FsState::Unknown {
            self.pending(path);
        }
        state
    }

    fn add(&mut self, module: String) {
        if module != self.script && self.found.insert(module.clone()) {
            self.queue.push_back(module);
        }
    }

    /// The package a relative import of `level` dots in `file` starts from, if Python
    /// would accept it: not in the script, and not above the script's folder.
    fn package_base(&self, file: &str, script: &str, level: u32) -> Option<String> {
        if file == script {
            return None;
        }
        let mut dir = parent(file);
        for _ in 1..level {
            dir = parent(&dir);
        }
        strictly_under(&dir, &self.root).then_some(dir)
    }

    /// Looks `name` up in folder `dir` in Python's order; see the module docs.
    fn find(&mut self, dir: &str, name: &str) -> Found {
        let folder = join(dir, name);
        let init = join(&folder, "__init__.py");
        let file = join(dir, &format!("{name}.py"));
        let folder_state = self.look(&folder, false);
        let init_state = self.look(&init, true);
        let file_state = self.look(&file, true);
        if matches!(init_state, FsState::File(_)) {
            self.add(init);
            Found::Package(folder)
        } else if matches!(file_state, FsState::File(_)) {
            self.add(file);
            Found::Module
        } else if matches!(folder_state, FsState::Dir(_)) {
            Found::Namespace(folder)
        } else {
            Found::Nothing
        }
    }

    /// Resolves `module` (dotted parts) from `base`, then each of `names` as a submodule of
    /// the package reached.
    fn resolve(&mut self, base: &str, module: &[String], names: &[String]) {
        let mut package = base.to_owned();
        for part in module {
            match self.find(&package, part) {
                Found::Package(dir) | Found::Namespace(dir) => package = dir,
                Found::Module | Found::Nothing => return,
            }
        }
        for name in names {
            let _ = self.find(&package, name);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parents_and_containment() {
        assert_eq!(parent("src/train.py"), "src");
        assert_eq!(parent("train.py"), ".");
        assert!(strictly_under("src/pkg", "src"));
        assert!(!strictly_under("src", "src"));
        assert!(!strictly_under("srcx/pkg", "src"));
        assert!(strictly_under("pkg", "."));
        assert!(!strictly_under("../pkg", "."));
    }
}
