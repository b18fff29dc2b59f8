//! The agent: one Python process on the host per connection (`agent.py`, run as the
//! master connection's own session), serving every job of the build over its stdin and
//! stdout, so that a job costs no ssh session and no process on the host but its own.
//!
//! After a first line (`RUNNER-AGENT {"workdir": …}`), both directions carry frames: a
//! 4-byte big-endian length, a JSON header of that length, then the header's `n` bytes.
//! Requests carry an `op`; those with an `id` get one reply with that `id`:
//!
//! | request | body | reply |
//! |---|---|---|
//! | `lack` `{blobs}`: which of these does `blobs/` lack | — | `{lack}` |
//! | `put` `{dir, blob}`: a blob it lacked | its bytes | none: checked against its name, then linked into `blobs/` (never replacing one), or the job's staging fails |
//! | `snap` `{name, tree}`: stage a snapshot (the tree's `r0`) as `<workdir>/<name>` | — | none: a job that names it fails with its error |
//! | `job` `{dir, tree, snap, run or files, outs}`: stage the tree as copies of blobs, then start the step's argv itself (`run`), or write `run.sh` (and `requirements.txt`) and run that; either in a session of its own | the files' bytes | when it ends, its folder ([`Back`]): logs, records, and on success its outputs with their SHA-256 |
//! | `kill` `{dir, grace}`: SIGTERM the job's process group, SIGKILL after `grace` s | — | none (the job's reply follows) |
//!
//! A step that needs no environment made first is started by the agent itself (`run`: its
//! argv, never through a shell), with what `run.sh` would give it: the same log files,
//! `pgid`, `rc` (128 + the signal's number when a signal ended it), and `why` and `rc` 1
//! when its snapshot is missing, or sh's 127 or 126 when its program cannot be started.
//! A step with an environment runs `run.sh` (`crate::job`), which makes it first.
//!
//! A job's snapshot (`Job::reads[0]`, the run's copy of its source folder) is staged once
//! per connection, under `<workdir>/snaps/`, and every job that reads it runs there, as
//! the steps of a local run share one snapshot per source folder; the agent removes the
//! snapshots it staged when its stdin ends. So a job stages only its inputs, however many
//! files its source folder holds.
//!
//! runner remembers which blobs the host has (it said so, or a job was staged with them)
//! and asks `lack` only when the others come to more than [`UNASKED`] bytes; fewer, it
//! sends them unasked, so that most jobs cost one round trip.
//!
//! When its stdin ends (runner is gone, or the connection), the agent kills what its jobs
//! left running and exits. A reply that never comes, because the stream ended, is a lost
//! connection.

use std::collections::{HashMap, HashSet};
use std::io::{BufReader, Read, Write};
use std::path::PathBuf;
use std::process::{ChildStdin, ChildStdout};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use exec::{CancelToken, Job, Outcome};
use serde_json::{Value, json};
use tokio::sync::oneshot;

use super::back::{self, Back};
use super::stage::{Entry, Fetched, list_job, local_path, walk};
use super::{Conn, Ssh};
use crate::job::Layout;
use crate::{Error, tree};

/// The agent's program, sent as `python3 -c` text when the connection opens.
pub(super) const SCRIPT: &str = include_str!("agent.py");

/// The line the agent starts with, before its first frame.
pub(super) const HELLO: &str = "RUNNER-AGENT ";

/// At most this many bytes of blobs the host may or may not have are sent without asking.
const UNASKED: u64 = 256 << 10;

/// A frame whose body is a file of at most this many bytes is written to ssh at once.
const SMALL_FILE: u64 = 64 << 10;

/// The largest header a frame may have, in bytes.
const MAX_HEAD: usize = 64 << 20;

/// A reply: its header and its body.
struct Reply {
    head: Value,
    body: Vec<u8>,
}

/// Requests waiting for their reply; `open` is false once the stream ended.
struct Waiting {
    open: bool,
    by_id: HashMap<u64, oneshot::Sender<Reply>>,
}

/// The stream ended: the agent, and with it the connection, is gone.
struct Lost;

/// What follows a frame's header.
enum Body {
    Bytes(Vec<u8>),
    /// A local file of this length (padded with zeros if it shrank: the agent's digest
    /// check then refuses it, and the stream stays in step).
    File(PathBuf, u64),
}

