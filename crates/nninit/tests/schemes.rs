//! JAX-style variance scaling, structured and depth-aware schemes against their sources
//! (`tests/golden/schemes.json`, written by `tools/golden/gen_schemes.py`), on both random
//! streams; and case P2: errors from derived arguments, in PyTorch's words.

mod common;

use common::{golden, hex_bits, shape};
use nninit::init::{self, Draw, Init, JaxDistribution, JaxVarianceScaling, VarianceMode, TRUNCATED_STD};
use nninit::rng::Philox;
use nninit::sample::Engine;
use nninit::Generator;
use nninit::{DType, Tensor};

fn dtype_of(name: &str) -> DType {
    match name {
        "f16" => DType::F16,
        "bf16" => DType::BF16,
        "f32" => DType::F32,
        "f64" => DType::F64,
        other => panic!("dtype {other}"),
    }
}

fn f64_bits(hex: &str) -> f64 {
    f64::from_bits(u64::from_str_radix(hex, 16).unwrap())
}

fn parse(s: &str) -> Init {
    s.parse().unwrap_or_else(|e| panic!("{s}: {e}"))
}

/// Values of `init` applied to a fresh tensor of `shape`.
fn drawn(init: &Init, shape: &[usize], dtype: DType, g: &mut impl Engine) -> Vec<f64> {
    let mut t = Tensor::zeros(shape, dtype);
    init.apply(t.view_mut().unwrap(), g).unwrap_or_else(|e| panic!("{init} on {shape:?}: {e}"));
    t.to_f64_vec()
}

/// At least `n` values of `init` on `shape` (repeated draws, the shape fixed so the fans are),
/// from PyTorch's stream (seed 0) or from Philox (seed 0, one path per repetition).
fn many(init: &Init, shape: &[usize], n: usize, philox: bool) -> Vec<f64> {
    let mut g = Generator::manual_seed(0);
    let mut out = Vec::with_capacity(n);
    let mut i = 0;
    while out.len() < n {
        let v = if philox {
            drawn(init, shape, DType::F32, &mut Philox::new(0, &format!("w{i}")))
        } else {
            drawn(init, shape, DType::F32, &mut g)
        };
        out.extend(v);
        i += 1;
    }
    out
}

struct Moments {
    n: f64,
    mean: f64,
    std: f64,
    max_abs: f64,
}

fn moments(v: &[f64]) -> Moments {
    let n = v.len() as f64;
    let mean = v.iter().sum::<f64>() / n;
    let var = v.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / n;
    Moments { n, mean, std: var.sqrt(), max_abs: v.iter().fold(0.0, |m, x| m.max(x.abs())) }
}

/// Asserts the sample `m` of a distribution with mean 0 and std `sigma`: the mean within 6
/// standard errors (`sigma / sqrt(n)`), the std within 6 standard errors of the sample std
/// (`sigma · sqrt((kurtosis − 1) / (4n))`, kurtosis ≤ 3 for the normal, truncated normal and
/// uniform families). A correct sampler fails this with probability below 1e-8.
fn assert_moments(m: &Moments, sigma: f64, what: &str) {
    let se_mean = sigma / m.n.sqrt();
    let se_std = sigma * (2.0 / (4.0 * m.n)).sqrt();
    assert!(m.mean.abs() <= 6.0 * se_mean, "{what}: mean {} vs 0 ± {}", m.mean, 6.0 * se_mean);
    assert!((m.std - sigma).abs() <= 6.0 * se_std, "{what}: std {} vs {sigma} ± {}", m.std, 6.0 * se_std);
}

