//! One file per request. Each handler runs on a [`Snapshot`](crate::state::Snapshot) in a
//! blocking task, under `salsa::Cancelled::catch` (see `crate::backend`).

pub mod code_action;
pub mod code_lens;
pub mod completion;
pub mod definition;
pub mod diagnostics;
pub mod hover;
pub mod references;
pub mod rename;
pub mod symbols;
pub mod test_hooks;

use line_index::LineIndex;
use syntax::Span;
use tower_lsp_server::ls_types::{Position, Range};

use crate::convert;
use crate::state::Snapshot;

impl Snapshot {
    /// The document's text.
    pub fn text(&self) -> &str {
        self.file.text(&self.db)
    }

    /// The line index of the text (cached by the database per revision).
    pub fn line_index(&self) -> &LineIndex {
        ide::line_index(&self.db, self.file)
    }

    /// Position → byte offset.
    pub fn offset(&self, pos: Position) -> u32 {
        convert::offset(self.line_index(), self.text(), self.enc, pos)
    }

    /// Span → range.
    pub fn range(&self, span: Span) -> Range {
        convert::range(self.line_index(), self.text(), self.enc, span)
    }
}
