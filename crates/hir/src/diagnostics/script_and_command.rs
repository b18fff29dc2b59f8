//! Diagnostic: `E0105 script-and-command`.
//!
//! A step gives both `script` and `command`; it must choose one.

use syntax::Span;

use super::{Code, Diagnostic};

/// Both given: points at `command`, related to `script`.
pub(crate) fn new(command: Span, script: Span) -> Diagnostic {
    Diagnostic::new(Code::ScriptAndCommand, command, "a step takes `script` or `command`, not both")
        .with_related(script, "`script` given here")
}

#[cfg(test)]
mod tests {
    use expect_test::expect;

    use crate::tests::check;

    #[test]
    fn both_given() {
        check(
            r#"
//- /pipeline.toml
[steps.a]
script = "a.py"
command = ["true"]
//- /a.py
"#,
            expect![[r#"
                error[E0105] 3:11-3:19: a step takes `script` or `command`, not both
                  related 2:10-2:16: `script` given here
            "#]],
        );
    }
}
