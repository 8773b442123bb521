//! The module tree: an arena of modules with PyTorch's traversal (`children`, `modules`,
//! `named_parameters`, `state_dict`, `apply`), all iterative.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use super::layer::{Layer, Role, Slot};
use crate::error::{Error, Result};
use crate::init::Init;
use crate::tensor::{DType, Data, Tensor};

/// A module's index in its [`Model`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ModuleId(pub usize);

/// A tensor's index in its [`Model`] (tied parameters share one).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TensorId(pub usize);

/// Whether a registered tensor is a parameter (`parameters()`, re-initialized by plans) or a
/// buffer (`state_dict` only: running statistics, counters, masks).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SlotKind {
    /// `register_parameter`.
    Parameter,
    /// `register_buffer`.
    Buffer,
}

/// A parameter or buffer registered on a module.
#[derive(Clone, Debug)]
pub struct Registered {
    /// Name within the module.
    pub name: String,
    /// The tensor (shared when tied).
    pub tensor: TensorId,
    /// What it is for.
    pub role: Role,
    /// A buffer rather than a parameter.
    pub buffer: bool,
}

/// Who asked for an init: the layer's constructor (`reset_parameters()`) or a rule after it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Origin {
    /// The layer's default init, drawn at construction ([`Layer::reset_inits`]).
    LayerDefault,
    /// An init asked for after construction (a model's own re-initialization, a plan rule).
    Rule,
    /// Copied from an existing checkpoint ([`Model::copy_from_checkpoint`],
    /// [`Model::copy_when_written`]).
    Copied,
    /// Rows `[0, rows)` (of dim 0) copied from an existing checkpoint that has only those, the
    /// rows after them added (a grown vocabulary, [`Model::grow_when_written`]): drawn by the
    /// provenance's init, or by `mean_resizing` when it has none.
    Grown {
        /// Rows copied.
        rows: usize,
    },
}

/// How a tensor was last initialized.
#[derive(Clone, Debug, PartialEq)]
pub struct Provenance {
    /// The init (`None`: `keep_()`, the tensor keeps the values it was given); shared with the
    /// events that recorded it.
    pub init: Option<Arc<Init>>,
    /// Whether it was the layer's default init at construction.
    pub origin: Origin,
    /// Rows (of dim 0) set to zero after the init (Embedding padding rows).
    pub zeroed_rows: Vec<usize>,
    /// Parts initialized afterwards, in order (a recurrent gate's rows, by a `gate` rule).
    pub parts: Vec<Part>,
}

/// A contiguous part of a tensor initialized on its own: elements `[start, start + numel(shape))`.
#[derive(Clone, Debug, PartialEq)]
pub struct Part {
    /// First element (row-major).
    pub start: usize,
    /// The part's shape (what its init's fans are computed from).
    pub shape: Vec<usize>,
    /// The init.
    pub init: Arc<Init>,
}

/// One module: its layer kind, its own parameters and buffers, and its named children.
#[derive(Clone, Debug)]
pub struct Module {
    /// Kind and configuration.
    pub layer: Layer,
    /// Own parameters and buffers, in registration order.
    pub slots: Vec<Registered>,
    /// Named children, in registration order (a child may appear under several parents).
    pub children: Vec<(String, ModuleId)>,
}

/// A model: modules and tensors in arenas, with one root, and the log of inits its tensors
/// received.
///
/// Like `torch.nn.Module`, a module may be shared by several parents and a tensor by several
/// modules (tied weights). Traversals use explicit stacks, so a chain of 100,000 nested
/// containers works, and dropping a model is flat.
///
/// **Record, then fill.** Building a model and applying rules draws nothing: every init is
/// recorded as an [`Event`], in the order PyTorch would run it. Values exist only after
/// [`Model::materialize`] (in memory) or when a checkpoint is written
/// ([`crate::job::Outcome::save`], chunk by chunk). Both replay the same events on the chosen
/// stream, so one recipe gives PyTorch's values (`Stream::Torch`) or the counter-based ones
/// (`Stream::Philox`).
///
/// ```
/// use nninit::init::Init;
/// use nninit::nn::{Layer, Model};
/// use nninit::rng::Stream;
/// use nninit::DType;
///
/// let mut model = Model::new(DType::F32);
/// let fc = model.add(Layer::linear(4, 2))?;          // records kaiming_uniform_(a=√5), uniform_
/// model.set_root(fc)?;
/// model.apply(|mut m| m.init("bias", &Init::Zeros))?;  // records zeros_() for the bias
/// model.materialize(Stream::Torch, 0)?;                // torch.manual_seed(0); values drawn
/// let (name, bias) = &model.named_parameters()[1];
/// assert_eq!(name, "bias");
/// assert_eq!(model.tensor(*bias).to_f64_vec(), vec![0.0, 0.0]);
/// # Ok::<(), nninit::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct Model {
    modules: Vec<Module>,
    tensors: Vec<Tensor>,
    /// How each tensor was last initialized, by index.
    provenance: Vec<Option<Provenance>>,
    root: Option<ModuleId>,
    dtype: DType,
    events: Vec<Event>,
    /// Whether every tensor holds the values its events give (see [`Model::materialize`]).
    materialized: bool,
    /// The inits recorded last, with their `Debug` text: an init equal to one of them (bit for
    /// bit) is shared, so a model of many alike layers stores each distinct init once.
    recent_inits: Vec<(Arc<Init>, String)>,
}

