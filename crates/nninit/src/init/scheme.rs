//! `Init`: an initializer as a value, written and read in PyTorch call syntax.
//!
//! The schemes are declared once, in the table below: each row is the enum variant, PyTorch's
//! function name, whether it needs the whole tensor, and its parameters in PyTorch's order with
//! their types and defaults. The table generates the enum, [`Init::name`], `Display`, `FromStr`
//! (with its argument checks) and [`Init::is_elementwise`]; what a scheme draws is written once,
//! in [`Init::draw`].

use std::fmt;
use std::str::FromStr;

use super::args::{self, Arg, Stack};
use super::fan::{FanMode, Nonlinearity};
use super::variance::{JaxDistribution, VarianceMode};
use crate::error::{Error, Result};
use crate::pycall::{Call, Literal};
use crate::rng::Philox;
use crate::sample::Engine;
use crate::tensor::{SliceMut, TensorMut};

/// One row of the signature table: a function's name and parameters.
struct Signature {
    name: &'static str,
    params: &'static [&'static str],
}

macro_rules! required {
    () => {
        None
    };
    ($default:expr) => {
        Some($default)
    };
}

macro_rules! parser {
    ($ty:ty) => {
        <$ty as Arg>::from_literal
    };
    ($ty:ty, $parse:path) => {
        $parse
    };
}

macro_rules! is_whole {
    () => {
        false
    };
    (whole) => {
        true
    };
}

