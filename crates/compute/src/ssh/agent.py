# runner's agent on an ssh host: one process per connection, serving every job of the
# build over its stdin and stdout (see agent.rs for the protocol). Run as
#   python3 -I -S -c SCRIPT WORKDIR
# It writes one line `RUNNER-AGENT {"workdir": ...}`, then frames: a 4-byte big-endian
# length, a JSON header, then the header's "n" bytes. It ends, killing what its jobs left
# running, when its stdin ends (the connection is gone or runner stopped).
import errno, hashlib, json, os, re, shutil, signal, struct, subprocess, sys, threading, time

BLOB = re.compile(r"^[0-9a-f]{64}(\.x)?$")
JOB = re.compile(r"^jobs/[^/]+$")
BACK = ["stdout.log", "stderr.log", "out.log", "metrics.txt", "rc", "why"]
CHUNK = 1 << 20

rin = sys.stdin.buffer
out = sys.stdout.buffer
out_lock = threading.Lock()
procs = {}
procs_lock = threading.Lock()
# Jobs killed before they started: they do not start.
killed = set()
put_failed = {}


def read_exact(n):
    parts = []
    while n > 0:
        b = rin.read(min(n, CHUNK))
        if not b:
            raise EOFError
        parts.append(b)
        n -= len(b)
    return b"".join(parts)


def send(head, body=b""):
    head["n"] = len(body)
    h = json.dumps(head).encode()
    with out_lock:
        out.write(struct.pack(">I", len(h)) + h)
        out.write(body)
        out.flush()


def job_dir(d):
    if not JOB.match(d) or d in ("jobs/.", "jobs/.."):
        raise ValueError("not a job folder: %r" % d)
    return d


def rel_ok(p):
    parts = p.split("/")
    return p and not p.startswith("/") and all(x not in ("", ".", "..") for x in parts)


def put(h):
    """A blob the host lacked: written under the job's folder, checked, then linked into
    blobs/ (a link never replaces a file: a blob there is always whole)."""
    d, blob, n = h["dir"], h["blob"], h["n"]
    tmp = None
    try:
        job_dir(d)
        if not BLOB.match(blob):
            raise ValueError("not a blob name: %r" % blob)
        os.makedirs(d, exist_ok=True)
        tmp = os.path.join(d, ".new-" + blob)
        digest = hashlib.sha256()
        with open(tmp, "wb") as f:
            while n > 0:
                b = rin.read(min(n, CHUNK))
                if not b:
                    raise EOFError
                digest.update(b)
                f.write(b)
                n -= len(b)
        if digest.hexdigest() != blob[:64]:
            raise ValueError("blob %s arrived with another digest" % blob[:12])
        os.chmod(tmp, 0o755 if blob.endswith(".x") else 0o644)
        try:
            os.link(tmp, os.path.join("blobs", blob))
        except FileExistsError:
            pass
    except EOFError:
        raise
    except Exception as e:
        put_failed[d] = "receiving blob %s: %s" % (blob[:12], e)
        if n > 0:
            read_exact(n)
    finally:
        if tmp is not None:
            try:
                os.unlink(tmp)
            except OSError:
                pass


def stage(d, h, body):
    if d in put_failed:
        raise RuntimeError(put_failed.pop(d))
    os.makedirs(d, exist_ok=True)
    for e in h["tree"]:
        kind, rel = e[0], e[1]
        if not rel_ok(rel):
            raise ValueError("not a relative path: %r" % rel)
        p = os.path.join(d, rel)
        if kind == "d":
            os.makedirs(p, exist_ok=True)
        elif kind == "f":
            if not BLOB.match(e[2]):
                raise ValueError("not a blob name: %r" % e[2])
            shutil.copyfile(os.path.join("blobs", e[2]), p)
            os.chmod(p, 0o755 if e[2].endswith(".x") else 0o644)
        elif kind == "l":
            os.symlink(e[2], p)
    at = 0
    for name, size in h["files"]:
        if name not in ("run.sh", "requirements.txt"):
            raise ValueError("not a job file: %r" % name)
        with open(os.path.join(d, name), "wb") as f:
            f.write(body[at:at + size])
        at += size


def sha256(path):
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for b in iter(lambda: f.read(CHUNK), b""):
            digest.update(b)
    return digest.hexdigest()


def listing(d, outs):
    """What goes back of the job's folder: its logs and records, and when it succeeded its
    output folders (folders, files with their digests, symlinks as their text)."""
    files = []
    for name in BACK:
        p = os.path.join(d, name)
        if os.path.isfile(p) and not os.path.islink(p):
            files.append({"k": "f", "p": name, "n": os.path.getsize(p), "x": False})
    rc = None
    try:
        with open(os.path.join(d, "rc")) as f:
            rc = f.read().strip()
    except OSError:
        pass
    why = os.path.exists(os.path.join(d, "why"))
    if rc != "0" or why:
        return files, None
    sums = {}
    for i in range(outs):
        top = "o%d" % i
        files.append({"k": "d", "p": top})
        for root, dirs, names in os.walk(os.path.join(d, top)):
            rel = os.path.relpath(root, d)
            for n in sorted(dirs):
                p = os.path.join(root, n)
                if os.path.islink(p):
                    files.append({"k": "l", "p": rel + "/" + n, "t": os.readlink(p)})
                else:
                    files.append({"k": "d", "p": rel + "/" + n})
            for n in sorted(names):
                p = os.path.join(root, n)
                r = rel + "/" + n
                if os.path.islink(p):
                    files.append({"k": "l", "p": r, "t": os.readlink(p)})
                elif os.path.isfile(p):
                    sums[r] = sha256(p)
                    x = os.stat(p).st_mode & 0o111 != 0
                    files.append({"k": "f", "p": r, "n": os.path.getsize(p), "x": x})
    return files, sums


