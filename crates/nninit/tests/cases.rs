//! One test per row of `/work/shared/cases/CASES.md` (V1–V7, N1–N9, T1–T3, S1–S3).
//!
//! Each test asserts the values the row calls right, so it fails if the fault the row describes
//! comes back. Rows that are also tested elsewhere (`model_and_plans.rs`, unit tests) are tested
//! here in full: this file is the one-stop proof for CASES.md. Statistical checks use fixed seeds
//! (so they are deterministic) and tolerances several standard errors wide but tight enough to
//! reject the wrong formula each row names.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;

use nninit::init::{
    calculate_gain, constant_, dirac_, fan_in_and_fan_out, kaiming_normal_, kaiming_uniform_, normal_, orthogonal_,
    sparse_, trunc_normal_, uniform_, xavier_normal_, xavier_uniform_, FanMode, Init, Nonlinearity,
};
use nninit::io::{load_bytes, read_layout, write, Checkpoint, Entry, Overwrite};
use nninit::nn::{Layer, Model, ModuleId, Role, Slot};
use nninit::plan::Plan;
use nninit::stats::Stats;
use nninit::tensor::{DType, Data, Tensor, TensorMut};
use nninit::{arch, Error, Generator};

// ------------------------------------------------------------------------------------------------
// Helpers
// ------------------------------------------------------------------------------------------------

/// Relative slack for an f64 bound once rounded to f32 (one f32 ulp is ~6e-8 relative).
const ROUNDING: f64 = 1e-6;

const FLOAT_DTYPES: [DType; 4] = [DType::F32, DType::F64, DType::F16, DType::BF16];

fn zeros(shape: &[usize]) -> Tensor {
    Tensor::zeros(shape, DType::F32)
}

fn view(t: &mut Tensor) -> TensorMut<'_> {
    t.view_mut().expect("float tensor")
}

fn f32s(t: &Tensor) -> &[f32] {
    match t.data() {
        Data::F32(v) => v,
        other => panic!("expected f32 data, got {other:?}"),
    }
}

fn stats(v: &[f64]) -> Stats {
    Stats::of(v.iter().copied())
}

fn max_abs(v: &[f64]) -> f64 {
    v.iter().fold(0.0, |m, x| m.max(x.abs()))
}

/// `|got − want| ≤ rel · |want|`.
fn assert_rel(got: f64, want: f64, rel: f64, what: &str) {
    assert!((got - want).abs() <= rel * want.abs(), "{what}: got {got}, want {want} within {}%", rel * 100.0);
}

/// Every value within `[−bound, bound]` (up to f32 rounding of the bound), and the largest
/// magnitude above `frac · bound` (so a bound that is too small is caught too).
fn assert_uniform_bound(v: &[f64], bound: f64, frac: f64, what: &str) {
    let m = max_abs(v);
    assert!(m <= bound * (1.0 + ROUNDING), "{what}: max |x| = {m} exceeds the bound {bound}");
    assert!(m > frac * bound, "{what}: max |x| = {m} is not close to the bound {bound} ({} samples)", v.len());
}

/// `(fan_in, fan_out)` computed here from the shape, independently of the library.
fn fans(shape: &[usize]) -> (usize, usize) {
    let receptive: usize = shape[2..].iter().product();
    (shape[1] * receptive, shape[0] * receptive)
}

/// A model holding the single layer `ctor` (PyTorch constructor syntax) as its root, with
/// PyTorch's default init recorded (no values yet).
fn recipe(ctor: &str, dtype: DType) -> Model {
    let (layer, _) = Layer::parse(ctor).unwrap_or_else(|e| panic!("{ctor}: {e}"));
    let mut m = Model::new(dtype);
    let id = m.add(layer).unwrap_or_else(|e| panic!("{ctor}: {e}"));
    m.set_root(id).unwrap();
    m
}

/// [`recipe`], with its values drawn from `g` (as constructing it in PyTorch).
fn single_in(ctor: &str, dtype: DType, g: &mut Generator) -> Model {
    let mut m = recipe(ctor, dtype);
    m.materialize_with(g).unwrap_or_else(|e| panic!("{ctor}: {e}"));
    m
}

fn single(ctor: &str, g: &mut Generator) -> Model {
    single_in(ctor, DType::F32, g)
}

fn tensor<'a>(m: &'a Model, name: &str) -> &'a Tensor {
    let id = m.state_dict().into_iter().find(|(n, _)| n == name).unwrap_or_else(|| panic!("no {name}")).1;
    m.tensor(id)
}

fn values(m: &Model, name: &str) -> Vec<f64> {
    tensor(m, name).to_f64_vec()
}

/// The values `init` gives a fresh f32 tensor of `shape` when drawing from `g`.
fn drawn(shape: &[usize], g: &mut Generator, init: impl FnOnce(TensorMut<'_>, &mut Generator)) -> Vec<f64> {
    let mut t = zeros(shape);
    init(view(&mut t), g);
    t.to_f64_vec()
}

fn err_message<T: std::fmt::Debug>(r: nninit::Result<T>) -> String {
    r.expect_err("expected an error").to_string()
}

/// The header JSON of a safetensors buffer, read by hand (not through the library).
fn header_json(bytes: &[u8]) -> serde_json::Value {
    let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    assert!(8 + n <= bytes.len(), "header length {n} runs past the file");
    let text = std::str::from_utf8(&bytes[8..8 + n]).expect("header is UTF-8");
    serde_json::from_str(text).unwrap_or_else(|e| panic!("header {text:?} is not valid JSON: {e}"))
}

/// A metadata map (whatever map type the reader returns) as a sorted map.
fn sorted<'a>(m: impl IntoIterator<Item = (&'a String, &'a String)>) -> BTreeMap<String, String> {
    m.into_iter().map(|(k, v)| (k.clone(), v.clone())).collect()
}

/// A safetensors buffer with the given header text and `data_len` data bytes (all 0).
fn hand_made(header: &str, data_len: usize) -> Vec<u8> {
    let mut b = (header.len() as u64).to_le_bytes().to_vec();
    b.extend_from_slice(header.as_bytes());
    b.extend(std::iter::repeat_n(0u8, data_len));
    b
}

// ------------------------------------------------------------------------------------------------
// Validation
// ------------------------------------------------------------------------------------------------

