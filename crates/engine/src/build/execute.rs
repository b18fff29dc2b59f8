//! Running one step for real: snapshot, inputs, argv, the process, then outputs into the
//! CAS, the action cache entry, and history, in that order (see the parent module).

use std::collections::{BTreeMap, HashMap};
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use anyhow::Context as _;
use cache::ActionResult;
use exec::{NodeState, ProcessSpec};
use hir::template::{self, Kind};
use hir::{Digest, Target};
use history::{StepRecord, StepStatus};
use plan::KeyRecord;

use super::ahead::{copy_ahead, make_dir, prepare_ahead};
use super::inputs::InputCopy;
use super::ledger;
use super::{DataSource, Outcome, Shared, StepInfo, finished, now_ms, outputs_json, record_locked};
use crate::events::Event;

/// Runs one step for real.
pub(super) async fn execute(
    shared: &Arc<Shared>,
    i: usize,
    key: Digest,
    record: KeyRecord,
    reason: String,
    lock: Option<cache::KeyLock>,
) -> NodeState {
    let info = &shared.steps[i];
    let run_dir = shared.state.join("runs").join(shared.run_id.to_string()).join(&info.name);
    let started_ms = now_ms();
    let fail = |msg: String, exit_code: Option<i32>, status: StepStatus| {
        keep_partial_outputs(shared, info, &run_dir);
        let log = run_dir.join("stderr.log");
        let tail = exec::tail_lines(&log, 20);
        record_locked(
            shared,
            StepRecord {
                key: Some(key.to_hex()),
                key_fields: Some(record.to_json()),
                dirty_reason: Some(reason.clone()),
                exit_code,
                started_ms: Some(started_ms),
                duration_ms: Some(now_ms().saturating_sub(started_ms)),
                log_dir: Some(run_dir.display().to_string()),
                ..StepRecord::bare(shared.run_id, &info.name, status)
            },
        );
        finished(
            shared,
            Outcome {
                step: info.name.clone(),
                status,
                reason: Some(msg),
                reused_from: None,
                duration_ms: Some(now_ms().saturating_sub(started_ms)),
                key: Some(key.to_hex()),
                stderr_log: Some(log.clone()).filter(|l| l.exists()),
                ran: None,
                undeclared_reads: Vec::new(),
            },
            Vec::new(),
            (!tail.is_empty()).then_some((tail, log)),
        );
        if status == StepStatus::Interrupted { NodeState::Cancelled } else { NodeState::Failed }
    };
    let compute = shared.compute_of(i);
    let Some((target, nodes)) = shared.targets.get(compute) else {
        return fail(format!("no compute target `{compute}`"), None, StepStatus::Failed);
    };
    let here = target.runs_here();
    let prepared = match prepare_step(shared, i, &run_dir, here).await {
        Ok(p) => p,
        Err(e) => return fail(crate::error_text(&e), None, StepStatus::Failed),
    };
    // The target's permit, then (for a process on this machine) one of the build's:
    // released when the job ends.
    let node = nodes.clone().acquire_owned().await;
    let slot = match here {
        true => Some(shared.slots.clone().acquire_owned().await),
        false => None,
    };
    if shared.cancel.is_cancelled() {
        return fail("interrupted before it started".into(), None, StepStatus::Interrupted);
    }
    let running = Event::Running { step: info.name.clone(), reason: reason.clone() };
    shared.announcer.running(i, &shared.deps[i], running, |e| shared.emit(e));
    let snapshot = prepared.snapshot.clone();
    let (traced, strict) = super::reads::policy(shared, info);
    let traced = traced && (here || super::reads::not_here(shared, info, compute));
    let mut spec = prepared.spec;
    if traced && let Err(msg) = super::reads::trace(shared, &mut spec, &run_dir) {
        return fail(msg, None, StepStatus::Failed);
    }
    let given: Vec<PathBuf> = prepared.reads.iter().skip(1).cloned().collect();
    prepare_ahead(shared, i);
    let job = exec::Job {
        pipeline: shared.pipeline.clone(),
        step: info.name.clone(),
        run_id: shared.run_id,
        program: prepared.program,
        metrics: metrics_file(shared, &info.name),
        spec,
        reads: prepared.reads,
        outputs: prepared.outputs.iter().map(|(_, dir)| dir.clone()).collect(),
    };
    let exec::Finished { outcome, elapsed, window } = target.run(job, shared.cancel.clone()).await;
    shared.emit(Event::Exited { step: info.name.clone() });
    drop((slot, node));
    // A step waiting for the slot just freed starts its process before this one is stored.
    tokio::task::yield_now().await;
    match outcome {
        exec::Outcome::Exited(0) => {}
        exec::Outcome::Cancelled => {
            return fail("interrupted".into(), None, StepStatus::Interrupted);
        }
        exec::Outcome::Exited(code) => {
            return fail(format!("exited with code {code}"), Some(code), StepStatus::Failed);
        }
        other => return fail(other.to_string(), None, StepStatus::Failed),
    }
    let mut undeclared = Vec::new();
    if traced {
        let mut allowed = given;
        allowed.extend(prepared.outputs.iter().map(|(_, dir)| dir.clone()));
        match super::reads::check(shared, info, &run_dir, &snapshot, &allowed, strict) {
            Ok(found) => undeclared = found,
            Err(msg) => return fail(msg, Some(0), StepStatus::Failed),
        }
    }
    // Outputs: each must hold something; store them, then the cache entry, then history.
    // The step is over (its process group is gone), so its files are handed to the CAS as
    // they lie (`adopt_tree`): one read each, no copy.
    let mut outputs = BTreeMap::new();
    for (name, dir) in &prepared.outputs {
        let manifest = match shared.cache.adopt_tree(dir) {
            Ok(m) if m.entries.is_empty() => {
                return fail(
                    format!("output {name} was not produced (its folder is empty)"),
                    Some(0),
                    StepStatus::Failed,
                );
            }
            Ok(m) => m,
            Err(cache::Error::Read { path, .. }) if path == *dir => {
                return fail(
                    format!("output {name} was not produced (its folder is gone)"),
                    Some(0),
                    StepStatus::Failed,
                );
            }
            Err(e) => {
                return fail(format!("storing output {name}: {e}"), Some(0), StepStatus::Failed);
            }
        };
        let digest = manifest.digest();
        outputs.insert(name.clone(), digest);
        shared.manifests.lock().unwrap_or_else(|e| e.into_inner()).insert(digest, manifest);
    }
    // Downstream steps need only the outputs' digests: publish them, and do the rest (drift
    // check, action cache entry, history, views) off the critical path, in that order. The
    // build waits for it before it ends.
    shared
        .results
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(info.name.clone(), outputs.clone());
    copy_ahead(shared, i, &outputs);
    let ran = Ran {
        lock,
        i,
        key,
        record,
        reason,
        outputs,
        written: prepared.outputs,
        copies: prepared.copies,
        run_dir,
        snapshot,
        started_ms,
        elapsed,
        window,
        undeclared,
    };
    let sh = shared.clone();
    let task = tokio::task::spawn_blocking(move || record_ran(&sh, ran));
    shared.tidying.lock().unwrap_or_else(|e| e.into_inner()).push(task);
    NodeState::Succeeded
}

