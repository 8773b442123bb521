//! Shapes and counts that would overflow or exceed memory are refused with an error before
//! anything is allocated (never an abort or an out-of-memory kill).

use nninit::nn::{Layer, Model};
use nninit::rng::Stream;
use nninit::tensor::{DType, Tensor};

/// An element count or byte size that overflows `usize`: refused when the tensor is declared.
#[test]
fn overflowing_shapes_are_refused() {
    let m = Model::new(DType::F32);
    let err = m.new_tensor(&[1 << 40, 1 << 40]).unwrap_err().to_string();
    assert!(err.contains("too large"), "{err}");
    // The element count fits, the bytes do not.
    let err = m.new_tensor(&[1 << 62]).unwrap_err().to_string();
    assert!(err.contains("too large"), "{err}");
    let err = Tensor::try_zeros(&[usize::MAX, 2], DType::F64).unwrap_err().to_string();
    assert!(err.contains("too large"), "{err}");
    // Linear(1e12, 1e12): 4e24 bytes.
    let err = Model::new(DType::F32).add(Layer::linear(1_000_000_000_000, 1_000_000_000_000)).unwrap_err();
    assert!(err.to_string().contains("too large"), "{err}");
}

/// Linear(1e6, 1e6) is addressable (4 TB) but far beyond memory: held in memory, it is refused
/// before allocating, on both streams; the same model can still be written (streamed).
#[test]
fn models_beyond_memory_are_refused_in_memory() {
    for stream in [Stream::Torch, Stream::Philox] {
        let mut m = Model::new(DType::F32);
        let l = m.add(Layer::linear(1_000_000, 1_000_000)).unwrap();
        m.set_root(l).unwrap();
        let err = m.materialize(stream, 0).unwrap_err().to_string();
        assert!(err.contains("bytes of memory available"), "{err}");
    }
}
