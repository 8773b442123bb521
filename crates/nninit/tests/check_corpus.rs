//! `check` against a corpus of broken checkpoints, one per known initialization mistake, each with
//! a correct twin: every mistake is caught with its cause named, and no correct tensor fails
//! (over several seeds). The detection table is committed in tests/data/check_detection.md
//! (regenerate with `NNINIT_BLESS=1 cargo test --release -p nninit --test check_corpus`).

use std::collections::BTreeMap;
use std::path::Path;

use nninit::check::{check_path, Status, TensorCheck};
use nninit::init::Init;
use nninit::io::{write, Entry, Overwrite};
use nninit::{DType, Generator, Tensor};

/// One mistake: what the checkpoint records, what was really done, and what the check should say.
struct Case {
    name: &'static str,
    /// The row of the reported cases it comes from (`-` when none).
    case_id: &'static str,
    mistake: &'static str,
    shape: &'static [usize],
    dtype: DType,
    recorded: &'static str,
    /// The right values: an init and a fix-up (zeroed rows, parts).
    good: (&'static str, fn(&mut [f32], &[usize])),
    /// The wrong values.
    bad: (&'static str, fn(&mut [f32], &[usize])),
    /// A phrase the cause must contain.
    cause: &'static str,
}

fn none(_: &mut [f32], _: &[usize]) {}

fn zero_row_1(v: &mut [f32], shape: &[usize]) {
    let l = shape[1];
    v[l..2 * l].iter_mut().for_each(|x| *x = 0.0);
}

fn clamp_002(v: &mut [f32], _: &[usize]) {
    v.iter_mut().for_each(|x| *x = x.clamp(-0.04, 0.04));
}

fn one_nan(v: &mut [f32], _: &[usize]) {
    v[17] = f32::NAN;
}

fn repeat_row(v: &mut [f32], shape: &[usize]) {
    let l = shape[1];
    let row: Vec<f32> = v[3 * l..4 * l].to_vec();
    v[7 * l..8 * l].copy_from_slice(&row);
}

fn forget_gate_one(v: &mut [f32], _: &[usize]) {
    v[16..32].iter_mut().for_each(|x| *x = 1.0);
}

fn dirac_shifted(v: &mut [f32], _: &[usize]) {
    // One of the ones a tap off centre.
    let i = v.iter().position(|&x| x == 1.0).unwrap();
    v[i] = 0.0;
    v[i + 1] = 1.0;
}

fn cases() -> Vec<Case> {
    let f32_ = DType::F32;
    let bf16 = DType::BF16;
    vec![
        Case {
            name: "sqrt3_missing",
            case_id: "N2",
            mistake: "kaiming_uniform_ bound = std (√3 missing)",
            shape: &[256, 512],
            dtype: f32_,
            recorded: "kaiming_uniform_(a=0.0, mode='fan_in', nonlinearity='relu')",
            good: ("kaiming_uniform_(a=0.0, mode='fan_in', nonlinearity='relu')", none),
            bad: ("uniform_(-0.0625, 0.0625)", none),
            cause: "÷ √3",
        },
        Case {
            name: "sqrt3_extra",
            case_id: "-",
            mistake: "kaiming_normal_ std = uniform bound (× √3)",
            shape: &[256, 512],
            dtype: bf16,
            recorded: "kaiming_normal_(a=0.0, mode='fan_in', nonlinearity='relu')",
            good: ("kaiming_normal_(a=0.0, mode='fan_in', nonlinearity='relu')", none),
            bad: ("normal_(0.0, 0.10825317547305482)", none),
            cause: "× √3",
        },
        Case {
            name: "relu_gain_missing",
            case_id: "-",
            mistake: "kaiming_normal_ without the ReLU gain √2",
            shape: &[256, 512],
            dtype: f32_,
            recorded: "kaiming_normal_(a=0.0, mode='fan_in', nonlinearity='relu')",
            good: ("kaiming_normal_(a=0.0, mode='fan_in', nonlinearity='relu')", none),
            bad: ("kaiming_normal_(a=0.0, mode='fan_in', nonlinearity='linear')", none),
            cause: "gain √2",
        },
        Case {
            name: "tanh_gain_missing",
            case_id: "-",
            mistake: "xavier_uniform_ without the tanh gain 5/3",
            shape: &[300, 200],
            dtype: f32_,
            recorded: "xavier_uniform_(gain=1.6666666666666667)",
            good: ("xavier_uniform_(gain=1.6666666666666667)", none),
            bad: ("xavier_uniform_(gain=1.0)", none),
            cause: "tanh gain",
        },
        Case {
            name: "fans_swapped",
            case_id: "N5",
            mistake: "fan_in and fan_out swapped ([in, out] weight)",
            shape: &[128, 512],
            dtype: f32_,
            recorded: "kaiming_uniform_(a=0.0, mode='fan_in', nonlinearity='relu')",
            good: ("kaiming_uniform_(a=0.0, mode='fan_in', nonlinearity='relu')", none),
            bad: ("kaiming_uniform_(a=0.0, mode='fan_out', nonlinearity='relu')", none),
            cause: "swapped",
        },
        Case {
            name: "normal_for_uniform",
            case_id: "-",
            mistake: "xavier_normal_ where xavier_uniform_ was meant",
            shape: &[256, 256],
            dtype: f32_,
            recorded: "xavier_uniform_(gain=1.0)",
            good: ("xavier_uniform_(gain=1.0)", none),
            bad: ("xavier_normal_(gain=1.0)", none),
            cause: "normal values where a uniform",
        },
        Case {
            name: "uniform_for_normal",
            case_id: "-",
            mistake: "U(−√3σ, √3σ) where normal_(0, σ) was meant",
            shape: &[256, 256],
            dtype: bf16,
            recorded: "normal_(mean=0.0, std=0.02)",
            good: ("normal_(mean=0.0, std=0.02)", none),
            bad: ("uniform_(-0.034641016151377546, 0.034641016151377546)", none),
            cause: "uniform values where a normal",
        },
        Case {
            name: "batchnorm_gamma_uniform",
            case_id: "N7",
            mistake: "BatchNorm γ drawn from U(0, 1)",
            shape: &[512],
            dtype: f32_,
            recorded: "default: ones_()",
            good: ("ones_()", none),
            bad: ("uniform_(0.0, 1.0)", none),
            cause: "U(0, 1)",
        },
        Case {
            name: "bias_not_zero",
            case_id: "N7",
            mistake: "a zeros_ bias left at the layer default",
            shape: &[256],
            dtype: f32_,
            recorded: "zeros_()",
            good: ("zeros_()", none),
            bad: ("uniform_(-0.0625, 0.0625)", none),
            cause: "not the constant",
        },
        Case {
            name: "padding_row_random",
            case_id: "T1, P3",
            mistake: "the padding row left random",
            shape: &[1000, 64],
            dtype: f32_,
            recorded: "default: normal_(mean=0.0, std=1.0), row 1 zeroed",
            good: ("normal_(0.0, 1.0)", zero_row_1),
            bad: ("normal_(0.0, 1.0)", none),
            cause: "padding row",
        },
        Case {
            name: "bf16_pileup_at_bound",
            case_id: "-",
            mistake: "bf16 values piled on the truncation bound (clamped)",
            shape: &[512, 512],
            dtype: bf16,
            recorded: "trunc_normal_(mean=0.0, std=0.02, a=-0.04, b=0.04)",
            good: ("trunc_normal_(mean=0.0, std=0.02, a=-0.04, b=0.04)", none),
            bad: ("normal_(0.0, 0.02)", clamp_002),
            cause: "piled up",
        },
        Case {
            name: "nan",
            case_id: "V1",
            mistake: "a NaN (division by a zero fan)",
            shape: &[64, 64],
            dtype: f32_,
            recorded: "xavier_uniform_(gain=1.0)",
            good: ("xavier_uniform_(gain=1.0)", none),
            bad: ("xavier_uniform_(gain=1.0)", one_nan),
            cause: "non-finite",
        },
        Case {
            name: "identical_rows",
            case_id: "-",
            mistake: "two identical rows (generator re-seeded)",
            shape: &[512, 64],
            dtype: bf16,
            recorded: "normal_(mean=0.0, std=0.02)",
            good: ("normal_(0.0, 0.02)", none),
            bad: ("normal_(0.0, 0.02)", repeat_row),
            cause: "identical rows",
        },
        Case {
            name: "sparse_no_zeros",
            case_id: "N6",
            mistake: "sparse_ without its zeros per column",
            shape: &[100, 50],
            dtype: f32_,
            recorded: "sparse_(sparsity=0.25, std=0.01)",
            good: ("sparse_(sparsity=0.25, std=0.01)", none),
            bad: ("normal_(0.0, 0.01)", none),
            cause: "zeros per column",
        },
        Case {
            name: "not_orthogonal",
            case_id: "N9",
            mistake: "a Gaussian matrix where orthogonal_ was meant",
            shape: &[64, 128],
            dtype: f32_,
            recorded: "orthogonal_(gain=1.0)",
            good: ("orthogonal_(gain=1.0)", none),
            bad: ("normal_(0.0, 0.08838834764831845)", none),
            cause: "not orthogonal",
        },
        Case {
            name: "dirac_off_centre",
            case_id: "V5",
            mistake: "dirac_ with a one off the kernel centre",
            shape: &[24, 3, 5, 5],
            dtype: f32_,
            recorded: "dirac_(groups=3)",
            good: ("dirac_(groups=3)", none),
            bad: ("dirac_(groups=3)", dirac_shifted),
            cause: "structure differs",
        },
        Case {
            name: "default_a_sqrt5_lost",
            case_id: "N1",
            mistake: "layer default kaiming_uniform_(a=√5) drawn with a = 0",
            shape: &[256, 512],
            dtype: f32_,
            recorded: "default: kaiming_uniform_(a=2.23606797749979, mode='fan_in', nonlinearity='leaky_relu')",
            good: ("kaiming_uniform_(a=2.23606797749979)", none),
            bad: ("kaiming_uniform_(a=0.0, nonlinearity='relu')", none),
            cause: "√6",
        },
        Case {
            name: "trunc_normal_untruncated",
            case_id: "N8",
            mistake: "normal_ where trunc_normal_(a=−2, b=2) was meant",
            shape: &[100_000],
            dtype: f32_,
            recorded: "trunc_normal_(mean=0.0, std=1.0, a=-2.0, b=2.0)",
            good: ("trunc_normal_(mean=0.0, std=1.0, a=-2.0, b=2.0)", none),
            bad: ("normal_(0.0, 1.0)", none),
            cause: "beyond the law's range",
        },
        Case {
            name: "forget_gate_bias_missing",
            case_id: "T2",
            mistake: "LSTM forget-gate bias = 1 not applied",
            shape: &[64],
            dtype: f32_,
            recorded: "uniform_(a=-0.25, b=0.25), then [16:32] constant_(val=1.0)",
            good: ("uniform_(-0.25, 0.25)", forget_gate_one),
            bad: ("uniform_(-0.25, 0.25)", none),
            cause: "not the constant",
        },
    ]
}

/// Writes one tensor `w` drawn from `init` (then `post`) with the `recorded` init in its metadata.
fn write_case(path: &Path, case: &Case, init: &str, post: fn(&mut [f32], &[usize]), seed: u64) {
    let init: Init = init.parse().unwrap();
    let mut t = Tensor::zeros(case.shape, DType::F32);
    init.apply(t.view_mut().unwrap(), &mut Generator::manual_seed(seed)).unwrap();
    let mut v: Vec<f32> = t.to_f64_vec().into_iter().map(|x| x as f32).collect();
    post(&mut v, case.shape);
    let t = Tensor::from_f32(case.shape, v).unwrap().to_dtype(case.dtype);
    let fans = nninit::init::fan_in_and_fan_out(case.shape).ok();
    let mut entry = serde_json::json!({ "init": case.recorded });
    if let Some((i, o)) = fans {
        entry["fan_in"] = i.into();
        entry["fan_out"] = o.into();
    }
    let metadata = BTreeMap::from([("nninit.inits".to_string(), serde_json::json!({ "w": entry }).to_string())]);
    write(path, &[Entry { name: "w".into(), source: &t }], &metadata, Overwrite::Replace).unwrap();
}

fn check_one(path: &Path) -> TensorCheck {
    let mut c = check_path(path, None).unwrap();
    assert_eq!(c.len(), 1);
    c.remove(0)
}

const SEEDS: u64 = 5;

#[test]
fn every_known_mistake_is_caught_and_named_and_correct_tensors_pass() {
    let dir = tempfile::tempdir().unwrap();
    let mut table = String::from(
        "| case | reported case | mistake | dtype | caught | cause named | false alarms (correct twin, 5 seeds) |\n|---|---|---|---|---|---|---|\n",
    );
    let mut problems = Vec::new();
    for case in cases() {
        let bad_path = dir.path().join(format!("{}-bad.safetensors", case.name));
        write_case(&bad_path, &case, case.bad.0, case.bad.1, 1);
        let bad = check_one(&bad_path);
        let caught = bad.status == Status::Fail;
        let named = bad.cause.as_deref().is_some_and(|c| c.contains(case.cause));
        let mut alarms = 0;
        for seed in 0..SEEDS {
            let good_path = dir.path().join(format!("{}-good{seed}.safetensors", case.name));
            write_case(&good_path, &case, case.good.0, case.good.1, seed);
            let good = check_one(&good_path);
            if good.status != Status::Pass {
                alarms += 1;
                problems.push(format!(
                    "{}: false alarm (seed {seed}): {:#?}",
                    case.name,
                    good.tests.iter().filter(|t| !t.pass).collect::<Vec<_>>()
                ));
            }
        }
        if !caught || !named {
            problems.push(format!(
                "{}: caught {caught}, cause {:?}, tests {:#?}",
                case.name,
                bad.cause,
                bad.tests.iter().filter(|t| !t.pass).collect::<Vec<_>>()
            ));
        }
        table.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} | {} |\n",
            case.name,
            case.case_id,
            case.mistake,
            case.dtype,
            if caught { "caught" } else { "missed" },
            bad.cause.as_deref().map_or("-".to_string(), |c| {
                let short: Vec<&str> = c.split("; or ").map(|alt| alt.split(':').next().unwrap_or(alt)).collect();
                format!("{}: {}", if named { "yes" } else { "no" }, short.join(" or ").replace('|', "\\|"))
            }),
            alarms
        ));
    }
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/check_detection.md");
    if std::env::var_os("NNINIT_BLESS").is_some() {
        std::fs::write(&file, &table).unwrap();
    }
    assert!(problems.is_empty(), "{}\n{table}", problems.join("\n"));
    assert_eq!(
        std::fs::read_to_string(&file).unwrap_or_default(),
        table,
        "the committed table is stale (NNINIT_BLESS=1 regenerates it)"
    );
}

