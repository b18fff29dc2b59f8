//! The analysis façade for editors: plain data in, plain data out, no IO and no protocol
//! types. Every function takes the database, the pipeline's [`SourceFile`] and, where it
//! matters, a byte offset; spans in results are absolute byte ranges into the file's text.
//!
//! * [`hover`]: key documentation (`hir::schema`), what a reference names, what a
//!   placeholder expands to, a step's key fields and their state.
//! * [`completions`]: keys, table names, references, placeholders, item names.
//! * [`goto_definition`], [`references`], [`prepare_rename`] / [`rename`].
//! * [`document_symbols`]: the outline.
//! * [`code_lenses`]: per step, what a build would do (given a [`PlanView`] the caller
//!   computed from recorded state) and a "build step" action.
//! * [`diagnostics`]: what `runner check` reports for the text (hir's).
//!
//! Names are found through [`occurrences`] of [`Symbol`]s: every place a step, output,
//! input, data reference, parameter, environment, compute target or datastore is written
//! (headers, reference strings, placeholders).

mod completion;
mod hover;
mod lens;
mod nav;
mod refs;
mod symbols;
pub mod text;

pub use completion::{CompletionItem, CompletionKind, completions};
pub use hover::{HoverResult, hover, key_doc, step_header_at};
pub use lens::{Lens, PlanView, StepState, ago, code_lenses};
pub use nav::{NavTarget, TextEdit, goto_definition, prepare_rename, references, rename};
pub use refs::{Occurrence, Role, Symbol, occurrences};
pub use symbols::{DocumentSymbol, SymbolKind, document_symbols};
pub use text::line_index;

use hir::{Db, Diagnostic, SourceFile};

/// Every diagnostic of the file (absolute spans, sorted): what `runner check` reports for
/// this text, less the encoding check (the caller knows the bytes).
pub fn diagnostics(db: &dyn Db, file: SourceFile) -> Vec<Diagnostic> {
    hir::file_diagnostics(db, file).clone()
}

#[cfg(test)]
mod tests;
