//! `runner runs`, `runner show`, `runner logs`: reading run history.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;
use history::History;

use driver::Project;

/// `runner runs` arguments.
#[derive(clap::Args)]
pub(crate) struct RunsArgs {
    #[command(flatten)]
    path: crate::PathArg,
    /// Only runs of this experiment.
    #[arg(long)]
    experiment: Option<String>,
    /// At most this many runs.
    #[arg(long, default_value_t = 20)]
    limit: usize,
    /// Output format.
    #[arg(long, value_enum, default_value_t = crate::Format::Human)]
    format: crate::Format,
}

/// `runner show` arguments.
#[derive(clap::Args)]
pub(crate) struct ShowArgs {
    /// The run id (see `runner runs`).
    run: i64,
    /// A step: show its key fields, outputs, logs and metrics.
    step: Option<String>,
    /// pipeline.toml, or a folder holding one.
    #[arg(long, short = 'p', default_value = ".")]
    path: PathBuf,
    /// Output format.
    #[arg(long, value_enum, default_value_t = crate::Format::Human)]
    format: crate::Format,
}

/// `runner logs` arguments.
#[derive(clap::Args)]
pub(crate) struct LogsArgs {
    /// The run id.
    run: i64,
    /// The step.
    step: String,
    /// Print stderr instead of stdout.
    #[arg(long)]
    stderr: bool,
    /// pipeline.toml, or a folder holding one.
    #[arg(long, short = 'p', default_value = ".")]
    path: PathBuf,
}

fn open_history(path: &Path) -> anyhow::Result<(Project, History)> {
    let project = Project::load(path, Vec::new())?;
    let db = project.state_dir().join("history.sqlite");
    if !db.exists() {
        anyhow::bail!("no runs recorded yet for {} (run `runner build` first)", project.display);
    }
    let history = History::open(&db).with_context(|| format!("opening {}", db.display()))?;
    Ok((project, history))
}

/// For each output of `step` (outputs JSON `outputs`: name → manifest digest) that the
/// pipeline writes to a datastore: (output, datastore, the URL of its folder there).
fn stored_urls(
    project: &Project,
    pipeline: &str,
    step: &str,
    outputs: &str,
) -> Vec<(String, String, String)> {
    let digests: std::collections::BTreeMap<String, String> =
        serde_json::from_str(outputs).unwrap_or_default();
    let Some(item) = hir::find_step(&project.db, project.file, step) else { return Vec::new() };
    let Some(hir::ItemData::Step(s)) = &hir::lower_item(&project.db, item).data else {
        return Vec::new();
    };
    let ix = hir::index(&project.db, project.file);
    let mut out = Vec::new();
    for (output, store) in &s.output_stores {
        let Some(digest) = digests.get(output).and_then(|d| d.parse::<hir::Digest>().ok()) else {
            continue;
        };
        let at = engine::stored_output_path(pipeline, step, output, &digest);
        let url = match (ix.remote_datastores.get(&store.value), ix.datastores.get(&store.value)) {
            (Some(info), _) => stores::url(&info.kind, &info.options, &at),
            (None, Some(folder)) => {
                let root = std::path::absolute(project.abs(folder)).unwrap_or_default();
                root.join(&at).display().to_string()
            }
            (None, None) => continue,
        };
        out.push((output.clone(), store.value.clone(), url));
    }
    out
}

