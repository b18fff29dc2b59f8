//! Diagnostic: `E0109 cycle`.
//!
//! Steps that depend on each other through their inputs, so none can run first. Reported
//! once per cycle, at the first step of the cycle in the file, naming the whole path, with
//! every other step of the cycle as a related location.

use syntax::Span;

use super::{Code, Diagnostic};

/// A cycle through `names` (in dependency order, first repeated at the end in the
/// message); `spans[i]` is where step `names[i]` is named.
pub(crate) fn new(names: &[String], spans: &[Span]) -> Diagnostic {
    let mut path = names.join(" → ");
    path.push_str(&format!(" → {}", names[0]));
    let mut d = Diagnostic::new(Code::Cycle, spans[0], format!("cycle between steps: {path}"))
        .with_help("a step cannot consume its own output, directly or through other steps");
    for (name, span) in names.iter().zip(spans).skip(1) {
        d = d.with_related(*span, format!("`{name}` is part of the cycle"));
    }
    d
}

#[cfg(test)]
mod tests {
    use expect_test::expect;

    use crate::tests::check;

    #[test]
    fn three_step_cycle_and_self_loop() {
        check(
            r#"
[steps.a]
command = ["cp", "-r", "${inputs.x}", "${outputs.o}"]
inputs = { x = "steps.c.outputs.o" }
outputs = ["o"]
[steps.b]
command = ["cp", "-r", "${inputs.x}", "${outputs.o}"]
inputs = { x = "steps.a.outputs.o" }
outputs = ["o"]
[steps.c]
command = ["cp", "-r", "${inputs.x}", "${outputs.o}"]
inputs = { x = "steps.b.outputs.o" }
outputs = ["o"]
[steps.self]
command = ["cp", "-r", "${inputs.x}", "${outputs.o}"]
inputs = { x = "steps.self.outputs.o" }
outputs = ["o"]
"#,
            expect![[r#"
                error[E0109] 1:8-1:9: cycle between steps: a → b → c → a
                  help: a step cannot consume its own output, directly or through other steps
                  related 5:8-5:9: `b` is part of the cycle
                  related 9:8-9:9: `c` is part of the cycle
                error[E0109] 13:8-13:12: cycle between steps: self → self
                  help: a step cannot consume its own output, directly or through other steps
            "#]],
        );
    }
}
