//! `textDocument/definition`: a reference → its declaration; a path → the file.

use tower_lsp_server::ls_types::{
    GotoDefinitionParams, GotoDefinitionResponse, Location, Position, Range,
};

use crate::convert;
use crate::state::Snapshot;

pub fn handle(snap: &Snapshot, params: GotoDefinitionParams) -> Option<GotoDefinitionResponse> {
    let offset = snap.offset(params.text_document_position_params.position);
    let locations: Vec<Location> = ide::goto_definition(&snap.db, snap.file, offset)
        .into_iter()
        .filter_map(|t| match t {
            ide::NavTarget::Range(span) => {
                Some(Location { uri: snap.uri.clone(), range: snap.range(span) })
            }
            ide::NavTarget::Path(rel) => {
                let root = snap.root.as_ref()?;
                let abs = if rel.starts_with('/') { rel.into() } else { root.join(&rel) };
                let abs = std::path::absolute(&abs).unwrap_or(abs);
                let start = Position { line: 0, character: 0 };
                Some(Location { uri: convert::path_uri(&abs)?, range: Range { start, end: start } })
            }
        })
        .collect();
    match locations.len() {
        0 => None,
        1 => Some(GotoDefinitionResponse::Scalar(locations.into_iter().next()?)),
        _ => Some(GotoDefinitionResponse::Array(locations)),
    }
}