/// V1 | `kaiming_uniform_` / `kaiming_normal_` / `xavier_*` on shape `[0, 3]`, `[3, 0]`, `[0, 0]`;
/// default init of `Linear(in=0, out=5)` | no error, no panic, no division by zero: the empty
/// tensor is left as is (a warning is fine); the Linear bias (shape `[5]`) becomes exactly 0.0
/// (bound = 1/sqrt(fan_in) only when fan_in > 0, else 0)
#[test]
fn v1_zero_element_fans() {
    type Scheme = fn(TensorMut<'_>, &mut Generator) -> nninit::Result<()>;
    let schemes: [(&str, Scheme); 8] = [
        ("kaiming_uniform_ fan_in", |t, g| kaiming_uniform_(t, 0.0, FanMode::FanIn, Nonlinearity::LeakyRelu, g)),
        ("kaiming_uniform_ fan_out relu", |t, g| kaiming_uniform_(t, 0.0, FanMode::FanOut, Nonlinearity::Relu, g)),
        ("kaiming_normal_ fan_in", |t, g| kaiming_normal_(t, 0.0, FanMode::FanIn, Nonlinearity::LeakyRelu, g)),
        ("kaiming_normal_ fan_out relu", |t, g| kaiming_normal_(t, 0.0, FanMode::FanOut, Nonlinearity::Relu, g)),
        ("xavier_uniform_", |t, g| xavier_uniform_(t, 1.0, g)),
        ("xavier_uniform_ gain 2", |t, g| xavier_uniform_(t, 2.0, g)),
        ("xavier_normal_", |t, g| xavier_normal_(t, 1.0, g)),
        ("xavier_normal_ gain 2", |t, g| xavier_normal_(t, 2.0, g)),
    ];
    let strings = [
        "kaiming_uniform_()",
        "kaiming_uniform_(mode='fan_out', nonlinearity='relu')",
        "kaiming_normal_()",
        "kaiming_normal_(mode='fan_out', nonlinearity='relu')",
        "xavier_uniform_()",
        "xavier_normal_(gain=2.0)",
    ];
    let shapes: [&[usize]; 5] = [&[0, 3], &[3, 0], &[0, 0], &[0, 4, 3, 3], &[4, 0, 3]];
    let mut g = Generator::manual_seed(0);
    for dtype in FLOAT_DTYPES {
        for shape in shapes {
            for (name, f) in schemes {
                let mut t = Tensor::zeros(shape, dtype);
                let before = g.get_rng_state();
                f(view(&mut t), &mut g).unwrap_or_else(|e| panic!("{name} on {dtype} {shape:?}: {e}"));
                assert_eq!(t, Tensor::zeros(shape, dtype), "{name} changed an empty {dtype} {shape:?}");
                assert_eq!(g.get_rng_state(), before, "{name} on an empty tensor drew random numbers");
            }
            for s in strings {
                let init: Init = s.parse().unwrap();
                let mut t = Tensor::zeros(shape, dtype);
                init.apply(view(&mut t), &mut g).unwrap_or_else(|e| panic!("{s} on {dtype} {shape:?}: {e}"));
                assert_eq!(t, Tensor::zeros(shape, dtype), "{s} changed an empty {dtype} {shape:?}");
            }
        }
    }

    // Default init of layers whose fan_in is 0: the bias bound is 0, every bias value is +0.0.
    for dtype in FLOAT_DTYPES {
        for (ctor, weight_shape) in [
            ("nn.Linear(0, 5)", vec![5, 0]),
            ("nn.Conv2d(0, 5, 3)", vec![5, 0, 3, 3]),
            ("nn.Conv1d(0, 5, 1)", vec![5, 0, 1]),
        ] {
            let m = single_in(ctor, dtype, &mut g);
            let w = tensor(&m, "weight");
            assert_eq!(w.shape(), weight_shape.as_slice(), "{ctor}");
            assert_eq!(w.numel(), 0);
            let b = tensor(&m, "bias");
            assert_eq!(b.shape(), &[5], "{ctor}");
            assert_eq!(b.dtype(), Some(dtype));
            // +0.0 is all-zero bits in every float format; -0.0 or NaN would not be.
            assert!(b.bytes().iter().all(|&x| x == 0), "{ctor} {dtype}: bias bits {:?} are not +0.0", b.bytes());
        }
    }
    let m = single("nn.Linear(0, 5)", &mut g);
    let bias = f32s(tensor(&m, "bias"));
    assert_eq!(bias.iter().map(|x| x.to_bits()).collect::<Vec<_>>(), vec![0.0f32.to_bits(); 5]);
}

/// V1, the same value as reported: `Layer::default_init` describes the zero-fan bias init as an
/// [`Init`]; applying that description must also give +0.0 (it gives -0.0: the description is
/// `uniform_(a=-0.0, b=0.0)`, and the uniform sampler maps a value equal to `b` to `a`).
#[test]
fn v1_reported_zero_fan_bias_init_gives_positive_zero() {
    let mut g = Generator::manual_seed(0);
    for ctor in ["nn.Linear(0, 5)", "nn.Conv2d(0, 5, 3)"] {
        let (layer, _) = Layer::parse(ctor).unwrap();
        let init = layer.default_init("bias").expect("a default init for the bias");
        let mut t = zeros(&[5]);
        constant_(view(&mut t), 9.0).unwrap();
        init.apply(view(&mut t), &mut g).unwrap();
        assert!(f32s(&t).iter().all(|x| x.to_bits() == 0), "{ctor}: {init} wrote {:?}", f32s(&t));
    }
}

/// V2 | `orthogonal_` on `[0, 1]`, `[3, 0]`, `[0, 4, 3, 3]` | returns unchanged; rank < 2 still
/// errors ("Only tensors with 2 or more dimensions are supported")
#[test]
fn v2_orthogonal_empty_and_rank_errors() {
    let mut g = Generator::manual_seed(0);
    let shapes: [&[usize]; 3] = [&[0, 1], &[3, 0], &[0, 4, 3, 3]];
    for dtype in FLOAT_DTYPES {
        for shape in shapes {
            for gain in [1.0, 2.0] {
                let mut t = Tensor::zeros(shape, dtype);
                let before = g.get_rng_state();
                orthogonal_(view(&mut t), gain, &mut g).unwrap_or_else(|e| panic!("{dtype} {shape:?}: {e}"));
                assert_eq!(t, Tensor::zeros(shape, dtype), "{dtype} {shape:?} changed");
                assert_eq!(g.get_rng_state(), before, "{dtype} {shape:?}: drew random numbers");
            }
            let mut t = Tensor::zeros(shape, dtype);
            "orthogonal_()".parse::<Init>().unwrap().apply(view(&mut t), &mut g).unwrap();
            assert_eq!(t, Tensor::zeros(shape, dtype));
        }
    }
    let want = "Only tensors with 2 or more dimensions are supported";
    let rank_lt_2: [&[usize]; 4] = [&[], &[5], &[0], &[1]];
    for shape in rank_lt_2 {
        let mut t = zeros(shape);
        assert_eq!(err_message(orthogonal_(view(&mut t), 1.0, &mut g)), want, "{shape:?}");
        let init: Init = "orthogonal_(gain=2)".parse().unwrap();
        assert_eq!(err_message(init.apply(view(&mut t), &mut g)), want, "{shape:?}");
    }
}

/// V3 | `xavier_uniform_` / `kaiming_normal_` on a bias of shape `[64]`, and on a 0-d scalar `[]`
/// | error "Fan in and fan out can not be computed for tensor with fewer than 2 dimensions"; when
/// the call comes from a whole-model rule, the error also names the parameter path (e.g.
/// `layer.0.bias`) and its shape
#[test]
fn v3_fan_error_names_the_parameter() {
    const FAN: &str = "Fan in and fan out can not be computed for tensor with fewer than 2 dimensions";
    let mut g = Generator::manual_seed(0);
    let shapes: [&[usize]; 2] = [&[64], &[]];
    for shape in shapes {
        let mut t = zeros(shape);
        let results = [
            xavier_uniform_(view(&mut t), 1.0, &mut g),
            xavier_normal_(view(&mut t), 1.0, &mut g),
            kaiming_normal_(view(&mut t), 0.0, FanMode::FanIn, Nonlinearity::Relu, &mut g),
            kaiming_uniform_(view(&mut t), 0.0, FanMode::FanOut, Nonlinearity::LeakyRelu, &mut g),
        ];
        for r in results {
            match r {
                Err(Error::Value { message }) => assert_eq!(message, FAN, "{shape:?}"),
                other => panic!("{shape:?}: expected the fan error, got {other:?}"),
            }
        }
        assert_eq!(fan_in_and_fan_out(shape).unwrap_err().to_string(), FAN);
        // The failed calls left the tensor alone.
        assert_eq!(t, zeros(shape));
    }

    // From a whole-model rule: the error names the path and shape.
    let mut model = arch::mlp(&[784, 64, 10], DType::F32).unwrap();
    let plan = Plan::from_toml("[[rule]]\nlayer = \"Linear\"\ninit = \"xavier_uniform_()\"\n").unwrap();
    let err = plan.apply(&mut model).unwrap_err();
    assert_eq!(err.to_string(), format!("layer.0.bias (shape [64]): {FAN}"));
    match err {
        Error::AtParameter { path, shape, source } => {
            assert_eq!(path, "layer.0.bias");
            assert_eq!(shape, vec![64]);
            assert_eq!(source.to_string(), FAN);
        }
        other => panic!("expected AtParameter, got {other:?}"),
    }

    // A 0-d parameter reached through a rule, and through `apply` with `ModuleMut::init`.
    let mut m = Model::new(DType::F32);
    let scale = m
        .add_with_slots(
            Layer::Custom("Scale".into()),
            &[Slot { name: "scale".into(), shape: vec![], role: Role::Weight, buffer: false, int64: false }],
        )
        .unwrap();
    let root = m.container(Layer::Custom("Net".into()), &[]);
    m.add_child(root, "head", scale).unwrap();
    m.set_root(root).unwrap();
    let plan = Plan::from_toml("[[rule]]\nname = \"*scale\"\ninit = \"kaiming_normal_()\"\n").unwrap();
    assert_eq!(err_message(plan.apply(&mut m)), format!("head.scale (shape []): {FAN}"));
    let init = Init::XavierUniform { gain: 1.0 };
    let r = m.apply(|mut mm| if mm.has("scale") { mm.init("scale", &init) } else { Ok(()) });
    assert_eq!(err_message(r), format!("head.scale (shape []): {FAN}"));
}

/// V3, the same kind of fault through a `gate` rule: an init error from a gate rule must name the
/// parameter's path and its shape (`[64]` for an LSTM(8, 16) bias), not `shape []`.
#[test]
fn v3_gate_rule_error_names_the_parameter_shape() {
    const FAN: &str = "Fan in and fan out can not be computed for tensor with fewer than 2 dimensions";
    let mut m = recipe("nn.LSTM(8, 16)", DType::F32);
    let plan =
        Plan::from_toml("[[rule]]\nname = \"bias_ih_l0\"\ngate = \"forget\"\ninit = \"xavier_uniform_()\"\n").unwrap();
    assert_eq!(err_message(plan.apply(&mut m)), format!("bias_ih_l0 (shape [64]): {FAN}"));
}

/// V4 | every layer type (Linear, Conv1d/2d/3d, ConvTranspose1d/2d/3d, Bilinear, Embedding,
/// RNN/LSTM/GRU, MultiheadAttention) x every fan-based scheme (xavier/kaiming, uniform/normal,
/// fan_in/fan_out) | all succeed: fans always come from the weight's shape (a Rust framework
/// panicked because its conv layers never passed fan_out: Conv2d in=5 out=1 k=5 with kaiming
/// fan_out; Conv1d in=2 out=2 k=1 with xavier_uniform gain 1 -> bound sqrt(6/4) = 1.22474)
#[test]
fn v4_every_layer_every_fan_scheme() {
    // (constructor, number of parameters with rank >= 2)
    let layers = [
        ("nn.Linear(7, 5)", 1),
        ("nn.Conv1d(2, 2, 1)", 1),
        ("nn.Conv2d(5, 1, 5)", 1),
        ("nn.Conv3d(4, 6, (3, 2, 1), groups=2)", 1),
        ("nn.ConvTranspose1d(4, 6, 3)", 1),
        ("nn.ConvTranspose2d(16, 8, 3, groups=2)", 1),
        ("nn.ConvTranspose3d(2, 4, 2)", 1),
        ("nn.Bilinear(3, 4, 5)", 1),
        ("nn.Embedding(10, 3, padding_idx=0)", 1),
        ("nn.RNN(4, 6, num_layers=2, nonlinearity='relu', bidirectional=True)", 8),
        ("nn.LSTM(8, 16, proj_size=4)", 3),
        ("nn.GRU(3, 5)", 2),
        ("nn.RNNCell(3, 4)", 2),
        ("nn.LSTMCell(3, 4)", 2),
        ("nn.GRUCell(3, 4)", 2),
        ("nn.MultiheadAttention(8, 2)", 2),
        ("nn.MultiheadAttention(8, 2, add_bias_kv=True, kdim=4, vdim=6)", 6),
    ];
    #[derive(Clone, Copy)]
    enum Dist {
        Uniform,
        Normal,
    }
    // (init, distribution, the std it aims at from (fan_in, fan_out))
    type Target = fn(usize, usize) -> f64;
    let schemes: [(&str, Dist, Target); 8] = [
        ("xavier_uniform_()", Dist::Uniform, |i, o| (2.0 / (i + o) as f64).sqrt()),
        ("xavier_uniform_(gain=2.0)", Dist::Uniform, |i, o| 2.0 * (2.0 / (i + o) as f64).sqrt()),
        ("xavier_normal_()", Dist::Normal, |i, o| (2.0 / (i + o) as f64).sqrt()),
        ("kaiming_uniform_(mode='fan_in')", Dist::Uniform, |i, _| (2.0 / i as f64).sqrt()),
        ("kaiming_uniform_(mode='fan_out', nonlinearity='relu')", Dist::Uniform, |_, o| (2.0 / o as f64).sqrt()),
        ("kaiming_normal_(mode='fan_in', nonlinearity='relu')", Dist::Normal, |i, _| (2.0 / i as f64).sqrt()),
        ("kaiming_normal_(mode='fan_out')", Dist::Normal, |_, o| (2.0 / o as f64).sqrt()),
        ("kaiming_normal_(a=0.2, mode='fan_out', nonlinearity='leaky_relu')", Dist::Normal, |_, o| {
            (2.0 / (1.0 + 0.2 * 0.2) / o as f64).sqrt()
        }),
    ];
    let mut g = Generator::manual_seed(0);
    for (ctor, n_matrices) in layers {
        for (scheme, dist, target) in schemes {
            let init: Init = scheme.parse().unwrap();
            let mut model = recipe(ctor, DType::F32);
            // Through the whole-model path (`apply` + `ModuleMut::init`), as a user's init loop.
            model
                .apply(|mut m| {
                    let names: Vec<String> = m
                        .slots()
                        .iter()
                        .filter(|s| !s.buffer)
                        .map(|s| s.name.clone())
                        .filter(|n| m.tensor(n).is_some_and(|t| t.shape().len() >= 2))
                        .collect();
                    for n in names {
                        m.init(&n, &init)?;
                    }
                    Ok(())
                })
                .unwrap_or_else(|e| panic!("{ctor} x {scheme}: {e}"));
            model.materialize_with(&mut g).unwrap_or_else(|e| panic!("{ctor} x {scheme}: {e}"));
            let mut checked = 0;
            for (name, id) in model.named_parameters() {
                let t = model.tensor(id);
                if t.shape().len() < 2 {
                    continue;
                }
                checked += 1;
                let what = format!("{ctor} x {scheme}: {name} {:?}", t.shape());
                let (fan_in, fan_out) = fans(t.shape());
                assert_eq!(fan_in_and_fan_out(t.shape()).unwrap(), (fan_in, fan_out), "{what}");
                let std = target(fan_in, fan_out);
                let v = t.to_f64_vec();
                assert!(v.iter().all(|x| x.is_finite()), "{what}: non-finite values");
                match dist {
                    Dist::Uniform => {
                        let bound = 3f64.sqrt() * std;
                        let frac = if v.len() >= 30 { 0.5 } else { 0.0 };
                        assert_uniform_bound(&v, bound, frac, &what);
                    }
                    Dist::Normal if v.len() >= 30 => {
                        let s = stats(&v).std;
                        assert!(s > 0.5 * std && s < 1.5 * std, "{what}: std {s}, aimed at {std}");
                    }
                    Dist::Normal => assert!(v.iter().any(|&x| x != 0.0), "{what}: not initialized"),
                }
            }
            assert_eq!(checked, n_matrices, "{ctor}: parameters with rank >= 2");
        }
    }

    // Conv2d(5, 1, 5): weight [1, 5, 5, 5], fans (125, 25). fan_out must be 25 (not 0, not 125).
    let mut model = single("nn.Conv2d(5, 1, 5)", &mut g);
    let id = model.state_dict()[0].1;
    assert_eq!(model.tensor(id).shape(), &[1, 5, 5, 5]);
    assert_eq!(fan_in_and_fan_out(&[1, 5, 5, 5]).unwrap(), (125, 25));
    let uniform_fan_out: Init = "kaiming_uniform_(mode='fan_out', nonlinearity='relu')".parse().unwrap();
    let normal_fan_out: Init = "kaiming_normal_(mode='fan_out', nonlinearity='relu')".parse().unwrap();
    let (mut u, mut n) = (Vec::new(), Vec::new());
    for _ in 0..200 {
        uniform_fan_out.apply(view(model.tensor_mut(id)), &mut g).unwrap();
        u.extend(model.tensor(id).to_f64_vec());
        normal_fan_out.apply(view(model.tensor_mut(id)), &mut g).unwrap();
        n.extend(model.tensor(id).to_f64_vec());
    }
    let bound = (6.0f64 / 25.0).sqrt(); // sqrt(2) * sqrt(3 / 25)
    assert_uniform_bound(&u, bound, 0.999, "Conv2d(5, 1, 5) kaiming_uniform_ fan_out");
    assert_rel(stats(&u).std, bound / 3f64.sqrt(), 0.02, "Conv2d(5, 1, 5) kaiming_uniform_ fan_out std");
    assert_rel(stats(&n).std, (2.0f64 / 25.0).sqrt(), 0.02, "Conv2d(5, 1, 5) kaiming_normal_ fan_out std");

    // Conv1d(2, 2, 1) with xavier_uniform_(gain=1): bound sqrt(6 / (2 + 2)) = 1.22474.
    let mut model = single("nn.Conv1d(2, 2, 1)", &mut g);
    let id = model.state_dict()[0].1;
    assert_eq!(model.tensor(id).shape(), &[2, 2, 1]);
    let mut v = Vec::new();
    for _ in 0..3000 {
        xavier_uniform_(view(model.tensor_mut(id)), 1.0, &mut g).unwrap();
        v.extend(model.tensor(id).to_f64_vec());
    }
    let bound = (6.0f64 / 4.0).sqrt();
    assert!((bound - 1.22474).abs() < 1e-5);
    assert_uniform_bound(&v, bound, 0.999, "Conv1d(2, 2, 1) xavier_uniform_");
    assert_rel(stats(&v).std, bound / 3f64.sqrt(), 0.02, "Conv1d(2, 2, 1) xavier_uniform_ std");
}

/// V5 | `dirac_` on `[24, 3, 5, 5]` groups=3; groups=5; on `[3, 3]`; kernel size 4 | groups=3:
/// exactly 9 ones at `[g*8+d, d, 2, 2]` for g, d in 0..3, zeros elsewhere; groups=5: error "dim 0
/// must be divisible by groups"; rank 2: error "Only tensors with 3, 4, or 5 dimensions are
/// supported"; even kernel: centre index k/2 = 2
#[test]
fn v5_dirac_groups_rank_and_even_kernel() {
    let idx4 = |s: &[usize], a: usize, b: usize, c: usize, d: usize| ((a * s[1] + b) * s[2] + c) * s[3] + d;

    // groups = 3 on [24, 3, 5, 5]; the tensor starts non-zero so "zeros elsewhere" is tested.
    let shape = [24, 3, 5, 5];
    let mut t = zeros(&shape);
    constant_(view(&mut t), 7.0).unwrap();
    dirac_(view(&mut t), 3).unwrap();
    let mut want = vec![0.0f32; t.numel()];
    for g in 0..3 {
        for d in 0..3 {
            want[idx4(&shape, g * 8 + d, d, 2, 2)] = 1.0;
        }
    }
    assert_eq!(f32s(&t), want.as_slice());
    assert_eq!(f32s(&t).iter().filter(|&&x| x == 1.0).count(), 9);
    // The same through the Init string.
    let mut t2 = zeros(&shape);
    "dirac_(groups=3)".parse::<Init>().unwrap().apply(view(&mut t2), &mut Generator::manual_seed(0)).unwrap();
    assert_eq!(t2, t);

    // groups = 5 does not divide 24: error, tensor untouched.
    let mut t = zeros(&shape);
    constant_(view(&mut t), 7.0).unwrap();
    assert_eq!(err_message(dirac_(view(&mut t), 5)), "dim 0 must be divisible by groups");
    assert!(f32s(&t).iter().all(|&x| x == 7.0), "a failed dirac_ modified the tensor");

    // Rank 2 (and other ranks outside 3..=5).
    let bad_ranks: [&[usize]; 4] = [&[3, 3], &[3], &[], &[1, 1, 1, 1, 1, 1]];
    for s in bad_ranks {
        let mut t = zeros(s);
        assert_eq!(err_message(dirac_(view(&mut t), 1)), "Only tensors with 3, 4, or 5 dimensions are supported");
    }

    // Even kernel size 4: centre index 4 / 2 = 2, in 1, 2 and 3 spatial dims.
    let mut t = zeros(&[3, 2, 4]);
    dirac_(view(&mut t), 1).unwrap();
    let mut want = vec![0.0f32; 24];
    for d in 0..2 {
        want[(d * 2 + d) * 4 + 2] = 1.0;
    }
    assert_eq!(f32s(&t), want.as_slice(), "[3, 2, 4]");
    let shape = [2, 2, 4, 4];
    let mut t = zeros(&shape);
    dirac_(view(&mut t), 1).unwrap();
    let mut want = vec![0.0f32; 64];
    for d in 0..2 {
        want[idx4(&shape, d, d, 2, 2)] = 1.0;
    }
    assert_eq!(f32s(&t), want.as_slice(), "[2, 2, 4, 4]");
    let mut t = zeros(&[2, 3, 4, 4, 4]);
    dirac_(view(&mut t), 1).unwrap();
    let mut want = vec![0.0f32; 2 * 3 * 64];
    for d in 0..2 {
        want[(((d * 3 + d) * 4 + 2) * 4 + 2) * 4 + 2] = 1.0;
    }
    assert_eq!(f32s(&t), want.as_slice(), "[2, 3, 4, 4, 4]");
}

/// V6 | `calculate_gain`: linear, conv1d..3d, conv_transpose1d..3d, sigmoid, tanh, relu,
/// leaky_relu (param none / 0.2), selu, "gelu" | 1, 1, 1, 1, 5/3, sqrt(2), sqrt(2/1.0001) =
/// 1.4141428, sqrt(2/1.04) = 1.3867505, 0.75; unknown name: error "Unsupported nonlinearity gelu";
/// a slope that is not a number is unrepresentable or an error
#[test]
fn v6_calculate_gain_table() {
    let gain = |name: &str, param: Option<f64>| {
        let nl: Nonlinearity = name.parse().unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(nl.to_string(), name);
        calculate_gain(nl, param).unwrap()
    };
    for name in
        ["linear", "conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d", "conv_transpose3d", "sigmoid"]
    {
        assert_eq!(gain(name, None), 1.0, "{name}");
        // The param is only read for leaky_relu.
        assert_eq!(gain(name, Some(0.2)), 1.0, "{name}");
    }
    assert_eq!(gain("tanh", None), 5.0 / 3.0);
    assert_eq!(gain("relu", None), 2f64.sqrt());
    assert_eq!(gain("relu", Some(0.2)), 2f64.sqrt());
    // Python: math.sqrt(2.0 / (1 + 0.01 ** 2)) and math.sqrt(2.0 / (1 + 0.2 ** 2)).
    assert_eq!(gain("leaky_relu", None), 1.4141428569978354);
    assert_eq!(gain("leaky_relu", None), (2.0f64 / (1.0 + 0.01 * 0.01)).sqrt());
    assert!((gain("leaky_relu", None) - 1.4141428).abs() < 1e-7);
    assert_eq!(gain("leaky_relu", Some(0.2)), (2.0f64 / (1.0 + 0.2 * 0.2)).sqrt());
    assert!((gain("leaky_relu", Some(0.2)) - 1.3867505).abs() < 1e-7);
    assert_eq!(gain("leaky_relu", Some(0.0)), 2f64.sqrt());
    assert_eq!(gain("selu", None), 0.75);

    // Unknown names.
    assert_eq!(err_message("gelu".parse::<Nonlinearity>()), "Unsupported nonlinearity gelu");
    assert_eq!(err_message("kaiming_uniform_(nonlinearity='gelu')".parse::<Init>()), "Unsupported nonlinearity gelu");
    // A slope that is not a number: an error wherever it can be written.
    for slope in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
        assert!(calculate_gain(Nonlinearity::LeakyRelu, Some(slope)).is_err(), "slope {slope}");
        let mut t = zeros(&[4, 4]);
        let r = kaiming_uniform_(
            view(&mut t),
            slope,
            FanMode::FanIn,
            Nonlinearity::LeakyRelu,
            &mut Generator::manual_seed(0),
        );
        assert!(r.is_err(), "kaiming_uniform_ with slope {slope}");
        assert_eq!(t, zeros(&[4, 4]));
    }
    assert_eq!(err_message("kaiming_normal_(a='x')".parse::<Init>()), "negative_slope x not a valid number");
    assert_eq!(err_message("kaiming_normal_(a=True)".parse::<Init>()), "negative_slope True not a valid number");
}