/// JAX's (scale, mode, distribution) for a case: its `variance_scaling` kwargs or the named
/// instance's definition in `jax.nn.initializers`.
fn jax_params(case: &serde_json::Value) -> (f64, VarianceMode, JaxDistribution) {
    let kw = &case["kwargs"];
    match case["jax"].as_str().unwrap() {
        "variance_scaling" => (
            kw["scale"].as_f64().unwrap(),
            kw["mode"].as_str().unwrap().parse().unwrap(),
            kw["distribution"].as_str().unwrap().parse().unwrap(),
        ),
        "glorot_uniform" => (1.0, VarianceMode::FanAvg, JaxDistribution::Uniform),
        "glorot_normal" => (1.0, VarianceMode::FanAvg, JaxDistribution::TruncatedNormal),
        "he_uniform" => (2.0, VarianceMode::FanIn, JaxDistribution::Uniform),
        "he_normal" => (2.0, VarianceMode::FanIn, JaxDistribution::TruncatedNormal),
        "lecun_uniform" => (1.0, VarianceMode::FanIn, JaxDistribution::Uniform),
        "lecun_normal" => (1.0, VarianceMode::FanIn, JaxDistribution::TruncatedNormal),
        other => panic!("{other}"),
    }
}

fn axes(init: &Init) -> (Vec<isize>, Vec<isize>, Vec<isize>) {
    match init {
        Init::VarianceScaling { in_axis, out_axis, batch_axis, .. }
        | Init::GlorotUniform { in_axis, out_axis, batch_axis }
        | Init::GlorotNormal { in_axis, out_axis, batch_axis }
        | Init::HeUniform { in_axis, out_axis, batch_axis }
        | Init::HeNormal { in_axis, out_axis, batch_axis }
        | Init::JaxLecunUniform { in_axis, out_axis, batch_axis }
        | Init::JaxLecunNormal { in_axis, out_axis, batch_axis } => {
            (in_axis.clone(), out_axis.clone(), batch_axis.clone())
        }
        other => panic!("{other} is not a JAX scheme"),
    }
}

/// Fans, and the factor JAX multiplies its samples by (std, bound, or the truncated normal's
/// parent std), bit for bit against JAX's own code in float64.
#[test]
fn jax_fans_and_factors_bit_exact() {
    let data = golden("schemes.json");
    let cases = data["jax_cases"].as_array().unwrap();
    assert!(cases.len() >= 14);
    for case in cases {
        let init = parse(case["init"].as_str().unwrap());
        let shape = shape(&case["shape"]);
        let (in_axis, out_axis, batch_axis) = axes(&init);
        let fans = init::jax_fans(&shape, &in_axis, &out_axis, &batch_axis).unwrap();
        assert_eq!(fans, (case["fan_in"].as_f64().unwrap(), case["fan_out"].as_f64().unwrap()), "{init} fans");
        let (scale, mode, distribution) = jax_params(case);
        assert_eq!(distribution.to_string(), case["distribution"].as_str().unwrap(), "{init}");
        let want = f64_bits(case["factor_bits"].as_str().unwrap());
        let vs = JaxVarianceScaling {
            scale,
            mode,
            distribution,
            in_axis: &in_axis,
            out_axis: &out_axis,
            batch_axis: &batch_axis,
        };
        let got = match (init.draw(&shape, DType::F64).unwrap(), distribution) {
            (Draw::Normal { mean, std }, JaxDistribution::Normal) => {
                assert_eq!(mean, 0.0);
                std
            }
            (Draw::Uniform { from, to }, JaxDistribution::Uniform) => {
                assert_eq!(from, -to);
                to
            }
            (Draw::Whole, JaxDistribution::TruncatedNormal) => vs.std(&shape).unwrap() / TRUNCATED_STD,
            (draw, d) => panic!("{init}: {draw:?} for {d}"),
        };
        assert_eq!(got.to_bits(), want.to_bits(), "{init}: {got} vs JAX {want}");
        // The std the scheme aims at: sqrt(variance) (for the truncated normal, after truncation).
        let expected = init.expected_std(&shape).unwrap();
        let rel = if distribution == JaxDistribution::TruncatedNormal { 1e-9 } else { 1e-15 };
        assert!((expected / vs.std(&shape).unwrap() - 1.0).abs() < rel, "{init}: expected_std {expected}");
    }
}