/// What an [`Event`] writes.
#[derive(Clone, Debug, PartialEq)]
pub enum Fill {
    /// An init, drawn when the model is materialized (one allocation shared by the events and
    /// provenance that record the same init).
    Init(Arc<Init>),
    /// The values another tensor holds at this point (`copy.deepcopy` of a layer): no draws on
    /// PyTorch's stream; on the counter-based stream the source's init, keyed by this tensor's
    /// own name.
    CopyOf(TensorId),
    /// The values the tensor was given (a checkpoint's, by `keep_()`): no draws.
    Keep,
}

/// One init of a tensor, recorded in the order it ran: PyTorch's stream draws for every event,
/// and a tensor's value is that of its last whole event followed by the ranged ones after it.
#[derive(Clone, Debug, PartialEq)]
pub struct Event {
    /// The tensor.
    pub tensor: TensorId,
    /// Rows `[start, end)` of dim 0 that the event writes (`None`: the whole tensor). A ranged
    /// init's fans are those of the rows' shape (a recurrent gate, an Embedding's padding row).
    pub rows: Option<std::ops::Range<usize>>,
    /// What it writes.
    pub fill: Fill,
}

/// A model's recordings at one point ([`Model::mark`]).
pub(crate) struct Mark {
    events: usize,
    provenance: Vec<Option<Provenance>>,
    materialized: bool,
}

/// One step of a traversal: a module reached from its parent frame under `name`. Paths are
/// rebuilt from the frames only when asked for, so walking a 100,000-deep chain stays linear.
struct Frame {
    id: ModuleId,
    parent: Option<usize>,
    name: String,
}

/// The dotted path of frame `i`.
fn frame_path(frames: &[Frame], mut i: usize) -> String {
    let mut parts = Vec::new();
    while let Some(p) = frames[i].parent {
        parts.push(frames[i].name.as_str());
        i = p;
    }
    parts.reverse();
    parts.join(".")
}

/// Where a [`ModuleMut`] sits: a fixed path, or a frame of a running traversal.
enum Place<'a> {
    Path(&'a str),
    Frame(&'a [Frame], usize),
}

impl Place<'_> {
    fn path(&self) -> String {
        match self {
            Place::Path(p) => p.to_string(),
            Place::Frame(frames, i) => frame_path(frames, *i),
        }
    }
}

fn join(prefix: &str, name: &str) -> String {
    if prefix.is_empty() {
        name.to_string()
    } else {
        format!("{prefix}.{name}")
    }
}

impl Model {
    /// An empty model whose new parameters have dtype `dtype` (like passing `dtype=` to every
    /// layer constructor; PyTorch's default is f32).
    pub fn new(dtype: DType) -> Self {
        Model {
            modules: Vec::new(),
            tensors: Vec::new(),
            provenance: Vec::new(),
            root: None,
            dtype,
            events: Vec::new(),
            materialized: false,
            recent_inits: Vec::new(),
        }
    }

    /// `init`, shared with an equal init recorded shortly before (equal, and the same `Debug`
    /// text: `-0.0` and `0.0` differ; a NaN argument is never shared), else newly allocated.
    fn shared(&mut self, init: &Init) -> Arc<Init> {
        const RECENT: usize = 16;
        let text = format!("{init:?}");
        if let Some((shared, _)) = self.recent_inits.iter().find(|(a, t)| **a == *init && *t == text) {
            return Arc::clone(shared);
        }
        let shared = Arc::new(init.clone());
        if self.recent_inits.len() == RECENT {
            self.recent_inits.remove(0);
        }
        self.recent_inits.push((Arc::clone(&shared), text));
        shared
    }

    /// Whether every tensor holds the values its recorded inits give ([`Model::materialize`]
    /// ran, and nothing was recorded since).
    pub fn is_materialized(&self) -> bool {
        self.materialized
    }

    /// The recorded inits, in the order they ran.
    pub fn events(&self) -> &[Event] {
        &self.events
    }

    /// The state recordings change (events are only appended; provenance is replaced), saved so
    /// that a set of recordings can be undone ([`Model::rollback`]) without copying the module
    /// tree.
    pub(crate) fn mark(&self) -> Mark {
        Mark { events: self.events.len(), provenance: self.provenance.clone(), materialized: self.materialized }
    }

    /// Undoes the recordings made since `mark` (inits, `keep_()`, zeroed rows, ranged inits).
    pub(crate) fn rollback(&mut self, mark: Mark) {
        self.events.truncate(mark.events);
        self.provenance = mark.provenance;
        self.materialized = mark.materialized;
    }

    /// Frees the spare capacity the growth of the recordings and arenas left.
    pub(crate) fn shrink_to_fit(&mut self) {
        self.events.shrink_to_fit();
        self.provenance.shrink_to_fit();
        self.modules.shrink_to_fit();
        self.tensors.shrink_to_fit();
    }

