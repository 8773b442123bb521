//! Arithmetic over a model's variables, as plan arguments are written:
//! `0.02 / sqrt(2 * n_layer)`, `1 / sqrt(fan_in)`, `2 / (n_layer * math.sqrt(d_model))`.
//!
//! Python's operators and precedence (`+ - * / // % **`, unary `-`, parentheses), numbers,
//! variables, the constants `pi`, `e`, `inf` and the functions `sqrt`, `log`, `log2`, `exp`,
//! `abs`, `floor`, `ceil`, `pow`, `min`, `max` (with or without `math.`).

use std::collections::BTreeMap;

use crate::error::{Error, Result};

/// How deeply parentheses and unary operators may nest: far beyond any real formula, small
/// enough that a hostile plan cannot exhaust the stack.
const MAX_DEPTH: usize = 64;

/// How many numbers, variables, operators and calls an expression may hold: far beyond any real
/// formula, and a bound on the depth of the parsed tree (a chain `1 + 1 + ...` nests one level
/// per term), so evaluating or dropping it cannot exhaust the stack either.
const MAX_NODES: usize = 1000;

/// A parsed expression.
#[derive(Clone, Debug, PartialEq)]
pub enum Expr {
    /// A number.
    Num(f64),
    /// A variable, looked up when evaluated.
    Var(String),
    /// `-x`.
    Neg(Box<Expr>),
    /// `a op b`.
    Bin(Op, Box<Expr>, Box<Expr>),
    /// `f(args)`.
    Call(String, Vec<Expr>),
}

/// A binary operator.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    /// `+`
    Add,
    /// `-`
    Sub,
    /// `*`
    Mul,
    /// `/`
    Div,
    /// `//` (floor division)
    FloorDiv,
    /// `%` (Python's modulo: the sign of the divisor)
    Mod,
    /// `**`
    Pow,
}

impl Expr {
    /// Parses `src`.
    ///
    /// ```
    /// use nninit::plan::Expr;
    /// let e = Expr::parse("0.02 / sqrt(2 * n_layer)")?;
    /// let vars = [("n_layer".to_string(), 12.0)].into_iter().collect();
    /// assert_eq!(e.eval(&vars)?, 0.02 / 24f64.sqrt());
    /// # Ok::<(), nninit::Error>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::Parse`] naming the position: bad syntax, nesting deeper than 64.
    pub fn parse(src: &str) -> Result<Expr> {
        let mut p = Parser { src, pos: 0, depth: 0, nodes: 0 };
        let e = p.sum()?;
        p.skip_ws();
        if p.pos < src.len() {
            return Err(p.err(format!("unexpected `{}`", &src[p.pos..])));
        }
        Ok(e)
    }

    /// The variables the expression reads, in order of first use.
    pub fn variables(&self) -> Vec<&str> {
        let mut out: Vec<&str> = Vec::new();
        let mut stack = vec![self];
        while let Some(e) = stack.pop() {
            match e {
                Expr::Num(_) => {}
                Expr::Var(v) => {
                    if !out.contains(&v.as_str()) {
                        out.push(v);
                    }
                }
                Expr::Neg(x) => stack.push(x),
                Expr::Bin(_, a, b) => {
                    stack.push(b);
                    stack.push(a);
                }
                Expr::Call(_, args) => stack.extend(args.iter().rev()),
            }
        }
        out
    }

    /// The value with `vars` substituted (f64 arithmetic, as Python's floats).
    ///
    /// # Errors
    /// An unknown variable (naming the known ones), division by zero, a math domain error
    /// (`sqrt`/`log` of a negative number), a result that is not finite.
    pub fn eval(&self, vars: &BTreeMap<String, f64>) -> Result<f64> {
        let v = self.value(vars, 0)?;
        if v.is_nan() {
            return Err(Error::value("the expression is not a number (NaN)"));
        }
        Ok(v)
    }

