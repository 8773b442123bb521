//! Naming the likely cause of a failed check: the known initialization mistakes, each with the
//! signature it leaves in the values.

use super::law::Law;
use super::verdict::Test;
use super::Moments;

/// What a region was expected to hold, for the diagnosis.
pub(crate) enum Expected<'a> {
    /// Draws from a law.
    Random(&'a Law),
    /// A constant.
    Constant(f64),
    /// A structure (orthogonal, eye, dirac): only the structural tests say something.
    Structure,
}

fn failed<'a>(tests: &'a [Test], name: &str) -> Option<&'a Test> {
    tests.iter().find(|t| t.name == name && !t.pass)
}

/// The likely cause of the failures in `tests`, if a known mistake fits.
pub(crate) fn cause(
    expected: Expected<'_>,
    m: &Moments,
    fans: Option<(usize, usize)>,
    tests: &[Test],
) -> Option<String> {
    if let Some(t) = failed(tests, "nan_inf") {
        return Some(format!(
            "non-finite values ({}): an overflow, a division by zero (fan 0) or uninitialized memory",
            t.detail
        ));
    }
    if let Some(t) = failed(tests, "padding_row") {
        return Some(format!(
            "the padding row ({}) is not zero: padding_idx rows must be zeroed after the init",
            t.region
        ));
    }
    if failed(tests, "identical_rows").is_some() {
        return Some("identical rows: one row copied or broadcast, or the generator re-seeded for each row".into());
    }
    if let Some(t) = failed(tests, "sparse_zeros") {
        return Some(format!(
            "wrong number of zeros per column ({}): sparse_ zeroes exactly ceil(sparsity · rows) per column",
            t.detail
        ));
    }
    if let Some(t) = failed(tests, "orthogonality") {
        return Some(format!(
            "not orthogonal (max |QQᵀ/gain² − I| = {:.3}): a Gaussian or uniform matrix where orthogonal_ was meant, or a wrong gain",
            t.value
        ));
    }
    if failed(tests, "exact").is_some() {
        return Some("the structure differs from the scheme's: ones at the wrong places, noise added, or a wrong value (eye_, dirac_, identity_)".into());
    }
    let law = match expected {
        Expected::Structure => return None,
        Expected::Constant(v) => {
            if m.min >= 0.0
                && m.max <= 1.0
                && (m.mean - 0.5).abs() < 0.05
                && (m.std / 12f64.sqrt().recip() - 1.0).abs() < 0.15
            {
                return Some(format!("drawn from U(0, 1) where the constant {v} was meant (BatchNorm γ before PyTorch 1.2 was U(0, 1); it is ones_)"));
            }
            if failed(tests, "constant").is_some() {
                return Some(format!(
                    "not the constant {v}: values from {} to {} (random values where a constant was meant)",
                    m.min, m.max
                ));
            }
            return None;
        }
        Expected::Random(law) => law,
    };
    if let Some(t) = failed(tests, "at_bound") {
        return Some(format!(
            "values piled up at a bound ({}): clamping after drawing, or 16-bit rounding onto the truncation bound; draw in f32 and redraw or clip before the cast",
            t.detail
        ));
    }
    let sigma = law.std();
    let ratio = m.std / sigma;
    let n = m.n.max(1) as f64;
    // How far log(ratio) can stray by chance (about 6 standard errors of log s) plus 2 %.
    let tol = 0.02 + 6.0 * ((law.excess_kurtosis() + 2.0).max(0.1) / (4.0 * n)).sqrt();
    let mut candidates: Vec<(f64, String)> = vec![
        (3f64.sqrt(), "std × √3: the uniform bound √3·σ used as the std of a normal (or the √3 applied twice)".into()),
        (1.0 / 3f64.sqrt(), "std ÷ √3: the std used as the uniform bound (the √3 of bound = √3·σ is missing)".into()),
        (2f64.sqrt(), "std × √2: a gain of √2 (ReLU) applied where the scheme has none, or applied twice".into()),
        (
            1.0 / 2f64.sqrt(),
            "std ÷ √2: the gain √2 (ReLU) missing (nonlinearity 'linear' or gain 1 instead of 'relu')".into(),
        ),
        (5.0 / 3.0, "std × 5/3: the tanh gain applied where it should not be".into()),
        (3.0 / 5.0, "std ÷ 5/3: the tanh gain 5/3 missing".into()),
        (4.0 / 3.0, "std × 4/3: the SELU gain 3/4 missing".into()),
        (6f64.sqrt(), "std × √6: kaiming_uniform_ with a = 0 where PyTorch's layer default a = √5 was meant".into()),
        (1.0 / 6f64.sqrt(), "std ÷ √6: kaiming_uniform_(a=√5) (PyTorch's layer default) where a = 0 was meant".into()),
    ];
    if let Some((fan_in, fan_out)) = fans.filter(|(i, o)| i != o && *i > 0 && *o > 0) {
        let swap = format!("fan_in and fan_out swapped (fan_in {fan_in}, fan_out {fan_out}): a weight read as [in, out] instead of PyTorch's [out, in]");
        candidates.push(((fan_in as f64 / fan_out as f64).sqrt(), swap.clone()));
        candidates.push(((fan_out as f64 / fan_in as f64).sqrt(), swap));
    }
    let family = family_mistake(law, m, tests);
    // Every known factor that fits, nearest first (a [256, 512] weight's fan ratio is also √2).
    let scale = if failed(tests, "std").is_some() || failed(tests, "ks").is_some() {
        let mut fits: Vec<&(f64, String)> =
            candidates.iter().filter(|(c, _)| (ratio.ln() - c.ln()).abs() <= tol).collect();
        fits.sort_by(|a, b| (ratio.ln() - a.0.ln()).abs().total_cmp(&(ratio.ln() - b.0.ln()).abs()));
        let mut texts: Vec<&str> = fits.iter().map(|(_, t)| t.as_str()).collect();
        texts.dedup();
        (!texts.is_empty()).then(|| texts.join("; or "))
    } else {
        None
    };
    match (family, scale) {
        (Some(f), Some(s)) => return Some(format!("{f}; {s}")),
        (Some(f), None) => return Some(f),
        (None, Some(s)) => return Some(s),
        (None, None) => {}
    }
    if failed(tests, "mean").is_some() && failed(tests, "std").is_none() {
        if let Law::Uniform { from, to } = *law {
            if m.min >= 0.0 && from < 0.0 {
                return Some(format!("all values ≥ 0: U(0, {to}) (or |x|) where U({from}, {to}) was meant"));
            }
        }
        return Some(format!("mean {:.4} where {:.4} was meant: a shifted init", m.mean, law.mean()));
    }
    if failed(tests, "range").is_some() {
        return Some(format!(
            "values beyond the law's range ([{}, {}]): outliers, or a wider law (an untruncated normal?)",
            m.min, m.max
        ));
    }
    if failed(tests, "std").is_some() {
        return Some(format!(
            "std {:.4} where {:.4} was meant (× {:.3}; no known mistake gives this factor)",
            m.std, sigma, ratio
        ));
    }
    None
}

/// A normal law where a uniform one was meant, or the reverse, told by the kurtosis and range.
fn family_mistake(law: &Law, m: &Moments, tests: &[Test]) -> Option<String> {
    if m.n < 1000 {
        return None;
    }
    let shape_failed =
        failed(tests, "ks").is_some() || failed(tests, "kurtosis").is_some() || failed(tests, "range").is_some();
    if !shape_failed {
        return None;
    }
    match law {
        Law::Uniform { .. } if m.kurtosis.abs() < 0.4 => {
            Some("normal values where a uniform law was meant (kurtosis ≈ 0, not −1.2)".into())
        }
        Law::Normal { .. } if (m.kurtosis + 1.2).abs() < 0.25 => {
            Some("uniform values where a normal law was meant (kurtosis ≈ −1.2, not 0)".into())
        }
        Law::TruncNormal { .. } if (m.kurtosis + 1.2).abs() < 0.15 => {
            Some("uniform values where a truncated normal law was meant".into())
        }
        _ => None,
    }
}
