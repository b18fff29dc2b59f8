//! `runner build`, `runner build --dry-run` and `runner status`: arguments in, the engine's
//! events and summary rendered out (`lines`, or the JSON document). The build itself is
//! `engine::run_build`.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use cache::StatCache;
use driver::Project;
use engine::{BuildOptions, BuildSummary, memo};
use exec::CancelToken;
use history::{RunStatus, StepStatus};
use plan::Policy;

use crate::lines::{Level, Lines, line};

/// Prints one line to stderr with a single write (see `progress::line`).
macro_rules! say {
    ($($arg:tt)*) => {{
        crate::progress::line(format!($($arg)*));
    }};
}

/// `runner build` arguments.
#[derive(clap::Args)]
pub(crate) struct BuildArgs {
    /// `[PATH] [STEP]...`: a pipeline file or folder (default `.`), then steps to build (with
    /// what they need). The first argument is a path when it exists on disk.
    args: Vec<String>,
    /// The pipeline file or folder, as an option (every command takes `-p`): then every
    /// argument is a step.
    #[arg(short = 'p', long = "path", value_name = "PATH")]
    path: Option<PathBuf>,
    /// Override a parameter for this run: NAME=VALUE (repeatable). The value is one
    /// argument to the step, never a shell word.
    #[arg(long = "param", value_name = "NAME=VALUE")]
    params: Vec<String>,
    /// Run every step, reusing nothing (Azure's regenerate_outputs).
    #[arg(long)]
    regenerate: bool,
    /// Print the plan (what would run and why) and stop.
    #[arg(long)]
    dry_run: bool,
    /// Record the run under this experiment (default: `[pipeline] experiment`, else its name).
    #[arg(long)]
    experiment: Option<String>,
    /// Steps running at once, at most: 1 to 4096 (default: the number of CPUs).
    #[arg(short = 'j', long, value_parser = crate::parse_jobs)]
    jobs: Option<usize>,
    /// Run every step that must run on this compute target (`[compute.NAME]`), whatever
    /// its `compute` says: to try a pipeline on a cluster, or in CI. Results are reused
    /// wherever they were computed (the target is not in the step key).
    #[arg(long, value_name = "NAME")]
    compute: Option<String>,
    /// Trace the files each step that runs here opens (with strace) and warn of every file
    /// under the project it read that is not part of its key (`trace_reads = true` does it
    /// for a step, or in `[pipeline]` for all). Costs a stop per file opened.
    #[arg(long)]
    trace_reads: bool,
    /// As --trace-reads, and such a read fails the step; its result is not cached
    /// (`[pipeline] strict_reads = true`).
    #[arg(long)]
    strict_reads: bool,
    /// Output: `human` lines on stderr; `json`, one JSON document on stdout at the end;
    /// `github`, the human lines plus GitHub Actions annotations on stdout (diagnostics, a
    /// failed step at its header with its log's tail, why a step ran) and a table of the
    /// steps appended to `$GITHUB_STEP_SUMMARY` when it is set.
    #[arg(long, value_enum, default_value_t = BuildFormat::Human)]
    format: BuildFormat,
}

/// `runner build --format`.
#[derive(Clone, Copy, clap::ValueEnum, PartialEq, Eq)]
pub(crate) enum BuildFormat {
    /// Lines for people, on stderr.
    Human,
    /// One JSON document on stdout (see docs/cli.md).
    Json,
    /// The human lines, and GitHub Actions workflow commands on stdout.
    Github,
}

/// Loads, checks and prepares a project, hashing through the stat cache; prints
/// diagnostics (also as GitHub workflow commands on stdout with `github`). `Err(code)` to
/// stop.
fn prepare(
    path: &Path,
    raw_params: &[String],
    github: bool,
) -> anyhow::Result<Result<(Project, StatCache), ExitCode>> {
    let params = crate::parse_params(raw_params)?;
    let mut project = Project::load(path, params)?;
    let mut stats = project.load_stat_cache();
    project.refresh_fs_with(&mut stats)?;
    if github {
        out!("{}", crate::render::github(&project.display, project.text(), &project.problems()));
    }
    let ready = ready_to_build(&project);
    if ready.is_err() {
        stats.settle(Duration::ZERO);
        let _ = project.save_stat_cache(&mut stats);
    }
    Ok(ready.map(|()| (project, stats)))
}

/// Prints the diagnostics; `Err(1)` when the pipeline has errors, `Err(2)` for bad
/// `--param` values.
pub(crate) fn ready_to_build(project: &Project) -> Result<(), ExitCode> {
    let diags = project.problems();
    let (errors, _) = crate::report(project, &diags);
    if errors > 0 {
        say!(
            "{}: {errors} error{}: fix them to build",
            project.display,
            if errors == 1 { "" } else { "s" }
        );
        return Err(ExitCode::from(1));
    }
    let param_errors = &hir::param_values(&project.db, project.file).errors;
    if !param_errors.is_empty() {
        for e in param_errors {
            say!("runner: {e}");
        }
        return Err(ExitCode::from(2));
    }
    Ok(())
}

