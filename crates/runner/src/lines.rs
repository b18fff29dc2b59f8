//! A build's events ([`engine::Event`]) as `runner build` and `runner watch` print them:
//! one line per step on stderr (`running train  (params.C 1.0 → 0.5)`, `ran train  in
//! 1.38s  accuracy=0.97`), the live progress bar on a terminal, warnings and errors.

use engine::{Event, StepEnd};
use history::StepStatus;

/// How much of a build to print.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Level {
    /// `runner build`'s human output: a header, a line per step, failure log tails, the
    /// progress bar on a terminal.
    Full,
    /// Steps starting (with their reasons), environment builds, warnings and errors:
    /// `runner watch` prints its own summary of each cycle.
    Running,
    /// Warnings and errors only (`--format json`: the document goes to stdout at the end).
    Quiet,
}

/// An [`engine::Sink`] that prints events at a [`Level`].
pub(crate) struct Lines(pub(crate) Level);

impl engine::Sink for Lines {
    fn event(&self, event: Event) {
        let full = self.0 == Level::Full;
        let running = self.0 != Level::Quiet;
        match event {
            Event::Started { run, pipeline, experiment, steps } if full => {
                let s = if steps == 1 { "" } else { "s" };
                line(format!(
                    "build {pipeline}: run {run} in experiment {experiment}, {steps} step{s}"
                ));
                if crate::progress::wanted() {
                    crate::progress::start(steps);
                }
            }
            Event::Waiting { step } if full => {
                line(format!("{:>9} {step}  (a concurrent build is running it)", "waiting"));
            }
            Event::Running { step, reason } => {
                if running {
                    line(format!("{:>9} {step}  ({reason})", "running"));
                }
                crate::progress::running(&step, true);
            }
            Event::Exited { step } => crate::progress::running(&step, false),
            Event::Finished(end) => {
                crate::progress::done();
                if full {
                    finished(&end);
                }
            }
            Event::Environment { name, requirements, dir } if running => {
                let what = requirements.map_or(String::new(), |r| format!(" from {}", r.display()));
                line(format!(
                    "    build environment {name}{what} in {} (once per requirements digest, for every project)",
                    dir.display()
                ));
            }
            Event::EnvironmentOutput { line: l, .. } if running => {
                line(format!("          | {l}"));
            }
            Event::EnvironmentReady { name, seconds } if running => {
                line(format!("    environment {name} ready in {seconds:.1}s"));
            }
            Event::Warning { step: Some(step), message } => {
                line(format!("  warning {step}: {message}"));
            }
            Event::Warning { step: None, message } => line(format!("runner: {message}")),
            Event::Error { step: Some(step), message } => {
                line(format!("    error {step}: {message}"))
            }
            Event::Error { step: None, message } => line(format!("runner: error: {message}")),
            _ => {}
        }
    }
}

/// `from run N` for a result made by run N of this project's history; `None` for one taken
/// from the shared cache (run 0: no run of this history made it).
pub(crate) fn reused_from_text(run: Option<i64>) -> Option<String> {
    run.filter(|r| *r > 0).map(|r| format!("from run {r}"))
}

/// A step's outcome, as `runner build` prints it.
fn finished(end: &StepEnd) {
    let StepEnd { step, status, reason, reused_from, seconds, metrics, log_tail } = end;
    match status {
        StepStatus::Reused => {
            let why = match (reused_from_text(*reused_from), reason) {
                (Some(from), Some(w)) => format!("{from}, {w}"),
                (Some(from), None) => from,
                (None, Some(w)) => w.clone(),
                (None, None) => "from the shared cache".to_owned(),
            };
            line(format!("{:>9} {step}  ({why})", "reused"));
        }
        StepStatus::Ran => {
            let m: Vec<String> =
                metrics.iter().map(|(n, v)| format!("{n}={}", metric_value(*v))).collect();
            let m = if m.is_empty() { String::new() } else { format!("  {}", m.join(" ")) };
            line(format!("{:>9} {step}  in {:.2}s{m}", "ran", seconds.unwrap_or(0.0)));
        }
        _ => {
            let why = reason.as_deref().unwrap_or("");
            let mut text = format!("{:>9} {step}  ({why})", status.as_str());
            if let Some((tail, log)) = log_tail {
                for l in tail.lines() {
                    text.push_str(&format!("\n          | {l}"));
                }
                text.push_str(&format!("\n          log: {}", log.display()));
            }
            line(text);
        }
    }
}

/// A metric's value for people: 4 significant digits (`0.9722`, `12.35`), trailing zeros
/// dropped; values of 10,000 and more, zero and non-finite values as they are. The JSON
/// documents and `runner show --format json` keep every digit.
pub(crate) fn metric_value(v: f64) -> String {
    if !v.is_finite() || v == 0.0 || v.abs() >= 1e4 {
        return format!("{v}");
    }
    let decimals = (3 - v.abs().log10().floor() as i32).max(0) as usize;
    let s = format!("{v:.decimals$}");
    if s.contains('.') { s.trim_end_matches('0').trim_end_matches('.').to_owned() } else { s }
}

/// Prints `text` as one write (see `progress::line`).
pub(crate) fn line(text: String) {
    crate::progress::line(text);
}

#[cfg(test)]
mod tests {
    use super::metric_value;

    #[test]
    fn metrics_with_four_significant_digits() {
        let cases = [
            (0.972_222_2, "0.9722"),
            (0.5, "0.5"),
            (12.345_6, "12.35"),
            (0.000_123_456, "0.0001235"),
            (1234.56, "1235"),
            (-4.567_89, "-4.568"),
            (123_456.0, "123456"),
            (0.0, "0"),
            (f64::NAN, "NaN"),
        ];
        for (v, want) in cases {
            assert_eq!(metric_value(v), want, "{v}");
        }
    }
}
