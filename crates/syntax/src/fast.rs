//! A fast path for the common shape of a chunk: one `[a.b]` header of bare keys, then
//! `key = value` lines of bare keys and plain values.
//!
//! `toml`'s parser builds a token list and an `IndexMap` per table before this crate copies
//! the result into its own tree; on a 100,000-step file that is most of the time spent
//! parsing. This parser builds the tree in one pass, but only for text it fully
//! understands: anything else (an escape, a multi-line string, a dotted or quoted key, a
//! date, a float or integer with `_`, `inf`, hex, a second header, an array of tables, a
//! duplicate key, a control character, any error) makes it give up and [`crate::parse`]
//! uses `toml`. So it returns the tree `toml` would give, spans included, or nothing;
//! `tests.rs` checks that on generated and mutated documents.
//!
//! Never panics: every byte is read with `get`, and text is only sliced at ASCII
//! delimiters, which are character boundaries.

use crate::tree::integer_value;
use crate::{Entry, Node, Parse, Span, Table, Value, span_of};

/// Arrays and inline tables nested deeper than this are left to `toml`.
const MAX_NESTING: usize = 32;

/// Tables with more entries than this check for duplicate keys with a hash set.
const LINEAR_DUPLICATE_CHECK: usize = 16;

/// The tree of `text` if it has the simple shape the module docs describe.
pub(crate) fn parse(text: &str) -> Option<Parse> {
    let mut p =
        Parser { text, bytes: text.as_bytes(), at: 0, nodes: Vec::new(), entries: Vec::new() };
    p.blank_lines()?;
    if p.at == p.bytes.len() {
        return Some(Parse::default());
    }
    let header_start = p.at;
    if p.peek() != Some(b'[') || p.bytes.get(p.at + 1) == Some(&b'[') {
        return None;
    }
    p.at += 1;
    let mut path: Vec<(String, Span)> = Vec::new();
    loop {
        p.spaces();
        path.push(p.bare_key()?);
        p.spaces();
        match p.bump()? {
            b'.' => {}
            b']' => break,
            _ => return None,
        }
    }
    let header = span_of(header_start..p.at);
    p.end_of_line()?;
    let mut keys = Keys::default();
    loop {
        p.blank_lines()?;
        if p.at == p.bytes.len() {
            break;
        }
        let (key, key_span) = p.bare_key()?;
        p.spaces();
        if p.bump()? != b'=' {
            return None;
        }
        p.spaces();
        let node = p.value(0)?;
        p.end_of_line()?;
        if !keys.insert(&p.entries, &key) {
            return None;
        }
        p.entries.push(Entry { key, key_span, node });
    }
    let body = Table { entries: p.entries.drain(..).collect() };
    // `[a.b.c]`: tables `a` and `b` are spanned by their keys, `c` by the header.
    let mut node = Node { span: header, value: Value::Table(body) };
    let mut path = path.into_iter().rev();
    let (mut key, mut key_span) = path.next()?;
    for (parent, parent_span) in path {
        let table = Table { entries: vec![Entry { key, key_span, node }] };
        node = Node { span: parent_span, value: Value::Table(table) };
        (key, key_span) = (parent, parent_span);
    }
    Some(Parse { root: Table { entries: vec![Entry { key, key_span, node }] }, errors: Vec::new() })
}

/// Duplicate-key detection for one table: a scan while small, a hash set once large.
#[derive(Default)]
struct Keys {
    set: Option<std::collections::HashSet<String>>,
}

impl Keys {
    /// Whether `key` is new to the table of `entries` (which this has seen); records it.
    fn insert(&mut self, entries: &[Entry], key: &str) -> bool {
        if let Some(set) = &mut self.set {
            return set.insert(key.to_owned());
        }
        if entries.iter().any(|e| e.key == key) {
            return false;
        }
        if entries.len() >= LINEAR_DUPLICATE_CHECK {
            let mut set: std::collections::HashSet<String> =
                entries.iter().map(|e| e.key.clone()).collect();
            set.insert(key.to_owned());
            self.set = Some(set);
        }
        true
    }
}

