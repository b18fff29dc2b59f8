//! Framing of the input stream, before tower-lsp-server sees it.
//!
//! tower-lsp-server's reader ends the whole session at the first message it cannot decode
//! (a garbage byte before a header, a non-UTF-8 or non-JSON body). This task reads the
//! real input, finds `Content-Length` frames, and forwards only bodies that are JSON-RPC
//! messages; everything else is reported on stderr and skipped, and reading resumes at the
//! next header. So bad input never ends the server: only `exit` or end of input does.

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tower_lsp_server::jsonrpc::{Request, Response};

/// Bodies larger than this are skipped (a 10 MB document is fine).
const MAX_BODY: usize = 512 << 20;
const HEADER: &[u8] = b"Content-Length:";

/// Copies well-formed messages from `input` to `output` until `input` ends.
pub async fn forward<I, O>(mut input: I, mut output: O)
where
    I: AsyncRead + Unpin,
    O: AsyncWrite + Unpin,
{
    let mut buf: Vec<u8> = Vec::with_capacity(1 << 16);
    let mut chunk = vec![0u8; 1 << 16];
    loop {
        // Deliver every complete frame in the buffer.
        loop {
            match next_frame(&mut buf) {
                Frame::Message(body) => {
                    let head = format!("Content-Length: {}\r\n\r\n", body.len());
                    if output.write_all(head.as_bytes()).await.is_err()
                        || output.write_all(&body).await.is_err()
                    {
                        return;
                    }
                }
                Frame::Skipped(why) => crate::log(&format!("skipped bad input: {why}")),
                Frame::Incomplete => break,
            }
        }
        match input.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
}

enum Frame {
    Message(Vec<u8>),
    Skipped(String),
    Incomplete,
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w.eq_ignore_ascii_case(needle))
}

fn next_frame(buf: &mut Vec<u8>) -> Frame {
    let Some(h) = find(buf, HEADER) else {
        // Keep a tail that may be the start of a header; drop the rest.
        let keep = HEADER.len();
        if buf.len() > keep {
            let dropped = buf.len() - keep;
            buf.drain(..dropped);
            if buf.iter().take(dropped).any(|b| !b.is_ascii_whitespace()) {
                return Frame::Skipped(format!("{dropped} bytes without a header"));
            }
        }
        return Frame::Incomplete;
    };
    if h > 0 {
        let garbage = buf[..h].iter().any(|b| !b.is_ascii_whitespace());
        buf.drain(..h);
        if garbage {
            return Frame::Skipped(format!("{h} bytes before a header"));
        }
    }
    let Some(end) = find(buf, b"\r\n\r\n") else {
        if buf.len() > 4096 {
            buf.drain(..HEADER.len());
            return Frame::Skipped("a header that never ends".to_owned());
        }
        return Frame::Incomplete;
    };
    let head = String::from_utf8_lossy(&buf[HEADER.len()..end]).into_owned();
    let len_text = head.lines().next().unwrap_or_default().trim();
    let Ok(len) = len_text.parse::<usize>() else {
        buf.drain(..HEADER.len());
        return Frame::Skipped(format!("bad Content-Length `{len_text}`"));
    };
    if len > MAX_BODY {
        buf.drain(..HEADER.len());
        return Frame::Skipped(format!("a {len}-byte message"));
    }
    let start = end + 4;
    if buf.len() < start + len {
        return Frame::Incomplete;
    }
    let body: Vec<u8> = buf[start..start + len].to_vec();
    buf.drain(..start + len);
    if serde_json::from_slice::<Response>(&body).is_ok()
        || serde_json::from_slice::<Request>(&body).is_ok()
    {
        Frame::Message(body)
    } else {
        let shown = String::from_utf8_lossy(&body[..body.len().min(60)]).into_owned();
        Frame::Skipped(format!("not a JSON-RPC message: {shown:?}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frames(input: &[u8]) -> Vec<String> {
        let mut buf = input.to_vec();
        let mut out = Vec::new();
        loop {
            match next_frame(&mut buf) {
                Frame::Message(b) => out.push(String::from_utf8(b).unwrap()),
                Frame::Skipped(w) => out.push(format!("skipped: {w}")),
                Frame::Incomplete => return out,
            }
        }
    }

    #[test]
    fn resyncs_after_garbage() {
        let ok = r#"{"jsonrpc":"2.0","method":"initialized","params":{}}"#;
        let input = format!(
            "\u{1}\u{2}garbage Content-Length: x\r\n\r\nContent-Length: 5\r\n\r\nnope!Content-Length: {}\r\n\r\n{ok}",
            ok.len()
        );
        let got = frames(input.as_bytes());
        assert_eq!(got.last().map(String::as_str), Some(ok), "{got:?}");
        assert!(got[..got.len() - 1].iter().all(|g| g.starts_with("skipped: ")), "{got:?}");
        assert!(got.iter().any(|g| g.starts_with("skipped: bad Content-Length")), "{got:?}");
        assert!(got.iter().any(|g| g.starts_with("skipped: not a JSON-RPC")), "{got:?}");
    }

    #[test]
    fn waits_for_the_rest() {
        let mut buf = b"Content-Length: 10\r\n\r\n{\"a\"".to_vec();
        assert!(matches!(next_frame(&mut buf), Frame::Incomplete));
        assert!(buf.starts_with(b"Content-Length"));
    }
}
