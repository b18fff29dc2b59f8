//! The TOML rules that span chunks: a table defined twice, a key that is both a value and
//! a table, an inline table or a static array extended by a header, dotted keys added to a
//! table a header defined, `[[x]]` after `x = []`.
//!
//! [`crate::item`] parses each chunk (a header and its body) on its own, so no chunk sees
//! another's definitions. Two chunks can only clash when one's header path is a prefix of
//! the other's (the part before the first header has the empty path, a prefix of all):
//! everything a chunk defines lies under its header path. So the chunks that can clash are
//! few, and [`check`] parses them together, in file order, with the same parser: the TOML
//! rules are `toml`'s, not restated here. They are ([`involved`]):
//!
//! * every chunk that is not one item's own (`[parameters]`, `[[x]]`, `[steps]`, unknown
//!   tables, what precedes the first header);
//! * every chunk of an item written in several chunks (`[steps.a]` and `[steps.a.env]`,
//!   or `[steps.a]` twice);
//! * for each kind of item, the first chunk that is an item's own (`[steps.a]`), which
//!   stands for all of them against a top-level `steps = …` or `[[steps]]`: a clash with
//!   any of them is a clash with the first.
//!
//! The other own chunks (nearly all of a pipeline) clash with nothing and are left out, so
//! an edit costs a parse of a few small chunks. Chunks with a syntax error of their own are
//! left out too: they already have an error, and what the parser recovered is no basis for
//! more.

use syntax::Span;

use crate::Db;
use crate::diagnostics::{Diagnostic, syntax_error};
use crate::fxhash::{FxHashMap, FxHashSet};
use crate::item::{Block, BlockParse};

/// One chunk's text and its absolute offset.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Piece<'a> {
    text: &'a str,
    at: u32,
}

/// The chunks the module docs list, in file order. `parsed` is every block with its offset
/// and parse; `repeated` has (as keys) the positions, counted over all blocks' parts in
/// order, of the parts of items written in several chunks.
pub(crate) fn involved<'db>(
    db: &'db dyn Db,
    parsed: &[(Block<'db>, u32, &'db BlockParse)],
    repeated: &FxHashMap<usize, Option<Vec<usize>>>,
) -> Vec<Piece<'db>> {
    // (absolute start, block, start and end in the block)
    let mut chunks: Vec<(u32, usize, u32, u32)> = Vec::new();
    let mut first_own = [false; crate::ItemKind::ALL.len()];
    let mut index = 0;
    for (b, &(_, off, bp)) in parsed.iter().enumerate() {
        chunks.extend(bp.others.iter().map(|&(s, e)| (off + s, b, s, e)));
        for p in &bp.parts {
            let stands_for_kind =
                p.header && p.clean && !std::mem::replace(&mut first_own[p.kind as usize], true);
            if stands_for_kind || (p.clean && repeated.contains_key(&index)) {
                chunks.push((off + p.chunk, b, p.chunk, p.chunk_end));
            }
            index += 1;
        }
    }
    chunks.sort_unstable();
    chunks.dedup();
    chunks
        .into_iter()
        .map(|(at, b, s, e)| Piece { text: &parsed[b].0.text(db)[s as usize..e as usize], at })
        .collect()
}

/// Syntax errors (E0001, absolute spans) from parsing `pieces` together, but for those on
/// the header line of a chunk at an offset in `reported` (already said to be defined
/// twice, with where first).
pub(crate) fn check(pieces: &[Piece<'_>], reported: &[u32]) -> Vec<Diagnostic> {
    // One clean chunk alone has nothing to clash with.
    if pieces.len() < 2 {
        return Vec::new();
    }
    let reported: FxHashSet<u32> = reported.iter().copied().collect();
    let mut text = String::with_capacity(pieces.iter().map(|p| p.text.len() + 1).sum());
    let mut starts = Vec::with_capacity(pieces.len());
    for p in pieces {
        starts.push(text.len());
        text.push_str(p.text);
        if !p.text.ends_with('\n') {
            text.push('\n');
        }
    }
    let mut out = Vec::new();
    for e in syntax::parse(&text).errors {
        let start = e.span.start as usize;
        let i = starts.partition_point(|&s| s <= start).saturating_sub(1);
        let piece = pieces[i];
        let rel = start - starts[i];
        let header_end = piece.text.find('\n').unwrap_or(piece.text.len());
        if rel > piece.text.len() || (rel < header_end && reported.contains(&piece.at)) {
            continue;
        }
        let len = (e.span.end as usize).saturating_sub(start).min(piece.text.len() - rel);
        let at = piece.at + to_u32(rel);
        let span = Span::new(at, at + to_u32(len));
        let written = piece.text.get(rel..rel + len).unwrap_or_default();
        let message = match e.message.as_str() {
            "duplicate key" if !written.is_empty() && len <= 64 => {
                format!("duplicate key `{written}`: it is defined above")
            }
            m => m.to_owned(),
        };
        out.push(syntax_error::toml(span, &message));
    }
    out
}

fn to_u32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use expect_test::expect;

    use crate::tests::check;

    #[test]
    fn tables_of_array_elements_are_new_in_each_element() {
        check(
            r#"
[[arr]]
[arr.subtab]
val = 1
[[arr]]
[arr.subtab]
val = 2
"#,
            expect![[r#"
                error[E0101] 1:3-1:6: unknown table `arr`
                  help: expected one of: pipeline, parameters, environments, datastores, data, compute, steps, cache
                error[E0101] 2:2-2:5: unknown table `arr`
                  help: expected one of: pipeline, parameters, environments, datastores, data, compute, steps, cache
                error[E0101] 4:3-4:6: unknown table `arr`
                  help: expected one of: pipeline, parameters, environments, datastores, data, compute, steps, cache
                error[E0101] 5:2-5:5: unknown table `arr`
                  help: expected one of: pipeline, parameters, environments, datastores, data, compute, steps, cache
            "#]],
        );
    }

    #[test]
    fn clashes_across_chunks() {
        check(
            r#"
[steps.a]
command = ["true"]
env = { A = "1" }
[steps.b]
command = ["true"]
[steps.a.env]
B = "2"
[steps]
b.timeout = 5
[fruit]
apple.color = "red"
[fruit.apple]
"#,
            expect![[r#"
                error[E0001] 6:10-6:13: invalid TOML: duplicate key `env`: it is defined above
                error[E0001] 9:1-9:2: invalid TOML: duplicate key `b`: it is defined above
                error[E0101] 10:2-10:7: unknown table `fruit`
                  help: expected one of: pipeline, parameters, environments, datastores, data, compute, steps, cache
                error[E0101] 12:2-12:7: unknown table `fruit`
                  help: expected one of: pipeline, parameters, environments, datastores, data, compute, steps, cache
                error[E0001] 12:8-12:13: invalid TOML: duplicate key `apple`: it is defined above
            "#]],
        );
    }

    #[test]
    fn a_top_level_key_against_every_item_of_its_kind() {
        check(
            r#"
steps = []
[steps.a]
command = ["true"]
[steps.b]
command = ["true"]
"#,
            expect![[r#"
                error[E0103] 1:9-1:11: `steps` must be a table, found an array
                  help: write a table here
                error[E0001] 2:2-2:7: invalid TOML: cannot extend value of type array with a dotted key
            "#]],
        );
    }
}
