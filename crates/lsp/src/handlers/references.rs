//! `textDocument/references`.

use tower_lsp_server::ls_types::{Location, ReferenceParams};

use crate::state::Snapshot;

pub fn handle(snap: &Snapshot, params: ReferenceParams) -> Option<Vec<Location>> {
    let offset = snap.offset(params.text_document_position.position);
    let spans = ide::references(&snap.db, snap.file, offset, params.context.include_declaration);
    if spans.is_empty() {
        return None;
    }
    Some(
        spans
            .into_iter()
            .map(|s| Location { uri: snap.uri.clone(), range: snap.range(s) })
            .collect(),
    )
}
