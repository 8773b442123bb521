//! Model folders: `init --save-pretrained` against transformers' own `save_pretrained` layout
//! (recorded in tests/golden/hfio.json by tools/golden/gen_hfio.py), `--from` copying, and unsafe
//! or bad folders refused.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn nninit(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_nninit")).args(args).current_dir(dir).output().unwrap()
}

fn data(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../nninit/tests/data").join(name).display().to_string()
}

fn ok(o: &Output) -> String {
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn header(path: &Path) -> serde_json::Map<String, serde_json::Value> {
    let bytes = std::fs::read(path).unwrap();
    let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    serde_json::from_slice(&bytes[8..8 + n]).unwrap()
}

/// The layout as gen_hfio.py records it.
fn layout(folder: &Path) -> serde_json::Value {
    let mut files: Vec<String> =
        std::fs::read_dir(folder).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    files.sort();
    let mut shards = serde_json::Map::new();
    for f in files.iter().filter(|f| f.ends_with(".safetensors")) {
        let mut h = header(&folder.join(f));
        let meta = h.remove("__metadata__").unwrap();
        let mut tensors: Vec<&String> = h.keys().collect();
        tensors.sort();
        shards.insert(f.clone(), serde_json::json!({"tensors": tensors, "format": meta["format"]}));
    }
    let index = std::fs::read_to_string(folder.join("model.safetensors.index.json"))
        .map(|t| serde_json::from_str(&t).unwrap())
        .unwrap_or(serde_json::Value::Null);
    let config: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(folder.join("config.json")).unwrap()).unwrap();
    serde_json::json!({"files": files, "shards": shards, "index": index, "dtype": config["dtype"]})
}