    fn push_event(&mut self, event: Event) {
        self.events.push(event);
        self.materialized = false;
    }

    /// The dtype new parameters get.
    pub fn dtype(&self) -> DType {
        self.dtype
    }

    /// Adds `layer`, constructing it as PyTorch does: built-in children first (e.g.
    /// `MultiheadAttention.out_proj`), then its parameters with their default init
    /// ([`Layer::reset_inits`]), recorded in PyTorch's order. The new module is not attached to
    /// any parent: see [`Model::add_child`].
    ///
    /// ```
    /// use nninit::nn::{Layer, Model};
    /// let mut model = Model::new(nninit::DType::F32);
    /// let conv = model.add(Layer::conv(3, 8, &[3, 3]))?;
    /// assert_eq!(model.module(conv).slots.len(), 2);      // weight [8, 3, 3, 3], bias [8]
    /// assert_eq!(model.events().len(), 2);                 // their default inits, in order
    /// # Ok::<(), nninit::Error>(())
    /// ```
    ///
    /// # Errors
    /// PyTorch's constructor errors ([`Layer::validate`]); a shape too large to address.
    pub fn add(&mut self, layer: Layer) -> Result<ModuleId> {
        layer.validate()?;
        let mut children = Vec::new();
        for (name, child) in layer.builtin_children() {
            children.push((name.to_string(), self.add(child)?));
        }
        let slots = layer.slots();
        let id = self.add_with_slots(layer, &slots)?;
        self.modules[id.0].children = children;
        self.reset_parameters(id)?;
        Ok(id)
    }

    /// Adds a module with the given slots and no recorded init (zeros once materialized;
    /// `running_var`-style defaults are left to the caller). For user-defined layers.
    ///
    /// # Errors
    /// A shape too large to address.
    pub fn add_with_slots(&mut self, layer: Layer, slots: &[Slot]) -> Result<ModuleId> {
        let mut registered = Vec::with_capacity(slots.len());
        for s in slots {
            let tensor = if s.int64 {
                let n: usize = s.shape.iter().product();
                Tensor::new(&s.shape, Data::Other { dtype: safetensors::Dtype::I64, bytes: vec![0; 8 * n] })?
            } else {
                self.new_tensor(&s.shape).map_err(|e| e.at(&s.name, &s.shape))?
            };
            self.tensors.push(tensor);
            self.provenance.push(None);
            registered.push(Registered {
                name: s.name.clone(),
                tensor: TensorId(self.tensors.len() - 1),
                role: s.role,
                buffer: s.buffer,
            });
        }
        self.modules.push(Module { layer, slots: registered, children: Vec::new() });
        Ok(ModuleId(self.modules.len() - 1))
    }

    /// A new float tensor of `shape` in the model's dtype, without values until the model is
    /// materialized. Errors: a shape whose element count overflows.
    pub fn new_tensor(&self, shape: &[usize]) -> Result<Tensor> {
        shape
            .iter()
            .try_fold(self.dtype.size(), |n, &d| n.checked_mul(d))
            .filter(|&bytes| bytes <= isize::MAX as usize)
            .ok_or_else(|| Error::value(format!("shape {shape:?} of {} is too large", self.dtype)))?;
        Ok(Tensor::meta(shape, self.dtype))
    }

    /// Registers a new tensor on module `id` as `name` (`register_parameter` /
    /// `register_buffer`). Errors: unknown module, or a name the module already has.
    pub fn register(
        &mut self,
        id: ModuleId,
        name: &str,
        tensor: Tensor,
        role: Role,
        kind: SlotKind,
    ) -> Result<TensorId> {
        self.check(id)?;
        if self.modules[id.0].slots.iter().any(|s| s.name == name) {
            return Err(Error::value(format!("attribute `{name}` already exists")));
        }
        self.tensors.push(tensor);
        self.provenance.push(None);
        let tensor = TensorId(self.tensors.len() - 1);
        self.modules[id.0].slots.push(Registered {
            name: name.to_string(),
            tensor,
            role,
            buffer: kind == SlotKind::Buffer,
        });
        Ok(tensor)
    }

    /// Adds a parameterless container (`Sequential`, `ModuleList`, a `Custom` module) with the
    /// given children, named `0, 1, ...` for `Sequential`/`ModuleList` when `names` is `None`.
    pub fn container(&mut self, layer: Layer, children: &[ModuleId]) -> ModuleId {
        self.modules.push(Module { layer, slots: Vec::new(), children: Vec::new() });
        let id = ModuleId(self.modules.len() - 1);
        for (i, &c) in children.iter().enumerate() {
            self.modules[id.0].children.push((i.to_string(), c));
        }
        id
    }

    /// `nn.Sequential(*children)`.
    pub fn sequential(&mut self, children: &[ModuleId]) -> ModuleId {
        self.container(Layer::Sequential, children)
    }

    /// Registers `child` under `parent` as `name` (`setattr(parent, name, child)`).
    /// Errors: an unknown module id.
    pub fn add_child(&mut self, parent: ModuleId, name: &str, child: ModuleId) -> Result<()> {
        self.check(child)?;
        self.module_mut_raw(parent)?.children.push((name.to_string(), child));
        Ok(())
    }

