//! What a rule applies: an init, an init whose arguments are expressions over the model's
//! variables, or `keep_()`.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use super::expr::Expr;
use crate::error::{Error, Result};
use crate::init::Init;

/// A rule's init as written in a plan: `"normal_(0, 0.02)"`, `"normal_(0, 0.02 / sqrt(2 *
/// n_layer))"` (resolved per parameter, see [`RuleInit::resolve`]) or `"keep_()"` (the tensor
/// keeps the values it was given: a checkpoint's, or a buffer's).
///
/// ```
/// use nninit::plan::RuleInit;
/// let r: RuleInit = "normal_(std=0.02 / sqrt(2 * n_layer))".parse()?;
/// let vars = [("n_layer".to_string(), 12.0)].into_iter().collect();
/// assert_eq!(r.resolve(&vars)?.unwrap().to_string(), "normal_(mean=0.0, std=0.004082482904638631)");
/// # Ok::<(), nninit::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
pub enum RuleInit {
    /// A fixed init.
    Init(Init),
    /// A call whose arguments read variables.
    Template(Template),
    /// `keep_()`: no init; the tensor keeps its given values.
    Keep,
}

/// An init call with expression arguments, kept as written.
#[derive(Clone, Debug, PartialEq)]
pub struct Template {
    text: String,
    name: String,
    args: Vec<(Option<String>, Arg)>,
}

#[derive(Clone, Debug, PartialEq)]
enum Arg {
    /// Passed to the init parser as written (strings, `True`, `None`, ...).
    Text(String),
    /// Evaluated, then passed as a number.
    Expr(Expr),
}

impl From<Init> for RuleInit {
    fn from(init: Init) -> Self {
        RuleInit::Init(init)
    }
}

impl RuleInit {
    /// The init for a parameter with variables `vars` (`None` for `keep_()`).
    ///
    /// # Errors
    /// An unknown variable, a math error, or the init's own argument errors.
    pub fn resolve(&self, vars: &BTreeMap<String, f64>) -> Result<Option<Init>> {
        match self {
            RuleInit::Init(init) => Ok(Some(init.clone())),
            RuleInit::Keep => Ok(None),
            RuleInit::Template(t) => t.resolve(vars).map(Some),
        }
    }

    /// The variables it reads.
    pub fn variables(&self) -> Vec<String> {
        match self {
            RuleInit::Template(t) => {
                let mut out: Vec<String> = Vec::new();
                for (_, a) in &t.args {
                    if let Arg::Expr(e) = a {
                        for v in e.variables() {
                            if !out.iter().any(|o| o == v) {
                                out.push(v.to_string());
                            }
                        }
                    }
                }
                out
            }
            _ => Vec::new(),
        }
    }
}

impl Template {
    fn resolve(&self, vars: &BTreeMap<String, f64>) -> Result<Init> {
        let mut parts = Vec::with_capacity(self.args.len());
        for (key, arg) in &self.args {
            let value = match arg {
                Arg::Text(t) => t.clone(),
                Arg::Expr(e) => {
                    let v = e.eval(vars).map_err(|err| Error::parse("init", &self.text, err.to_string()))?;
                    // `inf` written as such is a bound (trunc_normal_'s a, b); a computed one
                    // is an overflow.
                    let written_inf =
                        matches!(e, Expr::Num(_)) || matches!(e, Expr::Neg(x) if matches!(**x, Expr::Num(_)));
                    if !v.is_finite() && !written_inf {
                        return Err(Error::parse("init", &self.text, format!("`{e}` evaluates to {v}")));
                    }
                    format!("{v:?}")
                }
            };
            parts.push(match key {
                Some(k) => format!("{k}={value}"),
                None => value,
            });
        }
        let resolved = format!("{}({})", self.name, parts.join(", "));
        resolved.parse::<Init>().map_err(|err| {
            // A bare name where a string belongs (`mode=fan_out`) reads the variable of that name.
            let unquoted = self.args.iter().find_map(|(_, a)| match a {
                Arg::Expr(Expr::Var(v)) => Some(v.as_str()),
                _ => None,
            });
            match unquoted {
                Some(v) if err.to_string().contains("must be a string") => Error::parse(
                    "init",
                    &self.text,
                    format!("{err} (`{v}` is read as a variable; strings are quoted: '{v}')"),
                ),
                _ => err,
            }
        })
    }
}