/// Whole checkpoints written by nninit pass: every tensor of an MLP, in f32 and bf16, and each
/// rank's shard.
#[test]
fn checkpoints_written_by_nninit_pass() {
    use nninit::job::{self, InitJob, Source};
    let dir = tempfile::tempdir().unwrap();
    for (dtype, shard) in [(DType::F32, None), (DType::BF16, None), (DType::F32, Some("1/4"))] {
        let job = InitJob {
            source: Source::Arch { name: "mlp".into(), dims: vec![784, 256, 128, 10] },
            preset: Some("torch".into()),
            plan: None,
            seed: 3,
            dtype: Some(dtype),
            rng: nninit::rng::Stream::Torch,
            shard: shard.map(|s| nninit::shard::Shard::parse(s, 0).unwrap()),
            unmatched: nninit::plan::Unmatched::Warn,
        };
        let out = job::run(&job).unwrap();
        let path = dir.path().join(format!("m-{dtype}-{}.safetensors", shard.is_some()));
        out.save(&path, Overwrite::Replace, BTreeMap::new()).unwrap();
        let checks = check_path(&path, None).unwrap();
        assert_eq!(checks.len(), 6);
        for c in &checks {
            assert_eq!(c.status, Status::Pass, "{c:#?}");
        }
        if shard.is_some() {
            assert_eq!(checks[0].full_shape, vec![256, 784]);
            assert_eq!(checks[0].shape, vec![64, 784]);
        }
    }
}

