//! File stamps: what `stat` says about a file as far as its content is concerned, and when a
//! stamp can be trusted to reveal a later change.
//!
//! A [`FileStamp`] is (device, inode, size, mtime ns, ctime ns). Two equal stamps mean "not
//! changed" only once the stamp has *settled*: timestamps have a granularity (one tick is
//! 1–10 ms on Linux, a whole second or two on some filesystems), so a file can be written
//! again in the tick of its recorded stamp without the stamp changing (git's "racy clean"
//! problem). The ctime decides, not the mtime: any write, chmod or `touch` sets the ctime to
//! the current time and user code cannot set it back, while an mtime can be set anywhere.
//! The window is [`FINE_WINDOW_NS`] (100 ms: ten ticks of the coarsest Linux clock) for
//! sub-second timestamps and [`COARSE_WINDOW_NS`] (2 s, FAT's granularity) when the ctime is a
//! whole second.
//!
//! Also here: the little-endian [`Reader`] and [`seal`] the binary state files (`statcache`,
//! `buildmemo`) are read and written with.

use std::fs;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

/// Racy window for sub-second timestamps: 100 ms.
pub const FINE_WINDOW_NS: i64 = 100_000_000;

/// Racy window when both timestamps are whole seconds: 2 s.
pub const COARSE_WINDOW_NS: i64 = 2_000_000_000;

/// What `stat` says about a file (or folder), as far as its content is concerned. Times are
/// nanoseconds since the Unix epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FileStamp {
    /// Device id.
    pub dev: u64,
    /// Inode number.
    pub ino: u64,
    /// Size in bytes.
    pub size: u64,
    /// Last modification, ns since the epoch.
    pub mtime_ns: i64,
    /// Last status change, ns since the epoch.
    pub ctime_ns: i64,
}

impl FileStamp {
    /// The stamp of `m` (from `stat` or `lstat`).
    pub fn of(m: &fs::Metadata) -> FileStamp {
        let ns = |s: i64, n: i64| s.saturating_mul(1_000_000_000).saturating_add(n);
        FileStamp {
            dev: m.dev(),
            ino: m.ino(),
            size: m.size(),
            mtime_ns: ns(m.mtime(), m.mtime_nsec()),
            ctime_ns: ns(m.ctime(), m.ctime_nsec()),
        }
    }

    /// The stamp of what is at `path` (following symlinks); `None` when nothing is there.
    ///
    /// Errors: any `stat` failure other than "not found" / "not a directory".
    pub fn read(path: &Path) -> io::Result<Option<FileStamp>> {
        match fs::metadata(path) {
            Ok(m) => Ok(Some(FileStamp::of(&m))),
            Err(e)
                if matches!(e.kind(), io::ErrorKind::NotFound | io::ErrorKind::NotADirectory) =>
            {
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }

    /// The timestamp granularity window for this file's filesystem, as far as its ctime tells.
    pub fn window_ns(&self) -> i64 {
        if self.ctime_ns % 1_000_000_000 == 0 { COARSE_WINDOW_NS } else { FINE_WINDOW_NS }
    }

    /// When a change is sure to stamp a later ctime: the end of the racy window.
    pub fn settles_at(&self) -> i64 {
        self.ctime_ns.saturating_add(self.window_ns())
    }

    /// Whether a file with this stamp, looked at (hashed, recorded) at `seen_ns`, could have
    /// been rewritten afterwards without changing the stamp.
    pub fn racy(&self, seen_ns: i64) -> bool {
        self.settles_at() >= seen_ns
    }

    /// Appends the stamp to `out` (40 bytes, little-endian).
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.dev.to_le_bytes());
        out.extend_from_slice(&self.ino.to_le_bytes());
        out.extend_from_slice(&self.size.to_le_bytes());
        out.extend_from_slice(&self.mtime_ns.to_le_bytes());
        out.extend_from_slice(&self.ctime_ns.to_le_bytes());
    }

    /// Reads a stamp written by [`FileStamp::encode`].
    pub fn decode(r: &mut Reader<'_>) -> Option<FileStamp> {
        Some(FileStamp {
            dev: r.u64()?,
            ino: r.u64()?,
            size: r.u64()?,
            mtime_ns: r.i64()?,
            ctime_ns: r.i64()?,
        })
    }
}

