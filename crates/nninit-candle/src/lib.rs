//! # nninit-candle
//!
//! PyTorch's initial weights for [candle](https://github.com/huggingface/candle) models, drawn
//! by [`nninit`]: seedable on CPU, bit-exact with `torch.manual_seed(seed)` followed by the same
//! construction (and `model.apply(...)` rules), or keyed by variable name on the Philox stream.
//!
//! Two entry points:
//!
//! * [`Initializer`]: a [`VarBuilder`] whose variables are drawn by nninit as they are created.
//!   `candle_nn::linear`, `conv1d`/`conv2d`, `embedding`, `layer_norm` and `batch_norm` get the
//!   default init of the matching `torch.nn` layer (not candle's own: candle draws Linear and
//!   Conv weights Kaiming-normal); [`Initializer::finish`] then applies the preset's and the
//!   plan's rules, as `model.apply(weight_init)` does after construction.
//! * [`reinit`]: re-initializes the variables of an existing [`VarMap`] by a preset and plan,
//!   layer types inferred from names and shapes as `nninit init --like` infers them.
//!
//! ```
//! use candle_core::{DType, Device};
//! use candle_nn::{linear, Module, VarMap};
//! use nninit::adapter::InitSpec;
//! use nninit_candle::Initializer;
//!
//! let varmap = VarMap::new();
//! let init = Initializer::new(&varmap, InitSpec::preset("seed", 0));
//! let vb = init.var_builder(DType::F32, &Device::Cpu);
//! let fc1 = linear(784, 256, vb.pp("0"))?;
//! let fc2 = linear(256, 10, vb.pp("2"))?;
//! init.finish()?; // the `seed` rules: xavier_normal_ weights, zero biases
//! let x = candle_core::Tensor::zeros((1, 784), DType::F32, &Device::Cpu)?;
//! let y = fc2.forward(&fc1.forward(&x)?.relu()?)?;
//! assert_eq!(y.to_vec2::<f32>()?, vec![vec![0f32; 10]]); // zero biases, zero input
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod convert;
mod hint;
pub mod lsuv;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use candle_core::{DType, Device, Shape, Tensor, Var};
use candle_nn::{Init as Hint, VarBuilder, VarMap};
use nninit::adapter::{self, InitSpec};
use nninit::rng::{Philox, Stream};
use nninit::{Error, Generator, Result};

pub use convert::{from_candle, to_candle, to_nninit_dtype};

/// One variable created through the builder, in creation order.
struct Record {
    name: String,
    shape: Vec<usize>,
    dtype: DType,
    hint: Hint,
}

struct State {
    varmap: VarMap,
    spec: InitSpec,
    generator: Generator,
    records: Vec<Record>,
}

/// Creates a model's variables in a [`VarMap`] with PyTorch's default init for the layer each
/// belongs to, drawn by nninit from the spec's seed: on PyTorch's stream in creation order (a
/// candle model built in the order its PyTorch twin constructs its layers holds PyTorch's values),
/// or on the Philox stream keyed by each variable's name (any order gives the same values).
///
/// The layer of a variable is read from its name, shape and the init hint candle passes
/// : `weight` with a Kaiming hint → `nn.Linear` (2-d) or `nn.Conv{n}d`
/// (3–5-d) weight, drawn `kaiming_uniform_(a=√5)`; the `bias` that follows → `U(±1/√fan_in)` of
/// that weight; a `N(μ, σ²)` hint on a 2-d `weight` → `nn.Embedding` (`normal_`); constant hints
/// (norm scales and shifts, running statistics) → that constant, drawing nothing. Any other
/// variable is drawn as its hint says, on nninit's stream.
///
/// The builder is cheap to clone (the state is shared); every clone's builders draw from one
/// stream.
///
/// ```
/// use candle_core::{DType, Device};
/// use candle_nn::{embedding, linear, VarMap};
/// use nninit::adapter::InitSpec;
/// let varmap = VarMap::new();
/// let init = nninit_candle::Initializer::new(&varmap, InitSpec::preset("torch", 0));
/// let vb = init.var_builder(DType::F32, &Device::Cpu);
/// let emb = embedding(100, 16, vb.pp("emb"))?;
/// let fc = linear(16, 4, vb.pp("fc"))?;
/// init.finish()?;
/// assert_eq!(varmap.all_vars().len(), 3);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct Initializer {
    state: Arc<Mutex<State>>,
}

