//! Parameters as tensors: a shape, a dtype and a contiguous row-major buffer.
//!
//! nninit needs no tensor library. A [`Tensor`] owns its data; a [`TensorMut`] is a mutable view
//! (shape + typed slice) that the init functions take, so they work on any storage.

use half::{bf16, f16};

use crate::error::{Error, Result};

/// Floating-point dtypes that can be initialized. Names follow safetensors (`F32`, `BF16`, ...);
/// `FromStr` also accepts PyTorch's (`float32`, `bfloat16`, `half`, ...).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DType {
    /// IEEE binary16 (`torch.float16`).
    F16,
    /// bfloat16 (`torch.bfloat16`).
    BF16,
    /// IEEE binary32 (`torch.float32`), PyTorch's default.
    F32,
    /// IEEE binary64 (`torch.float64`).
    F64,
}

impl DType {
    /// Bytes per element.
    pub fn size(self) -> usize {
        match self {
            DType::F16 | DType::BF16 => 2,
            DType::F32 => 4,
            DType::F64 => 8,
        }
    }

    /// PyTorch's C++ type name, as PyTorch prints it in messages (`float`, `c10::Half`, ...).
    pub fn torch_scalar_name(self) -> &'static str {
        match self {
            DType::F16 => "c10::Half",
            DType::BF16 => "c10::BFloat16",
            DType::F32 => "float",
            DType::F64 => "double",
        }
    }

    /// PyTorch's dtype name as in `NotImplementedError` messages (`Half`, `BFloat16`, ...).
    pub fn torch_type_name(self) -> &'static str {
        match self {
            DType::F16 => "Half",
            DType::BF16 => "BFloat16",
            DType::F32 => "Float",
            DType::F64 => "Double",
        }
    }

    /// The safetensors dtype.
    pub fn to_safetensors(self) -> safetensors::Dtype {
        match self {
            DType::F16 => safetensors::Dtype::F16,
            DType::BF16 => safetensors::Dtype::BF16,
            DType::F32 => safetensors::Dtype::F32,
            DType::F64 => safetensors::Dtype::F64,
        }
    }

    /// The floating dtype of a safetensors dtype, `None` for integer, bool and 8-bit float types.
    pub fn from_safetensors(d: safetensors::Dtype) -> Option<Self> {
        match d {
            safetensors::Dtype::F16 => Some(DType::F16),
            safetensors::Dtype::BF16 => Some(DType::BF16),
            safetensors::Dtype::F32 => Some(DType::F32),
            safetensors::Dtype::F64 => Some(DType::F64),
            _ => None,
        }
    }
}

impl std::fmt::Display for DType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            DType::F16 => "f16",
            DType::BF16 => "bf16",
            DType::F32 => "f32",
            DType::F64 => "f64",
        })
    }
}

impl std::str::FromStr for DType {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s.to_ascii_lowercase().trim_start_matches("torch.") {
            "f16" | "float16" | "half" | "fp16" => Ok(DType::F16),
            "bf16" | "bfloat16" => Ok(DType::BF16),
            "f32" | "float32" | "float" | "fp32" => Ok(DType::F32),
            "f64" | "float64" | "double" | "fp64" => Ok(DType::F64),
            _ => Err(Error::Unknown { what: "dtype", name: s.to_string(), known: "f32, f64, f16, bf16".into() }),
        }
    }
}

/// An element type that init functions can write: f32, f64, [`struct@f16`], [`struct@bf16`].
///
/// Conversions round to nearest even. Narrowing from f64 to f16/bf16 goes through f32 (two
/// roundings), as PyTorch's `static_cast<c10::Half>(double)` does.
pub trait Element: bytemuck::Pod + PartialEq + PartialOrd + Send + Sync + std::fmt::Debug + 'static {
    /// The dtype tag.
    const DTYPE: DType;
    /// Rounds an f32 to this type.
    fn from_f32(x: f32) -> Self;
    /// Rounds an f64 to this type (via f32 for f16/bf16).
    fn from_f64(x: f64) -> Self;
    /// Widens to f32 (f64 rounds).
    fn to_f32(self) -> f32;
    /// Widens to f64 (exact).
    fn to_f64(self) -> f64;
}

