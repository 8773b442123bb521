//! A burn module's float parameters as PyTorch names them: layer type from burn's container
//! types (`Struct:Linear` → `nn.Linear`), PyTorch's names (`gamma`/`beta` → `weight`/`bias`),
//! PyTorch-layout shapes (Linear weights `[out, in]`), LSTM gate layers merged into one
//! `nn.LSTM`.

use std::collections::BTreeMap;

use nninit::adapter::Node;
use nninit::init::Init;
use nninit::nn::{Layer, RnnMode, Role};
use nninit::{Error, Result};

/// One float parameter met while visiting a burn module.
#[derive(Clone, Debug)]
pub(crate) struct BurnParam {
    /// `(field name, container type)` from the root down to the parameter.
    pub stack: Vec<(String, String)>,
    /// Shape as burn holds it.
    pub shape: Vec<usize>,
}

impl BurnParam {
    pub fn path(&self) -> String {
        self.stack.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>().join(".")
    }
    fn leaf(&self) -> &str {
        self.stack.last().map_or("", |(n, _)| n.as_str())
    }
    fn container(&self) -> &str {
        self.stack.last().map_or("", |(_, c)| c.as_str())
    }
    /// The module path (all names but the parameter's).
    fn module(&self) -> String {
        let n = self.stack.len().saturating_sub(1);
        self.stack[..n].iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>().join(".")
    }
}

/// Where a burn parameter's value comes from in PyTorch's `state_dict`.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Source {
    /// PyTorch name.
    pub name: String,
    /// Rows `[start, end)` of dim 0 (an LSTM gate's slice), or all.
    pub rows: Option<(usize, usize)>,
    /// Burn holds the transpose (`[in, out]` for `[out, in]`).
    pub transpose: bool,
}

/// The PyTorch model (as [`Node`]s, in burn's visiting order) and, per burn parameter path,
/// where its value comes from. Running statistics are left out (burn keeps them as they are).
pub(crate) fn describe(params: &[BurnParam]) -> Result<(Vec<Node>, BTreeMap<String, Source>)> {
    let mut groups: Vec<(String, String, Vec<&BurnParam>)> = Vec::new(); // (module path, kind, params)
    for p in params {
        if matches!(p.leaf(), "running_mean" | "running_var") {
            continue;
        }
        let (module, kind) = match lstm_ancestor(p) {
            Some(j) => (names(&p.stack[..j]), "Lstm".to_string()),
            None => (p.module(), p.container().trim_start_matches("Struct:").to_string()),
        };
        match groups.iter_mut().find(|(m, k, _)| *m == module && *k == kind) {
            Some((_, _, members)) => members.push(p),
            None => groups.push((module, kind, vec![p])),
        }
    }
    let mut nodes = Vec::new();
    let mut sources = BTreeMap::new();
    for (module, kind, members) in groups {
        match typed(&module, &kind, &members)? {
            Some((layer, map)) => {
                nodes.push(Node::layer(&module, layer));
                sources.extend(map);
            }
            None => {
                for p in members {
                    let path = p.path();
                    let (role, init) = loose(&kind, p.leaf(), &p.shape);
                    nodes.push(Node::Param { name: path.clone(), shape: p.shape.clone(), role, init });
                    sources.insert(path.clone(), Source { name: path, rows: None, transpose: false });
                }
            }
        }
    }
    Ok((nodes, sources))
}

fn names(stack: &[(String, String)]) -> String {
    stack.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>().join(".")
}

/// Index of the stack entry that is a field of a `Struct:Lstm` (the gate), if any.
fn lstm_ancestor(p: &BurnParam) -> Option<usize> {
    p.stack.iter().position(|(_, c)| c == "Struct:Lstm")
}

fn join(module: &str, leaf: &str) -> String {
    if module.is_empty() {
        leaf.to_string()
    } else {
        format!("{module}.{leaf}")
    }
}

fn bad(p: &BurnParam, why: &str) -> Error {
    Error::value(format!("{why} (burn parameter of a {})", p.container())).at(&p.path(), &p.shape)
}

/// A parameter of a module nninit has no PyTorch layer for: norms' scales and shifts keep
/// PyTorch's ones and zeros, anything else waits for a plan rule.
fn loose(kind: &str, leaf: &str, shape: &[usize]) -> (Role, Option<Init>) {
    let norm = kind.ends_with("Norm");
    match leaf {
        "gamma" if norm => (Role::NormWeight, Some(Init::Ones)),
        "beta" if norm => (Role::NormBias, Some(Init::Zeros)),
        l if l.contains("bias") => (Role::Bias, None),
        _ if shape.len() >= 2 => (Role::Weight, None),
        _ => (Role::NormWeight, None),
    }
}

