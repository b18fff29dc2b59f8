//! `pipeline.toml` text → a spanned document tree, plus every syntax error.
//!
//! Parsing never fails: [`parse`] always returns a [`Parse`] holding the tree it could
//! recover and the errors it met, so the checker still reports semantic diagnostics
//! below a broken line. The TOML grammar is `toml`'s error-recovering parser
//! ([`toml::de::DeTable::parse_recoverable`]); this crate converts its borrowed tree into
//! an owned one with a byte [`Span`] on every key and value.
//!
//! Before parsing, `depth::check` scans the text for arrays and inline tables nested
//! deeper than [`MAX_DEPTH`]: `toml` recurses per level (and so does dropping its tree),
//! so a 100,000-deep array would overflow the stack. Such a file yields one error and
//! an empty tree (the TOML spec leaves the limit to implementations; toml-test
//! recommends 128 or 256).
//!
//! The tree keeps no comments or whitespace: editors work on the source text itself,
//! which the caller keeps, and use spans to map back into it.

mod depth;
mod fast;
mod tree;

pub use line_index::{LineCol, LineIndex, TextSize, WideEncoding, WideLineCol};
pub use tree::{Entry, Node, Table, Value};

/// Deepest nesting of arrays and inline tables accepted.
pub const MAX_DEPTH: usize = 128;

/// A byte range `start..end` into the source text. Offsets are `u32`: files over 4 GiB are
/// not pipelines.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default, PartialOrd, Ord, salsa::SalsaValue)]
pub struct Span {
    /// First byte.
    pub start: u32,
    /// One past the last byte.
    pub end: u32,
}

impl Span {
    /// The span `start..end`.
    pub fn new(start: u32, end: u32) -> Span {
        Span { start, end }
    }

    /// This span moved left by `base` bytes (saturating at 0). Used to make spans relative
    /// to an item, so an edit above the item does not change its lowered form.
    pub fn rebase(self, base: u32) -> Span {
        Span { start: self.start.saturating_sub(base), end: self.end.saturating_sub(base) }
    }

    /// This span moved right by `base` bytes: the inverse of [`Span::rebase`].
    pub fn shift(self, base: u32) -> Span {
        Span { start: self.start + base, end: self.end + base }
    }

    /// The span as a `usize` range, for slicing the text.
    pub fn range(self) -> std::ops::Range<usize> {
        self.start as usize..self.end as usize
    }

    /// Whether `offset` lies inside the span (end inclusive, as a cursor at the end of a
    /// word still touches it).
    pub fn touches(self, offset: u32) -> bool {
        self.start <= offset && offset <= self.end
    }
}

impl std::fmt::Debug for Span {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}..{}", self.start, self.end)
    }
}

fn span_of(range: std::ops::Range<usize>) -> Span {
    let clamp = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
    Span::new(clamp(range.start), clamp(range.end))
}

/// One syntax error: where, and what (lowercase, as `toml` words it).
#[derive(Clone, Debug, PartialEq, Eq, Hash, salsa::SalsaValue)]
pub struct SyntaxError {
    /// The bytes the error points at (may be empty, at the end of the file).
    pub span: Span,
    /// The parser's message, first line only.
    pub message: String,
    /// Which rule was broken.
    pub kind: SyntaxErrorKind,
}

/// The rule a [`SyntaxError`] broke.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, salsa::SalsaValue)]
pub enum SyntaxErrorKind {
    /// Not valid TOML (TOML 1.1 grammar, <https://toml.io/en/v1.1.0>).
    Toml,
    /// Arrays or inline tables nested deeper than [`MAX_DEPTH`].
    TooDeep,
}

/// The result of parsing: the recovered tree and the errors met on the way.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Default, salsa::SalsaValue)]
pub struct Parse {
    /// The document's root table. Keys that failed to parse are absent.
    pub root: Table,
    /// Syntax errors, in source order.
    pub errors: Vec<SyntaxError>,
}

/// Parses `text` as TOML. Never fails and never panics; see the crate docs.
///
/// Text of the simple shape most chunks of a pipeline have (one header, plain keys and
/// values) takes a fast path (module `fast`) that gives the same tree; the rest goes to `toml`.
pub fn parse(text: &str) -> Parse {
    fast::parse(text).unwrap_or_else(|| parse_with_toml(text))
}

/// [`parse`] without the fast path: `toml`'s recovering parser.
fn parse_with_toml(text: &str) -> Parse {
    if let Some(offset) = depth::check(text, MAX_DEPTH) {
        let at = span_of(offset..offset + 1);
        return Parse {
            root: Table::default(),
            errors: vec![SyntaxError {
                span: at,
                message: format!("arrays or inline tables nested deeper than {MAX_DEPTH} levels"),
                kind: SyntaxErrorKind::TooDeep,
            }],
        };
    }
    let (root, errors) = toml::de::DeTable::parse_recoverable(text);
    let mut errors: Vec<SyntaxError> = errors
        .into_iter()
        .map(|e| {
            let span = e.span().map(span_of).unwrap_or_else(|| span_of(text.len()..text.len()));
            let message = e.message().lines().next().unwrap_or("invalid TOML").trim().to_owned();
            SyntaxError { span, message, kind: SyntaxErrorKind::Toml }
        })
        .collect();
    let root = tree::table_from_de(root.get_ref(), &mut errors);
    errors.sort_by_key(|e| e.span);
    errors.dedup();
    Parse { root, errors }
}

/// Splits `text` into top-level chunks: `(start, end)` byte ranges, the first holding what
/// precedes the first table header, then one per header line (`[steps.train]`,
/// `[[x]]`) with its body. Brackets inside strings, comments, arrays and inline tables do
/// not start a chunk. Parsing each chunk on its own gives the same entries as parsing the
/// whole text (bar errors that span chunks), so a driver can reparse only the chunk an edit
/// touched.
pub fn chunks(text: &str) -> Vec<(u32, u32)> {
    let starts = depth::chunk_starts(text);
    let clamp = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
    starts
        .iter()
        .enumerate()
        .map(|(i, &s)| (clamp(s), clamp(starts.get(i + 1).copied().unwrap_or(text.len()))))
        .collect()
}

#[cfg(test)]
mod tests;
