//! Diagnostic: `N0302 dynamic-import`, a note.
//!
//! A step's Python script (or a helper module it imports) loads code by a name computed at
//! run time: `importlib.import_module(name)`, `__import__(name)`, `exec(...)`. The modules
//! it imports statically are part of the step key (`track_imports`); this one cannot be,
//! so an edit to it would not rerun the step. The note goes on the step's `script`, says
//! where the call is, and tells how to put the module in the key: `hash_paths`.

use syntax::Span;

use super::{Code, Diagnostic};

/// The note for a call `call` at `file:line` (`file` relative to the step's source
/// directory), on the script's value at `span`.
pub(crate) fn new(span: Span, file: &str, line: u32, call: &str) -> Diagnostic {
    Diagnostic::new(
        Code::DynamicImport,
        span,
        format!(
            "{file}:{line} loads code by a computed name (`{call}`): what it loads is not in \
             the step key"
        ),
    )
    .with_help("list the module it loads (or its folder) in `hash_paths`")
}

#[cfg(test)]
mod tests {
    use expect_test::expect;

    use crate::tests::check;

    #[test]
    fn computed_imports_in_the_script_and_its_modules() {
        check(
            r#"
//- /pipeline.toml
[steps.train]
script = "train.py"
source_directory = "src"
[steps.plain]
script = "train.py"
source_directory = "src"
track_imports = false
//- /src/train.py
import importlib, plugins
m = importlib.import_module("fixed.name")
n = importlib.import_module(name)
//- /src/plugins.py
exec(open("extra.py").read())
"#,
            expect![[r#"
                note[N0302] 2:10-2:20: plugins.py:1 loads code by a computed name (`exec`): what it loads is not in the step key
                  help: list the module it loads (or its folder) in `hash_paths`
                note[N0302] 2:10-2:20: train.py:3 loads code by a computed name (`importlib.import_module`): what it loads is not in the step key
                  help: list the module it loads (or its folder) in `hash_paths`
            "#]],
        );
    }
}
