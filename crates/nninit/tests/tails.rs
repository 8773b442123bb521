//! `trunc_normal_` far in the tails (case P6): on the counter-based stream an exact sampler of
//! bounded work, checked against the exact truncated moments; on the PyTorch stream PyTorch's
//! own algorithm, bit-exact below nninit's work bound (against PyTorch's values) and refused
//! above it.

use nninit::init::{trunc_normal_, Init};
use nninit::rng::Philox;
use nninit::tensor::{DType, Tensor};
use nninit::{Error, Generator};
use sha2::Digest;

/// Mills' ratio `R(x) = (1 − Φ(x)) / φ(x) = ∫_0^∞ e^{−x·u − u²/2} du` (x ≥ 0), by Simpson's
/// rule in log space: no `Φ` difference, so it holds where `1 − Φ(x)` underflows.
fn mills(x: f64) -> f64 {
    if x.is_infinite() {
        return 0.0;
    }
    // The integrand is below e^{-60} beyond u = 60 / x (or √120 near 0).
    let len = (60.0 / x.max(1e-9)).min(120f64.sqrt());
    let n = 20_000;
    let h = len / n as f64;
    let f = |u: f64| (-x * u - 0.5 * u * u).exp();
    let inner: f64 = (1..n).map(|i| f(i as f64 * h) * if i % 2 == 1 { 4.0 } else { 2.0 }).sum();
    (f(0.0) + inner + f(len)) * h / 3.0
}

/// Mean and std of N(mean, std²) truncated to `[a, b]`, for an interval on one side of the mean:
/// `mean + std·(φ(α) − φ(β))/Z` and `std·√(1 + (αφ(α) − βφ(β))/Z − ((φ(α) − φ(β))/Z)²)`, every
/// ratio divided through by `φ(α)` (`Z/φ(α) = R(α) − R(β)·e^{−(β² − α²)/2}`).
fn truncated_moments(mean: f64, std: f64, a: f64, b: f64) -> (f64, f64) {
    let (al, be) = ((a - mean) / std, (b - mean) / std);
    let (al, be, sign) = if al >= 0.0 { (al, be, 1.0) } else { (-be, -al, -1.0) };
    assert!(al >= 0.0, "one-sided intervals only");
    let decay = (-0.5 * (be - al) * (be + al)).exp();
    let z = mills(al) - if decay == 0.0 { 0.0 } else { mills(be) * decay };
    let m = (1.0 - decay) / z;
    let tail = if decay == 0.0 { 0.0 } else { be * decay };
    let var = 1.0 + (al - tail) / z - m * m;
    (mean + sign * std * m, std * var.sqrt())
}

fn philox(init: &str, n: usize, dtype: DType, seed: u64) -> Tensor {
    let mut t = Tensor::zeros(&[n], dtype);
    init.parse::<Init>().unwrap().apply(t.view_mut().unwrap(), &mut Philox::new(seed, "w")).unwrap();
    t
}

/// The moments of the test agree with the closed form where `Φ` differences still work.
#[test]
fn reference_moments_agree_with_the_closed_form() {
    let pdf = |x: f64| (-0.5 * x * x).exp() / (2.0 * std::f64::consts::PI).sqrt();
    let cdf = |x: f64| 0.5 * libm::erfc(-x / 2f64.sqrt());
    for (a, b) in [(1.0, 2.0), (3.0, 10.0), (-5.0, -2.5), (0.5, 30.0)] {
        let z = cdf(b) - cdf(a);
        let m = (pdf(a) - pdf(b)) / z;
        let s = (1.0 + (a * pdf(a) - b * pdf(b)) / z - m * m).sqrt();
        let (gm, gs) = truncated_moments(0.0, 1.0, a, b);
        assert!((gm - m).abs() < 1e-9 && (gs - s).abs() < 1e-9, "{a}..{b}: {gm} {gs} vs {m} {s}");
    }
    // The inverse Mills ratio at 6 (case P6's mean).
    assert!((truncated_moments(0.0, 1.0, 6.0, 1e4).0 - 6.158_4).abs() < 1e-4);
}