/// A step that ran and whose outputs are in the CAS, to record.
struct Ran {
    /// The lock of its key (see `claim`), released once its action cache entry is committed.
    lock: Option<cache::KeyLock>,
    i: usize,
    key: Digest,
    record: KeyRecord,
    reason: String,
    outputs: BTreeMap<String, Digest>,
    /// The folders the step wrote its outputs to.
    written: Vec<(String, PathBuf)>,
    /// Its copies of upstream outputs.
    copies: Vec<InputCopy>,
    run_dir: PathBuf,
    snapshot: PathBuf,
    started_ms: u64,
    elapsed: Duration,
    /// When its process started and ended.
    window: (SystemTime, SystemTime),
    /// The files it read outside its key (when traced), with their digests when it ended.
    undeclared: Vec<(String, Digest)>,
}

/// Records a step that ran: checks nothing it read changed while it ran, queues its action
/// cache entry (unless something did), history record and metrics for the next group commit
/// (`ledger`; committed at once for a step that took a second or more), then moves its
/// outputs into their views and lists its input copies for the trash. Blocking.
fn record_ran(shared: &Arc<Shared>, ran: Ran) {
    let Ran {
        lock,
        i,
        key,
        record,
        reason,
        outputs,
        written,
        copies,
        run_dir,
        snapshot,
        started_ms,
        elapsed,
        window,
        undeclared,
    } = ran;
    let info = &shared.steps[i];
    let drift = changed_while_running(shared, i, &snapshot)
        .or_else(|| super::inputs::changed(shared, &copies));
    let action = match &drift {
        Some(_) => None,
        None => Some((
            key,
            ActionResult {
                step: info.name.clone(),
                outputs: outputs.iter().map(|(k, v)| (k.clone(), *v)).collect(),
                run_id: shared.run_id,
                created_ms: now_ms(),
                manifests: {
                    let known = shared.manifests.lock().unwrap_or_else(|e| e.into_inner());
                    outputs
                        .iter()
                        .filter_map(|(k, v)| Some((k.clone(), known.get(v)?.clone())))
                        .collect()
                },
                sources: record.sources.clone(),
                reads: undeclared.clone(),
                origin: None,
            },
        )),
    };
    let reason = match drift {
        Some(what) => {
            let why = format!("{what} changed during the build");
            shared.uncached.store(true, std::sync::atomic::Ordering::Relaxed);
            shared.warn(Some(&info.name), format!("{why}; its result is not cached"));
            format!("{reason}; not cached: {why}")
        }
        None => reason,
    };
    let metrics_text =
        std::fs::read_to_string(metrics_file(shared, &info.name)).unwrap_or_default();
    let (metrics, bad) = history::parse_metrics(&metrics_text);
    for (line, err) in bad {
        shared.warn(Some(&info.name), format!("metrics line {line}: {err}"));
    }
    let shown = metrics.iter().map(|m| (m.name.clone(), m.value)).collect();
    finished(
        shared,
        Outcome {
            step: info.name.clone(),
            status: StepStatus::Ran,
            reason: Some(reason.clone()),
            reused_from: None,
            duration_ms: Some(elapsed.as_millis() as u64),
            key: Some(key.to_hex()),
            stderr_log: None,
            ran: Some(window),
            undeclared_reads: undeclared.into_iter().map(|(p, _)| p).collect(),
        },
        shown,
        None,
    );
    let record = StepRecord {
        key: Some(key.to_hex()),
        key_fields: Some(record.to_json()),
        dirty_reason: Some(reason),
        exit_code: Some(0),
        started_ms: Some(started_ms),
        duration_ms: Some(elapsed.as_millis() as u64),
        outputs: Some(outputs_json(&outputs)),
        log_dir: Some(run_dir.display().to_string()),
        ..StepRecord::bare(shared.run_id, &info.name, StepStatus::Ran)
    };
    let views = written
        .into_iter()
        .filter_map(|(name, dir)| Some((outputs.get(&name).copied()?, name, dir)))
        .collect();
    let entry = ledger::Entry { action, record, metrics, views, _key_lock: lock };
    ledger::submit(shared, entry, elapsed);
    let spent = info.inputs.iter().filter(|(_, t)| matches!(t, Target::Output { .. }));
    let spent: Vec<PathBuf> = spent.map(|(name, _)| input_dir(shared, &info.name, name)).collect();
    shared.spent_inputs.lock().unwrap_or_else(|e| e.into_inner()).extend(spent);
}

