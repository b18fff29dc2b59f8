//! From the text to one tracked [`Item`] per named table, parsing only what changed.
//!
//! The text is split into [`Chunk`]s at top-level table headers (`syntax::chunks`); each
//! chunk is a tracked struct (identity: its header line) whose text and offset are tracked
//! fields, and [`parse_chunk`] reads only its text. An edit inside one step therefore
//! reparses one chunk. Each chunk yields the parts of items it defines, with spans relative
//! to the chunk; [`items`] makes one tracked [`Item`] per (kind, name) holding its syntax in
//! an `Arc` plus the offset to add. Unchanged items keep the same `Arc`, so salsa sees an
//! equal field at pointer-compare cost and every query below (lowering, resolution, keys)
//! is reused. This is rust-analyzer's item tree idea, with tracked-struct fields doing the
//! early cutoff. An item spread over several chunks (`[steps.a]` and `[steps.a.inputs]`) is
//! merged, with absolute spans.

#![allow(missing_docs)] // salsa generates constructors, getters and setters without docs; ours are documented.

use std::collections::HashMap;
use std::sync::Arc;

use syntax::{Entry, Node, Parse, Span, SyntaxErrorKind, Table, Value};

use crate::diagnostics::{self, Diagnostic};
use crate::{Db, SourceFile, schema};

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
        }
    }

    /// The kind whose table is `name`.
    pub fn from_table(name: &str) -> Option<ItemKind> {
        [
            ItemKind::Pipeline,
            ItemKind::Parameter,
            ItemKind::Environment,
            ItemKind::Datastore,
            ItemKind::Data,
            ItemKind::Compute,
            ItemKind::Step,
        ]
        .into_iter()
        .find(|k| k.table() == name)
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
        }
    }
}

/// One named table of the file. Identity: kind and name. Tracked fields: its syntax
/// (spans relative to [`Item::base`]) and where it starts.
#[salsa::tracked(debug)]
pub struct Item<'db> {
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
            ItemKind::Pipeline => "pipeline".to_owned(),
            k => format!("{}.{}", k.table(), self.name(db)),
        }
    }

    /// The absolute span of the item's name.
    pub fn name_span(self, db: &'db dyn Db) -> Span {
        self.syntax(db).1.shift(self.base(db))
    }
}

/// Every item of the file plus the diagnostics of the top level (unknown tables, tables
/// of the wrong type).
#[derive(Clone, Debug, PartialEq, Eq, salsa::SalsaValue)]
pub struct Items<'db> {
    /// Items in source order, with their kinds.
    pub items: Vec<(ItemKind, Item<'db>)>,
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

/// A top-level piece of the text: what precedes the first table header, or one header with
/// its body.
#[salsa::tracked(debug)]
pub struct Chunk<'db> {
    /// The header line, blanks removed (`[steps.a]`), empty for the first chunk.
    #[returns(ref)]
    pub header: String,
    /// The chunk's text.
    #[tracked]
    #[returns(ref)]
    pub text: String,
    /// Where it starts in the file.
    #[tracked]
    #[returns(copy)]
    pub offset: u32,
}

/// The file's chunks, in order. Re-runs on every edit; cheap (one byte scan).
#[salsa::tracked(returns(ref))]
pub fn chunks(db: &dyn Db, file: SourceFile) -> Vec<Chunk<'_>> {
    let text = file.text(db);
    syntax::chunks(text)
        .into_iter()
        .map(|(start, end)| {
            let body = &text[start as usize..end as usize];
            let header = if start == 0 && !body.trim_start().starts_with('[') {
                String::new()
            } else {
                let line = body.lines().next().unwrap_or_default();
                let line = line.split('#').next().unwrap_or(line);
                line.chars().filter(|c| !c.is_whitespace()).collect()
            };
            Chunk::new(db, header, body.to_owned(), start)
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
}

/// One chunk, parsed: the item parts it holds and its diagnostics (relative spans).
#[derive(Clone, Debug, PartialEq, Eq, Default, salsa::SalsaValue)]
pub struct ChunkParse {
    /// Item parts, in order.
    pub parts: Vec<Part>,
    /// Syntax errors and top-level diagnostics.
    pub diagnostics: Vec<Diagnostic>,
}

/// Parses one chunk. Reads only the chunk's text.
#[salsa::tracked(returns(ref))]
pub fn parse_chunk<'db>(db: &'db dyn Db, chunk: Chunk<'db>) -> ChunkParse {
    let parse = syntax::parse(chunk.text(db));
    let mut out = ChunkParse::default();
    for e in &parse.errors {
        out.diagnostics.push(match e.kind {
            SyntaxErrorKind::Toml => diagnostics::syntax_error::toml(e.span, &e.message),
            SyntaxErrorKind::TooDeep => diagnostics::syntax_error::too_deep(e.span, &e.message),
        });
    }
    for entry in &parse.root.entries {
        let Some(kind) = ItemKind::from_table(&entry.key) else {
            let names: Vec<&str> = schema::TABLES.iter().map(|t| t.name).collect();
            out.diagnostics.push(diagnostics::unknown_key::top_level(
                entry.key_span,
                &entry.key,
                &names,
            ));
            continue;
        };
        let Value::Table(table) = &entry.node.value else {
            out.diagnostics.push(diagnostics::wrong_type::new(
                entry.node.span,
                &entry.key,
                "table",
                entry.node.value.type_name(),
            ));
            continue;
        };
        if kind == ItemKind::Pipeline {
            out.parts.push(Part {
                kind,
                name: String::new(),
                key_span: entry.key_span,
                node: Arc::new(entry.node.clone()),
            });
            continue;
        }
        for e in &table.entries {
            out.parts.push(Part {
                kind,
                name: e.key.clone(),
                key_span: e.key_span,
                node: Arc::new(e.node.clone()),
            });
        }
    }
    out
}

