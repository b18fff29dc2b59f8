//! `textDocument/completion`.

use tower_lsp_server::ls_types::{
    CompletionItem, CompletionItemKind, CompletionParams, CompletionResponse, CompletionTextEdit,
    Documentation, MarkupContent, MarkupKind, TextEdit,
};

use crate::state::Snapshot;

pub fn handle(snap: &Snapshot, params: CompletionParams) -> Option<CompletionResponse> {
    let offset = snap.offset(params.text_document_position.position);
    let items = ide::completions(&snap.db, snap.file, offset);
    if items.is_empty() {
        return None;
    }
    let items = items
        .into_iter()
        .enumerate()
        .map(|(i, c)| CompletionItem {
            label: c.label,
            kind: Some(kind(c.kind)),
            detail: c.detail,
            documentation: c.documentation.map(|d| {
                Documentation::MarkupContent(MarkupContent { kind: MarkupKind::Markdown, value: d })
            }),
            sort_text: Some(format!("{i:04}")),
            text_edit: Some(CompletionTextEdit::Edit(TextEdit {
                range: snap.range(c.replace),
                new_text: c.insert,
            })),
            ..CompletionItem::default()
        })
        .collect();
    Some(CompletionResponse::Array(items))
}

fn kind(k: ide::CompletionKind) -> CompletionItemKind {
    use ide::CompletionKind as K;
    match k {
        K::Key => CompletionItemKind::PROPERTY,
        K::Table => CompletionItemKind::MODULE,
        K::Step => CompletionItemKind::FUNCTION,
        K::Output | K::Input => CompletionItemKind::FIELD,
        K::Parameter => CompletionItemKind::VARIABLE,
        K::Data => CompletionItemKind::FILE,
        K::Named => CompletionItemKind::REFERENCE,
        K::Placeholder => CompletionItemKind::KEYWORD,
        K::Value => CompletionItemKind::VALUE,
    }
}
