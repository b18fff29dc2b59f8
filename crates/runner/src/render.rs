//! Diagnostics for people (rustc-style, annotate-snippets), for machines (JSON), and for
//! CI (GitHub workflow commands).

use annotate_snippets::{AnnotationKind, Group, Level, Origin, Renderer, Snippet};
use hir::{Diagnostic, Severity};
use line_index::LineIndex;
use serde_json::json;

/// rustc-style text: `error[E0102]: …`, `--> file:line:col`, the source line, help.
///
/// Each snippet is given only the lines around its spans (annotate-snippets reads all the
/// source it is given, so the whole file per diagnostic cost time in proportion to the
/// file's size times the number of diagnostics: 17 s for 20,000 on a 200 KB file). Lines
/// longer than [`MAX_SHOWN`] in all are not shown, only where the span starts.
pub(crate) fn human(path: &str, text: &str, diags: &[Diagnostic], color: bool) -> String {
    let renderer = if color { Renderer::styled() } else { Renderer::plain() };
    let index = LineIndex::new(text);
    let mut out = String::new();
    for d in diags {
        let level = match d.severity() {
            Severity::Error => Level::ERROR,
            Severity::Warning => Level::WARNING,
            Severity::Note => Level::NOTE,
        };
        let mut spans = vec![(clamp(text, d.span), None)];
        spans.extend(d.related.iter().map(|r| (clamp(text, r.span), Some(r.message.as_str()))));
        let mut group =
            Group::with_title(level.primary_title(d.message.as_str()).id(d.code.as_str()));
        for (window, annotations) in windows(text, &index, spans) {
            if window.len() > MAX_SHOWN {
                let (line, column) = position(&index, text, to_u32(annotations[0].0.start));
                let at = Origin::path(path).line(line as usize).char_column(column as usize);
                group = group.element(at);
                continue;
            }
            let first = index.line_col(to_u32(window.start).into());
            let mut snippet = Snippet::source(&text[window.clone()])
                .line_start(first.line as usize + 1)
                .path(path);
            for (span, label) in annotations {
                let span = span.start - window.start..span.end - window.start;
                snippet = snippet.annotation(match label {
                    None => AnnotationKind::Primary.span(span),
                    Some(label) => AnnotationKind::Context.span(span).label(label),
                });
            }
            group = group.element(snippet);
        }
        if let Some(h) = &d.help {
            group = group.element(Level::HELP.message(h.as_str()));
        }
        let report: [Group<'_>; 1] = [group];
        out.push_str(&renderer.render(&report));
        out.push_str("\n\n");
    }
    out
}

/// `span` as a byte range of `text`, on character boundaries (annotate-snippets slices
/// the text).
fn clamp(text: &str, s: syntax::Span) -> std::ops::Range<usize> {
    let end = (s.end as usize).min(text.len());
    let start = (s.start as usize).min(end);
    let start = (0..=start).rev().find(|&i| text.is_char_boundary(i)).unwrap_or(0);
    let end = (end..=text.len()).find(|&i| text.is_char_boundary(i)).unwrap_or(text.len());
    start..end
}

/// A primary span (`None` label) and related ones, grouped into windows of whole lines of
/// `text`: spans whose lines are close share one window, far ones get their own.
type Windows<'a> = Vec<(std::ops::Range<usize>, Vec<(std::ops::Range<usize>, Option<&'a str>)>)>;

fn windows<'a>(
    text: &str,
    index: &LineIndex,
    mut spans: Vec<(std::ops::Range<usize>, Option<&'a str>)>,
) -> Windows<'a> {
    /// Spans this close (bytes between their lines) share a window.
    const NEAR: usize = 512;
    spans.sort_by_key(|(s, _)| s.start);
    let line_start = |at: usize| at - index.line_col(to_u32(at).into()).col as usize;
    let line_end = |at: usize| {
        let line = index.line_col(to_u32(at).into()).line;
        let end = index.line(line).map_or(text.len(), |r| usize::from(r.end()));
        let end = end.min(text.len()).max(at);
        text[at..end].find('\n').map_or(end, |i| at + i)
    };
    let mut out: Windows<'a> = Vec::new();
    for (span, label) in spans {
        let (start, end) = (line_start(span.start), line_end(span.end));
        match out.last_mut() {
            Some((w, list)) if start <= w.end + NEAR => {
                w.end = w.end.max(end);
                list.push((span, label));
            }
            _ => out.push((start..end, vec![(span, label)])),
        }
    }
    out
}