    /// Makes `parent.name` refer to the tensor of `source_module.source_name` (weight tying, as
    /// `lm_head.weight = wte.weight`). Errors: unknown module or parameter.
    pub fn tie(&mut self, module: ModuleId, name: &str, source_module: ModuleId, source_name: &str) -> Result<()> {
        let src = self.slot(source_module, source_name)?.tensor;
        let m = self.module_mut_raw(module)?;
        let slot = m
            .slots
            .iter_mut()
            .find(|s| s.name == name)
            .ok_or_else(|| Error::value(format!("module has no parameter `{name}`")))?;
        slot.tensor = src;
        Ok(())
    }

    /// Sets the root module, from which the traversals start.
    pub fn set_root(&mut self, root: ModuleId) -> Result<()> {
        self.check(root)?;
        self.root = Some(root);
        Ok(())
    }

    /// The root (the last module added if none was set).
    pub fn root(&self) -> Option<ModuleId> {
        self.root.or_else(|| self.modules.len().checked_sub(1).map(ModuleId))
    }

    fn check(&self, id: ModuleId) -> Result<()> {
        if id.0 < self.modules.len() {
            Ok(())
        } else {
            Err(Error::value(format!("no module with id {}", id.0)))
        }
    }

    fn module_mut_raw(&mut self, id: ModuleId) -> Result<&mut Module> {
        self.check(id)?;
        Ok(&mut self.modules[id.0])
    }

    fn slot(&self, id: ModuleId, name: &str) -> Result<&Registered> {
        self.check(id)?;
        self.modules[id.0]
            .slots
            .iter()
            .find(|s| s.name == name)
            .ok_or_else(|| Error::value(format!("{} has no parameter `{name}`", self.modules[id.0].layer.type_name())))
    }

    /// The module `id`. Panics on an id from another model.
    pub fn module(&self, id: ModuleId) -> &Module {
        &self.modules[id.0]
    }

    /// A tensor by id.
    pub fn tensor(&self, id: TensorId) -> &Tensor {
        &self.tensors[id.0]
    }

    /// How tensor `id` was last initialized through [`Model::add`] or [`ModuleMut::init`]
    /// (`None`: written directly, or never).
    pub fn provenance(&self, id: TensorId) -> Option<&Provenance> {
        self.provenance.get(id.0).and_then(Option::as_ref)
    }

    /// Records that row `row` (along dim 0) of tensor `id` is set to zero after its init (an
    /// Embedding's padding row), and notes it in the tensor's provenance. A row past the end is
    /// ignored.
    ///
    /// # Errors
    /// A non-float tensor.
    pub fn zero_row(&mut self, id: TensorId, row: usize) -> Result<()> {
        let rows = self.tensors[id.0].shape().first().copied().unwrap_or(0);
        if row < rows {
            self.record_rows(id, row..row + 1, &Init::Zeros)?;
        }
        if let Some(p) = self.provenance[id.0].as_mut() {
            p.zeroed_rows.push(row);
        }
        Ok(())
    }

    /// Records `init` for tensor `id` (checking its arguments against the shape and dtype now;
    /// values are drawn when the model is materialized), and sets the tensor's provenance. Until
    /// the next [`Model::materialize`], the tensor holds the values of the last one (if any).
    ///
    /// # Errors
    /// The init's errors (not wrapped with a path); a non-float tensor.
    pub fn init_tensor(&mut self, id: TensorId, init: &Init, origin: Origin) -> Result<()> {
        self.record_init(id, init, origin).map(|_| ())
    }

    /// [`Model::init_tensor`], returning the init as recorded (shared with its event).
    fn record_init(&mut self, id: TensorId, init: &Init, origin: Origin) -> Result<Arc<Init>> {
        let t = &self.tensors[id.0];
        let dtype =
            t.dtype().ok_or_else(|| Error::DType { op: "init", dtype: format!("{:?}", t.safetensors_dtype()) })?;
        init.draw(t.shape(), dtype)?;
        let init = self.shared(init);
        self.push_event(Event { tensor: id, rows: None, fill: Fill::Init(Arc::clone(&init)) });
        let provenance =
            Provenance { init: Some(Arc::clone(&init)), origin, zeroed_rows: Vec::new(), parts: Vec::new() };
        self.provenance[id.0] = Some(provenance);
        Ok(init)
    }

    /// `constant_(tensor, val)` on tensor `id`, recorded as `ones_`, `zeros_` or `constant_`.
    ///
    /// # Errors
    /// As [`Model::init_tensor`].
    pub fn constant(&mut self, id: TensorId, val: f64, origin: Origin) -> Result<()> {
        let init = match val {
            1.0 => Init::Ones,
            0.0 if val.is_sign_positive() => Init::Zeros,
            _ => Init::Constant { val },
        };
        self.init_tensor(id, &init, origin)
    }

