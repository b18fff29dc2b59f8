//! `textDocument/hover`.

use tower_lsp_server::ls_types::{Hover, HoverContents, HoverParams, MarkupContent, MarkupKind};

use crate::plan;
use crate::state::{Shared, Snapshot};

pub fn handle(shared: &Shared, snap: &Snapshot, params: HoverParams) -> Option<Hover> {
    let offset = snap.offset(params.text_document_position_params.position);
    // The plan costs IO: only a step's header shows it.
    let plan = ide::step_header_at(&snap.db, snap.file, offset)
        .then(|| plan::plan(shared, snap))
        .flatten();
    let h = ide::hover(&snap.db, snap.file, offset, plan.as_deref())?;
    Some(Hover {
        contents: HoverContents::Markup(MarkupContent {
            kind: MarkupKind::Markdown,
            value: h.markdown,
        }),
        range: Some(snap.range(h.span)),
    })
}