struct Prepared {
    spec: ProcessSpec,
    program: exec::Program,
    /// What the step reads on this machine: its snapshot, input copies, data references.
    reads: Vec<PathBuf>,
    outputs: Vec<(String, PathBuf)>,
    snapshot: PathBuf,
    /// Its copies of upstream outputs, checked once it is over.
    copies: Vec<InputCopy>,
}

/// Re-hashes what the step's key was computed from (script and `hash_paths` in the
/// snapshot it ran from, data references in place) and names the first that differs, if
/// any: a result is only cached under a key that describes what the step really read.
fn changed_while_running(shared: &Shared, i: usize, snapshot: &Path) -> Option<String> {
    let fields = &shared.steps[i].fields;
    let same = |path: &Path, want: &Digest| match driver::probe(path, true) {
        Ok(hir::FsState::File(d) | hir::FsState::Dir(Some(d))) => d == *want,
        _ => false,
    };
    // A file keyed by its tokens is compared by its bytes, recorded beside the key.
    let bytes = |path: &str, keyed: &Digest| {
        fields.sources.iter().find(|(p, _)| p == path).map_or(*keyed, |(_, d)| *d)
    };
    if let Some((script, d)) = &fields.script
        && !same(&snapshot.join(script), &bytes(script, d))
    {
        return Some(format!("script {script}"));
    }
    for (module, d) in &fields.modules {
        if !same(&snapshot.join(module), &bytes(module, d)) {
            return Some(format!("helper module {module}"));
        }
    }
    for (path, d) in &fields.hash_paths {
        if !same(&snapshot.join(path), d) {
            return Some(format!("hash_paths {path}"));
        }
    }
    for (input, data, d) in &fields.data_inputs {
        let unchanged = match shared.data.get(data) {
            None => continue,
            Some(DataSource::Here(path)) => same(path, d),
            Some(DataSource::Store(store, inner)) => matches!(
                store.identify(inner, true),
                Ok(hir::FsState::File(now) | hir::FsState::Dir(Some(now))) if now == *d
            ),
        };
        if !unchanged {
            return Some(format!("input {input} (data.{data})"));
        }
    }
    None
}

