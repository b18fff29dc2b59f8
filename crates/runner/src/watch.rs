//! `runner watch`: build, then rebuild what a file change invalidates, until Ctrl-C.
//!
//! One [`Project`] (one salsa database) lives for the whole session. A change to
//! `pipeline.toml` sets the new text on it (`SourceFile::set_text`); a change to a file the
//! pipeline names re-probes only the paths the event touched, through the stat cache, and
//! sets their state (`set_fs_state`), so salsa re-runs only the queries that read them. Then
//! the step keys are recomputed and [`engine::run_build`] runs the invalidated steps. One
//! cache (`cache::Cache::remembering`) also lives for the session: a cycle looks unchanged
//! steps up in memory and checks their outputs by one `stat` per blob, and the build takes
//! the lookups of the up-to-date check that precedes it (`driver::Plan::lookups`).
//! The cycle itself is [`engine::Session`]; this module keeps the file watcher and the
//! printing.
//!
//! What is watched (inotify through `notify`, events debounced by `notify-debouncer-full`):
//! folders, not files, so editors that save by writing a temp file and renaming it are
//! seen: the pipeline file's folder; the folder holding each script, requirements file and
//! file data reference or `hash_paths` file; each `source_directory`; every folder a hashed
//! folder (`hash_paths`, folder data references) holds, by the snapshot rules (ignored
//! folders, `.git` and `.runner` are not entered); the nearest existing parent of a path
//! that does not exist yet. The set is recomputed before every cycle. An event matters when it names the
//! pipeline file, a path the pipeline names, a parent of one, or a file inside a hashed
//! folder that the ignore files keep; anything else (other files in `source_directory`, which
//! are not in any key; `.runner/`, where steps write their outputs; reads) starts nothing.
//!
//! Policy: a change during a build does not stop it. The running steps finish (their result
//! is not cached if what they read changed under them), and the next cycle starts at once
//! with everything that changed meanwhile. A broken pipeline shows its diagnostics and waits
//! for the next change. Ctrl-C (or SIGTERM, SIGHUP) stops running steps (SIGTERM, then
//! SIGKILL), records the run interrupted and exits 128 + the signal's number (130 for
//! Ctrl-C); a signal while idle exits 0.

use std::collections::BTreeSet;
use std::path::{Component, Path, PathBuf};
use std::process::ExitCode;
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context as _;
use exec::CancelToken;
use history::{RunStatus, StepStatus};
use notify::event::{AccessKind, AccessMode};
use notify::{EventKind, RecursiveMode};
use notify_debouncer_full::{DebounceEventResult, Debouncer, RecommendedCache, new_debouncer};
use serde_json::json;

use crate::build;
use crate::lines::{Level, Lines};
use driver::Project;
use engine::{BuildOptions, BuildSummary, Cycle};

/// `runner watch` arguments.
#[derive(clap::Args)]
pub(crate) struct WatchArgs {
    #[command(flatten)]
    path: crate::PathArg,
    /// Override a parameter for every build: NAME=VALUE (repeatable).
    #[arg(long = "param", value_name = "NAME=VALUE")]
    params: Vec<String>,
    /// Record runs under this experiment (default: `[pipeline] experiment`, else its name).
    #[arg(long)]
    experiment: Option<String>,
    /// Steps running at once, at most: 1 to 4096 (default: the number of CPUs).
    #[arg(short = 'j', long, value_parser = crate::parse_jobs)]
    jobs: Option<usize>,
    /// Quiet time after a change before a cycle starts, in milliseconds.
    #[arg(long, value_name = "MS", default_value_t = 100)]
    debounce: u64,
    /// Output: `human` lines on stderr, or one JSON document per cycle on stdout.
    #[arg(long, value_enum, default_value_t = crate::Format::Human)]
    format: crate::Format,
}

/// Most step names a cycle's summary line gives per status (more are counted).
const SHOWN: usize = 6;