    fn value(&self, vars: &BTreeMap<String, f64>, depth: usize) -> Result<f64> {
        if depth > MAX_NODES {
            return Err(Error::value(format!("expression of more than {MAX_NODES} terms")));
        }
        let d = depth + 1;
        Ok(match self {
            Expr::Num(x) => *x,
            Expr::Var(name) => *vars.get(name).ok_or_else(|| {
                let known: Vec<&str> = vars.keys().map(String::as_str).collect();
                Error::Unknown { what: "variable", name: name.clone(), known: known.join(", ") }
            })?,
            Expr::Neg(x) => -x.value(vars, d)?,
            Expr::Bin(op, a, b) => {
                let (a, b) = (a.value(vars, d)?, b.value(vars, d)?);
                let nonzero = |b: f64| {
                    if b == 0.0 {
                        Err(Error::value("division by zero"))
                    } else {
                        Ok(b)
                    }
                };
                match op {
                    Op::Add => a + b,
                    Op::Sub => a - b,
                    Op::Mul => a * b,
                    Op::Div => a / nonzero(b)?,
                    Op::FloorDiv => (a / nonzero(b)?).floor(),
                    Op::Mod => a - b * (a / nonzero(b)?).floor(),
                    Op::Pow => a.powf(b),
                }
            }
            Expr::Call(f, args) => {
                let args: Vec<f64> = args.iter().map(|a| a.value(vars, d)).collect::<Result<_>>()?;
                call(f, &args)?
            }
        })
    }
}

impl std::fmt::Display for Expr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Expr::Num(x) => write!(f, "{x:?}"),
            Expr::Var(v) => f.write_str(v),
            Expr::Neg(x) => write!(f, "-({x})"),
            Expr::Bin(op, a, b) => {
                let op = match op {
                    Op::Add => "+",
                    Op::Sub => "-",
                    Op::Mul => "*",
                    Op::Div => "/",
                    Op::FloorDiv => "//",
                    Op::Mod => "%",
                    Op::Pow => "**",
                };
                write!(f, "({a} {op} {b})")
            }
            Expr::Call(name, args) => {
                write!(f, "{name}(")?;
                for (i, a) in args.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{a}")?;
                }
                f.write_str(")")
            }
        }
    }
}

/// A math function by name.
fn call(name: &str, args: &[f64]) -> Result<f64> {
    let arity = |n: usize| {
        if args.len() == n {
            Ok(())
        } else {
            Err(Error::value(format!("{name}() takes {n} argument(s), {} given", args.len())))
        }
    };
    let domain = |ok: bool| if ok { Ok(()) } else { Err(Error::value(format!("math domain error ({name})"))) };
    Ok(match name {
        "sqrt" => {
            arity(1)?;
            domain(args[0] >= 0.0)?;
            args[0].sqrt()
        }
        "log" => {
            arity(1)?;
            domain(args[0] > 0.0)?;
            args[0].ln()
        }
        "log2" => {
            arity(1)?;
            domain(args[0] > 0.0)?;
            args[0].log2()
        }
        "exp" => {
            arity(1)?;
            args[0].exp()
        }
        "abs" => {
            arity(1)?;
            args[0].abs()
        }
        "floor" => {
            arity(1)?;
            args[0].floor()
        }
        "ceil" => {
            arity(1)?;
            args[0].ceil()
        }
        "pow" => {
            arity(2)?;
            args[0].powf(args[1])
        }
        "min" | "max" if !args.is_empty() => {
            let pick = if name == "min" { f64::min } else { f64::max };
            args.iter().copied().reduce(pick).unwrap_or(f64::NAN)
        }
        _ => {
            return Err(Error::Unknown {
                what: "function",
                name: name.to_string(),
                known: "sqrt, log, log2, exp, abs, floor, ceil, pow, min, max".into(),
            })
        }
    })
}

struct Parser<'a> {
    src: &'a str,
    pos: usize,
    depth: usize,
    nodes: usize,
}

