# runner's agent on an ssh host: one process per connection, serving every job of the
# build over its stdin and stdout (see agent.rs for the protocol). Run as
#   python3 -I -S -c SCRIPT WORKDIR
# It writes one line `RUNNER-AGENT {"workdir": ...}`, then frames: a 4-byte big-endian
# length, a JSON header, then the header's "n" bytes. It ends, killing what its jobs left
# running, when its stdin ends (the connection is gone or runner stopped).
#
# One thread: a loop waits (select) for a frame on stdin or a child's end (SIGCHLD, through
# signal.set_wakeup_fd) and handles either to its end. Jobs run concurrently as processes;
# only this bookkeeping is serial, and it costs no thread, lock or GIL hand-over per job.
import errno, hashlib, json, os, re, select, signal, struct, subprocess, sys, time

BLOB = re.compile(r"^[0-9a-f]{64}(\.x)?\Z")
JOB = re.compile(r"^jobs/[^/\n]+\Z")
SNAP = re.compile(r"^snaps/[0-9a-f]+\Z")
BACK = ["stdout.log", "stderr.log", "out.log", "metrics.txt", "rc", "why"]
CHUNK = 1 << 20
IN, OUT = 0, 1

# Bytes read from stdin and not yet taken.
buf = bytearray()
# Running jobs by folder: [process, request id, output count, records kept in memory].
jobs = {}
# Process groups to SIGKILL at a time: {pgid: deadline}.
kills = {}
# Snapshots this agent staged (removed when its stdin ends), and why others failed.
snaps = []
snap_failed = {}


def fill(n):
    while len(buf) < n:
        b = os.read(IN, max(CHUNK, n - len(buf)))
        if not b:
            raise EOFError
        buf.extend(b)


def take(n):
    fill(n)
    b = bytes(buf[:n])
    del buf[:n]
    return b


def stream(n, sink):
    """Passes the next n bytes of stdin to sink, a piece at a time."""
    if buf:
        k = min(n, len(buf))
        sink(bytes(buf[:k]))
        del buf[:k]
        n -= k
    while n > 0:
        b = os.read(IN, min(n, CHUNK))
        if not b:
            raise EOFError
        sink(b)
        n -= len(b)


def write_all(data):
    write_fd(OUT, data)


def send(head, body=b""):
    head["n"] = len(body)
    h = json.dumps(head).encode()
    write_all(struct.pack(">I", len(h)) + h + body)


def job_dir(d):
    if not JOB.match(d) or d in ("jobs/.", "jobs/.."):
        raise ValueError("not a job folder: %r" % d)
    return d


def rel_ok(p):
    parts = p.split("/")
    return p and not p.startswith("/") and all(x not in ("", ".", "..") for x in parts)


def mkdir(d):
    try:
        os.mkdir(d)
    except FileExistsError:
        pass
    except FileNotFoundError:
        os.makedirs(d, exist_ok=True)


put_failed = {}


def put(h):
    """A blob the host lacked: written under the job's folder, checked, then linked into
    blobs/ (a link never replaces a file: a blob there is always whole)."""
    d, blob, n = h["dir"], h["blob"], h["n"]
    tmp, f = None, None
    digest = hashlib.sha256()
    try:
        job_dir(d)
        if not BLOB.match(blob):
            raise ValueError("not a blob name: %r" % blob)
        mkdir(d)
        tmp = os.path.join(d, ".new-" + blob)
        f = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        failed = []

        def sink(b):
            # A write that fails (a full disk) still takes the rest of the body off the
            # stream, so the next frame is read where it starts.
            if not failed:
                try:
                    digest.update(b)
                    write_fd(f, b)
                except OSError as e:
                    failed.append(e)

        stream(n, sink)
        n = 0
        if failed:
            raise failed[0]
        if digest.hexdigest() != blob[:64]:
            raise ValueError("blob %s arrived with another digest" % blob[:12])
        os.fchmod(f, 0o755 if blob.endswith(".x") else 0o644)
        try:
            os.link(tmp, os.path.join("blobs", blob))
        except FileExistsError:
            pass
    except EOFError:
        raise
    except Exception as e:
        put_failed[d] = "receiving blob %s: %s" % (blob[:12], e)
        if n > 0:
            stream(n, lambda b: None)
    finally:
        if f is not None:
            os.close(f)
        if tmp is not None:
            try:
                os.unlink(tmp)
            except OSError:
                pass


