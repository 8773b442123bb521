//! "did you mean ...": the real layer type or parameter name nearest to what a rule asked for.

use std::collections::BTreeSet;

use super::Rule;
use crate::nn::Model;

/// Levenshtein distance between `a` and `b`, ignoring ASCII case.
fn distance(a: &str, b: &str) -> usize {
    let (a, b): (Vec<char>, Vec<char>) =
        (a.chars().map(|c| c.to_ascii_lowercase()).collect(), b.chars().map(|c| c.to_ascii_lowercase()).collect());
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.iter().enumerate() {
        let mut row = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            row[j + 1] = (prev[j] + usize::from(ca != cb)).min(prev[j + 1] + 1).min(row[j] + 1);
        }
        prev = row;
    }
    prev[b.len()]
}

/// The candidate nearest to `want`, if near enough to be a misspelling.
fn closest<'a>(want: &str, candidates: impl Iterator<Item = &'a str>) -> Option<&'a str> {
    let want = want.trim_matches('*');
    candidates
        .map(|c| (distance(want, c), c))
        .filter(|(d, c)| *d <= (want.len().max(c.len()) / 3).max(2))
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// Why a rule selected nothing, where it can be told: the model has no recurrent layer with the
/// rule's gate, or the nearest real layer type or parameter name (`did you mean ...?`).
pub(super) fn hint(rule: &Rule, model: &Model) -> Option<String> {
    if let Some(gate) = &rule.gate {
        let has = model.modules().iter().any(|id| super::has_gate(&model.module(*id).layer, gate));
        if !has {
            return Some(format!("the model has no LSTM or GRU with a `{gate}` gate"));
        }
    }
    nearest(rule, model).map(|n| format!("did you mean {n}?"))
}

/// The nearest real layer type or parameter name for a rule that selected nothing.
fn nearest(rule: &Rule, model: &Model) -> Option<String> {
    if let Some(layers) = &rule.layer {
        let types: BTreeSet<String> = model.modules().iter().map(|id| model.module(*id).layer.type_name()).collect();
        for want in layers.items() {
            if !types.contains(want) {
                if let Some(c) = closest(want, types.iter().map(String::as_str)) {
                    return Some(format!("layer = \"{c}\""));
                }
            }
        }
    }
    if let Some(names) = &rule.name {
        let params: Vec<String> = model.named_parameters().into_iter().map(|(n, _)| n).collect();
        for want in names.items() {
            let literal = want.trim_matches('*');
            // A path given without its prefix (`0.weight` for `layer.0.weight`).
            if let Some(p) = params.iter().find(|p| p.ends_with(&format!(".{literal}"))) {
                return Some(format!("name = \"*.{literal}\" (e.g. `{p}`)"));
            }
            if let Some(c) = closest(want, params.iter().map(String::as_str)) {
                return Some(format!("name = \"{c}\""));
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn misspellings_are_near() {
        assert_eq!(distance("Lineer", "Linear"), 1);
        assert_eq!(distance("Conv2D", "Conv2d"), 0);
        assert_eq!(closest("Lineer", ["ReLU", "Linear", "MLP"].into_iter()), Some("Linear"));
        assert_eq!(closest("Transformer", ["ReLU", "Linear"].into_iter()), None);
    }
}
