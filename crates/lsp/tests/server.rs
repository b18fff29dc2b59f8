//! The server in process, driven over JSON-RPC as an editor would: diagnostics, every
//! request, file watching, and robustness (rapid edits during a slow request, a 10 MB
//! document, garbage bytes, a panicking handler).

#![allow(clippy::print_stderr)]

mod support;

use std::path::Path;
use std::time::Instant;

use serde_json::{Value, json};
use support::{TestClient, at, pos_of, uri_of};

const PIPELINE: &str = r#"[parameters]
lr = 0.1

[data.raw]
path = "raw.csv"

[steps.prepare]
script = "prepare.py"
arguments = ["${inputs.raw}", "${outputs.split}"]
inputs = { raw = "data.raw" }
outputs = ["split"]

[steps.train]
script = "train.py"
arguments = ["${inputs.data}", "${outputs.model}", "--lr=${params.lr}"]
inputs = { data = "steps.prepare.outputs.splt" }
outputs = ["model", "model"]
"#;

fn project() -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("raw.csv"), "1,2\n").unwrap();
    std::fs::write(dir.path().join("prepare.py"), "print(1)\n").unwrap();
    std::fs::write(dir.path().join("pipeline.toml"), PIPELINE).unwrap();
    let uri = uri_of(&dir.path().join("pipeline.toml"));
    (dir, uri)
}

fn summary(diags: &[Value]) -> Vec<String> {
    diags
        .iter()
        .map(|d| {
            format!(
                "{} {}:{} {}{}",
                d["code"].as_str().unwrap(),
                d["range"]["start"]["line"],
                d["range"]["start"]["character"],
                d["message"].as_str().unwrap().lines().next().unwrap(),
                d.get("relatedInformation")
                    .map(|r| format!(" (+{} related)", r.as_array().unwrap().len()))
                    .unwrap_or_default()
            )
        })
        .collect()
}