/// This end of an agent.
pub(super) struct Agent {
    stdin: Mutex<ChildStdin>,
    waiting: Arc<Mutex<Waiting>>,
    next: AtomicU64,
    /// Blobs the host is known to have: it said so, or a job staged with them.
    has: Mutex<HashSet<String>>,
    /// Snapshots staged over this connection: the local folder → its name on the host
    /// (`snaps/<n>`, under the workdir). Held while one is staged, so that its frame
    /// precedes those of every job that runs in it.
    snaps: tokio::sync::Mutex<HashMap<PathBuf, String>>,
}

impl Agent {
    /// The agent whose stdin is `stdin` and whose stdout (past its first line) is `stdout`;
    /// a thread reads its replies until the stream ends.
    pub(super) fn start(stdin: ChildStdin, stdout: BufReader<ChildStdout>) -> Arc<Agent> {
        let waiting = Arc::new(Mutex::new(Waiting { open: true, by_id: HashMap::new() }));
        let w = waiting.clone();
        std::thread::spawn(move || read_replies(stdout, &w));
        Arc::new(Agent {
            stdin: Mutex::new(stdin),
            waiting,
            next: AtomicU64::new(1),
            has: Mutex::new(HashSet::new()),
            snaps: tokio::sync::Mutex::new(HashMap::new()),
        })
    }

    /// Writes one frame on a blocking thread; the bytes written.
    async fn write(self: &Arc<Self>, head: Value, body: Body) -> Result<u64, Lost> {
        let me = self.clone();
        let written = tokio::task::spawn_blocking(move || {
            let mut stdin = me.stdin.lock().unwrap_or_else(|e| e.into_inner());
            write_frame(&mut *stdin, head, body)
        });
        written.await.ok().and_then(Result::ok).ok_or(Lost)
    }

    /// Sends a request that gets a reply; the reply's receiver and the bytes written.
    async fn request(
        self: &Arc<Self>,
        mut head: Value,
        body: Body,
    ) -> Result<(oneshot::Receiver<Reply>, u64), Lost> {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        {
            let mut w = self.waiting.lock().unwrap_or_else(|e| e.into_inner());
            if !w.open {
                return Err(Lost);
            }
            w.by_id.insert(id, tx);
        }
        head["id"] = id.into();
        let n = self.write(head, body).await?;
        Ok((rx, n))
    }
}

