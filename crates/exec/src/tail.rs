//! Reading the end of a log file.
//!
//! The file is read backwards in blocks from its end until enough line breaks are seen, so a huge log
//! costs only its tail; at most [`MAX_TAIL_BYTES`] are read whatever `n` is.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

/// Upper bound on the bytes [`tail_lines`] reads: a log with very long lines is cut to its last 1 MiB.
const MAX_TAIL_BYTES: u64 = 1 << 20;
const BLOCK: u64 = 8 * 1024;

/// The last `n` lines of a text file, decoded as lossy UTF-8, for showing a failed step's stderr.
///
/// Lines keep their `\n` terminators (the last line may lack one); a final line break does not count as
/// an extra empty line. Returns an empty string when `n` is 0, the file is missing or unreadable. At
/// most the last 1 MiB of the file is considered, so the first returned line may be partial when lines
/// are extremely long.
pub fn tail_lines(path: &Path, n: usize) -> String {
    if n == 0 {
        return String::new();
    }
    read_tail(path, n).map(|bytes| String::from_utf8_lossy(&bytes).into_owned()).unwrap_or_default()
}

fn read_tail(path: &Path, n: usize) -> std::io::Result<Vec<u8>> {
    let mut file = File::open(path)?;
    let len = file.seek(SeekFrom::End(0))?;
    let floor = len.saturating_sub(MAX_TAIL_BYTES);
    // `buf` holds the bytes `start..len` of the file.
    let mut buf: Vec<u8> = Vec::new();
    let mut start = len;
    loop {
        if let Some(cut) = cut_point(&buf, n) {
            buf.drain(..cut);
            return Ok(buf);
        }
        if start == floor {
            return Ok(buf);
        }
        let new_start = start.saturating_sub(BLOCK).max(floor);
        let mut block = vec![0; (start - new_start) as usize];
        file.seek(SeekFrom::Start(new_start))?;
        file.read_exact(&mut block)?;
        block.extend_from_slice(&buf);
        buf = block;
        start = new_start;
    }
}

/// The index in `buf` where the last `n` lines begin, if `buf` holds the line break that precedes them.
fn cut_point(buf: &[u8], n: usize) -> Option<usize> {
    // A trailing newline terminates the last line; it does not start a new one.
    let body = buf.strip_suffix(b"\n").unwrap_or(buf);
    body.iter().enumerate().rev().filter(|&(_, &b)| b == b'\n').nth(n - 1).map(|(i, _)| i + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tail_of(content: &[u8], n: usize) -> String {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log");
        std::fs::write(&path, content).unwrap();
        tail_lines(&path, n)
    }

    #[test]
    fn last_lines() {
        assert_eq!(tail_of(b"a\nb\nc\n", 2), "b\nc\n");
        assert_eq!(tail_of(b"a\nb\nc", 2), "b\nc");
        assert_eq!(tail_of(b"a\nb\nc\n", 3), "a\nb\nc\n");
        assert_eq!(tail_of(b"a\nb\nc\n", 10), "a\nb\nc\n");
        assert_eq!(tail_of(b"a\nb\nc\n", 0), "");
        assert_eq!(tail_of(b"", 3), "");
        assert_eq!(tail_of(b"\n\n\n", 2), "\n\n");
    }

    #[test]
    fn missing_file_is_empty() {
        assert_eq!(tail_lines(Path::new("/nonexistent/definitely/not/here"), 5), "");
    }

    #[test]
    fn spans_blocks_and_decodes_lossily() {
        let mut content = Vec::new();
        for i in 0..5000 {
            content.extend_from_slice(format!("line {i}\n").as_bytes());
        }
        content.extend_from_slice(b"bad \xff byte\n");
        let tail = tail_of(&content, 3000);
        assert_eq!(tail.lines().count(), 3000);
        assert!(tail.starts_with("line 2001\n"));
        assert!(tail.ends_with("bad \u{fffd} byte\n"));
    }

    #[test]
    fn huge_line_is_capped() {
        let mut content = vec![b'x'; 3 << 20];
        content.extend_from_slice(b"\nend\n");
        let tail = tail_of(&content, 2);
        assert_eq!(tail.len() as u64, MAX_TAIL_BYTES);
        assert!(tail.ends_with("x\nend\n"));
    }
}
