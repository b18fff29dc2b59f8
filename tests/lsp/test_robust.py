"""Robustness of the real binary on stdio: garbage bytes, a panicking handler, a slow
request cancelled by edits. Speaks raw JSON-RPC (pytest-lsp cannot send garbage)."""

import json
import os
import pathlib
import subprocess
import threading
import queue

ROOT = pathlib.Path(__file__).resolve().parents[2]
RUNNER = os.environ.get("RUNNER_BIN", str(ROOT / "target" / "debug" / "runner"))


class Raw:
    def __init__(self):
        env = dict(os.environ, RUNNER_LSP_TEST_HOOKS="1")
        self.p = subprocess.Popen(
            [RUNNER, "lsp"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL, env=env,
        )
        self.q = queue.Queue()
        self.next_id = 1
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        out = self.p.stdout
        while True:
            line = out.readline()
            if not line:
                return
            if line.lower().startswith(b"content-length:"):
                n = int(line.split(b":")[1])
                out.readline()
                self.q.put(json.loads(out.read(n)))

    def send_bytes(self, b):
        self.p.stdin.write(b)
        self.p.stdin.flush()

    def send(self, msg):
        body = json.dumps(msg).encode()
        self.send_bytes(b"Content-Length: %d\r\n\r\n" % len(body) + body)

    def request(self, method, params):
        i = self.next_id
        self.next_id += 1
        self.send({"jsonrpc": "2.0", "id": i, "method": method, "params": params})
        return i

    def notify(self, method, params):
        self.send({"jsonrpc": "2.0", "method": method, "params": params})

    def wait(self, pred, timeout=20):
        while True:
            m = self.q.get(timeout=timeout)
            if pred(m):
                return m

    def response(self, i):
        return self.wait(lambda m: m.get("id") == i and "method" not in m)

    def close(self):
        i = self.request("shutdown", None)
        self.response(i)
        self.notify("exit", None)
        assert self.p.wait(timeout=10) == 0


def test_garbage_then_a_session(tmp_path):
    s = Raw()
    s.send_bytes(b"\x00\xff garbage\r\n\r\nContent-Length: nope\r\n\r\nContent-Length: 3\r\n\r\n{x}")
    i = s.request("initialize", {"processId": None, "rootUri": None, "capabilities": {}})
    assert "capabilities" in s.response(i)["result"]
    s.notify("initialized", {})
    uri = (tmp_path / "pipeline.toml").as_uri()
    s.notify("textDocument/didOpen", {"textDocument": {
        "uri": uri, "languageId": "toml", "version": 1, "text": "\x00\x01[[[[ \ufffd = \n[steps.a]\n"}})
    d = s.wait(lambda m: m.get("method") == "textDocument/publishDiagnostics")
    assert d["params"]["version"] == 1 and d["params"]["diagnostics"]
    s.close()


def test_panic_and_content_modified(tmp_path):
    s = Raw()
    s.response(s.request("initialize", {"processId": None, "rootUri": None, "capabilities": {}}))
    uri = (tmp_path / "pipeline.toml").as_uri()
    text = '[steps.a]\ncommand = ["x"]\n'
    s.notify("textDocument/didOpen", {"textDocument": {"uri": uri, "languageId": "toml", "version": 1, "text": text}})
    r = s.response(s.request("runner/testPanic", {"textDocument": {"uri": uri}}))
    assert r["error"]["code"] == -32603
    slow = s.request("runner/testSlow", {"textDocument": {"uri": uri}, "millis": 20000})
    for v in range(2, 102):
        s.notify("textDocument/didChange", {"textDocument": {"uri": uri, "version": v},
                 "contentChanges": [{"text": text + f"# edit {v}\n" + ("oops = 1\n" if v == 101 else "")}]})
    assert s.response(slow)["error"]["code"] == -32801
    d = s.wait(lambda m: m.get("method") == "textDocument/publishDiagnostics" and m["params"]["version"] == 101)
    assert [x["code"] for x in d["params"]["diagnostics"]] == ["E0101"]
    h = s.response(s.request("textDocument/hover", {"textDocument": {"uri": uri}, "position": {"line": 1, "character": 2}}))
    assert "command" in h["result"]["contents"]["value"]
    s.close()
