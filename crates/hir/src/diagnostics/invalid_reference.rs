//! Diagnostic: `E0106 invalid-reference`.
//!
//! An input's reference is not of either form: `data.NAME` or `steps.STEP.outputs.OUTPUT`.

use syntax::Span;

use super::{Code, Diagnostic};

/// `reference` is malformed.
pub(crate) fn new(span: Span, reference: &str) -> Diagnostic {
    let help = match reference.split('.').collect::<Vec<_>>().as_slice() {
        ["steps", step, output] => format!("write `steps.{step}.outputs.{output}`"),
        _ => "an input is `data.NAME` or `steps.STEP.outputs.OUTPUT`".to_owned(),
    };
    Diagnostic::new(Code::InvalidReference, span, format!("invalid reference `{reference}`"))
        .with_help(help)
}

#[cfg(test)]
mod tests {
    use expect_test::expect;

    use crate::tests::check;

    #[test]
    fn malformed_references() {
        check(
            r#"
[steps.a]
command = ["sh", "-c", "echo > $0/x", "${outputs.o}"]
outputs = ["o"]
[steps.b]
command = ["cat", "${inputs.x}", "${inputs.y}"]
inputs = { x = "steps.a.o", y = "raw.csv" }
"#,
            expect![[r#"
                error[E0106] 6:16-6:27: invalid reference `steps.a.o`
                  help: write `steps.a.outputs.o`
                error[E0106] 6:33-6:42: invalid reference `raw.csv`
                  help: an input is `data.NAME` or `steps.STEP.outputs.OUTPUT`
            "#]],
        );
    }
}
