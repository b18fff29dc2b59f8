//! Latency and memory of the language server on a 1,000-step pipeline, driven in process
//! over JSON-RPC (the same client as `tests/server.rs`). Not a timed test: it prints
//! figures. Run: `cargo bench -p lsp --bench lsp` (add `-- 5000` for another size).
//!
//! Targets (issue): diagnostics after a one-line edit p95 ≤ 20 ms, hover ≤ 10 ms,
//! completion ≤ 20 ms, resident memory ≤ 100 MB.

#![allow(clippy::print_stdout, missing_docs)]

#[path = "../tests/support/mod.rs"]
mod support;

use std::time::{Duration, Instant};

use serde_json::json;
use support::{TestClient, at, pos_of, uri_of};

fn pipeline(n: usize) -> String {
    let mut s = String::from(
        "[parameters]\nlr = 0.1\nseed = 1\n\n[environments.py]\nrequirements = \"requirements.txt\"\n\n[data.raw]\npath = \"raw.csv\"\n",
    );
    for i in 0..n {
        let input =
            if i == 0 { "data.raw".to_owned() } else { format!("steps.s{}.outputs.o", i - 1) };
        s.push_str(&format!(
            "\n[steps.s{i}]\nscript = \"step.py\"\nsource_directory = \"src\"\nenvironment = \"py\"\n\
             arguments = [\"--in\", \"${{inputs.x}}\", \"--out\", \"${{outputs.o}}\", \"--lr\", \"${{params.lr}}\", \"--seed\", \"${{params.seed}}\"]\n\
             inputs = {{ x = \"{input}\" }}\noutputs = [\"o\"]\nhash_paths = [\"lib.py\"]\n"
        ));
    }
    s
}

struct Stats(Vec<Duration>);

impl Stats {
    fn show(&mut self, what: &str, target: Option<u64>) {
        self.0.sort();
        let q = |p: f64| self.0[((self.0.len() - 1) as f64 * p).round() as usize];
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        let p95 = ms(q(0.95));
        let verdict = match target {
            Some(t) if p95 <= t as f64 => format!("  (target ≤ {t} ms: ok)"),
            Some(t) => format!("  (target ≤ {t} ms: MISSED)"),
            None => String::new(),
        };
        println!(
            "{what:<44} n={:<4} p50 {:>7.2} ms  p95 {:>7.2} ms  max {:>7.2} ms{verdict}",
            self.0.len(),
            ms(q(0.5)),
            p95,
            ms(q(1.0)),
        );
    }
}

fn status_kb(key: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(key))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        })
        .unwrap_or(0)
}

