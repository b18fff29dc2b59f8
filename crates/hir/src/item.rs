//! From the parsed tree to one tracked [`Item`] per named table.
//!
//! An item's syntax is stored with spans relative to its own first byte, and its position
//! in a separate field. Editing one step changes that step's syntax and the positions of
//! the items below it, but no other item's syntax: queries that read only `syntax` (all of
//! lowering, resolution and keys) are reused for them. This is rust-analyzer's item tree
//! idea, with salsa's tracked-struct fields doing the early cutoff.

#![allow(missing_docs)] // salsa generates constructors, getters and setters without docs; ours are documented.
use syntax::{Node, Parse, Span, Table, Value};

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
/// (relative spans) and where it starts.
#[salsa::tracked(debug)]
pub struct Item<'db> {
    /// Which table.
    #[returns(copy)]
    pub kind: ItemKind,
    /// Its name (`train` for `[steps.train]`; empty for `[pipeline]`).
    #[returns(ref)]
    pub name: String,
    /// The item's value with spans relative to [`Item::base`], and the span of its name.
    #[tracked]
    #[returns(ref)]
    pub syntax: (Node, Span),
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

/// Parses the file (see the `syntax` crate).
#[salsa::tracked(returns(ref))]
pub fn parse(db: &dyn Db, file: SourceFile) -> Parse {
    syntax::parse(file.text(db))
}

/// Splits the file into items. Re-runs on every edit (it is cheap); the items' tracked
/// fields keep the queries below it from re-running.
#[salsa::tracked(returns(ref))]
pub fn items(db: &dyn Db, file: SourceFile) -> Items<'_> {
    let parse = parse(db, file);
    let mut items = Vec::new();
    let mut diags = Vec::new();
    for entry in &parse.root.entries {
        let Some(kind) = ItemKind::from_table(&entry.key) else {
            let names: Vec<&str> = schema::TABLES.iter().map(|t| t.name).collect();
            diags.push(diagnostics::unknown_key::top_level(entry.key_span, &entry.key, &names));
            continue;
        };
        let Value::Table(table) = &entry.node.value else {
            diags.push(diagnostics::wrong_type::new(
                entry.node.span,
                &entry.key,
                "table",
                entry.node.value.type_name(),
            ));
            continue;
        };
        if kind == ItemKind::Pipeline {
            items.push((kind, make_item(db, kind, String::new(), entry.key_span, &entry.node)));
            continue;
        }
        push_named(db, kind, table, &mut items);
    }
    Items { items, diagnostics: diags }
}

fn push_named<'db>(
    db: &'db dyn Db,
    kind: ItemKind,
    table: &Table,
    items: &mut Vec<(ItemKind, Item<'db>)>,
) {
    for e in &table.entries {
        items.push((kind, make_item(db, kind, e.key.clone(), e.key_span, &e.node)));
    }
}

fn make_item<'db>(
    db: &'db dyn Db,
    kind: ItemKind,
    name: String,
    key_span: Span,
    node: &Node,
) -> Item<'db> {
    let base = key_span.start.min(node.min_start());
    Item::new(db, kind, name, (node.rebase(base), key_span.rebase(base)), base)
}
