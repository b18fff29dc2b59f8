//! `runner`: Azure ML pipelines on a laptop and in CI, built like a build system.
//!
//! The binary is the only crate that prints. Exit codes: 0 ok; 1 a step failed or the
//! pipeline has errors; 2 usage or infrastructure error (unreadable file, bad `--param`,
//! broken state folder); 128 + the signal's number when stopped by SIGINT (130), SIGTERM
//! (143) or SIGHUP (129).

#![allow(clippy::print_stdout, clippy::print_stderr)] // the binary is where output goes

/// Writes to stdout; a closed pipe (`runner schema | head`) ends the process quietly with
/// success, as Unix tools do, instead of panicking as `print!` would.
macro_rules! out {
    ($($arg:tt)*) => {{
        let text = format!($($arg)*);
        crate::write_stdout(text.as_bytes());
    }};
}

/// [`out!`] with a newline.
macro_rules! outln {
    ($($arg:tt)*) => {{
        let mut text = format!($($arg)*);
        text.push('\n');
        crate::write_stdout(text.as_bytes());
    }};
}

mod build;
mod github;
mod graph_cmd;
mod history_cmd;
mod lines;
mod progress;
mod publish;
mod render;
mod schema_json;
mod serve;
mod signals;
mod upload;
mod watch;

use std::io::IsTerminal as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

use driver::Project;

/// Build Azure ML-style pipelines (pipeline.toml) locally, reusing every step whose inputs
/// did not change.
///
/// A step's key is a sha256 over its script, hash_paths, input contents, parameters,
/// arguments and environment; a step whose key has a verified recorded result is reused,
/// and every step that runs says why. State lives in `.runner/` beside pipeline.toml.
#[derive(Parser)]
#[command(
    name = "runner",
    version,
    propagate_version = true,
    after_help = "Examples:\n  runner check examples/digits\n  runner build examples/digits\n  runner build examples/digits --param C=0.5\n  runner status examples/digits\n  runner runs examples/digits"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// Output format for diagnostics.
#[derive(Clone, Copy, ValueEnum, PartialEq, Eq)]
enum CheckFormat {
    /// rustc-style text with the source line.
    Human,
    /// One JSON document (see docs/cli.md).
    Json,
    /// GitHub Actions workflow commands, for annotations on pull requests.
    Github,
}

/// Output format for commands that report.
#[derive(Clone, Copy, ValueEnum, PartialEq, Eq)]
enum Format {
    /// Text for people.
    Human,
    /// JSON for machines.
    Json,
}

/// The pipeline a command reads: positional, or `-p PATH` as `show`, `logs` and `upload`
/// take it, so that `-p` works with every command.
#[derive(clap::Args)]
pub(crate) struct PathArg {
    /// pipeline.toml, or a folder holding one.
    #[arg(default_value = ".")]
    path: PathBuf,
    /// The same, as an option (as `show`, `logs` and `upload` take it).
    #[arg(short = 'p', long = "path", value_name = "PATH", conflicts_with = "path")]
    path_opt: Option<PathBuf>,
}

impl PathArg {
    /// The path given, either way.
    pub(crate) fn get(&self) -> &Path {
        self.path_opt.as_deref().unwrap_or(&self.path)
    }
}

