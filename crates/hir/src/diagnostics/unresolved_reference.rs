//! Diagnostic: `E0102 unresolved-reference`.
//!
//! A reference names something the file does not define: a data reference, a step, a
//! step's output, a parameter, a compute target, an environment or a datastore.

use syntax::Span;

use super::{Code, Diagnostic, shown};

/// When no known name is close, at most this many are listed, then how many more there
/// are: a file can define thousands, and every unresolved reference listing them all
/// makes output (and time, and memory) quadratic in the file.
pub const KNOWN_SHOWN: usize = 10;

/// No `kind` (a noun: "data reference", "step", …) named `name`; `written` is the
/// reference as written; `closest` is the known name to suggest, if one is close, and
/// `known` are the names that do exist (listed, the first few, when none is close).
pub(crate) fn new<'a>(
    span: Span,
    written: &str,
    kind: &str,
    name: &str,
    closest: Option<&str>,
    known: impl ExactSizeIterator<Item = &'a str>,
) -> Diagnostic {
    let d = Diagnostic::new(
        Code::UnresolvedReference,
        span,
        format!("unresolved reference `{written}`: no {kind} named `{name}`"),
    );
    match closest {
        Some(c) => d.with_help(format!("did you mean `{c}`?")),
        None if known.len() == 0 => d,
        None => d.with_help(known_list(known)),
    }
}

/// `known: a, b, c` (names over [`super::MAX_SUGGEST_LEN`] characters shortened), or
/// `known: a, …, j and 990 more`.
fn known_list<'a>(known: impl ExactSizeIterator<Item = &'a str>) -> String {
    let more = known.len().saturating_sub(KNOWN_SHOWN);
    let listed: Vec<_> = known.take(KNOWN_SHOWN).map(shown).collect();
    let mut help = format!("known: {}", listed.join(", "));
    if more > 0 {
        help.push_str(&format!(" and {more} more"));
    }
    help
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

    #[test]
    fn shared_cache_in_an_unknown_datastore() {
        check(
            r#"
[datastores.blob]
kind = "azure_blob"
account = "dev"
container = "data"
[cache]
remote = "blbo"
"#,
            expect![[r#"
                error[E0102] 6:10-6:16: unresolved reference `blbo`: no datastore named `blbo`
                  help: did you mean `blob`?
            "#]],
        );
    }

    /// Many names: the first few are listed, with how many more there are; a long name is
    /// shortened. Among many outputs (an index, not a scan) a typo still finds its output.
    #[test]
    fn many_known_names() {
        let mut text = String::new();
        for i in 0..11 {
            text.push_str(&format!("[steps.s{i}]\ncommand = [\"true\"]\n"));
        }
        let long = "l".repeat(70);
        text.push_str(&format!("[steps.{long}]\ncommand = [\"true\"]\n"));
        let outputs: Vec<String> = (0..40).map(|i| format!("out_{i}")).collect();
        let placeholders: Vec<String> =
            outputs.iter().map(|o| format!("\"${{outputs.{o}}}\"")).collect();
        let declared: Vec<String> = outputs.iter().map(|o| format!("\"{o}\"")).collect();
        text.push_str(&format!(
            "[steps.up]\ncommand = [{}]\noutputs = [{}]\n",
            placeholders.join(", "),
            declared.join(", ")
        ));
        text.push_str(concat!(
            "[steps.down]\n",
            "command = [\"cat\", \"${inputs.a}\", \"${inputs.b}\", \"${inputs.c}\"]\n",
            "inputs = { a = \"steps.zzz.outputs.o\", b = \"steps.up.outputs.otu_17\", c = \"steps.up.outputs.zzz\" }\n",
        ));
        check(
            &text,
            expect![[r#"
                error[E0102] 30:16-30:37: unresolved reference `steps.zzz.outputs.o`: no step named `zzz`
                  help: known: down, llllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllll… (70 bytes), s0, s1, s10, s2, s3, s4, s5, s6 and 4 more
                error[E0102] 30:43-30:68: unresolved reference `steps.up.outputs.otu_17`: no output named `otu_17`
                  help: did you mean `out_17`?
                error[E0102] 30:74-30:96: unresolved reference `steps.up.outputs.zzz`: no output named `zzz`
                  help: known: out_0, out_1, out_2, out_3, out_4, out_5, out_6, out_7, out_8, out_9 and 30 more
            "#]],
        );
    }
}
