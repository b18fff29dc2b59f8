//! From the text to one tracked [`Item`] per named table, parsing only what changed.
//!
//! The text is split into chunks at top-level table headers (`syntax::chunks`), and runs of
//! consecutive chunks are grouped into [`Block`]s: a block ends before a chunk whose header
//! hashes to a multiple of [`BLOCK_SPLIT`] (content-defined, so an edit moves no boundary but
//! its own), or once it holds [`BLOCK_MAX_CHUNKS`] chunks or [`BLOCK_MAX_BYTES`] bytes. A
//! block is a tracked struct (identity: its first header line) whose text and offset are
//! tracked fields, and [`parse_block`] reads only its text, parsing each chunk on its own
//! (so results do not depend on where blocks end). An edit inside one step therefore
//! reparses one block, a few kilobytes, while a 100,000-step file costs a few thousand
//! tracked structs and queries for parsing rather than one per step.
//!
//! Each block yields the parts of items its chunks define, with spans relative to their
//! chunk; [`items`] makes one tracked [`Item`] per (kind, name) holding its syntax in an
//! `Arc` plus the offset to add. Unchanged items keep equal syntax (spans relative to the
//! item), so salsa backdates the field and every query below (lowering, resolution, keys)
//! is reused. This is rust-analyzer's item tree idea, with tracked-struct fields doing the
//! early cutoff. An item spread over several chunks (`[steps.a]` and `[steps.a.inputs]`) is
//! merged, with absolute spans.

#![allow(missing_docs)] // salsa generates constructors, getters and setters without docs; ours are documented.

use std::hash::Hasher as _;
use std::sync::Arc;

use syntax::{Node, Parse, Span, SyntaxErrorKind, Table, Value};

use crate::diagnostics::{self, Code, Diagnostic};
use crate::fxhash::{FxHashMap, FxHasher};
use crate::{Db, SourceFile, schema, structure};

/// Which table an item comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, salsa::SalsaValue)]
pub enum ItemKind {
    /// `[pipeline]` (one, unnamed).
    Pipeline,
    /// An entry of `[parameters]`.
    Parameter,
    /// `[environments.NAME]`.
    Environment,
    /// `[datastores.NAME]`.
    Datastore,
    /// `[data.NAME]`.
    Data,
    /// `[compute.NAME]`.
    Compute,
    /// `[steps.NAME]`.
    Step,
    /// `[cache]` (one, unnamed): the shared cache.
    Cache,
}

impl ItemKind {
    /// The top-level table this kind lives in.
    pub fn table(self) -> &'static str {
        match self {
            ItemKind::Pipeline => "pipeline",
            ItemKind::Parameter => "parameters",
            ItemKind::Environment => "environments",
            ItemKind::Datastore => "datastores",
            ItemKind::Data => "data",
            ItemKind::Compute => "compute",
            ItemKind::Step => "steps",
            ItemKind::Cache => "cache",
        }
    }

    /// Every kind, in declaration order (`kind as usize` indexes it).
    pub const ALL: [ItemKind; 8] = [
        ItemKind::Pipeline,
        ItemKind::Parameter,
        ItemKind::Environment,
        ItemKind::Datastore,
        ItemKind::Data,
        ItemKind::Compute,
        ItemKind::Step,
        ItemKind::Cache,
    ];

    /// The kind whose table is `name`.
    pub fn from_table(name: &str) -> Option<ItemKind> {
        ItemKind::ALL.into_iter().find(|k| k.table() == name)
    }

    /// Whether the kind is one table without a name (`[pipeline]`, `[cache]`).
    pub fn is_unnamed(self) -> bool {
        matches!(self, ItemKind::Pipeline | ItemKind::Cache)
    }

    /// How messages name one of these: `step`, `data reference`, …
    pub fn noun(self) -> &'static str {
        match self {
            ItemKind::Pipeline => "pipeline",
            ItemKind::Parameter => "parameter",
            ItemKind::Environment => "environment",
            ItemKind::Datastore => "datastore",
            ItemKind::Data => "data reference",
            ItemKind::Compute => "compute target",
            ItemKind::Step => "step",
            ItemKind::Cache => "cache",
        }
    }
}