/// V7 | `sparse_` on a rank-3 tensor; sparsity 0 and 1 on `[10, 5]` | rank != 2: error "Only
/// tensors with 2 dimensions are supported"; sparsity 0: no forced zeros; sparsity 1: all zeros
#[test]
fn v7_sparse_rank_and_extreme_sparsity() {
    let mut g = Generator::manual_seed(0);
    let bad: [&[usize]; 4] = [&[2, 5, 5], &[10], &[], &[2, 2, 2, 2]];
    for shape in bad {
        let mut t = zeros(shape);
        assert_eq!(
            err_message(sparse_(view(&mut t), 0.5, 0.01, &mut g)),
            "Only tensors with 2 dimensions are supported"
        );
        let init: Init = "sparse_(0.5)".parse().unwrap();
        assert_eq!(err_message(init.apply(view(&mut t), &mut g)), "Only tensors with 2 dimensions are supported");
    }

    // Sparsity 0: the values are exactly the N(0, std^2) draw, no zero forced in.
    let expect = drawn(&[10, 5], &mut g.clone(), |t, g| normal_(t, 0.0, 0.01, g).unwrap());
    let got = drawn(&[10, 5], &mut g, |t, g| sparse_(t, 0.0, 0.01, g).unwrap());
    assert_eq!(got, expect);
    assert!(got.iter().all(|&x| x != 0.0));

    // Sparsity 1: every element exactly 0 (+0.0).
    for _ in 0..10 {
        let mut t = zeros(&[10, 5]);
        constant_(view(&mut t), 3.0).unwrap();
        sparse_(view(&mut t), 1.0, 0.01, &mut g).unwrap();
        assert!(f32s(&t).iter().all(|x| x.to_bits() == 0), "{:?}", f32s(&t));
        let mut t = zeros(&[10, 5]);
        "sparse_(sparsity=1.0, std=0.5)".parse::<Init>().unwrap().apply(view(&mut t), &mut g).unwrap();
        assert!(f32s(&t).iter().all(|x| x.to_bits() == 0));
    }
}

