//! Argument types of the init functions: how each is read from a Python literal and printed back.

use std::fmt;

use super::fan::{FanMode, Nonlinearity};
use crate::error::{Error, Result};
use crate::pycall::Literal;

/// Reads a parameter's value from a literal; `bad` wraps a reason into the caller's parse error.
pub(crate) type Parse<T> = fn(&'static str, &Literal, &dyn Fn(String) -> Error) -> Result<T>;

/// A parameter type: read from a Python literal, printed as one.
pub(crate) trait Arg: Sized {
    /// The value of parameter `param` written as `v`.
    fn from_literal(param: &'static str, v: &Literal, bad: &dyn Fn(String) -> Error) -> Result<Self>;
    /// The value as a Python literal.
    fn to_python(&self) -> String;
}

impl Arg for f64 {
    fn from_literal(param: &'static str, v: &Literal, bad: &dyn Fn(String) -> Error) -> Result<Self> {
        match v {
            Literal::Num(x) => Ok(*x),
            other => Err(bad(format!("`{param}` must be a number, got {other}"))),
        }
    }
    fn to_python(&self) -> String {
        format!("{self:?}")
    }
}

impl Arg for usize {
    fn from_literal(param: &'static str, v: &Literal, bad: &dyn Fn(String) -> Error) -> Result<Self> {
        match v {
            Literal::Num(x) if x.fract() == 0.0 && *x >= 0.0 && *x <= (1u64 << 53) as f64 => Ok(*x as usize),
            other => Err(bad(format!("`{param}` must be a non-negative integer, got {other}"))),
        }
    }
    fn to_python(&self) -> String {
        self.to_string()
    }
}

impl Arg for Option<usize> {
    fn from_literal(param: &'static str, v: &Literal, bad: &dyn Fn(String) -> Error) -> Result<Self> {
        match v {
            Literal::None => Ok(None),
            other => usize::from_literal(param, other, bad).map(Some),
        }
    }
    fn to_python(&self) -> String {
        self.map_or_else(|| "None".into(), |x| x.to_string())
    }
}

impl Arg for bool {
    fn from_literal(param: &'static str, v: &Literal, bad: &dyn Fn(String) -> Error) -> Result<Self> {
        match v {
            Literal::Bool(b) => Ok(*b),
            other => Err(bad(format!("`{param}` must be True or False, got {other}"))),
        }
    }
    fn to_python(&self) -> String {
        (if *self { "True" } else { "False" }).into()
    }
}

/// An axis or a tuple of axes (JAX's `int | Sequence[int]`); negative axes count from the end.
impl Arg for Vec<isize> {
    fn from_literal(param: &'static str, v: &Literal, bad: &dyn Fn(String) -> Error) -> Result<Self> {
        let one = |x: &Literal| match x {
            Literal::Num(n) if n.fract() == 0.0 && n.abs() < 1e15 => Some(*n as isize),
            _ => None,
        };
        let axes = match v {
            Literal::List(items) => items.iter().map(one).collect::<Option<Vec<_>>>(),
            x => one(x).map(|a| vec![a]),
        };
        axes.ok_or_else(|| bad(format!("`{param}` must be an integer or a tuple of integers, got {v}")))
    }
    fn to_python(&self) -> String {
        match self.as_slice() {
            [a] => a.to_string(),
            axes => format!("({})", axes.iter().map(|a| a.to_string()).collect::<Vec<_>>().join(", ")),
        }
    }
}

/// A string-valued parameter whose `FromStr` gives the error message.
fn from_str_literal<T: std::str::FromStr<Err = Error>>(
    param: &'static str,
    v: &Literal,
    bad: &dyn Fn(String) -> Error,
) -> Result<T> {
    match v {
        Literal::Str(s) => s.parse(),
        other => Err(bad(format!("`{param}` must be a string, got {other}"))),
    }
}

macro_rules! string_args {
    ($($ty:ty),*) => {$(
        impl Arg for $ty {
            fn from_literal(param: &'static str, v: &Literal, bad: &dyn Fn(String) -> Error) -> Result<Self> {
                from_str_literal(param, v, bad)
            }
            fn to_python(&self) -> String {
                format!("'{self}'")
            }
        }
    )*};
}
string_args!(FanMode, Nonlinearity, Stack, super::variance::VarianceMode, super::variance::JaxDistribution);

/// `dirac_`'s `groups`: a positive integer.
pub(crate) fn positive(param: &'static str, v: &Literal, bad: &dyn Fn(String) -> Error) -> Result<usize> {
    match v {
        Literal::Num(x) if x.fract() == 0.0 && *x >= 1.0 => usize::from_literal(param, v, bad),
        other => Err(bad(format!("`{param}` must be a positive integer, got {other}"))),
    }
}

/// `kaiming_*`'s `a`: a finite number, or `None` for `calculate_gain`'s default slope 0.01.
pub(crate) fn negative_slope(_: &'static str, v: &Literal, _: &dyn Fn(String) -> Error) -> Result<f64> {
    match v {
        Literal::Num(x) if x.is_finite() => Ok(*x),
        Literal::None => Ok(0.01),
        Literal::Str(s) => Err(Error::value(format!("negative_slope {s} not a valid number"))),
        other => Err(Error::value(format!("negative_slope {other} not a valid number"))),
    }
}

/// Which stack of an encoder–decoder transformer a layer belongs to (DeepNorm, T-Fixup).
///
/// ```
/// use nninit::init::Stack;
/// assert_eq!("decoder".parse::<Stack>()?, Stack::Decoder);
/// assert_eq!(Stack::Encoder.to_string(), "encoder");
/// # Ok::<(), nninit::Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Stack {
    /// The encoder (or the only stack of an encoder-only model).
    Encoder,
    /// The decoder (or the only stack of a decoder-only model).
    Decoder,
}

impl std::str::FromStr for Stack {
    type Err = Error;
    /// `encoder` or `decoder`; anything else names the accepted values.
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "encoder" => Ok(Stack::Encoder),
            "decoder" => Ok(Stack::Decoder),
            other => Err(Error::value(format!("`stack` must be 'encoder' or 'decoder', got '{other}'"))),
        }
    }
}