def send_back(rid, d, outs):
    files, sums = listing(d, outs)
    total = sum(f["n"] for f in files if f["k"] == "f")
    h = json.dumps({"id": rid, "files": files, "sums": sums, "n": total}).encode()
    with out_lock:
        out.write(struct.pack(">I", len(h)) + h)
        for f in files:
            if f["k"] != "f":
                continue
            left = f["n"]
            try:
                with open(os.path.join(d, f["p"]), "rb") as src:
                    while left > 0:
                        b = src.read(min(left, CHUNK))
                        if not b:
                            break
                        out.write(b)
                        left -= len(b)
            except OSError:
                pass
            # A file that shrank since it was listed: the frame keeps its length, and the
            # digest check on the other side refuses the file.
            while left > 0:
                out.write(b"\0" * min(left, CHUNK))
                left -= min(left, CHUNK)
        out.flush()
    if sums is not None:
        shutil.rmtree(d, ignore_errors=True)


def write_record(d, name, text):
    with open(os.path.join(d, name), "w") as f:
        f.write(text + "\n")


def start_direct(d, run):
    """Starts the step's argv in a session of its own, as run.sh would (the same log
    files, `pgid`, and `why` and `rc` when it cannot start); None when it did not start.
    Its exit code is left to finish_direct."""
    argv, cwd = run["argv"], run["cwd"]
    with open(os.path.join(d, run["out"]), "wb") as out_f:
        err_f = out_f if run["err"] == run["out"] else open(os.path.join(d, run["err"]), "wb")
        try:
            if not os.path.isdir(cwd):
                write_record(d, "why", "its snapshot is missing on the target")
                write_record(d, "rc", "1")
                return None
            env = dict(os.environ)
            env.update((k, v) for k, v in run["env"])
            env["PWD"] = cwd
            try:
                p = subprocess.Popen(
                    argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=out_f,
                    stderr=err_f, start_new_session=True)
            except OSError as e:
                # What sh says and returns when it cannot run a command.
                err_f.write(("%s: %s\n" % (argv[0], e.strerror)).encode())
                write_record(d, "rc", "127" if e.errno == errno.ENOENT else "126")
                return None
        finally:
            if err_f is not out_f:
                err_f.close()
    write_record(d, "pgid", str(p.pid))
    return p


def finish_direct(d, p):
    # As sh reports it: a step a signal ended exits with 128 + the signal's number.
    rc = p.returncode if p.returncode >= 0 else 128 - p.returncode
    write_record(d, "rc", str(rc))


def job(h, body):
    rid = h["id"]
    run = h.get("run")
    try:
        d = job_dir(h["dir"])
        stage(d, h, body)
        with procs_lock:
            p = None
            if d in killed:
                killed.discard(d)
            elif run is not None:
                p = start_direct(d, run)
            else:
                p = subprocess.Popen(
                    ["sh", "run.sh"], cwd=d, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL, start_new_session=True)
            if p is not None:
                procs[d] = p
    except Exception as e:
        send({"id": rid, "error": "staging the job: %s: %s" % (type(e).__name__, e)})
        return
    if p is not None:
        p.wait()
        with procs_lock:
            procs.pop(d, None)
        if run is not None:
            finish_direct(d, p)
    try:
        send_back(rid, d, h["outs"])
    except Exception as e:
        send({"id": rid, "error": "sending the job back: %s" % e})


def alive(pgid):
    try:
        os.killpg(pgid, 0)
        return True
    except OSError:
        return False


def stop_group(pgid, grace):
    try:
        os.killpg(pgid, signal.SIGTERM)
    except OSError:
        return
    end = time.time() + grace
    while time.time() < end and alive(pgid):
        time.sleep(0.05)
    try:
        os.killpg(pgid, signal.SIGKILL)
    except OSError:
        pass


def kill(h):
    with procs_lock:
        p = procs.get(h.get("dir"))
        if p is None:
            killed.add(h.get("dir"))
    if p is not None:
        threading.Thread(target=stop_group, args=(p.pid, h.get("grace", 1)), daemon=True).start()


def main():
    if sys.version_info < (3, 6):
        sys.exit(3)
    os.makedirs(os.path.join(sys.argv[1], "blobs"), exist_ok=True)
    os.chdir(sys.argv[1])
    hello = json.dumps({"workdir": os.getcwd(), "python": sys.version.split()[0]})
    out.write(("RUNNER-AGENT %s\n" % hello).encode())
    out.flush()
    try:
        while True:
            (size,) = struct.unpack(">I", read_exact(4))
            h = json.loads(read_exact(size))
            op = h.get("op")
            if op == "put":
                put(h)
            elif op == "lack":
                lack = [b for b in h["blobs"] if not os.path.exists(os.path.join("blobs", b))]
                send({"id": h["id"], "lack": lack})
            elif op == "job":
                body = read_exact(h.get("n", 0))
                threading.Thread(target=job, args=(h, body), daemon=True).start()
            elif op == "kill":
                kill(h)
            else:
                read_exact(h.get("n", 0))
                if "id" in h:
                    send({"id": h["id"], "error": "unknown request %r" % op})
    except (EOFError, BrokenPipeError):
        pass
    # runner is gone: so are its jobs.
    with procs_lock:
        groups = [p.pid for p in procs.values()]
    threads = [threading.Thread(target=stop_group, args=(g, 1)) for g in groups]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    os._exit(0)


main()
