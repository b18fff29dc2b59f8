//! Parser tests: spans, recovery, and the bad-input corpus.

use expect_test::{Expect, expect};

use crate::{Node, Table, Value, parse};

mod fast;

fn dump(text: &str, table: &Table, indent: usize, out: &mut String) {
    for e in &table.entries {
        out.push_str(&format!(
            "{:indent$}{} @{:?} {:?}",
            "",
            e.key,
            e.key_span,
            &text[e.key_span.range()],
            indent = indent
        ));
        dump_node(text, &e.node, indent, out);
    }
}

fn dump_node(text: &str, node: &Node, indent: usize, out: &mut String) {
    match &node.value {
        Value::Table(t) => {
            out.push_str(&format!(" = table @{:?}\n", node.span));
            dump(text, t, indent + 2, out);
        }
        Value::Array(items) => {
            out.push_str(&format!(" = array @{:?}\n", node.span));
            for n in items {
                out.push_str(&format!("{:w$}-", "", w = indent + 2));
                dump_node(text, n, indent + 2, out);
            }
        }
        v => out.push_str(&format!(" = {v:?} {:?}\n", &text[node.span.range()])),
    }
}

#[track_caller]
fn check(text: &str, expect: Expect) {
    let parse = parse(text);
    let mut out = String::new();
    dump(text, &parse.root, 0, &mut out);
    for e in &parse.errors {
        out.push_str(&format!("error @{:?}: {}\n", e.span, e.message));
    }
    expect.assert_eq(&out);
}

