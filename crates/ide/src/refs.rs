//! What is where: every name the file defines or refers to (occurrences of [`Symbol`]s),
//! every key, header segment and path, with absolute spans. Hover, goto, references and
//! rename all start here.

use hir::template::Kind;
use hir::{Db, Item, ItemData, ItemKind, SourceFile, paths};
use syntax::{Span, Value};

use crate::text::{self, Header, inner_start, placeholders, to_u32};

/// Something with a name that can be defined, referred to and renamed.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Symbol {
    /// A named item: `steps.train`, `data.raw`, a parameter, an environment, a compute
    /// target or a datastore (also the built-in `local` and `workspace`).
    Item(ItemKind, String),
    /// An output of a step.
    Output {
        /// The step.
        step: String,
        /// The output.
        output: String,
    },
    /// An input of a step.
    Input {
        /// The step.
        step: String,
        /// The input.
        input: String,
    },
}

impl Symbol {
    /// `steps.train`, `steps.train.outputs.model`, `parameters.lr`, …
    pub fn path(&self) -> String {
        match self {
            Symbol::Item(k, _) if k.is_unnamed() => k.table().to_owned(),
            Symbol::Item(k, n) => format!("{}.{n}", k.table()),
            Symbol::Output { step, output } => format!("steps.{step}.outputs.{output}"),
            Symbol::Input { step, input } => format!("steps.{step}.inputs.{input}"),
        }
    }

    /// How messages name its kind.
    pub fn noun(&self) -> &'static str {
        match self {
            Symbol::Item(k, _) => k.noun(),
            Symbol::Output { .. } => "output",
            Symbol::Input { .. } => "input",
        }
    }

    /// The bare name.
    pub fn name(&self) -> &str {
        match self {
            Symbol::Item(_, n) => n,
            Symbol::Output { output, .. } => output,
            Symbol::Input { input, .. } => input,
        }
    }
}

/// Whether an occurrence defines its symbol or refers to it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// The declaration (a header's name, an `outputs` element, an `inputs` key).
    Definition,
    /// Another header naming the same item (`[steps.a.env]` for step `a`).
    Header,
    /// A reference string or a placeholder.
    Reference,
}

/// One place a symbol's name is written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Occurrence {
    /// What is named.
    pub symbol: Symbol,
    /// Definition, header or reference.
    pub role: Role,
    /// The name's bytes (absolute). When the name sits in a string literal with escapes,
    /// the literal's span, with [`Occurrence::literal`] saying how to rewrite it.
    pub span: Span,
    /// For a name inside an escaped literal: its value and the name's range in the value.
    pub literal: Option<(String, std::ops::Range<usize>)>,
    /// For a placeholder: the `${…}` span (absolute), so hovering anywhere on it counts.
    pub placeholder: Option<(Span, Kind)>,
}

