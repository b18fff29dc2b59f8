//! Diagnostic: `E0104 missing-script`.
//!
//! A step says neither what script nor what command to run.

use syntax::Span;

use super::{Code, Diagnostic};

/// Step `name` has neither `script` nor `command`.
pub(crate) fn new(span: Span, name: &str) -> Diagnostic {
    Diagnostic::new(
        Code::MissingScript,
        span,
        format!("step `{name}` has neither `script` nor `command`"),
    )
    .with_help(format!("add `script = \"{name}.py\"` or `command = [\"…\"]`"))
}

#[cfg(test)]
mod tests {
    use expect_test::expect;

    use crate::tests::check;

    #[test]
    fn step_without_script() {
        check(
            r#"
[steps.train]
arguments = ["--x"]
"#,
            expect![[r#"
                error[E0104] 1:8-1:13: step `train` has neither `script` nor `command`
                  help: add `script = "train.py"` or `command = ["…"]`
            "#]],
        );
    }
}
