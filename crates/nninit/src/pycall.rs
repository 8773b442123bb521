//! A small parser for Python call syntax, `name(arg, key=value, ...)`: how users write
//! `torch.nn.init` calls and `torch.nn` layer constructors. Arguments are literals, lists and
//! tuples of them, and calls (`nn.Sequential(nn.Linear(4, 4), nn.ReLU())`), nested at most
//! [`MAX_DEPTH`] deep.

use std::fmt;

use crate::error::{Error, Result};

/// A Python literal argument.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Literal {
    /// A number (ints are exact up to 2^53).
    Num(f64),
    /// A quoted string.
    Str(String),
    /// `True` / `False`.
    Bool(bool),
    /// `None`.
    None,
    /// A tuple or list: `(3, 5)`, `[4, 5]`.
    List(Vec<Literal>),
    /// A dotted name such as `torch.float64`.
    Name(String),
    /// A call given as an argument: `nn.Linear(4, 4)` in `nn.Sequential(nn.Linear(4, 4))`.
    Call(Box<Call>),
}

/// How deeply calls, lists and tuples may nest (`nn.Sequential(nn.Sequential(...))` counts one
/// per call): far beyond any hand-written model, small enough that the recursive parser and the
/// builders that walk the result stay within a thread's stack.
pub(crate) const MAX_DEPTH: usize = 64;

impl fmt::Display for Literal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Literal::Num(x) => write!(f, "{x}"),
            Literal::Str(s) => write!(f, "'{s}'"),
            Literal::Bool(b) => f.write_str(if *b { "True" } else { "False" }),
            Literal::None => f.write_str("None"),
            Literal::List(v) => {
                f.write_str("(")?;
                for (i, x) in v.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{x}")?;
                }
                f.write_str(")")
            }
            Literal::Name(n) => f.write_str(n),
            Literal::Call(c) => f.write_str(&c.text),
        }
    }
}

/// A parsed call: the last component of the (dotted) name, positional and keyword arguments
/// (in source order, which is Python's evaluation order), and the call's own source text.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Call {
    pub name: String,
    pub positional: Vec<Literal>,
    pub keyword: Vec<(String, Literal)>,
    /// The call as written (trimmed), for messages.
    pub text: String,
}

impl Call {
    /// Parses `src`; errors are [`Error::Parse`] with `what` naming the kind of input, among
    /// them nesting deeper than [`MAX_DEPTH`].
    pub fn parse(what: &'static str, src: &str) -> Result<Call> {
        let mut p = Parser { what, src, pos: 0, depth: 0 };
        let name = p.ident().ok_or_else(|| p.err("expected a function name"))?;
        let call = p.call(name, 0)?;
        if p.peek().is_some() {
            return Err(p.err(format!("unexpected `{}`", &p.src[p.pos..])));
        }
        Ok(call)
    }
}

struct Parser<'a> {
    what: &'static str,
    src: &'a str,
    pos: usize,
    /// Calls, lists and tuples open around the current position.
    depth: usize,
}

impl<'a> Parser<'a> {
    fn err(&self, reason: impl Into<String>) -> Error {
        Error::parse(self.what, self.src, reason)
    }

    fn skip_ws(&mut self) {
        while self.src[self.pos..].starts_with(char::is_whitespace) {
            self.pos += self.src[self.pos..].chars().next().map_or(1, char::len_utf8);
        }
    }

    fn peek(&mut self) -> Option<char> {
        self.skip_ws();
        self.src[self.pos..].chars().next()
    }

    fn eat(&mut self, c: char) -> bool {
        if self.peek() == Some(c) {
            self.pos += c.len_utf8();
            true
        } else {
            false
        }
    }