type Typed = Option<(Layer, Vec<(String, Source)>)>;

/// The PyTorch layer for a module of burn type `kind`, and each burn parameter's source.
fn typed(module: &str, kind: &str, members: &[&BurnParam]) -> Result<Typed> {
    let get = |leaf: &str| members.iter().copied().find(|p| p.leaf() == leaf);
    let direct = |p: &BurnParam, leaf: &str, transpose: bool| {
        (p.path(), Source { name: join(module, leaf), rows: None, transpose })
    };
    let layer_and_map = match kind {
        "Linear" => {
            let w = get("weight").ok_or_else(|| bad(members[0], "a Linear without a weight"))?;
            if w.shape.len() != 2 {
                return Err(bad(w, "a Linear weight must be 2-d"));
            }
            let (d_in, d_out) = (w.shape[0], w.shape[1]);
            let mut map = vec![direct(w, "weight", true)];
            if let Some(b) = get("bias") {
                map.push(direct(b, "bias", false));
            }
            (Layer::Linear { in_features: d_in, out_features: d_out, bias: get("bias").is_some() }, map)
        }
        "Conv1d" | "Conv2d" | "Conv3d" | "ConvTranspose1d" | "ConvTranspose2d" | "ConvTranspose3d" => {
            let w = get("weight").ok_or_else(|| bad(members[0], "a convolution without a weight"))?;
            let rank: usize = kind[kind.len() - 2..kind.len() - 1].parse().unwrap_or(0);
            if w.shape.len() != rank + 2 {
                return Err(bad(w, &format!("a {kind} weight must be {}-d", rank + 2)));
            }
            let transposed = kind.starts_with("ConvTranspose");
            let b = get("bias");
            // Transposed: weight [in, out/groups, *k], bias [out].
            let groups = match (transposed, b) {
                (true, Some(b)) if b.shape.len() == 1 && b.shape[0] % w.shape[1].max(1) == 0 => {
                    b.shape[0] / w.shape[1].max(1)
                }
                _ => 1,
            };
            let (in_channels, out_channels) =
                if transposed { (w.shape[0], w.shape[1] * groups) } else { (w.shape[1], w.shape[0]) };
            let mut map = vec![direct(w, "weight", false)];
            if let Some(b) = b {
                map.push(direct(b, "bias", false));
            }
            let layer = Layer::Conv {
                in_channels: if transposed { in_channels } else { in_channels * groups },
                out_channels,
                kernel_size: w.shape[2..].to_vec(),
                groups,
                bias: b.is_some(),
                transposed,
            };
            (layer, map)
        }
        "Embedding" => {
            let w = get("weight").ok_or_else(|| bad(members[0], "an Embedding without a weight"))?;
            if w.shape.len() != 2 {
                return Err(bad(w, "an Embedding weight must be 2-d"));
            }
            let layer = Layer::Embedding { num_embeddings: w.shape[0], embedding_dim: w.shape[1], padding_idx: None };
            (layer, vec![direct(w, "weight", false)])
        }
        "BatchNorm" | "LayerNorm" | "GroupNorm" | "RmsNorm" => {
            let g = get("gamma");
            let b = get("beta");
            let n = match g.or(b) {
                Some(p) if p.shape.len() == 1 => p.shape[0],
                Some(p) => return Err(bad(p, "a norm's scale and shift must be 1-d")),
                None => return Ok(None),
            };
            let affine = g.is_some();
            let layer = match kind {
                "BatchNorm" => Layer::BatchNorm { dims: 2, num_features: n, affine, track_running_stats: true },
                "LayerNorm" => {
                    Layer::LayerNorm { normalized_shape: vec![n], elementwise_affine: affine, bias: b.is_some() }
                }
                "GroupNorm" => Layer::GroupNorm { num_groups: 1, num_channels: n, affine },
                _ => Layer::RmsNorm { normalized_shape: vec![n], elementwise_affine: affine },
            };
            let mut map = Vec::new();
            if let Some(g) = g {
                map.push(direct(g, "weight", false));
            }
            if let Some(b) = b {
                map.push(direct(b, "bias", false));
            }
            (layer, map)
        }
        "Lstm" => lstm(module, members)?,
        _ => return Ok(None),
    };
    let (layer, map) = layer_and_map;
    check_slots(&layer, module, members, &map)?;
    Ok(Some((layer, map)))
}

