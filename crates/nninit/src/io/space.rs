//! Free space, checked before a file is written and reserved when it is created, so a full
//! disk is reported at once (naming the bytes needed and available) instead of minutes into a
//! write.

use std::fs::File;
use std::path::Path;

use crate::error::{Error, Result};

/// Bytes available to this user on the file system holding `dir` (`statvfs`: `f_bavail ·
/// f_frsize`).
///
/// ```
/// let free = nninit::io::available_bytes(&std::env::temp_dir())?;
/// assert!(free > 0);
/// # Ok::<(), nninit::Error>(())
/// ```
///
/// # Errors
/// `statvfs` fails (`dir` does not exist, ...).
pub fn available_bytes(dir: &Path) -> Result<u64> {
    Ok(space(dir)?.available)
}

/// The size and the free space of the file system holding `dir`.
struct Space {
    /// Blocks in all (0: a file system without storage, such as procfs).
    blocks: u64,
    /// Bytes available to this user.
    available: u64,
}

fn space(dir: &Path) -> Result<Space> {
    let st = rustix::fs::statvfs(dir).map_err(|e| Error::io(dir, e.into()))?;
    Ok(Space { blocks: st.f_blocks, available: st.f_bavail.saturating_mul(st.f_frsize) })
}

/// Fails with [`Error::NoSpace`] unless the file system of `dir` has `needed` bytes available
/// for `path` (replacing an existing file frees its space only once the new one is complete, so
/// it is not counted).
///
/// # Errors
/// [`Error::NoSpace`]; a file system without storage (procfs, sysfs: no blocks at all);
/// `statvfs` failing.
pub fn check_free_space(path: &Path, dir: &Path, needed: u64) -> Result<()> {
    let Space { blocks, available } = space(dir)?;
    if blocks == 0 && available < needed {
        // procfs, sysfs and the like: no storage at all, not a full disk.
        return Err(Error::value(format!(
            "cannot write {}: {} is on a file system without storage (such as /proc or /sys)",
            path.display(),
            dir.display()
        )));
    }
    if available < needed {
        return Err(no_space(path, dir, needed, available));
    }
    Ok(())
}

/// Sizes `file` (for `path`, in `dir`) to `len` bytes and reserves its blocks (`fallocate`), so
/// the writes that follow cannot run out of space. Where the file system cannot reserve
/// (`EOPNOTSUPP`), the file is only sized.
///
/// # Errors
/// [`Error::NoSpace`] when the blocks cannot be reserved; other I/O errors (a file size limit).
pub fn reserve(file: &File, path: &Path, dir: &Path, len: u64) -> Result<()> {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    {
        use rustix::io::Errno;
        match rustix::fs::fallocate(file, rustix::fs::FallocateFlags::empty(), 0, len) {
            Ok(()) => return Ok(()),
            Err(Errno::OPNOTSUPP | Errno::NOSYS) => {}
            Err(e) => return Err(reserve_error(e.into(), path, dir, len)),
        }
    }
    file.set_len(len).map_err(|e| reserve_error(e, path, dir, len))
}

/// Sizes `file` (for `path`, in `dir`) to `len` bytes, reserving its blocks ([`reserve`]) on
/// file systems backed by disk. On tmpfs the file is only sized: its `fallocate` allocates every
/// page in one pass under the file's lock before anything can be written (about a third of a
/// TinyLlama checkpoint's time on 2 cores), while pages allocated by the writes themselves
/// overlap with generating the next values; [`check_free_space`] has already compared the size
/// with the free space, and a write that still finds tmpfs full fails with [`Error::NoSpace`].
///
/// # Errors
/// As [`reserve`]; `fstatfs` failing.
pub fn size_for_writing(file: &File, path: &Path, dir: &Path, len: u64) -> Result<()> {
    if is_tmpfs(file).map_err(|e| Error::io(path, e.into()))? {
        return file.set_len(len).map_err(|e| reserve_error(e, path, dir, len));
    }
    reserve(file, path, dir, len)
}

/// Whether `file` lives on tmpfs (`fstatfs`'s `f_type` is `TMPFS_MAGIC`, 0x01021994, from
/// Linux's `include/uapi/linux/magic.h`).
fn is_tmpfs(file: &File) -> rustix::io::Result<bool> {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    {
        const TMPFS_MAGIC: u64 = 0x0102_1994;
        Ok(rustix::fs::fstatfs(file)?.f_type as u64 == TMPFS_MAGIC)
    }
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    {
        let _ = file;
        Ok(false)
    }
}

