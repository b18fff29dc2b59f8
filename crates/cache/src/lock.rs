//! Locks between runners that share a `.runner/`: one per step key being computed
//! ([`Cache::try_lock_key`]), and one around a folder's contents ([`FolderLock`]).
//!
//! **Key locks** let concurrent builds share work: a build about to run a step whose key
//! another build is computing waits for that one's result and reuses it, instead of running
//! the step a second time. All key locks are byte-range locks in one file, `keys.lock` under
//! the cache root, at an offset taken from the key's first bytes (one byte each, in a range
//! of 2^40 offsets, so two keys share a byte only by a vanishingly rare accident, and a
//! shared byte only makes one build wait needlessly). They are open file description locks
//! (`F_OFD_SETLK`, Linux 3.15; POSIX.1-2024): unlike classic `fcntl` locks they conflict
//! between two threads of one process (each lock opens the file anew), and unlike `flock`
//! they cover a range; the kernel drops them when the holder's file is closed, also when
//! the process dies, so a killed build never leaves a key locked. No file is created per
//! key. Where the filesystem has no such locks (`EINVAL`, `ENOLCK`: some network
//! filesystems), a key lock always succeeds and builds do not share work.
//!
//! **Folder locks** ([`FolderLock`]) serialise the changes of several processes to one
//! folder (the output views), with a generation number that tells a holder whether anyone
//! else changed the folder since its own last change.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::fd::AsRawFd as _;
use std::os::unix::fs::{FileExt as _, OpenOptionsExt as _};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use crate::{Cache, Digest};

/// A held key lock ([`Cache::try_lock_key`]); released when dropped.
#[derive(Debug)]
pub struct KeyLock {
    _file: File,
}

impl Cache {
    /// Takes the lock of step key `key` if no other holder (this process included) has it:
    /// `Ok(None)` when it is taken. Hold it while the step runs and until its action cache
    /// entry is committed; a build that finds it taken waits (polling this) and then looks
    /// the key up again.
    ///
    /// Errors: `keys.lock` cannot be opened or created.
    pub fn try_lock_key(&self, key: &Digest) -> io::Result<Option<KeyLock>> {
        let path = self.root().join("keys.lock");
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o644)
            .open(&path)?;
        let offset = key_offset(key);
        match lock_byte(&file, offset) {
            Ok(true) => Ok(Some(KeyLock { _file: file })),
            Ok(false) => Ok(None),
            Err(e) if matches!(e.raw_os_error(), Some(libc::EINVAL | libc::ENOLCK)) => {
                Ok(Some(KeyLock { _file: file }))
            }
            Err(e) => Err(e),
        }
    }
}

/// The byte of `keys.lock` that stands for `key`: one of 2^40 (a lock offset past a
/// filesystem's largest file size is refused, and ext4's is 16 TiB).
fn key_offset(key: &Digest) -> u64 {
    u64::from_le_bytes(key.0[..8].try_into().unwrap_or_default()) >> 24
}

/// Tries to write-lock byte `offset` of `file` with an open file description lock: `true`
/// when taken, `false` when another description holds a conflicting lock.
#[allow(unsafe_code)]
fn lock_byte(file: &File, offset: u64) -> io::Result<bool> {
    // SAFETY: `flock` is a plain C struct for which all-zero bytes are a valid value; the
    // fields that matter are set below, `l_pid` must be 0 for OFD locks.
    let mut fl: libc::flock = unsafe { std::mem::zeroed() };
    fl.l_type = libc::F_WRLCK as _;
    fl.l_whence = libc::SEEK_SET as _;
    fl.l_start = i64::try_from(offset).unwrap_or(i64::MAX) as _;
    fl.l_len = 1;
    // SAFETY: the descriptor is open for the duration of the call, and `fl` is a valid,
    // initialised `flock` that the kernel only reads (for F_OFD_SETLK).
    let rc = unsafe { libc::fcntl(file.as_raw_fd(), libc::F_OFD_SETLK, &fl) };
    if rc == 0 {
        return Ok(true);
    }
    let err = io::Error::last_os_error();
    match err.raw_os_error() {
        Some(libc::EAGAIN | libc::EACCES) => Ok(false),
        _ => Err(err),
    }
}

/// An exclusive lock on a folder's contents, shared by every process that changes them
/// through one lock file, with a generation number stored in it: each change made under the
/// lock ([`FolderGuard::changed`]) bumps it. A holder notes the generation each time it holds
/// the lock, so it can tell whether anyone else changed the folder between two of its holds
/// ([`FolderGuard::changed_by_others`], sticky until [`FolderGuard::seen`]). Each
/// [`FolderLock::lock`] opens the file anew (`flock` excludes open file descriptions, so this
/// also excludes threads of one process). Clones share what they noted.
#[derive(Debug, Clone)]
pub struct FolderLock {
    path: PathBuf,
    noted: Arc<Mutex<Noted>>,
}

/// What a [`FolderLock`]'s holder noted of the generation.
#[derive(Debug, Default)]
struct Noted {
    /// The generation when this holder last held the lock (after its own change, if any).
    last: Option<u64>,
    /// Someone else changed the folder since [`FolderGuard::seen`] (or the first hold).
    foreign: bool,
}

/// A held [`FolderLock`]; released when dropped.
#[derive(Debug)]
#[must_use = "the lock is released when the guard is dropped"]
pub struct FolderGuard {
    file: File,
    noted: Arc<Mutex<Noted>>,
}