/// P6 (philox): `trunc_normal_(mean=0, std=1, a=6, b=1e4)` on 10,000 f32 values: every value in
/// `(6, 1e4)`, mean ≈ 6.158 (φ(6)/(1 − Φ(6))), std as the truncated distribution's.
#[test]
fn p6_philox_far_tail() {
    let v = philox("trunc_normal_(0, 1, 6, 1e4)", 10_000, DType::F32, 0).to_f64_vec();
    assert!(v.iter().all(|&x| 6.0 < x && x < 1e4));
    let (want_mean, want_std) = truncated_moments(0.0, 1.0, 6.0, 1e4);
    check_moments(&v, want_mean, want_std, "P6");
}

fn check_moments(v: &[f64], want_mean: f64, want_std: f64, what: &str) {
    let n = v.len() as f64;
    let mean = v.iter().sum::<f64>() / n;
    let std = (v.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / (n - 1.0)).sqrt();
    // Five standard errors of the mean; the std within 7 % (an exponential-like tail has
    // kurtosis up to 9: the sample std's standard error is about 1.4 % at n = 10,000).
    assert!((mean - want_mean).abs() < 5.0 * want_std / n.sqrt(), "{what}: mean {mean} vs {want_mean}");
    assert!((std / want_std - 1.0).abs() < 0.07, "{what}: std {std} vs {want_std}");
}

/// Intervals anywhere in ±40σ, one-sided, two-sided, narrow and wide, mirrored, with an infinite
/// bound, in f32 and f64: values inside `[a, b]` (strictly where the type has values between the
/// bounds), moments those of the truncated distribution.
#[test]
fn philox_tails_anywhere_in_forty_sigma() {
    let cases = [
        (0.0, 1.0, 6.0, 1e4),
        (0.0, 1.0, 0.6, 1e4),
        (0.0, 1.0, 3.0, 10.0),
        (0.0, 1.0, 10.0, 10.5),
        (0.0, 1.0, 39.0, 40.0),
        (0.0, 1.0, 40.0, f64::INFINITY),
        (0.0, 1.0, -40.0, -39.9),
        (0.0, 1.0, f64::NEG_INFINITY, -25.0),
        (1.0, 0.02, 1.5, 2.0),
        (-3.0, 2.0, -1e6, -60.0),
    ];
    for (mean, std, a, b) in cases {
        let (want_mean, want_std) = truncated_moments(mean, std, a, b);
        for dtype in [DType::F32, DType::F64] {
            let init = Init::TruncNormal { mean, std, a, b };
            let mut t = Tensor::zeros(&[10_000], dtype);
            init.apply(t.view_mut().unwrap(), &mut Philox::new(7, "w")).unwrap();
            let v = t.to_f64_vec();
            let what = format!("{init:?} {dtype}");
            assert!(v.iter().all(|&x| a < x && x < b), "{what}: a value at or past a bound");
            check_moments(&v, want_mean, want_std, &what);
        }
    }
}

/// In bf16 the values stay in `[a, b]` after rounding; next to a bound with nothing between the
/// bounds' neighbours they may equal a bound (the only values there are).
#[test]
fn philox_tails_in_bf16() {
    let v = philox("trunc_normal_(0, 1, 6, 1e4)", 10_000, DType::BF16, 1).to_f64_vec();
    assert!(v.iter().all(|&x| 6.0 < x && x < 1e4));
    // [40, 40.25] in bf16: 40 and 40.25 are neighbours; every value is one of them.
    let v = philox("trunc_normal_(0, 1, 40, 40.25)", 1000, DType::BF16, 1).to_f64_vec();
    assert!(v.iter().all(|&x| x == 40.0 || x == 40.25));
    // [40, 40.5]: one value between, 40.25, and only it.
    let v = philox("trunc_normal_(0, 1, 40, 40.5)", 1000, DType::BF16, 1).to_f64_vec();
    assert!(v.iter().all(|&x| x == 40.25));
}