// ------------------------------------------------------------------------------------------------
// Numerics
// ------------------------------------------------------------------------------------------------

/// N1 | default init of Linear(64 -> 32) and Conv2d(16 -> 32, 3x3) | weight and bias ~ U(-b, b):
/// Linear b = 1/sqrt(64) = 0.125; Conv2d fan_in = 144, b = 1/12 (torch's kaiming_uniform_(a=sqrt(5))
/// is exactly this). max abs <= b and > 0.9 b; std near b/sqrt(3) over >= 10,000 samples
#[test]
fn n1_default_linear_and_conv_bounds() {
    let mut g = Generator::manual_seed(0);
    for (ctor, weight_shape, b) in [
        ("nn.Linear(64, 32)", vec![32, 64], 1.0 / 64f64.sqrt()),
        ("nn.Conv2d(16, 32, 3)", vec![32, 16, 3, 3], 1.0 / 144f64.sqrt()),
    ] {
        assert_eq!(fans(&weight_shape).0 as f64, 1.0 / (b * b));
        let (mut weights, mut biases) = (Vec::new(), Vec::new());
        while biases.len() < 10_000 {
            let m = single(ctor, &mut g);
            let w = tensor(&m, "weight");
            assert_eq!(w.shape(), weight_shape.as_slice());
            assert_eq!(tensor(&m, "bias").shape(), &[32]);
            let wv = w.to_f64_vec();
            // Each single layer already spans the range.
            assert_uniform_bound(&wv, b, 0.9, ctor);
            weights.extend(wv);
            biases.extend(values(&m, "bias"));
        }
        for (what, v) in [("weight", &weights), ("bias", &biases)] {
            let what = format!("{ctor} {what} ({} samples)", v.len());
            assert!(v.len() >= 10_000);
            assert_uniform_bound(v, b, 0.999, &what);
            let s = stats(v);
            assert_rel(s.std, b / 3f64.sqrt(), 0.02, &format!("{what} std"));
            assert!(s.mean.abs() < 0.03 * b, "{what}: mean {}", s.mean);
        }
    }
    assert_eq!(1.0 / 144f64.sqrt(), 1.0 / 12.0);
}

/// N2 | `kaiming_uniform_(mode='fan_in', nonlinearity='relu')` on `[256, 512]` | bound sqrt(6/512)
/// = 0.108253 (the sqrt(3) factor is needed: a Rust binding once forgot it); std sqrt(2/512) =
/// 0.0625 within 2 %
#[test]
fn n2_kaiming_uniform_relu_bound_and_std() {
    let bound = (6.0f64 / 512.0).sqrt();
    assert!((bound - 0.108253).abs() < 1e-6);
    let mut g = Generator::manual_seed(0);
    let v = drawn(&[256, 512], &mut g.clone(), |t, g| {
        kaiming_uniform_(t, 0.0, FanMode::FanIn, Nonlinearity::Relu, g).unwrap()
    });
    assert_eq!(v.len(), 131_072);
    assert_uniform_bound(&v, bound, 0.999, "kaiming_uniform_ relu [256, 512]");
    let s = stats(&v);
    assert_rel(s.std, 0.0625, 0.02, "kaiming_uniform_ relu [256, 512] std");
    assert!(s.mean.abs() < 0.002, "mean {}", s.mean);
    // The Init string gives the same values from the same generator state.
    let init: Init = "kaiming_uniform_(mode='fan_in', nonlinearity='relu')".parse().unwrap();
    let w = drawn(&[256, 512], &mut g, |t, g| init.apply(t, g).unwrap());
    assert_eq!(w, v);
}

