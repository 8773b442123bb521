//! A 100,000-layer model, written by the command in at most 200 MiB.

use std::process::Command;

/// `nninit init --arch mlp` with 100,001 sizes of 8 (100,000 Linear layers, 200,000 tensors, a
/// 59 MB checkpoint): the peak resident memory of the process, as the kernel counts it.
#[test]
fn a_100000_layer_mlp_is_written_in_at_most_200_mib() {
    let dir = tempfile::tempdir().unwrap();
    // One argument may hold 128 KiB: the sizes go in ten lists.
    let mut args = vec!["init".to_string(), "--arch".into(), "mlp".into()];
    let list = |n: usize| vec!["8"; n].join(",");
    args.extend(["--dims".to_string(), list(10_001)]);
    for _ in 0..9 {
        args.extend(["--dims".to_string(), list(10_000)]);
    }
    args.extend(["-o".to_string(), "deep.safetensors".into()]);
    let out = Command::new(env!("CARGO_BIN_EXE_nninit")).args(&args).current_dir(dir.path()).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("tensors     200000"), "{stdout}");
    assert_eq!(std::fs::metadata(dir.path().join("deep.safetensors")).unwrap().len(), 59_124_120);
    // SAFETY: getrusage writes the struct it is given.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    assert_eq!(unsafe { libc::getrusage(libc::RUSAGE_CHILDREN, &mut usage) }, 0);
    let peak_kib = usage.ru_maxrss as u64;
    eprintln!("peak RSS {peak_kib} KiB");
    assert!(peak_kib <= 200 * 1024, "peak RSS {peak_kib} KiB");
}
