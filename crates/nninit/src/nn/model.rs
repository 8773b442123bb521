//! The module tree: an arena of modules with PyTorch's traversal (`children`, `modules`,
//! `named_parameters`, `state_dict`, `apply`), all iterative.

use std::collections::HashSet;

use super::layer::{zero_row, Layer, Role, Slot};
use crate::error::{Error, Result};
use crate::init::Init;
use crate::rng::Generator;
use crate::tensor::{DType, Data, Tensor};

/// A module's index in its [`Model`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ModuleId(pub usize);

/// A tensor's index in its [`Model`] (tied parameters share one).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TensorId(pub usize);

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

/// How a tensor was last initialized.
#[derive(Clone, Debug, PartialEq)]
pub struct Provenance {
    /// The init.
    pub init: Init,
    /// `true` when it was the layer's default init at construction.
    pub default: bool,
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
    pub init: Init,
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

/// A model: modules and tensors in arenas, with one root.
///
/// Like `torch.nn.Module`, a module may be shared by several parents and a tensor by several
/// modules (tied weights). Traversals use explicit stacks, so a chain of 100,000 nested
/// containers works, and dropping a model is flat.
#[derive(Clone, Debug)]
pub struct Model {
    modules: Vec<Module>,
    tensors: Vec<Tensor>,
    /// How each tensor was last initialized, by index.
    provenance: Vec<Option<Provenance>>,
    root: Option<ModuleId>,
    dtype: DType,
    /// On the meta device: no values, inits recorded in `events`.
    meta: bool,
    events: Vec<Event>,
}

/// One init of a tensor on the meta device, recorded in the order it ran: the PyTorch stream
/// draws for every event, and a tensor's value is that of its last one.
#[derive(Clone, Debug, PartialEq)]
pub struct Event {
    /// The tensor.
    pub tensor: TensorId,
    /// The init.
    pub init: Init,
}

thread_local! {
    static META_DEVICE: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Runs `f` with models created on the meta device, as PyTorch's `with torch.device("meta"):`.
///
/// A [`Model`] created inside (by [`Model::new`], so by every builder in [`crate::arch`]) has
/// shapes, dtypes, provenance and a log of the inits it received ([`Model::events`]), but no
/// values: nothing is drawn and no parameter memory is allocated. The checkpoint writer
/// ([`crate::job::Outcome::save`]) generates the values, chunk by chunk, exactly as an ordinary
/// model would hold them. Reading or editing values in place fails with
/// [`Error::NeedsValues`].
pub fn meta<T>(f: impl FnOnce() -> T) -> T {
    struct Restore(bool);
    impl Drop for Restore {
        fn drop(&mut self) {
            META_DEVICE.with(|m| m.set(self.0));
        }
    }
    let _restore = Restore(META_DEVICE.with(|m| m.replace(true)));
    f()
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
        let meta = META_DEVICE.with(|m| m.get());
        Model {
            modules: Vec::new(),
            tensors: Vec::new(),
            provenance: Vec::new(),
            root: None,
            dtype,
            meta,
            events: Vec::new(),
        }
    }

    /// Whether the model is on the meta device (see [`meta`]).
    pub fn is_meta(&self) -> bool {
        self.meta
    }

    /// The inits recorded on the meta device, in order (empty for an ordinary model).
    pub fn events(&self) -> &[Event] {
        &self.events
    }

    /// The dtype new parameters get.
    pub fn dtype(&self) -> DType {
        self.dtype
    }

    /// Adds `layer`, constructing it as PyTorch does: built-in children first (e.g.
    /// `MultiheadAttention.out_proj`), then its parameters with their default init
    /// ([`Layer::reset_inits`]), drawing from `g` in PyTorch's order. The new module is not
    /// attached to any parent: see [`Model::add_child`].
    ///
    /// # Errors
    /// PyTorch's constructor errors ([`Layer::validate`]).
    pub fn add(&mut self, layer: Layer, g: &mut Generator) -> Result<ModuleId> {
        layer.validate()?;
        let mut children = Vec::new();
        for (name, child) in layer.builtin_children() {
            children.push((name.to_string(), self.add(child, g)?));
        }
        let slots = layer.slots();
        let id = self.add_with_slots(layer, &slots)?;
        self.modules[id.0].children = children;
        self.reset_parameters(id, g)?;
        Ok(id)
    }

    /// Adds a module with the given slots, zero-filled (`running_var`-style defaults are left to
    /// the caller); no randomness. For user-defined layers.
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

    /// A new float tensor of `shape` in the model's dtype: zero-filled, or without values on the
    /// meta device. Errors: a shape too large to allocate.
    pub fn new_tensor(&self, shape: &[usize]) -> Result<Tensor> {
        if self.meta {
            Ok(Tensor::meta(shape, self.dtype))
        } else {
            Tensor::try_zeros(shape, self.dtype)
        }
    }

    /// Registers a new tensor on module `id` as `name` (`register_parameter` /
    /// `register_buffer`). Errors: unknown module, or a name the module already has.
    pub fn register(&mut self, id: ModuleId, name: &str, tensor: Tensor, role: Role, buffer: bool) -> Result<TensorId> {
        self.check(id)?;
        if self.modules[id.0].slots.iter().any(|s| s.name == name) {
            return Err(Error::value(format!("attribute `{name}` already exists")));
        }
        self.tensors.push(tensor);
        self.provenance.push(None);
        let tensor = TensorId(self.tensors.len() - 1);
        self.modules[id.0].slots.push(Registered { name: name.to_string(), tensor, role, buffer });
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

    /// Sets row `row` (along dim 0) of tensor `id` to zero and records it in the tensor's
    /// provenance (as an Embedding's padding row). A row past the end is ignored.
    pub fn zero_row(&mut self, id: TensorId, row: usize) -> Result<()> {
        let t = &mut self.tensors[id.0];
        if !t.is_meta() {
            let width = t.numel() / t.shape().first().copied().unwrap_or(1).max(1);
            zero_row(&mut t.view_mut()?, row, width);
        }
        if let Some(p) = self.provenance[id.0].as_mut() {
            p.zeroed_rows.push(row);
        }
        Ok(())
    }

    /// Applies `init` to tensor `id` drawing from `g` (on the meta device: checks and records it,
    /// drawing nothing), and records it as the tensor's provenance (`default`: the layer's own).
    ///
    /// # Errors
    /// The init's errors (not wrapped with a path).
    pub fn init_tensor(&mut self, id: TensorId, init: &Init, g: &mut Generator, default: bool) -> Result<()> {
        self.record(id, init, default, |v| init.apply(v, g))
    }

    /// `constant_(tensor, val)` on tensor `id`, recorded as `ones_`, `zeros_` or `constant_`; no
    /// generator needed.
    pub fn constant(&mut self, id: TensorId, val: f64, default: bool) -> Result<()> {
        let init = match val {
            1.0 => Init::Ones,
            0.0 if val.is_sign_positive() => Init::Zeros,
            _ => Init::Constant { val },
        };
        self.record(id, &init, default, |v| crate::init::constant_(v, val))
    }

    fn record(
        &mut self,
        id: TensorId,
        init: &Init,
        default: bool,
        apply: impl FnOnce(crate::tensor::TensorMut<'_>) -> Result<()>,
    ) -> Result<()> {
        let t = &mut self.tensors[id.0];
        match t.data() {
            Data::Meta(dtype) => {
                init.draw(t.shape(), *dtype)?;
                self.events.push(Event { tensor: id, init: init.clone() });
            }
            _ => apply(t.view_mut()?)?,
        }
        self.provenance[id.0] =
            Some(Provenance { init: init.clone(), default, zeroed_rows: Vec::new(), parts: Vec::new() });
        Ok(())
    }

    /// Writes `part` over elements `[start, start + part.numel())` of tensor `id` and, with
    /// `init`, records it in the tensor's provenance (see [`Part`]).
    ///
    /// # Errors
    /// A tensor on the meta device ([`Error::NeedsValues`]); a dtype or range mismatch.
    pub fn write_part(&mut self, id: TensorId, start: usize, part: &Tensor, init: Option<&Init>) -> Result<()> {
        let t = &mut self.tensors[id.0];
        if t.is_meta() {
            return Err(Error::NeedsValues("initializing part of a tensor".into()));
        }
        let dtype = t.dtype().filter(|d| Some(*d) == part.dtype()).ok_or_else(|| Error::value("part dtype differs"))?;
        let (at, len) = (start * dtype.size(), part.bytes().len());
        let mut bytes = t.bytes().to_vec();
        bytes.get_mut(at..at + len).ok_or_else(|| Error::value("part past the end"))?.copy_from_slice(part.bytes());
        *t = Tensor::from_le_bytes(t.shape(), dtype, &bytes)?;
        if let (Some(init), Some(p)) = (init, self.provenance[id.0].as_mut()) {
            p.parts.push(Part { start, shape: part.shape().to_vec(), init: init.clone() });
        }
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
    pub fn reset_parameters(&mut self, id: ModuleId, g: &mut Generator) -> Result<()> {
        let layer = self.modules[id.0].layer.clone();
        for (name, init) in layer.reset_inits() {
            let (owner, slot) = match name.split_once('.') {
                Some((child, slot)) => {
                    let c = self.modules[id.0].children.iter().find(|(n, _)| n == child).map(|(_, c)| *c);
                    (c.ok_or_else(|| Error::value(format!("missing child `{child}`")))?, slot)
                }
                None => (id, name.as_str()),
            };
            let tensor = self.slot(owner, slot)?.tensor;
            self.init_tensor(tensor, &init, g, true)?;
        }
        if let Some(row) = layer.padding_row() {
            let weight = self.slot(id, "weight")?.tensor;
            self.zero_row(weight, row)?;
        }
        Ok(())
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
    pub fn init(&mut self, name: &str, init: &Init, g: &mut Generator) -> Result<()> {
        let Some(id) = self.slots().iter().find(|s| s.name == name).map(|s| s.tensor) else { return Ok(()) };
        let shape = self.model.tensor(id).shape().to_vec();
        let result = self.model.init_tensor(id, init, g, false);
        result.map_err(|e| e.at(&join(&self.path(), name), &shape))
    }

    /// [`Model::write_part`] on tensor `name`, if registered.
    pub fn write_part(&mut self, name: &str, start: usize, part: &Tensor, init: &Init) -> Result<()> {
        match self.slots().iter().find(|s| s.name == name).map(|s| s.tensor) {
            Some(id) => self.model.write_part(id, start, part, Some(init)),
            None => Ok(()),
        }
    }

    /// Zeroes row `row` of tensor `name` (recorded in its provenance), if registered.
    pub fn zero_row(&mut self, name: &str, row: usize) -> Result<()> {
        match self.slots().iter().find(|s| s.name == name).map(|s| s.tensor) {
            Some(id) => self.model.zero_row(id, row),
            None => Ok(()),
        }
    }

    /// Re-runs the layer's default init.
    pub fn reset_parameters(&mut self, g: &mut Generator) -> Result<()> {
        self.model.reset_parameters(self.id, g)
    }
}
