//! The action cache: step key → [`ActionResult`], one JSON file per key at
//! `ac/<key hex>.json`.
//!
//! Writes are atomic and durable (temp file in `tmp/`, fsync, rename, fsync the folder), so a
//! reader sees a whole record or none; concurrent writers of one key are allowed and the last
//! rename wins with a whole file. A record that does not parse (a torn write that survived a crash
//! on a filesystem that reorders, or hand edits) is deleted on read and reported as a miss, so it
//! can never be trusted (Snakemake does the same). A record only names output manifests; whether
//! their blobs are still intact is [`crate::Cache::verify`]'s job.

use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::atomic::write_via;
use crate::cas::Cache;
use crate::{Digest, Error, Result};

/// What the action cache records for a step key.
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
    /// The step key fields, opaque JSON owned by the caller (used to explain what changed).
    pub key_fields: serde_json::Value,
    /// The manifests of `outputs`, by output name, so a lookup needs no second file per
    /// output (they are also stored under `manifests/`). Optional: read through
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

impl Cache {
    /// Where the action cache entry for step key `key` lives (`<root>/ac/<64 hex>.json`),
    /// whether or not it exists.
    pub fn action_path(&self, key: &Digest) -> PathBuf {
        self.shard_path("ac", key, ".json")
    }

    /// Records `result` under step key `key`, atomically and durably (temp, fsync, rename, fsync
    /// folder). Overwrites an existing record (last writer wins, whole file).
    ///
    /// Errors: [`Error::Json`] if `result` cannot be encoded, [`Error::Write`] on IO failure.
    pub fn put_action(&self, key: &Digest, result: &ActionResult) -> Result<()> {
        let path = self.action_path(key);
        let json = serde_json::to_vec(result)
            .map_err(|source| Error::Json { path: path.clone(), source })?;
        self.ensure_parent(&path)?;
        write_via(&self.tmp_dir(), &path, &json, self.durable())
    }

    /// The record for `key`. Missing → `Ok(None)`; unparsable (torn or corrupt) → the file is
    /// removed and `Ok(None)`.
    ///
    /// Errors: [`Error::Read`] if the file exists but cannot be read, [`Error::Write`] if a corrupt
    /// file cannot be removed.
    pub fn get_action(&self, key: &Digest) -> Result<Option<ActionResult>> {
        let path = self.action_path(key);
        let bytes = match crate::atomic::read_small(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(Error::Read { path, source: e }),
        };
        match serde_json::from_slice(&bytes) {
            Ok(r) => Ok(Some(r)),
            Err(_) => {
                remove_if_exists(&path)?;
                Ok(None)
            }
        }
    }

    /// Deletes the record for `key`; a missing record is not an error.
    ///
    /// Errors: [`Error::Write`] if the file exists but cannot be removed.
    pub fn remove_action(&self, key: &Digest) -> Result<()> {
        remove_if_exists(&self.action_path(key))
    }
}

fn remove_if_exists(path: &std::path::Path) -> Result<()> {
    match fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Error::Write { path: path.to_path_buf(), source: e }),
    }
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
            key_fields: serde_json::json!({"script": "abc", "params": {"n": 3}}),
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
        assert_eq!(cache.get_action(&key).unwrap(), Some(second));
        cache.remove_action(&key).unwrap();
        cache.remove_action(&key).unwrap();
        assert_eq!(cache.get_action(&key).unwrap(), None);
        assert_eq!(fs::read_dir(dir.path().join("tmp")).unwrap().count(), 0);
    }

    #[test]
    fn truncated_record_is_removed() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::open(dir.path()).unwrap();
        let key = Digest::of_bytes(b"key");
        cache.put_action(&key, &sample()).unwrap();
        let path = cache.action_path(&key);
        let bytes = fs::read(&path).unwrap();
        fs::write(&path, &bytes[..bytes.len() / 2]).unwrap();
        assert_eq!(cache.get_action(&key).unwrap(), None);
        assert!(!path.exists());
    }
}