/// The pipeline path and the step names of `runner build ARGS`: the first argument is the
/// path when it exists or cannot be a step name (`/tmp/amlprt`, `x.toml`: a step name is
/// letters, digits, `_` and `-`, by `E0111`), so a mistyped path is reported as a missing
/// path, not as an unknown step.
fn split_args(args: &[String]) -> (PathBuf, Vec<String>) {
    let is_path = |a: &str| Path::new(a).exists() || !hir::diagnostics::invalid_name::is_valid(a);
    match args.split_first() {
        Some((first, rest)) if is_path(first) => (PathBuf::from(first), rest.to_vec()),
        _ => (PathBuf::from("."), args.to_vec()),
    }
}

/// The exit code of a build: 0 succeeded, 128 + the signal's number interrupted (130 for
/// Ctrl-C), 1 otherwise.
pub(crate) fn exit_code(summary: &BuildSummary) -> ExitCode {
    match summary.status {
        RunStatus::Succeeded => ExitCode::SUCCESS,
        RunStatus::Interrupted => crate::signals::exit_code(),
        _ => ExitCode::from(1),
    }
}

/// `runner build`.
pub(crate) fn build(args: BuildArgs) -> anyhow::Result<ExitCode> {
    let (path, wanted) = match &args.path {
        Some(p) => (p.clone(), args.args.clone()),
        None => split_args(&args.args),
    };
    if args.dry_run {
        return plan_only(
            &path,
            &args.params,
            &wanted,
            args.format == BuildFormat::Json,
            Policy { regenerate: args.regenerate },
        );
    }
    let json = args.format == BuildFormat::Json;
    let github = args.format == BuildFormat::Github;
    let overrides = crate::parse_params(&args.params)?;
    let asked = memo::Asked {
        overrides: &overrides,
        wanted: &wanted,
        experiment: args.experiment.as_deref(),
    };
    // The memo knows no compute target names: a build that names one plans normally, so
    // a misspelt name is an error, not a no-op (it still reuses every result it can).
    if !args.regenerate
        && args.compute.is_none()
        && let Some((summary, hashed)) = memo::try_noop(&path, &asked)?
    {
        if !json {
            print_reused(&summary);
        }
        print_summary(&summary, json, hashed);
        if github {
            let state = driver::folder_of(&driver::locate(&path)?).join(".runner");
            crate::github::write_step_summary(&summary, &state)
                .context("writing $GITHUB_STEP_SUMMARY")?;
        }
        return Ok(exit_code(&summary));
    }
    // Before the project is loaded: files settled by then have not changed since they were
    // probed (the memo stamps them).
    let began_ns = cache::now_ns();
    let (project, stats) = match prepare(&path, &args.params, github)? {
        Ok(p) => p,
        Err(code) => return Ok(code),
    };
    // Bytes read to bring the keys up to date (what the stat cache could not vouch for).
    let hashed = stats.hashed_bytes();
    // Files hashed in their racy window are hashed again once it passes, while the steps
    // run, so the next build can trust their stat (nothing below reads the stat cache).
    let settling = std::thread::spawn(move || {
        let mut stats = stats;
        stats.settle(engine::SETTLE_WAIT);
        stats
    });
    let rt = engine::runtime()?;
    let cancel = CancelToken::new();
    {
        let _entered = rt.enter();
        let cancel = cancel.clone();
        crate::signals::on_stop(move |name| {
            say!("runner: {name}: stopping running steps");
            cancel.cancel();
        })
        .context("installing signal handlers")?;
    }
    let opts = BuildOptions {
        wanted: wanted.clone(),
        regenerate: args.regenerate,
        experiment: args.experiment.clone(),
        jobs: args.jobs,
        supervise: true,
        targets: engine::Targets::default(),
        compute: args.compute.clone(),
        trace_reads: args.trace_reads,
        strict_reads: args.strict_reads,
    };
    let sink = Arc::new(Lines(if json { Level::Quiet } else { Level::Full }));
    let summary = engine::open_cache(&project)
        .and_then(|c| engine::run_build(&project, &c, None, &opts, &rt, &cancel, sink));
    crate::progress::stop();
    if let Ok(mut stats) = settling.join() {
        let _ = project.save_stat_cache(&mut stats);
    }
    let summary = summary?;
    memo::write_memo(&project, &summary, &asked, began_ns);
    print_summary(&summary, json, hashed);
    if github {
        out!("{}", crate::github::annotations(&summary, Some(&project)));
        crate::github::write_step_summary(&summary, &project.state_dir())
            .context("writing $GITHUB_STEP_SUMMARY")?;
    }
    project.forget(); // the process exits next; freeing the database would only cost time
    Ok(exit_code(&summary))
}