/// The end of a cycle's summary line: per status (ran, failed, interrupted, skipped, reused,
/// in that order) the steps it names, e.g. `ran train; reused a, b, c, d, e and 995 more`.
/// `outcomes` gives each step's (status, name) in build order.
fn step_counts<'a>(outcomes: impl Iterator<Item = (&'a str, &'a str)> + Clone) -> String {
    let mut parts = Vec::new();
    for status in ["ran", "failed", "interrupted", "skipped", "reused"] {
        let list: Vec<&str> = outcomes.clone().filter(|o| o.0 == status).map(|o| o.1).collect();
        match list.len() {
            0 => {}
            1..=SHOWN => parts.push(format!("{status} {}", list.join(", "))),
            n => parts.push(format!(
                "{status} {} and {} more",
                list[..SHOWN - 1].join(", "),
                n - (SHOWN - 1)
            )),
        }
    }
    if parts.is_empty() { "no steps".to_owned() } else { parts.join("; ") }
}

/// What the main loop waits for.
enum Msg {
    Fs(DebounceEventResult),
    Stop,
}

/// Ctrl-C state shared with the signal task.
#[derive(Default)]
struct Interrupt {
    stopping: bool,
    running: Option<CancelToken>,
}

/// Paths that changed, from one batch of events.
#[derive(Default)]
struct Touched {
    /// The pipeline file.
    text: bool,
    /// Paths the pipeline names (as `needed_paths` spells them).
    needs: BTreeSet<String>,
    /// Events were lost or the watcher failed: look at everything.
    rescan: bool,
}

/// One needed path, resolved.
struct Need {
    rel: String,
    abs: PathBuf,
    digest: bool,
}

struct Session {
    /// The engine's session: the database, stat cache and cache kept between cycles.
    ws: engine::Session,
    root: PathBuf,
    file: PathBuf,
    state: PathBuf,
    debouncer: Debouncer<notify::RecommendedWatcher, RecommendedCache>,
    watched: BTreeSet<PathBuf>,
    warned_watch: bool,
    json: bool,
    /// How much of each build to print.
    level: Level,
    rt: tokio::runtime::Runtime,
    interrupt: Arc<Mutex<Interrupt>>,
    cycle: usize,
    interrupted: bool,
    /// The last cycle ended in an error (unreadable file): the next event retries even if
    /// nothing looks changed.
    errored: bool,
}

