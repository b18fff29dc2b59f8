//! Diagnostic: `E0108 duplicate-output`.
//!
//! A step lists the same output name twice. Outputs are folders named by the step and the
//! output, so two with one name would be one folder written twice.

use syntax::Span;

use super::{Code, Diagnostic};

/// `name` declared again at `span`, first at `first`.
pub(crate) fn new(span: Span, first: Span, name: &str) -> Diagnostic {
    Diagnostic::new(Code::DuplicateOutput, span, format!("output `{name}` is declared twice"))
        .with_related(first, "first declared here")
}

#[cfg(test)]
mod tests {
    use expect_test::expect;

    use crate::tests::check;

    #[test]
    fn same_output_twice() {
        check(
            r#"
[steps.a]
command = ["sh", "-c", "true", "${outputs.model}"]
outputs = ["model", "model"]
"#,
            expect![[r#"
                error[E0108] 3:21-3:28: output `model` is declared twice
                  related 3:12-3:19: first declared here
            "#]],
        );
    }
}