/// What one `fstatat` finds at a path ([`Found::at`]): all a check needs to tell whether a
/// file kept its stamp, a missing path is still missing, or a folder is still one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Found {
    /// Nothing is there (`ENOENT`, `ENOTDIR`).
    Missing,
    /// A folder.
    Folder,
    /// Anything else (a file), with its stamp.
    File(FileStamp),
    /// It could not be stat'ed (any other error, or a path holding a NUL byte): the
    /// caller's own probe reports it.
    Unknown,
}

impl Found {
    /// What is at `rel` relative to `dir`, an open handle on a folder (following symlinks;
    /// an absolute `rel` is stat'ed as it is).
    pub fn at(dir: &fs::File, rel: &str) -> Found {
        match rustix::fs::statat(dir, rel, rustix::fs::AtFlags::empty()) {
            Ok(st) if rustix::fs::FileType::from_raw_mode(st.st_mode).is_dir() => Found::Folder,
            Ok(st) => Found::File(FileStamp::of_stat(&st)),
            Err(rustix::io::Errno::NOENT | rustix::io::Errno::NOTDIR) => Found::Missing,
            Err(_) => Found::Unknown,
        }
    }
}

/// Now, in ns since the Unix epoch (wall clock).
pub fn now_ns() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
}

/// A cursor over little-endian bytes; every read is `None` past the end.
pub struct Reader<'a>(pub &'a [u8]);

impl<'a> Reader<'a> {
    /// The next `n` bytes.
    pub fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let (head, tail) = self.0.split_at_checked(n)?;
        self.0 = tail;
        Some(head)
    }

    /// A `u32`.
    pub fn u32(&mut self) -> Option<u32> {
        Some(u32::from_le_bytes(self.take(4)?.try_into().ok()?))
    }

    /// A `u64`.
    pub fn u64(&mut self) -> Option<u64> {
        Some(u64::from_le_bytes(self.take(8)?.try_into().ok()?))
    }

    /// An `i64`.
    pub fn i64(&mut self) -> Option<i64> {
        Some(i64::from_le_bytes(self.take(8)?.try_into().ok()?))
    }

    /// A `u32` length, then that many bytes.
    pub fn bytes(&mut self) -> Option<&'a [u8]> {
        let n = self.u32()? as usize;
        self.take(n)
    }

    /// [`Reader::bytes`] as UTF-8.
    pub fn str(&mut self) -> Option<&'a str> {
        std::str::from_utf8(self.bytes()?).ok()
    }

    /// Whether every byte was read.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// Appends the checksum of everything in `out` to it: the end of a sealed state file (read
/// back with [`Reader::open_sealed`]). Layout: `magic`, body, `u64` CRC-64/NVME of both,
/// little-endian. A CRC, not a cryptographic hash: it catches a torn or damaged file, which
/// is all a state file needs (whoever can write `.runner/` can write anything there), and
/// it costs a few percent of a SHA-256 on the memo's and stat cache's hundreds of KiB read
/// and written by every build.
pub fn seal(out: &mut Vec<u8>) {
    let sum = crc_fast::checksum(crc_fast::CrcAlgorithm::Crc64Nvme, out);
    out.extend_from_slice(&sum.to_le_bytes());
}

impl<'a> Reader<'a> {
    /// A reader over the body of a file written as `magic`, body, then [`seal`]: `None` when
    /// the checksum does not match (torn, damaged) or the magic differs (another format or
    /// version).
    pub fn open_sealed(bytes: &'a [u8], magic: &[u8; 8]) -> Option<Reader<'a>> {
        let (body, sum) = bytes.split_at_checked(bytes.len().checked_sub(8)?)?;
        let want = crc_fast::checksum(crc_fast::CrcAlgorithm::Crc64Nvme, body);
        if want.to_le_bytes() != sum {
            return None;
        }
        let mut r = Reader(body);
        (r.take(8)? == magic).then_some(r)
    }
}

/// Appends `b` with a `u32` length before it (read back with [`Reader::bytes`]).
pub fn put_bytes(out: &mut Vec<u8>, b: &[u8]) {
    out.extend_from_slice(&(b.len() as u32).to_le_bytes());
    out.extend_from_slice(b);
}

/// Stamps many files below one folder cheaply: each file is named by a path relative to the
/// folder, and is stat'ed relative to an open handle on its grandparent folder (`fstatat`),
/// so the kernel walks two path components per file instead of the whole absolute path.
/// Suits content-addressed layouts (`cache/cas/ab/abcd…`), where a few grandparents hold
/// every file.
pub struct StampReader {
    root: std::path::PathBuf,
    dirs: std::collections::HashMap<String, Option<fs::File>>,
}

impl StampReader {
    /// A reader for paths relative to `root`.
    pub fn new(root: &Path) -> StampReader {
        StampReader { root: root.to_path_buf(), dirs: std::collections::HashMap::new() }
    }