#[derive(Subcommand)]
enum Command {
    /// Check a pipeline and print its diagnostics (exit 1 on errors).
    Check {
        #[command(flatten)]
        path: PathArg,
        /// How to print diagnostics.
        #[arg(long, value_enum, default_value_t = CheckFormat::Human)]
        format: CheckFormat,
    },
    /// Run the steps whose key changed; reuse the rest.
    ///
    /// ARGS is an optional pipeline path (file or folder, default `.`) followed by step
    /// names: with steps, only they and what they need are built.
    Build(build::BuildArgs),
    /// Build, then rebuild what each file change invalidates, until Ctrl-C.
    Watch(watch::WatchArgs),
    /// Show what a build would do now, and why (same as `build --dry-run`).
    Status {
        #[command(flatten)]
        path: PathArg,
        /// Override a parameter for this plan: NAME=VALUE (repeatable).
        #[arg(long = "param", value_name = "NAME=VALUE")]
        params: Vec<String>,
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Human)]
        format: Format,
    },
    /// Print the step graph.
    Graph {
        #[command(flatten)]
        path: PathArg,
        /// dot (Graphviz) or mermaid.
        #[arg(long, value_enum, default_value_t = graph_cmd::GraphFormat::Dot)]
        format: graph_cmd::GraphFormat,
        /// Also draw the data references steps read, and label each edge with the output
        /// it carries and the input it feeds (`split → data`).
        #[arg(long)]
        data: bool,
    },
    /// Print the JSON Schema (draft-07) of pipeline.toml.
    Schema,
    /// List recorded runs, newest first.
    Runs(history_cmd::RunsArgs),
    /// Show one run: its steps, why each ran or where it was reused from, metrics.
    Show(history_cmd::ShowArgs),
    /// Print a step's log from a run.
    Logs(history_cmd::LogsArgs),
    /// Copy files into a local datastore (Azure ML `Datastore.upload_files`).
    Upload(upload::UploadArgs),
    /// Publish the pipeline: an immutable snapshot with a name, a version and an endpoint
    /// (Azure ML `publish_pipeline`).
    Publish(publish::PublishArgs),
    /// List, show, disable or enable published pipelines.
    #[command(subcommand)]
    Published(publish::PublishedCommand),
    /// Create, list or revoke the bearer tokens that start published pipelines.
    #[command(subcommand)]
    Token(publish::TokenCommand),
    /// Serve published pipelines over REST (Azure ML's endpoints) and the web dashboard.
    ///
    /// `POST /pipelines/ID` with `Authorization: Bearer TOKEN` and `{"ExperimentName": …,
    /// "ParameterAssignments": {…}}` starts a run; `GET /runs/RUN_ID` follows it; the
    /// dashboard is at `/`. See docs/server.md.
    Serve(serve::ServeArgs),
    /// Print a shell completion script: `runner completions bash > ~/.local/share/bash-completion/completions/runner`,
    /// `runner completions zsh > "${fpath[1]}/_runner"`, `runner completions fish >
    /// ~/.config/fish/completions/runner.fish`, `runner completions powershell >> $PROFILE`.
    Completions {
        /// The shell.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Run the language server on stdin/stdout (editors start it; see editors/vscode).
    Lsp {
        /// Accepted and ignored: stdio is the only transport (editors pass it).
        #[arg(long)]
        stdio: bool,
    },
}

