//! Crash safety of `nninit init`, for real: a SIGKILL in the middle of a large write, a full file
//! system, and an output directory removed mid-write. In every case an existing output stays
//! byte-identical and no partial checkpoint takes its name.

use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

fn nninit(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_nninit")).args(args).current_dir(dir).output().unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// A Llama config of about 66 M parameters (a 265 MB f32 checkpoint).
const BIG: &str = r#"{"model_type": "llama", "vocab_size": 32000, "hidden_size": 512, "intermediate_size": 2048,
    "num_hidden_layers": 8, "num_attention_heads": 8}"#;

/// Names of the writer's temporary files in `dir`.
fn temporaries(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .map(|d| d.flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect())
        .unwrap_or_default();
    v.retain(|n| n.starts_with(".nninit-") && n.ends_with(".tmp"));
    v
}

/// Starts `nninit init` writing the big model to `out` (in `dir`, from `cwd`), one thread so the
/// write takes a while, and waits until its temporary file exists in `dir`.
fn start_big_write(cwd: &Path, dir: &Path, out: &str) -> Child {
    let child = Command::new(env!("CARGO_BIN_EXE_nninit"))
        .args(["init", "--config", "big.json", "--threads", "1", "--force", "-o", out])
        .current_dir(cwd)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    while temporaries(dir).is_empty() && started.elapsed() < Duration::from_secs(60) {
        std::thread::sleep(Duration::from_millis(2));
    }
    assert!(!temporaries(dir).is_empty(), "no temporary file appeared");
    child
}

/// SIGKILL mid-write: the previous output is byte-identical, no other checkpoint appears, and
/// the one thing left (the writer's locked temporary file, `.nninit-XXXXXX.tmp`) is removed by
/// the next checkpoint written to that directory.
#[test]
fn sigkill_mid_write_keeps_the_previous_output() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("big.json"), BIG).unwrap();
    let previous = nninit(dir.path(), &["init", "--dims", "8,4", "-o", "model.safetensors"]);
    assert!(previous.status.success(), "{}", stderr(&previous));
    let before = std::fs::read(dir.path().join("model.safetensors")).unwrap();
    let mut killed = false;
    for _ in 0..5 {
        let mut child = start_big_write(dir.path(), dir.path(), "model.safetensors");
        std::thread::sleep(Duration::from_millis(100));
        child.kill().unwrap(); // SIGKILL
        let status = child.wait().unwrap();
        if status.success() {
            // Finished before the signal: put the previous output back and try again.
            std::fs::write(dir.path().join("model.safetensors"), &before).unwrap();
            continue;
        }
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(status.signal(), Some(9));
        killed = true;
        break;
    }
    assert!(killed, "every write finished before it could be killed");
    assert_eq!(std::fs::read(dir.path().join("model.safetensors")).unwrap(), before, "previous output changed");
    let mut names: Vec<String> =
        std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    names.sort();
    let stale = temporaries(dir.path());
    assert_eq!(stale.len(), 1, "{names:?}");
    assert_eq!(names, [stale[0].as_str(), "big.json", "model.safetensors"], "a stray file");
    // The next write in the directory removes the dead writer's temporary file.
    let next = nninit(dir.path(), &["init", "--dims", "8,4", "-o", "other.safetensors"]);
    assert!(next.status.success(), "{}", stderr(&next));
    assert!(temporaries(dir.path()).is_empty(), "{:?}", temporaries(dir.path()));
    assert_eq!(std::fs::read(dir.path().join("model.safetensors")).unwrap(), before);
}

/// A writer that is alive keeps its temporary file: another run in the same directory does not
/// take it (the lock is held), and the first write completes.
#[test]
fn a_running_write_keeps_its_temporary_file() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("big.json"), BIG).unwrap();
    let child = start_big_write(dir.path(), dir.path(), "big.safetensors");
    let small = nninit(dir.path(), &["init", "--dims", "8,4", "-o", "small.safetensors"]);
    assert!(small.status.success(), "{}", stderr(&small));
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let bytes = std::fs::read(dir.path().join("big.safetensors")).unwrap();
    assert!(safetensors::SafeTensors::deserialize(&bytes).is_ok());
    assert!(temporaries(dir.path()).is_empty());
}

