//! The action cache: step key → [`ActionResult`], one row per key in the SQLite database
//! `ac.sqlite` under the cache root.
//!
//! ```sql
//! action(key BLOB PRIMARY KEY /* 32 bytes */, result BLOB /* ActionResult, compact JSON */)
//!     WITHOUT ROWID
//! ```
//!
//! Why a database and not a file per key (as Bazel's disk cache and this crate until version
//! 0.4 kept it): a build records one entry per step that ran, and a new file costs an inode. On
//! the filesystem this project is measured on, creating a file right after many deletions costs
//! 20–400 µs, and a 1,000-step cold build spent 17% of its time writing entries as files. A row
//! is one append to the write-ahead log. Lookups are point queries on one open connection.
//!
//! The database is opened on first use (so a build that reuses its memo never opens it), in WAL
//! mode with a 10 s busy timeout, so several runners can share one cache. `synchronous` is
//! `FULL` for a durable cache and `NORMAL` with deferred sync ([`Cache::with_deferred_sync`]):
//! then a commit is not fsynced, [`Cache::sync`] makes it durable with everything else, and a
//! power loss before that can lose entries but never tear one. Checkpoint-on-close is off
//! (`SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE`), so a connection that only read changes neither file:
//! the build memo stamps `ac.sqlite` and `ac.sqlite-wal` ([`Cache::action_files`]) and every
//! write moves one of them. The log is checkpointed into the main file as SQLite does by default
//! (at 1,000 pages, by a writer).
//!
//! A cache opened with [`Cache::remembering`] (a long-lived process) keeps parsed entries in
//! memory, per [`Cache`] and its clones, while no other connection has committed to the
//! database: each lookup first reads `PRAGMA data_version`, which SQLite
//! changes exactly when another connection commits (<https://sqlite.org/pragma.html#pragma_data_version>),
//! and forgets every kept entry when it moved. This connection's own writes update the kept
//! entries as they go. A long-lived process (`runner watch`, the language server) so looks up an
//! unchanged step with no query and no parse; a one-shot build neither keeps nor checks.
//!
//! An entry that does not parse (hand edits, a foreign writer) is deleted on read and reported
//! as a miss, so it can never be trusted. A file that is not a database (or a corrupt one) is
//! set aside as `ac.sqlite.corrupt` and a new one started: its entries are lost, and their
//! steps run again. An entry only names output manifests; whether their blobs are still intact
//! is [`crate::Cache::verify`]'s job.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use rusqlite::ErrorCode::{DatabaseCorrupt, NotADatabase};
use rusqlite::config::DbConfig;
use rusqlite::{Connection, OptionalExtension};
use serde::{Deserialize, Serialize};

use crate::cas::Cache;
use crate::{Digest, Error, Result};

/// The database's file name under the cache root.
const DB_FILE: &str = "ac.sqlite";

/// How long a statement waits for another process's write lock before failing.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// What the action cache records for a step key. (The key fields that made the key are in
/// run history, `step_runs.key_fields`, where dirty reasons are computed from: a lookup never
/// needs them, so entries do not carry them.)
#[derive(Serialize, Deserialize, Clone, PartialEq, Debug)]
pub struct ActionResult {
    /// The step's name.
    pub step: String,
    /// Output name → digest of the output's [`crate::Manifest`] (stored with
    /// [`Cache::put_manifest`]).
    pub outputs: BTreeMap<String, Digest>,
    /// Id of the run (in run history) that produced it.
    pub run_id: i64,
    /// When it was recorded, in milliseconds since the Unix epoch.
    pub created_ms: u64,
    /// The manifests of `outputs`, by output name, so a lookup needs no second read per
    /// output (older entries name manifests stored under `manifests/`). Optional: read through
    /// [`ActionResult::manifest`], which checks each against its digest in `outputs`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub manifests: BTreeMap<String, crate::Manifest>,
    /// The byte digests (hex) of the files keyed by their tokens when this result was made
    /// (`plan::KeyRecord::sources`): (path, digest). Not part of the key; a reuse compares
    /// them to say that a file changed only in comments.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sources: Vec<(String, String)>,
    /// The files a traced run of the step read outside its key, relative to the project's
    /// folder, with the digest each had when the step ended: the key does not cover them,
    /// so a lookup checks them (`driver::lookup_with`) and a result whose reads changed is
    /// not reused.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reads: Vec<(String, Digest)>,
    /// Where a result taken from the shared cache was made (`run 3 of digits in
    /// /home/ana/digits on ana-laptop`); then `run_id` is 0, as no run of this project's
    /// history made it. `None` for a result made here.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub origin: Option<String>,
}