/// N3 | ConvTranspose2d(in=16, out=8, k=3): weight `[16, 8, 3, 3]`; with groups=2: `[16, 4, 3, 3]`
/// | torch fans look only at dims 0 and 1: (fan_in, fan_out) = (72, 144); default bound 1/sqrt(72)
/// = 0.117851 for weight and bias; groups=2: fan_in 36, bound 1/6. A data-flow-correct fan may
/// exist only as a separately named option
#[test]
fn n3_conv_transpose_fans_and_default_bounds() {
    let mut g = Generator::manual_seed(0);
    for (ctor, shape, want_fans, b) in [
        ("nn.ConvTranspose2d(16, 8, 3)", [16, 8, 3, 3], (72, 144), 1.0 / 72f64.sqrt()),
        ("nn.ConvTranspose2d(16, 8, 3, groups=2)", [16, 4, 3, 3], (36, 144), 1.0 / 6.0),
    ] {
        assert_eq!(fan_in_and_fan_out(&shape).unwrap(), want_fans, "{ctor}");
        let (mut weights, mut biases) = (Vec::new(), Vec::new());
        for _ in 0..300 {
            let m = single(ctor, &mut g);
            assert_eq!(tensor(&m, "weight").shape(), &shape, "{ctor}");
            assert_eq!(tensor(&m, "bias").shape(), &[8], "{ctor}");
            let w = values(&m, "weight");
            assert_uniform_bound(&w, b, 0.9, ctor);
            weights.extend(w);
            biases.extend(values(&m, "bias"));
        }
        assert_uniform_bound(&weights, b, 0.999, &format!("{ctor} weight"));
        assert_rel(stats(&weights).std, b / 3f64.sqrt(), 0.01, &format!("{ctor} weight std"));
        // 2400 bias values: the bound is 1/sqrt(fan_in) from dims 0 and 1 (not 1/sqrt(144)).
        assert_uniform_bound(&biases, b, 0.99, &format!("{ctor} bias"));
        assert_rel(stats(&biases).std, b / 3f64.sqrt(), 0.04, &format!("{ctor} bias std"));
    }
    assert!((1.0 / 72f64.sqrt() - 0.117851).abs() < 1e-6);
    // The default, reported as an Init, is this bound too.
    let (layer, _) = Layer::parse("nn.ConvTranspose2d(16, 8, 3)").unwrap();
    assert_eq!(layer.default_init("bias"), Some(Init::Uniform { a: -1.0 / 72f64.sqrt(), b: 1.0 / 72f64.sqrt() }));
}

/// N4 | depthwise Conv2d(4, 4, 3, groups=4): weight `[4, 1, 3, 3]`; kaiming_normal_(fan_out,
/// relu) | fans (9, 36); std sqrt(2)/6 = 0.235702 (pin torch's value; any group-aware fan is
/// opt-in)
#[test]
fn n4_depthwise_conv_fan_out() {
    let mut g = Generator::manual_seed(0);
    let mut m = single("nn.Conv2d(4, 4, 3, groups=4)", &mut g);
    let id = m.state_dict()[0].1;
    assert_eq!(m.tensor(id).shape(), &[4, 1, 3, 3]);
    assert_eq!(fan_in_and_fan_out(&[4, 1, 3, 3]).unwrap(), (9, 36));
    let init: Init = "kaiming_normal_(mode='fan_out', nonlinearity='relu')".parse().unwrap();
    assert_rel(init.expected_std(&[4, 1, 3, 3]).unwrap(), 2f64.sqrt() / 6.0, 1e-12, "expected_std");
    let mut v = Vec::new();
    for _ in 0..1000 {
        init.apply(view(m.tensor_mut(id)), &mut g).unwrap();
        v.extend(m.tensor(id).to_f64_vec());
    }
    let want = 2f64.sqrt() / 6.0;
    assert!((want - 0.235702).abs() < 1e-6);
    let s = stats(&v);
    assert_rel(s.std, want, 0.02, "depthwise kaiming_normal_ fan_out std (36,000 samples)");
    assert!(s.mean.abs() < 0.01, "mean {}", s.mean);
}

/// N5 | kaiming_uniform_(relu) on `[3, 5]` vs `[5, 3]` | weights are `[fan_out, fan_in]`: `[3, 5]`
/// bound sqrt(6/5) = 1.095445; `[5, 3]` bound sqrt(2) = 1.414214
#[test]
fn n5_fan_in_is_dim_1() {
    let mut g = Generator::manual_seed(0);
    for (shape, bound) in [([3usize, 5usize], (6.0f64 / 5.0).sqrt()), ([5, 3], 2f64.sqrt())] {
        assert_eq!(fan_in_and_fan_out(&shape).unwrap(), (shape[1], shape[0]));
        let mut v = Vec::new();
        for _ in 0..1000 {
            v.extend(drawn(&shape, &mut g, |t, g| {
                kaiming_uniform_(t, 0.0, FanMode::FanIn, Nonlinearity::Relu, g).unwrap()
            }));
        }
        assert_uniform_bound(&v, bound, 0.999, &format!("{shape:?}"));
        assert_rel(stats(&v).std, bound / 3f64.sqrt(), 0.02, &format!("{shape:?} std"));
    }
    assert!(((6.0f64 / 5.0).sqrt() - 1.095445).abs() < 1e-6);
}

/// N6 | `sparse_(sparsity=0.25, std=0.01)` on `[10, 5]` | each column has exactly ceil(0.25 * 10) =
/// 3 zeros, the rest ~ N(0, 0.01^2); 500x500 at sparsity 0.9 takes well under 10 ms
///
/// The timing is left to benchmarks (no timing assertions in tests); the 500x500 result is checked
/// instead: exactly 450 zeros per column.
#[test]
fn n6_sparse_zeros_per_column() {
    let mut g = Generator::manual_seed(0);
    let zero_rows = |v: &[f64], rows: usize, cols: usize, c: usize| -> Vec<usize> {
        (0..rows).filter(|&r| v[r * cols + c] == 0.0).collect()
    };
    let mut nonzero = Vec::new();
    for _ in 0..300 {
        let v = drawn(&[10, 5], &mut g, |t, g| sparse_(t, 0.25, 0.01, g).unwrap());
        for c in 0..5 {
            assert_eq!(zero_rows(&v, 10, 5, c).len(), 3, "column {c} of {v:?}");
        }
        nonzero.extend(v.into_iter().filter(|&x| x != 0.0));
    }
    assert_eq!(nonzero.len(), 300 * 35);
    let s = stats(&nonzero);
    assert_rel(s.std, 0.01, 0.03, "sparse_ non-zero std (10,500 samples)");
    assert!(s.mean.abs() < 0.0005, "mean {}", s.mean);

    // 500 x 500 at sparsity 0.9: 450 zeros in every column, the 25,000 others ~ N(0, 0.01^2), and
    // the zeroed rows differ between columns (one permutation per column).
    let v = drawn(&[500, 500], &mut g, |t, g| sparse_(t, 0.9, 0.01, g).unwrap());
    let patterns: BTreeSet<Vec<usize>> = (0..500)
        .map(|c| {
            let z = zero_rows(&v, 500, 500, c);
            assert_eq!(z.len(), 450, "column {c}");
            z
        })
        .collect();
    assert!(patterns.len() > 490, "only {} distinct zero patterns over 500 columns", patterns.len());
    let nonzero: Vec<f64> = v.into_iter().filter(|&x| x != 0.0).collect();
    assert_eq!(nonzero.len(), 25_000);
    assert_rel(stats(&nonzero).std, 0.01, 0.02, "500x500 non-zero std");
}

/// N7 | BatchNorm2d(64), LayerNorm(64), GroupNorm(4, 64) default | weight exactly 1.0, bias
/// exactly 0.0; BatchNorm running_mean 0, running_var 1, num_batches_tracked 0 (int64)
#[test]
fn n7_norm_layer_defaults() {
    for dtype in FLOAT_DTYPES {
        let mut g = Generator::manual_seed(0);
        for (ctor, buffers) in
            [("nn.BatchNorm2d(64)", true), ("nn.LayerNorm(64)", false), ("nn.GroupNorm(4, 64)", false)]
        {
            let before = g.get_rng_state();
            let m = single_in(ctor, dtype, &mut g);
            assert_eq!(g.get_rng_state(), before, "{ctor}: default init is not random");
            let keys: Vec<String> = m.state_dict().into_iter().map(|(n, _)| n).collect();
            let want_keys: &[&str] = if buffers {
                &["weight", "bias", "running_mean", "running_var", "num_batches_tracked"]
            } else {
                &["weight", "bias"]
            };
            assert_eq!(keys, want_keys, "{ctor}");
            let one = Tensor::zeros(&[64], DType::F32).to_dtype(dtype);
            let mut ones = one.clone();
            constant_(view(&mut ones), 1.0).unwrap();
            assert_eq!(tensor(&m, "weight"), &ones, "{ctor} {dtype} weight");
            assert_eq!(tensor(&m, "bias"), &one, "{ctor} {dtype} bias");
            assert!(tensor(&m, "bias").bytes().iter().all(|&b| b == 0), "{ctor}: bias is not +0.0");
            if buffers {
                assert_eq!(tensor(&m, "running_mean"), &one, "{ctor} running_mean");
                assert_eq!(tensor(&m, "running_var"), &ones, "{ctor} running_var");
                let nbt = tensor(&m, "num_batches_tracked");
                assert_eq!(nbt.shape(), &[] as &[usize]);
                assert_eq!(nbt.data(), &Data::Other { dtype: safetensors::Dtype::I64, bytes: vec![0; 8] });
                // Buffers are not parameters.
                let params: Vec<String> = m.named_parameters().into_iter().map(|(n, _)| n).collect();
                assert_eq!(params, ["weight", "bias"]);
            }
        }
    }
}

