//! Which output an output view holds, recorded on the view itself.
//!
//! An output view (`.runner/outputs/STEP.OUTPUT/`) is a folder for people; the runner only
//! needs to know which manifest it was laid out from, to leave a view that is already right
//! alone. That digest is kept as an extended attribute of the view folder,
//! `user.runner.digest` (its 32 raw bytes): it travels with the folder when it is renamed
//! into place and disappears with it, and costs no file of its own. On a filesystem without
//! user extended attributes it is kept in a sibling file `STEP.OUTPUT.digest` (64 hex characters)
//! instead. Neither is trusted for anything but skipping a copy: views are never read back.
//! The attribute is read and written on the view itself, never through a symlink: a view
//! that turned into a symlink to a folder elsewhere gets its sibling file instead (Linux
//! keeps no user attributes on symlinks), and what the symlink names is left alone.

use std::path::{Path, PathBuf};

use crate::Digest;

const NAME: &str = "user.runner.digest";

/// Records that `view` holds the output with manifest digest `d`. Best effort: a failure
/// only means the view is laid out again next time.
pub fn set_view_digest(view: &Path, d: &Digest) {
    let flags = rustix::fs::XattrFlags::empty();
    match rustix::fs::lsetxattr(view, NAME, &d.0, flags) {
        Ok(()) => {
            let _ = std::fs::remove_file(sibling(view));
        }
        Err(_) => {
            let _ = crate::write_replace(&sibling(view), d.to_hex().as_bytes());
        }
    }
}

/// The manifest digest `view` was recorded to hold by [`set_view_digest`], if any.
pub fn view_digest(view: &Path) -> Option<Digest> {
    let mut raw = [0u8; 32];
    match rustix::fs::lgetxattr(view, NAME, &mut raw[..]) {
        Ok(32) => return Some(Digest(raw)),
        Ok(_) => return None,
        // Not set, or no extended attributes here: the sibling file may say.
        Err(_) => {}
    }
    if !view.exists() {
        return None;
    }
    std::fs::read_to_string(sibling(view)).ok()?.trim().parse().ok()
}

/// Forgets what `view` holds (before it is replaced).
pub fn clear_view_digest(view: &Path) {
    let _ = rustix::fs::lremovexattr(view, NAME);
    let _ = std::fs::remove_file(sibling(view));
}

fn sibling(view: &Path) -> PathBuf {
    let mut name = view.file_name().unwrap_or_default().to_os_string();
    name.push(".digest");
    view.with_file_name(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_digest_travels_with_the_view() {
        let dir = tempfile::tempdir().unwrap();
        let (tmp, view) = (dir.path().join(".o.run1"), dir.path().join("o"));
        std::fs::create_dir(&tmp).unwrap();
        assert_eq!(view_digest(&tmp), None);
        let d = Digest::of_bytes(b"manifest");
        set_view_digest(&tmp, &d);
        std::fs::rename(&tmp, &view).unwrap();
        assert_eq!(view_digest(&view), Some(d));
        clear_view_digest(&view);
        assert_eq!(view_digest(&view), None);
        set_view_digest(&view, &d);
        std::fs::remove_dir(&view).unwrap();
        assert_eq!(view_digest(&view), None);
    }

    /// A view that is a symlink to a folder elsewhere: that folder's attributes are neither
    /// read, written nor removed.
    #[test]
    fn a_symlinked_view_is_not_followed() {
        let dir = tempfile::tempdir().unwrap();
        let (elsewhere, view) = (dir.path().join("elsewhere"), dir.path().join("o"));
        std::fs::create_dir(&elsewhere).unwrap();
        let d = Digest::of_bytes(b"manifest");
        set_view_digest(&elsewhere, &d);
        if view_digest(&elsewhere) != Some(d) || !has_xattr(&elsewhere) {
            return; // no user extended attributes on this filesystem: nothing to follow
        }
        std::os::unix::fs::symlink(&elsewhere, &view).unwrap();
        assert_eq!(rustix::fs::lgetxattr(&view, NAME, &mut [0u8; 32][..]).ok(), None);
        clear_view_digest(&view);
        assert!(has_xattr(&elsewhere), "clearing the symlink left the folder it names alone");
        set_view_digest(&view, &Digest::of_bytes(b"other"));
        let mut raw = [0u8; 32];
        rustix::fs::getxattr(&elsewhere, NAME, &mut raw[..]).unwrap();
        assert_eq!(raw, d.0, "setting it on the symlink did not write the folder it names");
    }

    fn has_xattr(p: &Path) -> bool {
        rustix::fs::getxattr(p, NAME, &mut [0u8; 32][..]).is_ok()
    }
}