impl ActionResult {
    /// The manifest of output `name` as recorded in this entry, if it is there and hashes to
    /// the digest `outputs` gives (a hand-edited or foreign entry's manifest is ignored).
    pub fn manifest(&self, name: &str) -> Option<&crate::Manifest> {
        let want = self.outputs.get(name)?;
        self.manifests.get(name).filter(|m| m.digest() == *want)
    }
}

/// The action cache database of one [`Cache`] and its clones: opened on first use.
#[derive(Debug, Default)]
pub(crate) struct ActionDb(Mutex<Slot>);

/// Most entries kept in memory; past it the kept entries are forgotten (and read again).
const MAX_KEPT: usize = 100_000;

/// The open connection and the entries read or written through it (see the module docs).
#[derive(Debug, Default)]
struct Slot {
    conn: Option<Connection>,
    /// `PRAGMA data_version` when `kept` was last known to match the database.
    version: Option<i64>,
    /// Step key → its entry, as this connection last read or wrote it.
    kept: HashMap<[u8; 32], ActionResult>,
    /// Inside [`Cache::snapshot_reads`]: the database cannot change, so `kept` was
    /// revalidated once, when the read transaction began.
    in_snapshot: bool,
}

impl Slot {
    /// The connection, opened (at `path`) if needed.
    fn conn(&mut self, path: &Path, durable: bool) -> Result<&Connection> {
        match &mut self.conn {
            Some(conn) => Ok(conn),
            empty => Ok(empty.insert(open(path, durable)?)),
        }
    }

    /// Forgets the kept entries if another connection committed since they were kept.
    fn revalidate(&mut self, path: &Path, durable: bool) -> Result<()> {
        if self.in_snapshot {
            return Ok(());
        }
        let version: i64 = self
            .conn(path, durable)?
            .prepare_cached("PRAGMA data_version")
            .and_then(|mut st| st.query_row([], |row| row.get(0)))
            .map_err(|source| Error::Db { path: path.to_path_buf(), source })?;
        if self.version != Some(version) {
            self.kept.clear();
            self.version = Some(version);
        }
        Ok(())
    }

    fn keep(&mut self, key: &Digest, result: &ActionResult) {
        if self.kept.len() >= MAX_KEPT {
            self.kept.clear();
        }
        self.kept.insert(key.0, result.clone());
    }
}

impl Cache {
    /// The files that hold the action cache: the database and its write-ahead log, in that
    /// order (whether or not they exist). Every write to the action cache changes the size,
    /// mtime or ctime of one of them; reading changes neither (see the module docs).
    pub fn action_files(&self) -> [PathBuf; 2] {
        let db = self.root().join(DB_FILE);
        let wal = self.root().join(format!("{DB_FILE}-wal"));
        [db, wal]
    }

    /// Runs `f` on the connection's slot (its kept entries, if this cache keeps any,
    /// revalidated first).
    fn with_slot<T>(&self, f: impl FnOnce(&mut Slot, &Path) -> Result<T>) -> Result<T> {
        let [path, _] = self.action_files();
        let mut slot = self.actions().0.lock().unwrap_or_else(|e| e.into_inner());
        if self.keeps_entries() {
            slot.revalidate(&path, self.durable())?;
        }
        f(&mut slot, &path)
    }

    /// Whether lookups keep entries in memory ([`Cache::remembering`]).
    fn keeps_entries(&self) -> bool {
        self.remembered().is_some()
    }

