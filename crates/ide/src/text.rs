//! Text-level helpers: the line index, table headers as written, string literals.
//!
//! The spanned tree drops what a half-typed line looks like, so completion and a few other
//! features also read the text itself. Both queries here are cached per revision of the
//! file's text.

use ::line_index::LineIndex;
use hir::{Db, SourceFile};
use syntax::Span;

/// The file's line index (for byte offset ↔ line/column conversions).
#[salsa::tracked(returns(ref))]
pub fn line_index(db: &dyn Db, file: SourceFile) -> LineIndex {
    LineIndex::new(file.text(db))
}

/// A table header as written: `[steps.train]` or `[[x.y]]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Header {
    /// The dotted key's parts, unquoted, with their spans (quotes included).
    pub path: Vec<(String, Span)>,
    /// From the first `[` to the last `]`.
    pub span: Span,
}

/// Every table header of the file, in order.
#[salsa::tracked(returns(ref))]
pub fn headers(db: &dyn Db, file: SourceFile) -> Vec<Header> {
    let text = file.text(db);
    let mut out = Vec::new();
    let mut offset = 0usize;
    for line in text.split_inclusive('\n') {
        let trimmed = line.trim_start();
        if trimmed.starts_with('[') {
            let start = offset + (line.len() - trimmed.len());
            if let Some(h) = parse_header(trimmed, start) {
                out.push(h);
            }
        }
        offset += line.len();
    }
    out
}

fn span(start: usize, end: usize) -> Span {
    Span::new(to_u32(start), to_u32(end))
}

pub(crate) fn to_u32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// Parses `[a.b."c"]` at the start of `line` (which starts at `base`).
fn parse_header(line: &str, base: usize) -> Option<Header> {
    let bytes = line.as_bytes();
    let brackets = if line.starts_with("[[") { 2 } else { 1 };
    let mut i = brackets;
    let mut path = Vec::new();
    loop {
        while i < bytes.len() && matches!(bytes[i], b' ' | b'\t') {
            i += 1;
        }
        let start = i;
        let key = match bytes.get(i)? {
            b'"' | b'\'' => {
                let q = bytes[i];
                let close = line[i + 1..].find(q as char)? + i + 1;
                i = close + 1;
                let inner = &line[start + 1..close];
                if q == b'"' && inner.contains('\\') {
                    return None;
                }
                inner.to_owned()
            }
            _ => {
                while i < bytes.len()
                    && (bytes[i].is_ascii_alphanumeric() || matches!(bytes[i], b'_' | b'-'))
                {
                    i += 1;
                }
                if i == start {
                    return None;
                }
                line[start..i].to_owned()
            }
        };
        path.push((key, span(base + start, base + i)));
        while i < bytes.len() && matches!(bytes[i], b' ' | b'\t') {
            i += 1;
        }
        match bytes.get(i)? {
            b'.' => i += 1,
            b']' => {
                let end = i + brackets;
                if line.get(i..end)? != &"]]"[..brackets] {
                    return None;
                }
                return Some(Header { path, span: span(base, base + end) });
            }
            _ => return None,
        }
    }
}

/// Where a string literal's value starts inside its span, when the literal's text between
/// the quotes is exactly the value (no escapes, no trimmed newline). `None` otherwise.
pub(crate) fn inner_start(text: &str, lit: Span, value: &str) -> Option<u32> {
    let raw = text.get(lit.range())?;
    for q in ["\"\"\"", "'''", "\"", "'"] {
        if let Some(inner) = raw.strip_prefix(q).and_then(|r| r.strip_suffix(q)) {
            return (inner == value).then(|| lit.start + to_u32(q.len()));
        }
    }
    None
}

/// `value` written as a TOML basic string.
pub(crate) fn quote(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('"');
    for c in value.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if c.is_control() => out.push_str(&format!("\\u{:04X}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A placeholder inside a template value: byte offsets into the value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct PlaceholderAt<'a> {
    /// `${` … `}` (end exclusive).
    pub whole: std::ops::Range<usize>,
    /// `inputs`, `outputs` or `params`.
    pub kind: hir::template::Kind,
    /// The name after the dot, and where it is.
    pub name: &'a str,
    pub name_at: usize,
}

/// Well-formed placeholders of `template`, with positions (the same rules as
/// [`hir::template::pieces`]: `$${` is a literal).
pub(crate) fn placeholders(template: &str) -> Vec<PlaceholderAt<'_>> {
    use hir::template::Kind;
    let mut out = Vec::new();
    let mut from = 0;
    while let Some(rel) = template[from..].find("${") {
        let at = from + rel;
        if at > 0 && template.as_bytes()[at - 1] == b'$' {
            from = at + 2;
            continue;
        }
        let Some(close) = template[at..].find('}').map(|c| at + c) else { break };
        let inner = &template[at + 2..close];
        if let Some((kind, name)) = inner.split_once('.') {
            let kind = match kind {
                "inputs" => Some(Kind::Inputs),
                "outputs" => Some(Kind::Outputs),
                "params" => Some(Kind::Params),
                _ => None,
            };
            if let Some(kind) = kind
                && !name.is_empty()
            {
                out.push(PlaceholderAt {
                    whole: at..close + 1,
                    kind,
                    name,
                    name_at: close - name.len(),
                });
            }
        }
        from = close + 1;
    }
    out
}

/// The largest char boundary at or below `offset`, clamped to the text.
pub(crate) fn floor_boundary(text: &str, offset: u32) -> usize {
    let mut at = (offset as usize).min(text.len());
    while !text.is_char_boundary(at) {
        at -= 1;
    }
    at
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_headers() {
        let h = parse_header("[ steps . \"a b\" . env ] # c", 10).unwrap();
        let names: Vec<_> = h.path.iter().map(|(n, s)| format!("{n}@{s:?}")).collect();
        assert_eq!(names, ["steps@12..17", "a b@20..25", "env@28..31"]);
        assert_eq!(h.span, Span::new(10, 33));
        assert!(parse_header("[[a]]", 0).is_some());
        assert!(parse_header("[a", 0).is_none());
        assert!(parse_header("[\"x\", 1]", 0).is_none());
    }

    #[test]
    fn finds_placeholders() {
        let p = placeholders("--lr=${params.lr} $${x.y} ${bad} ${outputs.m}");
        let got: Vec<_> = p.iter().map(|p| (p.whole.clone(), p.name, p.name_at)).collect();
        assert_eq!(got, [(5..17, "lr", 14), (33..45, "m", 43)]);
    }

    #[test]
    fn quotes() {
        assert_eq!(quote("a\"b\\c\n"), r#""a\"b\\c\n""#);
    }
}