impl Element for f32 {
    const DTYPE: DType = DType::F32;
    fn from_f32(x: f32) -> Self {
        x
    }
    fn from_f64(x: f64) -> Self {
        x as f32
    }
    fn to_f32(self) -> f32 {
        self
    }
    fn to_f64(self) -> f64 {
        self as f64
    }
}

impl Element for f64 {
    const DTYPE: DType = DType::F64;
    fn from_f32(x: f32) -> Self {
        x as f64
    }
    fn from_f64(x: f64) -> Self {
        x
    }
    fn to_f32(self) -> f32 {
        self as f32
    }
    fn to_f64(self) -> f64 {
        self
    }
}

impl Element for f16 {
    const DTYPE: DType = DType::F16;
    fn from_f32(x: f32) -> Self {
        f16::from_f32(x)
    }
    fn from_f64(x: f64) -> Self {
        f16::from_f32(x as f32)
    }
    fn to_f32(self) -> f32 {
        self.to_f32()
    }
    fn to_f64(self) -> f64 {
        self.to_f64()
    }
}

/// f32 → bf16 with round-to-nearest-even, as PyTorch's `c10::BFloat16` (NaN → 0x7FC0):
/// branch-free apart from NaN, so loops converting many values vectorize.
#[inline(always)]
fn f32_to_bf16(x: f32) -> bf16 {
    let u = x.to_bits();
    let rounded = (u.wrapping_add(0x7FFF + ((u >> 16) & 1)) >> 16) as u16;
    bf16::from_bits(if x.is_nan() { 0x7FC0 } else { rounded })
}

impl Element for bf16 {
    const DTYPE: DType = DType::BF16;
    #[inline(always)]
    fn from_f32(x: f32) -> Self {
        f32_to_bf16(x)
    }
    fn from_f64(x: f64) -> Self {
        f32_to_bf16(x as f32)
    }
    fn to_f32(self) -> f32 {
        self.to_f32()
    }
    fn to_f64(self) -> f64 {
        self.to_f64()
    }
}

/// The typed storage of a [`Tensor`].
#[derive(Clone, Debug, PartialEq)]
pub enum Data {
    /// f16 values.
    F16(Vec<f16>),
    /// bf16 values.
    BF16(Vec<bf16>),
    /// f32 values.
    F32(Vec<f32>),
    /// f64 values.
    F64(Vec<f64>),
    /// Any other safetensors dtype (int64 `num_batches_tracked`, `position_ids`, bool masks, ...),
    /// kept as raw little-endian bytes and never initialized.
    Other {
        /// The safetensors dtype.
        dtype: safetensors::Dtype,
        /// Little-endian bytes, `ceil(numel × bits / 8)` long (sub-byte dtypes such as `F4` are packed).
        bytes: Vec<u8>,
    },
    /// No values yet (PyTorch's meta device): a model's tensor before
    /// [`crate::nn::Model::materialize`], whose values the checkpoint writer generates from the
    /// model's recorded inits. `bytes()` is empty and `view_mut()` fails with
    /// [`Error::NeedsValues`].
    Meta(DType),
}

/// A contiguous row-major tensor: shape and typed data.
#[derive(Clone, Debug, PartialEq)]
pub struct Tensor {
    shape: Vec<usize>,
    data: Data,
}

/// Runs `$body` with `$s` bound to the typed mutable slice of a [`SliceMut`]; generic code inside
/// is instantiated once per float dtype.
#[macro_export]
#[doc(hidden)]
macro_rules! dispatch_mut {
    ($slice:expr, |$s:ident| $body:expr) => {
        match $slice {
            $crate::tensor::SliceMut::F16($s) => $body,
            $crate::tensor::SliceMut::BF16($s) => $body,
            $crate::tensor::SliceMut::F32($s) => $body,
            $crate::tensor::SliceMut::F64($s) => $body,
        }
    };
}

impl Tensor {
    /// A zero-filled tensor of a float dtype.
    pub fn zeros(shape: &[usize], dtype: DType) -> Self {
        let n = shape.iter().product();
        let data = match dtype {
            DType::F16 => Data::F16(vec![f16::ZERO; n]),
            DType::BF16 => Data::BF16(vec![bf16::ZERO; n]),
            DType::F32 => Data::F32(vec![0.0; n]),
            DType::F64 => Data::F64(vec![0.0; n]),
        };
        Tensor { shape: shape.to_vec(), data }
    }