    /// Records `init` for rows `rows` (of dim 0) of tensor `id` alone, its fans computed from the
    /// rows' shape (a recurrent gate's rows), and notes it in the tensor's provenance.
    ///
    /// # Errors
    /// Rows past the end; the init's errors for the rows' shape; a non-float tensor.
    pub fn init_rows(&mut self, id: TensorId, rows: std::ops::Range<usize>, init: &Init) -> Result<()> {
        let (start, shape, init) = self.record_rows(id, rows, init)?;
        if let Some(p) = self.provenance[id.0].as_mut() {
            p.parts.push(Part { start, shape, init });
        }
        Ok(())
    }

    /// Records a ranged event; returns the rows' first element and shape, and the init as
    /// recorded.
    fn record_rows(
        &mut self,
        id: TensorId,
        rows: std::ops::Range<usize>,
        init: &Init,
    ) -> Result<(usize, Vec<usize>, Arc<Init>)> {
        let t = &self.tensors[id.0];
        let dtype =
            t.dtype().ok_or_else(|| Error::DType { op: "init", dtype: format!("{:?}", t.safetensors_dtype()) })?;
        let shape = t.shape();
        if rows.start > rows.end || shape.first().is_none_or(|&n| rows.end > n) {
            return Err(Error::value(format!("rows {rows:?} are outside shape {shape:?}")));
        }
        let mut part_shape = shape.to_vec();
        part_shape[0] = rows.len();
        init.draw(&part_shape, dtype)?;
        let start = rows.start * shape[1..].iter().product::<usize>();
        let init = self.shared(init);
        self.push_event(Event { tensor: id, rows: Some(rows), fill: Fill::Init(Arc::clone(&init)) });
        Ok((start, part_shape, init))
    }

    /// Records that tensor `id` keeps the values it was given (`keep_()`): whatever earlier
    /// inits recorded still draw (on PyTorch's stream), but the tensor's final values are its
    /// own. The values must be there when the model is materialized or saved: a tensor
    /// registered with values, or a checkpoint's (loaded by [`crate::job::run`] for `--like`).
    ///
    /// # Errors
    /// An unknown tensor id.
    pub fn keep(&mut self, id: TensorId) -> Result<()> {
        if id.0 >= self.tensors.len() {
            return Err(Error::value(format!("no tensor with id {}", id.0)));
        }
        self.push_event(Event { tensor: id, rows: None, fill: Fill::Keep });
        self.provenance[id.0] =
            Some(Provenance { init: None, origin: Origin::Rule, zeroed_rows: Vec::new(), parts: Vec::new() });
        Ok(())
    }

    /// Gives tensor `id` the values `values` (of its shape and dtype) in place of every init
    /// recorded for it, as `from_pretrained` does with a loaded weight: those inits draw nothing
    /// any more (on PyTorch's stream the other tensors' values are those of a generator that
    /// never drew them), and the tensor is reported as copied.
    ///
    /// # Errors
    /// A shape or dtype other than the tensor's; a tensor another one is copied from (its
    /// values at the copy would change).
    pub fn copy_from_checkpoint(&mut self, id: TensorId, values: Tensor) -> Result<()> {
        let t = &self.tensors[id.0];
        if t.shape() != values.shape() || t.safetensors_dtype() != values.safetensors_dtype() {
            return Err(Error::value(format!(
                "cannot load a {:?} {:?} tensor into a {:?} {:?} one",
                values.safetensors_dtype(),
                values.shape(),
                t.safetensors_dtype(),
                t.shape()
            )));
        }
        self.take_over(id, None, Origin::Copied)?;
        self.tensors[id.0] = values;
        Ok(())
    }

    /// [`Model::copy_from_checkpoint`] without the values: they are read from the checkpoint
    /// when the model is written ([`crate::job::run_from`]'s outcome streams them chunk by chunk
    /// into the output), so the model holds none of them. Materializing the model in memory
    /// fails for this tensor (it has no values to keep).
    ///
    /// ```
    /// let mut model = nninit::arch::mlp(&[4, 2], nninit::DType::F32)?;
    /// let (_, w) = model.named_parameters()[0].clone();
    /// model.copy_when_written(w)?;
    /// assert_eq!(model.provenance(w).unwrap().origin, nninit::nn::Origin::Copied);
    /// assert!(model.materialize(nninit::rng::Stream::Torch, 0).is_err());
    /// # Ok::<(), nninit::Error>(())
    /// ```
    ///
    /// # Errors
    /// A tensor another one is copied from.
    pub fn copy_when_written(&mut self, id: TensorId) -> Result<()> {
        self.take_over(id, None, Origin::Copied)
    }

    /// Records that the first `rows` rows (of dim 0) of tensor `id` are read from a checkpoint
    /// when the model is written and the rows after them added, as `resize_token_embeddings`
    /// grows a vocabulary: drawn by the tensor's current init (`mean_resizing` false), or from
    /// the old rows' mean and covariance (true; see [`crate::base`]). Every init recorded for
    /// the tensor is dropped, as for a copied tensor.
    ///
    /// # Errors
    /// `rows` not below the tensor's first dimension; a tensor another one is copied from; with
    /// `mean_resizing` false, a tensor without an init to draw the new rows from.
    pub fn grow_when_written(&mut self, id: TensorId, rows: usize, mean_resizing: bool) -> Result<()> {
        let shape = self.tensors[id.0].shape();
        if shape.first().is_none_or(|&n| rows >= n) {
            return Err(Error::value(format!("cannot grow a tensor of shape {shape:?} from {rows} rows")));
        }
        let init = match mean_resizing {
            true => None,
            false => Some(
                self.provenance(id)
                    .and_then(|p| p.init.clone())
                    .ok_or_else(|| Error::value("the tensor has no init to draw its new rows from"))?,
            ),
        };
        self.take_over(id, init, Origin::Grown { rows })
    }