/// `runner watch`.
pub(crate) fn watch(args: WatchArgs) -> anyhow::Result<ExitCode> {
    let params = crate::parse_params(&args.params)?;
    let project = Project::load(args.path.get(), params)?;
    let root = lexical(&std::path::absolute(&project.root)?);
    let file = lexical(&std::path::absolute(&project.path)?);
    let json = args.format == crate::Format::Json;
    let (tx, rx) = mpsc::channel::<Msg>();
    let fs_tx = tx.clone();
    let debouncer = new_debouncer(
        Duration::from_millis(args.debounce.max(1)),
        None,
        move |r: DebounceEventResult| {
            let _ = fs_tx.send(Msg::Fs(r));
        },
    )
    .context("starting the file watcher")?;
    let rt = engine::runtime()?;
    let interrupt: Arc<Mutex<Interrupt>> = Arc::default();
    {
        let _entered = rt.enter();
        let interrupt = interrupt.clone();
        crate::signals::on_stop(move |name| {
            let mut i = interrupt.lock().unwrap_or_else(|e| e.into_inner());
            i.stopping = true;
            if let Some(cancel) = i.running.take() {
                eprintln!("runner: {name}: stopping running steps");
                cancel.cancel();
            }
            let _ = tx.send(Msg::Stop);
        })
        .context("installing signal handlers")?;
    }
    let mut s = Session {
        state: root.join(".runner"),
        ws: engine::Session::new(
            project,
            BuildOptions {
                experiment: args.experiment,
                jobs: args.jobs,
                ..BuildOptions::default()
            },
        ),
        root,
        file,
        debouncer,
        watched: BTreeSet::new(),
        warned_watch: false,
        json,
        level: if json { Level::Quiet } else { Level::Running },
        rt,
        interrupt,
        cycle: 0,
        interrupted: false,
        errored: false,
    };
    s.update_watches();
    if !json {
        eprintln!(
            "watch {}: watching {} folder{}; Ctrl-C stops",
            s.ws.project().display,
            s.watched.len(),
            if s.watched.len() == 1 { "" } else { "s" }
        );
    }
    let before = s.ws.hashed_bytes();
    match s.ws.apply(false, &[], true, "") {
        Ok(_) => {
            let hashed = s.ws.hashed_bytes() - before;
            s.run_cycle(&[], hashed);
        }
        Err(e) => s.report_error(&[], &e.into()),
    }
    while !s.stopping() {
        let Ok(first) = rx.recv() else { break };
        let mut batch = vec![first];
        batch.extend(rx.try_iter());
        let mut touched = Touched::default();
        let mut stop = false;
        for msg in batch {
            match msg {
                Msg::Stop => stop = true,
                Msg::Fs(Ok(events)) => {
                    for e in events {
                        s.classify(&e.event, &mut touched);
                    }
                }
                Msg::Fs(Err(errors)) => {
                    for e in errors {
                        eprintln!("runner: watch: {e}");
                    }
                    touched.rescan = true;
                }
            }
        }
        if stop || s.stopping() {
            break;
        }
        s.on_change(touched);
    }
    s.ws.save_stats();
    let interrupted = s.interrupted;
    if !s.json {
        eprintln!("watch: stopped");
    }
    s.debouncer.stop_nonblocking();
    Ok(if interrupted { crate::signals::exit_code() } else { ExitCode::SUCCESS })
}

impl Session {
    fn stopping(&self) -> bool {
        self.interrupt.lock().unwrap_or_else(|e| e.into_inner()).stopping
    }

    /// The paths the pipeline names now, absolute.
    fn needs(&self) -> Vec<Need> {
        let project = self.ws.project();
        hir::needed_paths(&project.db, project.file)
            .iter()
            .map(|n| Need {
                rel: n.path.clone(),
                abs: lexical(&self.root.join(&n.path)),
                digest: n.digest,
            })
            .collect()
    }

    /// Adds what one event touched to `t`.
    fn classify(&self, event: &notify::Event, t: &mut Touched) {
        if event.need_rescan() {
            t.rescan = true;
        }
        if let EventKind::Access(a) = event.kind
            && a != AccessKind::Close(AccessMode::Write)
        {
            return; // reads (ours too: hashing, snapshots) change nothing
        }
        let needs = self.needs();
        for path in &event.paths {
            let path = lexical(path);
            if path.starts_with(&self.state) {
                continue;
            }
            if path == self.file {
                t.text = true;
                continue;
            }
            for n in &needs {
                let hit = if path == n.abs || n.abs.starts_with(&path) {
                    true
                } else if n.digest && path.starts_with(&n.abs) {
                    let rel = path.strip_prefix(&n.abs).map(|r| r.to_string_lossy().into_owned());
                    let is_dir = std::fs::metadata(&path).is_ok_and(|m| m.is_dir());
                    rel.is_ok_and(|rel| {
                        !cache::is_ignored(&n.abs, &rel, is_dir, cache::IgnoreRules::Snapshot)
                            .unwrap_or(false)
                    })
                } else {
                    false
                };
                if hit {
                    t.needs.insert(n.rel.clone());
                }
            }
        }
    }