impl Agent {
    /// Sends the blobs `(digest, local file, size)` that the host may lack, for the job in
    /// its folder `rel`: none it is known to have; those not known either way unasked
    /// when they come to at most [`UNASKED`] bytes (cheaper than the round trip of a
    /// question), else only those it says it lacks. Gives the bytes written and the blobs
    /// the host has once the job is staged.
    async fn send_blobs(
        self: &Arc<Self>,
        blobs: Vec<(String, PathBuf, u64)>,
        rel: &str,
    ) -> Result<(u64, Vec<String>), Lost> {
        let mut unknown: Vec<(String, PathBuf, u64)> = {
            let has = self.has.lock().unwrap_or_else(|e| e.into_inner());
            blobs.into_iter().filter(|(b, _, _)| !has.contains(b)).collect()
        };
        let mut written = 0;
        if unknown.iter().map(|(_, _, n)| n).sum::<u64>() > UNASKED {
            let names: Vec<&str> = unknown.iter().map(|(b, _, _)| b.as_str()).collect();
            let (rx, n) =
                self.request(json!({"op": "lack", "blobs": names}), Body::Bytes(vec![])).await?;
            written += n;
            let reply = rx.await.map_err(|_| Lost)?;
            let lack: HashSet<&str> = reply.head["lack"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .collect();
            let (send, have): (Vec<_>, Vec<_>) =
                unknown.into_iter().partition(|(b, _, _)| lack.contains(b.as_str()));
            self.has(have.into_iter().map(|(b, _, _)| b).collect());
            unknown = send;
        }
        let mut sent = Vec::with_capacity(unknown.len());
        for (blob, local, size) in unknown {
            let head = json!({"op": "put", "dir": rel, "blob": blob});
            written += self.write(head, Body::File(local, size)).await?;
            sent.push(blob);
        }
        Ok((written, sent))
    }

    /// The name on the host of `job`'s snapshot (`reads[0]`; `snaps/<n>`, under the
    /// workdir), staged by this call when the connection has not staged it yet, with its
    /// blobs sent for the job in folder `rel`. Gives the name, the bytes written and the
    /// blobs sent.
    ///
    /// Errors: `Err` when the stream ended; `Ok(Err)` when the snapshot cannot be read here.
    async fn snapshot(
        self: &Arc<Self>,
        job: &Job,
        rel: &str,
    ) -> Result<Result<(String, u64, Vec<String>), Error>, Lost> {
        let local = &job.reads[0];
        let mut snaps = self.snaps.lock().await;
        if let Some(name) = snaps.get(local) {
            return Ok(Ok((name.clone(), 0, Vec::new())));
        }
        let job = job.clone();
        let listed = tokio::task::spawn_blocking(move || {
            let mut entries = Vec::new();
            walk(&job.reads[0], "r0", &mut entries)?;
            let blobs = blobs_of(&entries, |p| local_path(&job, p))?;
            Ok::<_, Error>((tree_of(&entries)?, blobs))
        })
        .await
        .map_err(|e| Error::Stage(e.to_string()));
        let (tree, blobs) = match listed.and_then(|r| r) {
            Ok(listed) => listed,
            Err(e) => return Ok(Err(e)),
        };
        let (mut written, sent) = self.send_blobs(blobs, rel).await?;
        let name = format!("snaps/{:x}", crate::nonce());
        written += self.write(json!({"op": "snap", "name": name, "tree": tree}), no_body()).await?;
        snaps.insert(local.clone(), name.clone());
        Ok(Ok((name, written, sent)))
    }

    /// Notes that the host has `blobs`.
    fn has(&self, blobs: Vec<String>) {
        self.has.lock().unwrap_or_else(|e| e.into_inner()).extend(blobs);
    }
}

/// Writes `head` (with `n`, the body's length) and `body` as one frame.
fn write_frame(w: &mut impl Write, mut head: Value, body: Body) -> std::io::Result<u64> {
    // One write for a small frame: ssh sends what one read of its stdin gives it as one
    // packet, and a frame in pieces costs a packet (and a wake-up on the host) per piece.
    // The buffer is the frame's own size: a fixed large one is fresh memory (page faults)
    // on whichever blocking thread writes the frame.
    let (mut file, len) = match &body {
        Body::Bytes(b) => (None, b.len() as u64),
        Body::File(p, n) => (std::fs::File::open(p).ok(), *n),
    };
    head["n"] = len.into();
    let h = serde_json::to_vec(&head).map_err(std::io::Error::other)?;
    let h_len = u32::try_from(h.len()).map_err(std::io::Error::other)?;
    let small = match &body {
        Body::Bytes(_) => len as usize,
        Body::File(..) => usize::try_from(len.min(SMALL_FILE)).unwrap_or(0),
    };
    let mut frame = Vec::with_capacity(4 + h.len() + small);
    frame.extend_from_slice(&h_len.to_be_bytes());
    frame.extend_from_slice(&h);
    match (&body, &mut file) {
        (Body::Bytes(b), _) => frame.extend_from_slice(b),
        (Body::File(..), f) if len <= SMALL_FILE => {
            if let Some(f) = f {
                f.take(len).read_to_end(&mut frame).unwrap_or(0);
            }
            // A file that shrank: zeros keep the stream in step (the digest check refuses it).
            frame.resize(4 + h.len() + small, 0);
        }
        (Body::File(..), f) => {
            w.write_all(&frame)?;
            frame.clear();
            let copied = match f {
                Some(f) => std::io::copy(&mut f.take(len), w).unwrap_or(0),
                None => 0,
            };
            std::io::copy(&mut std::io::repeat(0).take(len - copied), w)?;
        }
    }
    w.write_all(&frame)?;
    w.flush()?;
    Ok(4 + h.len() as u64 + len)
}

/// Reads frames and hands each reply to its request, until the stream ends or is not
/// frames; then every request still waiting learns that it is lost.
fn read_replies(mut r: BufReader<ChildStdout>, waiting: &Mutex<Waiting>) {
    while let Some(reply) = read_frame(&mut r) {
        let id = reply.head.get("id").and_then(Value::as_u64).unwrap_or(0);
        let tx = waiting.lock().unwrap_or_else(|e| e.into_inner()).by_id.remove(&id);
        if let Some(tx) = tx {
            let _ = tx.send(reply);
        }
    }
    let mut w = waiting.lock().unwrap_or_else(|e| e.into_inner());
    w.open = false;
    w.by_id.clear();
}

fn read_frame(r: &mut impl Read) -> Option<Reply> {
    let mut len = [0u8; 4];
    r.read_exact(&mut len).ok()?;
    let len = u32::from_be_bytes(len) as usize;
    if len > MAX_HEAD {
        return None;
    }
    let mut head = vec![0u8; len];
    r.read_exact(&mut head).ok()?;
    let head: Value = serde_json::from_slice(&head).ok()?;
    let n = head.get("n").and_then(Value::as_u64).unwrap_or(0);
    let mut body = Vec::new();
    r.take(n).read_to_end(&mut body).ok()?;
    (body.len() as u64 == n).then_some(Reply { head, body })
}

/// The workdir's absolute path from the agent's first line; `None` when the line is not
/// the agent's (the host could not run it).
pub(super) fn read_hello(line: &str) -> Option<String> {
    let hello: Value = serde_json::from_str(line.strip_prefix(HELLO)?.trim_end()).ok()?;
    hello.get("workdir")?.as_str().map(str::to_owned)
}

impl Ssh {
    /// Stages, runs and fetches one job through the agent; see the module docs.
    pub(super) async fn agent_job(
        &self,
        conn: &Conn,
        agent: &Arc<Agent>,
        layout: &Layout,
        job: &Job,
        cancel: &CancelToken,
    ) -> Result<Outcome, Error> {
        let rel = layout.dir.strip_prefix(&format!("{}/", conn.workdir)).unwrap_or(&layout.dir);
        let lost = || async { self.ended_early(None, String::new(), layout, conn).await };

        // Its snapshot, staged once for every job that shares it.
        let mut layout = layout.clone();
        let (mut sent, mut blobs, mut snap) = (0, Vec::new(), None);
        if !job.reads.is_empty() {
            let Ok(staged) = agent.snapshot(job, rel).await else {
                return Ok(lost().await);
            };
            let (name, n, snap_blobs) = staged?;
            layout.reads[0].1 = format!("{}/{name}", conn.workdir);
            (sent, blobs, snap) = (n, snap_blobs, Some(name));
        }

        // What else it reads, and the blobs of those the host may lack.
        let (layout2, job2) = (layout.clone(), job.clone());
        let (entries, firsts) = tokio::task::spawn_blocking(move || {
            let entries = list_job(&layout2, &job2, 1)?;
            let firsts = blobs_of(&entries, |p| local_path(&job2, p))?;
            Ok::<_, Error>((entries, firsts))
        })
        .await
        .map_err(|e| Error::Stage(e.to_string()))??;
        let Ok((n, job_blobs)) = agent.send_blobs(firsts, rel).await else {
            return Ok(lost().await);
        };
        sent += n;
        blobs.extend(job_blobs);

        // The job: its tree, its script; the reply comes when it ends.
        let (mut head, body) = job_request(&layout, job, &entries, rel, &self.config.python)?;
        head["snap"] = snap.into();
        let Ok((rx, n)) = agent.request(head, Body::Bytes(body)).await else {
            return Ok(lost().await);
        };
        sent += n;
        self.sent.fetch_add(sent, Ordering::Relaxed);
        let timeout = async {
            match job.spec.timeout {
                Some(t) => tokio::time::sleep(t).await,
                None => std::future::pending().await,
            }
        };
        let mut rx = rx;
        let stopped = tokio::select! {
            r = &mut rx => match r {
                Ok(reply) => {
                    if reply.head.get("error").is_none() {
                        agent.has(blobs);
                    }
                    return self.settle_reply(reply, &layout, job, true).await;
                }
                Err(_) => return Ok(lost().await),
            },
            () = cancel.cancelled() => Outcome::Cancelled,
            () = timeout => Outcome::TimedOut,
        };
        let grace = job.spec.grace.as_secs().max(1);
        let _ = agent
            .write(json!({"op": "kill", "dir": rel, "grace": grace}), Body::Bytes(vec![]))
            .await;
        // Logs, as far as they came.
        let wait = Duration::from_secs(grace + 10);
        if let Ok(Ok(reply)) = tokio::time::timeout(wait, rx).await {
            let _ = self.settle_reply(reply, &layout, job, false).await;
        }
        Ok(stopped)
    }

