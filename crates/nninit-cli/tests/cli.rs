//! End-to-end runs of the `nninit` binary: the default job, single tensors, stats, and bad input.

use std::path::Path;
use std::process::{Command, Output};

fn nninit(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_nninit")).args(args).current_dir(dir).output().unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn read(path: &Path) -> Vec<(String, safetensors::Dtype, Vec<usize>, Vec<u8>)> {
    let bytes = std::fs::read(path).unwrap();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let mut v: Vec<_> =
        st.tensors().into_iter().map(|(n, t)| (n, t.dtype(), t.shape().to_vec(), t.data().to_vec())).collect();
    v.sort_by(|a, b| a.0.cmp(&b.0));
    v
}

/// Runs `args` writing to `out.safetensors` (`stats` takes no output): it must fail with one
/// stderr line containing `want`, and leave no output file.
fn fails_cleanly(dir: &Path, args: &[&str], want: &str) {
    let mut all = args.to_vec();
    if args[0] != "stats" {
        all.extend(["-o", "out.safetensors"]);
    }
    let out = nninit(dir, &all);
    let err = stderr(&out);
    assert!(!out.status.success(), "{args:?} succeeded");
    assert!(err.contains(want), "{args:?}: {err}");
    assert_eq!(err.trim_end().lines().count(), 1, "{args:?}: {err}");
    assert!(!dir.join("out.safetensors").exists(), "{args:?} left a file");
}

fn f32s(bytes: &[u8]) -> Vec<f32> {
    bytes.chunks(4).map(|c| f32::from_le_bytes(c.try_into().unwrap())).collect()
}