/// Every burn parameter lands on a slot of the layer with the right number of elements, and
/// every float parameter slot of the layer is covered.
fn check_slots(layer: &Layer, module: &str, members: &[&BurnParam], map: &[(String, Source)]) -> Result<()> {
    let slots = layer.slots();
    for p in members {
        let path = p.path();
        let Some((_, src)) = map.iter().find(|(b, _)| *b == path) else {
            return Err(bad(p, &format!("no PyTorch {} has this parameter", layer.type_name())));
        };
        let slot = slots.iter().find(|s| join(module, &s.name) == src.name);
        let expected = slot.map(|s| match src.rows {
            Some((a, b)) => (b - a) * s.shape[1..].iter().product::<usize>(),
            None => s.shape.iter().product(),
        });
        if expected != Some(p.shape.iter().product()) {
            return Err(bad(p, &format!("the shape does not fit a PyTorch {}", layer.type_name())));
        }
    }
    for s in slots.iter().filter(|s| !s.buffer) {
        let full = join(module, &s.name);
        if !map.iter().any(|(_, src)| src.name == full) {
            return Err(Error::value(format!(
                "burn's {} at `{module}` has no parameter for PyTorch's `{}`",
                layer.type_name(),
                s.name
            )));
        }
    }
    Ok(())
}

/// burn's `Lstm` (gates `input_gate`, `forget_gate`, `cell_gate`, `output_gate`, each a
/// `GateController` of two Linears) as one PyTorch `nn.LSTM` layer: gate `k` (PyTorch's order
/// i, f, g, o) is rows `[kH, (k+1)H)` of `weight_ih_l0` / `weight_hh_l0` / `bias_ih_l0` /
/// `bias_hh_l0`, transposed for the weights.
fn lstm(module: &str, members: &[&BurnParam]) -> Result<(Layer, Vec<(String, Source)>)> {
    let j = lstm_ancestor(members[0]).unwrap_or(0);
    let mut map = Vec::new();
    let mut input_size = None;
    let mut hidden = None;
    let mut bias = false;
    for p in members {
        let rest: Vec<&str> = p.stack[j..].iter().map(|(n, _)| n.as_str()).collect();
        let (gate, transform, leaf) = match rest.as_slice() {
            [g, t, l] => (*g, *t, *l),
            _ => return Err(bad(p, "not a parameter of an LSTM gate")),
        };
        let k = match gate {
            "input_gate" => 0,
            "forget_gate" => 1,
            "cell_gate" => 2,
            "output_gate" => 3,
            _ => return Err(bad(p, "not a gate of PyTorch's LSTM")),
        };
        let kind = match transform {
            "input_transform" => "ih",
            "hidden_transform" => "hh",
            _ => return Err(bad(p, "not a transform of an LSTM gate")),
        };
        let h = *p.shape.last().unwrap_or(&0);
        hidden = Some(h);
        if kind == "ih" && leaf == "weight" && p.shape.len() == 2 {
            input_size = Some(p.shape[0]);
        }
        let (name, transpose) = match leaf {
            "weight" => (format!("weight_{kind}_l0"), true),
            "bias" => {
                bias = true;
                (format!("bias_{kind}_l0"), false)
            }
            _ => return Err(bad(p, "not a parameter of an LSTM gate")),
        };
        map.push((p.path(), Source { name: join(module, &name), rows: Some((k * h, (k + 1) * h)), transpose }));
    }
    let (Some(input_size), Some(hidden_size)) = (input_size, hidden) else {
        return Err(bad(members[0], "an LSTM without an input weight"));
    };
    // Every gate of PyTorch's LSTM, each with both transforms: a coupled (`input_forget`) LSTM
    // has no forget gate and no PyTorch twin.
    let full = 8 * if bias { 2 } else { 1 };
    if map.len() != full
        || map.iter().filter(|(_, s)| s.rows.is_some_and(|(a, _)| a == hidden_size)).count() != full / 4
    {
        return Err(Error::value(format!(
            "burn's Lstm at `{module}` does not have PyTorch's four gates with two transforms each"
        )));
    }
    let layer = Layer::Rnn {
        mode: RnnMode::Lstm,
        input_size,
        hidden_size,
        num_layers: 1,
        bias,
        bidirectional: false,
        proj_size: 0,
    };
    Ok((layer, map))
}
