//! Completion, from the text around the cursor (a half-typed line is not in the tree):
//! * a key at the start of a line: the keys of the enclosing table not yet present;
//! * after `[`: table names;
//! * in a string: `${inputs.`/`${outputs.`/`${params.` names the step declares, references
//!   (`data.X`, `steps.S.outputs.O`), and names of environments, compute targets and
//!   datastores after `environment =`, `compute =`, `datastore =`;
//! * a value after `key = `: the same names, quoted, and `true`/`false` for booleans.

use hir::schema::{self, Ty};
use hir::{Db, ItemKind, SourceFile};
use syntax::{Span, Value};

use crate::refs::item_extent;
use crate::text::{self, floor_boundary, to_u32};

/// What a completion item is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CompletionKind {
    /// A key of a table.
    Key,
    /// A table name in a header.
    Table,
    /// A step (or a step's output reference).
    Step,
    /// An output.
    Output,
    /// An input.
    Input,
    /// A parameter.
    Parameter,
    /// A data reference.
    Data,
    /// An environment, compute target or datastore.
    Named,
    /// A placeholder kind (`inputs.`).
    Placeholder,
    /// A literal value (`true`).
    Value,
}

/// One completion.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CompletionItem {
    /// What the list shows (and filters on).
    pub label: String,
    /// What it is.
    pub kind: CompletionKind,
    /// A short detail (type, target).
    pub detail: Option<String>,
    /// Markdown documentation.
    pub documentation: Option<String>,
    /// The bytes replaced (absolute): from the start of the word being typed to the cursor.
    pub replace: Span,
    /// The text inserted.
    pub insert: String,
}

/// Completions at `offset`.
pub fn completions(db: &dyn Db, file: SourceFile, offset: u32) -> Vec<CompletionItem> {
    let text = file.text(db);
    let at = floor_boundary(text, offset);
    let line_start = text[..at].rfind('\n').map_or(0, |i| i + 1);
    let line_end = text[at..].find('\n').map_or(text.len(), |i| at + i);
    let prefix = &text[line_start..at];
    let after = &text[at..line_end];
    let cx = Cx { db, file, at };
    match scan_line(prefix) {
        LineState::Comment => Vec::new(),
        LineState::InString(q) => cx.in_string(&prefix[..q], &prefix[q + 1..], after),
        LineState::Code => cx.in_code(prefix, after),
    }
}

enum LineState {
    Comment,
    /// Inside a string whose opening quote is at this byte of the prefix.
    InString(usize),
    Code,
}

/// Whether the end of `prefix` (one line) is in a string, a comment or code.
fn scan_line(prefix: &str) -> LineState {
    let bytes = prefix.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'#' => return LineState::Comment,
            q @ (b'"' | b'\'') => {
                let open = i;
                i += 1;
                loop {
                    if i >= bytes.len() {
                        return LineState::InString(open);
                    }
                    if q == b'"' && bytes[i] == b'\\' {
                        i += 2;
                        continue;
                    }
                    if bytes[i] == q {
                        break;
                    }
                    i += 1;
                }
            }
            _ => {}
        }
        i += 1;
    }
    LineState::Code
}

fn is_word(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == '-'
}

struct Cx<'a> {
    db: &'a dyn Db,
    file: SourceFile,
    at: usize,
}