macro_rules! schemes {
    (
        $(#[$meta:meta])*
        pub enum Init {
            $(
                $(#[$vmeta:meta])*
                $variant:ident = $name:literal $($whole:ident)?
                    $({ $($field:ident : $ty:ty $([$parse:path])? $(= $default:expr)?),* $(,)? })?
            ),* $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Clone, Debug, PartialEq)]
        #[allow(missing_docs)] // fields are PyTorch's arguments, named and documented on each variant
        pub enum Init {
            $( $(#[$vmeta])* $variant $({ $($field: $ty),* })? ),*
        }

        /// The signature table, in declaration order.
        const SIGNATURES: &[Signature] = &[
            $( Signature { name: $name, params: &[$($(stringify!($field)),*)?] } ),*
        ];

        impl Init {
            /// PyTorch's function name (`kaiming_normal_`, ...).
            ///
            /// ```
            /// assert_eq!(nninit::init::Init::Ones.name(), "ones_");
            /// ```
            pub fn name(&self) -> &'static str {
                match self {
                    $( Init::$variant { .. } => $name ),*
                }
            }

            /// Whether the result depends only on each element's index (so a slice of the tensor
            /// can be filled alone): every scheme except those marked `whole` in the table
            /// (`orthogonal_`, `sparse_`, `eye_`, `dirac_`, `identity_`, `delta_orthogonal_`,
            /// `zero_init_`).
            ///
            /// ```
            /// use nninit::init::Init;
            /// assert!(Init::Normal { mean: 0.0, std: 1.0 }.is_elementwise());
            /// assert!(!Init::Orthogonal { gain: 1.0 }.is_elementwise());
            /// ```
            pub fn is_elementwise(&self) -> bool {
                match self {
                    $( Init::$variant { .. } => !is_whole!($($whole)?) ),*
                }
            }

            /// Builds the scheme named `name` (a table name) from its bound arguments.
            fn from_args(name: &str, a: &mut args::Bound<'_>) -> Result<Init> {
                $(
                    if name == $name {
                        return Ok(Init::$variant $({ $($field: a.next(parser!($ty $(, $parse)?), required!($($default)?))?),* })?);
                    }
                )*
                Err(Error::value(format!("no init function `{name}`")))
            }
        }

        impl fmt::Display for Init {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                let mut list = args::ArgList::new(f, self.name())?;
                match self {
                    $( Init::$variant $({ $($field),* })? => { $($( list.arg(stringify!($field), $field)?; )*)? } ),*
                }
                list.finish()
            }
        }
    };
}

schemes! {
    /// An initializer: which function, with its arguments.
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
    /// Parsing accepts the names with or without the trailing underscore, positional and
    /// keyword arguments in the function's order and names, Python literals (numbers, quoted
    /// strings, tuples, `True`/`False`/`None`) and `sqrt(x)` / `math.sqrt(x)`. Missing arguments
    /// take the defaults. In serde formats (TOML plans, JSON) an `Init` is that string.
    ///
    /// Each variant is documented on the function of the same name in [`crate::init`] (formula,
    /// source, arguments, shapes, errors).
    pub enum Init {
        /// [`uniform_`](super::uniform_)`(a=0.0, b=1.0)`.
        Uniform = "uniform_" { a: f64 = 0.0, b: f64 = 1.0 },
        /// [`normal_`](super::normal_)`(mean=0.0, std=1.0)`.
        Normal = "normal_" { mean: f64 = 0.0, std: f64 = 1.0 },
        /// [`trunc_normal_`](super::trunc_normal_)`(mean=0.0, std=1.0, a=-2.0, b=2.0)`.
        TruncNormal = "trunc_normal_" { mean: f64 = 0.0, std: f64 = 1.0, a: f64 = -2.0, b: f64 = 2.0 },
        /// [`constant_`](super::constant_)`(val)`.
        Constant = "constant_" { val: f64 },
        /// [`ones_`](super::ones_)`()`.
        Ones = "ones_",
        /// [`zeros_`](super::zeros_)`()`.
        Zeros = "zeros_",
        /// [`eye_`](super::eye_)`()`.
        Eye = "eye_" whole,
        /// [`dirac_`](super::dirac_)`(groups=1)`.
        Dirac = "dirac_" whole { groups: usize [args::positive] = 1 },
        /// [`xavier_uniform_`](super::xavier_uniform_)`(gain=1.0)`.
        XavierUniform = "xavier_uniform_" { gain: f64 = 1.0 },
        /// [`xavier_normal_`](super::xavier_normal_)`(gain=1.0)`.
        XavierNormal = "xavier_normal_" { gain: f64 = 1.0 },
        /// [`kaiming_uniform_`](super::kaiming_uniform_)`(a=0, mode='fan_in', nonlinearity='leaky_relu')`.
        KaimingUniform = "kaiming_uniform_" {
            a: f64 [args::negative_slope] = 0.0,
            mode: FanMode = FanMode::FanIn,
            nonlinearity: Nonlinearity = Nonlinearity::LeakyRelu,
        },
        /// [`kaiming_normal_`](super::kaiming_normal_)`(a=0, mode='fan_in', nonlinearity='leaky_relu')`.
        KaimingNormal = "kaiming_normal_" {
            a: f64 [args::negative_slope] = 0.0,
            mode: FanMode = FanMode::FanIn,
            nonlinearity: Nonlinearity = Nonlinearity::LeakyRelu,
        },
        /// [`orthogonal_`](super::orthogonal_)`(gain=1)`.
        Orthogonal = "orthogonal_" whole { gain: f64 = 1.0 },
        /// [`sparse_`](super::sparse_)`(sparsity, std=0.01)`.
        Sparse = "sparse_" whole { sparsity: f64, std: f64 = 0.01 },
        /// [`lecun_uniform_`](super::lecun_uniform_)`()`: PyTorch layout, `sqrt(3 / fan_in)`.
        LecunUniform = "lecun_uniform_",
        /// [`lecun_normal_`](super::lecun_normal_)`()`: PyTorch layout, untruncated.
        LecunNormal = "lecun_normal_",
        /// [`variance_scaling_`](super::variance_scaling_)`(scale, mode, distribution,
        /// in_axis=-2, out_axis=-1, batch_axis=())`, JAX's.
        VarianceScaling = "variance_scaling_" {
            scale: f64,
            mode: VarianceMode,
            distribution: JaxDistribution,
            in_axis: Vec<isize> = vec![-2],
            out_axis: Vec<isize> = vec![-1],
            batch_axis: Vec<isize> = vec![],
        },
        /// [`glorot_uniform_`](super::glorot_uniform_)`(in_axis=-2, out_axis=-1, batch_axis=())`, JAX's.
        GlorotUniform = "glorot_uniform_" {
            in_axis: Vec<isize> = vec![-2], out_axis: Vec<isize> = vec![-1], batch_axis: Vec<isize> = vec![],
        },
        /// [`glorot_normal_`](super::glorot_normal_)`(in_axis=-2, out_axis=-1, batch_axis=())`, JAX's.
        GlorotNormal = "glorot_normal_" {
            in_axis: Vec<isize> = vec![-2], out_axis: Vec<isize> = vec![-1], batch_axis: Vec<isize> = vec![],
        },
        /// [`he_uniform_`](super::he_uniform_)`(in_axis=-2, out_axis=-1, batch_axis=())`, JAX's.
        HeUniform = "he_uniform_" {
            in_axis: Vec<isize> = vec![-2], out_axis: Vec<isize> = vec![-1], batch_axis: Vec<isize> = vec![],
        },
        /// [`he_normal_`](super::he_normal_)`(in_axis=-2, out_axis=-1, batch_axis=())`, JAX's.
        HeNormal = "he_normal_" {
            in_axis: Vec<isize> = vec![-2], out_axis: Vec<isize> = vec![-1], batch_axis: Vec<isize> = vec![],
        },
        /// [`jax_lecun_uniform_`](super::jax_lecun_uniform_)`(in_axis=-2, out_axis=-1, batch_axis=())`.
        JaxLecunUniform = "jax_lecun_uniform_" {
            in_axis: Vec<isize> = vec![-2], out_axis: Vec<isize> = vec![-1], batch_axis: Vec<isize> = vec![],
        },
        /// [`jax_lecun_normal_`](super::jax_lecun_normal_)`(in_axis=-2, out_axis=-1, batch_axis=())`.
        JaxLecunNormal = "jax_lecun_normal_" {
            in_axis: Vec<isize> = vec![-2], out_axis: Vec<isize> = vec![-1], batch_axis: Vec<isize> = vec![],
        },
        /// [`delta_orthogonal_`](super::delta_orthogonal_)`(gain=1.0)`.
        DeltaOrthogonal = "delta_orthogonal_" whole { gain: f64 = 1.0 },
        /// [`identity_`](super::identity_)`(gain=1.0)`.
        Identity = "identity_" whole { gain: f64 = 1.0 },
        /// [`zero_init_`](super::zero_init_)`()`: ZerO.
        ZerO = "zero_init_" whole,
        /// [`scaled_normal_`](super::scaled_normal_)`(std=0.02, n_layers=12)`.
        ScaledNormal = "scaled_normal_" { std: f64 = 0.02, n_layers: usize = 12 },
        /// [`small_init_`](super::small_init_)`(dim)`.
        SmallInit = "small_init_" { dim: usize },
        /// [`wang_init_`](super::wang_init_)`(n_layers, dim)`.
        WangInit = "wang_init_" { n_layers: usize, dim: usize },
        /// [`olmo_mitchell_`](super::olmo_mitchell_)`(d, layer_id=None, std_factor=1.0)`.
        OlmoMitchell = "olmo_mitchell_" { d: usize, layer_id: Option<usize> = None, std_factor: f64 = 1.0 },
        /// [`deepnorm_`](super::deepnorm_)`(encoder_layers=0, decoder_layers=0, stack='encoder')`.
        DeepNorm = "deepnorm_" { encoder_layers: usize = 0, decoder_layers: usize = 0, stack: Stack = Stack::Encoder },
        /// [`fixup_`](super::fixup_)`(n_branches, m=2)`.
        Fixup = "fixup_" { n_branches: usize, m: usize = 2 },
        /// [`t_fixup_`](super::t_fixup_)`(n_layers, stack='encoder')`.
        TFixup = "t_fixup_" { n_layers: usize, stack: Stack = Stack::Encoder },
        /// [`mup_normal_`](super::mup_normal_)`(base_fan_in, std=1.0, readout=False)`.
        MupNormal = "mup_normal_" { base_fan_in: usize, std: f64 = 1.0, readout: bool = false },
    }
}

impl Init {
    /// Applies the initializer to `tensor`, drawing from `g`: what [`Init::draw`] resolves it to,
    /// checked as described there.
    ///
    /// ```
    /// use nninit::{init::Init, DType, Generator, Tensor};
    /// let mut w = Tensor::zeros(&[3, 4], DType::F32);
    /// Init::XavierUniform { gain: 1.0 }.apply(w.view_mut()?, &mut Generator::manual_seed(0))?;
    /// let bound = (6.0f64 / 7.0).sqrt();
    /// assert!(w.to_f64_vec().iter().all(|x| x.abs() <= bound));
    /// # Ok::<(), nninit::Error>(())
    /// ```
    ///
    /// # Errors
    /// Those of the function of the same name.
    pub fn apply(&self, mut tensor: TensorMut<'_>, g: &mut impl Engine) -> Result<()> {
        let action = self.action(tensor.shape, tensor.dtype())?;
        action.run(tensor.reborrow(), g)
    }

    /// Fills `out` with elements `[start, start + out.len())` (row-major) of the tensor of `shape`
    /// that this init produces on the counter-based stream `Philox::new(seed, path)`: a shard or
    /// chunk of a tensor, computed alone and bit-identical to the same range of the whole tensor.
    ///
    /// ```
    /// use nninit::{init::Init, DType, Tensor};
    /// let init = Init::Normal { mean: 0.0, std: 1.0 };
    /// let mut part = Tensor::zeros(&[4], DType::F32);
    /// init.apply_range(&[2, 8], 4, part.view_mut()?.into_data(), 7, "w")?;
    /// # Ok::<(), nninit::Error>(())
    /// ```
    ///
    /// # Errors
    /// Non-elementwise schemes (see [`Init::is_elementwise`]); a range past the end; the init's
    /// own errors.
    pub fn apply_range(&self, shape: &[usize], start: usize, out: SliceMut<'_>, seed: u64, path: &str) -> Result<()> {
        if !self.is_elementwise() {
            return Err(Error::value(format!(
                "{} is not elementwise: it cannot fill a part of a tensor alone",
                self.name()
            )));
        }
        let len = crate::dispatch_mut!(&out, |s| s.len());
        let numel: usize = shape.iter().product();
        if start.checked_add(len).is_none_or(|end| end > numel) {
            return Err(Error::value(format!(
                "range {start}..{} is past the end of shape {shape:?}",
                start.saturating_add(len)
            )));
        }
        // Elementwise schemes read the shape only for fans and the zero-element rule.
        let view = TensorMut { shape, data: out };
        self.apply(view, &mut Philox::new(seed, path).with_offset(start as u64))
    }

    /// The standard deviation the scheme aims at for a tensor of `shape` (the population std of
    /// the distribution [`Init::draw`] resolves it to, including truncation; for `orthogonal_`
    /// `gain / sqrt(max(rows, cols))`); `None` where it is not defined (structured schemes such
    /// as `eye_`, an empty tensor, or an argument error).
    ///
    /// ```
    /// use nninit::init::Init;
    /// let std = Init::XavierNormal { gain: 1.0 }.expected_std(&[3, 5]).unwrap();
    /// assert_eq!(std, (2.0f64 / 8.0).sqrt());
    /// assert_eq!(Init::Eye.expected_std(&[3, 3]), None);
    /// ```
    pub fn expected_std(&self, shape: &[usize]) -> Option<f64> {
        if shape.iter().product::<usize>() == 0 {
            return None;
        }
        self.action(shape, crate::tensor::DType::F64).ok()?.expected_std(shape)
    }
}

fn signature(name: &str) -> Option<&'static Signature> {
    let name = name.trim_end_matches('_');
    SIGNATURES.iter().find(|s| s.name.trim_end_matches('_') == name)
}