/// One named table of the file. Identity: file, kind and name. Tracked fields: its syntax
/// (spans relative to [`Item::base`]) and where it starts.
#[salsa::tracked(debug)]
pub struct Item<'db> {
    /// The file the item is in (so per-item queries need no second argument).
    #[returns(copy)]
    pub file: SourceFile,
    /// Which table.
    #[returns(copy)]
    pub kind: ItemKind,
    /// Its name (`train` for `[steps.train]`; empty for `[pipeline]`).
    #[returns(ref)]
    pub name: String,
    /// The item's value and the span of its name, relative to [`Item::base`].
    #[tracked]
    #[returns(ref)]
    pub syntax: (Arc<Node>, Span),
    /// The absolute offset relative spans are measured from.
    #[tracked]
    #[returns(copy)]
    pub base: u32,
}

impl<'db> Item<'db> {
    /// `steps.train`, `data.raw`, `parameters.seed`, `pipeline`.
    pub fn path(self, db: &'db dyn Db) -> String {
        match self.kind(db) {
            k if k.is_unnamed() => k.table().to_owned(),
            k => format!("{}.{}", k.table(), self.name(db)),
        }
    }

    /// The absolute span of the item's name.
    pub fn name_span(self, db: &'db dyn Db) -> Span {
        self.syntax(db).1.shift(self.base(db))
    }
}

/// The items whose first part is in one [`Block`], in source order. Identity: the block.
///
/// Whole-file queries ([`crate::index`], [`crate::needed_paths`], [`crate::step_graph`],
/// [`crate::file_diagnostics`]) read per-group queries ([`crate::resolve::group_names`],
/// [`crate::resolve::group_checked`]) instead of every item: a few thousand reads instead
/// of several per step, and after an edit only the edited group's summary is recomputed
/// (and usually backdated, so the whole-file queries do not re-run).
#[salsa::tracked(debug)]
pub struct Group<'db> {
    /// The block the group's items start in.
    pub block: Block<'db>,
    /// The items, in source order.
    #[tracked]
    #[returns(ref)]
    pub items: Vec<Item<'db>>,
}

/// Every item of the file plus the diagnostics of the top level (unknown tables, tables
/// of the wrong type).
#[derive(Clone, Debug, PartialEq, Eq, salsa::SalsaValue)]
pub struct Items<'db> {
    /// Items in source order, with their kinds.
    pub items: Vec<(ItemKind, Item<'db>)>,
    /// The same items grouped by the block they start in, in source order.
    pub groups: Vec<Group<'db>>,
    /// Top-level diagnostics, with absolute spans.
    pub diagnostics: Vec<Diagnostic>,
}

impl<'db> Items<'db> {
    /// The items of one kind, in source order.
    pub fn of_kind(&self, kind: ItemKind) -> impl Iterator<Item = Item<'db>> + '_ {
        self.items.iter().filter(move |(k, _)| *k == kind).map(|(_, it)| *it)
    }
}

/// Parses the whole file at once (see the `syntax` crate). The checker itself works per
/// chunk; this is for tools that want one tree.
#[salsa::tracked(returns(ref))]
pub fn parse(db: &dyn Db, file: SourceFile) -> Parse {
    syntax::parse(file.text(db))
}

/// Syntax errors reported per file; past this, one more error says how many were left out.
/// (Binary garbage makes hundreds of thousands, which no one reads and which cost more to
/// print than to find.)
pub const MAX_SYNTAX_ERRORS: usize = 1_000;

/// Keeps the first [`MAX_SYNTAX_ERRORS`] syntax errors of a file and counts the rest.
#[derive(Default)]
struct SyntaxCap {
    shown: usize,
    /// Where the first left out is, and how many are.
    hidden: Option<(Span, usize)>,
}

