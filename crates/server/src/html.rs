//! HTML building blocks for the dashboard: escaping (everything that came from a pipeline,
//! a log, a parameter or a request goes through [`esc`]) and the page shell.

use std::fmt::Write as _;

/// `text` safe inside HTML text and double- or single-quoted attribute values.
pub(crate) fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// `text` safe as one path segment of a URL (percent-encoded but for unreserved
/// characters, RFC 3986 §2.3).
pub(crate) fn url_segment(text: &str) -> String {
    let mut out = String::new();
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

/// A time in milliseconds since the Unix epoch, UTC (`history::utc_text`).
pub(crate) fn time(ms: u64) -> String {
    history::utc_text(ms)
}

/// A duration in milliseconds, for people (`850 ms`, `12.3 s`, `4 min 05 s`).
pub(crate) fn duration(ms: u64) -> String {
    match ms {
        0..1000 => format!("{ms} ms"),
        1000..60_000 => format!("{:.1} s", ms as f64 / 1000.0),
        _ => format!("{} min {:02} s", ms / 60_000, ms % 60_000 / 1000),
    }
}

const STYLE: &str = r#"
body { font-family: system-ui, sans-serif; margin: 0; color: #1f2937; }
header { background: #111827; color: #f9fafb; padding: .6rem 1.2rem; }
header a { color: #f9fafb; margin-right: 1.2rem; text-decoration: none; }
main { padding: 1rem 1.2rem; }
table { border-collapse: collapse; margin: .5rem 0 1.5rem; }
th, td { text-align: left; padding: .25rem .7rem; border-bottom: 1px solid #e5e7eb; vertical-align: top; }
code, pre { font-family: ui-monospace, monospace; font-size: .85rem; }
pre { background: #f3f4f6; padding: .5rem; overflow-x: auto; max-height: 20rem; }
.badge { padding: .05rem .45rem; border-radius: .6rem; font-size: .8rem; }
.st-reused, .b-reused { fill: #dbeafe; background: #dbeafe; }
.st-ran, .b-ran, .b-Finished, .b-succeeded, .b-Active { fill: #bbf7d0; background: #bbf7d0; }
.st-failed, .b-failed, .b-Failed { fill: #fecaca; background: #fecaca; }
.st-skipped, .b-skipped, .b-Disabled, .b-Canceled { fill: #e5e7eb; background: #e5e7eb; }
.st-running, .b-running, .b-Running, .b-NotStarted, .b-Queued { fill: #fde68a; background: #fde68a; }
.st-interrupted, .b-interrupted { fill: #fed7aa; background: #fed7aa; }
.st-pending { fill: #ffffff; }
svg .node rect { stroke: #374151; stroke-width: 1; }
svg .data rect { fill: #f5f3ff; stroke: #6d28d9; stroke-dasharray: 4 2; }
svg text { font-size: 12px; fill: #111827; }
svg .sub { font-size: 10px; fill: #4b5563; }
svg path.edge { fill: none; stroke: #9ca3af; stroke-width: 1.3; }
.step { border: 1px solid #e5e7eb; padding: .4rem .8rem; margin: .4rem 0; }
.step:target { border-color: #2563eb; box-shadow: 0 0 0 2px #bfdbfe; }
"#;

/// A whole page: the shell (title, navigation, style) around `body`.
pub(crate) fn page(title: &str, body: &str) -> String {
    format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{} · runner</title><style>{STYLE}</style></head>\n<body>\
         <header><a href=\"/\"><b>runner</b></a><a href=\"/\">Experiments</a>\
         <a href=\"/ui/pipelines\">Published pipelines</a></header>\n<main>\n{body}\n</main></body></html>\n",
        esc(title)
    )
}

/// A status as a coloured badge.
pub(crate) fn badge(status: &str) -> String {
    let status = esc(status);
    format!("<span class=\"badge b-{status}\">{status}</span>")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markup_in_text_is_escaped() {
        assert_eq!(
            esc(r#"<script>alert("x")</script> & 'y'"#),
            "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &#39;y&#39;"
        );
        assert_eq!(url_segment("a b/../é"), "a%20b%2F..%2F%C3%A9");
    }

    #[test]
    fn times_and_durations_read_as_people_write_them() {
        assert_eq!(time(0), "1970-01-01 00:00:00Z");
        assert_eq!(time(1_796_400_000_000), "2026-12-04 16:00:00Z");
        assert_eq!(duration(850), "850 ms");
        assert_eq!(duration(12_340), "12.3 s");
        assert_eq!(duration(245_000), "4 min 05 s");
    }
}