    /// The outcome of a job whose folder came back in `reply`; with `outputs`, its outputs
    /// are placed and checked when it succeeded.
    async fn settle_reply(
        &self,
        reply: Reply,
        layout: &Layout,
        job: &Job,
        outputs: bool,
    ) -> Result<Outcome, Error> {
        let host = &self.config.host;
        let back: Back = serde_json::from_value(reply.head).map_err(|e| {
            Error::Stage(format!("ssh host `{host}` sent a reply runner cannot read: {e}"))
        })?;
        if let Some(e) = &back.error {
            return Ok(Outcome::Failed(format!("ssh host `{host}`: {e}")));
        }
        let (layout, job) = (layout.clone(), job.clone());
        let fetched = tokio::task::spawn_blocking(move || {
            let outs = outputs.then_some(job.outputs.as_slice());
            let records = back::write(&back, &reply.body, job.outputs.len(), outs)?;
            layout.bring_back_records(&records, &job);
            let read = |name: &str| {
                records.get(name).map(|r| String::from_utf8_lossy(r).trim().to_owned())
            };
            let fetched = Fetched { rc: read("rc").and_then(|s| s.parse().ok()), why: read("why") };
            if outputs && fetched.rc == Some(0) && fetched.why.is_none() {
                tree::verify(&job.outputs, &back.sums.unwrap_or_default())?;
            }
            Ok(fetched)
        })
        .await
        .map_err(|e| Error::Stage(e.to_string()))?;
        Ok(self.outcome(fetched))
    }

