//! # nninit-burn
//!
//! PyTorch's initial weights for [burn](https://burn.dev) modules, drawn by [`nninit`]:
//! [`reinit`] gives every float parameter of a module the value PyTorch gives the same
//! parameter of the same model for the same seed — construction defaults (the `torch` preset),
//! then a preset's and a plan's rules (`model.apply(weight_init)`), on PyTorch's stream in the
//! module's field order or on the Philox stream keyed by name.
//!
//! Each parameter is given its PyTorch name, layer type and role from burn's module tree:
//!
//! | burn | PyTorch |
//! |---|---|
//! | `Linear` `weight [in, out]` (either `LinearLayout`) | `nn.Linear` `weight [out, in]`, drawn `[out, in]` and transposed |
//! | `Conv{1,2,3}d`, `ConvTranspose{1,2,3}d` | `nn.Conv{n}d`, `nn.ConvTranspose{n}d` (same weight layout; fans from it) |
//! | `Embedding` | `nn.Embedding` |
//! | `BatchNorm`, `LayerNorm`, `GroupNorm`, `RmsNorm` `gamma`/`beta` | `weight`/`bias` (norm roles); running statistics left as they are |
//! | `Lstm` gates `input`/`forget`/`cell`/`output` × `input_transform`/`hidden_transform` | rows `[kH, (k+1)H)` of `weight_ih_l0`/`weight_hh_l0`/`bias_ih_l0`/`bias_hh_l0` |
//! | any other parameter | a custom module's parameter: a plan rule must initialize it |
//!
//! ```
//! use burn::nn::{Linear, LinearConfig};
//! use burn::tensor::Device;
//! use nninit::adapter::InitSpec;
//!
//! #[derive(burn::module::Module, Debug)]
//! struct Net { fc1: Linear, fc2: Linear }
//!
//! let device = Device::ndarray();
//! let net = Net { fc1: LinearConfig::new(784, 256).init(&device), fc2: LinearConfig::new(256, 10).init(&device) };
//! let net = nninit_burn::reinit(&net, &InitSpec::preset("seed", 0))?;
//! let bias = net.fc1.bias.as_ref().unwrap().val().into_data().to_vec::<f32>().unwrap();
//! assert!(bias.iter().all(|&b| b == 0.0)); // seed: zero biases, xavier_normal_ weights
//! # Ok::<(), nninit::Error>(())
//! ```

mod layout;
pub mod lsuv;

use std::collections::{BTreeMap, HashMap};

use burn::module::{Module, ModuleMapper, ModuleVisitor, Param};
use burn::tensor::{DType, Tensor, TensorData};
use nninit::adapter::{self, InitSpec};
use nninit::tensor::Data;
use nninit::{Error, Result};

use layout::{BurnParam, Source};

/// Collects every float parameter with its path of `(field, container type)`.
#[derive(Default)]
struct Collect {
    stack: Vec<(String, String)>,
    params: Vec<BurnParam>,
    dtypes: Vec<DType>,
}

impl ModuleVisitor for Collect {
    fn enter_module(&mut self, name: &str, container_type: &str) {
        self.stack.push((name.to_string(), container_type.to_string()));
    }
    fn exit_module(&mut self, _name: &str, _container_type: &str) {
        self.stack.pop();
    }
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        let value = param.val();
        self.params.push(BurnParam { stack: self.stack.clone(), shape: value.dims().to_vec() });
        self.dtypes.push(value.dtype());
    }
}

/// A value ready for burn: row-major `data` of `shape` (PyTorch layout), transposed on the way
/// in when burn holds the transpose.
struct Ready {
    data: TensorData,
    transpose: bool,
}

/// Sets each float parameter whose path has a value; leaves the rest (running statistics).
struct Assign {
    stack: Vec<String>,
    values: HashMap<String, Ready>,
}

impl ModuleMapper for Assign {
    fn enter_module(&mut self, name: &str, _container_type: &str) {
        self.stack.push(name.to_string());
    }
    fn exit_module(&mut self, _name: &str, _container_type: &str) {
        self.stack.pop();
    }
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        let Some(ready) = self.values.remove(&self.stack.join(".")) else {
            return param;
        };
        param.map(|old| {
            let device = old.device();
            let new = Tensor::<D>::from_data(ready.data, (&device, old.dtype()));
            let new = if ready.transpose { new.transpose() } else { new };
            new.set_require_grad(old.is_require_grad())
        })
    }
}

fn to_nninit_dtype(p: &BurnParam, dtype: DType) -> Result<nninit::DType> {
    match dtype {
        DType::F64 => Ok(nninit::DType::F64),
        DType::F32 | DType::Flex32 => Ok(nninit::DType::F32),
        DType::F16 => Ok(nninit::DType::F16),
        DType::BF16 => Ok(nninit::DType::BF16),
        other => Err(Error::DType { op: "nninit_burn", dtype: format!("{other:?}") }.at(&p.path(), &p.shape)),
    }
}