    /// A zero-filled tensor, refusing shapes whose byte size overflows or exceeds what can be
    /// allocated (instead of aborting): `Error::Value` naming the shape.
    pub fn try_zeros(shape: &[usize], dtype: DType) -> Result<Self> {
        let n = shape.iter().try_fold(1usize, |a, &d| a.checked_mul(d));
        let bytes = n.and_then(|n| n.checked_mul(dtype.size())).filter(|&b| b <= isize::MAX as usize);
        let Some(bytes) = bytes else {
            return Err(Error::value(format!("shape {shape:?} of {dtype} is too large")));
        };
        let mut buf: Vec<u8> = Vec::new();
        buf.try_reserve_exact(bytes)
            .map_err(|_| Error::value(format!("cannot allocate {bytes} bytes for shape {shape:?}")))?;
        drop(buf);
        Ok(Self::zeros(shape, dtype))
    }

    /// A tensor from typed data; `Error::Value` if `data` does not hold `prod(shape)` elements
    /// (for [`Data::Other`], `ceil(prod(shape) × bits / 8)` bytes, as safetensors sizes sub-byte
    /// dtypes such as `F4`), or if `prod(shape)` overflows.
    pub fn new(shape: &[usize], data: Data) -> Result<Self> {
        let n = shape
            .iter()
            .try_fold(1usize, |a, &d| a.checked_mul(d))
            .ok_or_else(|| Error::value(format!("shape {shape:?} is too large")))?;
        let len = match &data {
            Data::F16(v) => v.len(),
            Data::BF16(v) => v.len(),
            Data::F32(v) => v.len(),
            Data::F64(v) => v.len(),
            Data::Other { dtype, bytes } => {
                let need = n.checked_mul(dtype.bitsize()).map(|bits| bits.div_ceil(8));
                if need != Some(bytes.len()) {
                    return Err(Error::value(format!(
                        "shape {shape:?} of {dtype:?} needs {} bytes, data has {}",
                        need.map_or("more than 2^64".to_string(), |b| b.to_string()),
                        bytes.len()
                    )));
                }
                n
            }
            Data::Meta(_) => n,
        };
        if len != n {
            return Err(Error::value(format!("shape {shape:?} needs {n} elements, data has {len}")));
        }
        Ok(Tensor { shape: shape.to_vec(), data })
    }

    /// An f32 tensor from values.
    pub fn from_f32(shape: &[usize], values: Vec<f32>) -> Result<Self> {
        Self::new(shape, Data::F32(values))
    }

    /// A float tensor from little-endian bytes; `Error::Value` if the length is wrong.
    pub fn from_le_bytes(shape: &[usize], dtype: DType, bytes: &[u8]) -> Result<Self> {
        let data = match dtype {
            DType::F16 => Data::F16(bytemuck::pod_collect_to_vec(bytes)),
            DType::BF16 => Data::BF16(bytemuck::pod_collect_to_vec(bytes)),
            DType::F32 => Data::F32(bytemuck::pod_collect_to_vec(bytes)),
            DType::F64 => Data::F64(bytemuck::pod_collect_to_vec(bytes)),
        };
        Self::new(shape, data)
    }

    /// The shape.
    pub fn shape(&self) -> &[usize] {
        &self.shape
    }

    /// Number of elements (1 for a 0-d tensor).
    pub fn numel(&self) -> usize {
        self.shape.iter().product()
    }

    /// The typed data.
    pub fn data(&self) -> &Data {
        &self.data
    }

    /// The float dtype, `None` for [`Data::Other`].
    pub fn dtype(&self) -> Option<DType> {
        match &self.data {
            Data::F16(_) => Some(DType::F16),
            Data::BF16(_) => Some(DType::BF16),
            Data::F32(_) => Some(DType::F32),
            Data::F64(_) => Some(DType::F64),
            Data::Meta(d) => Some(*d),
            Data::Other { .. } => None,
        }
    }

    /// A tensor of `shape` and `dtype` without values (PyTorch's meta device).
    pub fn meta(shape: &[usize], dtype: DType) -> Self {
        Tensor { shape: shape.to_vec(), data: Data::Meta(dtype) }
    }