struct Parser<'a> {
    text: &'a str,
    bytes: &'a [u8],
    at: usize,
    /// Elements of the arrays being parsed, innermost last: each array takes its own off
    /// the end when it closes, in a vector of exactly its size (a 100,000-step file keeps
    /// every one of these trees, so no spare capacity and no reallocation).
    nodes: Vec<Node>,
    /// The same for the entries of the tables being parsed.
    entries: Vec<Entry>,
}

impl Parser<'_> {
    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.at).copied()
    }

    fn bump(&mut self) -> Option<u8> {
        let b = self.peek()?;
        self.at += 1;
        Some(b)
    }

    /// Spaces and tabs.
    fn spaces(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t')) {
            self.at += 1;
        }
    }

    /// A line break (`\n` or `\r\n`), if one is next.
    fn newline(&mut self) -> bool {
        match (self.peek(), self.bytes.get(self.at + 1)) {
            (Some(b'\n'), _) => {
                self.at += 1;
                true
            }
            (Some(b'\r'), Some(b'\n')) => {
                self.at += 2;
                true
            }
            _ => false,
        }
    }

    /// A comment up to (not including) the line break; `None` if it holds a control
    /// character TOML forbids there.
    fn comment(&mut self) -> Option<()> {
        if self.peek() != Some(b'#') {
            return Some(());
        }
        while let Some(b) = self.peek() {
            match b {
                b'\n' => break,
                b'\r' if self.bytes.get(self.at + 1) == Some(&b'\n') => break,
                b'\t' => {}
                0..0x20 | 0x7f => return None,
                _ => {}
            }
            self.at += 1;
        }
        Some(())
    }

    /// Blank and comment-only lines; stops at the first other character of a line (after
    /// its indentation) or at the end.
    fn blank_lines(&mut self) -> Option<()> {
        loop {
            self.spaces();
            self.comment()?;
            if !self.newline() {
                return Some(());
            }
        }
    }

    /// The rest of a line after a header or value: blanks, a comment, a line break or the
    /// end of the text.
    fn end_of_line(&mut self) -> Option<()> {
        self.spaces();
        self.comment()?;
        (self.newline() || self.at == self.bytes.len()).then_some(())
    }

    /// Blanks, comments and line breaks between array elements.
    fn array_gap(&mut self) -> Option<()> {
        loop {
            self.spaces();
            self.comment()?;
            if !self.newline() {
                return Some(());
            }
        }
    }

    /// `[A-Za-z0-9_-]+`.
    fn bare_key(&mut self) -> Option<(String, Span)> {
        let start = self.at;
        while matches!(self.peek(), Some(b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'_' | b'-')) {
            self.at += 1;
        }
        if self.at == start {
            return None;
        }
        Some((self.text.get(start..self.at)?.to_owned(), span_of(start..self.at)))
    }

    fn value(&mut self, depth: usize) -> Option<Node> {
        let start = self.at;
        let value = match self.peek()? {
            b'"' => self.string(b'"')?,
            b'\'' => self.string(b'\'')?,
            b'[' => self.array(depth)?,
            b'{' => self.inline_table(depth)?,
            b't' | b'f' | b'+' | b'-' | b'0'..=b'9' => self.scalar()?,
            _ => return None,
        };
        Some(Node { span: span_of(start..self.at), value })
    }

    /// A one-line string with no escapes (`"…"` or `'…'`; not `"""` or `'''`).
    fn string(&mut self, quote: u8) -> Option<Value> {
        if self.bytes.get(self.at + 1) == Some(&quote)
            && self.bytes.get(self.at + 2) == Some(&quote)
        {
            return None;
        }
        self.at += 1;
        let start = self.at;
        loop {
            match self.bump()? {
                b if b == quote => break,
                b'\\' if quote == b'"' => return None,
                b'\t' => {}
                0..0x20 | 0x7f => return None,
                _ => {}
            }
        }
        Some(Value::String(self.text.get(start..self.at - 1)?.to_owned()))
    }

    fn array(&mut self, depth: usize) -> Option<Value> {
        if depth >= MAX_NESTING {
            return None;
        }
        self.at += 1;
        let start = self.nodes.len();
        loop {
            self.array_gap()?;
            if self.peek()? == b']' {
                self.at += 1;
                break;
            }
            let node = self.value(depth + 1)?;
            self.nodes.push(node);
            self.array_gap()?;
            match self.bump()? {
                b',' => {}
                b']' => break,
                _ => return None,
            }
        }
        Some(Value::Array(self.nodes.drain(start..).collect()))
    }

    /// A one-line inline table without a trailing comma (TOML 1.1's newlines and trailing
    /// commas are left to `toml`).
    fn inline_table(&mut self, depth: usize) -> Option<Value> {
        if depth >= MAX_NESTING {
            return None;
        }
        self.at += 1;
        let start = self.entries.len();
        self.spaces();
        if self.peek()? == b'}' {
            self.at += 1;
            return Some(Value::Table(Table::default()));
        }
        let mut keys = Keys::default();
        loop {
            self.spaces();
            let (key, key_span) = self.bare_key()?;
            self.spaces();
            if self.bump()? != b'=' {
                return None;
            }
            self.spaces();
            let node = self.value(depth + 1)?;
            if !keys.insert(&self.entries[start..], &key) {
                return None;
            }
            self.entries.push(Entry { key, key_span, node });
            self.spaces();
            match self.bump()? {
                b',' => {}
                b'}' => break,
                _ => return None,
            }
        }
        Some(Value::Table(Table { entries: self.entries.drain(start..).collect() }))
    }

    /// `true`, `false`, or a decimal integer or float without `_` (see [`number`]).
    fn scalar(&mut self) -> Option<Value> {
        let start = self.at;
        while matches!(
            self.peek(),
            Some(b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'_' | b'+' | b'-' | b'.' | b':')
        ) {
            self.at += 1;
        }
        // The token must end where TOML lets a value end.
        if !matches!(
            self.peek(),
            None | Some(b' ' | b'\t' | b',' | b']' | b'}' | b'#' | b'\n' | b'\r')
        ) {
            return None;
        }
        let token = self.text.get(start..self.at)?;
        match token {
            "true" => Some(Value::Bool(true)),
            "false" => Some(Value::Bool(false)),
            _ => number(token),
        }
    }
}

