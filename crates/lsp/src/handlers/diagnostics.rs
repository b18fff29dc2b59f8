//! Diagnostics, pushed after every change and after every build: what `runner check`
//! reports for the buffer (`hir::file_diagnostics` plus the encoding check), with codes,
//! related locations and the document version; and, from the recorded state, `W0206` for
//! each file a step's last successful run read outside its key (when it was traced).

use std::collections::BTreeMap;
use std::sync::Arc;

use tower_lsp_server::ls_types as lsp;

use crate::convert;
use crate::state::{Shared, Snapshot};

/// Step name → the files its last successful run read outside its key.
pub type Reads = BTreeMap<String, Vec<String>>;

/// The document's diagnostics in protocol form.
pub fn compute(shared: &Shared, snap: &Snapshot) -> Vec<lsp::Diagnostic> {
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
    let reads = recorded_reads(shared, snap);
    if !reads.is_empty() {
        for item in hir::items(db, file).of_kind(hir::ItemKind::Step) {
            for path in reads.get(item.name(db).as_str()).into_iter().flatten() {
                let span = item.name_span(db);
                diags.push(hir::diagnostics::undeclared_read::new(span, item.name(db), path));
            }
        }
    }
    let (li, text) = (snap.line_index(), snap.text());
    diags.iter().map(|d| convert::diagnostic(li, text, snap.enc, &snap.uri, d)).collect()
}

/// The undeclared reads recorded under the document's `.runner/`, read again only when a
/// build recorded something there since.
fn recorded_reads(shared: &Shared, snap: &Snapshot) -> Arc<Reads> {
    let Some(root) = &snap.root else { return Arc::default() };
    let state = root.join(".runner");
    let stamp = crate::plan::stamp(&state);
    let mut kept = shared.reads.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((s, reads)) = kept.get(&state)
        && *s == stamp
    {
        return reads.clone();
    }
    let reads = Arc::new(read_recorded(snap, &state));
    kept.insert(state, (stamp, reads.clone()));
    reads
}

fn read_recorded(snap: &Snapshot, state: &std::path::Path) -> Reads {
    let Some(history) = driver::open_history(state) else { return Reads::new() };
    let (db, file) = (&snap.db, snap.file);
    let name = hir::index(db, file).meta.name.clone().or_else(|| {
        let root = snap.root.as_ref()?;
        std::fs::canonicalize(root).ok()?.file_name().map(|n| n.to_string_lossy().into_owned())
    });
    let Some(pipeline) = name else { return Reads::new() };
    let mut out = Reads::new();
    for item in hir::items(db, file).of_kind(hir::ItemKind::Step) {
        let step = item.name(db);
        let reads = driver::recorded_reads(&history, &pipeline, step);
        if !reads.is_empty() {
            out.insert(step.clone(), reads);
        }
    }
    out
}
