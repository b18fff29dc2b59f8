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
//! An entry that does not parse (hand edits, a foreign writer) is deleted on read and reported
//! as a miss, so it can never be trusted. A file that is not a database (or a corrupt one) is
//! set aside as `ac.sqlite.corrupt` and a new one started: its entries are lost, and their
//! steps run again. An entry only names output manifests; whether their blobs are still intact
//! is [`crate::Cache::verify`]'s job.

use std::collections::BTreeMap;
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
pub(crate) struct ActionDb(Mutex<Option<Connection>>);

impl Cache {
    /// The files that hold the action cache: the database and its write-ahead log, in that
    /// order (whether or not they exist). Every write to the action cache changes the size,
    /// mtime or ctime of one of them; reading changes neither (see the module docs).
    pub fn action_files(&self) -> [PathBuf; 2] {
        let db = self.root().join(DB_FILE);
        let wal = self.root().join(format!("{DB_FILE}-wal"));
        [db, wal]
    }

    /// Runs `f` on the action cache's connection, opening the database first if needed.
    fn with_actions<T>(&self, f: impl FnOnce(&Connection) -> rusqlite::Result<T>) -> Result<T> {
        let [path, _] = self.action_files();
        let mut slot = self.actions().0.lock().unwrap_or_else(|e| e.into_inner());
        let conn = match &mut *slot {
            Some(conn) => conn,
            empty => empty.insert(open(&path, self.durable())?),
        };
        f(conn).map_err(|source| Error::Db { path, source })
    }

    /// Runs `reads` (lookups only, e.g. planning a whole pipeline) in one read transaction of
    /// the action cache: one snapshot, and one lock and log-index check instead of one per
    /// lookup. Writes through this cache inside `reads` would join the transaction and only
    /// be committed at its end, so a build must not use this around steps. If the database
    /// cannot be opened, `reads` runs as is (its lookups report the error).
    pub fn snapshot_reads<T>(&self, reads: impl FnOnce() -> T) -> T {
        let began = self.with_actions(|c| c.execute_batch("BEGIN")).is_ok();
        let out = reads();
        if began {
            let _ = self.with_actions(|c| c.execute_batch("COMMIT"));
        }
        out
    }

    /// Records `result` under step key `key`, replacing an existing entry (last writer wins,
    /// whole entry). Durable when it returns, unless the cache defers sync.
    ///
    /// Errors: [`Error::Json`] if `result` cannot be encoded, [`Error::Db`] if the database
    /// cannot be opened or written.
    pub fn put_action(&self, key: &Digest, result: &ActionResult) -> Result<()> {
        let json = serde_json::to_vec(result)
            .map_err(|source| Error::Json { path: self.action_files()[0].clone(), source })?;
        self.with_actions(|c| {
            c.prepare_cached("INSERT OR REPLACE INTO action (key, result) VALUES (?1, ?2)")?
                .execute((&key.0[..], &json[..]))
                .map(drop)
        })
    }

    /// The entry for `key`. Missing → `Ok(None)`; unparsable → the entry is removed and
    /// `Ok(None)`.
    ///
    /// Errors: [`Error::Db`] if the database cannot be opened or read.
    pub fn get_action(&self, key: &Digest) -> Result<Option<ActionResult>> {
        let bytes: Option<Vec<u8>> = self.with_actions(|c| {
            c.prepare_cached("SELECT result FROM action WHERE key = ?1")?
                .query_row([&key.0[..]], |row| row.get(0))
                .optional()
        })?;
        let Some(bytes) = bytes else { return Ok(None) };
        match serde_json::from_slice(&bytes) {
            Ok(r) => Ok(Some(r)),
            Err(_) => {
                self.remove_action(key)?;
                Ok(None)
            }
        }
    }

    /// Deletes the entry for `key`; a missing entry is not an error.
    ///
    /// Errors: [`Error::Db`] if the database cannot be opened or written.
    pub fn remove_action(&self, key: &Digest) -> Result<()> {
        self.with_actions(|c| {
            c.prepare_cached("DELETE FROM action WHERE key = ?1")?.execute([&key.0[..]]).map(drop)
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
