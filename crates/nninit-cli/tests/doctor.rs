//! `nninit check`, `report`, `probe`, `lsuv` and the `init` summary, end to end.

use std::path::Path;
use std::process::{Command, Output};

fn nninit(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_nninit")).current_dir(dir).args(args).output().unwrap()
}

fn text(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned() + &String::from_utf8_lossy(&o.stderr)
}

#[test]
fn init_prints_a_summary_and_the_table_with_verbose() {
    let dir = tempfile::tempdir().unwrap();
    let out = nninit(dir.path(), &["init", "--dtype", "bf16"]);
    assert!(out.status.success(), "{}", text(&out));
    let t = text(&out);
    for line in [
        "wrote model.safetensors",
        "tensors     6",
        "parameters  235,146",
        "dtype       bf16",
        "rng         torch, seed 0",
        "plan        preset seed",
    ] {
        assert!(t.contains(line), "missing `{line}` in\n{t}");
    }
    assert!(!t.contains("expected_std"), "{t}");
    let out = nninit(
        dir.path(),
        &["init", "--arch", "mlp", "--dims", "8,4", "--preset", "torch", "-o", "t.safetensors", "-v"],
    );
    let t = text(&out);
    assert!(t.contains("default: kaiming_uniform_(a=√5, mode='fan_in', nonlinearity='leaky_relu')"), "{t}");
}