/// Input name → the path on this machine of the data reference it is bound to, for step
/// `i`: in place for a folder here, else fetched from its datastore into the step's run
/// folder (`data/<input>/`).
async fn data_for(
    shared: &Arc<Shared>,
    i: usize,
    run_dir: &Path,
) -> anyhow::Result<Vec<(String, PathBuf)>> {
    let mut out = Vec::new();
    for (name, target) in &shared.steps[i].inputs {
        let Target::Data(d) = target else { continue };
        let path = match shared.data.get(d) {
            None => anyhow::bail!("data reference {d} has no path"),
            Some(DataSource::Here(p)) => p.clone(),
            Some(DataSource::Store(store, inner)) => {
                let staging = run_dir.join("data").join(name);
                std::fs::create_dir_all(&staging)
                    .with_context(|| format!("creating {}", staging.display()))?;
                let (store, inner, within) = (store.clone(), inner.clone(), staging.clone());
                let fetched = tokio::task::spawn_blocking(move || store.fetch(&inner, &within))
                    .await?
                    .with_context(|| format!("fetching data reference {d}"))?;
                // A store that answers with a path elsewhere would have the step read (and
                // the key vouch for) bytes nobody identified.
                if !fetched.starts_with(&staging) {
                    anyhow::bail!(
                        "fetching data reference {d}: the datastore answered {}, outside {}",
                        fetched.display(),
                        staging.display()
                    );
                }
                fetched
            }
        };
        out.push((name.clone(), path));
    }
    Ok(out)
}

/// Snapshot, inputs, output folders, interpreter, argv. `here`: the step runs on this
/// machine (its environment is made here; else the target makes it where the job runs).
async fn prepare_step(
    shared: &Arc<Shared>,
    i: usize,
    run_dir: &Path,
    here: bool,
) -> anyhow::Result<Prepared> {
    let info = &shared.steps[i];
    let src_rel = hir::paths::normalize(info.step.source_directory());
    let snapshot = snapshot(shared, &src_rel).await?;
    let copies = super::inputs::lay_out(shared, i).await?;
    let data = data_for(shared, i, run_dir).await?;
    let mut paths: HashMap<(Kind, String), String> = HashMap::new();
    for (name, p) in &data {
        paths.insert((Kind::Inputs, name.clone()), abs_string(p));
    }
    for c in &copies {
        paths.insert((Kind::Inputs, c.input.clone()), abs_string(&c.dir));
    }
    let mut outputs = Vec::new();
    for o in &info.step.outputs {
        let dir = output_dir(shared, &info.name, &o.value);
        create_fresh_dir(&dir).with_context(|| format!("creating {}", dir.display()))?;
        paths.insert((Kind::Outputs, o.value.clone()), abs_string(&dir));
        outputs.push((o.value.clone(), dir));
    }
    let expand = |t: &str| {
        template::expand(t, |k, n| match k {
            Kind::Params => shared.params.get(n).cloned(),
            _ => paths.get(&(k, n.to_owned())).cloned(),
        })
    };
    let mut argv: Vec<OsString> = Vec::new();
    let mut program = exec::Program::Given;
    if let Some(script) = &info.step.script {
        let script_path = snapshot.join(&script.value);
        match Path::new(&script.value).extension().and_then(|e| e.to_str()) {
            Some("py") if here => argv.extend([
                python_for(shared, info).await?.into_os_string(),
                script_path.into_os_string(),
            ]),
            Some("py") => {
                program = exec::Program::Python(environment_of(shared, info)?);
                argv.extend(["python3".into(), script_path.into_os_string()]);
            }
            Some("sh") => {
                program = exec::Program::Shell;
                argv.extend([shell().into_os_string(), script_path.into_os_string()]);
            }
            _ => argv.push(script_path.into_os_string()),
        }
    }
    if let Some(cmd) = &info.step.command {
        argv.extend(cmd.iter().map(|c| OsString::from(expand(&c.value))));
    }
    argv.extend(info.step.arguments.iter().map(|a| OsString::from(expand(&a.value))));
    let mut env: Vec<(OsString, OsString)> = vec![
        ("RUNNER_METRICS".into(), metrics_file(shared, &info.name).into_os_string()),
        ("RUNNER_RUN_ID".into(), shared.run_id.to_string().into()),
        ("RUNNER_STEP".into(), info.name.clone().into()),
        ("PYTHONDONTWRITEBYTECODE".into(), "1".into()),
    ];
    env.extend(
        info.step
            .env
            .iter()
            .map(|(k, v)| (OsString::from(&k.value), OsString::from(expand(&v.value)))),
    );
    // Last, so a step's own `env` cannot drop it: the supervisor finds the step's processes by it.
    env.push((exec::supervise::TAG_VAR.into(), shared.tag.as_str().into()));
    shared.supervise();
    let mut reads = vec![snapshot.clone()];
    reads.extend(copies.iter().map(|c| c.dir.clone()));
    reads.extend(data.into_iter().map(|(_, p)| p));
    Ok(Prepared {
        reads,
        program,
        spec: ProcessSpec {
            argv,
            cwd: snapshot.clone(),
            env,
            stdout_path: run_dir.join("stdout.log"),
            stderr_path: run_dir.join("stderr.log"),
            timeout: info.step.timeout.map(Duration::from_secs),
            grace: Duration::from_secs(5),
        },
        outputs,
        snapshot,
        copies,
    })
}

