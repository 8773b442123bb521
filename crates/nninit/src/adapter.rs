//! Shared by the framework adapters (`nninit-candle`, `nninit-burn`): a framework's model
//! described as PyTorch would name it — typed layers at module paths, loose parameters, or bare
//! `(name, shape)` pairs whose layers are inferred as `nninit init --like` does — turned into a
//! [`Model`], initialized by a preset and a plan, and drawn into memory.
//!
//! ```
//! use nninit::adapter::{self, InitSpec, Node};
//! use nninit::nn::Layer;
//! let nodes = [Node::layer("0", Layer::linear(4, 3)), Node::layer("2", Layer::linear(3, 2))];
//! let mut model = adapter::model_from_nodes(&nodes, nninit::DType::F32)?;
//! let values = adapter::draw(&mut model, &InitSpec::preset("seed", 0))?;
//! assert_eq!(values.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>(), ["0.weight", "0.bias", "2.weight", "2.bias"]);
//! assert!(values[1].1.to_f64_vec().iter().all(|&b| b == 0.0)); // seed: zero biases
//! # Ok::<(), nninit::Error>(())
//! ```

use std::cmp::Ordering;
use std::collections::BTreeMap;

use crate::arch::like::{like, LikeOptions};
use crate::error::{Error, Result};
use crate::init::Init;
use crate::io::TensorInfo;
use crate::nn::{Layer, Model, ModuleId, Origin, Role, SlotKind};
use crate::plan::{preset, Plan, PresetOptions, Unmatched};
use crate::rng::Stream;
use crate::tensor::{DType, Data, Tensor};

/// How a framework's model is initialized: a preset ([`crate::plan::PRESETS`]), an optional user
/// plan whose rules come first, the seed and the stream — the library form of `nninit init
/// --preset P --plan F --seed S --rng R`.
#[derive(Clone, Debug, PartialEq)]
pub struct InitSpec {
    /// Built-in plan: `torch` (PyTorch's construction defaults), `seed`, `bert`.
    pub preset: String,
    /// User rules, applied before the preset's. A user rule that selects nothing is an error.
    pub plan: Option<Plan>,
    /// `torch.manual_seed` value (or the Philox key).
    pub seed: u64,
    /// The stream: [`Stream::Torch`] (construction order) or [`Stream::Philox`] (keyed by name).
    pub rng: Stream,
}

impl InitSpec {
    /// Preset `name` on PyTorch's stream from `seed`, no user plan.
    pub fn preset(name: &str, seed: u64) -> Self {
        InitSpec { preset: name.to_string(), plan: None, seed, rng: Stream::Torch }
    }

    /// The same with user rules `plan` applied before the preset's.
    pub fn with_plan(mut self, plan: Plan) -> Self {
        self.plan = Some(plan);
        self
    }

    /// The same on stream `rng`.
    pub fn with_rng(mut self, rng: Stream) -> Self {
        self.rng = rng;
        self
    }
}

/// One entry of a model description, in construction order.
#[derive(Clone, Debug, PartialEq)]
pub enum Node {
    /// A PyTorch layer at a dotted module path (`""`: the root).
    Layer {
        /// Module path, e.g. `encoder.0`.
        path: String,
        /// The layer, with PyTorch's shapes.
        layer: Layer,
    },
    /// A parameter of no known layer (a custom module's `nn.Parameter`), initialized at
    /// construction by `init` if given; otherwise zero until a plan rule initializes it (and an
    /// error from [`draw`] if none does).
    Param {
        /// Dotted `state_dict` name, e.g. `head.scale`.
        name: String,
        /// Shape.
        shape: Vec<usize>,
        /// Role plan rules select it by.
        role: Role,
        /// Its construction init, if any.
        init: Option<Init>,
    },
}

impl Node {
    /// [`Node::Layer`] at `path`.
    pub fn layer(path: &str, layer: Layer) -> Self {
        Node::Layer { path: path.to_string(), layer }
    }
}

fn split(name: &str) -> (&str, &str) {
    name.rsplit_once('.').unwrap_or(("", name))
}