#[test]
fn spans_on_keys_and_values() {
    check(
        r#"[steps.train]
script = "train.py"
arguments = ["--n", 3]
inputs = { data = "steps.prep.outputs.split" }
"#,
        expect![[r#"
            steps @1..6 "steps" = table @1..6
              train @7..12 "train" = table @0..13
                script @14..20 "script" = String("train.py") "\"train.py\""
                arguments @34..43 "arguments" = array @46..56
                  - = String("--n") "\"--n\""
                  - = Integer(Some(3), "3") "3"
                inputs @57..63 "inputs" = table @66..103
                  data @68..72 "data" = String("steps.prep.outputs.split") "\"steps.prep.outputs.split\""
        "#]],
    );
}

#[test]
fn recovers_after_a_broken_line() {
    check(
        r#"[steps.a]
script = "a.py
outputs = ["x"]
"#,
        expect![[r#"
            steps @1..6 "steps" = table @1..6
              a @7..8 "a" = table @0..9
                script @10..16 "script" = String("a.py") "\"a.py"
                outputs @25..32 "outputs" = array @35..40
                  - = String("x") "\"x\""
            error @24..24: invalid basic string, expected `"`
        "#]],
    );
}

#[test]
fn numbers_keep_their_text() {
    check(
        "a = 0x1F\nb = -1_000\nc = 1.50\nd = 99999999999999999999\ne = 0b\nf = 1_0٠\n",
        expect![[r#"
            a @0..1 "a" = Integer(Some(31), "0x1F") "0x1F"
            b @9..10 "b" = Integer(Some(-1000), "-1000") "-1_000"
            c @20..21 "c" = Float("1.50") "1.50"
            d @29..30 "d" = Integer(None, "99999999999999999999") "99999999999999999999"
            e @54..55 "e" = Integer(None, "0b") "0b"
            f @61..62 "f" = Integer(None, "10٠") "1_0٠"
            error @33..53: integer `99999999999999999999` out of range: TOML integers are between -9223372036854775808 and 9223372036854775807
            error @58..60: invalid integer `0b`
            error @65..70: invalid integer `10٠`
        "#]],
    );
}

/// Each case of the bad-input corpus parses without panicking and reports an error.
/// (How fast each answers is measured by the `check` benchmark, not here.)
#[test]
fn bad_input_corpus_never_panics() {
    let deep_array = "a = ".to_owned() + &"[".repeat(100_000) + &"]".repeat(100_000);
    let deep_table = "a = ".to_owned() + &"{b = ".repeat(100_000) + "1" + &"}".repeat(100_000);
    let unclosed = "a = ".to_owned() + &"[".repeat(100_000);
    let cases: Vec<(&str, String)> = vec![
        ("deep array", deep_array),
        ("deep inline table", deep_table),
        ("unclosed brackets", unclosed),
        (
            "garbage",
            String::from_utf8_lossy(&(0..=255u8).cycle().take(4096).collect::<Vec<_>>())
                .into_owned(),
        ),
        ("lone bracket", "[".into()),
        ("unterminated multi-line", "a = \"\"\"\nnever closed".into()),
        ("duplicate key", "a = 1\na = 2\n".into()),
        ("table redefined", "[a]\n[a]\n".into()),
        ("nul byte", "a = \"\0\"\n".into()),
        ("bom in middle", "a = 1\n\u{feff}b = 2\n".into()),
    ];
    for (name, text) in cases {
        let parse = parse(&text);
        assert!(!parse.errors.is_empty(), "{name}: expected an error");
        for e in &parse.errors {
            assert!(
                e.span.end as usize <= text.len() + 1,
                "{name}: span {:?} out of range",
                e.span
            );
        }
    }
    assert!(parse("").errors.is_empty());
}

#[test]
fn deep_but_legal_nesting_parses() {
    let text = "a = ".to_owned() + &"[".repeat(50) + &"]".repeat(50);
    let errors = parse(&text).errors;
    assert!(errors.is_empty(), "{errors:?}");
}

#[test]
fn brackets_inside_strings_and_comments_do_not_count() {
    let text = format!(
        "a = \"{}\"\n# {}\nb = '''{}'''\n",
        "[".repeat(500),
        "{".repeat(500),
        "[".repeat(500)
    );
    assert!(parse(&text).errors.is_empty());
}

#[test]
fn rebase_makes_spans_relative() {
    let p = parse("x = 1\n[steps.a]\nscript = \"a.py\"\n");
    let steps = p.root.get("steps").unwrap();
    let Value::Table(t) = &steps.node.value else { panic!() };
    let a = t.get("a").unwrap();
    let base = a.node.min_start().min(a.key_span.start);
    let Value::Table(body) = &a.node.rebase(base).value else { panic!() };
    assert_eq!(body.get("script").unwrap().key_span.start, 10);
}

#[test]
fn chunks_split_at_top_level_headers_only() {
    let text = "name = 1\n[steps.a]\nx = [\n[1],\n]\ns = \"\"\"\n[not]\n\"\"\"\n  [steps.b]\n# [c]\n[[arr]]\n";
    let got: Vec<&str> =
        crate::chunks(text).iter().map(|&(s, e)| &text[s as usize..e as usize]).collect();
    assert_eq!(
        got,
        vec![
            "name = 1\n",
            "[steps.a]\nx = [\n[1],\n]\ns = \"\"\"\n[not]\n\"\"\"\n",
            "  [steps.b]\n# [c]\n",
            "[[arr]]\n"
        ]
    );
    assert_eq!(crate::chunks(""), vec![(0, 0)]);
}

#[test]
fn chunks_resynchronise_after_broken_lines() {
    let split = |text: &str| -> Vec<String> {
        crate::chunks(text).iter().map(|&(s, e)| text[s as usize..e as usize].to_owned()).collect()
    };
    // An unclosed header ends with its line.
    assert_eq!(
        split("[steps.a\nx = [1]\n[steps.b]\ny = 2\n"),
        vec!["[steps.a\nx = [1]\n", "[steps.b]\ny = 2\n"]
    );
    // An array never closed ends at the next line that can only be a header.
    assert_eq!(
        split("[steps.a]\nx = [\n[steps.b]\ny = 2\n"),
        vec!["[steps.a]\nx = [\n", "[steps.b]\ny = 2\n"]
    );
    // An unterminated string ends with its line, even after a backslash.
    assert_eq!(
        split("[steps.a]\nx = \"abc\\\n[steps.b]\n"),
        vec!["[steps.a]\nx = \"abc\\\n", "[steps.b]\n"]
    );
    // Array elements that look like headers but are values do not split.
    let text = "x = [\n[true],\n[\"a\"],\n[1.5],\n[inf]\n]\n[steps.a]\n";
    assert_eq!(split(text), vec!["x = [\n[true],\n[\"a\"],\n[1.5],\n[inf]\n]\n", "[steps.a]\n"]);
}