    /// A job's outcome from what came back of it.
    pub(super) fn outcome(&self, fetched: Result<Fetched, Error>) -> Outcome {
        match fetched {
            Err(e) => Outcome::Failed(e.to_string()),
            Ok(Fetched { why: Some(why), .. }) => Outcome::Failed(why),
            Ok(Fetched { rc: Some(code), .. }) => Outcome::Exited(code),
            Ok(Fetched { rc: None, .. }) => Outcome::Failed(format!(
                "the step ended on ssh host `{}` without an exit code (killed there?)",
                self.config.host
            )),
        }
    }
}

/// The `job` request: the job's folder `rel` (relative to the workdir), its tree (`["d",
/// path]`, `["f", path, blob]`, `["l", path, target]`), and either what the agent runs
/// itself (`run`: argv, working folder, environment variables, log names), when the step
/// needs no environment made first, or its files (`run.sh`, `requirements.txt`), whose
/// bytes are the body.
fn job_request(
    layout: &Layout,
    job: &Job,
    entries: &[Entry],
    rel: &str,
    python: &str,
) -> Result<(Value, Vec<u8>), Error> {
    let tree = tree_of(entries)?;
    let outs = layout.outputs.len();
    let cmd = layout.command(job, python)?;
    if let Some(program) = cmd.program {
        // Nothing to make first: the agent starts the step itself, with no shell between.
        let mut argv = vec![program];
        argv.extend(cmd.args);
        let (out, err) = layout.log_names();
        let run = json!({"argv": argv, "cwd": cmd.cwd, "env": cmd.env, "out": out, "err": err});
        let head =
            json!({"op": "job", "dir": rel, "tree": tree, "files": [], "run": run, "outs": outs});
        return Ok((head, Vec::new()));
    }
    let mut body = layout.script(job, python, false)?.into_bytes();
    let mut files = vec![json!(["run.sh", body.len()])];
    if let exec::Program::Python(Some(env)) = &job.program
        && let Some(req) = &env.requirements
    {
        let data = std::fs::read(req).map_err(|e| Error::Io(req.clone(), e))?;
        files.push(json!(["requirements.txt", data.len()]));
        body.extend_from_slice(&data);
    }
    let head = json!({"op": "job", "dir": rel, "tree": tree, "files": files, "outs": outs});
    Ok((head, body))
}

/// A tree's entries as the agent takes them: `["d", path]`, `["f", path, blob]`, `["l",
/// path, target]`.
///
/// Errors: a symlink's target is not UTF-8.
fn tree_of(entries: &[Entry]) -> Result<Vec<Value>, Error> {
    let mut tree = Vec::with_capacity(entries.len());
    for e in entries {
        tree.push(match e {
            Entry::Dir(p) => json!(["d", p]),
            Entry::File { rel: p, .. } => json!(["f", p, e.blob()]),
            Entry::Symlink { rel: p, target } => {
                let Some(t) = target.to_str() else {
                    return Err(Error::Stage(format!(
                        "the symlink {p} points to a name that is not UTF-8"
                    )));
                };
                json!(["l", p, t])
            }
        });
    }
    Ok(tree)
}

/// The blobs of `entries`' files, each once: `(blob, local file, size)`, the local file of
/// an entry's path being `local(path)`.
///
/// Errors: a file cannot be read.
fn blobs_of(
    entries: &[Entry],
    local: impl Fn(&str) -> PathBuf,
) -> Result<Vec<(String, PathBuf, u64)>, Error> {
    let mut firsts = Vec::new();
    let mut seen = HashSet::new();
    for e in entries {
        if let (Entry::File { rel: p, .. }, Some(blob)) = (e, e.blob())
            && seen.insert(blob.clone())
        {
            let file = local(p);
            let size = std::fs::metadata(&file).map_err(|e| Error::Io(file.clone(), e))?.len();
            firsts.push((blob, file, size));
        }
    }
    Ok(firsts)
}

/// An empty frame body.
fn no_body() -> Body {
    Body::Bytes(Vec::new())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_read_back_as_written_whatever_their_body() {
        let dir = tempfile::tempdir().unwrap();
        let small = dir.path().join("small");
        std::fs::write(&small, b"abc").unwrap();
        let big = dir.path().join("big");
        let data: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
        std::fs::write(&big, &data).unwrap();
        let mut out = Vec::new();
        let bytes = Body::Bytes(b"xyz".to_vec());
        assert_eq!(write_frame(&mut out, json!({"op": "a"}), bytes).unwrap(), out.len() as u64);
        write_frame(&mut out, json!({"op": "b"}), Body::File(small.clone(), 3)).unwrap();
        write_frame(&mut out, json!({"op": "c"}), Body::File(big, data.len() as u64)).unwrap();
        // A file that shrank since it was measured, or went: zeros keep the stream in step.
        write_frame(&mut out, json!({"op": "d"}), Body::File(small, 5)).unwrap();
        write_frame(&mut out, json!({"op": "e"}), Body::File(dir.path().join("gone"), 2)).unwrap();

        let mut r = &out[..];
        let mut next = |op: &str| {
            let reply = read_frame(&mut r).expect("a frame");
            assert_eq!(reply.head["op"], op);
            assert_eq!(reply.head["n"], reply.body.len() as u64);
            reply.body
        };
        assert_eq!(next("a"), b"xyz");
        assert_eq!(next("b"), b"abc");
        assert_eq!(next("c"), data);
        assert_eq!(next("d"), b"abc\0\0");
        assert_eq!(next("e"), b"\0\0");
        assert!(read_frame(&mut r).is_none(), "nothing after the last frame");
    }

    /// A blob the agent cannot write (here past the file size limit, as on a full disk):
    /// the rest of its body still leaves the stream, so the next request is read where it
    /// starts and answered.
    #[test]
    fn a_blob_that_cannot_be_written_leaves_the_stream_in_step() {
        use sha2::Digest as _;
        let work = tempfile::tempdir().unwrap();
        let mut agent = std::process::Command::new("sh")
            .arg("-c")
            .arg("ulimit -f 256 && exec python3 -I -S -c \"$0\" \"$1\"")
            .arg(SCRIPT)
            .arg(work.path())
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdout = BufReader::new(agent.stdout.take().unwrap());
        let mut hello = String::new();
        std::io::BufRead::read_line(&mut stdout, &mut hello).unwrap();
        assert!(read_hello(&hello).is_some(), "{hello}");

        // Past the limit only after the first pieces were written.
        let body = vec![7u8; 3 << 20];
        let blob: String = sha2::Sha256::digest(&body).iter().map(|b| format!("{b:02x}")).collect();
        let mut stdin = agent.stdin.take().unwrap();
        let put = json!({"op": "put", "dir": "jobs/1-s-1", "blob": blob});
        write_frame(&mut stdin, put, Body::Bytes(body)).unwrap();
        let lack = json!({"op": "lack", "id": 1, "blobs": [blob]});
        write_frame(&mut stdin, lack, no_body()).unwrap();
        drop(stdin);
        let reply = read_frame(&mut stdout).expect("the lack request is answered");
        assert_eq!(reply.head["id"], 1);
        assert_eq!(reply.head["lack"], json!([blob]), "the blob was not stored");
        agent.wait().unwrap();
    }
}
