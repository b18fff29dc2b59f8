"""A fault-injecting HTTP proxy in front of a real object store, for the datastore fault
tests (a store that answers 500, or cuts a download short): what toxiproxy does, in the
standard library. The faults are the only thing not real; every answer that is not a
fault is the real server's.

    python3 faulty_proxy.py LISTEN_PORT UPSTREAM_PORT CONTROL_FILE LOG_FILE

CONTROL_FILE holds the mode, read at each request:
    ok            forward everything
    500 N         answer the next N requests 500 (then forward)
    500 always    answer every request 500
    cut           forward, but send only half of the body of the next GET of an object (not
                  of a listing, which has a query), then close; then forward
    cut always    the same for every GET of an object, resumed ranges (206) too
    stall         wait 30 s before answering anything (a store that hangs)
LOG_FILE gets one line per request: METHOD PATH -> STATUS.
"""
import http.client
import http.server
import sys
import threading
import time

LISTEN, UPSTREAM, CONTROL, LOG = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]
LOCK = threading.Lock()


def mode() -> str:
    """The current mode; a `500 N` is counted down here."""
    with LOCK:
        try:
            text = open(CONTROL).read().strip()
        except OSError:
            return "ok"
        if text.startswith("500 ") and text != "500 always":
            n = int(text.split()[1])
            open(CONTROL, "w").write(f"500 {n - 1}" if n > 1 else "ok")
            return "500"
        return text or "ok"


def log(line: str) -> None:
    with LOCK:
        with open(LOG, "a") as f:
            f.write(line + "\n")


class Proxy(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args) -> None:  # the log file says what happened
        pass

    def handle_any(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else None
        m = mode()
        if m == "stall":
            time.sleep(30)
            log(f"{self.command} {self.path} -> stalled")
            self.close_connection = True
            return
        if m in ("500", "500 always"):
            payload = b"<Error><Code>InternalError</Code><Message>injected</Message></Error>"
            self.send_response(500)
            self.send_header("Content-Length", str(len(payload)))
            self.send_header("Content-Type", "application/xml")
            self.end_headers()
            self.wfile.write(payload)
            log(f"{self.command} {self.path} -> 500 (injected)")
            return
        up = http.client.HTTPConnection("127.0.0.1", UPSTREAM, timeout=60)
        headers = {k: v for k, v in self.headers.items() if k.lower() != "host"}
        headers["Host"] = self.headers.get("Host", f"127.0.0.1:{UPSTREAM}")
        up.request(self.command, self.path, body=body, headers=headers)
        resp = up.getresponse()
        data = resp.read()
        cut = (m in ("cut", "cut always") and self.command == "GET" and "?" not in self.path
               and resp.status in (200, 206) and len(data) > 1)
        if cut and m == "cut":  # one cut only
            with LOCK:
                open(CONTROL, "w").write("ok")
        self.send_response(resp.status)
        for k, v in resp.getheaders():
            if k.lower() not in ("transfer-encoding", "connection", "content-length"):
                self.send_header(k, v)
        self.send_header("Content-Length", str(len(data)))
        if cut:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data[: len(data) // 2] if cut else data)
        log(f"{self.command} {self.path} -> {resp.status}{' (cut)' if cut else ''}")
        if cut:
            self.close_connection = True

    do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = handle_any


http.server.ThreadingHTTPServer(("127.0.0.1", LISTEN), Proxy).serve_forever()
