//! `runner publish`, `runner published …` and `runner token …`: publishing a pipeline
//! (Azure ML's `publish_pipeline(name, description, version)`) and the bearer tokens that
//! will start published pipelines over REST (`runner serve`).
//!
//! A published pipeline is immutable: the pipeline text, a snapshot of the project's folder
//! stored in the project's CAS (`.amlignore`, else `.gitignore`, honoured; no `.git`, no
//! `.runner`), the parameters' defaults and the git commit are kept in history
//! (`history::Published`); later edits to the working tree never change it. A token is
//! printed once and stored as its sha256 only.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;
use driver::Project;
use history::{History, NewPublished};

use crate::{Format, PathArg};

/// Where `runner serve` listens unless told otherwise: endpoints are printed against it.
pub(crate) const DEFAULT_SERVER: &str = "http://127.0.0.1:8765";

/// `runner publish` arguments (`--version` is the pipeline's: `runner --version` gives the
/// runner's).
#[derive(clap::Args)]
#[command(disable_version_flag = true)]
pub(crate) struct PublishArgs {
    #[command(flatten)]
    path: PathArg,
    /// The published pipeline's name (Azure ML `name`).
    #[arg(long)]
    name: String,
    /// Its version (Azure ML `version`, e.g. `1.0`): a name and version are published once.
    #[arg(long)]
    version: String,
    /// What it does, for the people who will start it.
    #[arg(long)]
    description: Option<String>,
    /// Output format: `json` prints `{"id", "name", "version", "endpoint"}`.
    #[arg(long, value_enum, default_value_t = Format::Human)]
    format: Format,
}

/// `runner published` subcommands.
#[derive(clap::Subcommand)]
pub(crate) enum PublishedCommand {
    /// List published pipelines, newest first (the disabled ones with --all).
    List {
        /// Also the disabled ones.
        #[arg(long)]
        all: bool,
        /// pipeline.toml, or a folder holding one.
        #[arg(long, short = 'p', default_value = ".")]
        path: PathBuf,
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Human)]
        format: Format,
    },
    /// Show one published pipeline: its parameters, snapshot, commit and pipeline text.
    Show {
        /// Its id (see `runner published list`).
        id: String,
        /// pipeline.toml, or a folder holding one.
        #[arg(long, short = 'p', default_value = ".")]
        path: PathBuf,
    },
    /// Disable a published pipeline: it can no longer be started (Azure ML `disable()`).
    Disable {
        /// Its id.
        id: String,
        /// pipeline.toml, or a folder holding one.
        #[arg(long, short = 'p', default_value = ".")]
        path: PathBuf,
    },
    /// Enable a disabled published pipeline again (Azure ML `enable()`).
    Enable {
        /// Its id.
        id: String,
        /// pipeline.toml, or a folder holding one.
        #[arg(long, short = 'p', default_value = ".")]
        path: PathBuf,
    },
}

/// `runner token` subcommands.
#[derive(clap::Subcommand)]
pub(crate) enum TokenCommand {
    /// Make a bearer token: printed once, alone on stdout; only its hash is kept.
    Create {
        /// Its name (who or what uses it).
        #[arg(long)]
        name: String,
        /// pipeline.toml, or a folder holding one.
        #[arg(long, short = 'p', default_value = ".")]
        path: PathBuf,
        /// Output format: `json` prints `{"name", "token"}`.
        #[arg(long, value_enum, default_value_t = Format::Human)]
        format: Format,
    },
    /// List tokens by name (never their text, which is not kept).
    List {
        /// pipeline.toml, or a folder holding one.
        #[arg(long, short = 'p', default_value = ".")]
        path: PathBuf,
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Human)]
        format: Format,
    },
    /// Revoke a token: it is refused from then on.
    Revoke {
        /// Its name.
        name: String,
        /// pipeline.toml, or a folder holding one.
        #[arg(long, short = 'p', default_value = ".")]
        path: PathBuf,
    },
}