    fn ident(&mut self) -> Option<&'a str> {
        self.skip_ws();
        let rest = &self.src[self.pos..];
        let len = rest.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '.')).unwrap_or(rest.len());
        if len == 0 || rest.starts_with(|c: char| c.is_ascii_digit() || c == '.') {
            return None;
        }
        self.pos += len;
        Some(&rest[..len])
    }

    fn number(&mut self) -> Result<f64> {
        self.skip_ws();
        let rest = &self.src[self.pos..];
        let bytes = rest.as_bytes();
        let mut len = 0;
        while len < bytes.len() {
            let c = bytes[len] as char;
            let sign_ok = (c == '-' || c == '+') && (len == 0 || matches!(bytes[len - 1], b'e' | b'E'));
            if c.is_ascii_digit() || c == '.' || c == 'e' || c == 'E' || c == '_' || sign_ok {
                len += 1;
            } else {
                break;
            }
        }
        let text = &rest[..len];
        let value = text.replace('_', "").parse::<f64>().map_err(|_| self.err(format!("`{text}` is not a number")))?;
        self.pos += len;
        Ok(value)
    }

    /// Enters one more level of nesting, refusing to go deeper than [`MAX_DEPTH`].
    fn enter(&mut self) -> Result<()> {
        if self.depth >= MAX_DEPTH {
            return Err(self.err(format!("calls, lists and tuples nested more than {MAX_DEPTH} deep")));
        }
        self.depth += 1;
        Ok(())
    }

    fn sequence(&mut self, close: char) -> Result<Vec<Literal>> {
        self.enter()?;
        let mut items = Vec::new();
        while !self.eat(close) {
            items.push(self.literal()?);
            if !self.eat(',') && self.peek() != Some(close) {
                return Err(self.err(format!("expected `,` or `{close}`")));
            }
        }
        self.depth -= 1;
        Ok(items)
    }

    fn literal(&mut self) -> Result<Literal> {
        match self.peek() {
            Some(q @ ('\'' | '"')) => {
                self.pos += 1;
                let rest = &self.src[self.pos..];
                let end = rest.find(q).ok_or_else(|| self.err("unterminated string"))?;
                self.pos += end + 1;
                Ok(Literal::Str(rest[..end].to_string()))
            }
            Some('(') => {
                self.pos += 1;
                Ok(Literal::List(self.sequence(')')?))
            }
            Some('[') => {
                self.pos += 1;
                Ok(Literal::List(self.sequence(']')?))
            }
            Some(c) if c.is_ascii_digit() || c == '.' || c == '+' => Ok(Literal::Num(self.number()?)),
            Some('-') => {
                // A run of signs is read in a loop, so `------1` costs no stack.
                let mut negative = false;
                while self.eat('-') {
                    negative = !negative;
                }
                match self.literal()? {
                    Literal::Num(x) => Ok(Literal::Num(if negative { -x } else { x })),
                    other => Err(self.err(format!("cannot negate {other}"))),
                }
            }
            _ => {
                let start = self.pos;
                let word = self.ident().ok_or_else(|| self.err("expected a value"))?;
                match word {
                    "True" => Ok(Literal::Bool(true)),
                    "False" => Ok(Literal::Bool(false)),
                    "None" => Ok(Literal::None),
                    "inf" | "math.inf" => Ok(Literal::Num(f64::INFINITY)),
                    "math.nan" => Ok(Literal::Num(f64::NAN)),
                    "float" if self.peek() == Some('(') => self.float(),
                    "math.pi" => Ok(Literal::Num(std::f64::consts::PI)),
                    "sqrt" | "math.sqrt" => {
                        if !self.eat('(') {
                            return Err(self.err("expected `(` after sqrt"));
                        }
                        self.enter()?;
                        let Literal::Num(x) = self.literal()? else {
                            return Err(self.err("sqrt takes a number"));
                        };
                        if !self.eat(')') {
                            return Err(self.err("expected `)`"));
                        }
                        self.depth -= 1;
                        if x < 0.0 {
                            return Err(self.err("math domain error (sqrt of a negative number)"));
                        }
                        Ok(Literal::Num(x.sqrt()))
                    }
                    other if self.peek() == Some('(') => Ok(Literal::Call(Box::new(self.call(other, start)?))),
                    other if other.contains('.') => Ok(Literal::Name(other.to_string())),
                    other => Err(self.err(format!("unknown value `{other}` (strings are quoted: '{other}')"))),
                }
            }
        }
    }

    /// Python's `float(x)`, the parser standing before `(`: a number, or a string of one,
    /// `inf`, `infinity` or `nan` (any case, signed).
    fn float(&mut self) -> Result<Literal> {
        self.pos += 1;
        self.enter()?;
        let x = match self.literal()? {
            Literal::Num(x) => x,
            Literal::Str(text) => {
                let t = text.trim();
                let (negative, word) = match t.strip_prefix('-') {
                    Some(w) => (true, w),
                    None => (false, t.strip_prefix('+').unwrap_or(t)),
                };
                let x = match word.to_ascii_lowercase().as_str() {
                    "inf" | "infinity" => f64::INFINITY,
                    "nan" => f64::NAN,
                    _ => word
                        .parse::<f64>()
                        .ok()
                        .filter(|_| word.starts_with(|c: char| c.is_ascii_digit() || c == '.'))
                        .ok_or_else(|| self.err(format!("could not convert string to float: '{text}'")))?,
                };
                if negative {
                    -x
                } else {
                    x
                }
            }
            other => return Err(self.err(format!("float() argument must be a string or a real number, not {other}"))),
        };
        if !self.eat(')') {
            return Err(self.err("expected `)`"));
        }
        self.depth -= 1;
        Ok(Literal::Num(x))
    }

    /// The argument list of a call to `name`, which starts at byte `start` of the source; the
    /// parser stands after the name. Without parentheses the call has no arguments.
    fn call(&mut self, name: &str, start: usize) -> Result<Call> {
        let name = name.rsplit('.').next().unwrap_or(name).to_string();
        let mut call = Call { name, positional: Vec::new(), keyword: Vec::new(), text: String::new() };
        if self.eat('(') {
            self.enter()?;
            while !self.eat(')') {
                let save = self.pos;
                let key = self.ident().filter(|_| self.eat('='));
                if key.is_none() {
                    self.pos = save;
                }
                let value = self.literal()?;
                match key {
                    Some(k) => call.keyword.push((k.to_string(), value)),
                    None if !call.keyword.is_empty() => {
                        return Err(self.err("positional argument follows keyword argument"))
                    }
                    None => call.positional.push(value),
                }
                if !self.eat(',') && self.peek() != Some(')') {
                    return Err(self.err("expected `,` or `)`"));
                }
            }
            self.depth -= 1;
        }
        call.text = self.src[start..self.pos].trim().to_string();
        Ok(call)
    }
}