    /// Drops every init recorded for `id` (its values come from elsewhere) and sets its
    /// provenance.
    fn take_over(&mut self, id: TensorId, init: Option<Arc<Init>>, origin: Origin) -> Result<()> {
        if self.events.iter().any(|e| e.fill == Fill::CopyOf(id)) {
            return Err(Error::value("a tensor other tensors are copied from cannot be loaded"));
        }
        self.events.retain(|e| e.tensor != id);
        self.push_event(Event { tensor: id, rows: None, fill: Fill::Keep });
        self.provenance[id.0] = Some(Provenance { init, origin, zeroed_rows: Vec::new(), parts: Vec::new() });
        Ok(())
    }

    /// Drops every recorded init a later whole init of the same tensor overwrites (a layer's
    /// construction default under the model's own initialization), so that only final values
    /// draw: `from_pretrained` builds the model without drawing and initializes the missing
    /// weights once. Tensors other tensors are copied from keep all their inits.
    pub fn drop_superseded_inits(&mut self) {
        let sources: std::collections::HashSet<TensorId> = self
            .events
            .iter()
            .filter_map(|e| match e.fill {
                Fill::CopyOf(s) => Some(s),
                _ => None,
            })
            .collect();
        let mut last_whole = std::collections::HashMap::new();
        for (i, e) in self.events.iter().enumerate() {
            if e.rows.is_none() {
                last_whole.insert(e.tensor, i);
            }
        }
        let mut i = 0;
        self.events.retain(|e| {
            let keep = sources.contains(&e.tensor) || last_whole.get(&e.tensor).is_none_or(|&w| i >= w);
            i += 1;
            keep
        });
    }

    /// Records that tensor `id` takes the values tensor `source` holds at this point
    /// (`copy.deepcopy`); its provenance becomes the source's.
    ///
    /// # Errors
    /// Shapes or dtypes that differ.
    pub fn copy_tensor(&mut self, id: TensorId, source: TensorId) -> Result<()> {
        let (t, s) = (&self.tensors[id.0], &self.tensors[source.0]);
        if t.shape() != s.shape() || t.safetensors_dtype() != s.safetensors_dtype() {
            return Err(Error::value(format!(
                "cannot copy a {:?} {:?} tensor into a {:?} {:?} one",
                s.safetensors_dtype(),
                s.shape(),
                t.safetensors_dtype(),
                t.shape()
            )));
        }
        if s.dtype().is_none() {
            // Integer buffers hold their values from the start.
            self.tensors[id.0] = self.tensors[source.0].clone();
        } else {
            self.tensors[id.0] = Tensor::meta(s.shape(), s.dtype().unwrap_or(self.dtype));
            self.push_event(Event { tensor: id, rows: None, fill: Fill::CopyOf(source) });
        }
        self.provenance[id.0] = self.provenance[source.0].clone();
        Ok(())
    }

    /// A tensor by id, mutable.
    pub fn tensor_mut(&mut self, id: TensorId) -> &mut Tensor {
        &mut self.tensors[id.0]
    }

    /// `named_children()`: direct children, each distinct module once, in registration order.
    pub fn named_children(&self, id: ModuleId) -> Vec<(String, ModuleId)> {
        let mut seen = HashSet::new();
        self.modules[id.0].children.iter().filter(|(_, c)| seen.insert(*c)).cloned().collect()
    }

    /// `children()`.
    pub fn children(&self, id: ModuleId) -> Vec<ModuleId> {
        self.named_children(id).into_iter().map(|(_, c)| c).collect()
    }

    /// `named_modules()` from `from`: pre-order, `from` first (named `""`), each distinct module
    /// once under the first name it is reached by.
    pub fn named_modules_of(&self, from: ModuleId) -> Vec<(String, ModuleId)> {
        let mut out = Vec::new();
        self.pre_order(from, |frames, i| out.push((frame_path(frames, i), frames[i].id)));
        out
    }

    /// Visits each distinct module reachable from `from` once, pre-order, with the frames to
    /// rebuild its path on demand (so a walk that names few modules stays linear in depth).
    fn pre_order(&self, from: ModuleId, mut visit: impl FnMut(&[Frame], usize)) {
        let mut seen = HashSet::new();
        let mut frames = vec![Frame { id: from, parent: None, name: String::new() }];
        let mut stack = vec![0];
        while let Some(i) = stack.pop() {
            let id = frames[i].id;
            if !seen.insert(id) {
                continue;
            }
            visit(&frames, i);
            for (name, child) in self.modules[id.0].children.iter().rev() {
                frames.push(Frame { id: *child, parent: Some(i), name: name.clone() });
                stack.push(frames.len() - 1);
            }
        }
    }