/// Builds a [`Model`] of dtype `dtype` from `nodes`: each layer constructed (its PyTorch default
/// init recorded) in the given order under its path, `Custom` containers created for missing
/// ancestors, loose parameters registered on their module.
///
/// # Errors
/// A path given twice, a layer below another layer's path, or a layer's own argument errors
/// (named with the path).
pub fn model_from_nodes(nodes: &[Node], dtype: DType) -> Result<Model> {
    let mut model = Model::new(dtype);
    let root = model.container(Layer::Custom("Module".into()), &[]);
    let mut modules: BTreeMap<String, ModuleId> = BTreeMap::from([(String::new(), root)]);
    let mut root_taken = false;
    for node in nodes {
        match node {
            Node::Layer { path, layer } => {
                // The root path is free until something is attached to it.
                let taken =
                    if path.is_empty() { root_taken || modules.len() > 1 } else { modules.contains_key(path.as_str()) };
                root_taken |= path.is_empty();
                if taken {
                    return Err(Error::value(format!("module `{path}` is given twice")));
                }
                let id = model.add(layer.clone()).map_err(|e| e.at(path, &[]))?;
                attach(&mut model, &mut modules, path, id)?;
            }
            Node::Param { name, shape, role, init } => {
                let (path, leaf) = split(name);
                let id = match modules.get(path) {
                    Some(&id) => id,
                    None => {
                        let id = model.container(Layer::Custom("Module".into()), &[]);
                        attach(&mut model, &mut modules, path, id)?;
                        id
                    }
                };
                let tensor = model.new_tensor(shape).map_err(|e| e.at(name, shape))?;
                let t = model.register(id, leaf, tensor, *role, SlotKind::Parameter).map_err(|e| e.at(name, shape))?;
                if let Some(init) = init {
                    model.init_tensor(t, init, Origin::LayerDefault).map_err(|e| e.at(name, shape))?;
                }
            }
        }
    }
    if !root_taken {
        model.set_root(root)?;
    }
    Ok(model)
}

/// Registers module `id` at `path` (the root for `""`), creating containers for missing ancestors.
fn attach(model: &mut Model, modules: &mut BTreeMap<String, ModuleId>, path: &str, id: ModuleId) -> Result<()> {
    if path.is_empty() {
        // A layer at the root: it becomes the only child under an empty name is not possible, so
        // the root container is replaced by the layer itself.
        model.set_root(id)?;
        modules.insert(String::new(), id);
        return Ok(());
    }
    let (parent_path, leaf) = split(path);
    let parent = match modules.get(parent_path) {
        Some(&p) => p,
        None => {
            let p = model.container(Layer::Custom("Module".into()), &[]);
            attach(model, modules, parent_path, p)?;
            p
        }
    };
    model.add_child(parent, leaf, id)?;
    modules.insert(path.to_string(), id);
    Ok(())
}

/// Builds a [`Model`] from bare `(name, shape)` pairs, inferring each module's layer from its
/// tensors' names and shapes exactly as `nninit init --like` does ([`like`]): `weight` (2-d)
/// [+ `bias`] → Linear, (3–5-d) → Conv, `weight`/`bias`/`running_mean`/`running_var` →
/// BatchNorm, 1-d `weight` + `bias` → LayerNorm, `*embed*` → Embedding, `weight_ih_l0`… → RNNs.
/// A module with `running_mean`/`running_var` but no `num_batches_tracked` counter is still a
/// BatchNorm. Modules are taken in order of first appearance; tensors of no recognised layer become
/// parameters of custom modules (zero until a plan rule initializes them).
///
/// # Errors
/// No tensors; a shape too large.
pub fn model_like(tensors: &[(String, Vec<usize>)], dtype: DType) -> Result<Model> {
    let info = |name: String, dtype: safetensors::Dtype, shape: Vec<usize>| TensorInfo {
        name,
        dtype,
        shape,
        data_offsets: (0, 0),
    };
    let mut infos: Vec<TensorInfo> = Vec::new();
    for (name, shape) in tensors {
        infos.push(info(name.clone(), dtype.to_safetensors(), shape.clone()));
        // Frameworks without BatchNorm's `num_batches_tracked` counter (candle): the module is
        // still PyTorch's BatchNorm with running statistics.
        if let Some(module) = name.strip_suffix("running_var") {
            let counter = format!("{module}num_batches_tracked");
            if !tensors.iter().any(|(n, _)| *n == counter) {
                infos.push(info(counter, safetensors::Dtype::I64, Vec::new()));
            }
        }
    }
    let opts = LikeOptions { dtype: Some(dtype), ..LikeOptions::default() };
    let (model, _) = like(&infos, &opts, |t| {
        let numel: usize = t.shape.iter().product();
        let bytes = vec![0u8; numel * t.dtype.bitsize().div_ceil(8)];
        Tensor::new(&t.shape, Data::Other { dtype: t.dtype, bytes })
    })?;
    Ok(model)
}