impl Parser<'_> {
    fn err(&self, reason: impl Into<String>) -> Error {
        Error::parse("expression", self.src, reason)
    }

    fn skip_ws(&mut self) {
        let rest = &self.src[self.pos..];
        self.pos += rest.len() - rest.trim_start().len();
    }

    fn eat(&mut self, token: &str) -> bool {
        self.skip_ws();
        if self.src[self.pos..].starts_with(token) {
            self.pos += token.len();
            true
        } else {
            false
        }
    }

    /// Counts one node of the tree.
    fn node(&mut self) -> Result<()> {
        self.nodes += 1;
        if self.nodes > MAX_NODES {
            return Err(self.err(format!("more than {MAX_NODES} terms")));
        }
        Ok(())
    }

    fn nest(&mut self) -> Result<()> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(self.err(format!("nested deeper than {MAX_DEPTH} levels")));
        }
        Ok(())
    }

    /// `term (('+' | '-') term)*`
    fn sum(&mut self) -> Result<Expr> {
        self.nest()?;
        let mut e = self.product()?;
        loop {
            let op = if self.eat("+") {
                Op::Add
            } else if self.eat("-") {
                Op::Sub
            } else {
                break;
            };
            self.node()?;
            e = Expr::Bin(op, Box::new(e), Box::new(self.product()?));
        }
        self.depth -= 1;
        Ok(e)
    }

    /// `unary (('*' | '/' | '//' | '%') unary)*`
    fn product(&mut self) -> Result<Expr> {
        let mut e = self.unary()?;
        loop {
            self.skip_ws();
            let rest = &self.src[self.pos..];
            let op = if rest.starts_with("**") {
                break;
            } else if self.eat("//") {
                Op::FloorDiv
            } else if self.eat("*") {
                Op::Mul
            } else if self.eat("/") {
                Op::Div
            } else if self.eat("%") {
                Op::Mod
            } else {
                break;
            };
            self.node()?;
            e = Expr::Bin(op, Box::new(e), Box::new(self.unary()?));
        }
        Ok(e)
    }

    /// `('-' | '+') unary | power`
    fn unary(&mut self) -> Result<Expr> {
        self.nest()?;
        let e = if self.eat("-") {
            Expr::Neg(Box::new(self.unary()?))
        } else if self.eat("+") {
            self.unary()?
        } else {
            self.power()?
        };
        self.depth -= 1;
        Ok(e)
    }

    /// `atom ('**' unary)?` (right-associative, binding tighter than unary minus on its left).
    fn power(&mut self) -> Result<Expr> {
        let base = self.atom()?;
        if self.eat("**") {
            return Ok(Expr::Bin(Op::Pow, Box::new(base), Box::new(self.unary()?)));
        }
        Ok(base)
    }

    fn atom(&mut self) -> Result<Expr> {
        self.node()?;
        self.skip_ws();
        let rest = &self.src[self.pos..];
        if self.eat("(") {
            let e = self.sum()?;
            if !self.eat(")") {
                return Err(self.err("expected `)`"));
            }
            return Ok(e);
        }
        if rest.starts_with(|c: char| c.is_ascii_digit() || c == '.') {
            let len = number_len(rest);
            let text = &rest[..len];
            let x = text.replace('_', "").parse::<f64>().map_err(|_| self.err(format!("`{text}` is not a number")))?;
            self.pos += len;
            return Ok(Expr::Num(x));
        }
        let len = rest.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '.')).unwrap_or(rest.len());
        if len == 0 {
            return Err(self.err(if rest.is_empty() {
                "expected a value".to_string()
            } else {
                format!("unexpected `{rest}`")
            }));
        }
        let word = &rest[..len];
        self.pos += len;
        let name = word.strip_prefix("math.").unwrap_or(word);
        if self.eat("(") {
            let mut args = Vec::new();
            while !self.eat(")") {
                args.push(self.sum()?);
                if !self.eat(",") && !self.src[self.pos..].trim_start().starts_with(')') {
                    return Err(self.err("expected `,` or `)`"));
                }
            }
            return Ok(Expr::Call(name.to_string(), args));
        }
        Ok(match name {
            "pi" => Expr::Num(std::f64::consts::PI),
            "e" => Expr::Num(std::f64::consts::E),
            "inf" => Expr::Num(f64::INFINITY),
            _ => Expr::Var(word.to_string()),
        })
    }
}