    /// Whether the tensor has no values (see [`Data::Meta`]).
    pub fn is_meta(&self) -> bool {
        matches!(self.data, Data::Meta(_))
    }

    /// The safetensors dtype.
    pub fn safetensors_dtype(&self) -> safetensors::Dtype {
        match &self.data {
            Data::Other { dtype, .. } => *dtype,
            _ => self.dtype().map(DType::to_safetensors).unwrap_or(safetensors::Dtype::F32),
        }
    }

    /// Little-endian bytes of the data.
    pub fn bytes(&self) -> &[u8] {
        match &self.data {
            Data::F16(v) => bytemuck::cast_slice(v),
            Data::BF16(v) => bytemuck::cast_slice(v),
            Data::F32(v) => bytemuck::cast_slice(v),
            Data::F64(v) => bytemuck::cast_slice(v),
            Data::Other { bytes, .. } => bytes,
            Data::Meta(_) => &[],
        }
    }

    /// A mutable view for the init functions; `Error::DType` for non-float data.
    pub fn view_mut(&mut self) -> Result<TensorMut<'_>> {
        let slice = match &mut self.data {
            Data::F16(v) => SliceMut::F16(v),
            Data::BF16(v) => SliceMut::BF16(v),
            Data::F32(v) => SliceMut::F32(v),
            Data::F64(v) => SliceMut::F64(v),
            Data::Other { dtype, .. } => {
                return Err(Error::DType { op: "init", dtype: format!("{dtype:?}") });
            }
            Data::Meta(_) => {
                return Err(Error::NeedsValues(format!(
                    "a tensor of shape {:?} has no values until its model is materialized",
                    self.shape
                )))
            }
        };
        Ok(TensorMut { shape: &self.shape, data: slice })
    }

    /// Copies `part`'s elements over elements `[start, start + part.numel())` (row-major).
    ///
    /// # Errors
    /// Different dtypes, or a range past the end.
    pub fn write_at(&mut self, start: usize, part: &Tensor) -> Result<()> {
        let size = self.safetensors_dtype().bitsize() / 8;
        if part.safetensors_dtype() != self.safetensors_dtype() || size == 0 {
            return Err(Error::value(format!(
                "cannot write {:?} values into a {:?} tensor",
                part.safetensors_dtype(),
                self.safetensors_dtype()
            )));
        }
        let (at, len) = (start * size, part.bytes().len());
        let shape = self.shape.clone();
        let bytes: &mut [u8] = match &mut self.data {
            Data::F16(v) => bytemuck::cast_slice_mut(v),
            Data::BF16(v) => bytemuck::cast_slice_mut(v),
            Data::F32(v) => bytemuck::cast_slice_mut(v),
            Data::F64(v) => bytemuck::cast_slice_mut(v),
            Data::Other { bytes, .. } => bytes,
            Data::Meta(_) => return Err(Error::NeedsValues(format!("a tensor of shape {shape:?} without values"))),
        };
        bytes
            .get_mut(at..at + len)
            .ok_or_else(|| {
                Error::value(format!("elements {start}.. of {} are past the end of shape {shape:?}", part.numel()))
            })?
            .copy_from_slice(part.bytes());
        Ok(())
    }

    /// The same elements with another shape of the same element count.
    ///
    /// # Errors
    /// A shape with another element count.
    pub fn reshape(&self, shape: &[usize]) -> Result<Tensor> {
        if shape.iter().product::<usize>() != self.numel() {
            return Err(Error::value(format!("cannot view {:?} as {shape:?}", self.shape)));
        }
        Ok(Tensor { shape: shape.to_vec(), data: self.data.clone() })
    }

    /// The values widened to f64 (empty for non-float data).
    pub fn to_f64_vec(&self) -> Vec<f64> {
        match &self.data {
            Data::F16(v) => v.iter().map(|x| x.to_f64()).collect(),
            Data::BF16(v) => v.iter().map(|x| x.to_f64()).collect(),
            Data::F32(v) => v.iter().map(|&x| x as f64).collect(),
            Data::F64(v) => v.clone(),
            Data::Other { .. } | Data::Meta(_) => Vec::new(),
        }
    }

    /// Converts float data to `dtype` (round to nearest even; f64 → f16/bf16 via f32).
    pub fn to_dtype(&self, dtype: DType) -> Tensor {
        if self.dtype().is_none() || self.dtype() == Some(dtype) {
            return self.clone();
        }
        if self.is_meta() {
            return Tensor::meta(&self.shape, dtype);
        }
        let v = self.to_f64_vec();
        let data = match dtype {
            DType::F16 => Data::F16(v.iter().map(|&x| f16::from_f64(x)).collect()),
            DType::BF16 => Data::BF16(v.iter().map(|&x| bf16::from_f64(x)).collect()),
            DType::F32 => Data::F32(v.iter().map(|&x| x as f32).collect()),
            DType::F64 => Data::F64(v),
        };
        Tensor { shape: self.shape.clone(), data }
    }
}