/// The tail sampler is part of the counter-based stream: the same bits for any thread count,
/// pinned by a digest.
#[test]
fn philox_tail_stream_is_pinned() {
    let draw = |threads: usize| {
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap()
            .install(|| philox("trunc_normal_(0, 1, 6, 1e4)", 100_000, DType::F32, 2024))
    };
    let want = draw(1);
    assert_eq!(draw(3), want);
    let t = philox("trunc_normal_(0, 1, 6, 1e4)", 37 * 53, DType::F32, 2024);
    let digest: String = sha2::Sha256::digest(t.bytes()).iter().take(8).map(|b| format!("{b:02x}")).collect();
    assert_eq!(digest, "a0ea8bb84fc4f648");
}

/// P6 (torch stream): PyTorch's algorithm would draw about 6e9 proposals for 10,000 values:
/// refused at once, naming the interval, the acceptance rate and `--rng philox`; the generator is
/// left untouched.
#[test]
fn p6_torch_stream_refused_at_once() {
    let mut t = Tensor::zeros(&[10_000], DType::F32);
    let mut g = Generator::manual_seed(0);
    let started = std::time::Instant::now();
    let err = trunc_normal_(t.view_mut().unwrap(), 0.0, 1.0, 6.0, 1e4, &mut g).unwrap_err();
    assert!(started.elapsed().as_secs() < 5);
    assert!(matches!(err, Error::TooMuchWork { .. }), "{err}");
    let msg = err.to_string();
    for part in ["trunc_normal_(mean=0, std=1, a=6, b=10000)", "accepts 1.62e-5", "6.0e9 proposals", "--rng philox"] {
        assert!(msg.contains(part), "{msg}: no `{part}`");
    }
    assert_eq!(g.random(), Generator::manual_seed(0).random());
    // With b = 1e6 the acceptance rate is about 100 times lower still.
    let err = trunc_normal_(t.view_mut().unwrap(), 0.0, 1.0, 6.0, 1e6, &mut g).unwrap_err();
    assert!(err.to_string().contains("accepts 1.62e-7"), "{err}");
    // An infinite interval: no proposal is ever accepted.
    let err = trunc_normal_(t.view_mut().unwrap(), 0.0, 1.0, 6.0, f64::INFINITY, &mut g).unwrap_err();
    assert!(err.to_string().contains("accepts 0.00e0"), "{err}");
}

/// Below the bound the torch stream stays bit-exact with PyTorch 2.15, far tails included
/// (values and the generator's position afterwards; golden data from tools/golden/gen_tails.py).
#[test]
fn torch_stream_tails_match_pytorch() {
    let golden: serde_json::Value = serde_json::from_str(include_str!("golden/tails.json")).expect("golden/tails.json");
    for case in golden["cases"].as_array().unwrap() {
        let f = |k: &str| case[k].as_f64().unwrap();
        let shape: Vec<usize> =
            case["shape"].as_array().unwrap().iter().map(|x| x.as_u64().unwrap() as usize).collect();
        let dtype = if case["dtype"] == "f64" { DType::F64 } else { DType::F32 };
        let mut g = Generator::manual_seed(case["seed"].as_u64().unwrap());
        let mut t = Tensor::zeros(&shape, dtype);
        trunc_normal_(t.view_mut().unwrap(), f("mean"), f("std"), f("a"), f("b"), &mut g).unwrap();
        let got: Vec<String> = match dtype {
            DType::F64 => {
                t.bytes().chunks(8).map(|c| format!("{:016x}", u64::from_le_bytes(c.try_into().unwrap()))).collect()
            }
            _ => t.bytes().chunks(4).map(|c| format!("{:08x}", u32::from_le_bytes(c.try_into().unwrap()))).collect(),
        };
        let want: Vec<String> =
            case["bits"].as_array().unwrap().iter().map(|x| x.as_str().unwrap().to_string()).collect();
        assert_eq!(got, want, "{case}");
        // torch.empty(8).uniform_() afterwards.
        let mut after = Tensor::zeros(&[8], DType::F32);
        nninit::init::uniform_(after.view_mut().unwrap(), 0.0, 1.0, &mut g).unwrap();
        let after: Vec<String> =
            after.bytes().chunks(4).map(|c| format!("{:08x}", u32::from_le_bytes(c.try_into().unwrap()))).collect();
        let want: Vec<String> =
            case["uniform_after"].as_array().unwrap().iter().map(|x| x.as_str().unwrap().to_string()).collect();
        assert_eq!(after, want, "generator position after {case}");
    }
}