#[test]
fn default_init_writes_the_seed_network() {
    let dir = tempfile::tempdir().unwrap();
    let out = nninit(dir.path(), &["init", "--verbose"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    for col in ["name", "shape", "dtype", "init", "fan_in", "fan_out", "expected_std", "mean", "std", "min", "max"] {
        assert!(text.lines().next().unwrap().contains(col), "missing column {col}");
    }
    assert!(
        text.contains("layer.0.weight  [256, 784]  f32    xavier_normal_(gain=1)  784     256      0.043853"),
        "{text}"
    );
    let tensors = read(&dir.path().join("model.safetensors"));
    let names: Vec<&str> = tensors.iter().map(|t| t.0.as_str()).collect();
    assert_eq!(
        names,
        ["layer.0.bias", "layer.0.weight", "layer.2.bias", "layer.2.weight", "layer.4.bias", "layer.4.weight"]
    );
    assert_eq!(tensors[1].2, [256, 784]);
    assert!(f32s(&tensors[0].3).iter().all(|&x| x == 0.0));
    // Same seed, same bytes; the existing file is kept without --force.
    let again = nninit(dir.path(), &["init"]);
    assert!(!again.status.success());
    assert!(stderr(&again).contains("exists (use --force to overwrite)"));
    let forced = nninit(dir.path(), &["init", "--force", "-o", "b.safetensors"]);
    assert!(forced.status.success());
    assert_eq!(read(&dir.path().join("b.safetensors")), tensors);
}

#[test]
fn tensor_command_matches_the_library() {
    let dir = tempfile::tempdir().unwrap();
    let out = nninit(
        dir.path(),
        &[
            "tensor",
            "--shape",
            "64,3,3,3",
            "--init",
            "kaiming_normal_(mode='fan_out', nonlinearity='relu')",
            "--seed",
            "0",
            "-o",
            "t.safetensors",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let t = read(&dir.path().join("t.safetensors"));
    assert_eq!(t[0].0, "tensor");
    assert_eq!(t[0].2, [64, 3, 3, 3]);
    let mut g = nninit::Generator::manual_seed(0);
    let mut want = nninit::Tensor::zeros(&[64, 3, 3, 3], nninit::DType::F32);
    "kaiming_normal_(mode='fan_out', nonlinearity='relu')"
        .parse::<nninit::init::Init>()
        .unwrap()
        .apply(want.view_mut().unwrap(), &mut g)
        .unwrap();
    assert_eq!(t[0].3, want.bytes());
    let bf = nninit(
        dir.path(),
        &["tensor", "--shape", "4", "--init", "uniform(-1, 1)", "--dtype", "bf16", "-o", "u.safetensors"],
    );
    assert!(bf.status.success(), "{}", stderr(&bf));
    assert_eq!(read(&dir.path().join("u.safetensors"))[0].1, safetensors::Dtype::BF16);
}

#[test]
fn stats_reports_every_tensor() {
    let dir = tempfile::tempdir().unwrap();
    assert!(nninit(dir.path(), &["init", "--arch", "mlp", "--dims", "8,4"]).status.success());
    let out = nninit(dir.path(), &["stats", "model.safetensors"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    // How the checkpoint was made (its metadata), then one row per tensor with its recorded init.
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        &lines[..5],
        [
            "format: pt",
            "nninit.plan: [[rule]]",
            "    layer = [\"Linear\"]",
            "    role = \"weight\"",
            "    init = \"xavier_normal_(gain=1.0)\""
        ],
        "{text}"
    );
    assert!(lines.contains(&"nninit.preset: seed") && lines.contains(&"nninit.rng: torch"), "{text}");
    assert!(lines.contains(&"nninit.seed: 0"), "{text}");
    let row = lines.iter().find(|l| l.starts_with("layer.0.weight")).unwrap();
    let cells: Vec<&str> = row.split_whitespace().collect();
    assert_eq!(&cells[..7], ["layer.0.weight", "[4,", "8]", "f32", "xavier_normal_(gain=1.0)", "8", "4"], "{text}");
    let bias = lines.iter().find(|l| l.starts_with("layer.0.bias")).unwrap();
    assert!(bias.contains(" zeros_() "), "{text}");
    assert_eq!(lines.iter().filter(|l| l.starts_with("layer.")).count(), 2);
    // `nninit tensor`'s file records its one init as `nninit.init`: the row shows it.
    let args = ["tensor", "--shape", "3,4", "--init", "normal_(std=0.5)", "-o", "t.safetensors"];
    assert!(nninit(dir.path(), &args).status.success());
    let text = stdout(&nninit(dir.path(), &["stats", "t.safetensors"]));
    let row = text.lines().find(|l| l.starts_with("tensor ")).unwrap();
    let cells: Vec<&str> = row.split_whitespace().collect();
    assert_eq!(&cells[..8], ["tensor", "[3,", "4]", "f32", "normal_(mean=0.0,", "std=0.5)", "4", "3"], "{text}");
}

#[test]
fn bad_input_fails_with_one_line_and_no_file() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("bad.safetensors"), b"\x10\x00\x00\x00\x00\x00\x00\x00{\"a\":1}        ").unwrap();
    std::fs::write(dir.path().join("badplan.toml"), "[[rule]]\ninit = 3\n[oops\n").unwrap();
    let gpt2 = concat!(env!("CARGO_MANIFEST_DIR"), "/../nninit/tests/data/gpt2-tiny.config.json");
    assert!(nninit(dir.path(), &["init", "--config", gpt2, "-o", "gpt2.safetensors"]).status.success());
    std::fs::write(dir.path().join("plan.toml"), "[[rule]]\nlayer = \"Linear\"\ninit = \"xavier_uniform_()\"\n")
        .unwrap();
    std::fs::write(
        dir.path().join("deep.json"),
        r#"{"model_type": "llama", "vocab_size": 10, "hidden_size": 8, "intermediate_size": 8,
            "num_hidden_layers": 100000000, "num_attention_heads": 2}"#,
    )
    .unwrap();
    std::fs::write(dir.path().join("gate.toml"), "[[rule]]\nname = \"*bias*\"\ngate = \"reset\"\ninit = \"ones_()\"\n")
        .unwrap();
    let f8 = safetensors::serialize(
        [(
            "e.weight",
            safetensors::tensor::TensorView::new(safetensors::Dtype::F8_E5M2, vec![2, 2], &[0u8; 4]).unwrap(),
        )],
        None,
    )
    .unwrap();
    std::fs::write(dir.path().join("f8.safetensors"), f8).unwrap();
    let cases: &[(&[&str], &str)] = &[
        (&["tensor", "--shape", "3", "--init", "glorot_()"], "unknown init function `glorot_`"),
        (&["tensor", "--shape", "5", "--init", "xavier_uniform_()"], "Fan in and fan out can not be computed"),
        (&["tensor", "--shape", "3,4", "--init", "normal_(0, -1)"], "normal expects std >= 0.0, but found std -1"),
        (
            &["tensor", "--shape", "3,4", "--init", "kaiming_uniform_(nonlinearity='gelu')"],
            "Unsupported nonlinearity gelu",
        ),
        (&["init", "--arch", "alexnet"], "unknown arch `alexnet`"),
        (&["init", "--preset", "nope"], "unknown preset `nope`"),
        (&["init", "--like", "missing.safetensors"], "missing.safetensors"),
        (&["init", "--like", "bad.safetensors"], "malformed checkpoint"),
        (&["init", "--plan", "plan.toml"], "layer.0.bias (shape [256]): Fan in and fan out"),
        (&["init", "--dims", "5"], "an MLP needs at least two sizes"),
        (&["stats", "bad.safetensors"], "malformed checkpoint"),
        (&["tensor", "--shape", "3", "--init", "normal_(0, std=1, std=2)"], "multiple values for argument `std`"),
        (
            &["tensor", "--shape", "3", "--init", "constant_(70000)", "--dtype", "f16"],
            "cannot be converted to type at::Half",
        ),
        (
            &["tensor", "--shape", "100000,100000,100000", "--init", "zeros_()"],
            "bytes for shape [100000, 100000, 100000]",
        ),
        (&["tensor", "--shape", "9223372036854775809,2", "--init", "zeros_()"], "too large"),
        (&["init", "--arch", "resnet18", "--dims", "3,3"], "--dims is for --arch mlp"),
        (&["init", "--like", "gpt2.safetensors", "--shard", "0/2", "--shard-dim", "7"], "shard dimension 7 is beyond"),
        (&["init", "--plan", "badplan.toml"], "badplan.toml"),
        (&["init", "--shard", "8/8"], "RANK/WORLD"),
        (&["init", "--rng", "mersenne"], "unknown rng `mersenne`"),
        (&["init", "--threads", "100000"], "--threads must be between 1 and 1024"),
        (&["init", "--arch", "nn.TransformerEncoderLayer(16, 4, bias=False)"], "bias=False is not supported"),
        (&["init", "--config", "deep.json"], "more layers than nninit builds"),
        (&["init", "--arch", "nn.LSTM(8, 16, num_layers=99999999999999999999999)"], "up to 2^53"),
        (&["init", "--arch", "nn.LSTM(8, 16, num_layers=999999)"], "num_layers=999999 is more than"),
        (&["tensor", "--shape", "3", "--init", "constant_(math.sqrt(-1))"], "math domain error"),
        (&["init", "--arch", "nn.LSTM(4, 8)", "--plan", "gate.toml", "--strict"], "selected no parameter"),
        (&["tensor", "--shape", "4"], "required arguments were not provided: --init"),
        (&["init", "--like", "f8.safetensors"], "F8_E5M2, which nninit cannot generate"),
    ];
    for (args, want) in cases {
        fails_cleanly(dir.path(), args, want);
    }
    let leftovers: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(leftovers.len(), 7, "{leftovers:?}");
}

#[test]
fn outputs_are_reproducible_and_never_replace_special_files() {
    let dir = tempfile::tempdir().unwrap();
    for name in ["a.safetensors", "b.safetensors"] {
        let out = nninit(dir.path(), &["init", "--arch", "mlp", "--dims", "8,4", "--seed", "3", "-o", name]);
        assert!(out.status.success());
    }
    let (a, b) = (
        std::fs::read(dir.path().join("a.safetensors")).unwrap(),
        std::fs::read(dir.path().join("b.safetensors")).unwrap(),
    );
    assert_eq!(a, b, "same seed, same bytes (header included)");
    let out = nninit(dir.path(), &["init", "-o", "/dev/null", "--force"]);
    assert!(stderr(&out).contains("not a regular file"), "{}", stderr(&out));
    std::fs::create_dir(dir.path().join("d")).unwrap();
    let out = nninit(dir.path(), &["init", "-o", "d", "--force"]);
    assert!(stderr(&out).contains("is a directory"));
    let out = nninit(dir.path(), &["init", "-o", "missing/x.safetensors"]);
    assert!(stderr(&out).contains("output directory missing does not exist"), "{}", stderr(&out));
    // A closed pipe ends the output quietly.
    let sh = format!("{} init --arch resnet18 -o r.safetensors | head -1", env!("CARGO_BIN_EXE_nninit"));
    let out = Command::new("sh").args(["-c", &sh]).current_dir(dir.path()).output().unwrap();
    assert!(!String::from_utf8_lossy(&out.stderr).contains("panicked"));
}

#[test]
fn like_reads_single_layer_checkpoints_and_keeps_ties() {
    let dir = tempfile::tempdir().unwrap();
    let ok = |args: &[&str]| {
        let out = nninit(dir.path(), args);
        assert!(out.status.success(), "{args:?}: {}", stderr(&out));
    };
    ok(&["init", "--arch", "nn.LSTM(8,16,num_layers=2)", "-o", "lstm.safetensors"]);
    ok(&["init", "--like", "lstm.safetensors", "--seed", "1", "-o", "lstm2.safetensors"]);
    let (a, b) = (read(&dir.path().join("lstm.safetensors")), read(&dir.path().join("lstm2.safetensors")));
    assert_eq!(a.iter().map(|t| (&t.0, &t.2)).collect::<Vec<_>>(), b.iter().map(|t| (&t.0, &t.2)).collect::<Vec<_>>());
    assert!(f32s(&b[0].3).iter().all(|x| x.abs() <= 0.25) && a[0].3 != b[0].3);

    let gpt2 = concat!(env!("CARGO_MANIFEST_DIR"), "/../nninit/tests/data/gpt2-tiny.config.json");
    ok(&["init", "--config", gpt2, "-o", "g.safetensors"]);
    std::fs::write(
        dir.path().join("conv1d.toml"),
        "[[rule]]\nname = [\"*c_attn*\", \"*c_proj*\", \"*c_fc*\"]\ninit = \"normal_(0, 0.02)\"\n",
    )
    .unwrap();
    ok(&["init", "--like", "g.safetensors", "--plan", "conv1d.toml", "-o", "g2.safetensors"]);
    let bytes = std::fs::read(dir.path().join("g2.safetensors")).unwrap();
    let (_, meta) = safetensors::SafeTensors::read_metadata(&bytes).unwrap();
    let tied = meta.metadata().as_ref().and_then(|m| m.get("nninit.tied").cloned());
    assert_eq!(tied.as_deref(), Some("lm_head.weight=transformer.wte.weight"));
}

#[test]
fn like_copies_integer_tensors_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    let ints: Vec<u8> = (0..24).flat_map(|i: i32| (i * 1000 - 7).to_le_bytes()).collect();
    let bias = [0u8; 8];
    let view = |d, shape: Vec<usize>, data| safetensors::tensor::TensorView::new(d, shape, data).unwrap();
    let bytes = safetensors::serialize(
        [
            ("a.weight", view(safetensors::Dtype::I32, vec![4, 6], &ints[..])),
            ("a.bias", view(safetensors::Dtype::F32, vec![2], &bias[..])),
        ],
        None,
    )
    .unwrap();
    std::fs::write(dir.path().join("ints.safetensors"), bytes).unwrap();
    std::fs::write(dir.path().join("plan.toml"), "[[rule]]\nname = \"a.bias\"\ninit = \"ones_()\"\n").unwrap();
    let out = nninit(dir.path(), &["init", "--like", "ints.safetensors", "--plan", "plan.toml", "-o", "o.safetensors"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let got = read(&dir.path().join("o.safetensors"));
    assert_eq!(got[1], ("a.weight".to_string(), safetensors::Dtype::I32, vec![4, 6], ints));
    assert_eq!(got[0].1, safetensors::Dtype::F32);
    assert_eq!(f32s(&got[0].3), vec![1.0, 1.0]);
}

/// Interrupted (SIGINT, SIGTERM), `nninit init` removes its temporary file and exits 128 + signal.
#[test]
fn an_interrupted_write_leaves_no_file() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("big.json"),
        r#"{"model_type": "llama", "vocab_size": 32000, "hidden_size": 1024, "intermediate_size": 4096,
            "num_hidden_layers": 16, "num_attention_heads": 8}"#,
    )
    .unwrap();
    for (signal, code) in [("-INT", 130), ("-TERM", 143)] {
        let mut child = Command::new(env!("CARGO_BIN_EXE_nninit"))
            .args(["init", "--config", "big.json", "-o", "big.safetensors"])
            .current_dir(dir.path())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        // Wait for the temporary file (the header is written first), then interrupt.
        let started = std::time::Instant::now();
        let temporary = || {
            std::fs::read_dir(dir.path()).unwrap().any(|e| e.unwrap().file_name().to_string_lossy().ends_with(".tmp"))
        };
        while !temporary() && started.elapsed().as_secs() < 20 {
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        assert!(temporary(), "no temporary file appeared");
        Command::new("kill").args([signal, &child.id().to_string()]).status().unwrap();
        let status = child.wait().unwrap();
        if status.success() {
            // The write finished before the signal arrived: nothing to check this time.
            std::fs::remove_file(dir.path().join("big.safetensors")).unwrap();
            continue;
        }
        assert_eq!(status.code(), Some(code), "{signal}");
        let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(left, vec![std::ffi::OsString::from("big.json")], "{signal}");
    }
}

/// Ctrl-C during a long rejection sampler (`trunc_normal_` at a 5.4 % acceptance rate on 20 M
/// values, tens of seconds of rounds): the command stops within a second, exits 130 and leaves
/// no file, saying so in one line.
#[test]
fn ctrl_c_stops_a_long_sampler_promptly() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_nninit"))
        .args(["tensor", "--shape", "20000000", "--init", "trunc_normal_(0, 1, 3, 8.5)", "--rng", "philox"])
        .args(["-o", "t.safetensors"])
        .current_dir(dir.path())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(1500));
    assert!(child.try_wait().unwrap().is_none(), "finished before the signal");
    Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap();
    let signalled = std::time::Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if signalled.elapsed().as_secs() >= 10 {
            child.kill().unwrap();
            panic!("still running 10 s after SIGINT");
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    };
    assert!(signalled.elapsed().as_secs_f64() < 1.5, "stopped {:?} after SIGINT", signalled.elapsed());
    assert_eq!(status.code(), Some(130));
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0, "a file was left behind");
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
    assert_eq!(err, "nninit: interrupted by SIGINT: stopping; an output being written is removed\n");
}