impl SyntaxCap {
    /// Adds `d` to `diags`, unless it is a syntax error past the cap.
    fn push(&mut self, diags: &mut Vec<Diagnostic>, d: Diagnostic) {
        if d.code != Code::TomlSyntax {
            diags.push(d);
        } else if self.shown < MAX_SYNTAX_ERRORS {
            self.shown += 1;
            diags.push(d);
        } else {
            self.hidden.get_or_insert((d.span, 0)).1 += 1;
        }
    }

    /// Says how many were left out, if any.
    fn finish(self, diags: &mut Vec<Diagnostic>) {
        if let Some((span, n)) = self.hidden {
            diags.push(diagnostics::syntax_error::more(span, n));
        }
    }
}

/// A block ends before a chunk whose header's hash is a multiple of this (so blocks hold
/// this many chunks on average).
pub const BLOCK_SPLIT: u64 = 16;
/// A block ends once it holds this many chunks.
pub const BLOCK_MAX_CHUNKS: usize = 64;
/// A block ends once it holds this many bytes.
pub const BLOCK_MAX_BYTES: usize = 16 * 1024;

/// A run of consecutive top-level chunks (see the module docs): what precedes the first
/// table header, or headers with their bodies.
#[salsa::tracked(debug)]
pub struct Block<'db> {
    /// The first chunk's header line, blanks removed (`[steps.a]`); empty for the first
    /// block of a file that does not start with a header.
    #[returns(ref)]
    pub header: String,
    /// The block's text.
    #[tracked]
    #[returns(ref)]
    pub text: String,
    /// Where it starts in the file.
    #[tracked]
    #[returns(copy)]
    pub offset: u32,
}

/// The header line of a chunk (its first line, comment and blanks removed), as bytes
/// still to be filtered: the part before any `#`.
fn header_line(chunk: &str) -> &str {
    let line = chunk.split('\n').next().unwrap_or_default();
    line.split('#').next().unwrap_or(line)
}

/// The header of a chunk, blanks removed (`[steps.a]`).
fn header_text(chunk: &str) -> String {
    let line = header_line(chunk);
    if line.bytes().any(|b| b.is_ascii_whitespace()) || !line.is_ascii() {
        line.chars().filter(|c| !c.is_whitespace()).collect()
    } else {
        line.to_owned()
    }
}

/// Whether a block boundary goes before the chunk `chunk`: its header (blanks removed)
/// hashes to a multiple of [`BLOCK_SPLIT`].
fn splits_before(chunk: &str) -> bool {
    let mut h = FxHasher::default();
    for b in header_line(chunk).bytes().filter(|b| !b.is_ascii_whitespace()) {
        h.write_u8(b);
    }
    (h.finish() >> 40) % BLOCK_SPLIT == 0
}

/// Groups `text`'s chunks into block ranges (see the module docs).
pub(crate) fn block_ranges(text: &str) -> Vec<(u32, u32)> {
    let chunks = syntax::chunks(text);
    let mut out: Vec<(u32, u32)> = Vec::with_capacity(chunks.len() / 8 + 1);
    let mut count = 0;
    for (start, end) in chunks {
        let chunk = &text[start as usize..end as usize];
        let split = match out.last() {
            None => true,
            Some(&(s, e)) => {
                count >= BLOCK_MAX_CHUNKS
                    || (e - s) as usize >= BLOCK_MAX_BYTES
                    || splits_before(chunk)
            }
        };
        if split {
            out.push((start, end));
            count = 1;
        } else if let Some(last) = out.last_mut() {
            last.1 = end;
            count += 1;
        }
    }
    out
}

/// The file's blocks, in order. Re-runs on every edit; cheap (one byte scan).
#[salsa::tracked(returns(ref))]
pub fn blocks(db: &dyn Db, file: SourceFile) -> Vec<Block<'_>> {
    let text = file.text(db);
    block_ranges(text)
        .into_iter()
        .map(|(start, end)| {
            let body = &text[start as usize..end as usize];
            let header = if start == 0 && !body.trim_start().starts_with('[') {
                String::new()
            } else {
                header_text(body)
            };
            Block::new(db, header, body.to_owned(), start)
        })
        .collect()
}