impl FromStr for Init {
    type Err = Error;

    fn from_str(src: &str) -> Result<Self> {
        let call = Call::parse("init", src)?;
        let sig = signature(&call.name).ok_or_else(|| Error::Unknown {
            what: "init function",
            name: call.name.clone(),
            known: SIGNATURES.iter().map(|s| s.name).collect::<Vec<_>>().join(", "),
        })?;
        let bad = |reason: String| Error::parse("init", src, reason);
        let params = sig.params;
        if call.positional.len() > params.len() {
            return Err(bad(format!(
                "{} takes {} arguments, {} given",
                call.name,
                params.len(),
                call.positional.len()
            )));
        }
        let mut values: Vec<Option<Literal>> = vec![None; params.len()];
        let given = call.positional.len();
        for (i, v) in call.positional.into_iter().enumerate() {
            values[i] = Some(v);
        }
        let mut seen = std::collections::HashSet::new();
        for (k, v) in call.keyword {
            if k == "generator" && v == Literal::None {
                continue;
            }
            let i =
                params.iter().position(|p| *p == k).ok_or_else(|| bad(format!("unexpected keyword argument `{k}`")))?;
            if i < given || !seen.insert(i) {
                return Err(bad(format!("multiple values for argument `{k}`")));
            }
            values[i] = Some(v);
        }
        Init::from_args(sig.name, &mut args::Bound::new(params, values, &bad))
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
        assert_eq!(
            p("kaiming_uniform_(a=None)"),
            Init::KaimingUniform { a: 0.01, mode: FanMode::FanIn, nonlinearity: Nonlinearity::LeakyRelu }
        );
        assert_eq!(p("dirac_(groups=3)"), Init::Dirac { groups: 3 });
        assert_eq!(p("xavier_uniform_(gain=2.0, generator=None)"), Init::XavierUniform { gain: 2.0 });
    }