/// Large draws on both streams have the moments of JAX's own draws: after dividing by the
/// scheme's std, mean 0 and std 1 within sampling error, and within JAX's range (±√3 for the
/// uniform, ±2/0.8796 for the truncated normal).
#[test]
fn jax_moments_on_both_streams() {
    let data = golden("schemes.json");
    for case in data["jax_cases"].as_array().unwrap() {
        let init = parse(case["init"].as_str().unwrap());
        let shape = shape(&case["shape"]);
        let sigma = init.expected_std(&shape).unwrap();
        let jax = &case["unit_sample"];
        let (n_jax, std_jax) = (jax["n"].as_f64().unwrap(), jax["std"].as_f64().unwrap());
        // JAX's own sample is from the same standardized family.
        assert_moments(
            &Moments { n: n_jax, mean: jax["mean"].as_f64().unwrap(), std: std_jax, max_abs: 0.0 },
            1.0,
            "JAX",
        );
        let limit = match case["distribution"].as_str().unwrap() {
            "uniform" => 3f64.sqrt(),
            "truncated_normal" => 2.0 / TRUNCATED_STD,
            _ => f64::INFINITY,
        };
        for philox in [false, true] {
            let v: Vec<f64> = many(&init, &shape, 1 << 17, philox).iter().map(|x| x / sigma).collect();
            let m = moments(&v);
            let what = format!("{init} {}", if philox { "philox" } else { "torch stream" });
            assert_moments(&m, 1.0, &what);
            assert!(m.max_abs <= limit * (1.0 + 1e-6), "{what}: |x| up to {} > {limit}", m.max_abs);
            // Both samples estimate the same std: their difference within the combined error.
            let se = (0.5 / m.n + 0.5 / n_jax).sqrt();
            assert!((m.std - std_jax).abs() <= 6.0 * se, "{what}: std {} vs JAX {std_jax}", m.std);
        }
    }
}

#[test]
fn jax_errors() {
    let msg = |init: &str, shape: &[usize]| {
        let mut t = Tensor::zeros(shape, DType::F32);
        parse(init).apply(t.view_mut().unwrap(), &mut Generator::manual_seed(0)).unwrap_err().to_string()
    };
    assert_eq!(
        msg("glorot_uniform_()", &[5]),
        "Can't compute input and output sizes of a 1-dimensional weights tensor with default in_axis. \
         Must be at least 2D or specify in_axis explicitly."
    );
    assert_eq!(msg("he_normal_(in_axis=2)", &[4, 4]), "in_axis=2 is out of range for a weight of rank 2");
    assert_eq!(msg("he_normal_(batch_axis=(0, -3))", &[4, 4]), "batch_axis=-3 is out of range for a weight of rank 2");
    // Explicit axes on a 1-D shape: JAX computes (fan_in = fan_out = 5 · 5/5/5 = 1).
    assert_eq!(init::jax_fans(&[5], &[0], &[0], &[]).unwrap(), (1.0, 1.0));
    // An empty tensor draws nothing (JAX divides by zero), but bad axes are still errors.
    let mut g = Generator::manual_seed(0);
    let before = g.get_rng_state();
    let mut t = Tensor::zeros(&[0, 4], DType::F32);
    parse("he_normal_()").apply(t.view_mut().unwrap(), &mut g).unwrap();
    assert_eq!(g.get_rng_state(), before);
    assert_eq!(msg("he_normal_(in_axis=3)", &[0, 4]), "in_axis=3 is out of range for a weight of rank 2");
}

