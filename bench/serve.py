"""`runner serve` measured: submit → first step started, GET /runs/ID and the run list page
with 10,000 runs in history, and 50 submissions at once (all must finish; the server's
peak memory). Prints figures; asserts nothing about time.

    python3 bench/serve.py [--runner target/release/runner] [--runs 10000] [--submits 20]

A project with two steps (`prep` reused from a cached prefix, `train` rerun by each
submission's parameter) is made in a temp folder; history rows for the 10,000 runs are
written with sqlite3 (the same tables `runner build` writes), then the server is started on
a free loopback port and called over HTTP (one keep-alive connection per client thread).
"""

import argparse
import http.client
import json
import os
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time

PIPELINE = """[pipeline]
name = "bench"

[parameters]
arg = 0

[data.raw]
path = "raw.txt"

[steps.prep]
command = ["python3", "-c", "import sys; open(sys.argv[2] + '/x', 'w').write(open(sys.argv[1]).read())", "${inputs.raw}", "${outputs.split}"]
inputs = { raw = "data.raw" }
outputs = ["split"]

[steps.train]
command = ["python3", "-c", "import sys; open(sys.argv[2] + '/m', 'w').write(sys.argv[3])", "${inputs.split}", "${outputs.model}", "${params.arg}"]
inputs = { split = "steps.prep.outputs.split" }
outputs = ["model"]
"""


def pct(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


class Client:
    def __init__(self, port, token):
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        self.headers = {"Authorization": "Bearer " + token, "Content-Type": "application/json"}

    def call(self, method, path, body=None):
        data = None if body is None else json.dumps(body)
        self.conn.request(method, path, body=data, headers=self.headers)
        r = self.conn.getresponse()
        text = r.read()
        return r.status, text


def run(cmd, cwd):
    return subprocess.run(cmd, cwd=cwd, check=True, capture_output=True, text=True).stdout


def seed_history(db, n):
    """n finished runs of 2 steps each, with metrics, as `runner build` records them."""
    con = sqlite3.connect(db)
    con.execute("INSERT OR IGNORE INTO experiments (name, created_ms) VALUES ('seeded', 0)")
    exp = con.execute("SELECT id FROM experiments WHERE name = 'seeded'").fetchone()[0]
    now = int(time.time() * 1000)
    for i in range(n):
        cur = con.execute(
            "INSERT INTO runs (experiment_id, pipeline, pipeline_path, status, params, started_ms, ended_ms) "
            "VALUES (?, 'bench', 'pipeline.toml', 'succeeded', '[[\"arg\",\"1\"]]', ?, ?)",
            (exp, now - n + i, now - n + i + 5))
        run_id = cur.lastrowid
        for step in ("prep", "train"):
            con.execute(
                "INSERT INTO step_runs (run_id, pipeline, step, status, reused_from) VALUES (?, 'bench', ?, 'reused', 1)",
                (run_id, step))
        con.execute("INSERT INTO metrics (run_id, step, name, value, idx) VALUES (?, 'train', 'score', ?, 0)",
                    (run_id, i / n))
    con.commit()
    con.close()


def peak_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return 0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runner", default="target/release/runner")
    ap.add_argument("--runs", type=int, default=10000)
    ap.add_argument("--submits", type=int, default=20)
    a = ap.parse_args()
    runner = os.path.abspath(a.runner)
    with tempfile.TemporaryDirectory(prefix="runner-serve-bench-") as d:
        with open(os.path.join(d, "pipeline.toml"), "w") as f:
            f.write(PIPELINE)
        with open(os.path.join(d, "raw.txt"), "w") as f:
            f.write("rows\n")
        run([runner, "build", "."], d)  # the cached prefix
        pid_id = json.loads(run([runner, "publish", "--name", "bench", "--version", "1", "--format", "json"], d))["id"]
        token = run([runner, "token", "create", "--name", "bench"], d).strip()
        seed_history(os.path.join(d, ".runner", "history.sqlite"), a.runs)
        log = open(os.path.join(d, "serve.log"), "w+")
        server = subprocess.Popen([runner, "serve", "--bind", "127.0.0.1:0"], cwd=d, stderr=log)
        try:
            port = None
            for _ in range(200):
                log.seek(0)
                text = log.read()
                if "serving on http://127.0.0.1:" in text:
                    port = int(text.split("serving on http://127.0.0.1:")[1].split()[0])
                    break
                time.sleep(0.05)
            c = Client(port, token)

            # Submit → first step started (train; prep is reused from the cached prefix).
            latencies = []
            last = None
            for i in range(a.submits):
                status, body = c.call("POST", f"/pipelines/{pid_id}", {"ExperimentName": "lat", "ParameterAssignments": {"arg": 1000 + i}})
                assert status == 200, body
                rid = json.loads(body)["Id"]
                while True:
                    _, body = c.call("GET", f"/runs/{rid}")
                    doc = json.loads(body)
                    if doc["Status"] in ("Finished", "Failed", "Canceled"):
                        break
                    time.sleep(0.01)
                assert doc["Status"] == "Finished", doc
                train = next(s for s in doc["Steps"] if s["Name"] == "train")
                assert train["Status"] == "ran", doc
                latencies.append(train["StartedMs"] - doc["SubmittedMs"])
                last = rid
            print(f"submit → first step started ({a.submits} submissions, prep reused): "
                  f"p50 {statistics.median(latencies):.0f} ms, p95 {pct(latencies, 95):.0f} ms, max {max(latencies)} ms")

            # GET /runs/ID with a.runs runs in history.
            times = []
            for _ in range(300):
                t = time.perf_counter()
                status, _ = c.call("GET", f"/runs/{last}")
                times.append((time.perf_counter() - t) * 1000)
                assert status == 200
            print(f"GET /runs/ID with {a.runs} runs in history (300 calls): p50 {statistics.median(times):.2f} ms, "
                  f"p95 {pct(times, 95):.2f} ms")
            for page in ("/", "/ui/experiments/seeded", f"/ui/runs/{a.runs}"):
                times = []
                for _ in range(50):
                    t = time.perf_counter()
                    status, body = c.call("GET", page)
                    times.append((time.perf_counter() - t) * 1000)
                    assert status == 200, body[:200]
                print(f"GET {page} ({len(body)} bytes, {a.runs} runs): p50 {statistics.median(times):.1f} ms, "
                      f"p95 {pct(times, 95):.1f} ms")

            # 50 submissions at once of the cached pipeline.
            ids, errors = [], []
            lock = threading.Lock()

            def submit():
                cl = Client(port, token)
                status, body = cl.call("POST", f"/pipelines/{pid_id}", {"ExperimentName": "fifty"})
                with lock:
                    (ids if status == 200 else errors).append(json.loads(body).get("Id", body))

            t0 = time.perf_counter()
            threads = [threading.Thread(target=submit) for _ in range(50)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            statuses = {}
            for rid in ids:
                while True:
                    _, body = c.call("GET", f"/runs/{rid}")
                    doc = json.loads(body)
                    if doc["Status"] in ("Finished", "Failed", "Canceled"):
                        statuses[doc["Status"]] = statuses.get(doc["Status"], 0) + 1
                        break
                    time.sleep(0.02)
            took = time.perf_counter() - t0
            print(f"50 submissions at once: {statuses}, {len(errors)} errors, all ended in {took:.2f} s; "
                  f"server peak RSS {peak_kib(server.pid) / 1024:.1f} MiB")
        finally:
            server.send_signal(signal.SIGTERM)
            server.wait(timeout=60)


if __name__ == "__main__":
    sys.exit(main())