/// N8 | `trunc_normal_(mean=0, std=1, a=-2, b=2)` on 1,000,000 f32 | all samples in [a, b]; std
/// of the samples about 0.8796 (torch does not correct the parent std)
#[test]
fn n8_trunc_normal_std() {
    let mut g = Generator::manual_seed(0);
    let v = drawn(&[1_000_000], &mut g, |t, g| trunc_normal_(t, 0.0, 1.0, -2.0, 2.0, g).unwrap());
    assert!(v.iter().all(|&x| (-2.0..=2.0).contains(&x)), "a sample lies outside [-2, 2]");
    let s = stats(&v);
    // The std of N(0, 1) truncated to [-2, 2]: sqrt(1 - 2·2·φ(2) / (Φ(2) − Φ(−2))) = 0.879626.
    let phi2 = (-2.0f64).exp() / (2.0 * std::f64::consts::PI).sqrt();
    let mass = libm::erf(2.0 / 2f64.sqrt());
    let want = (1.0 - 4.0 * phi2 / mass).sqrt();
    assert!((want - 0.8796).abs() < 1e-4, "{want}");
    assert_rel(s.std, want, 0.01, "trunc_normal_ std");
    assert!(s.mean.abs() < 0.005, "mean {}", s.mean);
    assert!(s.min < -1.99 && s.max > 1.99, "the tails are not reached: [{}, {}]", s.min, s.max);
}

/// N9 | `orthogonal_` on `[3, 5]`, `[5, 3]`, `[8, 4, 3, 3]`, gain 1 and 2 | `[3, 5]`: rows
/// orthonormal; `[5, 3]`: columns orthonormal; rank 4 flattened to `[8, 36]` first; gain scales
/// the result; max abs(Q Q^T - I) small (f32: order n * eps)
#[test]
fn n9_orthogonal_orthonormality_and_gain() {
    /// max |G − gain² I| where G is the Gram matrix of the rows (or the columns) of the row-major
    /// `rows × cols` matrix `v`.
    fn gram_error(v: &[f64], rows: usize, cols: usize, of_rows: bool, gain: f64) -> f64 {
        let (n, len) = if of_rows { (rows, cols) } else { (cols, rows) };
        let at = |k: usize, i: usize| if of_rows { v[k * cols + i] } else { v[i * cols + k] };
        let mut worst = 0.0f64;
        for p in 0..n {
            for q in 0..n {
                let dot: f64 = (0..len).map(|i| at(p, i) * at(q, i)).sum();
                let want = if p == q { gain * gain } else { 0.0 };
                worst = worst.max((dot - want).abs());
            }
        }
        worst
    }
    let cases: [(&[usize], usize, usize, bool); 3] =
        [(&[3, 5], 3, 5, true), (&[5, 3], 5, 3, false), (&[8, 4, 3, 3], 8, 36, true)];
    for (dtype, tol) in [(DType::F32, 1e-5), (DType::F64, 1e-12)] {
        for seed in 0..20 {
            for &(shape, rows, cols, of_rows) in &cases {
                let what = format!("{dtype} {shape:?} seed {seed}");
                let run = |gain: f64| {
                    let mut t = Tensor::zeros(shape, dtype);
                    orthogonal_(view(&mut t), gain, &mut Generator::manual_seed(seed)).unwrap();
                    assert_eq!(t.shape(), shape);
                    t
                };
                let (one, two) = (run(1.0), run(2.0));
                let v1 = one.to_f64_vec();
                let v2 = two.to_f64_vec();
                assert_eq!(v1.len(), rows * cols);
                let e1 = gram_error(&v1, rows, cols, of_rows, 1.0);
                assert!(e1 <= tol, "{what}: max |Q Q^T - I| = {e1}");
                let e2 = gram_error(&v2, rows, cols, of_rows, 2.0);
                assert!(e2 <= 4.0 * tol, "{what} gain 2: max |Q Q^T - 4 I| = {e2}");
                // Gain 2 is exactly twice gain 1 (doubling is exact in binary floating point).
                let doubled: Vec<f64> = v1.iter().map(|x| 2.0 * x).collect();
                assert_eq!(v2, doubled, "{what}: gain 2 is not 2 x gain 1");
                // Through the Init string, from the same seed: the same values.
                let mut t = Tensor::zeros(shape, dtype);
                let init: Init = "orthogonal_(gain=2)".parse().unwrap();
                init.apply(view(&mut t), &mut Generator::manual_seed(seed)).unwrap();
                assert_eq!(t, two, "{what}: Init string");
            }
        }
    }
    // The other Gram matrix of a non-square Q cannot be the identity: [3, 5] has orthonormal rows,
    // not columns, so the check above distinguishes the two.
    let mut t = zeros(&[3, 5]);
    orthogonal_(view(&mut t), 1.0, &mut Generator::manual_seed(0)).unwrap();
    assert!(gram_error(&t.to_f64_vec(), 3, 5, false, 1.0) > 0.1);
}

// ------------------------------------------------------------------------------------------------
// Traversal and rules
// ------------------------------------------------------------------------------------------------

/// T1 | Embedding(10, 3, padding_idx=0) default; then a user rule `normal_(0, 0.1)` on its weight;
/// Embedding(4, 4) with no padding index through a rule that zeroes the padding row | default:
/// N(0, 1) with row 0 exactly 0; a later user init overwrites row 0 (torch behaviour) unless the
/// plan asks to re-zero padding rows; no padding index means no row is zeroed (never all rows)
#[test]
fn t1_embedding_padding_row() {
    let mut g = Generator::manual_seed(0);
    // Default: the N(0, 1) draw of a [10, 3] tensor, then row 0 set to +0.0.
    let normal01 = drawn(&[10, 3], &mut g.clone(), |t, g| normal_(t, 0.0, 1.0, g).unwrap());
    let before = g.clone();
    let m = single("nn.Embedding(10, 3, padding_idx=0)", &mut g);
    let w = values(&m, "weight");
    assert_eq!(tensor(&m, "weight").shape(), &[10, 3]);
    assert_eq!(&w[..3], &[0.0, 0.0, 0.0]);
    assert!(f32s(tensor(&m, "weight"))[..3].iter().all(|x| x.to_bits() == 0));
    assert_eq!(&w[3..], &normal01[3..]);

    // A later user rule overwrites row 0, as in PyTorch: the whole tensor is the new draw.
    let overwrite = Plan::from_toml("[[rule]]\nlayer = \"Embedding\"\ninit = \"normal_(0, 0.1)\"\n").unwrap();
    let want = drawn(&[10, 3], &mut g.clone(), |t, g| normal_(t, 0.0, 0.1, g).unwrap());
    let mut m2 = m.clone();
    overwrite.apply(&mut m2).unwrap();
    m2.materialize_with(&mut before.clone()).unwrap();
    assert_eq!(values(&m2, "weight"), want);
    assert!(values(&m2, "weight")[..3].iter().all(|&x| x != 0.0));

    // ... unless the rule asks to re-zero the padding row.
    let rezero =
        Plan::from_toml("[[rule]]\nlayer = \"Embedding\"\ninit = \"normal_(0, 0.1)\"\nzero_padding = true\n").unwrap();
    let mut m3 = m.clone();
    rezero.apply(&mut m3).unwrap();
    m3.materialize_with(&mut before.clone()).unwrap();
    let w = values(&m3, "weight");
    assert_eq!(&w[..3], &[0.0, 0.0, 0.0]);
    assert_eq!(&w[3..], &want[3..]);
    // The bert preset re-zeroes padding rows too.
    let mut m4 = m.clone();
    nninit::plan::preset("bert", &Default::default()).unwrap().apply(&mut m4).unwrap();
    m4.materialize_with(&mut before.clone()).unwrap();
    assert_eq!(&values(&m4, "weight")[..3], &[0.0, 0.0, 0.0]);

    // A negative padding index counts from the end.
    let m5 = single("nn.Embedding(10, 3, padding_idx=-1)", &mut g);
    let w = values(&m5, "weight");
    assert_eq!(&w[27..], &[0.0, 0.0, 0.0]);
    assert!(w[..27].iter().all(|&x| x != 0.0));

    // No padding index: the zeroing rule zeroes no row (and certainly not all of them).
    let before = g.clone();
    let mut m6 = single("nn.Embedding(4, 4)", &mut g);
    assert!(values(&m6, "weight").iter().all(|&x| x != 0.0));
    let want = drawn(&[4, 4], &mut g.clone(), |t, g| normal_(t, 0.0, 0.1, g).unwrap());
    rezero.apply(&mut m6).unwrap();
    m6.materialize_with(&mut before.clone()).unwrap();
    assert_eq!(values(&m6, "weight"), want);
    assert!(want.iter().all(|&x| x != 0.0));
}

