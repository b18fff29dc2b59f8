//! Diagnostic: `E0107 unknown-placeholder`.
//!
//! A `${…}` in `arguments`, `command` or `env` that is not `${inputs.NAME}`,
//! `${outputs.NAME}` or `${params.NAME}` for a name the step declares, or a `${` left
//! open. (A literal `${` is written `$${`.)

use syntax::Span;

use super::{Code, Diagnostic};

/// The placeholder's kind is not inputs/outputs/params, or it is malformed.
pub(crate) fn bad_form(span: Span, placeholder: &str) -> Diagnostic {
    Diagnostic::new(Code::UnknownPlaceholder, span, format!("unknown placeholder `{placeholder}`"))
        .with_help("placeholders are `${inputs.NAME}`, `${outputs.NAME}` and `${params.NAME}`; write `$${` for a literal `${`")
}

/// `${inputs.X}` / `${outputs.X}` naming something the step does not declare; `closest`
/// is the declared name to suggest, if one is close.
pub(crate) fn undeclared(
    span: Span,
    placeholder: &str,
    what: &str,
    name: &str,
    closest: Option<&str>,
) -> Diagnostic {
    let d = Diagnostic::new(
        Code::UnknownPlaceholder,
        span,
        format!("unknown placeholder `{placeholder}`: the step declares no {what} `{name}`"),
    );
    match closest {
        Some(c) => d.with_help(format!("did you mean `{c}`?")),
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

    /// A step of many inputs (an index, not a scan per placeholder).
    #[test]
    fn many_declared_inputs() {
        let inputs: Vec<String> = (0..40).map(|i| format!("in_{i} = \"data.d\"")).collect();
        let used: Vec<String> = (0..40).map(|i| format!("\"${{inputs.in_{i}}}\"")).collect();
        let text = format!(
            "[data.d]\npath = \"d\"\n[steps.a]\ncommand = [{}, \"${{inputs.ni_7}}\", \"${{inputs.zzz}}\"]\ninputs = {{ {} }}\n",
            used.join(", "),
            inputs.join(", ")
        );
        let (db, file, _) = crate::tests::load(&text);
        let diags = crate::file_diagnostics(&db, file);
        let rendered: Vec<String> = diags
            .iter()
            .filter(|d| d.code == crate::Code::UnknownPlaceholder)
            .map(|d| format!("{} / {:?}", d.message, d.help))
            .collect();
        expect![[r#"
            [
                "unknown placeholder `${inputs.ni_7}`: the step declares no input `ni_7` / Some(\"did you mean `in_7`?\")",
                "unknown placeholder `${inputs.zzz}`: the step declares no input `zzz` / Some(\"declare it in `inputs` first\")",
            ]
        "#]]
        .assert_debug_eq(&rendered);
    }
}