/// Bad input: a truncated file and a malformed header are errors naming the file; a tensor of an
/// integer dtype, or one whose recorded init does not fit, is unchecked with the reason.
#[test]
fn bad_input_is_an_error_or_unchecked_never_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.safetensors");
    let case = &cases()[0];
    write_case(&path, case, case.good.0, none, 0);
    let bytes = std::fs::read(&path).unwrap();
    let cut = dir.path().join("cut.safetensors");
    std::fs::write(&cut, &bytes[..bytes.len() - 100]).unwrap();
    let err = check_path(&cut, None).unwrap_err().to_string();
    assert!(err.contains("cut.safetensors") && err.contains("run past the data"), "{err}");
    let junk = dir.path().join("junk.safetensors");
    std::fs::write(&junk, b"hello world, not a checkpoint").unwrap();
    assert!(check_path(&junk, None).unwrap_err().to_string().contains("not a safetensors file"));
    assert!(check_path(&dir.path().join("missing"), None).is_err());
    // An init that does not fit: a 1-D tensor with a fan-based init.
    let t = Tensor::from_f32(&[4], vec![0.0; 4]).unwrap();
    let ints =
        Tensor::new(&[2], nninit::tensor::Data::Other { dtype: safetensors::Dtype::I64, bytes: vec![0; 16] }).unwrap();
    let metadata = BTreeMap::from([(
        "nninit.inits".to_string(),
        r#"{"b": {"init": "xavier_uniform_(gain=1.0)"}, "i": {"init": "zeros_()"}}"#.to_string(),
    )]);
    let p = dir.path().join("misfit.safetensors");
    write(
        &p,
        &[Entry { name: "b".into(), source: &t }, Entry { name: "i".into(), source: &ints }],
        &metadata,
        Overwrite::Replace,
    )
    .unwrap();
    let checks = check_path(&p, None).unwrap();
    assert!(checks.iter().all(|c| c.status == Status::Unchecked), "{checks:#?}");
    assert!(checks[0].unchecked.as_deref().unwrap().contains("does not fit"));
    assert!(checks[1].unchecked.as_deref().unwrap().contains("not a float type"));
}