/// The output directory removed mid-write: a clear error naming it, exit 1, nothing left.
#[test]
fn an_output_directory_removed_mid_write_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("big.json"), BIG).unwrap();
    let sub = dir.path().join("out");
    for attempt in 0..5 {
        std::fs::create_dir(&sub).unwrap();
        let child = start_big_write(dir.path(), &sub, "out/big.safetensors");
        std::fs::remove_dir_all(&sub).unwrap();
        let out = child.wait_with_output().unwrap();
        if out.status.success() {
            // Finished before the directory went: try again.
            std::fs::remove_dir_all(&sub).unwrap();
            assert!(attempt < 4, "every write finished before its directory was removed");
            continue;
        }
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{err}");
        assert_eq!(err.trim_end().lines().count(), 1, "{err}");
        assert!(err.contains("output directory out was removed or replaced while out/big.safetensors"), "{err}");
        assert!(!sub.exists());
        break;
    }
}

/// A small tmpfs mounted for the test (root only), unmounted when dropped.
struct Tmpfs(tempfile::TempDir);

impl Tmpfs {
    fn mount(size: &str) -> Option<Tmpfs> {
        let dir = tempfile::tempdir().unwrap();
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        ok.then_some(Tmpfs(dir))
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(self.0.path()).status();
    }
}

/// A full file system: the error comes at once, names the bytes needed and available, and
/// leaves no file (not even a temporary one); an existing output is untouched. Needs root to
/// mount a 1 MiB tmpfs (CI runs as root); elsewhere the test says so and passes.
#[test]
fn a_full_file_system_is_reported_before_writing() {
    let Some(fs) = Tmpfs::mount("1m") else {
        eprintln!("skipped: cannot mount a tmpfs here (needs root)");
        return;
    };
    let dir = fs.0.path();
    // 512 × 1024 f32 = 2 MiB: more than the file system holds.
    let started = Instant::now();
    let out = nninit(dir, &["init", "--dims", "1024,512", "-o", "big.safetensors"]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    let needed = 8 + 2 * 1024 * 1024; // at least the data and the header length
    assert!(err.contains("not enough free space to write big.safetensors: it needs "), "{err}");
    let n: u64 = err.split("it needs ").nth(1).unwrap().split(' ').next().unwrap().parse().unwrap();
    assert!(n > needed as u64, "{err}");
    assert!(err.contains(". has 1048576 bytes (1.0 MB) available"), "{err}");
    assert!(started.elapsed() < Duration::from_secs(30));
    assert_eq!(std::fs::read_dir(dir).unwrap().count(), 0, "a file was left");

    // A file that fits is written; replacing it with one that does not fit keeps it.
    let small = nninit(dir, &["init", "--dims", "64,32", "-o", "model.safetensors"]);
    assert!(small.status.success(), "{}", stderr(&small));
    let before = std::fs::read(dir.join("model.safetensors")).unwrap();
    let out = nninit(dir, &["init", "--dims", "1024,512", "--force", "-o", "model.safetensors"]);
    assert!(stderr(&out).contains("not enough free space"), "{}", stderr(&out));
    assert_eq!(std::fs::read(dir.join("model.safetensors")).unwrap(), before);
    assert_eq!(std::fs::read_dir(dir).unwrap().count(), 1);
}

/// A checkpoint that fits is written in full; once it takes the space, the next one is refused
/// before anything is written.
#[test]
fn free_space_counts_what_earlier_files_took() {
    let Some(fs) = Tmpfs::mount("4m") else {
        eprintln!("skipped: cannot mount a tmpfs here (needs root)");
        return;
    };
    let dir = fs.0.path();
    let free = nninit::io::available_bytes(dir).unwrap();
    // A file whose data needs ~3 MiB fits the 4 MiB file system and is written in full.
    let out = nninit(dir, &["init", "--dims", "768,1024", "-o", "a.safetensors"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let len = std::fs::metadata(dir.join("a.safetensors")).unwrap().len();
    assert!(len > 3 * 1024 * 1024 && len < free, "{len} {free}");
    // A second one no longer fits.
    let out = nninit(dir, &["init", "--dims", "768,1024", "-o", "b.safetensors"]);
    assert!(stderr(&out).contains("not enough free space to write b.safetensors"), "{}", stderr(&out));
    assert_eq!(std::fs::read_dir(dir).unwrap().count(), 1);
}