    /// The stamp of `root/rel` (following symlinks); `None` when nothing is there or it
    /// cannot be stat'ed.
    pub fn read(&mut self, rel: &str) -> Option<FileStamp> {
        let split = rel.rfind('/').and_then(|i| rel[..i].rfind('/'));
        let Some(at) = split else {
            return FileStamp::read(&self.root.join(rel)).ok().flatten();
        };
        let (dir, rest) = (&rel[..at], &rel[at + 1..]);
        if !self.dirs.contains_key(dir) {
            let handle = fs::File::open(self.root.join(dir)).ok();
            self.dirs.insert(dir.to_owned(), handle);
        }
        let handle = self.dirs.get(dir)?.as_ref()?;
        let st = rustix::fs::statat(handle, rest, rustix::fs::AtFlags::empty()).ok()?;
        Some(FileStamp::of_stat(&st))
    }
}

impl FileStamp {
    /// The stamp of what `fstatat`/`stat` returned.
    pub(crate) fn of_stat(st: &rustix::fs::Stat) -> FileStamp {
        let ns = |s: i64, n: i64| s.saturating_mul(1_000_000_000).saturating_add(n);
        #[allow(clippy::useless_conversion, clippy::unnecessary_cast)]
        FileStamp {
            dev: st.st_dev as u64,
            ino: st.st_ino as u64,
            size: st.st_size as u64,
            mtime_ns: ns(st.st_mtime as i64, st.st_mtime_nsec as i64),
            ctime_ns: ns(st.st_ctime as i64, st.st_ctime_nsec as i64),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn found_at_agrees_with_read() {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir(dir.path().join("d")).unwrap();
        fs::write(dir.path().join("d/f"), "x").unwrap();
        let handle = fs::File::open(dir.path()).unwrap();
        let want = FileStamp::read(&dir.path().join("d/f")).unwrap().unwrap();
        assert_eq!(Found::at(&handle, "d/f"), Found::File(want));
        assert_eq!(Found::at(&handle, "d"), Found::Folder);
        assert_eq!(Found::at(&handle, "."), Found::Folder);
        assert_eq!(Found::at(&handle, "nope"), Found::Missing);
        assert_eq!(Found::at(&handle, "d/f/g"), Found::Missing);
        assert_eq!(Found::at(&handle, "d\0f"), Found::Unknown);
    }

    #[test]
    fn stamp_reader_agrees_with_stat() {
        let dir = tempfile::tempdir().unwrap();
        let shard = dir.path().join("cas/ab");
        fs::create_dir_all(&shard).unwrap();
        fs::write(shard.join("abcd"), "x").unwrap();
        fs::write(dir.path().join("top"), "y").unwrap();
        let mut r = StampReader::new(dir.path());
        for rel in ["cas/ab/abcd", "top", "cas/ab"] {
            let want = FileStamp::read(&dir.path().join(rel)).unwrap();
            assert!(want.is_some());
            assert_eq!(r.read(rel), want, "{rel}");
        }
        assert_eq!(r.read("cas/ab/missing"), None);
        assert_eq!(r.read("nope/ab/x"), None);
        assert_eq!(r.read("missing"), None);
    }

    #[test]
    fn encode_decode() {
        let s = FileStamp { dev: 1, ino: 2, size: 3, mtime_ns: -4, ctime_ns: 5 };
        let mut out = Vec::new();
        s.encode(&mut out);
        put_bytes(&mut out, b"tail");
        let mut r = Reader(&out);
        assert_eq!(FileStamp::decode(&mut r), Some(s));
        assert_eq!(r.str(), Some("tail"));
        assert!(r.is_empty());
        assert_eq!(r.u32(), None);
    }
}