    /// Runs `reads` (lookups only, e.g. planning a whole pipeline) in one read transaction of
    /// the action cache: one snapshot, and one lock and log-index check instead of one per
    /// lookup. Writes through this cache inside `reads` would join the transaction and only
    /// be committed at its end, so a build must not use this around steps. If the database
    /// cannot be opened, `reads` runs as is (its lookups report the error).
    pub fn snapshot_reads<T>(&self, reads: impl FnOnce() -> T) -> T {
        let [path, _] = self.action_files();
        let keeps = self.keeps_entries();
        let began = {
            let mut slot = self.actions().0.lock().unwrap_or_else(|e| e.into_inner());
            let begin = |c: &Connection| -> rusqlite::Result<()> {
                c.execute_batch("BEGIN")?;
                if keeps {
                    // `BEGIN` is deferred: the first read of the table starts the snapshot,
                    // and the version read after it holds for the whole transaction.
                    c.query_row("SELECT count(*) FROM action WHERE 0", [], |r| r.get::<_, i64>(0))?;
                }
                Ok(())
            };
            let began = slot.conn(&path, self.durable()).is_ok_and(|c| begin(c).is_ok());
            if began && keeps && slot.revalidate(&path, self.durable()).is_ok() {
                slot.in_snapshot = true;
            }
            began
        };
        let out = reads();
        if began {
            let mut slot = self.actions().0.lock().unwrap_or_else(|e| e.into_inner());
            slot.in_snapshot = false;
            if let Some(c) = &slot.conn {
                let _ = c.execute_batch("COMMIT");
            }
        }
        out
    }

    /// Records `result` under step key `key`, replacing an existing entry (last writer wins,
    /// whole entry). Durable when it returns, unless the cache defers sync.
    ///
    /// Errors: [`Error::Json`] if `result` cannot be encoded, [`Error::Db`] if the database
    /// cannot be opened or written.
    pub fn put_action(&self, key: &Digest, result: &ActionResult) -> Result<()> {
        self.put_actions(&[(*key, result)])
    }

    /// Writes several entries in one transaction (a group commit: one append of the log
    /// instead of one per entry), replacing any under the same keys. All or none are written.
    ///
    /// Errors: [`Error::Json`] if a result cannot be serialised, [`Error::Db`] if the database
    /// cannot be opened or written.
    pub fn put_actions(&self, entries: &[(Digest, &ActionResult)]) -> Result<()> {
        let path = self.action_files()[0].clone();
        let json = entries
            .iter()
            .map(|(_, r)| serde_json::to_vec(r))
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(|source| Error::Json { path, source })?;
        self.with_slot(|slot, path| {
            let db = |source| Error::Db { path: path.to_path_buf(), source };
            let conn = slot.conn(path, self.durable())?;
            let insert = |c: &Connection| -> rusqlite::Result<()> {
                let mut st = c.prepare_cached(
                    "INSERT OR REPLACE INTO action (key, result) VALUES (?1, ?2)",
                )?;
                for ((key, _), json) in entries.iter().zip(&json) {
                    st.execute((&key.0[..], &json[..]))?;
                }
                Ok(())
            };
            if conn.is_autocommit() {
                let tx = rusqlite::Transaction::new_unchecked(
                    conn,
                    rusqlite::TransactionBehavior::Immediate,
                )
                .map_err(db)?;
                insert(&tx).map_err(db)?;
                tx.commit().map_err(db)?;
            } else {
                // Inside `snapshot_reads` (an entry taken from the shared cache while a
                // build plans): the writes join its transaction, committed at its end.
                insert(conn).map_err(db)?;
            }
            if self.keeps_entries() {
                for (key, result) in entries {
                    slot.keep(key, result);
                }
            }
            Ok(())
        })
    }