/// Applies `spec` to `model` (the user plan's rules, then the preset's: `apply` after
/// construction) and draws every value from `spec.seed` on `spec.rng`. Returns the `state_dict`
/// (float tensors, in order) with the drawn values; buffers hold their fresh-model values
/// (BatchNorm running mean 0, variance 1).
///
/// # Errors
/// An unknown preset; a user rule that selects nothing (naming the rule); a parameter that no
/// layer default and no rule initializes (naming its path and shape); an init's error with the
/// parameter path and shape.
pub fn draw(model: &mut Model, spec: &InitSpec) -> Result<Vec<(String, Tensor)>> {
    let user_rules = spec.plan.as_ref().map_or(0, |p| p.rules.len());
    let plan = spec.plan.clone().unwrap_or_default().then(preset(&spec.preset, &PresetOptions::default())?);
    let mut report = plan.apply(model)?;
    report.unmatched.retain(|u| u.index < user_rules);
    Plan::check_unmatched(&report, Unmatched::Error)?;
    if let Some((name, id)) = model.named_parameters().into_iter().find(|(_, id)| model.provenance(*id).is_none()) {
        let shape = model.tensor(id).shape().to_vec();
        return Err(Error::value("no layer type fits this parameter and no plan rule initializes it").at(&name, &shape));
    }
    model.materialize(spec.rng, spec.seed)?;
    Ok(model
        .state_dict()
        .into_iter()
        .filter(|(_, id)| model.tensor(*id).dtype().is_some())
        .map(|(name, id)| (name, model.tensor(id).clone()))
        .collect())
}

/// Orders dotted names as PyTorch registers them in a `Sequential`/`ModuleList`: segment by
/// segment, numeric segments by value (`2` before `10`), others alphabetically.
///
/// ```
/// let mut names = vec!["10.weight", "2.weight", "fc.bias"];
/// names.sort_by(|a, b| nninit::adapter::natural_cmp(a, b));
/// assert_eq!(names, ["2.weight", "10.weight", "fc.bias"]);
/// ```
pub fn natural_cmp(a: &str, b: &str) -> Ordering {
    let mut x = a.split('.');
    let mut y = b.split('.');
    loop {
        match (x.next(), y.next()) {
            (None, None) => return Ordering::Equal,
            (None, Some(_)) => return Ordering::Less,
            (Some(_), None) => return Ordering::Greater,
            (Some(p), Some(q)) => {
                let o = match (p.parse::<u64>(), q.parse::<u64>()) {
                    (Ok(m), Ok(n)) => m.cmp(&n),
                    (Ok(_), Err(_)) => Ordering::Less,
                    (Err(_), Ok(_)) => Ordering::Greater,
                    _ => p.cmp(q),
                };
                if o != Ordering::Equal {
                    return o;
                }
            }
        }
    }
}

/// `names` grouped by module (the part before the last `.`), modules in [`natural_cmp`] order
/// (the order a `Sequential` constructs them in), within a module `weight` then `bias` then the
/// rest alphabetically — so [`model_like`] builds the layers in PyTorch's construction order
/// whatever order a hash map gave. (A typed layer registers its tensors in its own order; the
/// order within a module matters only for parameters of custom modules.)
///
/// ```
/// let names = ["1.bias", "10.weight", "0.bias", "1.weight", "0.weight"];
/// assert_eq!(
///     nninit::adapter::construction_order(&names),
///     ["0.weight", "0.bias", "1.weight", "1.bias", "10.weight"]
/// );
/// ```
pub fn construction_order<S: AsRef<str>>(names: &[S]) -> Vec<String> {
    let mut names: Vec<&str> = names.iter().map(|s| s.as_ref()).collect();
    let rank = |leaf: &str| match leaf {
        "weight" => 0,
        "bias" => 1,
        _ => 2,
    };
    names.sort_by(|a, b| {
        let (pa, la) = split(a);
        let (pb, lb) = split(b);
        natural_cmp(pa, pb).then_with(|| rank(la).cmp(&rank(lb))).then_with(|| la.cmp(lb))
    });
    names.into_iter().map(str::to_string).collect()
}
