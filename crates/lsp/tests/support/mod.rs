//! An in-process LSP client: the server runs in this process on in-memory pipes
//! (`lsp::serve_with`), and the client speaks raw JSON-RPC to it, as an editor would.
//! Server→client requests (`client/registerCapability`, `workspace/codeLens/refresh`)
//! are answered with `null`.

#![allow(dead_code, missing_docs)]

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream, ReadHalf, WriteHalf};
use tokio::sync::mpsc;

pub struct TestClient {
    write: WriteHalf<DuplexStream>,
    incoming: mpsc::UnboundedReceiver<Value>,
    backlog: VecDeque<Value>,
    next_id: i64,
    /// Requests the server sent us (answered with `null`), in order.
    pub server_requests: Vec<Value>,
}

/// Reads `Content-Length` frames and sends their JSON.
async fn reader(mut r: ReadHalf<DuplexStream>, tx: mpsc::UnboundedSender<Value>) {
    let mut buf = Vec::new();
    let mut chunk = vec![0u8; 1 << 16];
    loop {
        while let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).into_owned();
            let len: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("Content-Length: "))
                .and_then(|v| v.trim().parse().ok())
                .expect("content length");
            if buf.len() < end + 4 + len {
                break;
            }
            let body: Vec<u8> = buf[end + 4..end + 4 + len].to_vec();
            buf.drain(..end + 4 + len);
            let _ = tx.send(serde_json::from_slice(&body).expect("server sends JSON"));
        }
        match r.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
}

pub const TIMEOUT: Duration = Duration::from_secs(30);

impl TestClient {
    /// Starts a server (test hooks on) and a client connected to it.
    pub fn start() -> TestClient {
        let (client_io, server_io) = tokio::io::duplex(1 << 20);
        let (server_r, server_w) = tokio::io::split(server_io);
        tokio::spawn(lsp::serve_with(server_r, server_w, lsp::Options { test_hooks: true }));
        let (r, w) = tokio::io::split(client_io);
        let (tx, incoming) = mpsc::unbounded_channel();
        tokio::spawn(reader(r, tx));
        TestClient {
            write: w,
            incoming,
            backlog: VecDeque::new(),
            next_id: 1,
            server_requests: Vec::new(),
        }
    }

    pub async fn send_raw(&mut self, bytes: &[u8]) {
        self.write.write_all(bytes).await.unwrap();
    }

    async fn send(&mut self, msg: Value) {
        let body = serde_json::to_vec(&msg).unwrap();
        let head = format!("Content-Length: {}\r\n\r\n", body.len());
        self.write.write_all(head.as_bytes()).await.unwrap();
        self.write.write_all(&body).await.unwrap();
    }

    pub async fn notify(&mut self, method: &str, params: Value) {
        self.send(json!({"jsonrpc": "2.0", "method": method, "params": params})).await;
    }