impl FolderLock {
    /// A lock on the file `path` (created by the first [`FolderLock::lock`]).
    pub fn new(path: &Path) -> FolderLock {
        FolderLock { path: path.to_path_buf(), noted: Arc::default() }
    }

    /// Waits for the lock and takes it.
    ///
    /// Errors: the lock file cannot be opened or created; `flock` fails (not for contention:
    /// that waits).
    pub fn lock(&self) -> io::Result<FolderGuard> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o644)
            .open(&self.path)?;
        rustix::fs::flock(&file, rustix::fs::FlockOperation::LockExclusive)?;
        let now = generation(&file);
        let mut noted = self.noted.lock().unwrap_or_else(|e| e.into_inner());
        if noted.last.is_some_and(|g| g != now) {
            noted.foreign = true;
        }
        noted.last = Some(now);
        drop(noted);
        Ok(FolderGuard { file, noted: self.noted.clone() })
    }
}

fn generation(file: &File) -> u64 {
    let mut raw = [0u8; 8];
    match file.read_at(&mut raw, 0) {
        Ok(8) => u64::from_le_bytes(raw),
        _ => 0,
    }
}

impl FolderGuard {
    /// Whether another holder changed the folder between two holds of this lock's holder
    /// since its first hold or its last [`FolderGuard::seen`].
    pub fn changed_by_others(&self) -> bool {
        self.noted.lock().unwrap_or_else(|e| e.into_inner()).foreign
    }

    /// Records that this holder changed the folder (bumps the generation).
    pub fn changed(&self) {
        let next = generation(&self.file).wrapping_add(1);
        let _ = self.file.write_at(&next.to_le_bytes(), 0);
        self.noted.lock().unwrap_or_else(|e| e.into_inner()).last = Some(next);
    }

    /// Records that this holder has checked whatever others changed.
    pub fn seen(&self) {
        self.noted.lock().unwrap_or_else(|e| e.into_inner()).foreign = false;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_is_held_once_until_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::open(&dir.path().join("cache")).unwrap();
        let (k1, k2) = (Digest::of_bytes(b"one"), Digest::of_bytes(b"two"));
        let held = cache.try_lock_key(&k1).unwrap().expect("free");
        assert!(cache.try_lock_key(&k1).unwrap().is_none(), "a second holder, same process");
        let other = cache.try_lock_key(&k2).unwrap().expect("another key is free");
        drop(held);
        assert!(cache.try_lock_key(&k1).unwrap().is_some(), "released on drop");
        drop(other);
    }

    #[test]
    fn a_key_held_by_another_process_is_taken() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::open(&dir.path().join("cache")).unwrap();
        let key = Digest::of_bytes(b"shared");
        let offset = key_offset(&key);
        // `flock(1)` cannot take a byte range: python's fcntl can (F_OFD_SETLK is 37).
        let script = format!(
            "import fcntl,struct,sys,time\nf=open(sys.argv[1],'r+')\n\
             fcntl.fcntl(f,37,struct.pack('hhqqi',fcntl.F_WRLCK,0,{offset},1,0))\n\
             print('locked',flush=True)\ntime.sleep(30)\n"
        );
        let lock_path = dir.path().join("cache/keys.lock");
        std::fs::write(&lock_path, b"").unwrap();
        let mut child = std::process::Command::new("python3")
            .args(["-c", &script])
            .arg(&lock_path)
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        io::BufRead::read_line(&mut io::BufReader::new(child.stdout.take().unwrap()), &mut line)
            .unwrap();
        assert_eq!(line.trim(), "locked");
        assert!(cache.try_lock_key(&key).unwrap().is_none(), "held by the other process");
        child.kill().unwrap();
        child.wait().unwrap();
        assert!(cache.try_lock_key(&key).unwrap().is_some(), "freed when its holder died");
    }

    #[test]
    fn folder_lock_tells_a_holder_about_changes_by_others() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("views.lock");
        let (a, b) = (FolderLock::new(&path), FolderLock::new(&path));
        let g = a.lock().unwrap();
        assert!(!g.changed_by_others(), "a first lock");
        g.changed();
        drop(g);
        let g = a.lock().unwrap();
        assert!(!g.changed_by_others(), "only its own change");
        drop(g);
        let g = b.lock().unwrap();
        g.changed();
        drop(g);
        let g = a.lock().unwrap();
        assert!(g.changed_by_others(), "b changed it");
        g.seen();
        drop(g);
        assert!(!a.lock().unwrap().changed_by_others(), "seen since");
        b.lock().unwrap().changed();
        a.lock().unwrap().changed();
        assert!(a.lock().unwrap().changed_by_others(), "sticky, though a changed it since");
    }

    #[test]
    fn folder_lock_excludes_other_holders() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("views.lock");
        let (a, b) = (FolderLock::new(&path), FolderLock::new(&path));
        let g = a.lock().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        let waiter = std::thread::spawn(move || {
            let _g = b.lock().unwrap();
            tx.send(()).unwrap();
        });
        assert!(rx.recv_timeout(std::time::Duration::from_millis(200)).is_err(), "not excluded");
        drop(g);
        rx.recv_timeout(std::time::Duration::from_secs(5)).expect("taken once released");
        waiter.join().unwrap();
    }
}