/// A model folder: an index naming a file outside the folder is refused (case P11).
#[test]
fn model_folders_and_their_index() {
    let dir = tempfile::tempdir().unwrap();
    let folder = dir.path().join("model");
    std::fs::create_dir(&folder).unwrap();
    let case = &cases()[2];
    write_case(&folder.join("a.safetensors"), case, case.good.0, none, 0);
    assert_eq!(check_path(&folder, None).unwrap().len(), 1);
    write_case(&dir.path().join("outside.safetensors"), case, case.good.0, none, 0);
    for entry in ["../outside.safetensors", "/etc/passwd", "missing.safetensors"] {
        std::fs::write(folder.join("model.safetensors.index.json"), format!(r#"{{"weight_map": {{"w": "{entry}"}}}}"#))
            .unwrap();
        let err = check_path(&folder, None).unwrap_err().to_string();
        assert!(err.contains(entry), "{err}");
    }
    std::os::unix::fs::symlink(dir.path().join("outside.safetensors"), folder.join("link.safetensors")).unwrap();
    std::fs::write(folder.join("model.safetensors.index.json"), r#"{"weight_map": {"w": "link.safetensors"}}"#)
        .unwrap();
    assert!(check_path(&folder, None).unwrap_err().to_string().contains("leads outside"));
    // Two files holding one tensor.
    std::fs::remove_file(folder.join("link.safetensors")).unwrap();
    std::fs::remove_file(folder.join("model.safetensors.index.json")).unwrap();
    write_case(&folder.join("b.safetensors"), case, case.good.0, none, 1);
    assert!(check_path(&folder, None).unwrap_err().to_string().contains("in both"));
}