    /// Python's ways of writing infinities and NaN: `float('inf')`, `float('-Infinity')`,
    /// `math.inf`, `math.nan`, `float(2)`, `float(' 1e3 ')`; bad strings as Python words it.
    #[test]
    fn parses_python_floats() {
        assert_eq!(p("constant_(float('inf'))"), Init::Constant { val: f64::INFINITY });
        assert_eq!(p("constant_(float('-Infinity'))"), Init::Constant { val: f64::NEG_INFINITY });
        assert_eq!(p("constant_(-float(\"+inf\"))"), Init::Constant { val: f64::NEG_INFINITY });
        assert_eq!(p("constant_(-math.inf)"), Init::Constant { val: f64::NEG_INFINITY });
        assert_eq!(p("constant_(float(2))"), Init::Constant { val: 2.0 });
        assert_eq!(p("constant_(float(' 1e3 '))"), Init::Constant { val: 1000.0 });
        let Init::Constant { val } = p("constant_(float('nan'))") else { panic!() };
        assert!(val.is_nan());
        let Init::Constant { val } = p("constant_(math.nan)") else { panic!() };
        assert!(val.is_nan());
        for (bad, message) in [
            ("constant_(float('one'))", "could not convert string to float: 'one'"),
            ("constant_(float('infinite'))", "could not convert string to float: 'infinite'"),
            ("constant_(float(None))", "float() argument must be a string or a real number"),
            ("constant_(float('1')", "expected"),
        ] {
            let e = bad.parse::<Init>().unwrap_err().to_string();
            assert!(e.contains(message), "{bad}: {e}");
        }
        let e = "normal_(std=float('nan'))".parse::<Init>().and_then(|i| i.draw(&[3], crate::DType::F32).map(|_| i));
        assert!(e.is_err(), "{e:?}");
    }

