//! `textDocument/codeAction`: the quick fixes of the checker's diagnostics in the range
//! asked for (a diagnostic whose fix is certain carries it: `hir::Diagnostic::fix`, such as
//! an Azure ML SDK key renamed to runner's, `script_name` → `script`).

use std::collections::HashMap;

use tower_lsp_server::ls_types::{
    CodeAction, CodeActionKind, CodeActionOrCommand, CodeActionParams, TextEdit, WorkspaceEdit,
};

use crate::convert;
use crate::state::Snapshot;

pub fn handle(snap: &Snapshot, params: CodeActionParams) -> Option<Vec<CodeActionOrCommand>> {
    let (start, end) = (snap.offset(params.range.start), snap.offset(params.range.end));
    let li = snap.line_index();
    let mut out = Vec::new();
    for d in hir::file_diagnostics(&snap.db, snap.file) {
        let Some(fix) = &d.fix else { continue };
        // Touching the range counts: a cursor on the key asks with an empty range.
        if d.span.end < start || d.span.start > end {
            continue;
        }
        let edit = TextEdit { range: snap.range(fix.span), new_text: fix.replacement.clone() };
        let mut changes = HashMap::new();
        changes.insert(snap.uri.clone(), vec![edit]);
        out.push(CodeActionOrCommand::CodeAction(CodeAction {
            title: format!("Change to `{}`", fix.replacement),
            kind: Some(CodeActionKind::QUICKFIX),
            diagnostics: Some(vec![convert::diagnostic(li, snap.text(), snap.enc, &snap.uri, d)]),
            edit: Some(WorkspaceEdit { changes: Some(changes), ..WorkspaceEdit::default() }),
            is_preferred: Some(true),
            ..CodeAction::default()
        }));
    }
    Some(out)
}