    /// One batch of changes: update the database in place, then build if anything changed.
    fn on_change(&mut self, t: Touched) {
        if !t.text && t.needs.is_empty() && !t.rescan {
            return;
        }
        let before = self.ws.hashed_bytes();
        let label = self.display_rel(&self.file.clone());
        let paths: Vec<String> = t.needs.iter().cloned().collect();
        let applied = self.ws.apply(t.text, &paths, t.rescan, &label);
        // Watch first, then look: a file created after this is seen by the next event.
        self.update_watches();
        let changed = match applied {
            Ok(changed) => changed,
            Err(e) => return self.report_error(&[label], &e.into()),
        };
        if changed.is_empty() && !self.errored {
            return; // touched, or written with the same bytes: nothing to do
        }
        let hashed = self.ws.hashed_bytes() - before;
        self.run_cycle(&changed, hashed);
    }

    /// Checks, plans and (when something must run) builds; prints one summary. `hashed`:
    /// the bytes read to bring the database up to date for this cycle.
    fn run_cycle(&mut self, changed: &[String], hashed: u64) {
        self.errored = false;
        self.cycle += 1;
        let n = self.cycle;
        if !self.json && !changed.is_empty() {
            eprintln!("[{n}] changed: {}", changed.join(", "));
        }
        let cancel = CancelToken::new();
        {
            let mut i = self.interrupt.lock().unwrap_or_else(|e| e.into_inner());
            if i.stopping {
                return;
            }
            i.running = Some(cancel.clone());
        }
        let sink = std::sync::Arc::new(Lines(self.level));
        let result = self.ws.cycle(&self.rt, &cancel, sink);
        crate::progress::stop();
        self.interrupt.lock().unwrap_or_else(|e| e.into_inner()).running = None;
        match result {
            Ok(Cycle::Invalid { errors, param_errors }) => {
                self.print_invalid(n, changed, errors, &param_errors)
            }
            Ok(Cycle::UpToDate) => {
                if self.json {
                    outln!(
                        "{}",
                        json!({"cycle": n, "changed": changed, "status": "up-to-date", "hashed_bytes": hashed, "steps": []})
                    );
                } else {
                    eprintln!("[{n}] up to date: no step key changed");
                }
            }
            Ok(Cycle::Built(summary)) => self.print_built(n, changed, hashed, &summary),
            Err(e) => self.report_error(changed, &e.into()),
        }
    }

    /// A cycle that found the pipeline invalid.
    fn print_invalid(&self, n: usize, changed: &[String], errors: usize, param_errors: &[String]) {
        let project = self.ws.project();
        if self.json {
            let diags = project.diagnostics();
            let check = crate::render::json(&project.display, project.text(), &diags);
            let doc = json!({
                "cycle": n, "changed": changed, "status": "invalid", "errors": errors,
                "param_errors": param_errors, "check": check,
            });
            outln!("{doc}");
        } else {
            let _ = build::ready_to_build(project);
            eprintln!("[{n}] waiting for a fix");
        }
    }

    /// A cycle that built: its summary line, and each failed or skipped step with its log tail.
    fn print_built(&mut self, n: usize, changed: &[String], hashed: u64, summary: &BuildSummary) {
        if summary.status == RunStatus::Interrupted {
            self.interrupted = true;
        }
        if self.json {
            let mut doc = summary.json(hashed);
            doc["cycle"] = json!(n);
            doc["changed"] = json!(changed);
            outln!("{doc}");
            return;
        }
        eprintln!(
            "[{n}] run {} {} in {:.2}s: {}",
            summary.run_id,
            summary.status.as_str(),
            summary.seconds,
            step_counts(summary.outcomes.iter().map(|o| (o.status.as_str(), o.step.as_str())))
        );
        for o in &summary.outcomes {
            if !matches!(o.status, StepStatus::Failed | StepStatus::Skipped) {
                continue;
            }
            eprintln!(
                "{:>9} {}  ({})",
                o.status.as_str(),
                o.step,
                o.reason.as_deref().unwrap_or("")
            );
            if let Some(log) = &o.stderr_log {
                let tail = exec::tail_lines(log, 20);
                for line in tail.lines() {
                    eprintln!("          | {line}");
                }
                eprintln!("          log: {}", log.display());
            }
        }
    }