/// A call's arguments bound to parameter names.
pub(crate) struct Args {
    src: String,
    what: &'static str,
    values: Vec<(&'static str, Literal)>,
}

impl Call {
    /// Binds positional arguments to `params` in order and keyword arguments by name; errors
    /// quote the call's own text (the inner call, when calls are nested).
    /// Errors: too many positional arguments, unknown or repeated keywords.
    pub fn bind(&self, what: &'static str, params: &[&'static str]) -> Result<Args> {
        let err = |r: String| Error::parse(what, self.text.as_str(), r);
        if self.positional.len() > params.len() {
            return Err(err(format!("{} takes at most {} positional arguments", self.name, params.len())));
        }
        let mut values: Vec<(&'static str, Literal)> =
            params.iter().copied().zip(self.positional.iter().cloned()).collect();
        for (k, v) in &self.keyword {
            let p =
                params.iter().find(|p| **p == k).ok_or_else(|| err(format!("unexpected keyword argument `{k}`")))?;
            if values.iter().any(|(n, _)| n == p) {
                return Err(err(format!("multiple values for argument `{k}`")));
            }
            values.push((p, v.clone()));
        }
        Ok(Args { src: self.text.clone(), what, values })
    }
}

/// The largest integer argument: 2^53, beyond which numbers are not exact (and no layer size is
/// that large).
const MAX_INT: f64 = 9_007_199_254_740_992.0;

impl Args {
    fn err(&self, reason: String) -> Error {
        Error::parse(self.what, &self.src, reason)
    }

    /// The given arguments, in source order (Python's evaluation order): positional, then
    /// keywords as written.
    pub fn given(&self) -> impl Iterator<Item = (&'static str, &Literal)> {
        self.values.iter().map(|(n, v)| (*n, v))
    }

    /// The raw literal of `name`, if given.
    pub fn get(&self, name: &str) -> Option<&Literal> {
        self.values.iter().find(|(n, _)| *n == name).map(|(_, v)| v)
    }

    /// A non-negative integer argument (default when absent or `None`).
    pub fn usize(&self, name: &str, default: Option<usize>) -> Result<usize> {
        match self.get(name) {
            Some(Literal::Num(x)) if *x >= 0.0 && x.fract() == 0.0 && *x <= MAX_INT => Ok(*x as usize),
            None | Some(Literal::None) => {
                default.ok_or_else(|| self.err(format!("missing required argument `{name}`")))
            }
            Some(other) => Err(self.err(format!("`{name}` must be a non-negative integer up to 2^53, got {other}"))),
        }
    }

    /// An integer argument that may be negative, `None` when absent or `None`.
    pub fn opt_i64(&self, name: &str) -> Result<Option<i64>> {
        match self.get(name) {
            Some(Literal::Num(x)) if x.fract() == 0.0 && x.abs() <= MAX_INT => Ok(Some(*x as i64)),
            None | Some(Literal::None) => Ok(None),
            Some(other) => Err(self.err(format!("`{name}` must be an integer, got {other}"))),
        }
    }

    /// A boolean argument.
    pub fn bool(&self, name: &str, default: bool) -> Result<bool> {
        match self.get(name) {
            Some(Literal::Bool(b)) => Ok(*b),
            None => Ok(default),
            Some(other) => Err(self.err(format!("`{name}` must be True or False, got {other}"))),
        }
    }

    /// A string argument.
    pub fn str(&self, name: &str, default: &str) -> Result<String> {
        match self.get(name) {
            Some(Literal::Str(s)) => Ok(s.clone()),
            None => Ok(default.to_string()),
            Some(other) => Err(self.err(format!("`{name}` must be a string, got {other}"))),
        }
    }

    /// An int or tuple of ints, expanded to `n` entries (`kernel_size=3` → `[3, 3]` for 2-d).
    pub fn sizes(&self, name: &str, n: usize) -> Result<Vec<usize>> {
        let one = |l: &Literal| match l {
            Literal::Num(x) if *x >= 0.0 && x.fract() == 0.0 && *x <= MAX_INT => Ok(*x as usize),
            other => Err(self.err(format!("`{name}` must hold non-negative integers, got {other}"))),
        };
        match self.get(name) {
            Some(Literal::List(v)) if n == 0 || v.len() == n => v.iter().map(one).collect(),
            Some(Literal::List(v)) => Err(self.err(format!("`{name}` needs {n} entries, got {}", v.len()))),
            Some(l) => Ok(vec![one(l)?; n.max(1)]),
            None => Err(self.err(format!("missing required argument `{name}`"))),
        }
    }
}
