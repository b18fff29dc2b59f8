//! The mutated-pipeline corpus through the language server: each document (bytes flipped,
//! cut short, repeated, NULs, invalid UTF-8 read as U+FFFD, deep nesting, huge keys and
//! strings; a fixed seed) is opened, its diagnostics awaited, and hover, completion, code
//! lenses, document symbols, references and definition asked at a few positions. Every
//! request is answered without an error and the server stays up to the end.

#![allow(clippy::print_stderr)]

mod support;

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::{TestClient, at, uri_of};

/// splitmix64: a small deterministic generator.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// The mutated documents of `base` (as text: the protocol carries only UTF-8).
fn mutations(base: &[u8], rng: &mut Rng) -> Vec<(String, String)> {
    let mut out: Vec<(String, Vec<u8>)> = Vec::new();
    let insert = |at: usize, what: &[u8]| {
        let mut t = base.to_vec();
        t.splice(at..at, what.iter().copied());
        t
    };
    for i in 0..8 {
        let mut t = base.to_vec();
        for _ in 0..=i % 3 {
            let p = rng.below(t.len());
            t[p] = rng.next() as u8;
        }
        out.push((format!("flip{i}"), t));
    }
    for i in 0..4 {
        out.push((format!("truncate{i}"), base[..rng.below(base.len())].to_vec()));
    }
    for i in 0..3 {
        let (a, b) = (rng.below(base.len()), rng.below(base.len()));
        let piece = base[a.min(b)..a.max(b)].to_vec();
        out.push((format!("duplicate{i}"), insert(rng.below(base.len()), &piece)));
    }
    out.push(("nul".to_owned(), insert(rng.below(base.len()), b"\0")));
    out.push(("nul-escape".to_owned(), base.to_vec().replace_first(b"\"", b"\"\\u0000")));
    out.push(("utf8".to_owned(), insert(rng.below(base.len()), b"\xff\xfe")));
    let line = base.iter().position(|&b| b == b'\n').map_or(0, |i| i + 1);
    let deep = format!("deep = {}1{}\n", "[".repeat(500), "]".repeat(500));
    out.push(("deep".to_owned(), insert(line, deep.as_bytes())));
    let key = format!("{} = 1\n", "k".repeat(2_000_000));
    out.push(("huge-key".to_owned(), insert(line, key.as_bytes())));
    let string = format!("description = \"{}\"\n", "s".repeat(1 << 20));
    out.push(("huge-string".to_owned(), insert(line, string.as_bytes())));
    out.into_iter().map(|(n, b)| (n, String::from_utf8_lossy(&b).into_owned())).collect()
}

trait ReplaceFirst {
    fn replace_first(self, from: &[u8], to: &[u8]) -> Vec<u8>;
}

impl ReplaceFirst for Vec<u8> {
    fn replace_first(mut self, from: &[u8], to: &[u8]) -> Vec<u8> {
        if let Some(p) = self.windows(from.len()).position(|w| w == from) {
            self.splice(p..p + from.len(), to.iter().copied());
        }
        self
    }
}

/// Positions to ask at: the start, a few inside, the end (line, UTF-16 column).
fn positions(text: &str, rng: &mut Rng) -> Vec<(u32, u32)> {
    let lines: Vec<&str> = text.split('\n').collect();
    let mut out = vec![(0, 0)];
    for _ in 0..3 {
        let l = rng.below(lines.len());
        let width = lines[l].encode_utf16().count();
        out.push((l as u32, rng.below(width + 1) as u32));
    }
    let last = lines.len() - 1;
    out.push((last as u32, lines[last].encode_utf16().count() as u32));
    out
}

const SHELL: &str = r#"[parameters]
word = "hello"

[data.raw]
path = "raw.csv"

[steps.make]
command = ["sh", "-c", "echo \"$1\" > \"$0/w.txt\"", "${outputs.out}", "${params.word}"]
inputs = { raw = "data.raw" }
outputs = ["out"]

[steps.copy]
script = "copy.sh"
arguments = ["${inputs.w}", "${outputs.out}"]
inputs = { w = "steps.make.outputs.out" }
outputs = ["out"]
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mutated_documents_get_answers() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("raw.csv"), "1\n").unwrap();
    let uri = uri_of(&dir.path().join("pipeline.toml"));
    let digits = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/digits/pipeline.toml");
    let bases = [std::fs::read(digits).unwrap(), SHELL.as_bytes().to_vec()];
    let mut rng = Rng(0x1a_5e_ed);
    let mut c = TestClient::start();
    c.initialize(json!({})).await;
    let (mut cases, mut requests, mut slowest) = (0, 0, Duration::ZERO);
    let mut version = 1;
    c.open(&uri, "").await;
    c.diagnostics(&uri, 1).await;
    for base in &bases {
        for (name, text) in mutations(base, &mut rng) {
            version += 1;
            let started = Instant::now();
            c.change(&uri, version, &text).await;
            c.diagnostics(&uri, version).await;
            for (line, col) in positions(&text, &mut rng) {
                let mut refs = at(&uri, line, col);
                refs["context"] = json!({"includeDeclaration": true});
                let doc = json!({"textDocument": {"uri": uri}});
                for (method, params) in [
                    ("textDocument/hover", at(&uri, line, col)),
                    ("textDocument/completion", at(&uri, line, col)),
                    ("textDocument/definition", at(&uri, line, col)),
                    ("textDocument/references", refs),
                    ("textDocument/codeLens", doc.clone()),
                    ("textDocument/documentSymbol", doc),
                ] {
                    let t = Instant::now();
                    let id = c.send_request(method, params).await;
                    let r: Value = c.response(id).await;
                    assert!(r.get("error").is_none(), "{name}: {method} at {line}:{col}: {r}");
                    slowest = slowest.max(t.elapsed());
                    requests += 1;
                }
            }
            eprintln!("{name}: {:?}", started.elapsed());
            cases += 1;
        }
    }
    eprintln!(
        "language server corpus: {cases} documents, {requests} requests, slowest {slowest:?}"
    );
    c.shutdown().await;
}
