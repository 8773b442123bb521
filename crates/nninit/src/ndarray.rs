//! `torch.nn.init` over [`ndarray`] arrays (feature `ndarray`).
//!
//! An array's logical shape is PyTorch's shape: axis 0 is `size(0)` (for a Linear weight,
//! `out_features`), so fans (`fan_in = shape[1] · Π shape[2..]`, `fan_out = shape[0] · Π
//! shape[2..]`), `orthogonal_`'s rows and `eye_`'s diagonal are read from the axes as PyTorch
//! reads them. Values are drawn in row-major (C) order of the logical shape — the order of
//! `torch.empty(shape)` — so an array in standard layout holds exactly the values of the
//! PyTorch tensor for the same generator state. Arrays in any other layout (Fortran order,
//! transposed or strided views) are filled through a row-major buffer and get the same values
//! element for element.
//!
//! f32, f64, f16 and bf16 arrays are drawn in their own dtype (as PyTorch draws an f16 tensor).
//!
//! ```
//! use ndarray::Array2;
//! use nninit::{ndarray as nd, Generator};
//! let mut g = Generator::manual_seed(0);
//! let mut w = Array2::<f32>::zeros((256, 784)); // nn.Linear(784, 256).weight
//! nd::kaiming_uniform_(&mut w, 5f64.sqrt(), nninit::init::FanMode::FanIn, nninit::init::Nonlinearity::LeakyRelu, &mut g)?;
//! assert!(w.iter().all(|x| x.abs() <= 1.0 / 784f32.sqrt()));
//! # Ok::<(), nninit::Error>(())
//! ```

use ndarray::{ArrayRef, Dimension};

use crate::error::Result;
use crate::init::{FanMode, Init, Nonlinearity};
use crate::sample::Engine;
use crate::tensor::{Element, SliceMut, TensorMut};

/// Fills `array` with `init` drawn from `g` (a [`crate::Generator`] for PyTorch's stream, a
/// [`crate::rng::Philox`] for the counter-based one), exactly as [`Init::apply`] fills a tensor of
/// the array's shape; see the [module docs](self) for axes and layouts.
///
/// ```
/// use ndarray::{Array2, ShapeBuilder};
/// use nninit::{init::Init, ndarray::init_, Generator};
/// let mut c = Array2::<f32>::zeros((3, 5));
/// let mut f = Array2::<f32>::zeros((3, 5).f()); // column-major storage
/// init_(&mut c, &Init::XavierNormal { gain: 1.0 }, &mut Generator::manual_seed(0))?;
/// init_(&mut f, &Init::XavierNormal { gain: 1.0 }, &mut Generator::manual_seed(0))?;
/// assert_eq!(c, f); // the same logical values, whatever the memory order
/// # Ok::<(), nninit::Error>(())
/// ```
///
/// # Errors
/// Those of [`Init::apply`] for the array's shape and dtype (e.g. fans of a 1-d array,
/// `orthogonal_` of an f16 array, `eye_` of a 3-d array).
pub fn init_<E, D>(array: &mut ArrayRef<E, D>, init: &Init, g: &mut impl Engine) -> Result<()>
where
    E: Element,
    D: Dimension,
    for<'a> &'a mut [E]: Into<SliceMut<'a>>,
{
    let shape = array.shape().to_vec();
    if let Some(slice) = array.as_slice_mut() {
        return init.apply(TensorMut::new(&shape, slice)?, g);
    }
    let mut buffer = vec![<E as bytemuck::Zeroable>::zeroed(); array.len()];
    init.apply(TensorMut::new(&shape, &mut buffer[..])?, g)?;
    // `iter_mut` walks the logical row-major order whatever the strides.
    array.iter_mut().zip(buffer).for_each(|(a, b)| *a = b);
    Ok(())
}