/// The project at `path` and its history database, created if missing (publishing is the
/// first thing some projects record).
fn project_history(path: &Path) -> anyhow::Result<(Project, History)> {
    let project = Project::load(path, Vec::new())?;
    let state = std::path::absolute(project.state_dir())?;
    driver::make_state_dir(&state)?;
    let db = state.join("history.sqlite");
    let history = History::open(&db).with_context(|| format!("opening {}", db.display()))?;
    Ok((project, history))
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// 16 random bytes from the OS, as a version-4 UUID (RFC 9562 §5.4).
fn uuid_v4() -> anyhow::Result<String> {
    let mut b = [0u8; 16];
    getrandom::fill(&mut b).map_err(|e| anyhow::anyhow!("no randomness from the OS: {e}"))?;
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    Ok(format!("{}-{}-{}-{}-{}", &h[..8], &h[8..12], &h[12..16], &h[16..20], &h[20..]))
}

/// `runner publish`: checks the pipeline (an error stops it, exit 1), stores a snapshot of
/// the project's folder in its CAS, and records the published pipeline.
pub(crate) fn publish(a: PublishArgs) -> anyhow::Result<ExitCode> {
    let (mut project, history) = project_history(a.path.get())?;
    project.refresh_fs()?;
    let errors: Vec<_> =
        project.problems().into_iter().filter(|d| d.severity() == hir::Severity::Error).collect();
    if !errors.is_empty() {
        eprintln!(
            "runner: {} has {} error(s); `runner check` shows them: nothing was published",
            project.display,
            errors.len()
        );
        return Ok(ExitCode::from(1));
    }
    let cache = engine::open_cache(&project)?;
    let root = std::path::absolute(&project.root)?;
    let manifest = cache
        .ingest_tree_with(&root, cache::IgnoreRules::Snapshot)
        .with_context(|| format!("storing a snapshot of {}", root.display()))?;
    let snapshot = cache.put_manifest(&manifest).context("storing the snapshot's manifest")?;
    let params = hir::param_values(&project.db, project.file)
        .values
        .iter()
        .map(|(k, v)| (k.clone(), v.canonical()))
        .collect();
    let id = uuid_v4()?;
    history.publish(&NewPublished {
        id: id.clone(),
        name: a.name.clone(),
        version: a.version.clone(),
        description: a.description.clone(),
        pipeline: project.text().to_owned(),
        snapshot: snapshot.to_hex(),
        params,
        git_commit: engine::git_state(&root).map(|g| g.commit),
        created_ms: now_ms(),
    })?;
    let endpoint = format!("{DEFAULT_SERVER}/pipelines/{id}");
    if a.format == Format::Json {
        let doc = serde_json::json!({
            "id": id, "name": a.name, "version": a.version, "endpoint": endpoint,
        });
        outln!("{doc}");
    } else {
        outln!("published {} version {}: {id}", a.name, a.version);
        outln!("endpoint: {endpoint}");
        eprintln!("runner: start it with `runner serve`, then POST to the endpoint with a token");
    }
    Ok(ExitCode::SUCCESS)
}

/// `runner published …`.
pub(crate) fn published(cmd: PublishedCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        PublishedCommand::List { all, path, format } => {
            let (_, history) = project_history(&path)?;
            let list = history.published(all)?;
            if format == Format::Json {
                outln!("{}", serde_json::to_string(&list)?);
                return Ok(ExitCode::SUCCESS);
            }
            if list.is_empty() {
                eprintln!("runner: nothing published{}", if all { "" } else { " and enabled" });
            }
            for p in &list {
                let state = if p.enabled { "" } else { "  (disabled)" };
                outln!("{}  {} {}{state}", p.id, p.name, p.version);
            }
            Ok(ExitCode::SUCCESS)
        }
        PublishedCommand::Show { id, path } => {
            let (_, history) = project_history(&path)?;
            let p = history.published_one(&id)?.with_context(|| no_such(&id))?;
            outln!("{} {} ({})", p.name, p.version, if p.enabled { "enabled" } else { "disabled" });
            outln!("  id: {}", p.id);
            if let Some(d) = &p.description {
                outln!("  description: {d}");
            }
            outln!("  endpoint: {DEFAULT_SERVER}/pipelines/{}", p.id);
            outln!("  snapshot: {}", p.snapshot);
            if let Some(c) = &p.git_commit {
                outln!("  git commit: {c}");
            }
            for (k, v) in &p.params {
                outln!("  param {k} = {v}");
            }
            Ok(ExitCode::SUCCESS)
        }
        PublishedCommand::Disable { id, path } => set_enabled(&path, &id, false),
        PublishedCommand::Enable { id, path } => set_enabled(&path, &id, true),
    }
}

fn no_such(id: &str) -> String {
    format!("no published pipeline {id} (see `runner published list --all`)")
}

fn set_enabled(path: &Path, id: &str, enabled: bool) -> anyhow::Result<ExitCode> {
    let (_, history) = project_history(path)?;
    if !history.set_published_enabled(id, enabled)? {
        anyhow::bail!(no_such(id));
    }
    eprintln!("runner: {id} {}", if enabled { "enabled" } else { "disabled" });
    Ok(ExitCode::SUCCESS)
}

/// `runner token …`.
pub(crate) fn token(cmd: TokenCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        TokenCommand::Create { name, path, format } => {
            let (_, history) = project_history(&path)?;
            let mut bytes = [0u8; 32];
            getrandom::fill(&mut bytes)
                .map_err(|e| anyhow::anyhow!("no randomness from the OS: {e}"))?;
            let token: String =
                format!("rt_{}", bytes.iter().map(|b| format!("{b:02x}")).collect::<String>());
            history.create_token(&name, &token_hash(&token), now_ms())?;
            if format == Format::Json {
                outln!("{}", serde_json::json!({"name": name, "token": token}));
            } else {
                outln!("{token}");
                eprintln!(
                    "runner: token {name} created; it is shown this once (only its hash is kept)"
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        TokenCommand::List { path, format } => {
            let (_, history) = project_history(&path)?;
            let tokens = history.tokens()?;
            if format == Format::Json {
                outln!("{}", serde_json::to_string(&tokens)?);
                return Ok(ExitCode::SUCCESS);
            }
            for t in &tokens {
                let state = if t.revoked_ms.is_some() { "  (revoked)" } else { "" };
                outln!("{}{state}", t.name);
            }
            Ok(ExitCode::SUCCESS)
        }
        TokenCommand::Revoke { name, path } => {
            let (_, history) = project_history(&path)?;
            if !history.revoke_token(&name, now_ms())? {
                anyhow::bail!("no live token named {name} (see `runner token list`)");
            }
            eprintln!("runner: token {name} revoked");
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// What is stored of a token: the sha256 of its text, hex.
pub(crate) fn token_hash(token: &str) -> String {
    base::Digest::of_bytes(token.as_bytes()).to_hex()
}