/// An error reserving `len` bytes, said plainly when the disk is full.
fn reserve_error(e: std::io::Error, path: &Path, dir: &Path, len: u64) -> Error {
    if is_full(&e) {
        return no_space(path, dir, len, available_bytes(dir).unwrap_or(0));
    }
    Error::io(path, e)
}

/// Whether an I/O error means the disk (or the user's quota) is full.
pub(crate) fn is_full(e: &std::io::Error) -> bool {
    use rustix::io::Errno;
    e.raw_os_error().is_some_and(|c| [Errno::NOSPC, Errno::DQUOT].iter().any(|n| n.raw_os_error() == c))
}

/// [`Error::NoSpace`] for `path` in `dir`.
pub(crate) fn no_space(path: &Path, dir: &Path, needed: u64, available: u64) -> Error {
    Error::NoSpace { path: path.to_path_buf(), dir: dir.to_path_buf(), needed, available }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A small tmpfs mounted for a test (root only; `None` elsewhere), unmounted when dropped.
    struct Tmpfs(tempfile::TempDir);

    impl Tmpfs {
        fn mount(size: &str) -> Option<Tmpfs> {
            let dir = tempfile::tempdir().unwrap();
            let mounted = std::process::Command::new("mount")
                .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
                .arg(dir.path())
                .stderr(std::process::Stdio::null())
                .status()
                .is_ok_and(|s| s.success());
            mounted.then_some(Tmpfs(dir))
        }
    }

    impl Drop for Tmpfs {
        fn drop(&mut self) {
            let _ = std::process::Command::new("umount").arg(self.0.path()).status();
        }
    }

    /// On tmpfs the file is sized, not reserved: a checkpoint that fits when it is created but
    /// finds the file system full when written fails with [`Error::NoSpace`] and leaves nothing
    /// (needs root to mount the tmpfs; elsewhere the test says so and passes).
    #[test]
    fn a_tmpfs_filled_during_the_write_is_no_space_and_leaves_nothing() {
        use crate::io::{Layout, Overwrite, Writer};
        let Some(fs) = Tmpfs::mount("4m") else {
            eprintln!("skipped: cannot mount a tmpfs here (needs root)");
            return;
        };
        let dir = fs.0.path();
        let probe = File::create(dir.join("probe")).unwrap();
        assert!(is_tmpfs(&probe).unwrap());
        drop(probe);
        std::fs::remove_file(dir.join("probe")).unwrap();
        let layout = [Layout { name: "w".into(), dtype: safetensors::Dtype::F32, shape: vec![768, 1024] }];
        let path = dir.join("w.safetensors");
        let w = Writer::create(&path, &layout, &Default::default(), Overwrite::Refuse).unwrap();
        // Another file takes the space the checkpoint was going to use.
        std::fs::write(dir.join("other"), vec![1u8; 2 << 20]).unwrap();
        let chunk = vec![0u8; 1 << 20];
        let err = (0..3).try_for_each(|k| w.write_at(0, k << 20, &chunk)).unwrap_err();
        assert!(matches!(err, Error::NoSpace { needed, .. } if needed > 3 << 20), "{err:?}");
        drop(w);
        let left: Vec<_> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(left, ["other"]);
    }

    /// On a disk file system `fallocate` reserves the blocks (`/tmp` is tmpfs on some machines:
    /// then the file is only sized, which this checks too).
    #[test]
    fn sizing_for_writing_sets_the_length() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x");
        let file = File::create(&path).unwrap();
        size_for_writing(&file, &path, dir.path(), 12345).unwrap();
        assert_eq!(file.metadata().unwrap().len(), 12345);
    }

    /// Reserving more than a small tmpfs holds fails with [`Error::NoSpace`] at once (needs root
    /// to mount it; elsewhere the test says so and passes).
    #[test]
    fn reserving_more_than_the_file_system_holds_is_no_space() {
        let Some(fs) = Tmpfs::mount("1m") else {
            eprintln!("skipped: cannot mount a tmpfs here (needs root)");
            return;
        };
        let path = fs.0.path().join("x");
        let result = File::create(&path).map(|f| reserve(&f, &path, fs.0.path(), 4 << 20));
        let _ = std::fs::remove_file(&path);
        match result.unwrap() {
            Err(Error::NoSpace { needed, available, .. }) => assert!(needed == 4 << 20 && available <= 1 << 20),
            other => panic!("{other:?}"),
        }
    }
}