/// Part of an item found in one chunk (spans relative to the chunk).
#[derive(Clone, Debug, PartialEq, Eq, salsa::SalsaValue)]
pub struct Part {
    /// Which table.
    pub kind: ItemKind,
    /// The item's name.
    pub name: String,
    /// Where the name is written.
    pub key_span: Span,
    /// The item's value.
    pub node: Arc<Node>,
    /// Where the part's chunk starts, relative to the block.
    pub chunk: u32,
    /// Where the part's chunk ends, relative to the block.
    pub chunk_end: u32,
    /// Whether the part's chunk parsed without a syntax error.
    pub clean: bool,
    /// Whether the chunk's header is this part's own (`[steps.a]` for `steps.a`; blanks
    /// aside). Such headers are not listed in [`BlockParse::headers`]: [`items`] finds them
    /// defined twice through the item's parts, without a map of every header.
    pub header: bool,
}

/// A table header line of a block: where its chunk starts (relative to the block) and the
/// header, blanks removed (`[steps.a]`, `[[x]]`).
#[derive(Clone, Debug, PartialEq, Eq, salsa::SalsaValue)]
pub struct Header {
    /// The chunk's offset in the block.
    pub at: u32,
    /// The header text.
    pub text: String,
}

impl Header {
    /// For an array-of-tables header `[[x.y]]`, the prefix `[x.y.` of the headers that
    /// name tables inside its element (a new element starts afresh).
    fn array_prefix(&self) -> Option<String> {
        let inner = self.text.strip_prefix("[[")?.strip_suffix("]]")?;
        Some(format!("[{inner}."))
    }
}

/// One block, parsed chunk by chunk: the item parts it holds, its `[table]` headers and
/// its diagnostics (spans relative to the block).
#[derive(Clone, Debug, PartialEq, Eq, Default, salsa::SalsaValue)]
pub struct BlockParse {
    /// Item parts, in order.
    pub parts: Vec<Part>,
    /// Table headers (`[[array]]` ones too, not those of [`Part::header`]), in order.
    pub headers: Vec<Header>,
    /// The chunks that parsed without a syntax error and are not one item's own (no
    /// [`Part::header`]): `(start, end)` relative to the block. The structure check
    /// (`structure.rs`) parses them together.
    pub others: Vec<(u32, u32)>,
    /// Syntax errors and top-level diagnostics.
    pub diagnostics: Vec<Diagnostic>,
}

/// Parses one block, chunk by chunk. Reads only the block's text.
#[salsa::tracked(returns(ref))]
pub fn parse_block<'db>(db: &'db dyn Db, block: Block<'db>) -> BlockParse {
    let text = block.text(db);
    let mut out = BlockParse::default();
    for (start, end) in syntax::chunks(text) {
        let chunk = &text[start as usize..end as usize];
        let first_part = out.parts.len();
        let clean = parse_chunk(chunk, (start, end), &mut out);
        let header = chunk.trim_start().starts_with('[');
        match &mut out.parts[first_part..] {
            [part] if header && is_own_header(chunk, part) => {
                part.header = true;
                continue;
            }
            _ if header => out.headers.push(Header { at: start, text: header_text(chunk) }),
            _ => {}
        }
        if clean && !chunk.trim().is_empty() {
            out.others.push((start, end));
        }
    }
    out
}

/// Whether `chunk`'s header, blanks removed, is `[table.name]` for `part` (`[pipeline]`).
fn is_own_header(chunk: &str, part: &Part) -> bool {
    let table = part.kind.table();
    let expected = match part.kind {
        k if k.is_unnamed() => ["[", table, "]", "", ""],
        _ => ["[", table, ".", part.name.as_str(), "]"],
    };
    let mut written = header_line(chunk).chars().filter(|c| !c.is_whitespace());
    expected.iter().flat_map(|s| s.chars()).all(|c| written.next() == Some(c))
        && written.next().is_none()
}