/// The matrix sits where JAX's `delta_orthogonal` puts it (the tap `(k − 1) // 2` of every
/// spatial dimension), and its columns are orthonormal times the gain, on both streams.
#[test]
fn delta_orthogonal_structure_matches_jax() {
    let data = golden("schemes.json");
    for case in data["delta_orthogonal"].as_array().unwrap() {
        let jax_shape = shape(&case["jax_shape"]);
        let rank = jax_shape.len();
        let (inp, out) = (jax_shape[rank - 2], jax_shape[rank - 1]);
        let spatial = &jax_shape[..rank - 2];
        let mut torch_shape = vec![out, inp];
        torch_shape.extend_from_slice(spatial);
        let taps: Vec<Vec<usize>> = case["nonzero_taps"].as_array().unwrap().iter().map(shape).collect();
        assert_eq!(taps.len(), 1);
        let centre = taps[0].iter().zip(spatial).fold(0, |acc, (&i, &k)| acc * k + i);
        let receptive: usize = spatial.iter().product();
        assert!(case["gram_max_error"].as_f64().unwrap() < 1e-12);
        let init = Init::DeltaOrthogonal { gain: 1.5 };
        for philox in [false, true] {
            let v = if philox {
                drawn(&init, &torch_shape, DType::F64, &mut Philox::new(3, "conv"))
            } else {
                drawn(&init, &torch_shape, DType::F64, &mut Generator::manual_seed(3))
            };
            for (i, x) in v.iter().enumerate() {
                if i % receptive != centre {
                    assert_eq!(*x, 0.0, "{torch_shape:?}: element {i} outside the centre tap");
                }
            }
            let w = |o: usize, c: usize| v[(o * inp + c) * receptive + centre];
            for a in 0..inp {
                for b in 0..inp {
                    let dot: f64 = (0..out).map(|o| w(o, a) * w(o, b)).sum();
                    let want = if a == b { 2.25 } else { 0.0 };
                    assert!((dot - want).abs() < 1e-12, "{torch_shape:?}: column Gram [{a}, {b}] = {dot}");
                }
            }
        }
    }
    let msg = |shape: &[usize]| {
        let mut t = Tensor::zeros(shape, DType::F32);
        init::delta_orthogonal_(t.view_mut().unwrap(), 1.0, &mut Generator::manual_seed(0)).unwrap_err().to_string()
    };
    assert_eq!(msg(&[4, 4]), "Delta orthogonal initializer requires a 3D, 4D or 5D shape.");
    assert_eq!(msg(&[2, 4, 3]), "`fan_in` must be less or equal than `fan_out`. ");
    let mut t = Tensor::zeros(&[4, 2, 3], DType::F16);
    let err = init::delta_orthogonal_(t.view_mut().unwrap(), 1.0, &mut Generator::manual_seed(0)).unwrap_err();
    assert_eq!(err.to_string(), "\"geqrf_cpu\" not implemented for 'Half'");
}

/// ZerO: bit for bit the reference algorithm run by PyTorch (f32), for m ≤ n (partial identity)
/// and m > n with an even and an odd `ceil(log2 m)`.
#[test]
fn zero_init_matches_reference_bits() {
    let data = golden("schemes.json");
    for case in data["zero_init"].as_array().unwrap() {
        let shape = shape(&case["shape"]);
        let mut t = Tensor::zeros(&shape, DType::F32);
        init::zero_init_(t.view_mut().unwrap()).unwrap();
        assert_eq!(hex_bits(&t), common::strings(&case["bits"]), "zero_init_ {shape:?}");
        // The same through the parsed value, on any engine (nothing is drawn).
        let mut g = Generator::manual_seed(1);
        let before = g.get_rng_state();
        let mut u = Tensor::zeros(&shape, DType::F32);
        parse("zero_init_()").apply(u.view_mut().unwrap(), &mut g).unwrap();
        assert_eq!(u, t);
        assert_eq!(g.get_rng_state(), before);
    }
    // Other dtypes: ±1 / 2^(c/2) computed in f64 (f64) or f32 then rounded once (bf16, f16).
    for (dtype, round) in [
        (DType::F64, (|x: f64| x) as fn(f64) -> f64),
        (DType::BF16, |x| half::bf16::from_f32(x as f32).to_f64()),
        (DType::F16, |x| half::f16::from_f32(x as f32).to_f64()),
    ] {
        let mut t = Tensor::zeros(&[6, 3], dtype);
        init::zero_init_(t.view_mut().unwrap()).unwrap();
        let v = t.to_f64_vec();
        let c = 8f64.sqrt(); // ceil(log2 6) = 3: divide by 2^(3/2)
        let scaled = |x: f64| if dtype == DType::F64 { x / c } else { round((x as f32 / c as f32) as f64) };
        assert_eq!(v[..6], [scaled(1.0), scaled(1.0), scaled(1.0), scaled(1.0), scaled(-1.0), scaled(1.0)], "{dtype}");
        assert_eq!(v[5 * 3 + 1], scaled(-1.0), "{dtype}: H[5, 1] = (-1)^popcount(5 & 1)");
    }
    let mut t = Tensor::zeros(&[2, 2, 2], DType::F32);
    assert_eq!(
        init::zero_init_(t.view_mut().unwrap()).unwrap_err().to_string(),
        "Only tensors with 2 dimensions are supported"
    );
}