#[test]
fn check_passes_a_correct_checkpoint_and_fails_a_mislabelled_one() {
    let dir = tempfile::tempdir().unwrap();
    assert!(nninit(dir.path(), &["init", "--arch", "mlp", "--dims", "256,256,10", "-o", "m.safetensors"])
        .status
        .success());
    let out = nninit(dir.path(), &["check", "m.safetensors"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("4 tensors: 4 pass, 0 fail, 0 unchecked"), "{}", text(&out));
    // The seed preset draws xavier_normal_: a plan saying xavier_uniform_ finds normal values.
    std::fs::write(
        dir.path().join("p.toml"),
        "[[rule]]\nlayer = \"Linear\"\nrole = \"weight\"\ninit = \"xavier_uniform_()\"\n",
    )
    .unwrap();
    let out = nninit(dir.path(), &["check", "m.safetensors", "--plan", "p.toml"]);
    assert!(!out.status.success());
    let t = text(&out);
    assert!(t.contains("normal values where a uniform law was meant"), "{t}");
    assert!(t.contains("tensors failed the check"), "{t}");
    let out = nninit(dir.path(), &["check", "m.safetensors", "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v.as_array().unwrap().len(), 4);
    assert_eq!(v[0]["status"], "pass");
    // Bad input: one line, non-zero.
    std::fs::write(dir.path().join("bad.safetensors"), b"nope").unwrap();
    let out = nninit(dir.path(), &["check", "bad.safetensors"]);
    assert!(!out.status.success() && text(&out).contains("bad.safetensors"), "{}", text(&out));
}

#[test]
fn report_writes_one_self_contained_page() {
    let dir = tempfile::tempdir().unwrap();
    assert!(nninit(dir.path(), &["init", "--arch", "mlp", "--dims", "32,16,4", "-o", "m.safetensors"])
        .status
        .success());
    let out =
        nninit(dir.path(), &["report", "m.safetensors", "-o", "r.html", "--probe-depth", "4", "--probe-width", "16"]);
    assert!(out.status.success(), "{}", text(&out));
    let html = std::fs::read_to_string(dir.path().join("r.html")).unwrap();
    assert_eq!(html.matches("<section class=\"t ").count(), 4);
    assert!(html.contains("<svg") && html.contains("id=\"data\""));
    assert!(!html.contains("src=") && !html.contains("href="));
    // Nothing written on failure.
    let out = nninit(dir.path(), &["report", "missing.safetensors", "-o", "x.html"]);
    assert!(!out.status.success());
    assert!(!dir.path().join("x.html").exists());
}

#[test]
fn probe_prints_curves_and_plots() {
    let dir = tempfile::tempdir().unwrap();
    let out = nninit(
        dir.path(),
        &[
            "probe",
            "--depth",
            "6",
            "--width",
            "32",
            "--batch",
            "16",
            "--activation",
            "tanh",
            "--plot",
            "p.svg",
            "--plot",
            "p.png",
        ],
    );
    assert!(out.status.success(), "{}", text(&out));
    let t = text(&out);
    assert!(
        t.contains("standard act") && t.contains("kaiming grad") && t.contains("standard: kaiming_uniform_(a=√5"),
        "{t}"
    );
    assert!(dir.path().join("p.svg").exists() && dir.path().join("p.png").exists());
    let out =
        nninit(dir.path(), &["probe", "--depth", "3", "--width", "8", "--json", "--scheme", "lecun=lecun_normal_()"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["curves"][0]["scheme"], "lecun");
    assert_eq!(v["curves"][0]["layers"].as_array().unwrap().len(), 3);
    let out = nninit(dir.path(), &["probe", "--activation", "swish"]);
    assert!(!out.status.success() && text(&out).contains("unknown activation `swish`"));
}

#[test]
fn lsuv_writes_a_checkpoint_that_checks() {
    let dir = tempfile::tempdir().unwrap();
    let out = nninit(
        dir.path(),
        &["lsuv", "--arch", "mlp", "--dims", "64,128,128,10", "--tol", "0.05", "-o", "l.safetensors", "--json"],
    );
    assert!(out.status.success(), "{}", text(&out));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    for l in report.as_array().unwrap() {
        assert_eq!(l["converged"], true, "{l}");
        assert!((l["variance"].as_f64().unwrap() - 1.0).abs() <= 0.05);
    }
    // The written weights are orthogonal_(gain=scale): `check` agrees.
    let out = nninit(dir.path(), &["check", "l.safetensors"]);
    assert!(out.status.success(), "{}", text(&out));
    let out = nninit(dir.path(), &["lsuv", "--arch", "resnet18", "-o", "r.safetensors"]);
    assert!(!out.status.success() && text(&out).contains("LSUV handles MLPs"), "{}", text(&out));
    assert!(!dir.path().join("r.safetensors").exists());
}

/// `constant_(inf)` is valid in PyTorch: its checkpoint passes, in every dtype and for either
/// sign, and one holding the other infinity fails, counting the wrong values.
#[test]
fn check_passes_an_infinite_constant_and_fails_the_other_infinity() {
    let dir = tempfile::tempdir().unwrap();
    for (val, dtype) in [("1e400", "f32"), ("1e400", "f16"), ("-1e400", "bf16"), ("-1e400", "f64")] {
        let init = format!("constant_({val})");
        let args = ["tensor", "--shape", "3,3", "--init", &init, "--dtype", dtype, "-o", "c.safetensors", "--force"];
        let out = nninit(dir.path(), &args);
        assert!(out.status.success(), "{}", text(&out));
        let out = nninit(dir.path(), &["check", "c.safetensors"]);
        assert!(out.status.success(), "{init} {dtype}: {}", text(&out));
    }
    let args = ["tensor", "--shape", "3,3", "--init", "constant_(1e400)", "-o", "flip.safetensors"];
    assert!(nninit(dir.path(), &args).status.success());
    let path = dir.path().join("flip.safetensors");
    let mut bytes = std::fs::read(&path).unwrap();
    let data = bytes.len() - 9 * 4;
    for k in 0..9 {
        bytes[data + 4 * k..data + 4 * k + 4].copy_from_slice(&f32::NEG_INFINITY.to_le_bytes());
    }
    std::fs::write(&path, bytes).unwrap();
    let out = nninit(dir.path(), &["check", "flip.safetensors"]);
    assert!(!out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("9 of 9 values are not inf"), "{}", text(&out));
}