/// Anything under the cursor.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Hit {
    /// A symbol's name.
    Occ(Occurrence),
    /// A reference string as a whole (`"steps.a.outputs.o"`): what it points at.
    Within { span: Span, occ: Occurrence },
    /// A key of a table: schema table name (`steps`) and key.
    Key { table: &'static str, key: String, span: Span },
    /// The table part of a header (`steps` in `[steps.train]`).
    Table { table: &'static str, span: Span },
    /// A path value: normalised, relative to the pipeline's folder.
    Path { rel: String, what: &'static str, span: Span },
}

impl Hit {
    /// The bytes that count as "on" this hit.
    pub(crate) fn span(&self) -> Span {
        match self {
            Hit::Occ(o) => o.placeholder.map_or(o.span, |(s, _)| s),
            Hit::Within { span, .. }
            | Hit::Key { span, .. }
            | Hit::Table { span, .. }
            | Hit::Path { span, .. } => *span,
        }
    }

    /// The occurrence this hit is about, if it is about a symbol.
    pub(crate) fn occurrence(self) -> Option<Occurrence> {
        match self {
            Hit::Occ(o) | Hit::Within { occ: o, .. } => Some(o),
            _ => None,
        }
    }
}

/// The absolute span covered by an item's syntax (its name and everything in its value).
pub(crate) fn item_extent(db: &dyn Db, item: Item<'_>) -> Span {
    fn walk(node: &syntax::Node, acc: &mut Span) {
        acc.start = acc.start.min(node.span.start);
        acc.end = acc.end.max(node.span.end);
        match &node.value {
            Value::Array(items) => items.iter().for_each(|n| walk(n, acc)),
            Value::Table(t) => t.entries.iter().for_each(|e| {
                acc.start = acc.start.min(e.key_span.start);
                acc.end = acc.end.max(e.key_span.end);
                walk(&e.node, acc);
            }),
            _ => {}
        }
    }
    let (node, name) = item.syntax(db);
    let mut acc = *name;
    walk(node, &mut acc);
    acc.shift(item.base(db))
}

/// Builds hits and occurrences for items.
struct Collector<'t> {
    text: &'t str,
    base: u32,
    out: Vec<Hit>,
}

impl Collector<'_> {
    fn abs(&self, s: Span) -> Span {
        s.shift(self.base)
    }

    fn occ(&mut self, symbol: Symbol, role: Role, span: Span) {
        self.out.push(Hit::Occ(Occurrence {
            symbol,
            role,
            span: self.abs(span),
            literal: None,
            placeholder: None,
        }));
    }

    /// An occurrence of a name at `range` inside the string literal `lit` holding `value`.
    fn in_literal(
        &mut self,
        symbol: Symbol,
        role: Role,
        lit: Span,
        value: &str,
        range: std::ops::Range<usize>,
        placeholder: Option<(std::ops::Range<usize>, Kind)>,
    ) {
        let lit = self.abs(lit);
        let (span, literal, ph) = match inner_start(self.text, lit, value) {
            Some(start) => {
                let at = |o: usize| start + to_u32(o);
                let ph = placeholder.map(|(r, k)| (Span::new(at(r.start), at(r.end)), k));
                (Span::new(at(range.start), at(range.end)), None, ph)
            }
            None => (lit, Some((value.to_owned(), range)), placeholder.map(|(_, k)| (lit, k))),
        };
        self.out.push(Hit::Occ(Occurrence { symbol, role, span, literal, placeholder: ph }));
    }

    fn key(&mut self, table: &'static str, key: &str, span: Span) {
        let span = self.abs(span);
        self.out.push(Hit::Key { table, key: key.to_owned(), span });
    }

    fn path(&mut self, rel: String, what: &'static str, span: Span) {
        let span = self.abs(span);
        self.out.push(Hit::Path { rel, what, span });
    }

    /// `data.X` or `steps.S.outputs.O` written in literal `lit`.
    fn reference(&mut self, lit: Span, value: &str) {
        let parts: Vec<&str> = value.split('.').collect();
        match parts.as_slice() {
            ["data", name] => {
                let sym = Symbol::Item(ItemKind::Data, (*name).to_owned());
                self.in_literal(sym, Role::Reference, lit, value, 5..value.len(), None);
            }
            ["steps", step, "outputs", output] => {
                let s = 6..6 + step.len();
                let o = value.len() - output.len()..value.len();
                let step_sym = Symbol::Item(ItemKind::Step, (*step).to_owned());
                self.in_literal(step_sym, Role::Reference, lit, value, s, None);
                let out_sym =
                    Symbol::Output { step: (*step).to_owned(), output: (*output).to_owned() };
                self.in_literal(out_sym, Role::Reference, lit, value, o, None);
            }
            _ => return,
        }
        if let Some(Hit::Occ(occ)) = self.out.last() {
            let occ = occ.clone();
            let span = self.abs(lit);
            self.out.push(Hit::Within { span, occ });
        }
    }

    fn templates(&mut self, step: &str, lit: Span, value: &str) {
        for p in placeholders(value) {
            let sym = match p.kind {
                Kind::Inputs => Symbol::Input { step: step.to_owned(), input: p.name.to_owned() },
                Kind::Outputs => {
                    Symbol::Output { step: step.to_owned(), output: p.name.to_owned() }
                }
                Kind::Params => Symbol::Item(ItemKind::Parameter, p.name.to_owned()),
            };
            let name = p.name_at..p.name_at + p.name.len();
            self.in_literal(sym, Role::Reference, lit, value, name, Some((p.whole, p.kind)));
        }
    }
}

/// Every hit inside one item (absolute spans).
pub(crate) fn item_hits(db: &dyn Db, file: SourceFile, item: Item<'_>) -> Vec<Hit> {
    let text = file.text(db);
    let kind = item.kind(db);
    let name = item.name(db).clone();
    let mut c = Collector { text, base: item.base(db), out: Vec::new() };
    let (node, name_span) = item.syntax(db);
    if !kind.is_unnamed() {
        c.occ(Symbol::Item(kind, name.clone()), Role::Definition, *name_span);
    }
    let table = kind.table();
    if let Value::Table(t) = &node.value {
        for e in &t.entries {
            c.key(table, &e.key, e.key_span);
        }
    }
    let lowered = hir::lower_item(db, item);
    match &lowered.data {
        Some(ItemData::Step(step)) => {
            let src = paths::normalize(step.source_directory());
            if let Some(sd) = &step.source_directory {
                c.path(src.clone(), "source directory", sd.span);
            }
            if let Some(s) = &step.script {
                c.path(paths::join(&src, &s.value), "script", s.span);
            }
            for h in &step.hash_paths {
                c.path(paths::join(&src, &h.value), "hash path", h.span);
            }
            if let Some(e) = &step.environment {
                let sym = Symbol::Item(ItemKind::Environment, e.value.clone());
                c.in_literal(sym, Role::Reference, e.span, &e.value, 0..e.value.len(), None);
            }
            if let Some(e) = &step.compute {
                let sym = Symbol::Item(ItemKind::Compute, e.value.clone());
                c.in_literal(sym, Role::Reference, e.span, &e.value, 0..e.value.len(), None);
            }
            for o in &step.outputs {
                let sym = Symbol::Output { step: name.clone(), output: o.value.clone() };
                c.in_literal(sym, Role::Definition, o.span, &o.value, 0..o.value.len(), None);
            }
            for i in &step.inputs {
                let sym = Symbol::Input { step: name.clone(), input: i.name.value.clone() };
                c.occ(sym, Role::Definition, i.name.span);
                c.reference(i.reference.span, &i.reference.value);
            }
            for t in step.templates() {
                c.templates(&name, t.span, &t.value);
            }
        }
        Some(ItemData::Data(d)) => {
            if let Value::Table(t) = &node.value
                && t.get("datastore").is_some()
            {
                let v = &d.datastore.value;
                let sym = Symbol::Item(ItemKind::Datastore, v.clone());
                c.in_literal(sym, Role::Reference, d.datastore.span, v, 0..v.len(), None);
            }
            if let Some(p) = &d.path
                && let Some(Some(rel)) = hir::index(db, file).data.get(&name)
            {
                c.path(rel.clone(), "data", p.span);
            }
        }
        Some(ItemData::Environment(e)) => {
            if let Some(r) = &e.requirements {
                c.path(paths::normalize(&r.value), "requirements file", r.span);
            }
        }
        Some(ItemData::Datastore(d)) => {
            if let Some(p) = &d.path {
                c.path(paths::normalize(&p.value), "datastore folder", p.span);
            }
        }
        _ => {}
    }
    c.out
}

