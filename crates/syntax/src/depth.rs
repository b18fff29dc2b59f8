//! A cheap pre-scan for nesting depth, so the recursive parser never sees a file that
//! would overflow its stack.
//!
//! The scan follows just enough TOML to skip comments and the four string forms; every
//! other `[` or `{` opens a level and `]` or `}` closes one. Table headers (`[a]`,
//! `[[a]]`) count too, which costs at most two levels.

/// Returns the byte offset of the first bracket that opens level `max + 1`, if any.
pub(crate) fn check(text: &str, max: usize) -> Option<usize> {
    let bytes = text.as_bytes();
    let mut depth = 0usize;
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'#' => {
                while i < bytes.len() && bytes[i] != b'\n' {
                    i += 1;
                }
            }
            b'"' | b'\'' => i = skip_string(bytes, i),
            b'[' | b'{' => {
                depth += 1;
                if depth > max {
                    return Some(i);
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
        i += 1;
    }
    None
}

/// Byte offsets where top-level chunks start: offset 0, then every line whose first
/// non-blank character is `[` (a table header) while no array, inline table or string is
/// open. Each chunk is valid to parse on its own: a header plus its body (the first chunk
/// is what precedes the first header).
pub(crate) fn chunk_starts(text: &str) -> Vec<usize> {
    let bytes = text.as_bytes();
    let mut starts = vec![0];
    let mut depth = 0usize;
    let mut line_start = true;
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if line_start && depth == 0 && b == b'[' && i > 0 {
            let start = text[..i].rfind('\n').map_or(0, |n| n + 1);
            if starts.last() != Some(&start) {
                starts.push(start);
            }
        }
        if b != b' ' && b != b'\t' {
            line_start = false;
        }
        match b {
            b'\n' => line_start = true,
            b'#' => {
                while i < bytes.len() && bytes[i] != b'\n' {
                    i += 1;
                }
                continue;
            }
            b'"' | b'\'' => i = skip_string(bytes, i),
            b'[' | b'{' => depth += 1,
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
        i += 1;
    }
    // A header line resets nesting: a stray `[` left open above must not swallow the rest.
    starts
}

/// Given `bytes[start]` is a quote, returns the index of the string's last byte (or the
/// end of the line or file for an unterminated one).
fn skip_string(bytes: &[u8], start: usize) -> usize {
    let quote = bytes[start];
    let triple = bytes.get(start..start + 3) == Some(&[quote, quote, quote][..]);
    let mut i = start + if triple { 3 } else { 1 };
    while i < bytes.len() {
        let b = bytes[i];
        if b == b'\\' && quote == b'"' {
            i += 2;
            continue;
        }
        if !triple && b == b'\n' {
            return i;
        }
        if b == quote {
            if !triple {
                return i;
            }
            if bytes.get(i..i + 3) == Some(&[quote, quote, quote][..]) {
                // Up to two more quotes may close a multi-line string (`""""` ends with one inside).
                let mut end = i + 2;
                while bytes.get(end + 1) == Some(&quote) && end < i + 4 {
                    end += 1;
                }
                return end;
            }
        }
        i += 1;
    }
    bytes.len()
}