/// T2 | LSTM(input 8, hidden 16, 1 layer): `bias_ih_l0`, `bias_hh_l0` shape `[64]`; a "forget-gate
/// bias = 1" rule | default: every weight and bias ~ U(-1/sqrt(16), 1/sqrt(16)) = U(-0.25, 0.25);
/// gate order input, forget, cell, output, so the forget slice is indices 16..32; the rule says
/// whether it writes one bias vector or both
#[test]
fn t2_lstm_defaults_and_forget_gate_rule() {
    let mut g = Generator::manual_seed(0);
    let names = ["weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0"];
    let shapes: [&[usize]; 4] = [&[64, 8], &[64, 16], &[64], &[64]];
    // PyTorch: `for w in self.parameters(): init.uniform_(w, -stdv, stdv)` in registration order.
    let mut replay = g.clone();
    let want: Vec<Vec<f64>> =
        shapes.iter().map(|s| drawn(s, &mut replay, |t, g| uniform_(t, -0.25, 0.25, g).unwrap())).collect();
    let before = g.clone();
    let m = single("nn.LSTM(8, 16)", &mut g);
    let keys: Vec<String> = m.state_dict().into_iter().map(|(n, _)| n).collect();
    assert_eq!(keys, names);
    let mut all = Vec::new();
    for ((name, shape), want) in names.iter().zip(shapes).zip(&want) {
        assert_eq!(tensor(&m, name).shape(), shape, "{name}");
        let v = values(&m, name);
        assert_eq!(&v, want, "{name}");
        assert!(max_abs(&v) <= 0.25, "{name}");
        all.extend(v);
    }
    assert_uniform_bound(&all, 0.25, 0.99, "LSTM(8, 16) defaults");
    assert_eq!(nninit::nn::RnnMode::Lstm.gate_index("forget"), Some(1));

    let check = |m: &Model, written: &[&str]| {
        for (i, name) in names.iter().enumerate() {
            let v = values(m, name);
            if written.contains(name) {
                assert!(v[16..32].iter().all(|&x| x == 1.0), "{name}: forget slice is indices 16..32");
                assert_eq!(&v[..16], &want[i][..16], "{name}: input gate changed");
                assert_eq!(&v[32..], &want[i][32..], "{name}: cell/output gates changed");
            } else {
                assert_eq!(&v, &want[i], "{name} changed");
            }
        }
    };
    // A rule on every LSTM bias writes both vectors...
    let both =
        Plan::from_toml("[[rule]]\nlayer = \"LSTM\"\nrole = \"bias\"\ngate = \"forget\"\ninit = \"constant_(1.0)\"\n")
            .unwrap();
    let mut m1 = m.clone();
    both.apply(&mut m1).unwrap();
    m1.materialize_with(&mut before.clone()).unwrap();
    check(&m1, &["bias_ih_l0", "bias_hh_l0"]);
    // ... a rule naming one writes only that one.
    let one =
        Plan::from_toml("[[rule]]\nname = \"*bias_ih*\"\ngate = \"forget\"\ninit = \"constant_(1.0)\"\n").unwrap();
    let mut m2 = m.clone();
    one.apply(&mut m2).unwrap();
    m2.materialize_with(&mut before.clone()).unwrap();
    check(&m2, &["bias_ih_l0"]);
}

/// T3 | a model whose own init loops over `modules()` and re-initializes each; a Linear registered
/// under two parents; a chain of 100,000 nested containers | `modules()` is pre-order, root first,
/// each distinct module once; `apply(fn)` is post-order (children before parent) and, like torch,
/// visits a shared child once per parent; both iterative: the 100,000-deep chain works
#[test]
fn t3_modules_apply_shared_and_deep() {
    let before = Generator::manual_seed(0);
    let mut m = Model::new(DType::F32);
    let shared = m.add(Layer::linear(3, 3)).unwrap();
    let other = m.add(Layer::linear(3, 1)).unwrap();
    let a = m.sequential(&[shared, other]);
    let b = m.sequential(&[shared]);
    let root = m.container(Layer::Custom("Net".into()), &[]);
    m.add_child(root, "a", a).unwrap();
    m.add_child(root, "b", b).unwrap();
    m.set_root(root).unwrap();
    assert_eq!(m.modules(), vec![root, a, shared, other, b], "pre-order, root first, shared module once");
    let names: Vec<String> = m.named_modules().into_iter().map(|(n, _)| n).collect();
    assert_eq!(names, ["", "a", "a.0", "a.1", "b"]);
    let weight = |m: &Model, id: ModuleId| m.tensor(m.module(id).slots[0].tensor).to_f64_vec();
    // The generator after construction.
    let mut g = before.clone();
    m.clone().materialize_with(&mut g).unwrap();

    // The model's own init loops over modules() and re-initializes each Linear: the shared one
    // once, in pre-order.
    let mut replay = g.clone();
    let d1 = drawn(&[3, 3], &mut replay, |t, g| normal_(t, 0.0, 1.0, g).unwrap());
    let d2 = drawn(&[1, 3], &mut replay, |t, g| normal_(t, 0.0, 1.0, g).unwrap());
    let d3 = drawn(&[3, 3], &mut replay, |t, g| normal_(t, 0.0, 1.0, g).unwrap());
    let normal = Init::Normal { mean: 0.0, std: 1.0 };
    let mut m1 = m.clone();
    let mut g1 = before.clone();
    let mut visited = 0;
    for id in m1.modules() {
        let mut mm = m1.module_mut(id, "");
        if let Layer::Linear { .. } = mm.layer() {
            visited += 1;
            mm.init("weight", &normal).unwrap();
            mm.init("bias", &Init::Zeros).unwrap();
        }
    }
    m1.materialize_with(&mut g1).unwrap();
    assert_eq!(visited, 2);
    assert_eq!(weight(&m1, shared), d1);
    assert_eq!(weight(&m1, other), d2);
    assert_eq!(g1.get_rng_state(), {
        let mut r = g.clone();
        drawn(&[3, 3], &mut r, |t, g| normal_(t, 0.0, 1.0, g).unwrap());
        drawn(&[1, 3], &mut r, |t, g| normal_(t, 0.0, 1.0, g).unwrap());
        r.get_rng_state()
    });

    // apply(): post-order, the shared Linear once per parent (so it is initialized twice and keeps
    // the second draw).
    let mut m2 = m.clone();
    let mut visits = Vec::new();
    m2.apply(|mut mm| {
        visits.push((mm.path(), mm.id()));
        if let Layer::Linear { .. } = mm.layer() {
            mm.init("weight", &normal)?;
        }
        Ok(())
    })
    .unwrap();
    m2.materialize_with(&mut before.clone()).unwrap();
    let want = [("a.0", shared), ("a.1", other), ("a", a), ("b.0", shared), ("b", b), ("", root)];
    let want: Vec<(String, ModuleId)> = want.iter().map(|(p, id)| (p.to_string(), *id)).collect();
    assert_eq!(visits, want);
    assert_eq!(weight(&m2, shared), d3);
    assert_eq!(weight(&m2, other), d2);

    // A chain of 100,000 nested Sequential containers around one Linear.
    const DEPTH: usize = 100_000;
    let mut deep = Model::new(DType::F32);
    let linear = deep.add(Layer::linear(2, 2)).unwrap();
    let mut chain = vec![linear];
    for _ in 0..DEPTH {
        let outer = deep.sequential(&[*chain.last().unwrap()]);
        chain.push(outer);
    }
    deep.set_root(*chain.last().unwrap()).unwrap();
    let pre: Vec<ModuleId> = deep.modules();
    assert_eq!(pre.len(), DEPTH + 1);
    assert!(pre.iter().eq(chain.iter().rev()), "modules(): root first, then each level down to the Linear");
    let mut post = Vec::new();
    let mut linear_path = String::new();
    deep.apply(|mut mm| {
        if post.is_empty() {
            linear_path = mm.path();
            mm.init("weight", &Init::Constant { val: 3.0 })?;
        }
        post.push(mm.id());
        Ok(())
    })
    .unwrap();
    assert_eq!(post, chain, "apply(): the Linear first, the root last");
    assert_eq!(linear_path.len(), 2 * DEPTH - 1);
    assert!(linear_path.split('.').all(|p| p == "0"));
    deep.materialize(nninit::rng::Stream::Torch, 0).unwrap();
    assert!(weight(&deep, linear).iter().all(|&x| x == 3.0));
    let sd = deep.state_dict();
    assert_eq!(sd.len(), 2);
    assert_eq!(sd[0].0, format!("{linear_path}.weight"));
    drop(deep);
}

// ------------------------------------------------------------------------------------------------
// Checkpoint I/O
// ------------------------------------------------------------------------------------------------

