//! `textDocument/documentSymbol`: the outline.

use tower_lsp_server::ls_types::{
    DocumentSymbol, DocumentSymbolParams, DocumentSymbolResponse, SymbolKind,
};

use crate::state::Snapshot;

pub fn handle(snap: &Snapshot, _params: DocumentSymbolParams) -> Option<DocumentSymbolResponse> {
    let syms = ide::document_symbols(&snap.db, snap.file);
    Some(DocumentSymbolResponse::Nested(syms.iter().map(|s| convert(snap, s)).collect()))
}

#[allow(deprecated)] // `deprecated` is a required field of the struct
fn convert(snap: &Snapshot, s: &ide::DocumentSymbol) -> DocumentSymbol {
    use ide::SymbolKind as K;
    DocumentSymbol {
        name: s.name.clone(),
        detail: s.detail.clone(),
        kind: match s.kind {
            K::Table => SymbolKind::NAMESPACE,
            K::Pipeline => SymbolKind::MODULE,
            K::Parameter => SymbolKind::VARIABLE,
            K::Environment => SymbolKind::PACKAGE,
            K::Datastore => SymbolKind::OBJECT,
            K::Data => SymbolKind::FILE,
            K::Compute => SymbolKind::OBJECT,
            K::Step => SymbolKind::FUNCTION,
            K::Input => SymbolKind::FIELD,
            K::Output => SymbolKind::PROPERTY,
        },
        tags: None,
        deprecated: None,
        range: snap.range(s.range),
        selection_range: snap.range(s.selection),
        children: (!s.children.is_empty())
            .then(|| s.children.iter().map(|c| convert(snap, c)).collect()),
    }
}
