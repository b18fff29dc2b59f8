//! to_proto / from_proto: byte offsets ↔ LSP positions (UTF-16 by default, UTF-8 when
//! negotiated), `hir` diagnostics → LSP diagnostics, paths ↔ URIs.

use std::path::Path;

use line_index::{LineCol, LineIndex, WideEncoding};
use syntax::Span;
use tower_lsp_server::ls_types::{
    self as lsp, DiagnosticRelatedInformation, DiagnosticSeverity, DiagnosticTag, Location,
    NumberOrString, Position, Range, Uri,
};

/// The negotiated position encoding.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Enc {
    /// UTF-16 code units (the protocol's default).
    #[default]
    Utf16,
    /// Bytes.
    Utf8,
}

/// Byte offset → position.
pub fn position(li: &LineIndex, text: &str, enc: Enc, offset: u32) -> Position {
    let mut at = (offset as usize).min(text.len());
    while !text.is_char_boundary(at) {
        at -= 1;
    }
    let lc = li.line_col(line_index::TextSize::from(at as u32));
    let character = match enc {
        Enc::Utf8 => lc.col,
        Enc::Utf16 => li.to_wide(WideEncoding::Utf16, lc).map_or(lc.col, |w| w.col),
    };
    Position { line: lc.line, character }
}

/// Span → range.
pub fn range(li: &LineIndex, text: &str, enc: Enc, span: Span) -> Range {
    Range { start: position(li, text, enc, span.start), end: position(li, text, enc, span.end) }
}

/// Position → byte offset, clamped to the line's end (and to the text's end past the last
/// line), never inside a character.
pub fn offset(li: &LineIndex, text: &str, enc: Enc, pos: Position) -> u32 {
    let Some(start) = li.offset(LineCol { line: pos.line, col: 0 }) else {
        return text.len() as u32;
    };
    let start = u32::from(start) as usize;
    let line = &text[start..];
    let line = &line[..line.find('\n').unwrap_or(line.len())];
    let line = line.strip_suffix('\r').unwrap_or(line);
    let mut units = 0u32;
    for (i, c) in line.char_indices() {
        if units >= pos.character {
            return (start + i) as u32;
        }
        units += match enc {
            Enc::Utf8 => c.len_utf8() as u32,
            Enc::Utf16 => c.len_utf16() as u32,
        };
    }
    (start + line.len()) as u32
}

/// A `hir` diagnostic in protocol form.
pub fn diagnostic(
    li: &LineIndex,
    text: &str,
    enc: Enc,
    uri: &Uri,
    d: &hir::Diagnostic,
) -> lsp::Diagnostic {
    let mut message = d.message.clone();
    if let Some(h) = &d.help {
        message.push_str("\nhelp: ");
        message.push_str(h);
    }
    let related: Vec<DiagnosticRelatedInformation> = d
        .related
        .iter()
        .map(|r| DiagnosticRelatedInformation {
            location: Location { uri: uri.clone(), range: range(li, text, enc, r.span) },
            message: r.message.clone(),
        })
        .collect();
    let unused = matches!(
        d.code,
        hir::Code::UnusedParameter
            | hir::Code::UnusedData
            | hir::Code::UnusedOutput
            | hir::Code::UnusedInput
    );
    lsp::Diagnostic {
        range: range(li, text, enc, d.span),
        severity: Some(match d.severity() {
            hir::Severity::Error => DiagnosticSeverity::ERROR,
            hir::Severity::Warning => DiagnosticSeverity::WARNING,
            hir::Severity::Note => DiagnosticSeverity::INFORMATION,
        }),
        code: Some(NumberOrString::String(d.code.as_str().to_owned())),
        code_description: None,
        source: Some("runner".to_owned()),
        message,
        related_information: (!related.is_empty()).then_some(related),
        tags: unused.then(|| vec![DiagnosticTag::UNNECESSARY]),
        data: None,
    }
}

/// The file path of a `file:` URI.
pub fn uri_path(uri: &Uri) -> Option<std::path::PathBuf> {
    uri.to_file_path().map(|p| p.into_owned())
}

/// The URI of a path.
pub fn path_uri(path: &Path) -> Option<Uri> {
    Uri::from_file_path(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utf16_round_trip() {
        let text = "a = \"é😀x\"\r\nb\n";
        let li = LineIndex::new(text);
        let x = text.find('x').unwrap() as u32;
        let p = position(&li, text, Enc::Utf16, x);
        assert_eq!((p.line, p.character), (0, 8));
        assert_eq!(offset(&li, text, Enc::Utf16, p), x);
        let p8 = position(&li, text, Enc::Utf8, x);
        assert_eq!((p8.line, p8.character), (0, 11));
        assert_eq!(offset(&li, text, Enc::Utf8, p8), x);
        // Past the end of a line: its end (before \r\n); past the last line: the text's end.
        assert_eq!(offset(&li, text, Enc::Utf16, Position { line: 0, character: 99 }), 13);
        assert_eq!(offset(&li, text, Enc::Utf16, Position { line: 9, character: 0 }), 17);
        // Inside a surrogate pair: snaps to the character's end.
        let smile = text.find('😀').unwrap() as u32;
        let inside = offset(&li, text, Enc::Utf16, Position { line: 0, character: 7 });
        assert_eq!(inside, smile + 4);
    }

    #[test]
    fn severities_and_tags() {
        let text = "a\n";
        let li = LineIndex::new(text);
        let uri = path_uri(Path::new("/p/pipeline.toml")).unwrap();
        let lsp = |code| {
            let d = hir::Diagnostic::new(code, Span::new(0, 1), "m");
            diagnostic(&li, text, Enc::Utf16, &uri, &d)
        };
        let note = lsp(hir::Code::PathOutsideProject);
        assert_eq!(note.severity, Some(DiagnosticSeverity::INFORMATION));
        let shell = lsp(hir::Code::ShellInterpolation);
        assert_eq!((shell.severity, shell.tags), (Some(DiagnosticSeverity::WARNING), None));
        let unused = lsp(hir::Code::UnusedInput);
        assert_eq!(unused.tags, Some(vec![DiagnosticTag::UNNECESSARY]));
    }
}