/// `identity_`: PyTorch's `eye_` / `dirac_` times the gain, bit for bit.
#[test]
fn identity_matches_eye_and_dirac_times_gain() {
    let data = golden("schemes.json");
    for case in data["identity"].as_array().unwrap() {
        let shape = shape(&case["shape"]);
        let gain = case["gain"].as_f64().unwrap();
        let mut t = Tensor::zeros(&shape, DType::F32);
        init::identity_(t.view_mut().unwrap(), gain).unwrap();
        assert_eq!(hex_bits(&t), common::strings(&case["bits"]), "identity_({gain}) {shape:?}");
    }
    for shape in [&[4][..], &[1, 1, 1, 1, 1, 1]] {
        let mut t = Tensor::zeros(shape, DType::F32);
        assert_eq!(
            init::identity_(t.view_mut().unwrap(), 1.0).unwrap_err().to_string(),
            "Only tensors with 2, 3, 4, or 5 dimensions are supported"
        );
    }
    let mut t = Tensor::zeros(&[2, 2], DType::F16);
    assert_eq!(
        init::identity_(t.view_mut().unwrap(), 1e6).unwrap_err().to_string(),
        "value cannot be converted to type at::Half without overflow"
    );
}

/// The std (or gain) each depth- or width-aware scheme derives, bit for bit against the
/// formula as its source writes it; and what `Init::draw` resolves the scheme to.
#[test]
fn depth_and_width_formulas_are_the_sources() {
    let data = golden("schemes.json");
    let cases = data["formula_cases"].as_array().unwrap();
    assert!(cases.len() >= 30);
    for case in cases {
        let init = parse(case["init"].as_str().unwrap());
        let shape = if case["shape"].is_null() { vec![64, 32] } else { shape(&case["shape"]) };
        let draw = init.draw(&shape, DType::F64).unwrap();
        if let Some(bits) = case["std_bits"].as_str() {
            let want = f64_bits(bits);
            let got = match (&init, draw) {
                (Init::OlmoMitchell { d, layer_id, std_factor }, Draw::Whole) => {
                    init::olmo_mitchell_std(*d, *layer_id, *std_factor).unwrap()
                }
                (_, Draw::Normal { mean: 0.0, std }) => std,
                (_, other) => panic!("{init}: {other:?}"),
            };
            assert_eq!(got.to_bits(), want.to_bits(), "{init} on {shape:?}: std {got} vs {want}");
        }
        if let Some(bits) = case["gain_bits"].as_str() {
            let gain = f64_bits(bits);
            let got = match init {
                Init::DeepNorm { encoder_layers, decoder_layers, stack } => {
                    init::deepnorm_alpha_beta(encoder_layers, decoder_layers, stack).unwrap().1
                }
                Init::TFixup { n_layers, stack } => init::t_fixup_scale(n_layers, stack).unwrap(),
                ref other => panic!("{other}"),
            };
            assert_eq!(got.to_bits(), gain.to_bits(), "{init}: gain {got} vs {gain}");
            // Then PyTorch's Xavier formula with that gain (DeepNorm: normal, T-Fixup: uniform).
            let (fan_in, fan_out) = init::fan_in_and_fan_out(&shape).unwrap();
            let std = gain * (2.0 / (fan_in + fan_out) as f64).sqrt();
            let want = match init {
                Init::DeepNorm { .. } => Draw::Normal { mean: 0.0, std },
                _ => Draw::Uniform { from: -(3f64.sqrt() * std), to: 3f64.sqrt() * std },
            };
            assert_eq!(draw, want, "{init}");
        }
    }
}