/// Rows `[a, b)` of a row-major tensor of `shape`, as f64 (exact for every float dtype nninit
/// draws) or f32 values, with the shape of the slice.
fn slice(t: &nninit::Tensor, rows: Option<(usize, usize)>) -> (TensorData, Vec<usize>) {
    let shape = t.shape().to_vec();
    let row: usize = shape.iter().skip(1).product();
    let (a, b) = rows.unwrap_or((0, shape.first().copied().unwrap_or(1)));
    let mut out_shape = shape.clone();
    if let Some(first) = out_shape.first_mut() {
        *first = b - a;
    }
    let range = a * row..b * row;
    let data = match t.data() {
        Data::F64(v) => TensorData::new(v[range].to_vec(), out_shape.clone()),
        Data::F32(v) => TensorData::new(v[range].to_vec(), out_shape.clone()),
        Data::F16(v) => TensorData::new(v[range].iter().map(|x| x.to_f32()).collect::<Vec<f32>>(), out_shape.clone()),
        Data::BF16(v) => TensorData::new(v[range].iter().map(|x| x.to_f32()).collect::<Vec<f32>>(), out_shape.clone()),
        _ => TensorData::new(Vec::<f32>::new(), vec![0]),
    };
    (data, out_shape)
}

/// Returns a copy of `module` whose float parameters hold the values `spec` gives the same
/// model in PyTorch (see the [crate docs](crate) for how burn's modules map onto PyTorch's).
/// Layers are constructed in the order burn visits them (field declaration order), so a burn
/// model whose fields follow its PyTorch twin's construction order holds PyTorch's values on
/// [`nninit::rng::Stream::Torch`]. Values are drawn in the parameters' most common dtype (f32,
/// f64, f16, bf16, as PyTorch draws them) and set in each parameter's own dtype, on its device,
/// keeping its `require_grad`. Running statistics (BatchNorm's `running_mean`/`running_var`)
/// are left as they are.
///
/// ```
/// use burn::nn::{Linear, LinearConfig, LinearLayout};
/// use burn::tensor::Device;
/// use nninit::adapter::InitSpec;
/// let device = Device::ndarray();
/// let row = LinearConfig::new(8, 4).init(&device);
/// let col = LinearConfig::new(8, 4).with_layout(LinearLayout::Col).init(&device);
/// let row = nninit_burn::reinit(&row, &InitSpec::preset("torch", 0))?;
/// let col = nninit_burn::reinit(&col, &InitSpec::preset("torch", 0))?;
/// // nn.Linear(8, 4) after torch.manual_seed(0), in burn's [in, out] view, whatever the layout:
/// assert_eq!(row.weight.val().dims(), [8, 4]);
/// assert_eq!(row.weight.val().into_data(), col.weight.val().into_data());
/// # Ok::<(), nninit::Error>(())
/// ```
///
/// # Errors
/// An unknown preset; a user rule that selects nothing; a parameter of a known burn layer whose
/// shape does not fit the PyTorch layer, or of no known layer and matched by no plan rule (both
/// named by burn path and shape); an LSTM without PyTorch's four gates; a parameter of a dtype
/// nninit cannot draw. On error `module` is not changed (it is taken by reference; the
/// initialized copy is returned only on success).
pub fn reinit<M: Module>(module: &M, spec: &InitSpec) -> Result<M> {
    let mut collect = Collect::default();
    module.visit(&mut collect);
    let Collect { params, dtypes, .. } = collect;
    let (nodes, sources) = layout::describe(&params)?;
    let dtype = most_common(&params, &dtypes)?;
    let mut model = adapter::model_from_nodes(&nodes, dtype)?;
    let values: BTreeMap<String, nninit::Tensor> = adapter::draw(&mut model, spec)?.into_iter().collect();
    let mut ready = HashMap::new();
    for p in &params {
        let path = p.path();
        let Some(Source { name, rows, transpose }) = sources.get(&path) else { continue };
        let value = values.get(name).ok_or_else(|| {
            Error::value(format!("PyTorch's model has no `{name}` for this parameter")).at(&path, &p.shape)
        })?;
        let (data, shape) = slice(value, *rows);
        let burn_shape: Vec<usize> = if *transpose { shape.iter().rev().copied().collect() } else { shape };
        if burn_shape != p.shape {
            return Err(Error::value(format!("PyTorch's `{name}` gives shape {burn_shape:?}")).at(&path, &p.shape));
        }
        ready.insert(path, Ready { data, transpose: *transpose });
    }
    let mut assign = Assign { stack: Vec::new(), values: ready };
    Ok(module.clone().map(&mut assign))
}

fn most_common(params: &[BurnParam], dtypes: &[DType]) -> Result<nninit::DType> {
    let mut counts: BTreeMap<String, (usize, nninit::DType)> = BTreeMap::new();
    for (p, d) in params.iter().zip(dtypes) {
        if matches!(p.stack.last().map(|(n, _)| n.as_str()), Some("running_mean" | "running_var")) {
            continue;
        }
        let d = to_nninit_dtype(p, *d)?;
        counts.entry(d.to_string()).or_insert((0, d)).0 += 1;
    }
    Ok(counts.values().max_by_key(|(n, _)| *n).map_or(nninit::DType::F32, |(_, d)| *d))
}