    /// `named_modules()` from the root.
    pub fn named_modules(&self) -> Vec<(String, ModuleId)> {
        self.root().map(|r| self.named_modules_of(r)).unwrap_or_default()
    }

    /// `modules()` from the root: pre-order, root first, each distinct module once (the order of
    /// [`Model::named_modules`], without building names).
    pub fn modules(&self) -> Vec<ModuleId> {
        let mut seen = HashSet::new();
        let mut out = Vec::new();
        let mut stack: Vec<ModuleId> = self.root().into_iter().collect();
        while let Some(id) = stack.pop() {
            if seen.insert(id) {
                stack.extend(self.modules[id.0].children.iter().rev().map(|(_, c)| *c));
                out.push(id);
            }
        }
        out
    }

    fn named_slots(&self, buffers: bool) -> Vec<(String, TensorId)> {
        let mut seen = HashSet::new();
        let mut out = Vec::new();
        let Some(root) = self.root() else { return out };
        self.pre_order(root, |frames, i| {
            let slots = &self.modules[frames[i].id.0].slots;
            if slots.iter().any(|s| s.buffer == buffers) {
                let prefix = frame_path(frames, i);
                for s in slots {
                    if s.buffer == buffers && seen.insert(s.tensor) {
                        out.push((join(&prefix, &s.name), s.tensor));
                    }
                }
            }
        });
        out
    }

    /// `named_parameters()`: per module in `modules()` order, its own parameters; each distinct
    /// tensor once (a tied weight appears under its first name).
    pub fn named_parameters(&self) -> Vec<(String, TensorId)> {
        self.named_slots(false)
    }

    /// `parameters()`.
    pub fn parameters(&self) -> Vec<TensorId> {
        self.named_parameters().into_iter().map(|(_, t)| t).collect()
    }

    /// `named_buffers()`.
    pub fn named_buffers(&self) -> Vec<(String, TensorId)> {
        self.named_slots(true)
    }

    /// `state_dict()` keys and tensors: for each module (depth first, as PyTorch recurses), its
    /// parameters, then its buffers, then its children. Shared modules and tied tensors appear
    /// under every name, as in PyTorch.
    pub fn state_dict(&self) -> Vec<(String, TensorId)> {
        let mut out = Vec::new();
        let Some(root) = self.root() else { return out };
        let mut frames = vec![Frame { id: root, parent: None, name: String::new() }];
        let mut stack = vec![0];
        while let Some(f) = stack.pop() {
            let m = &self.modules[frames[f].id.0];
            if !m.slots.is_empty() {
                let prefix = frame_path(&frames, f);
                for buffers in [false, true] {
                    for s in m.slots.iter().filter(|s| s.buffer == buffers) {
                        out.push((join(&prefix, &s.name), s.tensor));
                    }
                }
            }
            for (name, child) in m.children.iter().rev() {
                frames.push(Frame { id: *child, parent: Some(f), name: name.clone() });
                stack.push(frames.len() - 1);
            }
        }
        out
    }

    /// `apply(fn)`: calls `f` on every module, children before their parent (post-order), and
    /// like PyTorch once per parent for a module registered under several parents. `f` receives
    /// a [`ModuleMut`] carrying the path it was reached by. Stops at the first error.
    pub fn apply(&mut self, mut f: impl FnMut(ModuleMut<'_>) -> Result<()>) -> Result<()> {
        let Some(root) = self.root() else { return Ok(()) };
        let mut frames = vec![Frame { id: root, parent: None, name: String::new() }];
        // (frame, children already pushed?)
        let mut stack = vec![(0, false)];
        while let Some((i, expanded)) = stack.pop() {
            let id = frames[i].id;
            if expanded {
                f(ModuleMut { model: self, id, place: Place::Frame(&frames, i) })?;
                continue;
            }
            stack.push((i, true));
            for (name, child) in self.named_children(id).into_iter().rev() {
                frames.push(Frame { id: child, parent: Some(i), name });
                stack.push((frames.len() - 1, false));
            }
        }
        Ok(())
    }

    /// A mutable handle on module `id`, reported under `path` in errors.
    pub fn module_mut<'a>(&'a mut self, id: ModuleId, path: &'a str) -> ModuleMut<'a> {
        ModuleMut { model: self, id, place: Place::Path(path) }
    }

    /// Re-runs the layer's default init ([`Layer::reset_inits`]) on module `id`.
    pub fn reset_parameters(&mut self, id: ModuleId) -> Result<()> {
        let layer = self.modules[id.0].layer.clone();
        // The module's own slots by name: an RNN of many layers has hundreds of thousands, and a
        // search per init would be quadratic.
        let own: HashMap<String, TensorId> =
            self.modules[id.0].slots.iter().map(|s| (s.name.clone(), s.tensor)).collect();
        for (name, init) in layer.reset_inits() {
            let tensor = match name.split_once('.') {
                Some((child, slot)) => {
                    let c = self.modules[id.0].children.iter().find(|(n, _)| n == child).map(|(_, c)| *c);
                    self.slot(c.ok_or_else(|| Error::value(format!("missing child `{child}`")))?, slot)?.tensor
                }
                None => match own.get(&name) {
                    Some(&t) => t,
                    None => self.slot(id, &name)?.tensor,
                },
            };
            self.init_tensor(tensor, &init, Origin::LayerDefault)?;
        }
        if let Some(row) = layer.padding_row() {
            let weight = self.slot(id, "weight")?.tensor;
            self.zero_row(weight, row)?;
        }
        Ok(())
    }

    /// Number of tensors in the arena (including tensors outside the `state_dict`).
    pub fn tensor_count(&self) -> usize {
        self.tensors.len()
    }

    pub(crate) fn set_materialized(&mut self) {
        self.materialized = true;
    }

    /// Number of modules in the arena.
    pub fn len(&self) -> usize {
        self.modules.len()
    }

    /// Whether the model has no modules.
    pub fn is_empty(&self) -> bool {
        self.modules.is_empty()
    }
}

/// A mutable handle on one module, as given to [`Model::apply`]'s function.
pub struct ModuleMut<'a> {
    model: &'a mut Model,
    id: ModuleId,
    place: Place<'a>,
}