/// Large draws of every depth- and width-aware scheme, on both streams: mean 0 and the std the
/// formula gives, within sampling error; OLMo's values within ±3σ.
#[test]
fn depth_and_width_moments_on_both_streams() {
    let schemes = [
        "scaled_normal_(0.02, 24)",
        "small_init_(768)",
        "wang_init_(12, 768)",
        "olmo_mitchell_(768, 5)",
        "deepnorm_(0, 24, 'decoder')",
        "fixup_(8, 2)",
        "t_fixup_(6, 'decoder')",
        "mup_normal_(128, 0.02)",
        "mup_normal_(128, 0.02, True)",
    ];
    let shape = [256, 512];
    for s in schemes {
        let init = parse(s);
        let sigma = init.expected_std(&shape).unwrap();
        for philox in [false, true] {
            let v = many(&init, &shape, 1 << 17, philox);
            let m = moments(&v);
            let what = format!("{s} {}", if philox { "philox" } else { "torch stream" });
            assert_moments(&m, sigma, &what);
            if let Init::OlmoMitchell { d, layer_id, std_factor } = init {
                let parent = init::olmo_mitchell_std(d, layer_id, std_factor).unwrap();
                assert!(m.max_abs <= 3.0 * parent * (1.0 + 1e-6), "{what}: |x| up to {}", m.max_abs);
            }
        }
    }
    // The formulas' values for this shape, spelled out.
    let std = |s: &str| parse(s).expected_std(&shape).unwrap();
    assert_eq!(std("scaled_normal_(0.02, 24)"), 0.02 / 48f64.sqrt());
    assert_eq!(std("small_init_(768)"), (2.0f64 / 3840.0).sqrt());
    assert_eq!(std("wang_init_(12, 768)"), 2.0 / 12.0 / 768f64.sqrt());
    assert_eq!(std("fixup_(8, 2)"), (2.0f64 / 256.0).sqrt() * 8f64.powf(-0.5));
    assert_eq!(std("mup_normal_(128, 0.02)"), 0.02 * 4f64.powf(-0.5));
    assert_eq!(std("mup_normal_(128, 0.02, True)"), 0.02 / 4.0);
}

#[test]
fn depth_and_width_argument_errors() {
    let msg = |s: &str| {
        let mut t = Tensor::zeros(&[4, 4], DType::F32);
        parse(s).apply(t.view_mut().unwrap(), &mut Generator::manual_seed(0)).unwrap_err().to_string()
    };
    assert_eq!(msg("scaled_normal_(0.02, 0)"), "scaled_normal_ expects n_layers >= 1, got 0");
    assert_eq!(msg("small_init_(0)"), "small_init_ expects dim >= 1, got 0");
    assert_eq!(msg("wang_init_(0, 8)"), "wang_init_ expects n_layers >= 1, got 0");
    assert_eq!(msg("olmo_mitchell_(0)"), "olmo_mitchell_ expects d >= 1, got 0");
    assert_eq!(msg("deepnorm_()"), "deepnorm_ expects encoder_layers >= 1 for stack='encoder', got 0");
    assert_eq!(msg("deepnorm_(6, 0, 'decoder')"), "deepnorm_ expects decoder_layers >= 1 for stack='decoder', got 0");
    assert_eq!(msg("fixup_(8, 1)"), "fixup_ expects m >= 2, got 1");
    assert_eq!(msg("fixup_(0)"), "fixup_ expects n_branches >= 1, got 0");
    assert_eq!(msg("t_fixup_(0)"), "t_fixup_ expects n_layers >= 1, got 0");
    assert_eq!(msg("mup_normal_(0)"), "mup_normal_ expects base_fan_in >= 1, got 0");
    let mut t = Tensor::zeros(&[4], DType::F32);
    let err = parse("fixup_(8)").apply(t.view_mut().unwrap(), &mut Generator::manual_seed(0)).unwrap_err();
    assert_eq!(err.to_string(), "Fan in and fan out can not be computed for tensor with fewer than 2 dimensions");
}