impl Initializer {
    /// A builder that creates variables in `varmap` (shared: the caller's map sees them) by
    /// `spec` (preset, user plan, seed, stream).
    pub fn new(varmap: &VarMap, spec: InitSpec) -> Self {
        let generator = Generator::manual_seed(spec.seed);
        let state = State { varmap: varmap.clone(), spec, generator, records: Vec::new() };
        Initializer { state: Arc::new(Mutex::new(state)) }
    }

    /// A candle [`VarBuilder`] over this initializer, creating variables of `dtype` on `device`
    /// (f32, f64, f16 and bf16 are drawn in their own dtype, as PyTorch draws them).
    pub fn var_builder(&self, dtype: DType, device: &Device) -> VarBuilder<'static> {
        VarBuilder::from_backend(Box::new(self.clone()), dtype, device.clone())
    }

    /// Applies the spec's rules after construction (`model.apply(weight_init)`): the model is
    /// rebuilt from the variables created so far, in creation order, its construction draws
    /// replayed and the rules drawn after them on the same stream, and every variable set in
    /// place (the model's tensors share the variables' storage). With the `torch` preset and no
    /// plan the values stay as created.
    ///
    /// # Errors
    /// An unknown preset; a user rule that selects nothing; an init a variable's shape does not
    /// allow (naming its path and shape); variables of different dtypes. On error no variable is
    /// changed.
    pub fn finish(&self) -> Result<()> {
        let state = self.state.lock().map_err(|_| Error::value("the initializer's lock is poisoned"))?;
        let dtype = match state.records.first() {
            None => return Ok(()),
            Some(r) => r.dtype,
        };
        if let Some(r) = state.records.iter().find(|r| r.dtype != dtype) {
            return Err(Error::value(format!(
                "variables of different dtypes ({dtype:?} and {:?}): build them with one dtype",
                r.dtype
            ))
            .at(&r.name, &r.shape));
        }
        let nodes = hint::nodes(state.records.iter().map(|r| (r.name.as_str(), r.shape.as_slice(), &r.hint)))?;
        let mut model = adapter::model_from_nodes(&nodes, to_nninit_dtype(dtype)?)?;
        let values = adapter::draw(&mut model, &state.spec)?;
        set_vars(&state.varmap, values)
    }
}

/// Converts every drawn tensor first, then sets the variables: nothing is half-applied.
fn set_vars(varmap: &VarMap, values: Vec<(String, nninit::Tensor)>) -> Result<()> {
    let data = varmap.data().lock().map_err(|_| Error::value("the VarMap's lock is poisoned"))?;
    let mut pending: Vec<(&Var, Tensor)> = Vec::new();
    for (name, value) in &values {
        if let Some(var) = data.get(name) {
            let t = to_candle(value, var.dtype(), var.device()).map_err(|e| e.at(name, value.shape()))?;
            pending.push((var, t));
        }
    }
    for (var, t) in pending {
        var.set(&t).map_err(|e| Error::value(e.to_string()))?;
    }
    Ok(())
}

impl candle_nn::var_builder::SimpleBackend for Initializer {
    fn get(&self, s: Shape, name: &str, h: Hint, dtype: DType, dev: &Device) -> candle_core::Result<Tensor> {
        let poisoned = || candle_core::Error::Msg("a lock is poisoned".into());
        let mut guard = self.state.lock().map_err(|_| poisoned())?;
        let state: &mut State = &mut guard;
        let existing = state.varmap.data().lock().map_err(|_| poisoned())?.get(name).cloned();
        if let Some(var) = existing {
            if var.shape() != &s {
                candle_core::bail!("shape mismatch on {name}: {s:?} <> {:?}", var.shape())
            }
            return Ok(var.as_tensor().clone());
        }
        let shape = s.dims().to_vec();
        let records: Vec<(&str, &[usize], &Hint)> =
            state.records.iter().map(|r| (r.name.as_str(), r.shape.as_slice(), &r.hint)).collect();
        let init = hint::init_for(&records, name, &shape, &h).map_err(to_candle_error)?;
        let mut value = nninit::Tensor::try_zeros(&shape, to_nninit_dtype(dtype).map_err(to_candle_error)?)
            .map_err(|e| to_candle_error(e.at(name, &shape)))?;
        let view = value.view_mut().map_err(to_candle_error)?;
        let (rng, seed) = (state.spec.rng, state.spec.seed);
        let drawn = match rng {
            Stream::Torch => init.apply(view, &mut state.generator),
            Stream::Philox => init.apply(view, &mut Philox::new(seed, name)),
        };
        drawn.map_err(|e| to_candle_error(e.at(name, &shape)))?;
        let var = Var::from_tensor(&to_candle(&value, dtype, dev).map_err(to_candle_error)?)?;
        state.varmap.data().lock().map_err(|_| poisoned())?.insert(name.to_string(), var.clone());
        state.records.push(Record { name: name.to_string(), shape, dtype, hint: h });
        Ok(var.as_tensor().clone())
    }