/// S1 | tensors `a: f32 [0]`, `b: f32 [0]`, `c: bf16 [10, 0]`, `d: f32 [2]`; read back from a path
/// and from bytes | writes; empty tensors get equal begin/end offsets; read returns the same
/// names, dtypes, shapes
#[test]
fn s1_empty_tensors_round_trip() {
    use safetensors::Dtype as St;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("empty.safetensors");
    let a = Tensor::zeros(&[0], DType::F32);
    let b = Tensor::zeros(&[0], DType::F32);
    let c = Tensor::zeros(&[10, 0], DType::BF16);
    let d = Tensor::from_f32(&[2], vec![1.5, -2.0]).unwrap();
    let entries = [
        Entry { name: "a".into(), source: &a },
        Entry { name: "b".into(), source: &b },
        Entry { name: "c".into(), source: &c },
        Entry { name: "d".into(), source: &d },
    ];
    write(&path, &entries, &BTreeMap::new(), Overwrite::Refuse).unwrap();
    let want: BTreeSet<(String, St, Vec<usize>)> = [
        ("a".to_string(), St::F32, vec![0]),
        ("b".to_string(), St::F32, vec![0]),
        ("c".to_string(), St::BF16, vec![10, 0]),
        ("d".to_string(), St::F32, vec![2]),
    ]
    .into_iter()
    .collect();

    // The header, read by hand: empty tensors have begin == end; d holds 8 bytes; no gaps.
    let bytes = std::fs::read(&path).unwrap();
    let header = header_json(&bytes);
    let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let data_len = bytes.len() - 8 - n;
    assert_eq!(data_len, 8);
    let obj = header.as_object().unwrap();
    let mut from_header = BTreeSet::new();
    for (name, v) in obj.iter().filter(|(k, _)| *k != "__metadata__") {
        let offs: Vec<usize> =
            v["data_offsets"].as_array().unwrap().iter().map(|x| x.as_u64().unwrap() as usize).collect();
        let shape: Vec<usize> = v["shape"].as_array().unwrap().iter().map(|x| x.as_u64().unwrap() as usize).collect();
        let dtype: St = serde_json::from_value(v["dtype"].clone()).unwrap();
        assert_eq!(offs.len(), 2);
        assert!(offs[1] <= data_len, "{name}: {offs:?}");
        if name == "d" {
            assert_eq!(offs[1] - offs[0], 8, "d: {offs:?}");
        } else {
            assert_eq!(offs[0], offs[1], "{name}: an empty tensor must have begin == end, got {offs:?}");
        }
        from_header.insert((name.clone(), dtype, shape));
    }
    assert_eq!(from_header, want);

    // From the path: Checkpoint::open and read_layout.
    let ck = Checkpoint::open(&path).unwrap();
    let got: BTreeSet<_> = ck.tensors().iter().map(|t| (t.name.clone(), t.dtype, t.shape.clone())).collect();
    assert_eq!(got, want);
    assert!(ck.metadata().is_empty());
    for info in ck.tensors() {
        let t = ck.tensor(info).unwrap();
        assert_eq!(t.shape(), info.shape.as_slice());
        match info.name.as_str() {
            "c" => assert_eq!(t, c),
            "d" => assert_eq!(t, d),
            _ => assert_eq!(t, a),
        }
    }
    let (layout, metadata) = read_layout(&path).unwrap();
    let got: BTreeSet<_> = layout.iter().map(|t| (t.name.clone(), t.dtype, t.shape.clone())).collect();
    assert_eq!(got, want);
    assert!(metadata.is_empty());

    // From bytes.
    let (tensors, metadata) = load_bytes(&bytes).unwrap();
    assert!(metadata.is_empty());
    let got: BTreeSet<_> =
        tensors.iter().map(|(n, t)| (n.clone(), t.safetensors_dtype(), t.shape().to_vec())).collect();
    assert_eq!(got, want);
    let by_name: HashMap<&str, &Tensor> = tensors.iter().map(|(n, t)| (n.as_str(), t)).collect();
    assert_eq!(by_name["a"], &a);
    assert_eq!(by_name["b"], &b);
    assert_eq!(by_name["c"], &c);
    assert_eq!(by_name["d"], &d);
}

/// S2 | a file with no tensors and metadata `{"key": "value"}`; one with neither | valid JSON
/// headers; both read back
#[test]
fn s2_no_tensors_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let with_meta: BTreeMap<String, String> = [("key".to_string(), "value".to_string())].into_iter().collect();
    for (file, metadata) in [("meta.safetensors", with_meta.clone()), ("bare.safetensors", BTreeMap::new())] {
        let path = dir.path().join(file);
        write(&path, &[], &metadata, Overwrite::Refuse).unwrap_or_else(|e| panic!("{file}: {e}"));
        let bytes = std::fs::read(&path).unwrap();
        let header = header_json(&bytes);
        let want_header = if metadata.is_empty() {
            serde_json::json!({})
        } else {
            serde_json::json!({"__metadata__": {"key": "value"}})
        };
        assert_eq!(header, want_header, "{file}");
        let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
        assert_eq!(bytes.len(), 8 + n, "{file}: no data bytes expected");

        let ck = Checkpoint::open(&path).unwrap_or_else(|e| panic!("{file}: {e}"));
        assert!(ck.tensors().is_empty(), "{file}");
        assert_eq!(sorted(ck.metadata()), metadata, "{file}");
        let (layout, meta) = read_layout(&path).unwrap();
        assert!(layout.is_empty());
        assert_eq!(sorted(&meta), metadata);
        let (tensors, meta) = load_bytes(&bytes).unwrap();
        assert!(tensors.is_empty());
        assert_eq!(sorted(&meta), metadata);
    }
    // Also a hand-made minimal file: the 2-byte header `{}`.
    let (tensors, meta) = load_bytes(&hand_made("{}", 0)).unwrap();
    assert!(tensors.is_empty() && meta.is_empty());
}

/// The S3 cases: (header, data bytes, the tensor the error must name, the broken rule's words).
fn s3_cases() -> Vec<(&'static str, String, usize, &'static str, &'static str)> {
    let t = |name: &str, shape: &str, offs: &str| {
        format!(r#""{name}":{{"dtype":"F32","shape":{shape},"data_offsets":{offs}}}"#)
    };
    vec![
        (
            "[1000, 1000] f32 in [0, 4]",
            format!("{{{}}}", t("w", "[1000,1000]", "[0,4]")),
            4,
            "w",
            "needs 4000000 bytes",
        ),
        ("offsets [8, 4]", format!("{{{}}}", t("w", "[1]", "[8,4]")), 8, "w", "end before they begin"),
        (
            "overlap [0, 8] and [4, 12]",
            format!("{{{},{}}}", t("a", "[2]", "[0,8]"), t("b", "[2]", "[4,12]")),
            12,
            "b",
            "overlap",
        ),
        (
            "hole [0, 4] and [8, 12]",
            format!("{{{},{}}}", t("a", "[1]", "[0,4]"), t("b", "[1]", "[8,12]")),
            12,
            "b",
            "hole of 4 bytes",
        ),
        ("16 trailing bytes", format!("{{{}}}", t("a", "[1]", "[0,4]")), 20, "a", "16 trailing bytes"),
        ("offsets past the data", format!("{{{}}}", t("w", "[4]", "[0,16]")), 8, "w", "run past the data"),
    ]
}

/// S3 | hand-made headers: `[1000, 1000]` f32 with offsets `[0, 4]`; offsets `[8, 4]`; overlapping
/// `[0, 8]` and `[4, 12]`; a hole `[0, 4]` and `[8, 12]`; 16 trailing bytes | each rejected with an
/// error naming the tensor and the broken rule; nothing read outside the buffer
///
/// The trailing-bytes message names no tensor; that part is checked (and ignored as a bug) in
/// `s3_trailing_bytes_error_names_the_tensor`.
#[test]
fn s3_malformed_headers_rejected() {
    let dir = tempfile::tempdir().unwrap();
    for (i, (what, header, data_len, name, rule)) in s3_cases().into_iter().enumerate() {
        let bytes = hand_made(&header, data_len);
        let check = |msg: String, via: &str| {
            assert!(msg.contains(rule), "{what} via {via}: `{msg}` does not state the rule ({rule})");
            if what != "16 trailing bytes" {
                assert!(msg.contains(&format!("`{name}`")), "{what} via {via}: `{msg}` does not name `{name}`");
            }
        };
        match load_bytes(&bytes) {
            Err(Error::Checkpoint(msg)) => check(msg, "load_bytes"),
            other => panic!("{what}: expected a checkpoint error, got {other:?}"),
        }
        let path = dir.path().join(format!("bad{i}.safetensors"));
        std::fs::write(&path, &bytes).unwrap();
        match Checkpoint::open(&path) {
            Err(e @ Error::Checkpoint(_)) => {
                let msg = e.to_string();
                assert!(msg.contains(&path.display().to_string()), "{what}: `{msg}` does not name the file");
                check(msg, "Checkpoint::open");
            }
            Err(e) => panic!("{what}: expected a checkpoint error, got {e:?}"),
            Ok(_) => panic!("{what}: accepted by Checkpoint::open"),
        }
        check(read_layout(&path).map(|_| ()).unwrap_err().to_string(), "read_layout");
    }

    // Nothing is read outside the buffer: truncated files and a header length past the end.
    for bytes in [vec![], vec![1, 2, 3], u64::MAX.to_le_bytes().to_vec(), {
        let mut b = hand_made("{}", 0);
        b[0] = 200;
        b
    }] {
        assert!(matches!(load_bytes(&bytes), Err(Error::Checkpoint(_))), "{bytes:?}");
    }
    let missing = dir.path().join("missing.safetensors");
    assert!(matches!(Checkpoint::open(Path::new(&missing)), Err(Error::Io { .. })));
}

/// S3, the trailing-bytes case: "each rejected with an error naming the tensor". The message is
/// "16 trailing bytes after the last tensor", without the tensor's name (`a`).
#[test]
fn s3_trailing_bytes_error_names_the_tensor() {
    let (_, header, data_len, name, _) = s3_cases().into_iter().find(|c| c.0 == "16 trailing bytes").unwrap();
    let msg = load_bytes(&hand_made(&header, data_len)).unwrap_err().to_string();
    assert!(msg.contains("16 trailing bytes"), "{msg}");
    assert!(msg.contains(&format!("`{name}`")), "`{msg}` does not name the tensor `{name}`");
}