/// `[+-]? int (frac)? (exp)?` with `int` free of leading zeros: an integer when neither
/// part follows, else a float. Anything else (underscores, `0x`, `inf`, dates, an integer
/// out of 64 bits) is `None`.
fn number(token: &str) -> Option<Value> {
    let b = token.as_bytes();
    let mut i = usize::from(matches!(b.first(), Some(b'+' | b'-')));
    let digits = |i: &mut usize| {
        let start = *i;
        while b.get(*i).is_some_and(u8::is_ascii_digit) {
            *i += 1;
        }
        *i - start
    };
    let int_start = i;
    let n = digits(&mut i);
    if n == 0 || (n > 1 && b.get(int_start) == Some(&b'0')) {
        return None;
    }
    let mut float = false;
    if b.get(i) == Some(&b'.') {
        i += 1;
        if digits(&mut i) == 0 {
            return None;
        }
        float = true;
    }
    if matches!(b.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(b.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        if digits(&mut i) == 0 {
            return None;
        }
        float = true;
    }
    if i != b.len() {
        return None;
    }
    if float {
        return Some(Value::Float(token.to_owned()));
    }
    // One out of 64 bits is a syntax error, which `toml`'s path reports.
    match integer_value(token, 10) {
        Value::Integer(None, _) => None,
        v => Some(v),
    }
}