    /// The entry for `key`. Missing → `Ok(None)`; unparsable → the entry is removed and
    /// `Ok(None)`.
    ///
    /// Errors: [`Error::Db`] if the database cannot be opened or read.
    pub fn get_action(&self, key: &Digest) -> Result<Option<ActionResult>> {
        let found = self.with_slot(|slot, path| {
            if let Some(r) = slot.kept.get(&key.0) {
                return Ok(Some(Ok(r.clone())));
            }
            let bytes: Option<Vec<u8>> = slot
                .conn(path, self.durable())?
                .prepare_cached("SELECT result FROM action WHERE key = ?1")
                .and_then(|mut st| st.query_row([&key.0[..]], |row| row.get(0)).optional())
                .map_err(|source| Error::Db { path: path.to_path_buf(), source })?;
            Ok(bytes.map(|b| {
                let parsed = serde_json::from_slice::<ActionResult>(&b);
                if let Ok(r) = &parsed
                    && self.keeps_entries()
                {
                    slot.keep(key, r);
                }
                parsed.map_err(drop)
            }))
        })?;
        match found {
            None => Ok(None),
            Some(Ok(r)) => Ok(Some(r)),
            Some(Err(())) => {
                self.remove_action(key)?;
                Ok(None)
            }
        }
    }

    /// Deletes the entry for `key`; a missing entry is not an error.
    ///
    /// Errors: [`Error::Db`] if the database cannot be opened or written.
    pub fn remove_action(&self, key: &Digest) -> Result<()> {
        self.with_slot(|slot, path| {
            slot.kept.remove(&key.0);
            slot.conn(path, self.durable())?
                .prepare_cached("DELETE FROM action WHERE key = ?1")
                .and_then(|mut st| st.execute([&key.0[..]]))
                .map_err(|source| Error::Db { path: path.to_path_buf(), source })
                .map(drop)
        })
    }
}

/// Opens (creating if needed) the database at `path`; sets a corrupt one aside first.
fn open(path: &Path, durable: bool) -> Result<Connection> {
    let db_error = |source| Error::Db { path: path.to_path_buf(), source };
    match configure(path, durable) {
        Err(e) if matches!(e.sqlite_error_code(), Some(NotADatabase | DatabaseCorrupt)) => {
            set_aside(path)?;
            configure(path, durable).map_err(db_error)
        }
        other => other.map_err(db_error),
    }
}

/// Moves a damaged database and its log aside (`ac.sqlite.corrupt`, `ac.sqlite.corrupt-wal`,
/// kept for a look) and removes its shared-memory index; missing files are fine.
///
/// Errors: [`Error::Write`] if a file is there but cannot be moved or removed.
fn set_aside(path: &Path) -> Result<()> {
    let with = |suffix: &str| PathBuf::from(format!("{}{suffix}", path.display()));
    let done = |r: std::io::Result<()>, at: PathBuf| match r {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            Err(Error::Write { path: at, source: e })
        }
        _ => Ok(()),
    };
    done(std::fs::rename(path, with(".corrupt")), path.to_path_buf())?;
    done(std::fs::rename(with("-wal"), with(".corrupt-wal")), with("-wal"))?;
    done(std::fs::remove_file(with("-shm")), with("-shm"))
}

/// Write-ahead log size above which an opener checkpoints it into the action cache's
/// database and truncates it.
const WAL_CHECKPOINT_BYTES: u64 = 1 << 20;

