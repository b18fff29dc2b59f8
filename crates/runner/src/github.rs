//! `runner build --format github`: a build as GitHub Actions sees it. Besides the human
//! lines on stderr, stdout gets workflow commands: the pipeline's diagnostics (as `runner
//! check --format github`), `::error` for a step that failed (at its `[steps.NAME]` header,
//! with its log's last lines), `::notice` for a step that ran (with why), `::warning` for
//! each file a traced step read outside its key (at its header); and when
//! `GITHUB_STEP_SUMMARY` names a file, a Markdown table of the steps (status, time, why,
//! metrics) is appended to it. Source: GitHub's "Workflow commands for GitHub Actions"
//! (`::error file=…,line=…,title=…::message`, `%`, CR and LF escaped in messages, also `:`
//! and `,` in properties) and "Adding a job summary".

use std::fmt::Write as _;
use std::io::Write as _;

use driver::Project;
use engine::BuildSummary;
use history::StepStatus;

/// `%`, CR and LF escaped, as a workflow command's message must be.
fn esc(s: &str) -> String {
    s.replace('%', "%25").replace('\r', "%0D").replace('\n', "%0A")
}

/// A property value (`file=`, `title=`): also `:` and `,`.
fn prop(s: &str) -> String {
    esc(s).replace(':', "%3A").replace(',', "%2C")
}

/// The workflow commands for `summary`'s steps: `project` (when the build loaded it) gives
/// each step's header line.
pub(crate) fn annotations(summary: &BuildSummary, project: Option<&Project>) -> String {
    let line_of = |step: &str| -> Option<usize> {
        let p = project?;
        let items = driver::steps_by_name(&p.db, p.file);
        let item = items.get(step)?;
        let at = item.name_span(&p.db).start as usize;
        Some(p.text().get(..at)?.matches('\n').count() + 1)
    };
    let file = project.map(|p| p.display.clone()).unwrap_or_default();
    let mut out = String::new();
    for o in &summary.outcomes {
        for path in &o.undeclared_reads {
            let mut props =
                vec![format!("title={}", prop(&format!("step {} read outside its key", o.step)))];
            if let Some(line) = line_of(&o.step) {
                props.insert(0, format!("file={},line={line}", prop(&file)));
            }
            let msg = format!(
                "step {} read {path}, which is not part of its key; add it to hash_paths or inputs",
                o.step
            );
            let _ = writeln!(out, "::warning {}::{}", props.join(","), esc(&msg));
        }
        let (level, title) = match o.status {
            StepStatus::Failed => ("error", format!("step {} failed", o.step)),
            StepStatus::Ran => ("notice", format!("step {} ran", o.step)),
            _ => continue,
        };
        let mut msg = o.reason.clone().unwrap_or_default();
        if o.status == StepStatus::Failed
            && let Some(log) = &o.stderr_log
        {
            let tail = exec::tail_lines(log, 10);
            if !tail.is_empty() {
                msg.push('\n');
                msg.push_str(&tail);
            }
        }
        let mut props = vec![format!("title={}", prop(&title))];
        if let Some(line) = line_of(&o.step) {
            props.insert(0, format!("file={},line={line}", prop(&file)));
        }
        let _ = writeln!(out, "::{level} {}::{}", props.join(","), esc(&msg));
    }
    out
}

/// The job summary: a Markdown table of the steps, their status, time, why they ran or
/// where their result came from, and their metrics (from the run's history).
pub(crate) fn step_summary(
    summary: &BuildSummary,
    metrics: &[(String, history::Metric)],
) -> String {
    let cell = |s: &str| s.replace('|', "\\|").replace('\n', " ");
    let mut out = format!(
        "### runner build {}: run {} {}\n\n| step | status | time | why | metrics |\n|---|---|---:|---|---|\n",
        cell(&summary.pipeline),
        summary.run_id,
        summary.status.as_str()
    );
    for o in &summary.outcomes {
        let time =
            o.duration_ms.map(|ms| format!("{:.2} s", ms as f64 / 1000.0)).unwrap_or_default();
        let why = match (o.status, o.reused_from) {
            (StepStatus::Reused, Some(run)) if run > 0 => format!("reused from run {run}"),
            _ => o.reason.clone().unwrap_or_default(),
        };
        let m: Vec<String> = metrics
            .iter()
            .filter(|(s, _)| *s == o.step)
            .map(|(_, m)| format!("{}={}", m.name, crate::lines::metric_value(m.value)))
            .collect();
        let _ = writeln!(
            out,
            "| {} | {} | {time} | {} | {} |",
            cell(&o.step),
            o.status.as_str(),
            cell(&why),
            cell(&m.join(", "))
        );
    }
    out
}

/// Appends the job summary to `$GITHUB_STEP_SUMMARY`, when it is set.
///
/// Errors: the file cannot be opened or written.
pub(crate) fn write_step_summary(
    summary: &BuildSummary,
    project_state: &std::path::Path,
) -> anyhow::Result<()> {
    let Some(path) = std::env::var_os("GITHUB_STEP_SUMMARY") else { return Ok(()) };
    let metrics = history::History::open(&project_state.join("history.sqlite"))
        .and_then(|h| h.metrics(summary.run_id, None))
        .unwrap_or_default();
    let mut f = std::fs::OpenOptions::new().create(true).append(true).open(&path)?;
    f.write_all(step_summary(summary, &metrics).as_bytes())?;
    Ok(())
}
