//! `Init`: an initializer as a value, written and read in PyTorch call syntax.

use std::fmt;
use std::str::FromStr;

use super::fan::{FanMode, Nonlinearity};
use super::functions::*;
use super::variance::{Distribution, Fan, VarianceScaling};
use crate::error::{Error, Result};
use crate::pycall::{Call, Literal};
use crate::rng::Philox;
use crate::sample::Engine;
use crate::tensor::{SliceMut, TensorMut};

/// An initializer: which `torch.nn.init` function, with its arguments.
///
/// The same value is what the Rust API, the command line's `--init` string and plan files
/// describe. It prints and parses as a PyTorch call without the tensor argument:
///
/// ```
/// use nninit::init::Init;
/// let init: Init = "kaiming_normal_(mode='fan_out', nonlinearity='relu')".parse().unwrap();
/// assert_eq!(init.to_string(), "kaiming_normal_(a=0.0, mode='fan_out', nonlinearity='relu')");
/// ```
///
/// Parsing accepts PyTorch's names with or without the trailing underscore, positional and
/// keyword arguments in PyTorch's order and names, Python literals (numbers, quoted strings,
/// `True`/`False`/`None`) and `sqrt(x)` / `math.sqrt(x)`. Missing arguments take PyTorch's
/// defaults. In serde formats (TOML plans, JSON) an `Init` is that string.
#[derive(Clone, Debug, PartialEq)]
#[allow(missing_docs)] // fields are PyTorch's arguments, named and documented on each variant
pub enum Init {
    /// `uniform_(a=0.0, b=1.0)`.
    Uniform { a: f64, b: f64 },
    /// `normal_(mean=0.0, std=1.0)`.
    Normal { mean: f64, std: f64 },
    /// `trunc_normal_(mean=0.0, std=1.0, a=-2.0, b=2.0)`.
    TruncNormal { mean: f64, std: f64, a: f64, b: f64 },
    /// `constant_(val)`.
    Constant { val: f64 },
    /// `ones_()`.
    Ones,
    /// `zeros_()`.
    Zeros,
    /// `eye_()`.
    Eye,
    /// `dirac_(groups=1)`.
    Dirac { groups: usize },
    /// `xavier_uniform_(gain=1.0)`.
    XavierUniform { gain: f64 },
    /// `xavier_normal_(gain=1.0)`.
    XavierNormal { gain: f64 },
    /// `kaiming_uniform_(a=0, mode='fan_in', nonlinearity='leaky_relu')`.
    KaimingUniform { a: f64, mode: FanMode, nonlinearity: Nonlinearity },
    /// `kaiming_normal_(a=0, mode='fan_in', nonlinearity='leaky_relu')`.
    KaimingNormal { a: f64, mode: FanMode, nonlinearity: Nonlinearity },
    /// `orthogonal_(gain=1)`.
    Orthogonal { gain: f64 },
    /// `sparse_(sparsity, std=0.01)`.
    Sparse { sparsity: f64, std: f64 },
    /// `lecun_uniform_()`.
    LecunUniform,
    /// `lecun_normal_()`.
    LecunNormal,
}

#[allow(missing_docs)]
impl Init {
    /// Applies the initializer to `tensor`, drawing from `g`. Errors: those of the function called.
    pub fn apply(&self, tensor: TensorMut<'_>, g: &mut impl Engine) -> Result<()> {
        match *self {
            Init::Uniform { a, b } => uniform_(tensor, a, b, g),
            Init::Normal { mean, std } => normal_(tensor, mean, std, g),
            Init::TruncNormal { mean, std, a, b } => trunc_normal_(tensor, mean, std, a, b, g),
            Init::Constant { val } => constant_(tensor, val),
            Init::Ones => ones_(tensor),
            Init::Zeros => zeros_(tensor),
            Init::Eye => eye_(tensor),
            Init::Dirac { groups } => dirac_(tensor, groups),
            Init::XavierUniform { gain } => xavier_uniform_(tensor, gain, g),
            Init::XavierNormal { gain } => xavier_normal_(tensor, gain, g),
            Init::KaimingUniform { a, mode, nonlinearity } => kaiming_uniform_(tensor, a, mode, nonlinearity, g),
            Init::KaimingNormal { a, mode, nonlinearity } => kaiming_normal_(tensor, a, mode, nonlinearity, g),
            Init::Orthogonal { gain } => orthogonal_(tensor, gain, g),
            Init::Sparse { sparsity, std } => sparse_(tensor, sparsity, std, g),
            Init::LecunUniform => lecun_uniform_(tensor, g),
            Init::LecunNormal => lecun_normal_(tensor, g),
        }
    }