/// Length of the number at the start of `s` (digits, `.`, `_`, an exponent with its sign).
fn number_len(s: &str) -> usize {
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        let exp_sign = (c == b'-' || c == b'+') && i > 0 && matches!(b[i - 1], b'e' | b'E');
        if c.is_ascii_digit() || c == b'.' || c == b'_' || c == b'e' || c == b'E' || exp_sign {
            i += 1;
        } else {
            break;
        }
    }
    i
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eval(src: &str, vars: &[(&str, f64)]) -> Result<f64> {
        let vars = vars.iter().map(|(k, v)| (k.to_string(), *v)).collect();
        Expr::parse(src)?.eval(&vars)
    }

    #[test]
    fn python_precedence_and_functions() {
        assert_eq!(eval("1 + 2 * 3", &[]).unwrap(), 7.0);
        assert_eq!(eval("(1 + 2) * 3", &[]).unwrap(), 9.0);
        assert_eq!(eval("-2 ** 2", &[]).unwrap(), -4.0);
        assert_eq!(eval("2 ** 3 ** 2", &[]).unwrap(), 512.0);
        assert_eq!(eval("2 ** -1", &[]).unwrap(), 0.5);
        assert_eq!(eval("7 // 2", &[]).unwrap(), 3.0);
        assert_eq!(eval("-7 % 3", &[]).unwrap(), 2.0);
        assert_eq!(eval("1e-2 * 3", &[]).unwrap(), 0.03);
        assert_eq!(eval("math.sqrt(5)", &[]).unwrap(), 5f64.sqrt());
        assert_eq!(eval("max(1, n, 3)", &[("n", 7.0)]).unwrap(), 7.0);
        assert_eq!(eval("2 / (n_layer * sqrt(d_model))", &[("n_layer", 4.0), ("d_model", 64.0)]).unwrap(), 2.0 / 32.0);
        assert_eq!(Expr::parse("a * (b + a)").unwrap().variables(), ["a", "b"]);
    }

    #[test]
    fn errors_name_what_is_wrong() {
        let msg = |src: &str| eval(src, &[("n_layer", 2.0)]).unwrap_err().to_string();
        assert_eq!(msg("1 / n_layers"), "unknown variable `n_layers` (known: n_layer)");
        assert_eq!(msg("1 / (n_layer - 2)"), "division by zero");
        assert_eq!(msg("sqrt(-1)"), "math domain error (sqrt)");
        assert!(msg("1 +").contains("expected a value"), "{}", msg("1 +"));
        assert!(msg("(1 + 2").contains("expected `)`"));
        assert!(msg("gamma(2)").contains("unknown function `gamma`"));
        assert!(msg(&"(".repeat(200)).contains("nested deeper than 64"));
        assert!(msg(&"-".repeat(200)).contains("nested deeper than 64"));
        // A flat chain is not nested: 500 terms are fine, 100,000 are refused (not a crash).
        let chain = |n: usize, op: &str| format!("1{}", format!(" {op} 1").repeat(n - 1));
        assert_eq!(eval(&chain(500, "+"), &[]).unwrap(), 500.0);
        assert_eq!(eval(&chain(500, "*"), &[]).unwrap(), 1.0);
        for op in ["+", "*", "-"] {
            assert!(msg(&chain(100_000, op)).contains("more than 1000 terms"), "{op}");
        }
        // `**` is right-associative: a chain of it nests.
        assert!(msg(&chain(100_000, "**")).contains("nested deeper than 64"));
    }
}