fn configure(path: &Path, durable: bool) -> rusqlite::Result<Connection> {
    let conn = Connection::open(path)?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    conn.set_db_config(DbConfig::SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, true)?;
    // Creating the file (switching a new database to WAL, creating the table) is not synced:
    // it would cost a build on a fresh project six fsyncs (10–15 ms here). A crash that
    // leaves the new file torn leaves only an empty cache, set aside by `open`.
    conn.pragma_update(None, "synchronous", "OFF")?;
    let _mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))?;
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS action (key BLOB PRIMARY KEY NOT NULL, result BLOB NOT NULL) \
         WITHOUT ROWID",
    )?;
    conn.pragma_update(None, "synchronous", if durable { "FULL" } else { "NORMAL" })?;
    // With no checkpoint on close the log stays for the next opener, which reads all of it
    // to index it: a log past `WAL_CHECKPOINT_BYTES` (a cold build of 1,000 steps leaves
    // about 3 MiB) is copied (synced) into the database and truncated once, here.
    let wal = PathBuf::from(format!("{}-wal", path.display()));
    if std::fs::metadata(&wal).is_ok_and(|m| m.len() > WAL_CHECKPOINT_BYTES) {
        conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
    }
    Ok(conn)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> ActionResult {
        ActionResult {
            step: "train".into(),
            outputs: [("model".to_string(), Digest::of_bytes(b"m"))].into_iter().collect(),
            run_id: 7,
            created_ms: 1_700_000_000_000,
            manifests: BTreeMap::new(),
            sources: Vec::new(),
            reads: Vec::new(),
            origin: None,
        }
    }

    #[test]
    fn embedded_manifests_are_checked_against_their_digest() {
        let m = crate::Manifest {
            entries: vec![crate::TreeEntry {
                path: "model.pkl".into(),
                digest: Digest::of_bytes(b"weights"),
                size: 7,
                executable: false,
            }],
        };
        let mut r = sample();
        r.outputs.insert("model".into(), m.digest());
        r.manifests.insert("model".into(), m.clone());
        assert_eq!(r.manifest("model"), Some(&m));
        assert_eq!(r.manifest("other"), None);
        r.outputs.insert("model".into(), Digest::of_bytes(b"another"));
        assert_eq!(r.manifest("model"), None);
    }

    #[test]
    fn roundtrip_overwrite_remove() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::open(dir.path()).unwrap();
        let key = Digest::of_bytes(b"key");
        assert_eq!(cache.get_action(&key).unwrap(), None);
        cache.put_action(&key, &sample()).unwrap();
        assert_eq!(cache.get_action(&key).unwrap(), Some(sample()));
        let mut second = sample();
        second.run_id = 8;
        cache.put_action(&key, &second).unwrap();
        assert_eq!(cache.get_action(&key).unwrap(), Some(second.clone()));
        // Another handle (another process, in effect) sees the same entries.
        let other = Cache::open(dir.path()).unwrap();
        assert_eq!(other.get_action(&key).unwrap(), Some(second));
        cache.remove_action(&key).unwrap();
        cache.remove_action(&key).unwrap();
        assert_eq!(cache.get_action(&key).unwrap(), None);
        assert_eq!(other.get_action(&key).unwrap(), None);
    }

    #[test]
    fn put_actions_writes_all_in_one_commit() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::open(dir.path()).unwrap().remembering();
        let other = Cache::open(dir.path()).unwrap();
        let (a, b) = (Digest::of_bytes(b"a"), Digest::of_bytes(b"b"));
        let mut second = sample();
        second.run_id = 8;
        let count = |c: &Cache| -> i64 {
            let [db, _] = c.action_files();
            let conn = Connection::open(db).unwrap();
            conn.query_row("SELECT COUNT(*) FROM action", [], |r| r.get(0)).unwrap()
        };
        assert_eq!(other.get_action(&a).unwrap(), None);
        cache.put_actions(&[(a, &sample()), (b, &second)]).unwrap();
        assert_eq!(count(&cache), 2);
        assert_eq!(other.get_action(&a).unwrap(), Some(sample()));
        assert_eq!(other.get_action(&b).unwrap(), Some(second.clone()));
        // The remembering cache keeps what it wrote.
        assert_eq!(cache.actions().0.lock().unwrap().kept.len(), 2);
        assert_eq!(cache.get_action(&b).unwrap(), Some(second));
        cache.put_actions(&[]).unwrap();
        assert_eq!(count(&cache), 2);
    }

    #[test]
    fn entries_are_kept_until_another_connection_commits() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::open(dir.path()).unwrap().remembering();
        let other = Cache::open(dir.path()).unwrap();
        let (a, b) = (Digest::of_bytes(b"a"), Digest::of_bytes(b"b"));
        let kept = |c: &Cache| {
            let slot = c.actions().0.lock().unwrap();
            let mut keys: Vec<_> = slot.kept.keys().copied().collect();
            keys.sort();
            keys
        };
        other.put_action(&a, &sample()).unwrap();
        assert_eq!(cache.get_action(&a).unwrap(), Some(sample()));
        cache.put_action(&b, &sample()).unwrap();
        let mut both = vec![a.0, b.0];
        both.sort();
        assert_eq!(kept(&cache), both, "a read and a write are both kept");
        // A lookup of a kept entry is answered from memory: same answer, nothing re-read.
        assert_eq!(cache.get_action(&a).unwrap(), Some(sample()));
        // Another connection's commit makes every kept entry suspect.
        let mut newer = sample();
        newer.run_id = 9;
        other.put_action(&a, &newer).unwrap();
        assert_eq!(cache.get_action(&a).unwrap(), Some(newer));
        assert_eq!(kept(&cache), vec![a.0], "only what was read since is kept");
        other.remove_action(&a).unwrap();
        assert_eq!(cache.get_action(&a).unwrap(), None);
        assert_eq!(cache.get_action(&b).unwrap(), Some(sample()));
        // A cache that does not remember keeps nothing.
        assert_eq!(other.get_action(&b).unwrap(), Some(sample()));
        assert_eq!(kept(&other), Vec::<[u8; 32]>::new());
    }

    #[test]
    fn snapshot_reads_see_one_state() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::open(dir.path()).unwrap();
        let other = Cache::open(dir.path()).unwrap();
        let (a, b) = (Digest::of_bytes(b"a"), Digest::of_bytes(b"b"));
        cache.put_action(&a, &sample()).unwrap();
        let seen = cache.snapshot_reads(|| {
            let first = cache.get_action(&a).unwrap();
            other.put_action(&b, &sample()).unwrap(); // another process, in effect
            (first, cache.get_action(&b).unwrap())
        });
        assert_eq!(seen, (Some(sample()), None), "the write came after the snapshot");
        assert_eq!(cache.get_action(&b).unwrap(), Some(sample()));
    }

    #[test]
    fn unparsable_entry_is_removed() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::open(dir.path()).unwrap();
        let key = Digest::of_bytes(b"key");
        cache.put_action(&key, &sample()).unwrap();
        let [db, _] = cache.action_files();
        let conn = Connection::open(&db).unwrap();
        conn.execute("UPDATE action SET result = x'7b2274727563'", []).unwrap();
        assert_eq!(cache.get_action(&key).unwrap(), None);
        let left: i64 = conn.query_row("SELECT count(*) FROM action", [], |r| r.get(0)).unwrap();
        assert_eq!(left, 0);
    }

    #[test]
    fn a_file_that_is_not_a_database_is_set_aside() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::open(dir.path()).unwrap();
        let [db, _] = cache.action_files();
        std::fs::write(&db, "not a database, but long enough to have a header ".repeat(4)).unwrap();
        let key = Digest::of_bytes(b"key");
        assert_eq!(cache.get_action(&key).unwrap(), None);
        cache.put_action(&key, &sample()).unwrap();
        assert_eq!(cache.get_action(&key).unwrap(), Some(sample()));
        assert!(dir.path().join("ac.sqlite.corrupt").is_file());
    }

    #[test]
    fn reading_changes_neither_file_and_writing_moves_one() {
        let dir = tempfile::tempdir().unwrap();
        let key = Digest::of_bytes(b"key");
        // What the build memo compares: inode, size, mtime. (Not the ctime: SQLite running as
        // root fchowns the log on every open.)
        let files = || {
            let cache = Cache::open(dir.path()).unwrap();
            cache.action_files().map(|f| {
                let s = crate::FileStamp::read(&f).unwrap().expect("the file exists");
                (s.ino, s.size, s.mtime_ns)
            })
        };
        {
            let cache = Cache::open(dir.path()).unwrap();
            cache.put_action(&key, &sample()).unwrap();
        }
        let before = files();
        {
            let cache = Cache::open(dir.path()).unwrap();
            assert!(cache.get_action(&key).unwrap().is_some());
            assert!(cache.get_action(&Digest::of_bytes(b"other")).unwrap().is_none());
        }
        assert_eq!(files(), before, "a reader that closed changed the files");
        {
            let cache = Cache::open(dir.path()).unwrap();
            let mut r = sample();
            r.run_id = 9;
            cache.put_action(&key, &r).unwrap();
        }
        assert_ne!(files(), before);
    }
}
