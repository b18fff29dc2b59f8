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
///
/// Broken text resynchronises at the next header, so one typo does not make the rest of
/// the file one chunk: a header is one line, so nesting is reset where a header line ends
/// (`[steps.a` left unclosed), and a line that can only be a header (see [`is_header`])
/// starts a chunk even inside an unclosed array (`outputs = [` never closed). Neither
/// happens in valid TOML.
pub(crate) fn chunk_starts(text: &str) -> Vec<usize> {
    let bytes = text.as_bytes();
    let mut starts = vec![0];
    let mut depth = 0usize;
    let mut i = 0;
    while i < bytes.len() {
        // A line: blanks, maybe a header, then the rest up to the line break.
        let line = i;
        while matches!(bytes.get(i), Some(b' ' | b'\t')) {
            i += 1;
        }
        let header_line = bytes.get(i) == Some(&b'[') && (depth == 0 || is_header(bytes, i));
        if header_line {
            if i > 0 && starts.last() != Some(&line) {
                starts.push(line);
            }
            depth = 0;
        }
        while let Some(&b) = bytes.get(i) {
            match b {
                b'\n' => {
                    i += 1;
                    break;
                }
                b'#' => {
                    i += bytes[i..].iter().position(|&b| b == b'\n').unwrap_or(bytes.len() - i);
                }
                b'"' | b'\'' => {
                    i = skip_string(bytes, i);
                    // An unterminated one-line string ends at the line break, which still
                    // ends the line.
                    if bytes.get(i) != Some(&b'\n') {
                        i += 1;
                    }
                }
                b'[' | b'{' => {
                    depth += 1;
                    i += 1;
                }
                b']' | b'}' => {
                    depth = depth.saturating_sub(1);
                    i += 1;
                }
                _ => {
                    i += 1;
                    i += bytes[i..]
                        .iter()
                        .position(|&b| SPECIAL[usize::from(b)])
                        .unwrap_or(bytes.len() - i);
                }
            }
        }
        // A header is one line: an unclosed one does not swallow what follows.
        if header_line {
            depth = 0;
        }
    }
    starts
}

/// The bytes [`chunk_starts`] stops at within a line.
const SPECIAL: [bool; 256] = {
    let mut t = [false; 256];
    let mut i = 0;
    let special = b"\n#\"'[]{}";
    while i < special.len() {
        t[special[i] as usize] = true;
        i += 1;
    }
    t
};

/// Whether the line from `bytes[at]` (a `[`) can only be a table header: `[a.b]` of bare
/// or quoted keys, the first bare and starting with a letter or `_` but not `true`,
/// `false`, `inf` or `nan`, then only blanks or a comment. No array element looks like
/// that (`[true]`, `["a"]`, `[1.5]` do), so inside an unclosed array it means the array
/// was never closed.
fn is_header(bytes: &[u8], at: usize) -> bool {
    let blank = |i: &mut usize| {
        while matches!(bytes.get(*i), Some(b' ' | b'\t')) {
            *i += 1;
        }
    };
    let bare = |b: u8| b.is_ascii_alphanumeric() || b == b'_' || b == b'-';
    let mut i = at + 1;
    blank(&mut i);
    let first = i;
    while bytes.get(i).is_some_and(|&b| bare(b)) {
        i += 1;
    }
    let key = &bytes[first..i];
    if !key.first().is_some_and(|&b| b.is_ascii_alphabetic() || b == b'_')
        || matches!(key, b"true" | b"false" | b"inf" | b"nan")
    {
        return false;
    }
    loop {
        blank(&mut i);
        match bytes.get(i) {
            Some(b']') => break,
            Some(b'.') => {
                i += 1;
                blank(&mut i);
                match bytes.get(i) {
                    Some(&q @ (b'"' | b'\'')) => {
                        i += 1;
                        while bytes.get(i).is_some_and(|&b| b != q && b != b'\n') {
                            i += 1;
                        }
                        if bytes.get(i) != Some(&q) {
                            return false;
                        }
                        i += 1;
                    }
                    Some(&b) if bare(b) => {
                        while bytes.get(i).is_some_and(|&b| bare(b)) {
                            i += 1;
                        }
                    }
                    _ => return false,
                }
            }
            _ => return false,
        }
    }
    i += 1;
    blank(&mut i);
    matches!(bytes.get(i), None | Some(b'#' | b'\n' | b'\r'))
}

/// Given `bytes[start]` is a quote, returns the index of the string's last byte (or the
/// end of the line or file for an unterminated one).
fn skip_string(bytes: &[u8], start: usize) -> usize {
    let quote = bytes[start];
    let triple = bytes.get(start..start + 3) == Some(&[quote, quote, quote][..]);
    let mut i = start + if triple { 3 } else { 1 };
    while i < bytes.len() {
        // Most bytes are none of these: skip them in one tight loop.
        i += bytes[i..]
            .iter()
            .position(|&b| b == quote || b == b'\\' || b == b'\n')
            .unwrap_or(bytes.len() - i);
        let Some(&b) = bytes.get(i) else { break };
        if !triple && b == b'\n' {
            return i;
        }
        if b == b'\\' && quote == b'"' {
            if !triple && bytes.get(i + 1) == Some(&b'\n') {
                return i + 1;
            }
            i += 2;
            continue;
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