async fn run(n: usize) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("src")).unwrap();
    std::fs::write(dir.path().join("src/step.py"), "print(1)\n").unwrap();
    std::fs::write(dir.path().join("src/lib.py"), "X = 1\n").unwrap();
    std::fs::write(dir.path().join("raw.csv"), "1,2\n").unwrap();
    std::fs::write(dir.path().join("requirements.txt"), "numpy\n").unwrap();
    let text = pipeline(n);
    std::fs::write(dir.path().join("pipeline.toml"), &text).unwrap();
    let uri = uri_of(&dir.path().join("pipeline.toml"));
    println!("pipeline: {n} steps, {} KB, {} lines", text.len() / 1024, text.lines().count());

    let mut c = TestClient::start();
    c.initialize(json!({})).await;
    let t = Instant::now();
    c.open(&uri, &text).await;
    let d = c.diagnostics(&uri, 1).await;
    assert!(d.is_empty(), "{:?}", &d[..d.len().min(3)]);
    println!("open → first diagnostics: {:.1} ms", t.elapsed().as_secs_f64() * 1000.0);

    // One-line edits in steps spread over the file: flip an argument's text.
    let mut edits = Stats(Vec::new());
    let mut version = 1;
    let mut current = text.clone();
    for k in 0..120 {
        let step = (k * 37) % n;
        let header = format!("[steps.s{step}]");
        let at_header = current.find(&header).unwrap();
        let line_no = current[..at_header].matches('\n').count() as u32 + 4; // the arguments line
        let line_start = current.match_indices('\n').nth(line_no as usize - 1).unwrap().0 + 1;
        let col = current[line_start..].find("\"--lr\"").unwrap() + 1;
        let (old, new) = if current[line_start + col..].starts_with("--lr") {
            ("--lr", "--LR")
        } else {
            ("--LR", "--lr")
        };
        current.replace_range(line_start + col..line_start + col + old.len(), new);
        version += 1;
        let t = Instant::now();
        c.edit(&uri, version, (line_no, col as u32), (line_no, (col + 4) as u32), new).await;
        let d = c.diagnostics(&uri, version).await;
        let e = t.elapsed();
        assert!(d.is_empty());
        if k >= 20 {
            edits.0.push(e);
        }
    }
    edits.show("diagnostics after a one-line edit", Some(20));

    // Hovers: a key, a placeholder, a reference, a data reference.
    let mut hovers = Stats(Vec::new());
    for k in 0..200 {
        let step = (k * 53) % n;
        let at_header = current.find(&format!("[steps.s{step}]\n")).unwrap();
        let tail = &current[at_header..];
        let needle = ["script", "params.lr", "outputs.o\" }", "${inputs.x}"][k % 4];
        let (l, ch) = pos_of(tail, needle, 2);
        let (l0, _) = pos_of(&current, &format!("[steps.s{step}]\n"), 0);
        let t = Instant::now();
        let h = c.request("textDocument/hover", at(&uri, l + l0, ch)).await;
        hovers.0.push(t.elapsed());
        assert!(h["contents"]["value"].is_string(), "{needle}: {h}");
    }
    hovers.show("hover (key, placeholder, reference)", Some(10));

    // Completion: placeholders (`${params.`) and keys of a step.
    let mut completions = Stats(Vec::new());
    for k in 0..200 {
        let step = (k * 71) % n;
        let (l0, _) = pos_of(&current, &format!("[steps.s{step}]\n"), 0);
        let tail = &current[current.find(&format!("[steps.s{step}]\n")).unwrap()..];
        let (l, ch) =
            if k % 2 == 0 { pos_of(tail, "params.lr", 7) } else { pos_of(tail, "inputs.x}", 7) };
        let t = Instant::now();
        let r = c.request("textDocument/completion", at(&uri, l + l0, ch)).await;
        completions.0.push(t.elapsed());
        assert!(!r.as_array().unwrap().is_empty());
    }
    completions.show("completion (placeholders)", Some(20));

    let mut refs = Stats(Vec::new());
    for k in 0..40 {
        let step = 1 + (k * 29) % (n - 1);
        let (l0, _) = pos_of(&current, &format!("[steps.s{step}]\n"), 0);
        let t = Instant::now();
        // `inputs = { x = "steps.|s…` (line 5 of the step): every other step's output.
        let r = c.request("textDocument/completion", at(&uri, l0 + 5, 22)).await;
        refs.0.push(t.elapsed());
        assert_eq!(r.as_array().map(Vec::len), Some(n - 1), "{r}");
    }
    refs.show("completion (reference: every step output)", None);

    let mut header_hovers = Stats(Vec::new());
    for k in 0..20 {
        let step = (k * 13) % n;
        let (l0, _) = pos_of(&current, &format!("[steps.s{step}]\n"), 0);
        let t = Instant::now();
        let h = c.request("textDocument/hover", at(&uri, l0, 8)).await;
        header_hovers.0.push(t.elapsed());
        assert!(h["contents"]["value"].as_str().unwrap().contains("key field"), "{h}");
    }
    header_hovers.show("hover on a step header (key fields + plan)", None);

    let mut lenses = Stats(Vec::new());
    for k in 0..10 {
        // A new version each time, so the plan is recomputed.
        version += 1;
        c.change(&uri, version, &format!("{current}# {k}\n")).await;
        c.diagnostics(&uri, version).await;
        let t = Instant::now();
        let r = c.request("textDocument/codeLens", json!({"textDocument": {"uri": uri}})).await;
        lenses.0.push(t.elapsed());
        assert_eq!(r.as_array().unwrap().len(), 2 * n);
    }
    lenses.show("code lenses (full plan, no recorded runs)", None);

    let mut symbols = Stats(Vec::new());
    for _ in 0..20 {
        let t = Instant::now();
        c.request("textDocument/documentSymbol", json!({"textDocument": {"uri": uri}})).await;
        symbols.0.push(t.elapsed());
    }
    symbols.show("document symbols", None);

    let rss = status_kb("VmRSS:");
    let hwm = status_kb("VmHWM:");
    println!(
        "resident memory (server + in-process client): now {:.1} MB, peak {:.1} MB  (target ≤ 100 MB: {})",
        rss as f64 / 1024.0,
        hwm as f64 / 1024.0,
        if hwm <= 100 * 1024 { "ok" } else { "MISSED" }
    );
    c.shutdown().await;
}

fn main() {
    let n = std::env::args().skip(1).find_map(|a| a.parse::<usize>().ok()).unwrap_or(1000);
    println!(
        "command: cargo bench -p lsp --bench lsp{}",
        if n == 1000 { String::new() } else { format!(" -- {n}") }
    );
    let rt =
        tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    rt.block_on(run(n));
}
