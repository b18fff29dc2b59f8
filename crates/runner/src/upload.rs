//! `runner upload`: copying files into a local datastore (Azure ML's
//! `Datastore.upload_files`).
//!
//! The datastore's folder is where the pipeline declares it (inside the project or not; a
//! pipeline with errors declares nothing, and nothing is uploaded);
//! everything the upload writes or replaces lies inside that folder. `--target` and each
//! file's name are resolved under it by `cache::resolve_beneath` (no `..`, no absolute
//! path, no symlink on the way that leads out) before anything is written, and a folder
//! already there is replaced only once its new copy is complete: the copy is made beside
//! it, then the two are swapped by renames.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;
use driver::Project;

/// `runner upload` arguments.
#[derive(clap::Args)]
pub(crate) struct UploadArgs {
    /// Files to copy.
    #[arg(required = true)]
    files: Vec<PathBuf>,
    /// The datastore (`workspace` unless declared otherwise).
    #[arg(long, default_value = "workspace")]
    datastore: String,
    /// Folder inside the datastore to copy them into.
    #[arg(long, default_value = ".")]
    target: String,
    /// pipeline.toml, or a folder holding one.
    #[arg(long, short = 'p', default_value = ".")]
    path: PathBuf,
}

/// `runner upload`.
pub(crate) fn upload(a: UploadArgs) -> anyhow::Result<ExitCode> {
    let project = Project::load(&a.path, Vec::new())?;
    // The datastores come from the pipeline: a file with errors (or not a pipeline at all)
    // does not say where one is.
    let diags = project.diagnostics();
    if diags.iter().any(|d| d.severity() == hir::Severity::Error) {
        let (errors, _) = crate::report(&project, &diags);
        eprintln!("{}: {errors} error{}: fix them to upload", project.display, plural(errors));
        return Ok(ExitCode::from(1));
    }
    let ix = hir::index(&project.db, project.file);
    let store = ix.datastores.get(&a.datastore).with_context(|| {
        format!(
            "no datastore `{}` (known: {})",
            a.datastore,
            ix.datastores.keys().cloned().collect::<Vec<_>>().join(", ")
        )
    })?;
    let root = std::path::absolute(project.abs(store))?;
    let target = Path::new(&a.target);
    let inside = |rel: &Path| {
        cache::resolve_beneath(&root, rel)
            .with_context(|| format!("datastore `{}`: --target {}", a.datastore, a.target))
    };
    let dest_dir = inside(target)?;
    // Every destination is checked before anything is written.
    let mut copies = Vec::new();
    for f in &a.files {
        let name = f.file_name().with_context(|| format!("{} has no file name", f.display()))?;
        copies.push((f, name, inside(&target.join(name))?));
    }
    std::fs::create_dir_all(&dest_dir)
        .with_context(|| format!("creating {}", dest_dir.display()))?;
    for (f, name, dest) in copies {
        if f.is_dir() {
            replace_tree(f, &dest)?;
        } else {
            let bytes = std::fs::read(f).with_context(|| format!("reading {}", f.display()))?;
            cache::write_atomic(&dest, &bytes)
                .with_context(|| format!("writing {}", dest.display()))?;
        }
        eprintln!(
            "uploaded {} → {}:{}",
            f.display(),
            a.datastore,
            hir::paths::join(&a.target, &name.to_string_lossy())
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

/// Makes `dest` a copy of the folder `from`: the copy is made beside `dest` first, then
/// swapped in, and what was at `dest` removed last, so a failed copy leaves `dest` as it
/// was (and `from` is read before anything is removed, even when it lies inside `dest`).
fn replace_tree(from: &Path, dest: &Path) -> anyhow::Result<()> {
    let sibling = |what: &str| {
        let mut name = OsString::from(".");
        name.push(dest.file_name().unwrap_or_default());
        name.push(format!(".{what}.{}", std::process::id()));
        dest.with_file_name(name)
    };
    let (fresh, old) = (sibling("upload"), sibling("replaced"));
    cache::copy_tree(from, &fresh, cache::IgnoreRules::None)
        .with_context(|| format!("copying {}", from.display()))?;
    let moved_aside = match std::fs::rename(dest, &old) {
        Ok(()) => true,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => false,
        Err(e) => {
            let _ = std::fs::remove_dir_all(&fresh);
            return Err(e).with_context(|| format!("replacing {}", dest.display()));
        }
    };
    std::fs::rename(&fresh, dest).with_context(|| format!("writing {}", dest.display()))?;
    if moved_aside {
        // A symlink or file moved aside is removed itself; a folder with what it holds.
        let _ = std::fs::remove_dir_all(&old).or_else(|_| std::fs::remove_file(&old));
    }
    Ok(())
}