async fn started(caps: Value) -> TestClient {
    let mut c = TestClient::start();
    c.initialize(caps).await;
    c
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn diagnostics_on_open_and_after_edits() {
    let (_dir, uri) = project();
    let mut c = started(json!({"workspace": {
        "didChangeWatchedFiles": {"dynamicRegistration": true, "relativePatternSupport": true},
        "codeLens": {"refreshSupport": true},
    }}))
    .await;
    c.open(&uri, PIPELINE).await;
    let d = c.diagnostics(&uri, 1).await;
    // The server asked to watch the pipeline's folder.
    let reg = &c.server_request("client/registerCapability").await;
    assert_eq!(reg["method"], json!("client/registerCapability"), "{reg}");
    let r = &reg["params"]["registrations"][0];
    assert_eq!(r["method"], json!("workspace/didChangeWatchedFiles"));
    let glob = &r["registerOptions"]["watchers"][0]["globPattern"];
    assert_eq!(glob["pattern"], json!("**/*"), "{glob}");
    assert!(uri.starts_with(glob["baseUri"].as_str().unwrap()), "{glob}");
    expect_test::expect![[r#"
        [
            "E0110 13:9 script `train.py` was not found",
            "E0102 15:18 unresolved reference `steps.prepare.outputs.splt`: no output named `splt`",
            "E0108 16:20 output `model` is declared twice (+1 related)",
        ]
    "#]]
    .assert_debug_eq(&summary(&d));
    assert_eq!(d[1]["severity"], json!(1));
    assert_eq!(d[1]["source"], json!("runner"));
    // Fix the reference with a range edit (UTF-16 positions).
    let (l, ch) = pos_of(PIPELINE, "splt\"", 0);
    c.edit(&uri, 2, (l, ch), (l, ch + 4), "split").await;
    let d = c.diagnostics(&uri, 2).await;
    assert_eq!(summary(&d).len(), 2, "{d:?}");
    // The script appears on disk; the client says so.
    let dir = Path::new(&uri["file://".len()..]).parent().unwrap().to_path_buf();
    std::fs::write(dir.join("train.py"), "print(2)\n").unwrap();
    c.server_requests.clear();
    c.notify(
        "workspace/didChangeWatchedFiles",
        json!({"changes": [{"uri": uri_of(&dir.join("train.py")), "type": 1}]}),
    )
    .await;
    let d = c.diagnostics(&uri, 2).await;
    let d = if d.len() == 2 { c.diagnostics(&uri, 2).await } else { d };
    // ... and asked the client to refresh its lenses (the script's digest is in a key).
    c.server_request("workspace/codeLens/refresh").await;
    let codes: Vec<&str> = d.iter().map(|d| d["code"].as_str().unwrap()).collect();
    assert_eq!(codes, ["E0108"], "{d:?}");
    // Both ends of the duplicate.
    assert_eq!(d[0]["relatedInformation"][0]["location"]["range"]["start"]["line"], json!(16));
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests() {
    let (_dir, uri) = project();
    let mut c = started(json!({})).await;
    c.open(&uri, PIPELINE).await;
    c.diagnostics(&uri, 1).await;

    // Hover on a key: schema docs.
    let (l, ch) = pos_of(PIPELINE, "arguments", 2);
    let h = c.request("textDocument/hover", at(&uri, l, ch)).await;
    assert!(h["contents"]["value"].as_str().unwrap().starts_with("**`arguments`**"), "{h}");
    // Hover on a placeholder: what it expands to.
    let (l, ch) = pos_of(PIPELINE, "params.lr", 3);
    let h = c.request("textDocument/hover", at(&uri, l, ch)).await;
    assert!(h["contents"]["value"].as_str().unwrap().contains("expands to `0.1`"), "{h}");

    // Completion: placeholders limited to the step's inputs.
    let text2 = PIPELINE.replace("[\"${inputs.data}\"", "[\"${inputs.\"");
    c.change(&uri, 2, &text2).await;
    let (l, ch) = pos_of(&text2, "${inputs.\"", 9);
    let r = c.request("textDocument/completion", at(&uri, l, ch)).await;
    let labels: Vec<&str> =
        r.as_array().unwrap().iter().map(|i| i["label"].as_str().unwrap()).collect();
    assert_eq!(labels, ["data"]);
    c.change(&uri, 3, PIPELINE).await;

    // Definition: reference → header; script → file.
    let (l, ch) = pos_of(PIPELINE, "data.raw", 6);
    let r = c.request("textDocument/definition", at(&uri, l, ch)).await;
    assert_eq!(r["range"]["start"], json!({"line": 3, "character": 6}), "{r}");
    let (l, ch) = pos_of(PIPELINE, "prepare.py", 1);
    let r = c.request("textDocument/definition", at(&uri, l, ch)).await;
    assert!(r["uri"].as_str().unwrap().ends_with("/prepare.py"), "{r}");

    // References and rename of a step.
    let (l, ch) = pos_of(PIPELINE, "prepare]", 1);
    let mut p = at(&uri, l, ch);
    p["context"] = json!({"includeDeclaration": true});
    let r = c.request("textDocument/references", p).await;
    assert_eq!(r.as_array().unwrap().len(), 2, "{r}");
    let mut p = at(&uri, l, ch);
    p["newName"] = json!("split_data");
    let r = c.request("textDocument/rename", p).await;
    let edits = r["changes"][&uri].as_array().unwrap();
    assert_eq!(edits.len(), 2, "{r}");
    assert!(edits.iter().all(|e| e["newText"] == json!("split_data")));
    let mut p = at(&uri, l, ch);
    p["newName"] = json!("train");
    let id = c.send_request("textDocument/rename", p).await;
    let r = c.response(id).await;
    assert_eq!(r["error"]["code"], json!(-32602), "{r}");

    // Symbols.
    let r = c.request("textDocument/documentSymbol", json!({"textDocument": {"uri": uri}})).await;
    let names: Vec<&str> =
        r.as_array().unwrap().iter().map(|s| s["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["parameters", "data", "steps"]);

    // Code lenses: never run (no .runner/), and build-step commands.
    let r = c.request("textDocument/codeLens", json!({"textDocument": {"uri": uri}})).await;
    let titles: Vec<String> = r
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            format!("{} {}", l["range"]["start"]["line"], l["command"]["title"].as_str().unwrap())
        })
        .collect();
    expect_test::expect![[r#"
        [
            "6 never run",
            "6 ▶ build step",
            "12 blocked: the step has errors",
            "12 ▶ build step",
        ]
    "#]]
    .assert_debug_eq(&titles);
    let build = &r.as_array().unwrap()[1]["command"];
    assert_eq!(build["command"], json!("runner.buildStep"));
    assert!(build["arguments"][0].as_str().unwrap().ends_with("pipeline.toml"));
    assert_eq!(build["arguments"][1], json!("prepare"));

    // A document that is not open: empty answers, no error.
    let r = c.request("textDocument/hover", at("file:///nowhere/pipeline.toml", 0, 0)).await;
    assert_eq!(r, Value::Null);
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn positions_in_utf16_or_negotiated_utf8() {
    let text = "[steps.a]\ncommand = [\"x\"]\nenv = { A = \"é😀\", \"b c\" = \"1\" }\n";
    for (caps, encoding, column) in [
        (json!({}), "utf-16", 19),
        (json!({"general": {"positionEncodings": ["utf-8", "utf-16"]}}), "utf-8", 22),
    ] {
        let mut c = TestClient::start();
        let r = c.initialize(caps).await;
        assert_eq!(r["capabilities"]["positionEncoding"], json!(encoding));
        let uri = "file:///tmp/runner-lsp-enc/pipeline.toml";
        c.open(uri, text).await;
        let d = c.diagnostics(uri, 1).await;
        assert_eq!(
            summary(&d),
            [format!("E0112 2:{column} invalid environment variable name `b c`")]
        );
        // An edit addressed in the same encoding lands in the right place.
        c.edit(uri, 2, (2, column), (2, column + 5), "B").await;
        assert_eq!(c.diagnostics(uri, 2).await, Vec::<Value>::new());
        c.shutdown().await;
    }
}

/// 100 edits while a slow request runs: the request is answered ContentModified, and the
/// last diagnostics published are the last version's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rapid_edits_cancel_stale_work() {
    let (_dir, uri) = project();
    let mut c = started(json!({})).await;
    c.open(&uri, PIPELINE).await;
    c.diagnostics(&uri, 1).await;
    let slow = c
        .send_request("runner/testSlow", json!({"textDocument": {"uri": uri}, "millis": 20000}))
        .await;
    let started = Instant::now();
    for v in 2..=101 {
        // Alternate between a broken and a fixed reference; the last one (v = 101) is broken.
        let text = if v % 2 == 0 { PIPELINE.replace("splt", "split") } else { PIPELINE.to_owned() };
        c.change(&uri, v, &text).await;
    }
    let r = c.response(slow).await;
    assert_eq!(r["error"]["code"], json!(-32801), "{r}");
    assert!(started.elapsed().as_secs() < 10, "cancelled promptly");
    let d = c.diagnostics(&uri, 101).await;
    assert!(summary(&d).iter().any(|m| m.contains("splt")), "{d:?}");
    // A request after the storm sees the last version.
    let (l, ch) = pos_of(PIPELINE, "splt", 1);
    let h = c.request("textDocument/hover", at(&uri, l, ch)).await;
    assert!(h["contents"]["value"].as_str().unwrap().contains("not declared"), "{h}");
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn survives_a_panicking_handler() {
    let (_dir, uri) = project();
    let mut c = started(json!({})).await;
    c.open(&uri, PIPELINE).await;
    c.diagnostics(&uri, 1).await;
    let id = c.send_request("runner/testPanic", json!({"textDocument": {"uri": uri}})).await;
    let r = c.response(id).await;
    assert_eq!(r["error"]["code"], json!(-32603), "{r}");
    assert!(r["error"]["message"].as_str().unwrap().contains("deliberate panic"), "{r}");
    // Still answering, still tracking edits.
    c.change(&uri, 2, &PIPELINE.replace("splt", "split")).await;
    assert_eq!(c.diagnostics(&uri, 2).await.len(), 2);
    let (l, ch) = pos_of(PIPELINE, "script", 1);
    let h = c.request("textDocument/hover", at(&uri, l, ch)).await;
    assert!(h["contents"]["value"].as_str().unwrap().contains("`script`"));
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn survives_garbage_bytes() {
    let (_dir, uri) = project();
    let mut c = TestClient::start();
    c.send_raw(b"\x00\xff\xfe garbage\r\n\r\nContent-Length: abc\r\n\r\n").await;
    c.send_raw(b"Content-Length: 9\r\n\r\nnot json!").await;
    c.send_raw(b"Content-Length: 2\r\n\r\n{}").await;
    c.send_raw("Content-Length: 4\r\n\r\n\u{fffd}!".as_bytes()).await;
    c.initialize(json!({})).await;
    // A document of garbage (control characters, lone surrogates as U+FFFD, deep nesting).
    let mut junk: String = (0u8..=255).map(|b| b as char).collect();
    junk.push_str(&"[".repeat(10_000));
    c.open(&uri, &junk).await;
    let d = c.diagnostics(&uri, 1).await;
    assert!(!d.is_empty());
    let h = c.request("textDocument/hover", at(&uri, 0, 3)).await;
    let _ = h;
    let r = c.request("textDocument/completion", at(&uri, 0, 200)).await;
    let _ = r;
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_megabyte_document() {
    let mut text = String::from("[parameters]\nlr = 0.1\n");
    let mut i = 0;
    while text.len() < 10 << 20 {
        text.push_str(&format!(
            "\n[steps.s{i}]\ncommand = [\"echo\", \"${{params.lr}}\", \"${{outputs.o}}\"]\noutputs = [\"o\"]\ndescription = \"{}\"\n",
            "x".repeat(200)
        ));
        i += 1;
    }
    let uri = "file:///tmp/runner-lsp-10mb/pipeline.toml";
    let mut c = started(json!({})).await;
    let t = Instant::now();
    c.open(uri, &text).await;
    let d = c.diagnostics(uri, 1).await;
    eprintln!("10 MB ({i} steps): first diagnostics in {:?}", t.elapsed());
    assert!(d.iter().all(|d| d["code"] == json!("W0203")), "{:?}", &d[..d.len().min(3)]);
    let t = Instant::now();
    let last = text.matches('\n').count() as u32 - 1;
    c.edit(uri, 2, (last, 0), (last, 0), "oops = 1\n").await;
    let d = c.diagnostics(uri, 2).await;
    eprintln!("10 MB: diagnostics after an edit at the end in {:?}", t.elapsed());
    assert!(d.iter().any(|d| d["code"] == json!("E0101")));
    c.shutdown().await;
}

/// An Azure ML SDK key: a quick fix renames it to runner's, and applying it clears the
/// diagnostic.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quick_fix_for_an_azure_ml_name() {
    let dir = tempfile::tempdir().unwrap();
    let text = "[steps.train]\nscript_name = \"train.py\"\n";
    std::fs::write(dir.path().join("train.py"), "print(1)\n").unwrap();
    std::fs::write(dir.path().join("pipeline.toml"), text).unwrap();
    let uri = uri_of(&dir.path().join("pipeline.toml"));
    let mut c = started(json!({})).await;
    c.open(&uri, text).await;
    let diags = c.diagnostics(&uri, 1).await;
    assert_eq!(summary(&diags), ["E0101 1:0 unknown key `script_name` in `[steps.train]`"]);
    let p = json!({
        "textDocument": {"uri": uri},
        "range": {"start": {"line": 1, "character": 3}, "end": {"line": 1, "character": 3}},
        "context": {"diagnostics": diags},
    });
    let r = c.request("textDocument/codeAction", p).await;
    let actions = r.as_array().unwrap();
    assert_eq!(actions.len(), 1, "{r}");
    assert_eq!(actions[0]["kind"], json!("quickfix"));
    let edits = actions[0]["edit"]["changes"][&uri].as_array().unwrap();
    assert_eq!(edits[0]["newText"], json!("script"));
    assert_eq!(edits[0]["range"]["start"], json!({"line": 1, "character": 0}));
    assert_eq!(edits[0]["range"]["end"], json!({"line": 1, "character": 11}));
    // Applied, the file is clean; elsewhere in the file, nothing is offered.
    c.change(&uri, 2, "[steps.train]\nscript = \"train.py\"\n").await;
    assert!(c.diagnostics(&uri, 2).await.is_empty());
    let p = json!({
        "textDocument": {"uri": uri},
        "range": {"start": {"line": 1, "character": 0}, "end": {"line": 1, "character": 5}},
        "context": {"diagnostics": []},
    });
    assert_eq!(c.request("textDocument/codeAction", p).await, json!([]));
    c.shutdown().await;
}

/// A traced build recorded that step `train` read a file outside its key: the editor shows
/// `W0206` at the step's header, from the step's last successful run.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn undeclared_reads_of_the_last_run_at_the_step_header() {
    let dir = tempfile::tempdir().unwrap();
    let text = "[pipeline]\nname = \"p\"\n\n[steps.train]\nscript = \"train.py\"\n";
    std::fs::write(dir.path().join("pipeline.toml"), text).unwrap();
    std::fs::write(dir.path().join("train.py"), "open('config.txt').read()\n").unwrap();
    let state = dir.path().join(".runner");
    let log_dir = state.join("runs/1/train");
    std::fs::create_dir_all(&log_dir).unwrap();
    std::fs::write(log_dir.join(driver::UNDECLARED_READS_FILE), "config.txt\n").unwrap();
    let h = history::History::open(&state.join("history.sqlite")).unwrap();
    let run = h
        .start_run(&history::NewRun {
            experiment: "p".into(),
            pipeline: "p".into(),
            pipeline_path: "pipeline.toml".into(),
            params: Vec::new(),
            git: None,
            started_ms: 1,
            pid: std::process::id(),
        })
        .unwrap();
    h.record_step(&history::StepRecord {
        run_id: run,
        step: "train".into(),
        status: history::StepStatus::Ran,
        key: None,
        key_fields: None,
        reused_from: None,
        dirty_reason: None,
        exit_code: Some(0),
        started_ms: Some(1),
        duration_ms: Some(1),
        outputs: None,
        log_dir: Some(log_dir.display().to_string()),
    })
    .unwrap();
    drop(h);
    let uri = uri_of(&dir.path().join("pipeline.toml"));
    let mut c = started(json!({})).await;
    c.open(&uri, text).await;
    let diags = c.diagnostics(&uri, 1).await;
    assert_eq!(
        summary(&diags),
        ["W0206 3:7 step train read config.txt, which is not part of its key"],
        "{diags:?}"
    );
    c.shutdown().await;
}

/// A data reference in an object-store datastore is not asked of the store from the
/// editor: no request per keystroke, no credentials needed to edit, and no false
/// "not found"; a local data path that is missing is still reported.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn remote_data_is_not_reported_missing() {
    let dir = tempfile::tempdir().unwrap();
    let text = r#"[datastores.blob]
kind = "azure_blob"
account = "dev"
container = "data"

[data.remote]
datastore = "blob"
path = "raw/wine.csv"

[data.here]
path = "raw/gone.csv"

[steps.a]
command = ["cat", "${inputs.r}", "${inputs.h}"]
inputs = { r = "data.remote", h = "data.here" }
"#;
    std::fs::write(dir.path().join("pipeline.toml"), text).unwrap();
    let uri = uri_of(&dir.path().join("pipeline.toml"));
    let mut c = started(json!({})).await;
    c.open(&uri, text).await;
    let d = c.diagnostics(&uri, 1).await;
    assert_eq!(summary(&d), ["E0110 10:7 data `raw/gone.csv` was not found"], "{d:?}");
}