    /// Fills `out` with elements `[start, start + out.len())` (row-major) of the tensor of `shape`
    /// that this init produces on the counter-based stream `Philox::new(seed, path)`: a shard or
    /// chunk of a tensor, computed alone and bit-identical to the same range of the whole tensor.
    ///
    /// # Errors
    /// Non-elementwise schemes (`orthogonal_`, `sparse_`, `eye_`, `dirac_`: see
    /// [`Init::is_elementwise`]); a range past the end; the init's own errors.
    pub fn apply_range(&self, shape: &[usize], start: usize, out: SliceMut<'_>, seed: u64, path: &str) -> Result<()> {
        if !self.is_elementwise() {
            return Err(Error::value(format!(
                "{} is not elementwise: it cannot fill a part of a tensor alone",
                self.name()
            )));
        }
        let len = crate::dispatch_mut!(&out, |s| s.len());
        let numel: usize = shape.iter().product();
        if start + len > numel {
            return Err(Error::value(format!("range {start}..{} is past the end of shape {shape:?}", start + len)));
        }
        // Elementwise schemes read the shape only for fans and the zero-element rule.
        let view = TensorMut { shape, data: out };
        self.apply(view, &mut Philox::new(seed, path).with_offset(start as u64))
    }

    /// PyTorch's function name (`kaiming_normal_`, ...).
    pub fn name(&self) -> &'static str {
        match self {
            Init::Uniform { .. } => "uniform_",
            Init::Normal { .. } => "normal_",
            Init::TruncNormal { .. } => "trunc_normal_",
            Init::Constant { .. } => "constant_",
            Init::Ones => "ones_",
            Init::Zeros => "zeros_",
            Init::Eye => "eye_",
            Init::Dirac { .. } => "dirac_",
            Init::XavierUniform { .. } => "xavier_uniform_",
            Init::XavierNormal { .. } => "xavier_normal_",
            Init::KaimingUniform { .. } => "kaiming_uniform_",
            Init::KaimingNormal { .. } => "kaiming_normal_",
            Init::Orthogonal { .. } => "orthogonal_",
            Init::Sparse { .. } => "sparse_",
            Init::LecunUniform => "lecun_uniform_",
            Init::LecunNormal => "lecun_normal_",
        }
    }

    /// Whether the result depends only on each element's index (so a slice of the tensor can be
    /// filled alone): everything except `orthogonal_`, `sparse_`, `eye_` and `dirac_`.
    pub fn is_elementwise(&self) -> bool {
        !matches!(self, Init::Orthogonal { .. } | Init::Sparse { .. } | Init::Eye | Init::Dirac { .. })
    }

    /// The standard deviation the scheme aims at for a tensor of `shape` (the population std of
    /// the distribution, including truncation; for `orthogonal_` `gain / sqrt(max(rows, cols))`);
    /// `None` where it is not defined (`eye_`, `dirac_`, or a fan error).
    pub fn expected_std(&self, shape: &[usize]) -> Option<f64> {
        let vs = |gain, fan, distribution| VarianceScaling { gain, fan, distribution }.std(shape).ok();
        let gain_of = |nl, a| super::calculate_gain(nl, Some(a)).ok();
        match *self {
            Init::Uniform { a, b } => Some((b - a) / 12f64.sqrt()),
            Init::Normal { std, .. } => Some(std),
            Init::TruncNormal { mean, std, a, b } => Some(truncated_normal_std(mean, std, a, b)),
            Init::Constant { .. } | Init::Ones | Init::Zeros => Some(0.0),
            Init::Eye | Init::Dirac { .. } => None,
            Init::XavierUniform { gain } | Init::XavierNormal { gain } => vs(gain, Fan::Avg, Distribution::Normal),
            Init::KaimingUniform { a, mode, nonlinearity } | Init::KaimingNormal { a, mode, nonlinearity } => {
                vs(gain_of(nonlinearity, a)?, Fan::Mode(mode), Distribution::Normal)
            }
            Init::LecunUniform | Init::LecunNormal => vs(1.0, Fan::Mode(FanMode::FanIn), Distribution::Normal),
            Init::Orthogonal { gain } => {
                let rows = *shape.first()?;
                let cols = shape.iter().product::<usize>() / rows.max(1);
                Some(gain / (rows.max(cols) as f64).sqrt())
            }
            Init::Sparse { sparsity, std } => {
                let &[rows, _] = shape else { return None };
                let zeros = (sparsity * rows as f64).ceil().min(rows as f64);
                Some(std * (1.0 - zeros / rows.max(1) as f64).sqrt())
            }
        }
    }
}