/// nninit's folders have transformers' layout: the same files, shard boundaries, index
/// (`total_size`, `total_parameters`, `weight_map`), tensor names (tied weights once), `format`
/// and `dtype`; and the recorded run found them loading without missing, unexpected or
/// mismatched keys and bit-identical to `torch.manual_seed(s); Model(config)`.
#[test]
fn save_pretrained_has_the_layout_transformers_writes() {
    let golden: serde_json::Value = serde_json::from_str(include_str!("golden/hfio.json")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    for case in golden["cases"].as_array().unwrap() {
        let name = case["name"].as_str().unwrap();
        let out = dir.path().join(name);
        let seed = case["seed"].to_string();
        ok(&nninit(
            dir.path(),
            &[
                "init",
                "--config",
                &data(case["config"].as_str().unwrap()),
                "--seed",
                &seed,
                "--save-pretrained",
                out.to_str().unwrap(),
                "--max-shard-size",
                case["max_shard_size"].as_str().unwrap(),
            ],
        ));
        assert_eq!(layout(&out), case["layout"], "{name}");
        assert_eq!(case["values"], "bit-identical", "{name}");
        assert_eq!(case["nninit_layout_equal"], true, "{name}");
        for v in case["loading_info"].as_object().unwrap().values() {
            assert_eq!(v.as_array().unwrap().len(), 0, "{name}");
        }
        // nninit's own metadata beside `format`.
        let first = case["layout"]["files"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f.as_str().unwrap().ends_with(".safetensors"))
            .unwrap();
        let meta = &header(&out.join(first.as_str().unwrap()))["__metadata__"];
        assert_eq!(meta["nninit.seed"], seed.as_str());
        // Nothing but the folder is left in its parent.
        let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert!(left.iter().all(|n| !n.to_string_lossy().starts_with(".nninit")), "{left:?}");
    }
    for case in golden["from"].as_array().unwrap() {
        assert_eq!(case["values"], "bit-identical", "{}", case["name"]);
    }
    // A grown vocabulary against `from_pretrained` then `resize_token_embeddings`: by the plan,
    // bit-identical; with mean_resizing, within float32 rounding of the mean and covariance.
    for case in golden["grown"].as_array().unwrap() {
        assert_eq!(case["deterministic"], true, "{}", case["name"]);
        match case["mean_resizing"].as_bool().unwrap() {
            false => assert_eq!(case["values"], "bit-identical", "{}", case["name"]),
            true => assert!(case["max_abs_difference"].as_f64().unwrap() < 1e-8, "{}", case["name"]),
        }
    }
}

/// Tensors of a safetensors file, by name.
fn tensors(path: &Path) -> BTreeMap<String, (safetensors::Dtype, Vec<usize>, Vec<u8>)> {
    let bytes = std::fs::read(path).unwrap();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    st.tensors().into_iter().map(|(n, t)| (n, (t.dtype(), t.shape().to_vec(), t.data().to_vec()))).collect()
}

fn write_file(path: &Path, tensors: &BTreeMap<String, (safetensors::Dtype, Vec<usize>, Vec<u8>)>) {
    let views: Vec<(String, safetensors::tensor::TensorView<'_>)> = tensors
        .iter()
        .map(|(n, (d, s, b))| (n.clone(), safetensors::tensor::TensorView::new(*d, s.clone(), b).unwrap()))
        .collect();
    safetensors::serialize_to_file(views, None, path).unwrap();
}

/// A base model's tensors (names without `model.`, no `lm_head`) are copied byte for byte into
/// Llama-for-causal-LM; `lm_head.weight` alone is initialized, drawing from a fresh generator as
/// `from_pretrained` does: `torch.manual_seed(2); normal_(0, 0.02)`. A sharded folder is read
/// as a file is; the report says `copied`.
#[test]
fn from_copies_what_the_base_has_and_initializes_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    ok(&nninit(p, &["init", "--config", &data("llama-tiny.config.json"), "--seed", "1", "-o", "full.safetensors"]));
    let full = tensors(&p.join("full.safetensors"));
    let base: BTreeMap<_, _> = full
        .iter()
        .filter(|(n, _)| n.starts_with("model."))
        .map(|(n, v)| (n.trim_start_matches("model.").to_string(), v.clone()))
        .collect();
    write_file(&p.join("base.safetensors"), &base);
    let report = ok(&nninit(
        p,
        &[
            "init",
            "--config",
            &data("llama-tiny.config.json"),
            "--seed",
            "2",
            "--from",
            "base.safetensors",
            "-o",
            "out.safetensors",
        ],
    ));
    assert!(report.contains("copied 20 tensor(s)") && report.contains("1 initialized"), "{report}");
    assert!(report.contains("copied"));
    let out = tensors(&p.join("out.safetensors"));
    for (name, v) in &full {
        if name != "lm_head.weight" {
            assert_eq!(&out[name], v, "{name}");
        }
    }
    ok(&nninit(
        p,
        &["tensor", "--shape", "100,32", "--init", "normal_(0, 0.02)", "--seed", "2", "-o", "head.safetensors"],
    ));
    let head = tensors(&p.join("head.safetensors"));
    assert_eq!(out["lm_head.weight"].2, head.values().next().unwrap().2);
    // From a sharded folder: the same result.
    ok(&nninit(
        p,
        &[
            "init",
            "--config",
            &data("llama-tiny.config.json"),
            "--seed",
            "1",
            "--save-pretrained",
            "folder",
            "--max-shard-size",
            "20KB",
        ],
    ));
    ok(&nninit(
        p,
        &[
            "init",
            "--config",
            &data("llama-tiny.config.json"),
            "--seed",
            "2",
            "--from",
            "folder",
            "-o",
            "again.safetensors",
        ],
    ));
    assert_eq!(tensors(&p.join("again.safetensors")), full);
}

/// A base with a smaller vocabulary (60 of the config's 100 rows, embeddings and lm_head): old
/// rows copied unchanged, new rows drawn from the old rows' mean and covariance (the default,
/// `mean_resizing`: with the covariance scaled by 1e-9 they sit within ~1e-4 of the mean) or by
/// the plan (`--no-mean-resizing`: `normal_(0, 0.02)`); the report and metadata say so.
#[test]
fn from_grows_a_smaller_vocabulary() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    let llama = data("llama-tiny.config.json");
    ok(&nninit(p, &["init", "--config", &llama, "--seed", "1", "-o", "full.safetensors"]));
    let full = tensors(&p.join("full.safetensors"));
    let mut base = full.clone();
    for name in ["model.embed_tokens.weight", "lm_head.weight"] {
        let e = base.get_mut(name).unwrap();
        e.1 = vec![60, 32];
        e.2.truncate(60 * 32 * 4);
    }
    write_file(&p.join("small.safetensors"), &base);
    let floats = |b: &[u8]| b.chunks(4).map(|c| f32::from_le_bytes(c.try_into().unwrap()) as f64).collect::<Vec<_>>();
    for (flag, mean_resizing) in [(None, true), (Some("--no-mean-resizing"), false)] {
        let mut args = vec![
            "init",
            "--config",
            &llama,
            "--seed",
            "2",
            "--from",
            "small.safetensors",
            "-o",
            "out.safetensors",
            "--force",
        ];
        args.extend(flag);
        let report = ok(&nninit(p, &args));
        assert!(
            report.contains("2 grown: model.embed_tokens.weight (from 60 rows), lm_head.weight (from 60 rows)"),
            "{report}"
        );
        let out = tensors(&p.join("out.safetensors"));
        let meta = header(&p.join("out.safetensors"))["__metadata__"]["nninit.inits"].as_str().unwrap().to_string();
        for name in ["model.embed_tokens.weight", "lm_head.weight"] {
            let (old, new) = (floats(&base[name].2), floats(&out[name].2));
            assert_eq!(out[name].1, vec![100, 32]);
            assert_eq!(&new[..60 * 32], &old[..], "{name}: old rows changed");
            let added = &new[60 * 32..];
            let mean: Vec<f64> = (0..32).map(|j| old.iter().skip(j).step_by(32).sum::<f64>() / 60.0).collect();
            let dev = added.iter().enumerate().map(|(i, v)| (v - mean[i % 32]).abs()).fold(0.0, f64::max);
            if mean_resizing {
                // 1e-9·Σ: deviations of ~3e-5 × the old rows' std (0.02), never exactly the mean.
                assert!(dev < 1e-4 && dev > 0.0, "{name}: {dev}");
                assert!(meta.contains("copied rows 0..60, new rows mean_resizing"), "{meta}");
            } else {
                let std = (added.iter().map(|v| v * v).sum::<f64>() / added.len() as f64).sqrt();
                assert!((std - 0.02).abs() < 0.004 && dev > 0.01, "{name}: std {std}");
                assert!(meta.contains("copied rows 0..60, new rows normal_(mean=0.0, std=0.02)"), "{meta}");
            }
        }
        for (name, v) in &full {
            if !name.ends_with("embed_tokens.weight") && name != "lm_head.weight" {
                assert_eq!(&out[name], v, "{name}");
            }
        }
    }
}

