//! Document symbols: the outline of steps, data, parameters and other tables.

use expect_test::expect;

use super::{DIGITS, load};
use crate::DocumentSymbol;

#[test]
fn outline_of_digits() {
    let fx = load(DIGITS);
    let syms = crate::document_symbols(&fx.db, fx.file);
    fn render(out: &mut String, text: &str, s: &DocumentSymbol, depth: usize) {
        let sel = &text[s.selection.range()];
        out.push_str(&format!(
            "{}{:?} {} ({}) sel=`{sel}` range={:?}\n",
            "  ".repeat(depth),
            s.kind,
            s.name,
            s.detail.clone().unwrap_or_default(),
            s.range
        ));
        assert!(s.range.start <= s.selection.start && s.selection.end <= s.range.end, "{s:?}");
        for c in &s.children {
            assert!(s.range.start <= c.range.start && c.range.end <= s.range.end, "{c:?}");
            render(out, text, c, depth + 1);
        }
    }
    let mut out = String::new();
    for s in &syms {
        render(&mut out, fx.text(), s, 0);
    }
    expect![[r#"
        Table parameters () sel=`seed` range=13..76
          Parameter seed (parameter) sel=`seed` range=13..22
          Parameter lr (parameter) sel=`lr` range=23..76
        Table environments () sel=`sklearn` range=78..134
          Environment sklearn (environment) sel=`sklearn` range=78..134
        Table data () sel=`digits` range=136..173
          Data digits (data reference) sel=`digits` range=136..173
        Table steps () sel=`prepare` range=175..658
          Step prepare (prepare.py) sel=`prepare` range=175..410
            Input raw (data.digits) sel=`raw` range=369..388
            Output split (output) sel=`"split"` range=402..409
          Step train (train.py) sel=`train` range=412..658
            Input data (steps.prepare.outputs.split) sel=`data` range=575..611
            Output model (output) sel=`"model"` range=625..632
    "#]]
    .assert_eq(&out);
}
