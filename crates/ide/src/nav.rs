//! Go to definition, find references, rename.

use hir::{Db, ItemKind, SourceFile};
use syntax::Span;

use crate::refs::{Hit, Role, Symbol, hit_at, occurrences};
use crate::text::quote;

/// Where a definition is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NavTarget {
    /// A range of the pipeline file.
    Range(Span),
    /// A file or folder, relative to the pipeline's folder (normalised, `/`-separated).
    Path(String),
}

/// Go to definition: a reference → the name in its table header (or `outputs`, `inputs`,
/// `[parameters]`); a `script`, `hash_paths`, `source_directory`, data `path` or
/// `requirements` value → that file or folder.
pub fn goto_definition(db: &dyn Db, file: SourceFile, offset: u32) -> Vec<NavTarget> {
    match hit_at(db, file, offset) {
        Some(Hit::Path { rel, .. }) => vec![NavTarget::Path(rel)],
        Some(hit @ (Hit::Occ(_) | Hit::Within { .. })) => {
            let Some(o) = hit.occurrence() else { return Vec::new() };
            occurrences(db, file, &o.symbol)
                .into_iter()
                .filter(|o| o.role == Role::Definition)
                .map(|o| NavTarget::Range(o.span))
                .collect()
        }
        _ => Vec::new(),
    }
}

/// Every place the symbol at `offset` is written (definition first when included).
pub fn references(
    db: &dyn Db,
    file: SourceFile,
    offset: u32,
    include_declaration: bool,
) -> Vec<Span> {
    let Some(o) = hit_at(db, file, offset).and_then(Hit::occurrence) else { return Vec::new() };
    occurrences(db, file, &o.symbol)
        .into_iter()
        .filter(|o| include_declaration || o.role == Role::Reference)
        .map(|o| o.span)
        .collect()
}

/// One text replacement.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TextEdit {
    /// The bytes replaced (absolute).
    pub span: Span,
    /// The new text.
    pub text: String,
}

/// What can be renamed at `offset`: the name's span and its current text.
pub fn prepare_rename(
    db: &dyn Db,
    file: SourceFile,
    offset: u32,
) -> Result<(Span, String), String> {
    let Some(o) = hit_at(db, file, offset).and_then(Hit::occurrence) else {
        return Err("no step, output, input, data reference or parameter here".to_owned());
    };
    check_renamable(db, file, &o.symbol)?;
    Ok((o.span, o.symbol.name().to_owned()))
}

fn check_renamable(db: &dyn Db, file: SourceFile, sym: &Symbol) -> Result<(), String> {
    let defined = occurrences(db, file, sym).iter().any(|o| o.role == Role::Definition);
    if let Symbol::Item(ItemKind::Pipeline | ItemKind::Cache, _) = sym {
        return Err("the pipeline table has no name to rename".to_owned());
    }
    if !defined {
        return Err(format!("`{}` is not defined in this file", sym.path()));
    }
    Ok(())
}

/// Renames the symbol at `offset` to `new_name` everywhere: its header(s) or declaration,
/// reference strings and placeholders. Edits are sorted and never overlap.
pub fn rename(
    db: &dyn Db,
    file: SourceFile,
    offset: u32,
    new_name: &str,
) -> Result<Vec<TextEdit>, String> {
    let Some(o) = hit_at(db, file, offset).and_then(Hit::occurrence) else {
        return Err("no step, output, input, data reference or parameter here".to_owned());
    };
    let sym = o.symbol;
    check_renamable(db, file, &sym)?;
    if !hir::diagnostics::invalid_name::is_valid(new_name) {
        return Err(format!(
            "`{new_name}` is not a valid name: letters, digits, `_` and `-`, \
             starting with a letter or `_`"
        ));
    }
    if new_name == sym.name() {
        return Ok(Vec::new());
    }
    let taken = match &sym {
        Symbol::Item(kind, _) => {
            hir::items(db, file).of_kind(*kind).any(|it| it.name(db) == new_name)
        }
        Symbol::Output { step, .. } => {
            hir::index(db, file).steps.get(step).is_some_and(|o| o.iter().any(|o| o == new_name))
        }
        Symbol::Input { step, .. } => hir::find_step(db, file, step).is_some_and(|it| {
            hir::lower_item(db, it)
                .step()
                .is_some_and(|s| s.inputs.iter().any(|i| i.name.value == new_name))
        }),
    };
    if taken {
        return Err(format!("a {} named `{new_name}` already exists", sym.noun()));
    }
    let mut edits: Vec<TextEdit> = Vec::new();
    for occ in occurrences(db, file, &sym) {
        match occ.literal {
            None => edits.push(TextEdit { span: occ.span, text: new_name.to_owned() }),
            Some((value, range)) => {
                // The name sits in a literal with escapes: rewrite the whole literal. Several
                // names may share it (a template with two placeholders): merge below.
                let mut v = value.clone();
                v.replace_range(range, new_name);
                edits.push(TextEdit { span: occ.span, text: quote(&v) });
            }
        }
    }
    edits.sort_by_key(|e| (e.span.start, e.span.end));
    // Two rewrites of one escaped literal would overlap; keep the first (the user sees
    // the rest unchanged and a diagnostic points at it) rather than corrupt the text.
    let mut out: Vec<TextEdit> = Vec::new();
    for e in edits {
        if out.last().is_some_and(|l| l.span.end > e.span.start) {
            continue;
        }
        out.push(e);
    }
    Ok(out)
}