/// A typed mutable slice.
#[derive(Debug)]
pub enum SliceMut<'a> {
    /// f16 elements.
    F16(&'a mut [f16]),
    /// bf16 elements.
    BF16(&'a mut [bf16]),
    /// f32 elements.
    F32(&'a mut [f32]),
    /// f64 elements.
    F64(&'a mut [f64]),
}

/// A mutable view of a contiguous row-major tensor: what every init function takes.
#[derive(Debug)]
pub struct TensorMut<'a> {
    /// The shape; `prod(shape) == data.len()` (checked by [`TensorMut::new`]).
    pub(crate) shape: &'a [usize],
    /// The elements in row-major order.
    pub(crate) data: SliceMut<'a>,
}

impl<'a> TensorMut<'a> {
    /// A view of `data` (an f32, f64, f16 or bf16 slice) as a tensor of `shape`.
    ///
    /// ```
    /// let mut buf = vec![0.0f32; 6];
    /// let t = nninit::TensorMut::new(&[2, 3], &mut buf[..])?;
    /// assert_eq!((t.shape(), t.numel()), (&[2usize, 3][..], 6));
    /// # Ok::<(), nninit::Error>(())
    /// ```
    ///
    /// # Errors
    /// `Error::Value` if `prod(shape)` differs from the slice length.
    pub fn new(shape: &'a [usize], data: impl Into<SliceMut<'a>>) -> Result<Self> {
        let data = data.into();
        let len = dispatch_mut!(&data, |s| s.len());
        let n = shape
            .iter()
            .try_fold(1usize, |a, &d| a.checked_mul(d))
            .ok_or_else(|| Error::value(format!("shape {shape:?} has more elements than can be addressed")))?;
        if n != len {
            return Err(Error::value(format!("shape {shape:?} needs {n} elements, slice has {len}")));
        }
        Ok(TensorMut { shape, data })
    }

    /// Number of elements.
    pub fn numel(&self) -> usize {
        self.shape.iter().product()
    }

    /// The shape.
    pub fn shape(&self) -> &'a [usize] {
        self.shape
    }

    /// The elements, row-major, as a typed slice.
    pub fn into_data(self) -> SliceMut<'a> {
        self.data
    }

    /// The dtype.
    pub fn dtype(&self) -> DType {
        match self.data {
            SliceMut::F16(_) => DType::F16,
            SliceMut::BF16(_) => DType::BF16,
            SliceMut::F32(_) => DType::F32,
            SliceMut::F64(_) => DType::F64,
        }
    }

    /// A shorter-lived view of the same data.
    pub fn reborrow(&mut self) -> TensorMut<'_> {
        let data = match &mut self.data {
            SliceMut::F16(s) => SliceMut::F16(s),
            SliceMut::BF16(s) => SliceMut::BF16(s),
            SliceMut::F32(s) => SliceMut::F32(s),
            SliceMut::F64(s) => SliceMut::F64(s),
        };
        TensorMut { shape: self.shape, data }
    }
}

macro_rules! slice_from {
    ($t:ty, $v:ident) => {
        impl<'a> From<&'a mut [$t]> for SliceMut<'a> {
            fn from(s: &'a mut [$t]) -> Self {
                SliceMut::$v(s)
            }
        }
    };
}
slice_from!(f16, F16);
slice_from!(bf16, BF16);
slice_from!(f32, F32);
slice_from!(f64, F64);