/// Std of N(mean, std²) truncated to [a, b].
fn truncated_normal_std(mean: f64, std: f64, a: f64, b: f64) -> f64 {
    let pdf = |x: f64| (-0.5 * x * x).exp() / (2.0 * std::f64::consts::PI).sqrt();
    let cdf = |x: f64| 0.5 * (1.0 + libm::erf(x / 2f64.sqrt()));
    let (al, be) = ((a - mean) / std, (b - mean) / std);
    let z = cdf(be) - cdf(al);
    if z <= 0.0 {
        return 0.0;
    }
    let t1 = (al * pdf(al) - be * pdf(be)) / z;
    let t2 = (pdf(al) - pdf(be)) / z;
    std * (1.0 + t1 - t2 * t2).max(0.0).sqrt()
}

impl fmt::Display for Init {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.name();
        match self {
            Init::Uniform { a, b } => write!(f, "{n}(a={a:?}, b={b:?})"),
            Init::Normal { mean, std } => write!(f, "{n}(mean={mean:?}, std={std:?})"),
            Init::TruncNormal { mean, std, a, b } => {
                write!(f, "{n}(mean={mean:?}, std={std:?}, a={a:?}, b={b:?})")
            }
            Init::Constant { val } => write!(f, "{n}(val={val:?})"),
            Init::Dirac { groups } => write!(f, "{n}(groups={groups})"),
            Init::XavierUniform { gain } | Init::XavierNormal { gain } | Init::Orthogonal { gain } => {
                write!(f, "{n}(gain={gain:?})")
            }
            Init::KaimingUniform { a, mode, nonlinearity } | Init::KaimingNormal { a, mode, nonlinearity } => {
                write!(f, "{n}(a={a:?}, mode='{mode}', nonlinearity='{nonlinearity}')")
            }
            Init::Sparse { sparsity, std } => write!(f, "{n}(sparsity={sparsity:?}, std={std:?})"),
            Init::Ones | Init::Zeros | Init::Eye | Init::LecunUniform | Init::LecunNormal => {
                write!(f, "{n}()")
            }
        }
    }
}