/// [`make_dir`], and empty: an empty `dir` (made ahead, see [`prepare_ahead`]) is taken as it
/// is, anything else there is removed first.
fn create_fresh_dir(dir: &Path) -> std::io::Result<()> {
    if make_dir(dir)? || cache::is_empty_dir(dir) {
        return Ok(());
    }
    std::fs::remove_dir_all(dir)?;
    std::fs::create_dir(dir)
}

/// The file a step appends its metrics to (`RUNNER_METRICS`): `runs/<id>/metrics/<step>.txt`.
fn metrics_file(shared: &Shared, step: &str) -> PathBuf {
    run_folder(shared, &shared.metrics_dir, "metrics").join(format!("{step}.txt"))
}

/// Where input `name` of `step` is laid out: `runs/<id>/inputs/<step>.<name>` (names have no
/// dots, see `E0111 invalid-name`). One folder per input, in one folder per run: folder
/// creations are what a step's preparation costs most.
pub(super) fn input_dir(shared: &Shared, step: &str, name: &str) -> PathBuf {
    run_folder(shared, &shared.inputs_dir, "inputs").join(format!("{step}.{name}"))
}

/// `runs/<id>/<name>/`, created the first time it is asked for (`cell` remembers it).
fn run_folder<'a>(shared: &Shared, cell: &'a std::sync::OnceLock<PathBuf>, name: &str) -> &'a Path {
    cell.get_or_init(|| {
        let dir = shared.state.join("runs").join(shared.run_id.to_string()).join(name);
        let _ = std::fs::create_dir_all(&dir);
        dir
    })
}

/// Where a step writes output `name` while it runs: `.runner/outputs/.STEP.OUTPUT.runID`,
/// next to the view it becomes by a rename when the step succeeds (see `views::publish_all`).
pub(super) fn output_dir(shared: &Shared, step: &str, name: &str) -> PathBuf {
    shared.state.join("outputs").join(format!(".{step}.{name}.run{}", shared.run_id))
}

/// Moves what a failed step wrote into its run folder (`runs/<id>/<step>/outputs/<name>`),
/// where its logs are, leaving the previous view alone.
fn keep_partial_outputs(shared: &Shared, info: &StepInfo, run_dir: &Path) {
    for o in &info.step.outputs {
        let written = output_dir(shared, &info.name, &o.value);
        if written.exists() {
            let kept = run_dir.join("outputs").join(&o.value);
            let moved = std::fs::create_dir_all(run_dir.join("outputs"))
                .and_then(|()| std::fs::rename(&written, &kept));
            if moved.is_err() {
                let _ = std::fs::remove_dir_all(&written);
            }
        }
    }
}

/// `sh` as found on `PATH`, looked up once per process (the child would otherwise try every
/// `PATH` entry with its own `execve`, for every step).
fn shell() -> PathBuf {
    static SH: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    SH.get_or_init(|| {
        std::env::var_os("PATH")
            .and_then(|path| {
                std::env::split_paths(&path).map(|d| d.join("sh")).find(|p| p.is_file())
            })
            .unwrap_or_else(|| PathBuf::from("sh"))
    })
    .clone()
}