/// Case P2: a bound or std derived from the arguments is checked by the sampler it goes to,
/// with PyTorch 2.15's message (recorded from PyTorch; for schemes PyTorch lacks, its sampler
/// given the derived value), through `Init::draw` and `Init::apply` alike, on both streams;
/// the tensor is left untouched. `trunc_normal_(std=-1)`, which PyTorch accepts, is refused on
/// purpose.
#[test]
fn p2_derived_argument_errors_match_pytorch() {
    let data = golden("schemes.json");
    let cases = data["derived_errors"].as_array().unwrap();
    let want_case = |init: &str| cases.iter().find(|c| c["init"] == init).unwrap_or_else(|| panic!("{init}"));
    assert_eq!(
        want_case("xavier_uniform_(gain=-1)")["message"],
        "uniform_ expects to return a [from, to) range, but found from=0.866025 > to=-0.866025"
    );
    assert_eq!(want_case("xavier_normal_(gain=-1)")["message"], "normal expects std >= 0.0, but found std -0.5");
    for case in cases {
        let init = parse(case["init"].as_str().unwrap());
        let shape = shape(&case["shape"]);
        let dtype = dtype_of(case["dtype"].as_str().unwrap());
        let torch = case["message"].as_str();
        let text = case["init"].as_str().unwrap();
        let want = match (text, torch) {
            ("trunc_normal_(std=-1)", None) => Some("normal expects std >= 0.0, but found std -1"),
            // JAX itself refuses a scale that is not positive, before any derived std.
            (t, _) if t.starts_with("variance_scaling_(-") => Some("`scale` must be a positive float, got -1"),
            (_, m) => m,
        };
        let draw = init.draw(&shape, dtype);
        for philox in [false, true] {
            let mut t = Tensor::zeros(&shape, dtype);
            let got = if philox {
                init.apply(t.view_mut().unwrap(), &mut Philox::new(0, "w"))
            } else {
                init.apply(t.view_mut().unwrap(), &mut Generator::manual_seed(0))
            };
            match want {
                None => {
                    got.unwrap_or_else(|e| panic!("{init} on {shape:?}: {e}"));
                    assert!(draw.is_ok());
                }
                Some(want) => {
                    let got = got.expect_err(&format!("{init} on {shape:?} must fail")).to_string();
                    // PyTorch's OverflowError text, prefixed with the parameter it comes from.
                    assert!(got == want || got.ends_with(&format!(": {want}")), "{init} {shape:?}: {got} vs {want}");
                    assert_eq!(draw.as_ref().unwrap_err().to_string(), got, "{init}: draw and apply differ");
                    assert_eq!(t, Tensor::zeros(&shape, dtype), "{init} changed the tensor");
                }
            }
        }
    }
}