/// Parses one chunk at `(at, end)` in its block, adding to `out`. Returns whether it
/// parsed without a syntax error.
///
/// A chunk whose header line is broken (`[steps.a` never closed) keeps, besides its syntax
/// errors, only the table its header names, if the parser recovered it (`steps.a`, so its
/// checks still run): whatever else the parser's recovery made of the body (a top-level
/// `outputs` table, say) is invented, and would only add confusing errors.
fn parse_chunk(text: &str, (at, end): (u32, u32), out: &mut BlockParse) -> bool {
    let parse = syntax::parse(text);
    let clean = parse.errors.is_empty();
    let header_end = match text.trim_start().starts_with('[') {
        true => text.find('\n').map_or(text.len(), |n| n + 1),
        false => 0,
    };
    let header_end = u32::try_from(header_end).unwrap_or(u32::MAX);
    let mut broken_header = false;
    for e in &parse.errors {
        broken_header |= e.span.start < header_end;
        let d = match e.kind {
            SyntaxErrorKind::Toml => diagnostics::syntax_error::toml(e.span, &e.message),
            SyntaxErrorKind::TooDeep => diagnostics::syntax_error::too_deep(e.span, &e.message),
        };
        out.diagnostics.push(d.shifted(at));
    }
    // With a broken header: the (table, name) the header line starts with.
    let named = broken_header.then(|| {
        let line = header_line(text).trim_start().trim_start_matches('[');
        let mut keys = line.split('.').map(leading_key);
        (keys.next().unwrap_or_default(), keys.next())
    });
    for entry in parse.root.entries {
        if let Some((table, _)) = &named
            && *table != entry.key
        {
            continue;
        }
        let Some(kind) = ItemKind::from_table(&entry.key) else {
            let names: Vec<&str> = schema::TABLES.iter().map(|t| t.name).collect();
            out.diagnostics.push(
                diagnostics::unknown_key::top_level(entry.key_span, &entry.key, &names).shifted(at),
            );
            continue;
        };
        if kind.is_unnamed() {
            if !matches!(entry.node.value, Value::Table(_)) {
                out.diagnostics.push(wrong_top_level(&entry).shifted(at));
                continue;
            }
            out.parts.push(Part {
                kind,
                name: String::new(),
                key_span: entry.key_span,
                node: Arc::new(entry.node),
                chunk: at,
                chunk_end: end,
                clean,
                header: false,
            });
            continue;
        }
        let Value::Table(table) = entry.node.value else {
            out.diagnostics.push(wrong_top_level(&entry).shifted(at));
            continue;
        };
        for e in table.entries {
            if let Some((_, name)) = &named
                && name.as_deref() != Some(e.key.as_str())
            {
                continue;
            }
            out.parts.push(Part {
                kind,
                name: e.key,
                key_span: e.key_span,
                node: Arc::new(e.node),
                chunk: at,
                chunk_end: end,
                clean,
                header: false,
            });
        }
    }
    clean
}

/// The key a piece of a broken header starts with: a bare key, or a quoted one's text
/// (`s1` of ` s1],`).
fn leading_key(piece: &str) -> String {
    let piece = piece.trim_start();
    match piece.chars().next() {
        Some(q @ ('"' | '\'')) => piece[1..].split(q).next().unwrap_or_default().to_owned(),
        _ => piece
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '-')
            .collect(),
    }
}

/// A top-level key that is not a table (`steps = 1`).
fn wrong_top_level(entry: &syntax::Entry) -> Diagnostic {
    diagnostics::wrong_type::new(entry.node.span, &entry.key, "table", entry.node.value.type_name())
}