    fn get_unchecked(&self, name: &str, _dtype: DType, _dev: &Device) -> candle_core::Result<Tensor> {
        candle_core::bail!("`get_unchecked` cannot create `{name}`: its shape is needed to initialize it")
    }

    fn contains_tensor(&self, name: &str) -> bool {
        self.state.lock().is_ok_and(|s| s.varmap.data().lock().is_ok_and(|d| d.contains_key(name)))
    }
}

fn to_candle_error(e: Error) -> candle_core::Error {
    candle_core::Error::Msg(e.to_string())
}

/// Re-initializes every variable of `varmap` by `spec`, as `nninit init --like` would
/// initialize a checkpoint of the same names and shapes: layers inferred from names and shapes
/// (`weight` 2-d [+ `bias`] → Linear, 3–5-d → Conv, `weight`/`bias`/`running_mean`/`running_var`
/// → BatchNorm, 1-d `weight` + `bias` → LayerNorm, `*embed*`/`wte`/`wpe` → Embedding, RNN names
/// → RNNs), constructed in the order of their sorted names (numeric segments by value: `2`
/// before `10`, whatever the map's hash order), then the spec's rules applied. BatchNorm running
/// statistics are set as a fresh model has them (mean 0, variance 1). Values are drawn in the
/// map's most common dtype and converted to each variable's own.
///
/// ```
/// use candle_core::{DType, Device};
/// use candle_nn::{linear, VarBuilder, VarMap};
/// use nninit::adapter::InitSpec;
/// let varmap = VarMap::new();
/// let vb = VarBuilder::from_varmap(&varmap, DType::F32, &Device::Cpu);
/// let _fc = linear(8, 4, vb.pp("fc"))?; // candle's own init
/// nninit_candle::reinit(&varmap, &InitSpec::preset("seed", 0))?;
/// let bias = varmap.data().lock().unwrap()["fc.bias"].to_vec1::<f32>()?;
/// assert_eq!(bias, vec![0.0; 4]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
/// An empty map; an unknown preset; a user rule that selects nothing; a variable no inferred
/// layer and no rule initializes, or an init its shape does not allow (both naming its path and
/// shape); a dtype nninit cannot generate. On error no variable is changed.
pub fn reinit(varmap: &VarMap, spec: &InitSpec) -> Result<()> {
    let layout: BTreeMap<String, (Vec<usize>, DType)> = {
        let data = varmap.data().lock().map_err(|_| Error::value("the VarMap's lock is poisoned"))?;
        data.iter().map(|(n, v)| (n.clone(), (v.dims().to_vec(), v.dtype()))).collect()
    };
    let mut counts: BTreeMap<String, (usize, DType)> = BTreeMap::new();
    for (_, dtype) in layout.values() {
        counts.entry(format!("{dtype:?}")).or_insert((0, *dtype)).0 += 1;
    }
    let dtype = counts.values().max_by_key(|(n, _)| *n).map_or(DType::F32, |(_, d)| *d);
    let names: Vec<&String> = layout.keys().collect();
    let tensors: Vec<(String, Vec<usize>)> =
        adapter::construction_order(&names).into_iter().map(|n| (n.clone(), layout[&n].0.clone())).collect();
    let mut model = adapter::model_like(&tensors, to_nninit_dtype(dtype)?)?;
    let values = adapter::draw(&mut model, spec)?;
    set_vars(varmap, values)
}