/// P2 for the variance-scaling family beyond the recorded cases: every scheme whose bound or
/// std is derived goes through the same check, so a negative gain or std, or a bound beyond
/// the dtype, is refused the same way.
#[test]
fn p2_every_derived_bound_is_checked() {
    let err = |s: &str, shape: &[usize], dtype: DType| parse(s).draw(shape, dtype).unwrap_err().to_string();
    let uniform =
        |b: f64| format!("uniform_ expects to return a [from, to) range, but found from={} > to={}", fmt(-b), fmt(b));
    fn fmt(x: f64) -> String {
        // C++'s %g for these values: 6 significant digits.
        let s = format!("{:.*}", (5 - x.abs().log10().floor() as i32).max(0) as usize, x);
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    }
    // T-Fixup and DeepNorm cannot produce a negative gain; a negative `std` or `std_factor` can.
    assert_eq!(
        err("t_fixup_(6)", &[4], DType::F32),
        "Fan in and fan out can not be computed for tensor with fewer than 2 dimensions"
    );
    let bound = 3f64.sqrt() * -(2.0f64 / 8.0).sqrt();
    assert_eq!(err("xavier_uniform_(-1.0)", &[4, 4], DType::F32), uniform(bound));
    assert_eq!(
        err("xavier_uniform_(-1.0)", &[4, 4], DType::F32),
        parse("xavier_uniform_(gain=-1)").draw(&[4, 4], DType::F32).unwrap_err().to_string()
    );
    assert_eq!(
        err("variance_scaling_(1e80, 'fan_in', 'uniform')", &[4, 4], DType::F32),
        "from is out of bounds for float"
    );
    assert_eq!(err("xavier_uniform_(1e5)", &[4, 4], DType::F16), "from is out of bounds for c10::Half");
    assert_eq!(
        err("olmo_mitchell_(64, None, -1.0)", &[4, 4], DType::F32),
        "normal expects std >= 0.0, but found std -0.125"
    );
    assert_eq!(
        err("mup_normal_(16, -1.0, True)", &[8, 64], DType::F32),
        "normal expects std >= 0.0, but found std -0.25"
    );
    // An empty tensor draws nothing, but PyTorch still checks uniform_'s arguments for xavier_*.
    assert_eq!(err("xavier_uniform_(gain=-1)", &[0, 4], DType::F32), uniform(-(3f64.sqrt() * (2.0f64 / 4.0).sqrt())));
    assert_eq!(parse("kaiming_uniform_(a=-1)").draw(&[0, 4], DType::F32).unwrap(), Draw::Nothing);
    // kaiming with an odd slope: a = -1 is the gain of a = 1; a = 1e200 overflows as in Python.
    assert_eq!(
        parse("kaiming_normal_(a=-1.0)").draw(&[4, 4], DType::F32).unwrap(),
        parse("kaiming_normal_(a=1.0)").draw(&[4, 4], DType::F32).unwrap()
    );
    assert_eq!(
        err("kaiming_normal_(a=1e200)", &[4, 4], DType::F32),
        "negative_slope 1e+200: (34, 'Numerical result out of range')"
    );
    // lecun_*: gain 1 and a positive fan, so the bound is always valid.
    for s in ["lecun_uniform_()", "lecun_normal_()", "jax_lecun_uniform_()", "jax_lecun_normal_()"] {
        assert!(parse(s).draw(&[3, 5], DType::BF16).is_ok(), "{s}");
    }
}

/// The new elementwise schemes fill any range of a tensor alone on the counter-based stream,
/// bit-identical to that range of the whole tensor; the structured ones refuse.
#[test]
fn new_schemes_fill_ranges_alone() {
    let shape = [48, 40];
    for s in [
        "he_normal_(in_axis=1, out_axis=0)",
        "glorot_uniform_()",
        "variance_scaling_(0.5, 'fan_avg', 'normal')",
        "scaled_normal_(0.02, 12)",
        "small_init_(40)",
        "wang_init_(6, 40)",
        "olmo_mitchell_(40, 2)",
        "deepnorm_(6, 0)",
        "fixup_(4)",
        "t_fixup_(3)",
        "mup_normal_(10)",
    ] {
        let init = parse(s);
        assert!(init.is_elementwise(), "{s}");
        let whole = drawn(&init, &shape, DType::F32, &mut Philox::new(9, "w"));
        let (start, len) = (333, 700);
        let mut part = Tensor::zeros(&[len], DType::F32);
        init.apply_range(&shape, start, part.view_mut().unwrap().into_data(), 9, "w").unwrap();
        assert_eq!(part.to_f64_vec(), whole[start..start + len], "{s}");
    }
    for s in ["delta_orthogonal_()", "identity_()", "zero_init_()"] {
        let init = parse(s);
        assert!(!init.is_elementwise(), "{s}");
        let mut part = Tensor::zeros(&[4], DType::F32);
        let err = init.apply_range(&[4, 4, 3], 0, part.view_mut().unwrap().into_data(), 0, "w").unwrap_err();
        assert_eq!(
            err.to_string(),
            format!("{} is not elementwise: it cannot fill a part of a tensor alone", init.name())
        );
    }
}
