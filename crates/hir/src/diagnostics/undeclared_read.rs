//! Diagnostic: `W0206 undeclared-read`, a warning found by running, not by reading the file.
//!
//! A step traced while it ran (`trace_reads`, `--trace-reads`) opened a file under the
//! project that is not part of its key: not its script, a helper module, a `hash_paths`
//! entry, an input or a data reference. Its result was cached under a key that does not
//! cover that file, so an edit to it would not rerun the step. The checker cannot see this
//! (no IO); the language server reports it for the step's last successful run, at the
//! step's header, from the list the build kept in that run's folder.

use syntax::Span;

use super::{Code, Diagnostic};

/// The warning for step `step`, whose header name is at `span`, having read `path`
/// (relative to the pipeline's folder).
pub fn new(span: Span, step: &str, path: &str) -> Diagnostic {
    Diagnostic::new(
        Code::UndeclaredRead,
        span,
        format!("step {step} read {path}, which is not part of its key"),
    )
    .with_help(format!("add `{path}` to hash_paths (relative to source_directory) or inputs"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_the_step_and_the_file() {
        let d = new(Span::new(1, 6), "train", "src/config.txt");
        assert_eq!(d.code.as_str(), "W0206");
        assert_eq!(d.severity(), crate::Severity::Warning);
        assert_eq!(d.message, "step train read src/config.txt, which is not part of its key");
        assert!(d.help.as_deref().unwrap().contains("hash_paths"));
    }
}
