//! The temporary files checkpoints are written to: created next to the destination (so the
//! final rename is atomic), named `.nninit-XXXXXX.tmp`, and locked (`flock`) for as long as
//! their writer lives. A process killed outright (SIGKILL, a crash, the OOM killer) cannot
//! delete its temporary file, but its lock dies with it: the next checkpoint written to the same
//! directory removes every such file nobody holds.

use std::path::Path;

use crate::error::{Error, Result};

/// Name prefix and suffix of the temporary files.
pub(crate) const PREFIX: &str = ".nninit-";
pub(crate) const SUFFIX: &str = ".tmp";

/// Creates a locked temporary file in `dir`, after removing the temporary files of writers that
/// are gone ([`remove_stale`]).
///
/// # Errors
/// I/O errors creating or locking the file.
pub(crate) fn create(dir: &Path) -> Result<tempfile::NamedTempFile> {
    remove_stale(dir);
    for _ in 0..16 {
        let file =
            tempfile::Builder::new().prefix(PREFIX).suffix(SUFFIX).tempfile_in(dir).map_err(|e| Error::io(dir, e))?;
        // Locked, and still the file at its path: another process's cleanup may have taken it
        // between its creation and the lock (then try another name).
        if lock(file.as_file()) && same_file(file.as_file(), file.path()) {
            return Ok(file);
        }
    }
    Err(Error::value(format!("could not create a temporary file in {}", dir.display())))
}

/// Removes the `.nninit-*.tmp` files of `dir` whose writer is gone (nobody holds their lock).
/// Best effort: errors are ignored.
pub(crate) fn remove_stale(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if !(name.starts_with(PREFIX) && name.ends_with(SUFFIX)) {
            continue;
        }
        let path = entry.path();
        // Regular files only (never follow a symlink), and only with the lock in hand.
        let Ok(meta) = std::fs::symlink_metadata(&path) else { continue };
        if !meta.is_file() {
            continue;
        }
        if let Ok(file) = std::fs::File::open(&path) {
            if lock(&file) && same_file(&file, &path) {
                let _ = std::fs::remove_file(&path);
            }
        }
    }
}

/// Takes an exclusive `flock` on `file` without waiting; false if another holds it.
fn lock(file: &std::fs::File) -> bool {
    rustix::fs::flock(file, rustix::fs::FlockOperation::NonBlockingLockExclusive).is_ok()
}

/// Whether `path` names the open `file` (same device and inode).
pub(crate) fn same_file(file: &std::fs::File, path: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (file.metadata(), std::fs::symlink_metadata(path)) {
        (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
        _ => false,
    }
}