/// `--like` reads a model folder (sharded) as it reads a file, its `config.json` standing in for
/// `--config`: the same tensors as `--like` of the one-file checkpoint with that config.
#[test]
fn like_reads_a_sharded_folder() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    let llama = data("llama-tiny.config.json");
    ok(&nninit(p, &["init", "--config", &llama, "--save-pretrained", "sharded", "--max-shard-size", "20KB"]));
    ok(&nninit(p, &["init", "--config", &llama, "-o", "one.safetensors"]));
    ok(&nninit(p, &["init", "--like", "sharded", "--seed", "3", "-o", "a.safetensors"]));
    ok(&nninit(p, &["init", "--like", "one.safetensors", "--config", &llama, "--seed", "3", "-o", "b.safetensors"]));
    let (a, b) = (tensors(&p.join("a.safetensors")), tensors(&p.join("b.safetensors")));
    assert_eq!(a.len(), b.len());
    assert_eq!(a, b);
}

/// Runs `args` (an init writing `out`): it must fail with one stderr line containing `want`,
/// leave no `out` and no temporary file.
fn fails_cleanly(dir: &Path, args: &[&str], want: &str) {
    let out = nninit(dir, args);
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!out.status.success(), "{args:?} succeeded");
    assert!(err.contains(want), "{args:?}: {err}");
    assert_eq!(err.trim_end().lines().count(), 1, "{args:?}: {err}");
    assert!(!dir.join("out").exists(), "{args:?} left output");
    let left: Vec<_> =
        std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    assert!(left.iter().all(|n| !n.starts_with(".nninit")), "{args:?} left {left:?}");
}

