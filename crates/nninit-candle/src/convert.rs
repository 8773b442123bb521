//! Tensors between nninit and candle, value for value.

use candle_core::{DType, Device, Tensor};
use nninit::tensor::Data;
use nninit::{Error, Result};

/// nninit's dtype for a candle float dtype.
///
/// ```
/// assert_eq!(nninit_candle::to_nninit_dtype(candle_core::DType::BF16)?, nninit::DType::BF16);
/// # Ok::<(), nninit::Error>(())
/// ```
///
/// # Errors
/// A dtype nninit cannot generate (integers, 8-bit floats), named.
pub fn to_nninit_dtype(dtype: DType) -> Result<nninit::DType> {
    match dtype {
        DType::F32 => Ok(nninit::DType::F32),
        DType::F64 => Ok(nninit::DType::F64),
        DType::F16 => Ok(nninit::DType::F16),
        DType::BF16 => Ok(nninit::DType::BF16),
        other => Err(Error::DType { op: "nninit_candle", dtype: format!("{other:?}") }),
    }
}

fn candle_err(e: candle_core::Error) -> Error {
    Error::value(e.to_string())
}

/// A candle tensor of `dtype` on `device` holding `tensor`'s values (shape kept; converted with
/// candle's `to_dtype` when the dtypes differ).
///
/// ```
/// let t = nninit::Tensor::from_f32(&[2, 2], vec![1.0, 2.0, 3.0, 4.0])?;
/// let c = nninit_candle::to_candle(&t, candle_core::DType::F32, &candle_core::Device::Cpu)?;
/// assert_eq!(c.to_vec2::<f32>().unwrap(), vec![vec![1.0, 2.0], vec![3.0, 4.0]]);
/// # Ok::<(), nninit::Error>(())
/// ```
///
/// # Errors
/// A tensor without float values (meta, integer), or candle's errors.
pub fn to_candle(tensor: &nninit::Tensor, dtype: DType, device: &Device) -> Result<Tensor> {
    let shape = tensor.shape();
    let t = match tensor.data() {
        Data::F32(v) => Tensor::from_slice(v, shape, device),
        Data::F64(v) => Tensor::from_slice(v, shape, device),
        Data::F16(v) => Tensor::from_slice(v, shape, device),
        Data::BF16(v) => Tensor::from_slice(v, shape, device),
        _ => return Err(Error::value("the tensor holds no float values")),
    }
    .map_err(candle_err)?;
    if t.dtype() == dtype {
        Ok(t)
    } else {
        t.to_dtype(dtype).map_err(candle_err)
    }
}

/// nninit's tensor of a candle float tensor's values (row-major, any device).
///
/// ```
/// let c = candle_core::Tensor::new(&[[1f32, 2.0], [3.0, 4.0]], &candle_core::Device::Cpu).unwrap();
/// let t = nninit_candle::from_candle(&c)?;
/// assert_eq!((t.shape(), t.to_f64_vec()), (&[2usize, 2][..], vec![1.0, 2.0, 3.0, 4.0]));
/// # Ok::<(), nninit::Error>(())
/// ```
///
/// # Errors
/// A dtype nninit does not hold (integers), or candle's errors.
pub fn from_candle(tensor: &Tensor) -> Result<nninit::Tensor> {
    let shape = tensor.dims().to_vec();
    let flat = tensor.flatten_all().map_err(candle_err)?;
    let data = match tensor.dtype() {
        DType::F32 => Data::F32(flat.to_vec1().map_err(candle_err)?),
        DType::F64 => Data::F64(flat.to_vec1().map_err(candle_err)?),
        DType::F16 => Data::F16(flat.to_vec1().map_err(candle_err)?),
        DType::BF16 => Data::BF16(flat.to_vec1().map_err(candle_err)?),
        other => return Err(Error::DType { op: "nninit_candle", dtype: format!("{other:?}") }),
    };
    nninit::Tensor::new(&shape, data)
}