    fn report_error(&mut self, changed: &[String], e: &anyhow::Error) {
        self.errored = true;
        self.cycle += 1;
        let n = self.cycle;
        if self.json {
            outln!(
                "{}",
                json!({"cycle": n, "changed": changed, "status": "error", "message": crate::error_text(e)})
            );
        } else {
            eprintln!("[{n}] runner: {}; waiting for a change", crate::error_text(e));
        }
        self.ws.save_stats();
    }

    /// `path` relative to the pipeline's folder when inside it, for messages.
    fn display_rel(&self, path: &Path) -> String {
        path.strip_prefix(&self.root).unwrap_or(path).display().to_string()
    }

    /// The folders to watch now (see the module docs).
    fn wanted_watches(&self) -> BTreeSet<PathBuf> {
        let mut out = BTreeSet::new();
        out.insert(self.file.parent().map_or_else(|| self.root.clone(), Path::to_path_buf));
        for n in self.needs() {
            match std::fs::metadata(&n.abs) {
                Ok(m) if m.is_dir() && n.digest => out.extend(
                    cache::list_dirs(&n.abs, cache::IgnoreRules::Snapshot).unwrap_or_default(),
                ),
                // A folder is watched itself (its removal or renaming is an event on it); a
                // file through its folder, which sees saves that write a temp file and rename.
                Ok(m) if m.is_dir() => {
                    out.insert(n.abs.clone());
                }
                Ok(_) => out.extend(n.abs.parent().map(Path::to_path_buf)),
                Err(_) => {
                    let mut p = n.abs.as_path();
                    while let Some(parent) = p.parent() {
                        if parent.is_dir() {
                            out.insert(parent.to_path_buf());
                            break;
                        }
                        p = parent;
                    }
                }
            }
        }
        out.retain(|p| !p.starts_with(&self.state));
        out
    }

    /// Brings the watched folders in line with [`Self::wanted_watches`].
    fn update_watches(&mut self) {
        let wanted = self.wanted_watches();
        for gone in self.watched.difference(&wanted).cloned().collect::<Vec<_>>() {
            let _ = self.debouncer.unwatch(&gone);
            self.watched.remove(&gone);
        }
        for new in wanted.difference(&self.watched).cloned().collect::<Vec<_>>() {
            match self.debouncer.watch(&new, RecursiveMode::NonRecursive) {
                Ok(()) => {
                    self.watched.insert(new);
                }
                Err(e) => {
                    if !self.warned_watch && new.exists() {
                        self.warned_watch = true;
                        eprintln!("runner: watch: cannot watch {}: {e}", new.display());
                    }
                }
            }
        }
    }
}

/// `path` with `.` dropped and `..` folded, without touching the disk.
fn lexical(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                if !out.pop() {
                    out.push("..");
                }
            }
            other => out.push(other.as_os_str()),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::step_counts;

    #[test]
    fn a_cycle_line_names_a_handful_of_steps_per_status() {
        let names: Vec<String> = (0..1000).map(|i| format!("s{i:04}")).collect();
        let outcomes: Vec<(&str, &str)> = names
            .iter()
            .enumerate()
            .map(|(i, n)| (if i == 500 { "ran" } else { "reused" }, n.as_str()))
            .collect();
        assert_eq!(
            step_counts(outcomes.iter().copied()),
            "ran s0500; reused s0000, s0001, s0002, s0003, s0004 and 994 more"
        );
        let few = [("ran", "train"), ("reused", "prepare"), ("failed", "lint")];
        assert_eq!(step_counts(few.iter().copied()), "ran train; failed lint; reused prepare");
        assert_eq!(step_counts([].iter().copied()), "no steps");
    }
}
