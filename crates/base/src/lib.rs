//! The vocabulary every layer shares, below all of them: [`Digest`], the sha256 value that
//! names a file's bytes, a manifest, a step key. `hir` (which does no IO) and `cache`
//! (which stores by it) both use this one type, so a key computed by the checker is the key
//! the action cache is read with, without conversions.

use std::fmt;
use std::str::FromStr;

use sha2::{Digest as _, Sha256};

/// A sha256 digest (32 bytes).
///
/// Text form everywhere (Display, Debug, FromStr, serde): 64 lowercase hex characters
/// ([`Digest::short`]: the first 12, for messages).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Digest(pub [u8; 32]);

impl Digest {
    /// sha256 of `b`.
    pub fn of_bytes(b: &[u8]) -> Digest {
        Digest(Sha256::digest(b).into())
    }

    /// The 64-character lowercase hex form.
    pub fn to_hex(&self) -> String {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut s = String::with_capacity(64);
        for b in self.0 {
            s.push(HEX[usize::from(b >> 4)] as char);
            s.push(HEX[usize::from(b & 0xf)] as char);
        }
        s
    }

    /// The first 12 hex characters, for messages (`ba7816bf8f01`).
    pub fn short(&self) -> String {
        let mut s = self.to_hex();
        s.truncate(12);
        s
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

/// Why a string is not a [`Digest`]: it must be exactly 64 hex characters (either case accepted
/// on input; output is always lowercase).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid sha256 digest {text:?}: expected 64 hex characters")]
pub struct ParseDigestError {
    /// The rejected text.
    pub text: String,
}

impl FromStr for Digest {
    type Err = ParseDigestError;

    fn from_str(s: &str) -> Result<Digest, ParseDigestError> {
        let err = || ParseDigestError { text: s.to_owned() };
        let bytes = s.as_bytes();
        if bytes.len() != 64 {
            return Err(err());
        }
        let nibble = |c: u8| match c {
            b'0'..=b'9' => Some(c - b'0'),
            b'a'..=b'f' => Some(c - b'a' + 10),
            b'A'..=b'F' => Some(c - b'A' + 10),
            _ => None,
        };
        let mut out = [0u8; 32];
        for (i, pair) in bytes.chunks_exact(2).enumerate() {
            out[i] = (nibble(pair[0]).ok_or_else(err)? << 4) | nibble(pair[1]).ok_or_else(err)?;
        }
        Ok(Digest(out))
    }
}

impl serde::Serialize for Digest {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_hex())
    }
}

impl<'de> serde::Deserialize<'de> for Digest {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Digest, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ABC: &str = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";

    #[test]
    fn hex_roundtrip() {
        let d = Digest::of_bytes(b"abc");
        assert_eq!(d.to_hex(), ABC);
        assert_eq!(d.to_string(), ABC);
        assert_eq!(format!("{d:?}"), ABC);
        assert_eq!(d.short(), "ba7816bf8f01");
        assert_eq!(ABC.parse::<Digest>().unwrap(), d);
        assert_eq!(ABC.to_uppercase().parse::<Digest>().unwrap(), d);
        assert!("abc".parse::<Digest>().is_err());
        assert!(ABC.replace('a', "g").parse::<Digest>().is_err());
        let json = serde_json::to_string(&d).unwrap();
        assert_eq!(json, format!("\"{ABC}\""));
        assert_eq!(serde_json::from_str::<Digest>(&json).unwrap(), d);
        assert!(serde_json::from_str::<Digest>("\"zz\"").is_err());
    }
}