impl Cx<'_> {
    fn span_back(&self, len: usize) -> Span {
        Span::new(to_u32(self.at - len), to_u32(self.at))
    }

    /// The step the cursor is in: the item whose text holds it, else the step of the last
    /// header above.
    fn enclosing_step(&self) -> Option<String> {
        let db = self.db;
        let at = to_u32(self.at);
        for item in hir::items(db, self.file).of_kind(ItemKind::Step) {
            if item_extent(db, item).touches(at) {
                return Some(item.name(db).clone());
            }
        }
        let h = self.header_above()?;
        match h.path.as_slice() {
            [(t, _), (name, _), ..] if t == "steps" => Some(name.clone()),
            _ => None,
        }
    }

    fn header_above(&self) -> Option<&text::Header> {
        text::headers(self.db, self.file).iter().rev().find(|h| (h.span.end as usize) <= self.at)
    }

    fn in_code(&self, prefix: &str, after: &str) -> Vec<CompletionItem> {
        let trimmed = prefix.trim_start();
        // A header being typed: `[ste`.
        if let Some(rest) = trimmed.strip_prefix('[') {
            let rest = rest.trim_start_matches('[').trim_start();
            if rest.contains('.') || !rest.chars().all(is_word) {
                return Vec::new();
            }
            return schema::TABLES
                .iter()
                .map(|t| CompletionItem {
                    label: t.name.to_owned(),
                    kind: CompletionKind::Table,
                    detail: Some(if t.named {
                        format!("[{}.NAME]", t.name)
                    } else {
                        format!("[{}]", t.name)
                    }),
                    documentation: Some(t.doc.to_owned()),
                    replace: self.span_back(rest.len()),
                    insert: if t.named { format!("{}.", t.name) } else { t.name.to_owned() },
                })
                .collect();
        }
        // A key at the start of a line: `scr`.
        if trimmed.chars().all(is_word) {
            return self.keys(trimmed, after);
        }
        // A value after `key = `.
        if let Some((key, value)) = trimmed.split_once('=') {
            let key = key.trim();
            let value = value.trim_start();
            if key.chars().all(is_word) && value.chars().all(is_word) {
                return self.values(key, value.len(), true);
            }
        }
        Vec::new()
    }

    /// Keys of the table the line is in, not yet present.
    fn keys(&self, typed: &str, after: &str) -> Vec<CompletionItem> {
        let Some(h) = self.header_above() else { return Vec::new() };
        let (table, name) = match h.path.as_slice() {
            [(t, _)] => (t.as_str(), None),
            [(t, _), (n, _)] => (t.as_str(), Some(n.as_str())),
            _ => return Vec::new(),
        };
        let Some(spec) = schema::table(table) else { return Vec::new() };
        if spec.named != name.is_some() || table == "parameters" {
            return Vec::new();
        }
        let kind = ItemKind::from_table(table);
        let present: Vec<String> = kind
            .and_then(|k| {
                hir::items(self.db, self.file)
                    .of_kind(k)
                    .find(|it| name.is_none_or(|n| it.name(self.db) == n))
            })
            .map(|it| match &it.syntax(self.db).0.value {
                Value::Table(t) => t.entries.iter().map(|e| e.key.clone()).collect(),
                _ => Vec::new(),
            })
            .unwrap_or_default();
        let rest = after.trim_start_matches(is_word).trim_start();
        let needs_eq = !rest.starts_with('=');
        spec.keys
            .iter()
            .filter(|k| !present.iter().any(|p| p == k.name))
            .map(|k| CompletionItem {
                label: k.name.to_owned(),
                kind: CompletionKind::Key,
                detail: Some(k.ty.describe().to_owned()),
                documentation: crate::hover::key_doc(spec.name, k.name),
                replace: self.span_back(typed.len()),
                insert: if needs_eq { format!("{} = ", k.name) } else { k.name.to_owned() },
            })
            .collect()
    }

    /// Names for `key`'s value; quoted when not typed inside a string.
    fn values(&self, key: &str, typed: usize, quoted: bool) -> Vec<CompletionItem> {
        let ix = hir::index(self.db, self.file);
        let q = |s: &str| if quoted { format!("\"{s}\"") } else { s.to_owned() };
        let named = |names: Vec<&String>, what: &str| -> Vec<CompletionItem> {
            names
                .into_iter()
                .map(|n| CompletionItem {
                    label: n.clone(),
                    kind: CompletionKind::Named,
                    detail: Some(what.to_owned()),
                    documentation: None,
                    replace: self.span_back(typed),
                    insert: q(n),
                })
                .collect()
        };
        let table = self.header_above().and_then(|h| h.path.first()).map(|(t, _)| t.as_str());
        match (key, table) {
            ("environment", _) => named(ix.environments.keys().collect(), "environment"),
            ("compute", _) => named(ix.computes.keys().collect(), "compute target"),
            ("datastore", _) => named(ix.datastores.keys().collect(), "datastore"),
            ("kind", _) => {
                let local = "local".to_owned();
                named(vec![&local], "kind")
            }
            (k, Some(t)) if !quoted => {
                let is_bool =
                    schema::table(t).and_then(|s| s.key(k)).is_some_and(|s| s.ty == Ty::Bool);
                if !is_bool {
                    return Vec::new();
                }
                ["true", "false"]
                    .iter()
                    .map(|v| CompletionItem {
                        label: (*v).to_owned(),
                        kind: CompletionKind::Value,
                        detail: None,
                        documentation: None,
                        replace: self.span_back(typed),
                        insert: (*v).to_owned(),
                    })
                    .collect()
            }
            _ => Vec::new(),
        }
    }

    /// Inside a string: `before` is the line up to the opening quote, `typed` the string's
    /// text up to the cursor.
    fn in_string(&self, before: &str, typed: &str, after: &str) -> Vec<CompletionItem> {
        // A placeholder being typed.
        if let Some(open) = typed.rfind("${")
            && !typed[open..].contains('}')
            && !(open > 0 && typed.as_bytes()[open - 1] == b'$')
        {
            return self.placeholder(&typed[open + 2..], after);
        }
        let key = before.trim_end().strip_suffix('=').map(|k| {
            let k = k.trim_end();
            let start = k.rfind(|c: char| !is_word(c)).map_or(0, |i| i + 1);
            &k[start..]
        });
        let in_inputs = before.contains("inputs")
            || self
                .header_above()
                .is_some_and(|h| h.path.last().is_some_and(|(n, _)| n == "inputs"));
        if typed.starts_with("data.")
            || typed.starts_with("steps.")
            || (in_inputs && typed.chars().all(|c| is_word(c) || c == '.'))
        {
            return self.references(typed);
        }
        match key {
            Some(k) if typed.chars().all(is_word) => self.values(k, typed.len(), false),
            _ => Vec::new(),
        }
    }

    /// Every `data.X` and `steps.S.outputs.O` (S not the current step) starting with
    /// `typed`; each replaces the whole string typed so far.
    fn references(&self, typed: &str) -> Vec<CompletionItem> {
        let ix = hir::index(self.db, self.file);
        let current = self.enclosing_step();
        let mut out = Vec::new();
        let mut push = |label: String, kind, detail: String| {
            if label.starts_with(typed) {
                out.push(CompletionItem {
                    insert: label.clone(),
                    label,
                    kind,
                    detail: Some(detail),
                    documentation: None,
                    replace: self.span_back(typed.len()),
                });
            }
        };
        for (name, path) in &ix.data {
            let detail = path.clone().unwrap_or_else(|| "data reference".to_owned());
            push(format!("data.{name}"), CompletionKind::Data, detail);
        }
        for (step, outputs) in &ix.steps {
            if current.as_deref() == Some(step.as_str()) {
                continue;
            }
            for o in outputs {
                push(
                    format!("steps.{step}.outputs.{o}"),
                    CompletionKind::Output,
                    format!("output of step {step}"),
                );
            }
        }
        out
    }

    /// After `${`: `typed` is what follows it.
    fn placeholder(&self, typed: &str, after: &str) -> Vec<CompletionItem> {
        let close = if after.trim_start_matches(is_word).starts_with('}') { "" } else { "}" };
        let Some((kind, name)) = typed.split_once('.') else {
            return ["inputs", "outputs", "params"]
                .iter()
                .filter(|k| k.starts_with(typed))
                .map(|k| CompletionItem {
                    label: format!("{k}."),
                    kind: CompletionKind::Placeholder,
                    detail: None,
                    documentation: None,
                    replace: self.span_back(typed.len()),
                    insert: format!("{k}."),
                })
                .collect();
        };
        let db = self.db;
        let step = self.enclosing_step().and_then(|s| hir::find_step(db, self.file, &s));
        let lowered = step.and_then(|it| hir::lower_item(db, it).step());
        let (names, ck, detail): (Vec<(String, String)>, _, _) = match kind {
            "inputs" => (
                lowered
                    .map(|s| {
                        s.inputs
                            .iter()
                            .map(|i| (i.name.value.clone(), i.reference.value.clone()))
                            .collect()
                    })
                    .unwrap_or_default(),
                CompletionKind::Input,
                "input",
            ),
            "outputs" => (
                lowered
                    .map(|s| {
                        s.outputs
                            .iter()
                            .map(|o| (o.value.clone(), "output folder".to_owned()))
                            .collect()
                    })
                    .unwrap_or_default(),
                CompletionKind::Output,
                "output",
            ),
            "params" => {
                let values = hir::param_values(db, self.file);
                (
                    hir::index(db, self.file)
                        .params
                        .iter()
                        .map(|p| {
                            let v = values.values.get(p).map_or(String::new(), |v| v.canonical());
                            (p.clone(), format!("= {v}"))
                        })
                        .collect(),
                    CompletionKind::Parameter,
                    "parameter",
                )
            }
            _ => return Vec::new(),
        };
        names
            .into_iter()
            .filter(|(n, _)| n.starts_with(name))
            .map(|(n, d)| CompletionItem {
                label: n.clone(),
                kind: ck,
                detail: Some(format!("{detail} {d}")),
                documentation: None,
                replace: self.span_back(name.len()),
                insert: format!("{n}{close}"),
            })
            .collect()
    }
}