/// A copy of a sharded folder whose index `edit` changes.
fn folder_with_index(p: &Path, name: &str, edit: impl Fn(&mut serde_json::Value, &Path)) -> PathBuf {
    let src = p.join("good");
    if !src.exists() {
        ok(&nninit(
            p,
            &[
                "init",
                "--config",
                &data("llama-tiny.config.json"),
                "--save-pretrained",
                "good",
                "--max-shard-size",
                "20KB",
            ],
        ));
    }
    let dst = p.join(name);
    std::fs::create_dir(&dst).unwrap();
    for e in std::fs::read_dir(&src).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), dst.join(e.file_name())).unwrap();
    }
    let index_path = dst.join("model.safetensors.index.json");
    let mut index: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&index_path).unwrap()).unwrap();
    edit(&mut index, &dst);
    std::fs::write(&index_path, serde_json::to_string(&index).unwrap()).unwrap();
    dst
}

/// Shared case P11: index entries leading outside the folder, naming a missing shard, or a
/// tensor two shards hold are refused naming the entry; no output is written.
#[test]
fn unsafe_or_broken_folders_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    let outside = p.join("outside.safetensors");
    std::fs::write(&outside, b"not read").unwrap();
    let w = "model.embed_tokens.weight";
    let cases: Vec<(&str, Box<dyn Fn(&mut serde_json::Value, &Path)>, String)> = vec![
        (
            "dotdot",
            Box::new(|i, _| i["weight_map"][w] = "../outside.safetensors".into()),
            "../outside.safetensors".into(),
        ),
        (
            "absolute",
            Box::new(|i, _| i["weight_map"][w] = outside.display().to_string().into()),
            "is not a file name inside the folder".into(),
        ),
        (
            "symlink",
            Box::new(|i, d| {
                std::os::unix::fs::symlink(&outside, d.join("link.safetensors")).unwrap();
                i["weight_map"][w] = "link.safetensors".into();
            }),
            "symbolic link leading out of the folder".into(),
        ),
        (
            "missing",
            Box::new(|i, _| i["weight_map"][w] = "model-00009-of-00009.safetensors".into()),
            "does not exist".into(),
        ),
        (
            "twice",
            Box::new(|_, d| {
                // The first shard's tensors also in a second file the index names.
                std::fs::copy(d.join("model-00001-of-00007.safetensors"), d.join("model-00002-of-00007.safetensors"))
                    .unwrap();
            }),
            "held by two shards".into(),
        ),
    ];
    for (name, edit, want) in cases {
        let folder = folder_with_index(p, name, edit);
        let args =
            ["init", "--config", &data("llama-tiny.config.json"), "--from", folder.to_str().unwrap(), "-o", "out"];
        fails_cleanly(p, &args, &want);
        assert!(fails_name_entry(p, &args, w), "{name}: the entry is not named");
    }
}

fn fails_name_entry(p: &Path, args: &[&str], entry: &str) -> bool {
    String::from_utf8_lossy(&nninit(p, args).stderr).contains(entry)
}