/// Splits the file into items. Re-runs on every edit; reuses every unchanged block's parse
/// and every unchanged item's syntax (`Arc`), so the queries below it do not re-run.
#[salsa::tracked(returns(ref))]
pub fn items(db: &dyn Db, file: SourceFile) -> Items<'_> {
    let mut diags = Vec::new();
    let parsed: Vec<(Block<'_>, u32, &BlockParse)> =
        blocks(db, file).iter().map(|&b| (b, b.offset(db), parse_block(db, b))).collect();
    let mut headers: FxHashMap<&str, u32> = FxHashMap::default();
    // Whether any `[[array]]` header is written, and the chunks whose header line got a
    // "defined twice" (so the structure check does not say it again).
    let (mut array_headers, mut reported) = (false, Vec::new());
    let mut cap = SyntaxCap::default();
    // Every part with its absolute chunk offset, in file order, and where each block's
    // parts start.
    let mut parts: Vec<(u32, &Part)> =
        Vec::with_capacity(parsed.iter().map(|(_, _, p)| p.parts.len()).sum());
    let mut block_starts: Vec<(Block<'_>, usize)> = Vec::with_capacity(parsed.len());
    for &(block, off, parsed) in &parsed {
        block_starts.push((block, parts.len()));
        for h in &parsed.headers {
            let at = off + h.at;
            if let Some(prefix) = h.array_prefix() {
                // A new element of an array of tables: its tables are new too.
                headers.retain(|text, _| !text.starts_with(&prefix));
                array_headers = true;
            } else if let Some(first) = headers.insert(h.text.as_str(), at) {
                cap.push(&mut diags, defined_twice(&h.text, at, first));
                reported.push(at);
            }
        }
        for d in &parsed.diagnostics {
            cap.push(&mut diags, d.shifted(off));
        }
        parts.extend(parsed.parts.iter().map(|p| (off + p.chunk, p)));
    }
    // With an array of tables in the file, a header written twice may be two elements'
    // tables: only the structure check, which knows, says whether it is defined twice.
    let mut twice = Vec::new();
    let more = repeated_parts(&parts, (!array_headers).then_some(&mut reported), &mut twice);
    let involved = structure::involved(db, &parsed, &more);
    for d in twice.into_iter().chain(structure::check(&involved, &reported)) {
        cap.push(&mut diags, d);
    }
    cap.finish(&mut diags);
    let mut items: Vec<(ItemKind, Item<'_>)> = Vec::with_capacity(parts.len());
    let mut groups = Vec::with_capacity(block_starts.len());
    for (b, &(block, start)) in block_starts.iter().enumerate() {
        let end = block_starts.get(b + 1).map_or(parts.len(), |&(_, e)| e);
        let mut members = Vec::with_capacity(end - start);
        for (i, &(base, part)) in parts.iter().enumerate().take(end).skip(start) {
            let (syntax, base) = match more.get(&i) {
                None => ((part.node.clone(), part.key_span), base),
                Some(None) => continue, // merged into an earlier part's item
                Some(Some(rest)) => {
                    let list: Vec<(u32, &Part)> =
                        std::iter::once(i).chain(rest.iter().copied()).map(|j| parts[j]).collect();
                    let (node, key_span) = merge(&list);
                    ((Arc::new(node), key_span), 0)
                }
            };
            let item = Item::new(db, file, part.kind, part.name.clone(), syntax, base);
            items.push((part.kind, item));
            members.push(item);
        }
        if !members.is_empty() {
            groups.push(Group::new(db, block, members));
        }
    }
    Items { items, groups, diagnostics: diags }
}

/// Parts that name an item named before (rare: `[steps.a]` and `[steps.a.inputs]`, or a
/// table written twice), by position in `parts`: the first part of such an item maps to
/// the positions of the others, which map to `None`. With `reported`, also reports a header
/// of an item's own ([`Part::header`]) written twice, and adds where to `reported`. Found by
/// sorting hashes, not with a map of every name: files have 100,000 steps and almost never
/// a repeat.
fn repeated_parts(
    parts: &[(u32, &Part)],
    reported: Option<&mut Vec<u32>>,
    diags: &mut Vec<Diagnostic>,
) -> FxHashMap<usize, Option<Vec<usize>>> {
    let hash = |p: &Part| {
        let mut h = FxHasher::default();
        h.write_u8(p.kind as u8);
        h.write(p.name.as_bytes());
        h.finish()
    };
    let mut keys: Vec<(u64, usize)> =
        parts.iter().enumerate().map(|(i, (_, p))| (hash(p), i)).collect();
    keys.sort_unstable();
    let mut out: FxHashMap<usize, Option<Vec<usize>>> = FxHashMap::default();
    for run in keys.chunk_by(|a, b| a.0 == b.0).filter(|run| run.len() > 1) {
        // Within a run (equal hashes, positions ascending), each part joins the first
        // earlier part with the same kind and name.
        let mut firsts: Vec<usize> = Vec::new();
        for &(_, i) in run {
            let (_, p) = parts[i];
            match firsts.iter().find(|&&f| parts[f].1.kind == p.kind && parts[f].1.name == p.name) {
                Some(&f) => {
                    out.insert(i, None);
                    if let Some(Some(rest)) = out.get_mut(&f) {
                        rest.push(i);
                    } else {
                        out.insert(f, Some(vec![i]));
                    }
                }
                None => firsts.push(i),
            }
        }
    }
    // A header of an item's own written twice: relate each to the one before.
    let Some(reported) = reported else { return out };
    let mut firsts: Vec<(&usize, &Vec<usize>)> =
        out.iter().filter_map(|(f, rest)| rest.as_ref().map(|r| (f, r))).collect();
    firsts.sort_unstable();
    for (&f, rest) in firsts {
        let mut last = None;
        for j in std::iter::once(f).chain(rest.iter().copied()) {
            let (base, part) = parts[j];
            if !part.header {
                continue;
            }
            if let Some(before) = last {
                diags.push(defined_twice(&header_of(part), base, before));
                reported.push(base);
            }
            last = Some(base);
        }
    }
    out
}

/// `[steps.a]` (`[pipeline]`): the header of a part with [`Part::header`].
fn header_of(part: &Part) -> String {
    match part.kind {
        k if k.is_unnamed() => format!("[{}]", k.table()),
        k => format!("[{}.{}]", k.table(), part.name),
    }
}

/// E0001 for table `header` written again at `at`, first (last) written at `first`.
fn defined_twice(header: &str, at: u32, first: u32) -> Diagnostic {
    let len = u32::try_from(header.len()).unwrap_or(0);
    diagnostics::syntax_error::toml(
        Span::new(at, at + len),
        &format!("table {header} is defined twice"),
    )
    .with_related(Span::new(first, first + len), "first defined here")
}

/// Merges an item's parts from several chunks into one node with absolute spans. Where
/// they clash (a key defined twice, an inline table extended), the first wins: the clash
/// itself is a syntax error that [`crate::structure`] reports.
fn merge(list: &[(u32, &Part)]) -> (Node, Span) {
    let (first_off, first) = list[0];
    let mut node = first.node.rebase(0);
    shift_node(&mut node, first_off);
    for &(off, part) in &list[1..] {
        let mut other = (*part.node).clone();
        shift_node(&mut other, off);
        if let (Value::Table(a), Value::Table(b)) = (&mut node.value, other.value) {
            merge_tables(a, b);
        }
    }
    (node, first.key_span.shift(first_off))
}

fn merge_tables(dst: &mut Table, src: Table) {
    for e in src.entries {
        match dst.entries.iter_mut().find(|d| d.key == e.key) {
            None => dst.entries.push(e),
            Some(d) => {
                if let (Value::Table(a), Value::Table(b)) = (&mut d.node.value, e.node.value) {
                    merge_tables(a, b);
                }
            }
        }
    }
}

fn shift_node(node: &mut Node, by: u32) {
    node.span = node.span.shift(by);
    match &mut node.value {
        Value::Array(items) => items.iter_mut().for_each(|n| shift_node(n, by)),
        Value::Table(t) => t.entries.iter_mut().for_each(|e: &mut syntax::Entry| {
            e.key_span = e.key_span.shift(by);
            shift_node(&mut e.node, by);
        }),
        _ => {}
    }
}
