//! `textDocument/prepareRename` and `textDocument/rename`: a step, output, input, data
//! reference or parameter (also environments, compute targets, datastores), everywhere.

use std::collections::HashMap;

use tower_lsp_server::jsonrpc;
use tower_lsp_server::ls_types::{
    PrepareRenameResponse, RenameParams, TextDocumentPositionParams, TextEdit, WorkspaceEdit,
};

use crate::state::Snapshot;

pub fn prepare(
    snap: &Snapshot,
    params: TextDocumentPositionParams,
) -> jsonrpc::Result<Option<PrepareRenameResponse>> {
    let offset = snap.offset(params.position);
    match ide::prepare_rename(&snap.db, snap.file, offset) {
        Ok((span, placeholder)) => Ok(Some(PrepareRenameResponse::RangeWithPlaceholder {
            range: snap.range(span),
            placeholder,
        })),
        Err(_) => Ok(None),
    }
}

pub fn handle(snap: &Snapshot, params: RenameParams) -> jsonrpc::Result<Option<WorkspaceEdit>> {
    let offset = snap.offset(params.text_document_position.position);
    let edits = ide::rename(&snap.db, snap.file, offset, &params.new_name)
        .map_err(jsonrpc::Error::invalid_params)?;
    let edits: Vec<TextEdit> = edits
        .into_iter()
        .map(|e| TextEdit { range: snap.range(e.span), new_text: e.text })
        .collect();
    let mut changes = HashMap::new();
    changes.insert(snap.uri.clone(), edits);
    Ok(Some(WorkspaceEdit { changes: Some(changes), ..WorkspaceEdit::default() }))
}