def write_fd(fd, data):
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def copy(src, dst, mode):
    """A copy of blob src at dst, a new file with exactly mode."""
    i = os.open(src, os.O_RDONLY)
    try:
        o = os.open(dst, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
        try:
            os.fchmod(o, mode)
            size, at = os.fstat(i).st_size, 0
            while at < size:
                try:
                    k = os.sendfile(o, i, at, size - at)
                except OSError as e:
                    # A file system sendfile cannot copy between: by reads and writes.
                    if e.errno not in (errno.EINVAL, errno.ENOSYS):
                        raise
                    b = os.pread(i, CHUNK, at)
                    write_fd(o, b)
                    k = len(b)
                if k == 0:
                    break
                at += k
        finally:
            os.close(o)
    finally:
        os.close(i)


def stage(d, h, body):
    if d in put_failed:
        raise RuntimeError(put_failed.pop(d))
    if h.get("snap") in snap_failed:
        raise RuntimeError(snap_failed[h["snap"]])
    mkdir(d)
    for e in h["tree"]:
        kind, rel = e[0], e[1]
        if not rel_ok(rel):
            raise ValueError("not a relative path: %r" % rel)
        p = os.path.join(d, rel)
        if kind == "d":
            mkdir(p)
        elif kind == "f":
            if not BLOB.match(e[2]):
                raise ValueError("not a blob name: %r" % e[2])
            copy(os.path.join("blobs", e[2]), p, 0o755 if e[2].endswith(".x") else 0o644)
        elif kind == "l":
            os.symlink(e[2], p)
    at = 0
    for name, size in h.get("files", ()):
        if name not in ("run.sh", "requirements.txt"):
            raise ValueError("not a job file: %r" % name)
        with open(os.path.join(d, name), "wb") as f:
            f.write(body[at:at + size])
        at += size


def snap(h):
    """A snapshot shared by the jobs that run in it: the tree's r0, staged beside its
    place and moved there whole."""
    name = str(h.get("name"))
    if not SNAP.match(name):
        snap_failed[name] = "not a snapshot name: %r" % name
        return
    tmp = name + ".new"
    try:
        mkdir("snaps")
        stage(tmp, h, b"")
        os.rename(os.path.join(tmp, "r0"), name)
        snaps.append(name)
    except Exception as e:
        snap_failed[name] = "staging the snapshot: %s: %s" % (type(e).__name__, e)
    rmtree(tmp)


def sha256(path):
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for b in iter(lambda: f.read(CHUNK), b""):
            digest.update(b)
    return digest.hexdigest()


def listing(d, outs, kept):
    """What goes back of the job's folder: its logs and records (those in kept from
    memory), and when it succeeded its output folders (folders, files with their digests,
    symlinks as their text)."""
    files, why = [], "why" in kept
    for name in BACK:
        if name in kept:
            files.append({"k": "f", "p": name, "n": len(kept[name]), "x": False})
            continue
        try:
            st = os.lstat(os.path.join(d, name))
        except OSError:
            continue
        why = why or name == "why"
        if (st.st_mode & 0o170000) == 0o100000:
            files.append({"k": "f", "p": name, "n": st.st_size, "x": False})
    rc = kept.get("rc")
    if rc is None:
        try:
            with open(os.path.join(d, "rc"), "rb") as f:
                rc = f.read()
        except OSError:
            pass
    if rc is None or rc.strip() != b"0" or why:
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
                st = os.lstat(p)
                if (st.st_mode & 0o170000) == 0o120000:
                    files.append({"k": "l", "p": r, "t": os.readlink(p)})
                elif (st.st_mode & 0o170000) == 0o100000:
                    sums[r] = sha256(p)
                    x = st.st_mode & 0o111 != 0
                    files.append({"k": "f", "p": r, "n": st.st_size, "x": x})
    return files, sums


def send_back(rid, d, outs, kept):
    files, sums = listing(d, outs, kept)
    total = sum(f["n"] for f in files if f["k"] == "f")
    h = json.dumps({"id": rid, "files": files, "sums": sums, "n": total}).encode()
    parts, size = [struct.pack(">I", len(h)), h], 0
    for f in files:
        if f["k"] != "f":
            continue
        left = f["n"]
        if f["p"] in kept:
            parts.append(kept[f["p"]])
            left = 0
        else:
            try:
                with open(os.path.join(d, f["p"]), "rb") as src:
                    while left > 0:
                        b = src.read(min(left, CHUNK))
                        if not b:
                            break
                        parts.append(b)
                        size += len(b)
                        left -= len(b)
                        if size >= CHUNK:
                            write_all(b"".join(parts))
                            parts, size = [], 0
            except OSError:
                pass
        # A file that shrank since it was listed: the frame keeps its length, and the
        # digest check on the other side refuses the file.
        while left > 0:
            parts.append(b"\0" * min(left, CHUNK))
            left -= min(left, CHUNK)
            write_all(b"".join(parts))
            parts, size = [], 0
    write_all(b"".join(parts))
    if sums is not None:
        rmtree(d)
    else:
        # The folder stays on the host, for whoever looks into why the job failed: with
        # its records, those kept in memory too.
        for name, text in kept.items():
            try:
                with open(os.path.join(d, name), "wb") as f:
                    f.write(text)
            except OSError:
                pass


def rmtree(d):
    # Depth first with scandir: one lstat-free pass (entries know their type).
    try:
        with os.scandir(d) as it:
            entries = list(it)
    except OSError:
        return
    for e in entries:
        try:
            if e.is_dir(follow_symlinks=False):
                rmtree(e.path)
            else:
                os.unlink(e.path)
        except OSError:
            pass
    try:
        os.rmdir(d)
    except OSError:
        pass


def start_direct(d, run, kept):
    """Starts the step's argv in a session of its own, as run.sh would (the same log
    files, `pgid`, and `why` and `rc` when it cannot start); None when it did not start."""
    argv, cwd = run["argv"], run["cwd"]
    with open(os.path.join(d, run["out"]), "wb") as out_f:
        err_f = out_f if run["err"] == run["out"] else open(os.path.join(d, run["err"]), "wb")
        try:
            if not os.path.isdir(cwd):
                kept["why"] = b"its snapshot is missing on the target\n"
                kept["rc"] = b"1\n"
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
                kept["rc"] = b"127\n" if e.errno == errno.ENOENT else b"126\n"
                return None
        finally:
            if err_f is not out_f:
                err_f.close()
    with open(os.path.join(d, "pgid"), "w") as f:
        f.write("%d\n" % p.pid)
    return p


def job(h, body):
    rid, run, kept = h["id"], h.get("run"), {}
    try:
        d = job_dir(h["dir"])
        stage(d, h, body)
        if run is not None:
            p = start_direct(d, run, kept)
        else:
            p = subprocess.Popen(
                ["sh", "run.sh"], cwd=d, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL, start_new_session=True)
    except Exception as e:
        send({"id": rid, "error": "staging the job: %s: %s" % (type(e).__name__, e)})
        return
    if p is None:
        finish(d, rid, h["outs"], kept)
    else:
        jobs[d] = [p, rid, h["outs"], kept, run is not None]


def finish(d, rid, outs, kept):
    try:
        send_back(rid, d, outs, kept)
    except (BrokenPipeError, EOFError):
        raise
    except Exception as e:
        send({"id": rid, "error": "sending the job back: %s" % e})


def reap():
    for d, (p, rid, outs, kept, direct) in list(jobs.items()):
        if p.poll() is None:
            continue
        del jobs[d]
        if p.pid in kills and not alive(p.pid):
            del kills[p.pid]
        if direct:
            # As sh reports it: a step a signal ended exits with 128 + the signal's number.
            rc = p.returncode if p.returncode >= 0 else 128 - p.returncode
            kept["rc"] = b"%d\n" % rc
        finish(d, rid, outs, kept)


def alive(pgid):
    try:
        os.killpg(pgid, 0)
        return True
    except OSError:
        return False


def kill(h):
    j = jobs.get(h.get("dir"))
    if j is None:
        return
    try:
        os.killpg(j[0].pid, signal.SIGTERM)
    except OSError:
        return
    kills[j[0].pid] = time.time() + h.get("grace", 1)


def expire():
    now = time.time()
    for g, t in list(kills.items()):
        if t <= now:
            del kills[g]
            try:
                os.killpg(g, signal.SIGKILL)
            except OSError:
                pass


def frame():
    (size,) = struct.unpack(">I", take(4))
    h = json.loads(take(size).decode())
    op = h.get("op")
    if op == "put":
        put(h)
    elif op == "lack":
        lack = [b for b in h["blobs"] if not os.path.exists(os.path.join("blobs", b))]
        send({"id": h["id"], "lack": lack})
    elif op == "job":
        job(h, take(h.get("n", 0)))
    elif op == "snap":
        stream(h.get("n", 0), lambda b: None)
        snap(h)
    elif op == "kill":
        kill(h)
    else:
        stream(h.get("n", 0), lambda b: None)
        if "id" in h:
            send({"id": h["id"], "error": "unknown request %r" % op})


def serve():
    r, w = os.pipe()
    os.set_blocking(r, False)
    os.set_blocking(w, False)
    signal.set_wakeup_fd(w)
    signal.signal(signal.SIGCHLD, lambda *_: None)
    while True:
        while buf:
            frame()
        wait = None
        if kills:
            wait = max(0.0, min(kills.values()) - time.time())
        ready = select.select([IN, r], [], [], wait)[0]
        if r in ready:
            try:
                while os.read(r, 512):
                    pass
            except OSError:
                pass
        reap()
        expire()
        if IN in ready:
            b = os.read(IN, CHUNK)
            if not b:
                return
            buf.extend(b)


def main():
    if sys.version_info < (3, 6):
        sys.exit(3)
    os.makedirs(os.path.join(sys.argv[1], "blobs"), exist_ok=True)
    os.chdir(sys.argv[1])
    hello = json.dumps({"workdir": os.getcwd(), "python": sys.version.split()[0]})
    write_all(("RUNNER-AGENT %s\n" % hello).encode())
    try:
        serve()
    except (EOFError, BrokenPipeError):
        pass
    # runner is gone: so are its jobs.
    groups = [j[0].pid for j in jobs.values() if j[0].poll() is None]
    for g in groups:
        try:
            os.killpg(g, signal.SIGTERM)
        except OSError:
            pass
    end = time.time() + 1
    while time.time() < end and any(alive(g) for g in groups):
        time.sleep(0.05)
    for g in groups:
        try:
            os.killpg(g, signal.SIGKILL)
        except OSError:
            pass
    for name in snaps:
        rmtree(name)
    os._exit(0)


main()
