//! Loading a pipeline: find the file, read it, fill the database, hash the paths it names.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use hir::{Diagnostic, FsState, RootDatabase, SourceFile};

/// A loaded pipeline: its database and where things are.
pub struct Project {
    /// The folder holding the pipeline file; relative paths in the file start here.
    pub root: PathBuf,
    /// The pipeline file as the user named it (for messages).
    pub display: String,
    /// The checker's database.
    pub db: RootDatabase,
    /// The pipeline file's input in `db`.
    pub file: SourceFile,
    /// Byte offset of the first invalid UTF-8 sequence, if any.
    encoding_error: Option<usize>,
}

/// The pipeline file for `path`: the file itself, or `pipeline.toml` (else the only
/// `*.pipeline.toml`) in a folder.
pub fn locate(path: &Path) -> anyhow::Result<PathBuf> {
    if path.is_dir() {
        let candidate = path.join("pipeline.toml");
        if candidate.is_file() {
            return Ok(candidate);
        }
        let mut found: Vec<PathBuf> = std::fs::read_dir(path)
            .with_context(|| format!("reading {}", path.display()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.ends_with(".pipeline.toml"))
            })
            .collect();
        found.sort();
        return match found.len() {
            1 => Ok(found.remove(0)),
            0 => anyhow::bail!("no pipeline.toml in {}", path.display()),
            _ => anyhow::bail!("several *.pipeline.toml in {}: name one", path.display()),
        };
    }
    if path.exists() {
        return Ok(path.to_path_buf());
    }
    anyhow::bail!("{} does not exist", path.display())
}

impl Project {
    /// Reads the pipeline at `path` (file or folder) with `--param` overrides.
    pub fn load(path: &Path, overrides: Vec<(String, String)>) -> anyhow::Result<Project> {
        let file_path = locate(path)?;
        let bytes = std::fs::read(&file_path)
            .with_context(|| format!("reading {}", file_path.display()))?;
        let (text, encoding_error) = match String::from_utf8(bytes) {
            Ok(t) => (t, None),
            Err(e) => {
                let at = e.utf8_error().valid_up_to();
                (String::from_utf8_lossy(e.as_bytes()).into_owned(), Some(at))
            }
        };
        let root = file_path.parent().map(Path::to_path_buf).unwrap_or_default();
        let root = if root.as_os_str().is_empty() { PathBuf::from(".") } else { root };
        let display = file_path.display().to_string();
        let db = RootDatabase::default();
        let file = SourceFile::new(&db, display.clone(), text, overrides);
        Ok(Project { root, display, db, file, encoding_error })
    }

    /// Looks at every path the pipeline names and sets what is there on the database.
    pub fn refresh_fs(&mut self) -> anyhow::Result<()> {
        let needs = hir::needed_paths(&self.db, self.file).clone();
        for need in needs {
            let state = probe(&self.abs(&need.path), need.digest)?;
            self.db.set_fs_state(&need.path, state);
        }
        Ok(())
    }

    /// `rel` (normalised, relative to the pipeline's folder) as a real path.
    pub fn abs(&self, rel: &str) -> PathBuf {
        if rel == "." { self.root.clone() } else { self.root.join(rel) }
    }

    /// The file's text.
    pub fn text(&self) -> &str {
        self.file.text(&self.db)
    }

    /// Every diagnostic, including a bad encoding.
    pub fn diagnostics(&self) -> Vec<Diagnostic> {
        let mut out = Vec::new();
        if let Some(at) = self.encoding_error {
            let at = u32::try_from(at).unwrap_or(u32::MAX);
            out.push(
                Diagnostic::new(
                    hir::Code::InvalidEncoding,
                    syntax::Span::new(at, at.saturating_add(1)),
                    "the file is not valid UTF-8",
                )
                .with_help("TOML files are UTF-8; invalid bytes were read as U+FFFD"),
            );
        }
        out.extend(hir::file_diagnostics(&self.db, self.file).iter().cloned());
        out
    }

    /// The state folder `.runner/` beside the pipeline.
    pub fn state_dir(&self) -> PathBuf {
        self.root.join(".runner")
    }

    /// The pipeline's name: `[pipeline] name`, else the folder's name.
    pub fn name(&self) -> String {
        hir::index(&self.db, self.file).meta.name.clone().unwrap_or_else(|| {
            std::fs::canonicalize(&self.root)
                .ok()
                .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
                .unwrap_or_else(|| "pipeline".to_owned())
        })
    }
}

/// What is at `path`: file digest, folder (tree digest when `digest`), or missing.
pub fn probe(path: &Path, digest: bool) -> anyhow::Result<FsState> {
    let meta = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(FsState::Missing),
        Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
    };
    if meta.is_dir() {
        if !digest {
            return Ok(FsState::Dir(None));
        }
        let manifest = cache::hash_tree(path, cache::IgnoreRules::Snapshot)
            .with_context(|| format!("hashing {}", path.display()))?;
        return Ok(FsState::Dir(Some(hir::Digest(manifest.digest().0))));
    }
    let d = cache::hash_file(path).with_context(|| format!("hashing {}", path.display()))?;
    Ok(FsState::File(hir::Digest(d.0)))
}
