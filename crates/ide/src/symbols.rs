//! Document symbols: the outline of the file, grouped by table (`steps`, `data`, …), each
//! step with its inputs and outputs.

use hir::{Db, ItemKind, SourceFile};
use syntax::Span;

use crate::refs::item_extent;

/// What a symbol is (the server maps these to the protocol's kinds).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SymbolKind {
    /// A top-level table grouping items (`steps`).
    Table,
    /// `[pipeline]`.
    Pipeline,
    /// A parameter.
    Parameter,
    /// An environment.
    Environment,
    /// A datastore.
    Datastore,
    /// A data reference.
    Data,
    /// A compute target.
    Compute,
    /// A step.
    Step,
    /// A step's input.
    Input,
    /// A step's output.
    Output,
}

/// One entry of the outline.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DocumentSymbol {
    /// Its name.
    pub name: String,
    /// A short detail.
    pub detail: Option<String>,
    /// What it is.
    pub kind: SymbolKind,
    /// Everything it covers (absolute).
    pub range: Span,
    /// Its name (absolute); inside `range`.
    pub selection: Span,
    /// Nested symbols.
    pub children: Vec<DocumentSymbol>,
}

fn kind_of(k: ItemKind) -> SymbolKind {
    match k {
        ItemKind::Pipeline | ItemKind::Cache => SymbolKind::Pipeline,
        ItemKind::Parameter => SymbolKind::Parameter,
        ItemKind::Environment => SymbolKind::Environment,
        ItemKind::Datastore => SymbolKind::Datastore,
        ItemKind::Data => SymbolKind::Data,
        ItemKind::Compute => SymbolKind::Compute,
        ItemKind::Step => SymbolKind::Step,
    }
}

fn union(a: Span, b: Span) -> Span {
    Span::new(a.start.min(b.start), a.end.max(b.end))
}

/// The outline: one group per table, in order of first appearance.
pub fn document_symbols(db: &dyn Db, file: SourceFile) -> Vec<DocumentSymbol> {
    let mut groups: Vec<DocumentSymbol> = Vec::new();
    for &(kind, item) in &hir::items(db, file).items {
        let range = item_extent(db, item);
        let selection = item.name_span(db);
        let mut children = Vec::new();
        let mut detail = None;
        if let Some(step) = hir::lower_item(db, item).step() {
            let base = item.base(db);
            for i in &step.inputs {
                let span = i.name.span.shift(base);
                children.push(DocumentSymbol {
                    name: i.name.value.clone(),
                    detail: Some(i.reference.value.clone()),
                    kind: SymbolKind::Input,
                    range: union(span, i.reference.span.shift(base)),
                    selection: span,
                    children: Vec::new(),
                });
            }
            for o in &step.outputs {
                let span = o.span.shift(base);
                children.push(DocumentSymbol {
                    name: o.value.clone(),
                    detail: Some("output".to_owned()),
                    kind: SymbolKind::Output,
                    range: span,
                    selection: span,
                    children: Vec::new(),
                });
            }
            detail = step.script.as_ref().map(|s| s.value.clone());
        }
        let sym = DocumentSymbol {
            name: if kind.is_unnamed() { kind.table().to_owned() } else { item.name(db).clone() },
            detail: detail.or_else(|| Some(kind.noun().to_owned())),
            kind: kind_of(kind),
            range,
            selection,
            children,
        };
        if kind.is_unnamed() {
            groups.push(sym);
            continue;
        }
        match groups.iter_mut().find(|g| g.kind == SymbolKind::Table && g.name == kind.table()) {
            Some(g) => {
                g.range = union(g.range, range);
                g.children.push(sym);
            }
            None => groups.push(DocumentSymbol {
                name: kind.table().to_owned(),
                detail: None,
                kind: SymbolKind::Table,
                range,
                selection,
                children: vec![sym],
            }),
        }
    }
    groups
}
