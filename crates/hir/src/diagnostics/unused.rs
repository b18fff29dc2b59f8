//! Diagnostics: `W0201 unused-parameter`, `W0202 unused-data-reference`,
//! `W0203 unused-output`, `W0204 unused-input`.
//!
//! Declared but never used: a parameter no step's `${params.…}` names, a data reference no
//! step takes as input, an output the step is never told about (no `${outputs.NAME}`, so
//! it cannot know where to write), an input the step is never told about (no
//! `${inputs.NAME}`). The last two are per step; the first two need every step.

use syntax::Span;

use super::{Code, Diagnostic};
use crate::fxhash::FxHashSet;
use crate::group::GroupChecked;
use crate::{Db, ItemKind, Items};

/// The parameters and data references the steps use, gathered while
/// [`super::diagnostics`] goes over them.
#[derive(Default)]
pub(crate) struct Used<'a> {
    params: FxHashSet<&'a str>,
    data: FxHashSet<&'a str>,
}

impl<'a> Used<'a> {
    /// Records what one group's steps use.
    pub(crate) fn add(&mut self, group: &'a GroupChecked) {
        self.params.extend(group.params_used.iter().map(String::as_str));
        self.data.extend(group.data_used.iter().map(String::as_str));
    }
}

/// W0201/W0202 for the whole file, absolute spans.
pub(crate) fn unused_items(db: &dyn Db, items: &Items<'_>, used: &Used<'_>) -> Vec<Diagnostic> {
    let (params, data) = (&used.params, &used.data);
    let mut out = Vec::new();
    for item in items.of_kind(ItemKind::Parameter) {
        let name = item.name(db);
        if !params.contains(name.as_str()) {
            out.push(
                Diagnostic::new(
                    Code::UnusedParameter,
                    item.name_span(db),
                    format!("parameter `{name}` is never used"),
                )
                .with_help(format!("pass it to a step as `${{params.{name}}}`, or remove it")),
            );
        }
    }
    for item in items.of_kind(ItemKind::Data) {
        let name = item.name(db);
        if !data.contains(name.as_str()) {
            out.push(
                Diagnostic::new(
                    Code::UnusedData,
                    item.name_span(db),
                    format!("data reference `{name}` is never used"),
                )
                .with_help(format!(
                    "bind it as a step input: `inputs = {{ x = \"data.{name}\" }}`"
                )),
            );
        }
    }
    out
}

/// W0203: output `name` of a step is never passed to it.
pub(crate) fn output(span: Span, name: &str) -> Diagnostic {
    Diagnostic::new(
        Code::UnusedOutput,
        span,
        format!("output `{name}` is never passed to the step"),
    )
    .with_help(format!(
        "add `\"${{outputs.{name}}}\"` to `arguments` so the step knows where to write it"
    ))
}

/// W0204: input `name` of a step is never passed to it.
pub(crate) fn input(span: Span, name: &str) -> Diagnostic {
    Diagnostic::new(Code::UnusedInput, span, format!("input `{name}` is never passed to the step"))
        .with_help(format!(
            "add `\"${{inputs.{name}}}\"` to `arguments` so the step knows where to read it"
        ))
}

#[cfg(test)]
mod tests {
    use expect_test::expect;

    use crate::tests::check;

    #[test]
    fn unused_parameter_data_input_output() {
        check(
            r#"
//- /pipeline.toml
[parameters]
seed = 42
lr = 0.1
[data.raw]
path = "raw.csv"
[data.extra]
path = "raw.csv"
[steps.a]
command = ["train", "--lr", "${params.lr}"]
inputs = { raw = "data.raw" }
outputs = ["model"]
//- /raw.csv
"#,
            expect![[r#"
                warning[W0201] 2:1-2:5: parameter `seed` is never used
                  help: pass it to a step as `${params.seed}`, or remove it
                warning[W0202] 6:7-6:12: data reference `extra` is never used
                  help: bind it as a step input: `inputs = { x = "data.extra" }`
                warning[W0204] 10:12-10:15: input `raw` is never passed to the step
                  help: add `"${inputs.raw}"` to `arguments` so the step knows where to read it
                warning[W0203] 11:12-11:19: output `model` is never passed to the step
                  help: add `"${outputs.model}"` to `arguments` so the step knows where to write it
            "#]],
        );
    }
}
