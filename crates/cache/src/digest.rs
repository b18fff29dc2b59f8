//! sha256 digests and file hashing.
//!
//! [`Digest`] is `base::Digest`, the one type every layer uses (the checker's step keys
//! included); its text form (Display, FromStr, serde) is 64 lowercase hex characters. Files are hashed by streaming them through `sha2::Sha256` with a 1 MiB buffer;
//! `sha2` picks the SHA-NI / ARMv8 crypto instructions at run time when the CPU has them. Callers
//! hashing many files reuse one buffer per thread ([`hash_reader`]) instead of allocating per file.

use std::fs::File;
use std::io::{self, Read};
use std::path::Path;

use sha2::{Digest as _, Sha256};

use crate::{Error, Result};

/// Size of the read buffer used when hashing or copying files: 1 MiB.
pub(crate) const BUF_SIZE: usize = 1 << 20;

pub use base::{Digest, ParseDigestError};

/// Streams the file at `path` through sha256 with a 1 MiB buffer and returns its digest.
///
/// Follows symlinks (it opens the path). Errors: [`Error::Read`] if the file cannot be opened or
/// read.
pub fn hash_file(path: &Path) -> Result<Digest> {
    crate::par::with_buffer(|buf| hash_path(path, buf)).map(|(d, _)| d)
}

/// [`hash_file`] with a caller-owned buffer; also returns the number of bytes hashed.
pub(crate) fn hash_path(path: &Path, buf: &mut [u8]) -> Result<(Digest, u64)> {
    let file = File::open(path).map_err(Error::read(path))?;
    hash_reader(file, buf).map_err(Error::read(path))
}

/// Hashes everything `r` yields, reading through `buf`; returns the digest and the byte count.
pub(crate) fn hash_reader(mut r: impl Read, buf: &mut [u8]) -> io::Result<(Digest, u64)> {
    let mut hasher = Sha256::new();
    let mut total = 0u64;
    loop {
        let n = match r.read(buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        hasher.update(&buf[..n]);
        total += n as u64;
    }
    Ok((Digest(hasher.finalize().into()), total))
}

#[cfg(test)]
mod tests {
    use super::*;

    const ABC: &str = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";

    #[test]
    fn hash_file_known_content() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        std::fs::write(&p, b"abc").unwrap();
        assert_eq!(hash_file(&p).unwrap().to_hex(), ABC);
        // Larger than one buffer: same as hashing the bytes in memory.
        let big: Vec<u8> = (0..BUF_SIZE * 2 + 17).map(|i| (i % 251) as u8).collect();
        std::fs::write(&p, &big).unwrap();
        assert_eq!(hash_file(&p).unwrap(), Digest::of_bytes(&big));
        let missing = hash_file(&dir.path().join("nope")).unwrap_err();
        assert!(matches!(missing, Error::Read { .. }), "{missing}");
    }
}