/// Splits the file into items. Re-runs on every edit; reuses every unchanged chunk's parse
/// and every unchanged item's syntax (`Arc`), so the queries below it do not re-run.
#[salsa::tracked(returns(ref))]
pub fn items(db: &dyn Db, file: SourceFile) -> Items<'_> {
    let mut diags = Vec::new();
    let mut order: Vec<(ItemKind, &str)> = Vec::new();
    let mut parts: HashMap<(ItemKind, &str), Vec<(u32, &Part)>> = HashMap::new();
    let mut headers: HashMap<&str, u32> = HashMap::new();
    for &chunk in chunks(db, file) {
        let off = chunk.offset(db);
        let header = chunk.header(db);
        if header.starts_with('[')
            && !header.starts_with("[[")
            && let Some(first) = headers.insert(header.as_str(), off)
        {
            let len = u32::try_from(header.len()).unwrap_or(0);
            diags.push(
                diagnostics::syntax_error::toml(
                    Span::new(off, off + len),
                    &format!("table {header} is defined twice"),
                )
                .with_related(Span::new(first, first + len), "first defined here"),
            );
        }
        let parsed = parse_chunk(db, chunk);
        diags.extend(parsed.diagnostics.iter().map(|d| d.shifted(off)));
        for part in &parsed.parts {
            let key = (part.kind, part.name.as_str());
            let list = parts.entry(key).or_default();
            if list.is_empty() {
                order.push(key);
            }
            list.push((off, part));
        }
    }
    let mut items = Vec::with_capacity(order.len());
    for key in order {
        let list = &parts[&key];
        let (kind, name) = key;
        let item = match list.as_slice() {
            [(off, part)] => {
                Item::new(db, kind, name.to_owned(), (part.node.clone(), part.key_span), *off)
            }
            _ => {
                let (node, key_span) = merge(list, &mut diags);
                Item::new(db, kind, name.to_owned(), (Arc::new(node), key_span), 0)
            }
        };
        items.push((kind, item));
    }
    Items { items, diagnostics: diags }
}

/// Merges an item's parts from several chunks into one node with absolute spans; a key
/// defined twice is a syntax error.
fn merge(list: &[(u32, &Part)], diags: &mut Vec<Diagnostic>) -> (Node, Span) {
    let (first_off, first) = list[0];
    let mut node = first.node.rebase(0);
    shift_node(&mut node, first_off);
    for &(off, part) in &list[1..] {
        let mut other = (*part.node).clone();
        shift_node(&mut other, off);
        match (&mut node.value, other.value) {
            (Value::Table(a), Value::Table(b)) => merge_tables(a, b, diags),
            _ => diags
                .push(diagnostics::syntax_error::toml(part.key_span.shift(off), "duplicate key")),
        }
    }
    (node, first.key_span.shift(first_off))
}

fn merge_tables(dst: &mut Table, src: Table, diags: &mut Vec<Diagnostic>) {
    for e in src.entries {
        match dst.entries.iter_mut().find(|d| d.key == e.key) {
            None => dst.entries.push(e),
            Some(d) => match (&mut d.node.value, e.node.value) {
                (Value::Table(a), Value::Table(b)) => merge_tables(a, b, diags),
                _ => diags.push(diagnostics::syntax_error::toml(
                    e.key_span,
                    &format!("duplicate key `{}`", e.key),
                )),
            },
        }
    }
}

fn shift_node(node: &mut Node, by: u32) {
    node.span = node.span.shift(by);
    match &mut node.value {
        Value::Array(items) => items.iter_mut().for_each(|n| shift_node(n, by)),
        Value::Table(t) => t.entries.iter_mut().for_each(|e: &mut Entry| {
            e.key_span = e.key_span.shift(by);
            shift_node(&mut e.node, by);
        }),
        _ => {}
    }
}