/// Splits `s` at top-level commas (outside brackets and quotes).
fn split_args(s: &str) -> Vec<&str> {
    let (mut depth, mut quote, mut start) = (0i32, None, 0);
    let mut out = Vec::new();
    for (i, c) in s.char_indices() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '\'' | '"') => quote = Some(c),
            (None, '(' | '[') => depth += 1,
            (None, ')' | ']') => depth -= 1,
            (None, ',') if depth == 0 => {
                out.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    if !s[start..].trim().is_empty() {
        out.push(&s[start..]);
    }
    out
}

/// `key=value` → `(Some(key), value)`; `==` is not a keyword.
fn split_keyword(arg: &str) -> (Option<&str>, &str) {
    let t = arg.trim();
    let ident_len = t.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).unwrap_or(t.len());
    let rest = t[ident_len..].trim_start();
    if ident_len > 0 && rest.starts_with('=') && !rest.starts_with("==") {
        (Some(&t[..ident_len]), rest[1..].trim())
    } else {
        (None, t)
    }
}

impl FromStr for RuleInit {
    type Err = Error;

    /// Parses an init call; arguments that are expressions with variables make a template,
    /// constant expressions are evaluated now.
    fn from_str(src: &str) -> Result<Self> {
        let text = src.trim();
        let name_end = text.find('(').unwrap_or(text.len());
        let name = text[..name_end].trim();
        if name.rsplit('.').next().is_some_and(|n| n.trim_end_matches('_') == "keep") {
            let args = text[name_end..].trim();
            if !(args.is_empty() || args == "()") {
                return Err(Error::parse("init", src, "keep_() takes no arguments"));
            }
            return Ok(RuleInit::Keep);
        }
        // Plain calls go to the init parser as they are (its errors, its defaults).
        let inner = match (text.get(name_end..), text.ends_with(')')) {
            (Some(rest), true) if rest.starts_with('(') => &text[name_end + 1..text.len() - 1],
            _ => return text.parse::<Init>().map(RuleInit::Init),
        };
        let mut args = Vec::new();
        let mut computed = false;
        for raw in split_args(inner) {
            let (key, value) = split_keyword(raw);
            let literal = value.starts_with(['\'', '"']) || matches!(value, "True" | "False" | "None");
            let arg = match Expr::parse(value) {
                Ok(e) if !literal && !matches!(e, Expr::Num(_)) => {
                    computed = true;
                    Arg::Expr(e)
                }
                _ => Arg::Text(value.to_string()),
            };
            args.push((key.map(str::to_string), arg));
        }
        let template = Template { text: text.to_string(), name: name.to_string(), args };
        if !computed {
            return text.parse::<Init>().map(RuleInit::Init);
        }
        let variables = RuleInit::Template(template.clone()).variables();
        if variables.is_empty() {
            // Constant arithmetic: evaluated once, checked now.
            return template.resolve(&BTreeMap::new()).map(RuleInit::Init);
        }
        Ok(RuleInit::Template(template))
    }
}

impl fmt::Display for RuleInit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RuleInit::Init(init) => write!(f, "{init}"),
            RuleInit::Template(t) => f.write_str(&t.text),
            RuleInit::Keep => f.write_str("keep_()"),
        }
    }
}

impl serde::Serialize for RuleInit {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for RuleInit {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_constant_and_variable_calls() {
        let p = |s: &str| s.parse::<RuleInit>().unwrap_or_else(|e| panic!("{s}: {e}"));
        assert_eq!(p("normal_(0, 0.02)"), RuleInit::Init(Init::Normal { mean: 0.0, std: 0.02 }));
        assert_eq!(p("normal_(0, 0.02 / 2)"), RuleInit::Init(Init::Normal { mean: 0.0, std: 0.01 }));
        assert_eq!(p("keep_()"), RuleInit::Keep);
        let t = p("kaiming_normal_(a=sqrt(5) * k, mode='fan_out')");
        assert_eq!(t.variables(), ["k"]);
        let vars = [("k".to_string(), 2.0)].into_iter().collect();
        let want = "kaiming_normal_(a=4.47213595499958, mode='fan_out', nonlinearity='leaky_relu')";
        assert_eq!(t.resolve(&vars).unwrap().unwrap().to_string(), want);
        assert_eq!(t.to_string(), "kaiming_normal_(a=sqrt(5) * k, mode='fan_out')");
        let err = t.resolve(&BTreeMap::new()).unwrap_err().to_string();
        assert!(err.contains("unknown variable `k`"), "{err}");
        assert!("keep_(1)".parse::<RuleInit>().is_err());
        assert!("normal_(0, 1 / 0)".parse::<RuleInit>().unwrap_err().to_string().contains("division by zero"));
    }
}
