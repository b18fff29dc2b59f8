//! Diagnostic: `E0107 unknown-placeholder`.
//!
//! A `${…}` in `arguments`, `command` or `env` that is not `${inputs.NAME}`,
//! `${outputs.NAME}` or `${params.NAME}` for a name the step declares, or a `${` left
//! open. (A literal `${` is written `$${`.)

use syntax::Span;

use super::{Code, Diagnostic, did_you_mean};

/// The placeholder's kind is not inputs/outputs/params, or it is malformed.
pub(crate) fn bad_form(span: Span, placeholder: &str) -> Diagnostic {
    Diagnostic::new(Code::UnknownPlaceholder, span, format!("unknown placeholder `{placeholder}`"))
        .with_help("placeholders are `${inputs.NAME}`, `${outputs.NAME}` and `${params.NAME}`; write `$${` for a literal `${`")
}

/// `${inputs.X}` / `${outputs.X}` naming something the step does not declare.
pub(crate) fn undeclared(
    span: Span,
    placeholder: &str,
    what: &str,
    name: &str,
    declared: &[&str],
) -> Diagnostic {
    let d = Diagnostic::new(
        Code::UnknownPlaceholder,
        span,
        format!("unknown placeholder `{placeholder}`: the step declares no {what} `{name}`"),
    );
    match did_you_mean(name, declared.iter().copied()) {
        Some(help) => d.with_help(help),
        None => d.with_help(format!("declare it in `{what}s` first")),
    }
}

#[cfg(test)]
mod tests {
    use expect_test::expect;

    use crate::tests::check;

    #[test]
    fn unknown_and_undeclared() {
        check(
            r#"
[steps.a]
command = ["echo", "${input.x}", "${outputs.modle}", "${params", "cost: $${HOME}"]
outputs = ["model"]
"#,
            expect![[r#"
                error[E0107] 2:20-2:32: unknown placeholder `${input.x}`
                  help: placeholders are `${inputs.NAME}`, `${outputs.NAME}` and `${params.NAME}`; write `$${` for a literal `${`
                error[E0107] 2:34-2:52: unknown placeholder `${outputs.modle}`: the step declares no output `modle`
                  help: did you mean `model`?
                error[E0107] 2:54-2:64: unknown placeholder `${params`
                  help: placeholders are `${inputs.NAME}`, `${outputs.NAME}` and `${params.NAME}`; write `$${` for a literal `${`
                warning[W0203] 3:12-3:19: output `model` is never passed to the step
                  help: add `"${outputs.model}"` to `arguments` so the step knows where to write it
            "#]],
        );
    }
}