impl ModuleMut<'_> {
    /// The layer (match on it like `isinstance`).
    pub fn layer(&self) -> &Layer {
        &self.model.modules[self.id.0].layer
    }

    /// The module's id.
    pub fn id(&self) -> ModuleId {
        self.id
    }

    /// The dotted path the module was reached by (`""` for the root); built on demand.
    pub fn path(&self) -> String {
        self.place.path()
    }

    /// The module's own parameters and buffers.
    pub fn slots(&self) -> &[Registered] {
        &self.model.modules[self.id.0].slots
    }

    /// Whether the module registers a parameter or buffer `name` (a Linear built with
    /// `bias=False` has no `bias`).
    pub fn has(&self, name: &str) -> bool {
        self.slots().iter().any(|s| s.name == name)
    }

    /// The tensor `name`, if registered.
    pub fn tensor(&self, name: &str) -> Option<&Tensor> {
        let s = self.slots().iter().find(|s| s.name == name)?;
        Some(self.model.tensor(s.tensor))
    }

    /// The tensor `name`, mutable, if registered.
    pub fn tensor_mut(&mut self, name: &str) -> Option<&mut Tensor> {
        let t = self.slots().iter().find(|s| s.name == name)?.tensor;
        Some(self.model.tensor_mut(t))
    }

    /// Applies `init` to parameter `name` (`init.xavier_normal_(m.weight)`). A parameter the
    /// module does not register is skipped (as `if m.bias is not None`).
    ///
    /// # Errors
    /// The init's error, wrapped with the parameter's path and shape
    /// (e.g. `layer.0.bias (shape [64]): Fan in and fan out can not be computed ...`).
    pub fn init(&mut self, name: &str, init: &Init) -> Result<()> {
        self.init_recorded(name, init).map(|_| ())
    }

    /// [`ModuleMut::init`], returning the init as recorded (shared with its event; `None`: no
    /// parameter `name`).
    pub(crate) fn init_recorded(&mut self, name: &str, init: &Init) -> Result<Option<Arc<Init>>> {
        let Some(id) = self.slots().iter().find(|s| s.name == name).map(|s| s.tensor) else { return Ok(None) };
        let shape = self.model.tensor(id).shape().to_vec();
        let result = self.model.record_init(id, init, Origin::Rule);
        result.map(Some).map_err(|e| e.at(&join(&self.path(), name), &shape))
    }

    /// [`Model::init_rows`] on parameter `name`, if registered (a recurrent gate's rows).
    ///
    /// # Errors
    /// As [`Model::init_rows`], wrapped with the parameter's path and shape.
    pub fn init_rows(&mut self, name: &str, rows: std::ops::Range<usize>, init: &Init) -> Result<()> {
        let Some(id) = self.slots().iter().find(|s| s.name == name).map(|s| s.tensor) else { return Ok(()) };
        let shape = self.model.tensor(id).shape().to_vec();
        let result = self.model.init_rows(id, rows, init);
        result.map_err(|e| e.at(&join(&self.path(), name), &shape))
    }

    /// [`Model::keep`] on parameter `name`, if registered.
    ///
    /// # Errors
    /// As [`Model::keep`], wrapped with the parameter's path and shape.
    pub fn keep(&mut self, name: &str) -> Result<()> {
        let Some(id) = self.slots().iter().find(|s| s.name == name).map(|s| s.tensor) else { return Ok(()) };
        let shape = self.model.tensor(id).shape().to_vec();
        let result = self.model.keep(id);
        result.map_err(|e| e.at(&join(&self.path(), name), &shape))
    }

    /// Zeroes row `row` of tensor `name` (recorded in its provenance), if registered.
    pub fn zero_row(&mut self, name: &str, row: usize) -> Result<()> {
        match self.slots().iter().find(|s| s.name == name).map(|s| s.tensor) {
            Some(id) => self.model.zero_row(id, row),
            None => Ok(()),
        }
    }

    /// Re-runs the layer's default init.
    pub fn reset_parameters(&mut self) -> Result<()> {
        self.model.reset_parameters(self.id)
    }
}
