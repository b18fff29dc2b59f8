//! Diagnostic: `E0102 unresolved-reference`.
//!
//! A reference names something the file does not define: a data reference, a step, a
//! step's output, a parameter, a compute target, an environment or a datastore.

use syntax::Span;

use super::{Code, Diagnostic, did_you_mean};

/// No `kind` (a noun: "data reference", "step", …) named `name`; `written` is the
/// reference as written; `known` are the names that do exist, for a suggestion.
pub(crate) fn new(span: Span, written: &str, kind: &str, name: &str, known: &[&str]) -> Diagnostic {
    let d = Diagnostic::new(
        Code::UnresolvedReference,
        span,
        format!("unresolved reference `{written}`: no {kind} named `{name}`"),
    );
    match did_you_mean(name, known.iter().copied()) {
        Some(help) => d.with_help(help),
        None if known.is_empty() => d,
        None => d.with_help(format!("known: {}", known.join(", "))),
    }
}

#[cfg(test)]
mod tests {
    use expect_test::expect;

    use crate::tests::check;

    #[test]
    fn every_kind_of_reference() {
        check(
            r#"
//- /pipeline.toml
[data.digits]
path = "d.csv"
[steps.prep]
command = ["sh", "-c", "true", "${outputs.split}"]
outputs = ["split"]
[steps.train]
command = ["cat", "${inputs.a}", "${inputs.b}", "${inputs.c}", "${params.seeed}"]
inputs = { a = "data.digit", b = "steps.prepp.outputs.split", c = "steps.prep.outputs.splitt" }
environment = "sklearn"
compute = "gpu"
[data.x]
datastore = "blob"
path = "x"
//- /d.csv
"#,
            expect![[r#"
                warning[W0202] 1:7-1:13: data reference `digits` is never used
                  help: bind it as a step input: `inputs = { x = "data.digits" }`
                error[E0102] 7:64-7:81: unresolved reference `${params.seeed}`: no parameter named `seeed`
                error[E0102] 8:16-8:28: unresolved reference `data.digit`: no data reference named `digit`
                  help: did you mean `digits`?
                error[E0102] 8:34-8:61: unresolved reference `steps.prepp.outputs.split`: no step named `prepp`
                  help: did you mean `prep`?
                error[E0102] 8:67-8:94: unresolved reference `steps.prep.outputs.splitt`: no output named `splitt`
                  help: did you mean `split`?
                error[E0102] 9:15-9:24: unresolved reference `sklearn`: no environment named `sklearn`
                error[E0102] 10:11-10:16: unresolved reference `gpu`: no compute target named `gpu`
                  help: known: local
                warning[W0202] 11:7-11:8: data reference `x` is never used
                  help: bind it as a step input: `inputs = { x = "data.x" }`
                error[E0102] 12:13-12:19: unresolved reference `blob`: no datastore named `blob`
                  help: known: workspace
            "#]],
        );
    }
}
