//! Diagnostics, pushed after every change: what `runner check` reports for the buffer
//! (`hir::file_diagnostics` plus the encoding check), with codes, related locations and the
//! document version.

use tower_lsp_server::ls_types as lsp;

use crate::convert;
use crate::state::Snapshot;

/// The document's diagnostics in protocol form.
pub fn compute(snap: &Snapshot) -> Vec<lsp::Diagnostic> {
    let (db, file) = (&snap.db, snap.file);
    hir::prime(db, file);
    let mut diags = Vec::new();
    if let Some(at) = snap.encoding_error {
        let at = u32::try_from(at).unwrap_or(u32::MAX);
        diags.push(
            hir::Diagnostic::new(
                hir::Code::InvalidEncoding,
                syntax::Span::new(at, at.saturating_add(1)),
                "the file is not valid UTF-8",
            )
            .with_help("TOML files are UTF-8; invalid bytes were read as U+FFFD"),
        );
    }
    diags.extend(ide::diagnostics(db, file));
    let (li, text) = (snap.line_index(), snap.text());
    diags.iter().map(|d| convert::diagnostic(li, text, snap.enc, &snap.uri, d)).collect()
}