/// `runner runs`.
pub(crate) fn runs(a: RunsArgs) -> anyhow::Result<ExitCode> {
    let (_, history) = open_history(a.path.get())?;
    let runs = history.runs(a.experiment.as_deref(), a.limit)?;
    if a.format == crate::Format::Json {
        outln!("{}", serde_json::to_string(&runs)?);
        return Ok(ExitCode::SUCCESS);
    }
    outln!(
        "{:>4}  {:<20} {:<11} {:<20} {:>8}  {:>4} {:>6} {:>6}  commit",
        "run",
        "experiment",
        "status",
        "started",
        "seconds",
        "ran",
        "reused",
        "failed"
    );
    for r in runs {
        let secs = r.ended_ms.map_or("-".to_owned(), |e| {
            format!("{:.1}", e.saturating_sub(r.started_ms) as f64 / 1000.0)
        });
        let commit = r.git.as_ref().map_or("-".to_owned(), |g| {
            format!("{}{}", &g.commit[..g.commit.len().min(8)], if g.dirty { "+" } else { "" })
        });
        outln!(
            "{:>4}  {:<20} {:<11} {:<20} {:>8}  {:>4} {:>6} {:>6}  {commit}",
            r.id,
            r.experiment,
            r.status.as_str(),
            history::utc_text(r.started_ms),
            secs,
            r.steps_ran,
            r.steps_reused,
            r.steps_failed
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// `runner show`.
pub(crate) fn show(a: ShowArgs) -> anyhow::Result<ExitCode> {
    let (project, history) = open_history(&a.path)?;
    let run = history.run(a.run)?.with_context(|| format!("no run {}", a.run))?;
    let mut steps = history.steps(a.run)?;
    for s in &mut steps {
        history.fill_reused(s)?;
    }
    let metrics = history.metrics(a.run, a.step.as_deref())?;
    if a.format == crate::Format::Json {
        let steps: Vec<_> =
            steps.iter().filter(|s| a.step.as_ref().is_none_or(|n| &s.step == n)).collect();
        let metrics: Vec<_> = metrics
            .iter()
            .map(|(s, m)| serde_json::json!({"step": s, "name": m.name, "value": m.value}))
            .collect();
        outln!("{}", serde_json::json!({"run": run, "steps": steps, "metrics": metrics}));
        return Ok(ExitCode::SUCCESS);
    }
    if let Some(step) = &a.step {
        let s = steps
            .iter()
            .find(|s| &s.step == step)
            .with_context(|| format!("run {} has no step {step}", a.run))?;
        outln!("run {} step {}: {}", a.run, s.step, s.status.as_str());
        if let Some(r) = &s.dirty_reason {
            outln!("  why: {r}");
        }
        if let Some(r) = s.reused_from {
            outln!("  reused from run {r}");
        }
        if let Some(k) = &s.key {
            outln!("  key: {k}");
        }
        if let Some(f) = &s.key_fields {
            let v: serde_json::Value = serde_json::from_str(f).unwrap_or_default();
            let modules: Vec<&str> = v["modules"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|m| m[0].as_str())
                .collect();
            if !modules.is_empty() {
                outln!("  helper modules in the key: {}", modules.join(", "));
            }
            outln!("  key fields: {}", serde_json::to_string_pretty(&v)?.replace('\n', "\n  "));
        }
        if let Some(l) = &s.log_dir
            && let Ok(list) =
                std::fs::read_to_string(Path::new(l).join(driver::UNDECLARED_READS_FILE))
        {
            for path in list.lines() {
                outln!("  read outside its key: {path} (add it to hash_paths or inputs)");
            }
        }
        if let Some(o) = &s.outputs {
            outln!("  outputs: {o}");
            for (output, store, url) in stored_urls(&project, &run.pipeline, &s.step, o) {
                outln!("  output {output} is also in datastore {store}: {url}");
            }
        }
        if let Some(l) = &s.log_dir {
            let logs: Vec<String> = ["stdout.log", "stderr.log"]
                .iter()
                .map(|f| format!("{l}/{f}"))
                .filter(|p| Path::new(p).exists())
                .collect();
            if logs.is_empty() {
                outln!("  logs: none (it printed nothing)");
            } else {
                outln!("  logs: {}", logs.join(", "));
            }
        }
        for (_, m) in &metrics {
            outln!("  metric {} = {}", m.name, m.value);
        }
        // A result from the shared cache: its producing run's metrics came with its logs.
        if s.reused_from.is_none()
            && let Some(l) = &s.log_dir
            && let Ok(text) = std::fs::read_to_string(Path::new(l).join("metrics.txt"))
        {
            for line in text.lines() {
                if let Some((name, value)) = line.split_once(' ') {
                    outln!("  metric {name} = {value} (of the run that made it)");
                }
            }
        }
        return Ok(ExitCode::SUCCESS);
    }
    outln!(
        "run {} ({}): {} in experiment {}, started {}",
        run.id,
        run.pipeline,
        run.status.as_str(),
        run.experiment,
        history::utc_text(run.started_ms)
    );
    if let Some(g) = &run.git {
        outln!(
            "  git {} {}{}",
            g.commit,
            g.branch.as_deref().unwrap_or(""),
            if g.dirty { " (dirty)" } else { "" }
        );
    }
    if !run.params.is_empty() {
        outln!(
            "  params: {}",
            run.params.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(" ")
        );
    }
    let width = steps.iter().map(|s| s.step.len()).max().unwrap_or(0);
    for s in &steps {
        let detail = match (s.status, s.reused_from, &s.dirty_reason) {
            (history::StepStatus::Reused, Some(r), _) => format!("from run {r}"),
            (_, _, Some(reason)) => reason.clone(),
            _ => String::new(),
        };
        let secs = s.duration_ms.map_or(String::new(), |d| format!("{:.2}s  ", d as f64 / 1000.0));
        outln!("  {:>11} {:width$}  {secs}{detail}", s.status.as_str(), s.step);
    }
    for (step, m) in &metrics {
        outln!("  metric {step}.{} = {}", m.name, m.value);
    }
    Ok(ExitCode::SUCCESS)
}

/// `runner logs`.
pub(crate) fn logs(a: LogsArgs) -> anyhow::Result<ExitCode> {
    let (_, history) = open_history(&a.path)?;
    let mut steps = history.steps(a.run)?;
    for s in &mut steps {
        history.fill_reused(s)?;
    }
    let s = steps
        .iter()
        .find(|s| s.step == a.step)
        .with_context(|| format!("run {} has no step {}", a.run, a.step))?;
    // A reused step's logs are those of the run that produced its result (Azure ML shows a
    // reused step's original run the same way); say which, on stderr.
    let produced = match (&s.log_dir, s.reused_from) {
        (None, Some(from)) => history.step(from, &a.step)?.filter(|p| p.log_dir.is_some()),
        _ => None,
    };
    if let Some(p) = &produced {
        eprintln!(
            "runner: step {} was reused in run {}; its logs are from run {}, which produced the result",
            a.step, a.run, p.run_id
        );
    }
    let dir = produced.as_ref().unwrap_or(s).log_dir.as_ref().with_context(|| {
        format!("step {} did not run in run {} (status {})", a.step, a.run, s.status.as_str())
    })?;
    let file = Path::new(dir).join(if a.stderr { "stderr.log" } else { "stdout.log" });
    // A log file is only created when the step writes to the stream.
    let text = match std::fs::read(&file) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        r => r.with_context(|| format!("reading {}", file.display()))?,
    };
    use std::io::Write as _;
    std::io::stdout().write_all(&text)?;
    Ok(ExitCode::SUCCESS)
}