/// Hits in table headers: the table part (`steps`) and, for headers of sub-tables
/// (`[steps.a.env]`), the item's name again.
pub(crate) fn header_hits(db: &dyn Db, file: SourceFile) -> Vec<Hit> {
    let mut out = Vec::new();
    for h in text::headers(db, file) {
        header_hit(h, &mut out);
    }
    out
}

fn header_hit(h: &Header, out: &mut Vec<Hit>) {
    let Some((first, first_span)) = h.path.first() else { return };
    let Some(kind) = ItemKind::from_table(first) else { return };
    let Some(spec) = hir::schema::table(first) else { return };
    out.push(Hit::Table { table: spec.name, span: *first_span });
    if kind.is_unnamed() || kind == ItemKind::Parameter {
        return;
    }
    if let Some((name, span)) = h.path.get(1) {
        // The item's own header is its definition (from the tree); others are extra
        // headers of the same item. Both are reported; `occurrences` dedups by span.
        out.push(Hit::Occ(Occurrence {
            symbol: Symbol::Item(kind, name.clone()),
            role: Role::Header,
            span: *span,
            literal: None,
            placeholder: None,
        }));
        if let Some((key, span)) = h.path.get(2) {
            out.push(Hit::Key { table: spec.name, key: key.clone(), span: *span });
        }
    }
}

/// The innermost hit at `offset`.
pub(crate) fn hit_at(db: &dyn Db, file: SourceFile, offset: u32) -> Option<Hit> {
    let mut candidates: Vec<Hit> = Vec::new();
    for &(_, item) in &hir::items(db, file).items {
        if item_extent(db, item).touches(offset) {
            candidates
                .extend(item_hits(db, file, item).into_iter().filter(|h| h.span().touches(offset)));
        }
    }
    for h in text::headers(db, file) {
        if h.span.touches(offset) {
            let mut hs = Vec::new();
            header_hit(h, &mut hs);
            candidates.extend(hs.into_iter().filter(|h| h.span().touches(offset)));
        }
    }
    // Innermost first; a definition beats a header occurrence at the same span; a span
    // that starts at the cursor beats one that ends there.
    candidates.into_iter().min_by_key(|h| {
        let s = h.span();
        let role = match h {
            Hit::Occ(o) if o.role == Role::Header => 1,
            _ => 0,
        };
        (s.end - s.start, role, u32::from(s.end == offset && s.start != offset))
    })
}

/// Every occurrence of `symbol` in the file, definition first, then in file order;
/// each span once.
pub fn occurrences(db: &dyn Db, file: SourceFile, symbol: &Symbol) -> Vec<Occurrence> {
    let mut out: Vec<Occurrence> = Vec::new();
    let scope_items: Vec<Item<'_>> = match symbol {
        // Step-local names live in their step.
        Symbol::Input { step, .. } => hir::find_step(db, file, step).into_iter().collect(),
        _ => hir::items(db, file).items.iter().map(|&(_, it)| it).collect(),
    };
    for item in scope_items {
        for hit in item_hits(db, file, item) {
            if let Hit::Occ(o) = hit
                && &o.symbol == symbol
            {
                out.push(o);
            }
        }
    }
    for hit in header_hits(db, file) {
        if let Hit::Occ(o) = hit
            && &o.symbol == symbol
        {
            out.push(o);
        }
    }
    out.sort_by_key(|o| (o.role != Role::Definition, o.span.start));
    let mut seen = std::collections::HashSet::new();
    out.retain(|o| seen.insert(o.span));
    out
}
