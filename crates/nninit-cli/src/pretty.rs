//! Inits as people read them: `kaiming_uniform_(a=√5)`, not `a=2.23606797749979`.
//!
//! Only printing changes: checkpoints record inits in `Init`'s own form (full precision), which
//! parses back exactly.

/// Known constants, printed by name (within 1e-12 relative).
const NAMED: &[(f64, &str)] = &[
    (std::f64::consts::SQRT_2, "√2"),
    (1.7320508075688772, "√3"),
    (2.23606797749979, "√5"),
    (2.449489742783178, "√6"),
    (std::f64::consts::FRAC_1_SQRT_2, "1/√2"),
    (0.5773502691896258, "1/√3"),
    (0.4472135954999579, "1/√5"),
    (1.6666666666666667, "5/3"),
    (0.3333333333333333, "1/3"),
    (0.6666666666666666, "2/3"),
];

/// One number: a named constant, else at most 6 significant digits without trailing zeros.
pub fn number(x: f64) -> String {
    for &(v, name) in NAMED {
        for (sign, s) in [(1.0, ""), (-1.0, "-")] {
            if (x - sign * v).abs() <= 1e-12 * v {
                return format!("{s}{name}");
            }
        }
    }
    if x == x.trunc() && x.abs() < 1e15 {
        return format!("{}", x as i64);
    }
    let s = format!("{:.6}", x);
    let digits = if x.abs() < 1e-3 || x.abs() >= 1e6 { format!("{x:.5e}") } else { s };
    if digits.contains('e') {
        let (m, e) = digits.split_once('e').unwrap_or((&digits, "0"));
        let m = m.trim_end_matches('0').trim_end_matches('.');
        return format!("{m}e{e}");
    }
    // 6 significant digits.
    let sig = format!("{:.*}", (5 - x.abs().log10().floor() as i32).clamp(0, 12) as usize, x);
    if sig.contains('.') {
        sig.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        sig
    }
}

/// An init label (`Init`'s `Display`, possibly with `default:`, parts and zeroed rows) with
/// every float literal printed by [`number`].
pub fn init(label: &str) -> String {
    let mut out = String::with_capacity(label.len());
    let chars: Vec<char> = label.chars().collect();
    let mut i = 0;
    let mut in_str = false;
    while i < chars.len() {
        let c = chars[i];
        if c == '\'' {
            in_str = !in_str;
        }
        let starts_number = !in_str
            && (c.is_ascii_digit() || (c == '-' && chars.get(i + 1).is_some_and(|d| d.is_ascii_digit())))
            && (i == 0 || !(chars[i - 1].is_alphanumeric() || chars[i - 1] == '_'));
        if starts_number {
            let mut j = i + 1;
            while j < chars.len()
                && (chars[j].is_ascii_digit()
                    || matches!(chars[j], '.' | 'e' | 'E')
                    || (matches!(chars[j], '-' | '+') && matches!(chars[j - 1], 'e' | 'E')))
            {
                j += 1;
            }
            let text: String = chars[i..j].iter().collect();
            match text.parse::<f64>() {
                Ok(x) if text.contains(['.', 'e', 'E']) => out.push_str(&number(x)),
                _ => out.push_str(&text),
            }
            i = j;
            continue;
        }
        out.push(c);
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_without_noise() {
        assert_eq!(
            init("kaiming_uniform_(a=2.23606797749979, mode='fan_in')"),
            "kaiming_uniform_(a=√5, mode='fan_in')"
        );
        assert_eq!(init("xavier_uniform_(gain=1.6666666666666667)"), "xavier_uniform_(gain=5/3)");
        assert_eq!(
            init("normal_(mean=0.0, std=0.10825317547305482), row 1 zeroed"),
            "normal_(mean=0, std=0.108253), row 1 zeroed"
        );
        assert_eq!(
            init("uniform_(a=-0.125, b=0.125), then [16:32] constant_(val=1.0)"),
            "uniform_(a=-0.125, b=0.125), then [16:32] constant_(val=1)"
        );
        assert_eq!(init("trunc_normal_(std=0.02, a=-2.0)"), "trunc_normal_(std=0.02, a=-2)");
        assert_eq!(number(1e-5), "1e-5");
        assert_eq!(number(-1.4142135623730951), "-√2");
    }
}