    #[test]
    fn parses_the_new_schemes() {
        assert_eq!(
            p("variance_scaling_(2.0, 'fan_avg', 'uniform', in_axis=(1, 2), batch_axis=0)"),
            Init::VarianceScaling {
                scale: 2.0,
                mode: VarianceMode::FanAvg,
                distribution: JaxDistribution::Uniform,
                in_axis: vec![1, 2],
                out_axis: vec![-1],
                batch_axis: vec![0],
            }
        );
        assert_eq!(p("he_normal_(1, 0)"), Init::HeNormal { in_axis: vec![1], out_axis: vec![0], batch_axis: vec![] });
        assert_eq!(
            p("olmo_mitchell_(512, layer_id=3)"),
            Init::OlmoMitchell { d: 512, layer_id: Some(3), std_factor: 1.0 }
        );
        assert_eq!(p("olmo_mitchell_(512, None)"), Init::OlmoMitchell { d: 512, layer_id: None, std_factor: 1.0 });
        assert_eq!(
            p("deepnorm_(6, 6, stack='decoder')"),
            Init::DeepNorm { encoder_layers: 6, decoder_layers: 6, stack: Stack::Decoder }
        );
        assert_eq!(
            p("mup_normal_(256, 0.02, readout=True)"),
            Init::MupNormal { base_fan_in: 256, std: 0.02, readout: true }
        );
        assert_eq!(p("scaled_normal_()"), Init::ScaledNormal { std: 0.02, n_layers: 12 });
        assert_eq!(p("zero_init_()"), Init::ZerO);
    }