    /// Sends a request; returns its id (see [`Self::response`]).
    pub async fn send_request(&mut self, method: &str, params: Value) -> i64 {
        let id = self.next_id;
        self.next_id += 1;
        self.send(json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params})).await;
        id
    }

    /// The next message from the server, answering its requests on the way.
    async fn recv(&mut self) -> Value {
        match self.try_recv(TIMEOUT).await {
            Some(m) => m,
            None => panic!("no message from the server in time; backlog: {}", self.show_backlog()),
        }
    }

    async fn try_recv(&mut self, timeout: Duration) -> Option<Value> {
        let msg = tokio::time::timeout(timeout, self.incoming.recv()).await.ok()??;
        if msg.get("method").is_some() && msg.get("id").is_some() {
            let id = msg["id"].clone();
            self.send(json!({"jsonrpc": "2.0", "id": id, "result": null})).await;
            self.server_requests.push(msg);
            // Let callers waiting for a server request look again.
            return Some(Value::Null);
        }
        Some(msg)
    }

    fn show_backlog(&self) -> String {
        let msgs: Vec<String> =
            self.backlog.iter().map(|m| m.to_string().chars().take(400).collect()).collect();
        format!("{msgs:#?}\nserver requests: {:?}", self.server_requests)
    }

    /// Waits until the server has sent us a request `method`.
    pub async fn server_request(&mut self, method: &str) -> Value {
        loop {
            if let Some(r) = self.server_requests.iter().find(|r| r["method"] == json!(method)) {
                return r.clone();
            }
            let msg = self.recv().await;
            if !msg.is_null() {
                self.backlog.push_back(msg);
            }
        }
    }

    /// The response to request `id` (whole message: `result` or `error`).
    pub async fn response(&mut self, id: i64) -> Value {
        if let Some(i) = self.backlog.iter().position(|m| m["id"] == json!(id)) {
            return self.backlog.remove(i).unwrap();
        }
        loop {
            let msg = self.recv().await;
            if msg["id"] == json!(id) && msg.get("method").is_none() {
                return msg;
            }
            if !msg.is_null() {
                self.backlog.push_back(msg);
            }
        }
    }

    /// A request's result (panics on an error response).
    pub async fn request(&mut self, method: &str, params: Value) -> Value {
        let id = self.send_request(method, params).await;
        let r = self.response(id).await;
        assert!(r.get("error").is_none(), "{method} failed: {r}");
        r["result"].clone()
    }

    /// The next notification `method` whose params satisfy `pred`.
    pub async fn notification(&mut self, method: &str, pred: impl Fn(&Value) -> bool) -> Value {
        if let Some(i) =
            self.backlog.iter().position(|m| m["method"] == json!(method) && pred(&m["params"]))
        {
            return self.backlog.remove(i).unwrap()["params"].clone();
        }
        let deadline = Instant::now() + TIMEOUT;
        loop {
            assert!(Instant::now() < deadline, "no {method} in time");
            let msg = self.recv().await;
            if msg["method"] == json!(method) && pred(&msg["params"]) {
                return msg["params"].clone();
            }
            if !msg.is_null() {
                self.backlog.push_back(msg);
            }
        }
    }

    /// Diagnostics published for `uri` at `version`.
    pub async fn diagnostics(&mut self, uri: &str, version: i64) -> Vec<Value> {
        let p = self
            .notification("textDocument/publishDiagnostics", |p| {
                p["uri"] == json!(uri) && p["version"] == json!(version)
            })
            .await;
        p["diagnostics"].as_array().cloned().unwrap_or_default()
    }

    pub async fn initialize(&mut self, capabilities: Value) -> Value {
        let r = self
            .request(
                "initialize",
                json!({"processId": null, "rootUri": null, "capabilities": capabilities}),
            )
            .await;
        self.notify("initialized", json!({})).await;
        r
    }

    pub async fn open(&mut self, uri: &str, text: &str) {
        self.notify(
            "textDocument/didOpen",
            json!({"textDocument": {"uri": uri, "languageId": "toml", "version": 1, "text": text}}),
        )
        .await;
    }

    /// Replaces the whole text.
    pub async fn change(&mut self, uri: &str, version: i64, text: &str) {
        self.notify(
            "textDocument/didChange",
            json!({"textDocument": {"uri": uri, "version": version}, "contentChanges": [{"text": text}]}),
        )
        .await;
    }

    /// Replaces a range (line, character pairs).
    pub async fn edit(
        &mut self,
        uri: &str,
        version: i64,
        start: (u32, u32),
        end: (u32, u32),
        text: &str,
    ) {
        self.notify(
            "textDocument/didChange",
            json!({"textDocument": {"uri": uri, "version": version}, "contentChanges": [{
                "range": {"start": {"line": start.0, "character": start.1}, "end": {"line": end.0, "character": end.1}},
                "text": text
            }]}),
        )
        .await;
    }

    pub async fn shutdown(&mut self) {
        self.request("shutdown", Value::Null).await;
        self.notify("exit", Value::Null).await;
    }
}

/// `{"textDocument": {"uri": …}, "position": {…}}`.
pub fn at(uri: &str, line: u32, character: u32) -> Value {
    json!({"textDocument": {"uri": uri}, "position": {"line": line, "character": character}})
}

/// Line and UTF-16 column of the first `needle` in `text` (plus `delta` columns).
pub fn pos_of(text: &str, needle: &str, delta: u32) -> (u32, u32) {
    let at = text.find(needle).unwrap_or_else(|| panic!("{needle} in text"));
    let line = text[..at].matches('\n').count() as u32;
    let col = text[..at].rsplit('\n').next().unwrap().encode_utf16().count() as u32;
    (line, col + delta)
}

/// A file URI for `path`.
pub fn uri_of(path: &std::path::Path) -> String {
    format!("file://{}", path.display())
}