/// A shard's report gives the fans and expected std of the whole tensor.
#[test]
fn shard_reports_use_the_full_fans() {
    let dir = tempfile::tempdir().unwrap();
    let out = nninit(dir.path(), &["init", "--shard", "3/8", "-o", "s.safetensors", "--verbose"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let line = stdout(&out).lines().find(|l| l.starts_with("layer.0.weight")).unwrap().to_string();
    let fields: Vec<&str> = line.split_whitespace().collect();
    // name, shape (2 fields), dtype, init, fan_in, fan_out, expected_std, ...
    assert_eq!(&fields[1..8], &["[32,", "784]", "f32", "xavier_normal_(gain=1)", "784", "256", "0.043853"], "{line}");
}

/// P1: a user rule that selects nothing is reported, naming the rule and the nearest real name
/// or layer type; a warning by default (exit 0, the file written), an error under `--strict`.
#[test]
fn p1_rules_that_select_nothing_are_reported() {
    let dir = tempfile::tempdir().unwrap();
    let plan = "[[rule]]\nname = \"0.weight\"\ninit = \"zeros_()\"\n\n\
                [[rule]]\nlayer = \"Lineer\"\ninit = \"ones_()\"\n\n\
                [[rule]]\nlayer = \"Conv2D\"\ninit = \"ones_()\"\n\n\
                [[rule]]\nlayer = \"LSTM\"\ngate = \"forget\"\ninit = \"ones_()\"\n";
    std::fs::write(dir.path().join("p1.toml"), plan).unwrap();
    let out = nninit(dir.path(), &["init", "--arch", "mlp", "--plan", "p1.toml", "-o", "m.safetensors"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let err = stderr(&out);
    let want = [
        "warning: plan: rule 1 (name = \"0.weight\", init = \"zeros_()\") selected no parameter; did you mean name = \"*.0.weight\" (e.g. `layer.0.weight`)?",
        "warning: plan: rule 2 (layer = \"Lineer\", init = \"ones_()\") selected no parameter; did you mean layer = \"Linear\"?",
        "warning: plan: rule 3 (layer = \"Conv2D\", init = \"ones_()\") selected no parameter",
        "warning: plan: rule 4 (layer = \"LSTM\", gate = \"forget\", init = \"ones_()\") selected no parameter; the model has no LSTM or GRU with a `forget` gate",
    ];
    assert_eq!(err.lines().collect::<Vec<_>>(), want, "{err}");
    assert!(dir.path().join("m.safetensors").exists());
    // The same plan written for the real names selects every Linear: no warning.
    std::fs::write(dir.path().join("ok.toml"), "[[rule]]\nlayer = \"Linear\"\nrole = \"bias\"\ninit = \"ones_()\"\n")
        .unwrap();
    let out = nninit(dir.path(), &["init", "--plan", "ok.toml", "--strict", "-o", "ok.safetensors"]);
    assert!(out.status.success() && stderr(&out).is_empty(), "{}", stderr(&out));
    let out = nninit(dir.path(), &["init", "--arch", "mlp", "--plan", "p1.toml", "--strict", "-o", "s.safetensors"]);
    assert!(!out.status.success());
    assert_eq!(stderr(&out).trim_end().lines().count(), 1);
    assert!(!dir.path().join("s.safetensors").exists());
}

/// `keep_()` with `--like`: the kept tensors are the checkpoint's, byte for byte (a frequency
/// table of an unrecognised module, a Linear weight), on both streams; the rest is generated.
#[test]
fn like_keeps_what_keep_rules_select() {
    let dir = tempfile::tempdir().unwrap();
    let freq = nninit::Tensor::from_f32(&[4], vec![1.0, 0.1, 0.01, 0.001]).unwrap();
    let w = nninit::Tensor::from_f32(&[2, 3], vec![0.5, -1.0, 2.0, 3.0, -4.0, 5.5]).unwrap();
    let b = nninit::Tensor::from_f32(&[2], vec![7.0, 8.0]).unwrap();
    let entries = [
        nninit::io::Entry { name: "rotary_emb.inv_freq".into(), source: &freq },
        nninit::io::Entry { name: "proj.weight".into(), source: &w },
        nninit::io::Entry { name: "proj.bias".into(), source: &b },
    ];
    let src = dir.path().join("src.safetensors");
    nninit::io::write(&src, &entries, &Default::default(), nninit::io::Overwrite::Refuse).unwrap();
    std::fs::write(
        dir.path().join("keep.toml"),
        "[[rule]]\nname = [\"*inv_freq\", \"proj.weight\"]\ninit = \"keep_()\"\n\n[[rule]]\nname = \"proj.bias\"\ninit = \"zeros_()\"\n",
    )
    .unwrap();
    for rng in ["torch", "philox"] {
        let out = nninit(
            dir.path(),
            &[
                "init",
                "--like",
                "src.safetensors",
                "--plan",
                "keep.toml",
                "--rng",
                rng,
                "-o",
                "out.safetensors",
                "--force",
            ],
        );
        assert!(out.status.success(), "{}", stderr(&out));
        let got = read(&dir.path().join("out.safetensors"));
        let by: std::collections::HashMap<&str, &Vec<u8>> = got.iter().map(|t| (t.0.as_str(), &t.3)).collect();
        assert_eq!(by["rotary_emb.inv_freq"], &freq.bytes().to_vec(), "{rng}");
        assert_eq!(by["proj.weight"], &w.bytes().to_vec(), "{rng}");
        assert_eq!(by["proj.bias"], &vec![0u8; 8], "{rng}");
    }
}

/// `nninit plan`: a dry run with the rules that matched, fans, gain and the distribution, as
/// JSON; nothing is written.
#[test]
fn plan_dry_run_reports_each_parameter() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("p.toml"),
        "[[rule]]\nlayer = \"Linear\"\nrole = \"bias\"\nlayer_index = 2\ninit = \"uniform_(-1 / sqrt(fan_in + 1), 0)\"\n",
    )
    .unwrap();
    let out = nninit(dir.path(), &["plan", "--dims", "8,6,4", "--plan", "p.toml", "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let rows: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    let rows = rows.as_array().unwrap();
    assert_eq!(rows.len(), 4);
    let w0 = &rows[0];
    assert_eq!(w0["name"], "layer.0.weight");
    assert_eq!(w0["init"], "xavier_normal_(gain=1.0)");
    assert_eq!((w0["fan_in"].as_u64(), w0["fan_out"].as_u64()), (Some(8), Some(6)));
    assert_eq!(w0["rules"], serde_json::json!([2]), "the preset's first rule follows the plan's one");
    let std = (2.0f64 / 14.0).sqrt();
    assert_eq!(w0["expected_std"].as_f64(), Some(std));
    assert_eq!(w0["effective_gain"].as_f64(), Some(std * 8f64.sqrt()));
    // The user rule matched only block 2's bias (layer.2.bias); a bias's fans are its weight's
    // ([4, 6]: fan_in 6), as PyTorch's default bias bound reads them.
    let b2 = rows.iter().find(|r| r["name"] == "layer.2.bias").unwrap();
    assert_eq!(b2["rules"], serde_json::json!([1, 3]));
    assert_eq!(b2["init"], format!("uniform_(a={:?}, b=0.0)", -1.0 / 7f64.sqrt()));
    assert_eq!(b2["distribution"], format!("U({:.6}, 0.000000)", -1.0 / 7f64.sqrt()));
    let b0 = rows.iter().find(|r| r["name"] == "layer.0.bias").unwrap();
    assert_eq!((b0["init"].as_str(), b0["rules"].clone()), (Some("zeros_()"), serde_json::json!([3])));
    assert!(std::fs::read_dir(dir.path()).unwrap().count() == 1, "nothing written");
}

/// P8: clear errors for a shard dimension no tensor has, a text file given as a checkpoint, a
/// missing file (naming its flag), `[rule]` for `[[rule]]`, and an unquoted string argument.
#[test]
fn p8_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("plan.toml"), "[[rule]]\ninit = \"zeros_()\"\n").unwrap();
    std::fs::write(dir.path().join("single.toml"), "[rule]\nlayer = \"Linear\"\ninit = \"zeros_()\"\n").unwrap();
    std::fs::write(
        dir.path().join("fan_out.toml"),
        "[[rule]]\nlayer = \"Linear\"\nrole = \"weight\"\ninit = \"kaiming_normal_(mode=fan_out)\"\n",
    )
    .unwrap();
    let cases: &[(&[&str], &str)] = &[
        (
            &["init", "--shard", "0/8", "--shard-dim", "5"],
            "shard dimension 5 is beyond every tensor's rank (the largest has 2 dimensions)",
        ),
        (&["init", "--like", "plan.toml"], "plan.toml: not a safetensors file"),
        (&["init", "--config", "missing.json"], "--config missing.json: no such file"),
        (&["init", "--like", "missing.safetensors"], "--like missing.safetensors: no such file"),
        (&["init", "--plan", "single.toml"], "(rules are written [[rule]], with double brackets)"),
        (&["tensor", "--shape", "4,4", "--init", "kaiming_normal_(mode=fan_out)"], "(strings are quoted: 'fan_out')"),
        (&["init", "--plan", "fan_out.toml"], "(`fan_out` is read as a variable; strings are quoted: 'fan_out')"),
        (&["init", "--plan", "missing.toml"], "--plan missing.toml: no such file"),
        (
            &["init", "--like", "missing.safetensors", "--config", "plan.toml"],
            "--like missing.safetensors: no such file",
        ),
        (&["init", "--like", "plan.toml", "--config", "missing.json"], "--config missing.json: no such file"),
        (&["init", "--config", "plan.toml"], "plan.toml"),
        // clap's errors: one line each, without the usage block.
        (&["init", "--bogus"], "unexpected argument '--bogus' found"),
        (&["init", "--dtype", "f12"], "invalid value 'f12' for '--dtype <DTYPE>'"),
        (&["init", "--seed", "1e3"], "invalid value '1e3' for '--seed <SEED>': `1e3` is not an integer"),
        (&["init", "--arch", "mlp", "--like", "plan.toml"], "cannot be used with"),
        (&["init", "--shard-dim", "1"], "required arguments were not provided: --shard"),
        (&["frobnicate"], "unrecognized subcommand 'frobnicate'"),
    ];
    for (args, want) in cases {
        fails_cleanly(dir.path(), args, want);
    }
}

/// P10: `--shape ""` and `--shape=` give a 0-d tensor, as `--help` says.
#[test]
fn p10_empty_shape_is_a_0d_tensor() {
    let dir = tempfile::tempdir().unwrap();
    for (i, shape) in [["--shape", ""].as_slice(), ["--shape="].as_slice(), ["--shape"].as_slice()].iter().enumerate() {
        let name = format!("s{i}.safetensors");
        let mut args = vec!["tensor"];
        args.extend_from_slice(shape);
        args.extend(["--init", "uniform_()", "-o", &name]);
        let out = nninit(dir.path(), &args);
        assert!(out.status.success(), "{shape:?}: {}", stderr(&out));
        let t = read(&dir.path().join(&name));
        assert_eq!((t[0].2.clone(), t[0].3.len()), (vec![], 4), "{shape:?}");
        let v = f32::from_le_bytes(t[0].3.clone().try_into().unwrap());
        assert!((0.0..1.0).contains(&v));
    }
    let out = nninit(dir.path(), &["tensor", "--shape", "4,x", "--init", "uniform_()"]);
    assert!(stderr(&out).contains("`x` is not a dimension"), "{}", stderr(&out));
}

/// `--init` takes the arithmetic plans take (constants only: a tensor alone has no model
/// variables), and a sharded checkpoint's `stats` shows the whole tensor's recorded fans.
#[test]
fn init_arithmetic_and_recorded_fans() {
    let dir = tempfile::tempdir().unwrap();
    let out =
        nninit(dir.path(), &["tensor", "--shape", "4,4", "--init", "normal_(0, 1 / sqrt(4))", "-o", "t.safetensors"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("0.500000"), "{}", stdout(&out));
    let out = nninit(dir.path(), &["tensor", "--shape", "4,4", "--init", "normal_(0, 1 / sqrt(fan_in))"]);
    assert!(stderr(&out).contains("reads fan_in, which only a model defines"), "{}", stderr(&out));
    let out = nninit(dir.path(), &["init", "--dims", "8,6", "--shard", "1/3", "-o", "s.safetensors"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let stats = stdout(&nninit(dir.path(), &["stats", "s.safetensors"]));
    let row = stats.lines().find(|l| l.starts_with("layer.0.weight")).unwrap();
    let cells: Vec<&str> = row.split_whitespace().collect();
    assert_eq!(&cells[..7], ["layer.0.weight", "[2,", "8]", "f32", "xavier_normal_(gain=1.0)", "8", "6"], "{stats}");
}

/// `--tp-plan`: a bad plan is one clear line naming the file and key, a non-zero exit and no
/// file; `auto` writes a rank's slices with their metadata; `--shard-dim` conflicts with it.
#[test]
fn tp_plan_errors_are_one_line_and_write_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    let config = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../nninit/tests/data/llama-tiny.config.json");
    let config = config.to_str().unwrap();
    std::fs::write(p.join("bad.toml"), "[tp_plan]\n\"layers.*.self_attn.qq_proj\" = \"colwise\"\n").unwrap();
    std::fs::write(p.join("style.toml"), "[tp_plan]\n\"layers.*.mlp.up_proj\" = \"sideways\"\n").unwrap();
    for (args, want) in [
        (
            vec!["--tp-plan", "bad.toml", "--shard", "0/2"],
            "bad.toml: tp_plan key `layers.*.self_attn.qq_proj` names no tensor",
        ),
        (vec!["--tp-plan", "style.toml", "--shard", "0/2"], "unknown tensor-parallel style `sideways`"),
        (vec!["--tp-plan", "auto", "--shard", "1/4"], "num_key_value_heads = 2 does not divide by the world size 4"),
        (vec!["--tp-plan", "auto", "--shard", "0/2", "--shard-dim", "1"], "cannot be used with"),
    ] {
        let mut all = vec!["init", "--config", config, "-o", "out.safetensors"];
        all.extend(args);
        let out = nninit(p, &all);
        assert!(!out.status.success(), "{all:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(want), "{all:?}: {err}");
        if !want.contains("cannot be used") {
            assert_eq!(err.trim().lines().count(), 1, "{err}");
        }
        assert!(!p.join("out.safetensors").exists());
    }
    let out = nninit(p, &["init", "--config", config, "--tp-plan", "auto", "--shard", "1/2", "-o", "r1.safetensors"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let (tensors, meta) = nninit::io::load_bytes(&std::fs::read(p.join("r1.safetensors")).unwrap()).unwrap();
    assert_eq!(meta["nninit.shard"], "1/2 tp");
    let slices: serde_json::Value = serde_json::from_str(&meta["nninit.slices"]).unwrap();
    assert_eq!(slices["model.layers.0.self_attn.o_proj.weight"]["offsets"], serde_json::json!([0, 16]));
    let o = tensors.iter().find(|(n, _)| n == "model.layers.0.self_attn.o_proj.weight").unwrap();
    assert_eq!(o.1.shape(), [32, 16]);
}

/// An output on a file system without storage (procfs) is refused as such, not as a full disk.
#[cfg(target_os = "linux")]
#[test]
fn an_output_in_proc_is_refused_plainly() {
    let out =
        Command::new(env!("CARGO_BIN_EXE_nninit")).args(["init", "-o", "/proc/version", "--force"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        err,
        "nninit: error: cannot write /proc/version: /proc is on a file system without storage (such as /proc or /sys)\n"
    );
}

/// `--seed` as `torch.manual_seed` takes it: a negative seed is its 64-bit two's complement
/// (values from `torch.manual_seed(s); torch.nn.init.uniform_(torch.empty(3))`, PyTorch 2.15);
/// beyond the range, one line.
#[test]
fn negative_seeds_wrap_as_in_pytorch() {
    let dir = tempfile::tempdir().unwrap();
    let cases: [(&str, [u32; 3]); 3] = [
        ("-1", [0x3f7e69a3, 0x3f124122, 0x3f11ec0c]),
        ("18446744073709551615", [0x3f7e69a3, 0x3f124122, 0x3f11ec0c]),
        ("-9223372036854775808", [0x3efe1558, 0x3f44aa2f, 0x3db533a8]),
    ];
    for (seed, want) in cases {
        let args = ["tensor", "--shape", "3", "--init", "uniform_()", "--seed", seed, "-o", "s.safetensors", "--force"];
        let out = nninit(dir.path(), &args);
        assert!(out.status.success(), "{seed}: {}", stderr(&out));
        let bytes = std::fs::read(dir.path().join("s.safetensors")).unwrap();
        let values: Vec<u32> =
            bytes[bytes.len() - 12..].chunks(4).map(|c| u32::from_le_bytes(c.try_into().unwrap())).collect();
        assert_eq!(values, want, "--seed {seed}");
    }
    for seed in ["-9223372036854775809", "18446744073709551616", "1.5"] {
        let out = nninit(
            dir.path(),
            &["tensor", "--shape", "3", "--init", "uniform_()", "--seed", seed, "-o", "x.safetensors"],
        );
        assert_eq!(out.status.code(), Some(2), "{seed}");
        let err = stderr(&out);
        assert!(err.contains("a seed is between -9223372036854775808 and 18446744073709551615"), "{err}");
        assert_eq!(err.lines().count(), 1, "{err}");
    }
}
