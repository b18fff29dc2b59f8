//! The build memo's key records (`.runner/buildmemo.keys`): per step of the memo, its
//! complete key record and where the named paths its key reads go in it, so that a build
//! whose only difference from the memo is the content of some named paths can compute the
//! new keys of the steps that read them (and of their downstream steps) without the
//! database: see [`crate::memo`]'s module docs, "An edit under the memo".
//!
//! Kept apart from the memo itself, which a no-op build reads whole: this file is read only
//! when a path changed. It is tied to the memo's invocation (the same pipeline bytes, params,
//! selection and experiment give the same paths and slots), and each record is trusted only
//! when it hashes to the memo's key for its step (a sha256 preimage: a stale or foreign
//! record cannot pass).
//!
//! **File format** (version 2, little-endian, strings as `u32` length + UTF-8; checksummed):
//!
//! ```text
//! "RUNKEYS2", [u8; 32] invocation,
//! u32 n × (str step, str record /* plan::KeyRecord JSON */,
//!          u32 n × (u8 slot /* 0 script, 1 hash path, 2 data, 3 environment, 4 python */,
//!                   u32 hash path index | str data input | nothing, str path),
//!          u32 n × (str input, str upstream step, str output)),
//! u64 CRC-64/NVME of everything above (`cache::seal`)
//! ```

use std::path::Path;

use anyhow::Context as _;
use cache::{Reader, put_bytes, seal};
use hir::{Digest, KeySlot, UpstreamInput};

const MAGIC: &[u8; 8] = b"RUNKEYS2";

/// The file's name in the state folder.
pub const KEYS_FILE: &str = "buildmemo.keys";

/// One step's key record and the paths it reads.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StepKeys {
    /// The step's name.
    pub name: String,
    /// Its complete key record (`plan::KeyRecord`'s JSON), whose digest is its key.
    pub record: String,
    /// Each named path its key fields read, and where its digest goes
    /// ([`hir::step_key_paths`]).
    pub paths: Vec<(KeySlot, String)>,
    /// The upstream outputs it reads.
    pub upstream: Vec<UpstreamInput>,
}

/// What `.runner/buildmemo.keys` holds; see the module docs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MemoKeys {
    /// The invocation of the memo it belongs to.
    pub invocation: Digest,
    /// One per step of the memo, in the memo's order.
    pub steps: Vec<StepKeys>,
}

impl MemoKeys {
    /// The key records in state folder `state`; `None` when there are none, or they are
    /// damaged or of another version.
    pub fn load(state: &Path) -> Option<MemoKeys> {
        decode(&std::fs::read(state.join(KEYS_FILE)).ok()?)
    }

    /// Removes them from `state`, if there (a memo written without them).
    pub fn forget(state: &Path) {
        let _ = std::fs::remove_file(state.join(KEYS_FILE));
    }

    /// Writes them to `state/buildmemo.keys` (temp file, rename; no fsync, as the memo).
    ///
    /// Errors: the write failed.
    pub fn save(&self, state: &Path) -> anyhow::Result<()> {
        let path = state.join(KEYS_FILE);
        cache::write_replace(&path, &encode(self))
            .with_context(|| format!("writing {}", path.display()))
    }
}

fn encode(k: &MemoKeys) -> Vec<u8> {
    let mut out = Vec::with_capacity(64 + k.steps.len() * 512);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&k.invocation.0);
    put_len(&mut out, k.steps.len());
    for s in &k.steps {
        put_bytes(&mut out, s.name.as_bytes());
        put_bytes(&mut out, s.record.as_bytes());
        put_len(&mut out, s.paths.len());
        for (slot, path) in &s.paths {
            match slot {
                KeySlot::Script => out.push(0),
                KeySlot::HashPath(i) => {
                    out.push(1);
                    out.extend_from_slice(&i.to_le_bytes());
                }
                KeySlot::Data(input) => {
                    out.push(2);
                    put_bytes(&mut out, input.as_bytes());
                }
                KeySlot::Environment => out.push(3),
                KeySlot::Python => out.push(4),
            }
            put_bytes(&mut out, path.as_bytes());
        }
        put_len(&mut out, s.upstream.len());
        for u in &s.upstream {
            put_bytes(&mut out, u.input.as_bytes());
            put_bytes(&mut out, u.step.as_bytes());
            put_bytes(&mut out, u.output.as_bytes());
        }
    }
    seal(&mut out);
    out
}

fn put_len(out: &mut Vec<u8>, n: usize) {
    out.extend_from_slice(&u32::try_from(n).unwrap_or(u32::MAX).to_le_bytes());
}

fn string(r: &mut Reader<'_>) -> Option<String> {
    r.str().map(str::to_owned)
}

fn decode(bytes: &[u8]) -> Option<MemoKeys> {
    let mut r = Reader::open_sealed(bytes, MAGIC)?;
    let invocation = Digest(r.take(32)?.try_into().ok()?);
    let n = r.u32()? as usize;
    let mut steps = Vec::with_capacity(n.min(1 << 16));
    for _ in 0..n {
        let name = string(&mut r)?;
        let record = string(&mut r)?;
        let k = r.u32()? as usize;
        let mut paths = Vec::with_capacity(k.min(1 << 16));
        for _ in 0..k {
            let slot = match r.take(1)?[0] {
                0 => KeySlot::Script,
                1 => KeySlot::HashPath(r.u32()?),
                2 => KeySlot::Data(string(&mut r)?),
                3 => KeySlot::Environment,
                4 => KeySlot::Python,
                _ => return None,
            };
            paths.push((slot, string(&mut r)?));
        }
        let k = r.u32()? as usize;
        let mut upstream = Vec::with_capacity(k.min(1 << 16));
        for _ in 0..k {
            let (input, step, output) = (string(&mut r)?, string(&mut r)?, string(&mut r)?);
            upstream.push(UpstreamInput { input, step, output });
        }
        steps.push(StepKeys { name, record, paths, upstream });
    }
    r.is_empty().then_some(MemoKeys { invocation, steps })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_damage() {
        let keys = MemoKeys {
            invocation: Digest([3; 32]),
            steps: vec![StepKeys {
                name: "train".into(),
                record: "{\"schema\":1}".into(),
                paths: vec![
                    (KeySlot::Script, "src/train.py".into()),
                    (KeySlot::HashPath(2), "src/lib".into()),
                    (KeySlot::Data("raw".into()), "raw.csv".into()),
                    (KeySlot::Environment, "req.txt".into()),
                ],
                upstream: vec![UpstreamInput {
                    input: "d".into(),
                    step: "prep".into(),
                    output: "o".into(),
                }],
            }],
        };
        let bytes = encode(&keys);
        assert_eq!(decode(&bytes), Some(keys));
        let mut torn = bytes.clone();
        torn[20] ^= 1;
        assert_eq!(decode(&torn), None);
        assert_eq!(decode(&bytes[..bytes.len() - 1]), None);
    }
}