macro_rules! wrappers {
    ($( $(#[$doc:meta])* $name:ident ( $($arg:ident : $ty:ty),* ) => $init:expr ;)*) => {$(
        $(#[$doc])*
        ///
        /// # Errors
        /// As the `torch.nn.init` function of the same name for the array's shape and dtype.
        pub fn $name<E, D>(array: &mut ArrayRef<E, D>, $($arg: $ty,)* g: &mut impl Engine) -> Result<()>
        where
            E: Element,
            D: Dimension,
            for<'a> &'a mut [E]: Into<SliceMut<'a>>,
        {
            init_(array, &$init, g)
        }
    )*};
}

wrappers! {
    /// `torch.nn.init.uniform_(tensor, a, b)`: U(a, b).
    uniform_(a: f64, b: f64) => Init::Uniform { a, b };
    /// `torch.nn.init.normal_(tensor, mean, std)`: N(mean, std²).
    normal_(mean: f64, std: f64) => Init::Normal { mean, std };
    /// `torch.nn.init.trunc_normal_(tensor, mean, std, a, b)`: N(mean, std²) truncated to [a, b].
    trunc_normal_(mean: f64, std: f64, a: f64, b: f64) => Init::TruncNormal { mean, std, a, b };
    /// `torch.nn.init.xavier_uniform_(tensor, gain)`: U(−b, b), `b = gain·√(6 / (fan_in + fan_out))`
    /// (Glorot & Bengio, 2010).
    xavier_uniform_(gain: f64) => Init::XavierUniform { gain };
    /// `torch.nn.init.xavier_normal_(tensor, gain)`: N(0, σ²), `σ = gain·√(2 / (fan_in + fan_out))`.
    xavier_normal_(gain: f64) => Init::XavierNormal { gain };
    /// `torch.nn.init.kaiming_uniform_(tensor, a, mode, nonlinearity)`: U(−b, b),
    /// `b = gain(nonlinearity, a)·√(3 / fan_mode)` (He et al., 2015).
    kaiming_uniform_(a: f64, mode: FanMode, nonlinearity: Nonlinearity) => Init::KaimingUniform { a, mode, nonlinearity };
    /// `torch.nn.init.kaiming_normal_(tensor, a, mode, nonlinearity)`: N(0, σ²),
    /// `σ = gain(nonlinearity, a) / √fan_mode`.
    kaiming_normal_(a: f64, mode: FanMode, nonlinearity: Nonlinearity) => Init::KaimingNormal { a, mode, nonlinearity };
    /// `torch.nn.init.orthogonal_(tensor, gain)`: the Q of the QR decomposition of a normal
    /// `(rows, Π other axes)` matrix, sign-corrected (Saxe et al., 2013); rows = axis 0.
    orthogonal_(gain: f64) => Init::Orthogonal { gain };
}

/// `torch.nn.init.constant_(tensor, val)`.
///
/// ```
/// let mut b = ndarray::Array1::<f32>::zeros(4);
/// nninit::ndarray::constant_(&mut b, 0.5)?;
/// assert!(b.iter().all(|&x| x == 0.5));
/// # Ok::<(), nninit::Error>(())
/// ```
///
/// # Errors
/// None for float arrays (the signature matches the other functions').
pub fn constant_<E, D>(array: &mut ArrayRef<E, D>, val: f64) -> Result<()>
where
    E: Element,
    D: Dimension,
    for<'a> &'a mut [E]: Into<SliceMut<'a>>,
{
    init_(array, &Init::Constant { val }, &mut crate::Generator::manual_seed(0))
}

/// `torch.nn.init.eye_(tensor)`: the identity on a 2-d array (ones where row = column, axis 0
/// being the row), whatever the array's memory order.
///
/// ```
/// use ndarray::{Array2, ShapeBuilder};
/// let mut w = Array2::<f64>::zeros((2, 3).f());
/// nninit::ndarray::eye_(&mut w)?;
/// assert_eq!(w, ndarray::array![[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]);
/// # Ok::<(), nninit::Error>(())
/// ```
///
/// # Errors
/// An array that is not 2-d ("Only tensors with 2 dimensions are supported").
pub fn eye_<E, D>(array: &mut ArrayRef<E, D>) -> Result<()>
where
    E: Element,
    D: Dimension,
    for<'a> &'a mut [E]: Into<SliceMut<'a>>,
{
    init_(array, &Init::Eye, &mut crate::Generator::manual_seed(0))
}