fn abs_string(p: &Path) -> String {
    std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf()).display().to_string()
}

/// The run's snapshot of `source_directory` (taken once per run and folder).
async fn snapshot(shared: &Arc<Shared>, src_rel: &str) -> anyhow::Result<PathBuf> {
    let mut snaps = shared.snapshots.lock().await;
    if let Some(p) = snaps.get(src_rel) {
        return Ok(p.clone());
    }
    let src = if src_rel == "." {
        shared.project_root.clone()
    } else {
        shared.project_root.join(src_rel)
    };
    let label = if src_rel == "." {
        "_root".to_owned()
    } else {
        src_rel.replace('/', "_").replace("..", "_up_")
    };
    let dest =
        shared.state.join("runs").join(shared.run_id.to_string()).join("snapshots").join(label);
    let skip = data_in_source(shared, src_rel, &src);
    let (s, d) = (src.clone(), dest.clone());
    tokio::task::spawn_blocking(move || {
        cache::copy_tree_except(&s, &d, cache::IgnoreRules::Snapshot, &skip)
    })
    .await?
    .with_context(|| format!("snapshotting {}", src.display()))?;
    let dest = std::path::absolute(&dest)?;
    snaps.insert(src_rel.to_owned(), dest.clone());
    Ok(dest)
}

/// The data references inside source folder `src` (as paths relative to it) that its
/// snapshot leaves out: a step reads a data reference in place, through
/// `${inputs.<name>}`, so copying it (a data folder can hold gigabytes) would only cost time
/// and disk. One that a step of this folder hashes as its script or under `hash_paths` (or
/// that holds one) stays in: the step's key and drift check read those in the snapshot.
fn data_in_source(shared: &Shared, src_rel: &str, src: &Path) -> Vec<String> {
    let hashed: std::collections::BTreeSet<String> = shared
        .steps
        .iter()
        .filter(|s| hir::paths::normalize(s.step.source_directory()) == src_rel)
        .flat_map(|s| {
            let script = s.fields.script.iter().map(|(p, _)| hir::paths::normalize(p));
            script.chain(s.fields.hash_paths.iter().map(|(p, _)| hir::paths::normalize(p)))
        })
        .collect();
    // One holds the other, component by component (`.` holds everything).
    let overlaps = |h: &str, rel: &str| {
        h == "." || Path::new(h).starts_with(rel) || Path::new(rel).starts_with(h)
    };
    shared
        .data
        .values()
        .filter_map(|d| match d {
            DataSource::Here(p) => p.strip_prefix(src).ok(),
            DataSource::Store(..) => None,
        })
        .filter_map(|rel| rel.to_str().map(hir::paths::normalize))
        .filter(|rel| rel != "." && !hashed.iter().any(|h| overlaps(h, rel)))
        .collect()
}

/// Step `info`'s environment, for a target that makes it where the step runs (`None`: the
/// bare interpreter).
fn environment_of(shared: &Shared, info: &StepInfo) -> anyhow::Result<Option<exec::Environment>> {
    let Some(env) = &info.step.environment else { return Ok(None) };
    let (python, requirements) = shared
        .envs
        .get(&env.value)
        .cloned()
        .with_context(|| format!("no environment {}", env.value))?;
    let digest = info.fields.environment.as_ref().map(|(_, d)| d.to_hex()).unwrap_or_default();
    Ok(Some(exec::Environment { name: env.value.clone(), digest, python, requirements }))
}

/// The Python a `.py` script runs with: its environment's, built on first use.
async fn python_for(shared: &Arc<Shared>, info: &StepInfo) -> anyhow::Result<PathBuf> {
    let Some(env) = environment_of(shared, info)? else { return Ok(PathBuf::from("python3")) };
    let mut built = shared.built_envs.lock().await;
    if let Some(p) = built.get(&env.name) {
        return Ok(p.clone());
    }
    let (state, sink, name) = (shared.state.clone(), shared.sink.clone(), env.name.clone());
    let p = tokio::task::spawn_blocking(move || {
        let req = env.requirements.as_deref();
        crate::envs::ensure(&state, &env.name, &env.python, req, &env.digest, &*sink)
    })
    .await??;
    built.insert(name, p.clone());
    Ok(p)
}