    #[test]
    fn display_round_trips() {
        for s in [
            "kaiming_uniform_(a=0.2, mode='fan_out', nonlinearity='leaky_relu')",
            "trunc_normal_(std=0.02)",
            "eye_()",
            "constant_(0.3)",
            "variance_scaling_(2.0, 'fan_avg', 'truncated_normal', in_axis=(1, 2), out_axis=0, batch_axis=())",
            "glorot_normal_(in_axis=1, out_axis=0)",
            "olmo_mitchell_(64, 2)",
            "olmo_mitchell_(64)",
            "deepnorm_(12, 0)",
            "fixup_(16, m=3)",
            "t_fixup_(6, 'decoder')",
            "mup_normal_(128, readout=True)",
            "identity_(2.0)",
            "delta_orthogonal_()",
            "wang_init_(24, 1024)",
            "small_init_(1024)",
        ] {
            let i = p(s);
            assert_eq!(p(&i.to_string()), i, "{s} printed as {i}");
        }
        assert_eq!(
            p("variance_scaling_(1, 'fan_in', 'normal')").to_string(),
            "variance_scaling_(scale=1.0, mode='fan_in', distribution='normal', in_axis=-2, out_axis=-1, batch_axis=())"
        );
        assert_eq!(p("olmo_mitchell_(8)").to_string(), "olmo_mitchell_(d=8, layer_id=None, std_factor=1.0)");
        assert_eq!(p("mup_normal_(8)").to_string(), "mup_normal_(base_fan_in=8, std=1.0, readout=False)");
        assert_eq!(p("ones_()").to_string(), "ones_()");
        assert_eq!(p("dirac_()").to_string(), "dirac_(groups=1)");
    }

    #[test]
    fn every_table_row_parses_and_prints() {
        // Every signature's name parses with its required arguments and prints back to itself.
        for sig in SIGNATURES {
            let required = match sig.name {
                "constant_" => "(0.5)",
                "sparse_" => "(0.5)",
                "variance_scaling_" => "(1.0, 'fan_in', 'normal')",
                "small_init_" | "olmo_mitchell_" | "mup_normal_" | "t_fixup_" => "(16)",
                "wang_init_" | "fixup_" => "(4, 16)",
                _ => "()",
            };
            let init = p(&format!("{}{required}", sig.name));
            assert_eq!(init.name(), sig.name);
            assert_eq!(p(&init.to_string()), init);
        }
    }

    #[test]
    fn rejects_bad_calls() {
        let msg = |s: &str| s.parse::<Init>().unwrap_err().to_string();
        assert!(msg("glorot_(1)").contains("unknown init function `glorot_`"));
        assert!(msg("glorot_(1)").contains("variance_scaling_, glorot_uniform_"));
        assert_eq!(msg("kaiming_normal_(nonlinearity='gelu')"), "Unsupported nonlinearity gelu");
        assert_eq!(msg("kaiming_normal_(a=True)"), "negative_slope True not a valid number");
        assert!(msg("kaiming_normal_(mode='fan_avg')").contains("Mode fan_avg not supported"));
        assert!(msg("uniform_(1, 2, 3)").contains("takes 2 arguments"));
        assert!(msg("normal_(sd=1)").contains("unexpected keyword argument `sd`"));
        assert!(msg("constant_()").contains("missing required argument `val`"));
        assert!(msg("normal_(0.0, 'x')").contains("must be a number"));
        assert!(msg("normal_(0.0").contains("expected"));
        assert!(msg("dirac_(groups=1.5)").contains("positive integer"));
        assert_eq!(
            msg("variance_scaling_(1.0, 'fan_sum', 'normal')"),
            "invalid mode for variance scaling initializer: fan_sum"
        );
        assert_eq!(
            msg("variance_scaling_(1.0, 'fan_in', 'cauchy')"),
            "invalid distribution for variance scaling initializer: cauchy"
        );
        assert!(msg("small_init_(dim=-3)").contains("`dim` must be a non-negative integer, got -3"));
        assert!(msg("small_init_(dim=2.5)").contains("`dim` must be a non-negative integer, got 2.5"));
        assert!(msg("glorot_uniform_(in_axis=0.5)").contains("`in_axis` must be an integer or a tuple of integers"));
        assert!(msg("deepnorm_(stack='middle')").contains("`stack` must be 'encoder' or 'decoder', got 'middle'"));
        assert!(msg("mup_normal_(8, readout=1)").contains("`readout` must be True or False"));
    }
}