#[test]
fn bad_folders_and_bases_fail_with_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    let llama = data("llama-tiny.config.json");
    // A folder without config.json.
    std::fs::create_dir(p.join("empty")).unwrap();
    fails_cleanly(p, &["init", "--config", "empty", "--save-pretrained", "out"], "holds no config.json");
    // A config missing a key the model needs.
    let mut config: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&llama).unwrap()).unwrap();
    config.as_object_mut().unwrap().remove("hidden_size");
    config.as_object_mut().unwrap().remove("head_dim");
    std::fs::write(p.join("partial.json"), config.to_string()).unwrap();
    fails_cleanly(
        p,
        &["init", "--config", "partial.json", "--save-pretrained", "out"],
        "missing required field `hidden_size`",
    );
    // A base of another model.
    ok(&nninit(p, &["init", "-o", "mlp.safetensors"]));
    fails_cleanly(
        p,
        &["init", "--config", &llama, "--from", "mlp.safetensors", "-o", "out"],
        "shares no tensor with the model",
    );
    // Shapes that differ: listed, or initialized with --ignore-mismatched-sizes.
    ok(&nninit(p, &["init", "--config", &llama, "-o", "full.safetensors"]));
    let mut base = tensors(&p.join("full.safetensors"));
    let e = base.get_mut("lm_head.weight").unwrap();
    e.1 = vec![100, 16];
    e.2.truncate(100 * 16 * 4);
    write_file(&p.join("resized.safetensors"), &base);
    fails_cleanly(
        p,
        &["init", "--config", &llama, "--from", "resized.safetensors", "-o", "out"],
        "lm_head.weight: checkpoint [100, 16], model [100, 32]",
    );
    let report = ok(&nninit(
        p,
        &["init", "--config", &llama, "--from", "resized.safetensors", "--ignore-mismatched-sizes", "-o", "out2"],
    ));
    assert!(report.contains("copied 20 tensor(s)") && report.contains("1 initialized"), "{report}");
    // An existing folder is kept without --force; a folder holding other files is never replaced.
    std::fs::create_dir(p.join("out")).unwrap();
    std::fs::write(p.join("out/notes.txt"), "mine").unwrap();
    let o = nninit(p, &["init", "--config", &llama, "--save-pretrained", "out"]);
    assert!(!o.status.success() && String::from_utf8_lossy(&o.stderr).contains("exists (use --force"));
    let o = nninit(p, &["init", "--config", &llama, "--save-pretrained", "out", "--force"]);
    assert!(!o.status.success() && String::from_utf8_lossy(&o.stderr).contains("notes.txt"));
    assert_eq!(std::fs::read_to_string(p.join("out/notes.txt")).unwrap(), "mine");
    // A folder of model files is replaced with --force.
    std::fs::remove_dir_all(p.join("out")).unwrap();
    ok(&nninit(p, &["init", "--config", &llama, "--save-pretrained", "out", "--max-shard-size", "20KB"]));
    ok(&nninit(p, &["init", "--config", &llama, "--save-pretrained", "out", "--force"]));
    assert!(p.join("out/model.safetensors").exists() && !p.join("out/model.safetensors.index.json").exists());
    // A bad size.
    std::fs::remove_dir_all(p.join("out")).unwrap();
    fails_cleanly(
        p,
        &["init", "--config", &llama, "--save-pretrained", "out", "--max-shard-size", "5GiB"],
        "max-shard-size",
    );
}

/// `--shard auto` takes rank and world from torchrun, Slurm or Open MPI; missing or
/// inconsistent variables are one clear line.
#[test]
fn shard_auto_reads_the_launchers_environment() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    let run = |env: &[(&str, &str)], out: &str| {
        let mut c = Command::new(env!("CARGO_BIN_EXE_nninit"));
        c.args(["init", "--shard", "auto", "-o", out]).current_dir(p);
        for k in ["RANK", "WORLD_SIZE", "SLURM_PROCID", "SLURM_NTASKS", "OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE"]
        {
            c.env_remove(k);
        }
        c.envs(env.iter().copied()).output().unwrap()
    };
    ok(&nninit(p, &["init", "--shard", "1/4", "-o", "explicit.safetensors"]));
    for env in [
        &[("RANK", "1"), ("WORLD_SIZE", "4")][..],
        &[("SLURM_PROCID", "1"), ("SLURM_NTASKS", "4")],
        &[("OMPI_COMM_WORLD_RANK", "1"), ("OMPI_COMM_WORLD_SIZE", "4"), ("RANK", "1"), ("WORLD_SIZE", "4")],
    ] {
        ok(&run(env, "auto.safetensors"));
        assert_eq!(
            std::fs::read(p.join("auto.safetensors")).unwrap(),
            std::fs::read(p.join("explicit.safetensors")).unwrap()
        );
        std::fs::remove_file(p.join("auto.safetensors")).unwrap();
    }
    for (env, want) in [
        (&[][..], "no launcher's rank is set"),
        (&[("RANK", "1")][..], "RANK is set but WORLD_SIZE is not"),
        (&[("RANK", "1"), ("WORLD_SIZE", "4"), ("SLURM_PROCID", "2"), ("SLURM_NTASKS", "4")][..], "but RANK gives 1/4"),
        (&[("RANK", "4"), ("WORLD_SIZE", "4")][..], "rank 4 of world 4"),
        (&[("RANK", "x"), ("WORLD_SIZE", "4")][..], "RANK=x is not a number"),
    ] {
        let o = run(env, "out");
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(!o.status.success() && err.contains(want) && err.trim_end().lines().count() == 1, "{env:?}: {err}");
        assert!(!p.join("out").exists());
    }
}