/// Prints the end of a build: the JSON document, or the summary line.
fn print_summary(summary: &BuildSummary, json: bool, hashed: u64) {
    if json {
        outln!("{}", summary.json(hashed));
    } else {
        say!(
            "run {} {}: {} ran, {} reused, {} failed, {} skipped in {:.2}s",
            summary.run_id,
            summary.status.as_str(),
            summary.count(StepStatus::Ran),
            summary.count(StepStatus::Reused),
            summary.count(StepStatus::Failed),
            summary.count(StepStatus::Skipped),
            summary.seconds,
        );
    }
}

/// Prints what `runner build` prints for a build the memo vouched for (every step reused):
/// the header and one line per step, in one write.
fn print_reused(summary: &BuildSummary) {
    let n = summary.outcomes.len();
    let mut text = format!(
        "build {}: run {} in experiment {}, {n} step{}",
        summary.pipeline,
        summary.run_id,
        summary.experiment,
        if n == 1 { "" } else { "s" }
    );
    text.reserve(n * 40);
    for o in &summary.outcomes {
        // Written in place: a no-op of a large pipeline prints thousands of these.
        let _ = match o.reused_from.filter(|r| *r > 0) {
            Some(run) => write!(text, "\n{:>9} {}  (from run {run})", "reused", o.step),
            None => write!(text, "\n{:>9} {}  (from the shared cache)", "reused", o.step),
        };
    }
    line(text);
}

/// `runner status`.
pub(crate) fn status(path: &Path, params: &[String], json: bool) -> anyhow::Result<ExitCode> {
    plan_only(path, params, &[], json, Policy::default())
}

/// Prints what a build would do, without running anything.
fn plan_only(
    path: &Path,
    params: &[String],
    wanted: &[String],
    json: bool,
    policy: Policy,
) -> anyhow::Result<ExitCode> {
    if !policy.regenerate {
        let overrides = crate::parse_params(params)?;
        let asked = memo::Asked { overrides: &overrides, wanted, experiment: None };
        if let Some(plan) = memo::plan_from_memo(path, &asked)? {
            let rows: Vec<_> = plan
                .steps
                .into_iter()
                .map(|(step, run_id)| {
                    let from = crate::lines::reused_from_text(Some(run_id));
                    (
                        step,
                        "reuse".to_owned(),
                        from.unwrap_or_else(|| "from the shared cache".into()),
                    )
                })
                .collect();
            print_plan(&plan.pipeline, &rows, json);
            return Ok(ExitCode::SUCCESS);
        }
    }
    let (project, mut stats) = match prepare(path, params, false)? {
        Ok(p) => p,
        Err(code) => return Ok(code),
    };
    stats.settle(Duration::ZERO);
    let _ = project.save_stat_cache(&mut stats);
    let keep = engine::selection(&project, wanted)?;
    let order = &hir::step_graph(&project.db, project.file).order;
    let selected: std::collections::HashSet<&str> =
        order.iter().zip(keep).filter(|(_, k)| *k).map(|(n, _)| n.as_str()).collect();
    let rows: Vec<(String, String, String)> = driver::plan(&project, policy)
        .steps
        .into_iter()
        .filter(|p| selected.contains(p.step.as_str()))
        .map(|p| {
            let (action, detail) = match p.planned {
                driver::Planned::Reuse { run_id, cosmetic, reads } => {
                    let note = plan::reuse_note(&cosmetic, &reads).map(|n| format!(", {n}"));
                    let from = crate::lines::reused_from_text(Some(run_id));
                    let from = from.unwrap_or_else(|| "from the shared cache".to_owned());
                    ("reuse", format!("{from}{}", note.unwrap_or_default()))
                }
                driver::Planned::Run(reasons) => ("will run", reasons.join("; ")),
                driver::Planned::AfterUpstream(u) => {
                    ("will run", format!("after upstream {u}, unless it reproduces its outputs"))
                }
                driver::Planned::Blocked(why) => ("blocked", why),
            };
            (p.step, action.to_owned(), detail)
        })
        .collect();
    print_plan(&project.name(), &rows, json);
    project.forget();
    std::mem::forget(stats);
    Ok(ExitCode::SUCCESS)
}

/// Prints a plan: rows of (step, action, detail), as lines or one JSON document.
fn print_plan(pipeline: &str, rows: &[(String, String, String)], json: bool) {
    if json {
        let doc: Vec<_> = rows
            .iter()
            .map(|(s, a, d)| serde_json::json!({"step": s, "action": a, "detail": d}))
            .collect();
        outln!("{}", serde_json::json!({"pipeline": pipeline, "steps": doc}));
    } else {
        let width = rows.iter().map(|r| r.0.len()).max().unwrap_or(0);
        for (s, a, d) in rows {
            outln!("{a:>9} {s:width$}  {d}");
        }
        let runs = rows.iter().filter(|r| r.1 == "will run").count();
        outln!("{} to run, {} to reuse", runs, rows.len() - runs);
    }
}