/// The most source bytes a diagnostic shows: past this (a line of megabytes), only where
/// its span starts.
const MAX_SHOWN: usize = 16 * 1024;

fn to_u32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// 1-based line and column of `offset`, moved back to a character boundary (spans from
/// the parser can point into a multi-byte character of a lossily decoded file).
fn position(index: &LineIndex, text: &str, offset: u32) -> (u32, u32) {
    let mut at = (offset as usize).min(text.len());
    while !text.is_char_boundary(at) {
        at -= 1;
    }
    let lc = index.line_col(u32::try_from(at).unwrap_or(u32::MAX).into());
    (lc.line + 1, lc.col + 1)
}

/// The JSON document of `runner check --format json` (schema in `docs/cli.md`).
pub(crate) fn json(path: &str, text: &str, diags: &[Diagnostic]) -> serde_json::Value {
    let index = LineIndex::new(text);
    let range = |s: syntax::Span| {
        let (l1, c1) = position(&index, text, s.start);
        let (l2, c2) = position(&index, text, s.end);
        json!({"start": {"line": l1, "column": c1}, "end": {"line": l2, "column": c2}, "bytes": [s.start, s.end]})
    };
    let items: Vec<_> = diags
        .iter()
        .map(|d| {
            json!({
                "code": d.code.as_str(),
                "name": d.code.name(),
                "severity": severity(d.severity()),
                "message": d.message,
                "help": d.help,
                "range": range(d.span),
                "related": d.related.iter().map(|r| json!({"message": r.message, "range": range(r.span)})).collect::<Vec<_>>(),
            })
        })
        .collect();
    let (errors, warnings, notes) = count(diags);
    json!({"version": 1, "file": path, "errors": errors, "warnings": warnings, "notes": notes, "diagnostics": items})
}

/// How many errors, warnings and notes `diags` holds.
pub(crate) fn count(diags: &[Diagnostic]) -> (usize, usize, usize) {
    let of = |s: Severity| diags.iter().filter(|d| d.severity() == s).count();
    (of(Severity::Error), of(Severity::Warning), of(Severity::Note))
}

/// `error`, `warning` or `note`: the JSON form's `severity`.
fn severity(s: Severity) -> &'static str {
    match s {
        Severity::Error => "error",
        Severity::Warning => "warning",
        Severity::Note => "note",
    }
}

/// GitHub Actions workflow commands (`::error file=…,line=…::message`), one per line; notes
/// are `::notice`.
pub(crate) fn github(path: &str, text: &str, diags: &[Diagnostic]) -> String {
    let index = LineIndex::new(text);
    let esc = |s: &str| s.replace('%', "%25").replace('\r', "%0D").replace('\n', "%0A");
    let prop = |s: &str| esc(s).replace(':', "%3A").replace(',', "%2C");
    diags
        .iter()
        .map(|d| {
            let (l1, c1) = position(&index, text, d.span.start);
            let (l2, c2) = position(&index, text, d.span.end);
            let level = match d.severity() {
                Severity::Error => "error",
                Severity::Warning => "warning",
                Severity::Note => "notice",
            };
            let mut msg = d.message.clone();
            if let Some(h) = &d.help {
                msg.push_str(&format!("\nhelp: {h}"));
            }
            format!(
                "::{level} file={},line={l1},col={c1},endLine={l2},endColumn={c2},title={}::{}\n",
                prop(path),
                prop(&format!("{} {}", d.code.as_str(), d.code.name())),
                esc(&msg)
            )
        })
        .collect()
}