impl fmt::Display for Stack {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Stack::Encoder => "encoder",
            Stack::Decoder => "decoder",
        })
    }
}

/// A call's arguments bound to a signature's parameters, read in order.
pub(crate) struct Bound<'a> {
    params: &'static [&'static str],
    values: Vec<Option<Literal>>,
    next: usize,
    bad: &'a dyn Fn(String) -> Error,
}

impl<'a> Bound<'a> {
    pub(crate) fn new(
        params: &'static [&'static str],
        values: Vec<Option<Literal>>,
        bad: &'a dyn Fn(String) -> Error,
    ) -> Self {
        Bound { params, values, next: 0, bad }
    }

    /// The next parameter's value: given, else `default`, else a "missing required argument" error.
    pub(crate) fn next<T>(&mut self, parse: Parse<T>, default: Option<T>) -> Result<T> {
        let i = self.next;
        self.next += 1;
        let (param, value) = (self.params[i], self.values[i].take());
        match (value, default) {
            (Some(v), _) => parse(param, &v, self.bad),
            (None, Some(d)) => Ok(d),
            (None, None) => Err((self.bad)(format!("missing required argument `{param}`"))),
        }
    }
}

/// Writes `name(p=v, ...)`.
pub(crate) struct ArgList<'a, 'b> {
    f: &'a mut fmt::Formatter<'b>,
    count: usize,
}

impl<'a, 'b> ArgList<'a, 'b> {
    pub(crate) fn new(f: &'a mut fmt::Formatter<'b>, name: &str) -> std::result::Result<Self, fmt::Error> {
        write!(f, "{name}(")?;
        Ok(ArgList { f, count: 0 })
    }

    pub(crate) fn arg(&mut self, param: &str, value: &impl Arg) -> fmt::Result {
        let sep = if self.count == 0 { "" } else { ", " };
        self.count += 1;
        write!(self.f, "{sep}{param}={}", value.to_python())
    }

    pub(crate) fn finish(self) -> fmt::Result {
        self.f.write_str(")")
    }
}