/// Each function's parameters in PyTorch's order, with defaults (`None` = required).
fn signature(name: &str) -> Option<(&'static str, &'static [(&'static str, Option<Literal>)])> {
    use Literal::{Num, Str};
    macro_rules! sig {
        ($n:literal, [$(($p:literal, $d:expr)),*]) => {{
            static PARAMS: std::sync::OnceLock<Vec<(&'static str, Option<Literal>)>> = std::sync::OnceLock::new();
            Some(($n, PARAMS.get_or_init(|| vec![$(($p, $d)),*]).as_slice()))
        }};
    }
    let kaiming = || {
        sig!(
            "kaiming",
            [
                ("a", Some(Num(0.0))),
                ("mode", Some(Str("fan_in".into()))),
                ("nonlinearity", Some(Str("leaky_relu".into())))
            ]
        )
    };
    match name.trim_end_matches('_') {
        "uniform" => sig!("uniform_", [("a", Some(Num(0.0))), ("b", Some(Num(1.0)))]),
        "normal" => sig!("normal_", [("mean", Some(Num(0.0))), ("std", Some(Num(1.0)))]),
        "trunc_normal" => sig!(
            "trunc_normal_",
            [("mean", Some(Num(0.0))), ("std", Some(Num(1.0))), ("a", Some(Num(-2.0))), ("b", Some(Num(2.0)))]
        ),
        "constant" => sig!("constant_", [("val", None)]),
        "ones" => sig!("ones_", []),
        "zeros" => sig!("zeros_", []),
        "eye" => sig!("eye_", []),
        "dirac" => sig!("dirac_", [("groups", Some(Num(1.0)))]),
        "xavier_uniform" => sig!("xavier_uniform_", [("gain", Some(Num(1.0)))]),
        "xavier_normal" => sig!("xavier_normal_", [("gain", Some(Num(1.0)))]),
        "kaiming_uniform" | "kaiming_normal" => kaiming(),
        "orthogonal" => sig!("orthogonal_", [("gain", Some(Num(1.0)))]),
        "sparse" => sig!("sparse_", [("sparsity", None), ("std", Some(Num(0.01)))]),
        "lecun_uniform" => sig!("lecun_uniform_", []),
        "lecun_normal" => sig!("lecun_normal_", []),
        _ => None,
    }
}

const KNOWN: &str = "uniform_, normal_, trunc_normal_, constant_, ones_, zeros_, eye_, dirac_, xavier_uniform_, \
xavier_normal_, kaiming_uniform_, kaiming_normal_, orthogonal_, sparse_, lecun_uniform_, lecun_normal_";

impl FromStr for Init {
    type Err = Error;

    fn from_str(src: &str) -> Result<Self> {
        let call = Call::parse("init", src)?;
        let (_, params) = signature(&call.name).ok_or_else(|| Error::Unknown {
            what: "init function",
            name: call.name.clone(),
            known: KNOWN.into(),
        })?;
        let bad = |reason: String| Error::parse("init", src, reason);
        if call.positional.len() > params.len() {
            return Err(bad(format!(
                "{} takes {} arguments, {} given",
                call.name,
                params.len(),
                call.positional.len()
            )));
        }
        let mut values: Vec<Option<Literal>> = params.iter().map(|(_, d)| d.clone()).collect();
        let given = call.positional.len();
        for (i, v) in call.positional.into_iter().enumerate() {
            values[i] = Some(v);
        }
        let mut seen = std::collections::HashSet::new();
        for (k, v) in call.keyword {
            if k == "generator" && v == Literal::None {
                continue;
            }
            let i = params
                .iter()
                .position(|(p, _)| *p == k)
                .ok_or_else(|| bad(format!("unexpected keyword argument `{k}`")))?;
            if i < given || !seen.insert(i) {
                return Err(bad(format!("multiple values for argument `{k}`")));
            }
            values[i] = Some(v);
        }
        let arg = |i: usize| -> Result<&Literal> {
            values[i].as_ref().ok_or_else(|| bad(format!("missing required argument `{}`", params[i].0)))
        };
        let num = |i: usize| -> Result<f64> {
            match arg(i)? {
                Literal::Num(x) => Ok(*x),
                other => Err(bad(format!("`{}` must be a number, got {other}", params[i].0))),
            }
        };
        let text = |i: usize| -> Result<String> {
            match arg(i)? {
                Literal::Str(s) => Ok(s.clone()),
                other => Err(bad(format!("`{}` must be a string, got {other}", params[i].0))),
            }
        };
        let name = call.name.trim_end_matches('_');
        Ok(match name {
            "uniform" => Init::Uniform { a: num(0)?, b: num(1)? },
            "normal" => Init::Normal { mean: num(0)?, std: num(1)? },
            "trunc_normal" => Init::TruncNormal { mean: num(0)?, std: num(1)?, a: num(2)?, b: num(3)? },
            "constant" => Init::Constant { val: num(0)? },
            "ones" => Init::Ones,
            "zeros" => Init::Zeros,
            "eye" => Init::Eye,
            "dirac" => {
                let g = num(0)?;
                if g.fract() != 0.0 || g < 1.0 {
                    return Err(bad(format!("`groups` must be a positive integer, got {g}")));
                }
                Init::Dirac { groups: g as usize }
            }
            "xavier_uniform" => Init::XavierUniform { gain: num(0)? },
            "xavier_normal" => Init::XavierNormal { gain: num(0)? },
            "kaiming_uniform" | "kaiming_normal" => {
                let a = match arg(0)? {
                    Literal::Num(x) => *x,
                    Literal::None => 0.01,
                    Literal::Str(s) => return Err(Error::value(format!("negative_slope {s} not a valid number"))),
                    other => return Err(Error::value(format!("negative_slope {other} not a valid number"))),
                };
                let mode: FanMode = text(1)?.parse()?;
                let nonlinearity: Nonlinearity = text(2)?.parse()?;
                super::calculate_gain(nonlinearity, Some(a))?;
                if name == "kaiming_uniform" {
                    Init::KaimingUniform { a, mode, nonlinearity }
                } else {
                    Init::KaimingNormal { a, mode, nonlinearity }
                }
            }
            "orthogonal" => Init::Orthogonal { gain: num(0)? },
            "sparse" => Init::Sparse { sparsity: num(0)?, std: num(1)? },
            "lecun_uniform" => Init::LecunUniform,
            "lecun_normal" => Init::LecunNormal,
            _ => unreachable!("signature() knows every name matched here"),
        })
    }
}

impl serde::Serialize for Init {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Init {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Init {
        s.parse().unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn parses_pytorch_calls() {
        assert_eq!(
            p("kaiming_normal_(mode='fan_out', nonlinearity='relu')"),
            Init::KaimingNormal { a: 0.0, mode: FanMode::FanOut, nonlinearity: Nonlinearity::Relu }
        );
        assert_eq!(p("torch.nn.init.uniform(-0.5, 0.5)"), Init::Uniform { a: -0.5, b: 0.5 });
        assert_eq!(p("normal_(std=0.02)"), Init::Normal { mean: 0.0, std: 0.02 });
        assert_eq!(p("trunc_normal_(0, 1e-2, b=3)"), Init::TruncNormal { mean: 0.0, std: 0.01, a: -2.0, b: 3.0 });
        assert_eq!(p("zeros_"), Init::Zeros);
        assert_eq!(p("sparse_(0.25)"), Init::Sparse { sparsity: 0.25, std: 0.01 });
        assert_eq!(
            p("kaiming_uniform_(a=math.sqrt(5))"),
            Init::KaimingUniform { a: 5f64.sqrt(), mode: FanMode::FanIn, nonlinearity: Nonlinearity::LeakyRelu }
        );
        assert_eq!(p("dirac_(groups=3)"), Init::Dirac { groups: 3 });
        assert_eq!(p("xavier_uniform_(gain=2.0, generator=None)"), Init::XavierUniform { gain: 2.0 });
    }

    #[test]
    fn display_round_trips() {
        for s in [
            "kaiming_uniform_(a=0.2, mode='fan_out', nonlinearity='leaky_relu')",
            "trunc_normal_(std=0.02)",
            "eye_()",
            "constant_(0.3)",
        ] {
            let i = p(s);
            assert_eq!(p(&i.to_string()), i);
        }
    }

    #[test]
    fn rejects_bad_calls() {
        let msg = |s: &str| s.parse::<Init>().unwrap_err().to_string();
        assert!(msg("glorot_(1)").contains("unknown init function `glorot_`"));
        assert_eq!(msg("kaiming_normal_(nonlinearity='gelu')"), "Unsupported nonlinearity gelu");
        assert_eq!(msg("kaiming_normal_(a=True)"), "negative_slope True not a valid number");
        assert!(msg("kaiming_normal_(mode='fan_avg')").contains("Mode fan_avg not supported"));
        assert!(msg("uniform_(1, 2, 3)").contains("takes 2 arguments"));
        assert!(msg("normal_(sd=1)").contains("unexpected keyword argument `sd`"));
        assert!(msg("constant_()").contains("missing required argument `val`"));
        assert!(msg("normal_(0.0, 'x')").contains("must be a number"));
        assert!(msg("normal_(0.0").contains("expected"));
        assert!(msg("dirac_(groups=1.5)").contains("positive integer"));
    }
}