/// mimalloc instead of glibc's malloc: checking and planning a large pipeline allocates and
/// frees millions of small objects, where glibc spent a quarter of the time (measured with
/// `perf` on a 10,000-step `runner build --dry-run`: 625 → 433 ms). Without transparent huge
/// pages (`no_thp`): zeroing 2 MiB pages at start cost a no-op build 1 ms.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    if let Some(code) = engine::supervise_if_asked() {
        return ExitCode::from(code);
    }
    if let Some(connected) = engine::ssh_connect_if_asked() {
        return match connected {
            Ok(()) => ExitCode::SUCCESS,
            Err(line) => {
                eprintln!("{line}");
                ExitCode::from(255)
            }
        };
    }
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(err) => {
            if err.chain().any(|e| {
                e.downcast_ref::<std::io::Error>()
                    .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
            }) {
                return ExitCode::SUCCESS;
            }
            eprintln!("runner: {}", error_text(&err));
            ExitCode::from(2)
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Check { path, format } => check(path.get(), format),
        Command::Build(args) => build::build(args),
        Command::Watch(args) => watch::watch(args),
        Command::Status { path, params, format } => {
            build::status(path.get(), &params, format == Format::Json)
        }
        Command::Graph { path, format, data } => graph_cmd::graph(path.get(), format, data),
        Command::Schema => {
            outln!("{}", serde_json::to_string_pretty(&schema_json::json_schema())?);
            Ok(ExitCode::SUCCESS)
        }
        Command::Runs(a) => history_cmd::runs(a),
        Command::Show(a) => history_cmd::show(a),
        Command::Logs(a) => history_cmd::logs(a),
        Command::Upload(a) => upload::upload(a),
        Command::Publish(a) => publish::publish(a),
        Command::Published(c) => publish::published(c),
        Command::Token(c) => publish::token(c),
        Command::Serve(a) => serve::serve(a),
        Command::Completions { shell } => {
            let mut script = Vec::new();
            clap_complete::generate(
                shell,
                &mut <Cli as clap::CommandFactory>::command(),
                "runner",
                &mut script,
            );
            write_stdout(&script);
            Ok(ExitCode::SUCCESS)
        }
        Command::Lsp { stdio: _ } => {
            lsp::run_stdio()?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// `err` and its causes on one line, each cause once (see `engine::error_text`).
pub(crate) fn error_text(err: &anyhow::Error) -> String {
    engine::error_text(err)
}

/// Writes `bytes` to stdout; exits 0 when the reader has gone (broken pipe), 2 on any other
/// write error.
pub(crate) fn write_stdout(bytes: &[u8]) {
    use std::io::Write as _;
    let mut out = std::io::stdout().lock();
    if let Err(e) = out.write_all(bytes).and_then(|()| out.flush()) {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            std::process::exit(0);
        }
        eprintln!("runner: writing to stdout: {e}");
        std::process::exit(2);
    }
}

/// Whether stderr is a terminal that wants colour.
pub(crate) fn color() -> bool {
    std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none()
}

/// Prints diagnostics to stderr in human form; returns (errors, warnings).
pub(crate) fn report(project: &Project, diags: &[hir::Diagnostic]) -> (usize, usize) {
    if !diags.is_empty() {
        eprint!("{}", render::human(&project.display, project.text(), diags, color()));
    }
    let (errors, warnings, _) = render::count(diags);
    (errors, warnings)
}

fn check(path: &Path, format: CheckFormat) -> anyhow::Result<ExitCode> {
    let mut project = Project::load(path, Vec::new())?;
    project.refresh_fs_cached()?;
    let diags = project.diagnostics();
    let (errors, _, notes) = render::count(&diags);
    match format {
        CheckFormat::Human => {
            let (e, w) = report(&project, &diags);
            let steps = hir::step_graph(&project.db, project.file).order.len();
            let plural = |n: usize| if n == 1 { "" } else { "s" };
            let notes = match notes {
                0 => String::new(),
                n => format!(", {n} note{}", plural(n)),
            };
            eprintln!(
                "{}: {steps} step{}, {e} error{}, {w} warning{}{notes}",
                project.display,
                plural(steps),
                plural(e),
                plural(w),
            );
        }
        CheckFormat::Json => outln!("{}", render::json(&project.display, project.text(), &diags)),
        CheckFormat::Github => {
            out!("{}", render::github(&project.display, project.text(), &diags))
        }
    }
    // The process ends here: freeing a large database item by item costs more than the
    // check of a 100,000-step file, and the OS reclaims it at once (rustc does the same).
    std::mem::forget(project);
    Ok(if errors > 0 { ExitCode::from(1) } else { ExitCode::SUCCESS })
}

/// The most steps `-j` lets run at once.
const MAX_JOBS: usize = 4096;

/// Parses `-j N`: a whole number from 1 to [`MAX_JOBS`].
fn parse_jobs(text: &str) -> Result<usize, String> {
    match text.parse::<usize>() {
        Ok(n) if (1..=MAX_JOBS).contains(&n) => Ok(n),
        _ => Err(format!("must be a whole number from 1 to {MAX_JOBS}")),
    }
}

/// Parses `NAME=VALUE` pairs.
pub(crate) fn parse_params(raw: &[String]) -> anyhow::Result<Vec<(String, String)>> {
    raw.iter()
        .map(|p| match p.split_once('=') {
            Some((k, v)) if !k.is_empty() => Ok((k.trim().to_owned(), v.to_owned())),
            _ => anyhow::bail!("--param {p}: expected NAME=VALUE"),
        })
        .collect()
}
