//! `nninit::ndarray`: PyTorch's values in ndarray arrays, whatever their memory order.

mod common;

use common::*;
use ndarray::{Array1, Array2, Array4, ShapeBuilder};
use nninit::init::{FanMode, Init, Nonlinearity};
use nninit::ndarray as nd;
use nninit::{DType, Generator, Tensor};

fn golden_of(id: &str, name: &str) -> String {
    let cases = golden("modules.json")["cases"].as_array().unwrap().clone();
    let case = cases.iter().find(|c| c["id"] == id).unwrap();
    let t = case["tensors"].as_array().unwrap().iter().find(|t| t["name"] == name).unwrap();
    t["sha256"].as_str().unwrap().to_string()
}

fn bytes<'a>(values: impl Iterator<Item = &'a f32>) -> Vec<u8> {
    values.flat_map(|x| x.to_le_bytes()).collect()
}

#[test]
fn linear_default_in_arrays_matches_pytorch() {
    // torch.manual_seed(0); nn.Linear(64, 32): kaiming_uniform_(weight, a=√5), then the bias.
    let leaky = Nonlinearity::LeakyRelu;
    for fortran in [false, true] {
        let mut g = Generator::manual_seed(0);
        let mut w = if fortran { Array2::<f32>::zeros((32, 64).f()) } else { Array2::<f32>::zeros((32, 64)) };
        nd::kaiming_uniform_(&mut w, 5f64.sqrt(), FanMode::FanIn, leaky, &mut g).unwrap();
        let mut b = Array1::<f32>::zeros(32);
        nd::uniform_(&mut b, -1.0 / 8.0, 1.0 / 8.0, &mut g).unwrap();
        // `iter` walks the logical (row-major) order: PyTorch's bytes whatever the storage.
        assert_eq!(sha256_hex(&bytes(w.iter())), golden_of("linear_64_32_s0", "weight"), "fortran={fortran}");
        assert_eq!(sha256_hex(&bytes(b.iter())), golden_of("linear_64_32_s0", "bias"));
    }
}

#[test]
fn conv_weight_fans_read_from_the_axes() {
    // torch.manual_seed(0); nn.Conv2d(16, 32, 3): weight [32, 16, 3, 3], fan_in = 16·9.
    let mut g = Generator::manual_seed(0);
    let mut w = Array4::<f32>::zeros((32, 16, 3, 3));
    nd::kaiming_uniform_(&mut w, 5f64.sqrt(), FanMode::FanIn, Nonlinearity::LeakyRelu, &mut g).unwrap();
    assert_eq!(sha256_hex(&bytes(w.iter())), golden_of("conv2d_16_32_3_s0", "weight"));
}

#[test]
fn orthogonal_and_eye_on_transposed_views() {
    // A transposed view of a (64, 32) array is a (32, 64) tensor to PyTorch: 32 orthonormal rows.
    let mut storage = Array2::<f64>::zeros((64, 32));
    let mut view = storage.view_mut().reversed_axes();
    nd::orthogonal_(&mut view, 1.0, &mut Generator::manual_seed(3)).unwrap();
    let mut want = Tensor::zeros(&[32, 64], DType::F64);
    Init::Orthogonal { gain: 1.0 }.apply(want.view_mut().unwrap(), &mut Generator::manual_seed(3)).unwrap();
    let got: Vec<f64> = storage.t().iter().copied().collect();
    assert_eq!(got, want.to_f64_vec());
    let rows = storage.t().to_owned();
    let gram = rows.dot(&rows.t());
    for i in 0..32 {
        for j in 0..32 {
            let e = if i == j { 1.0 } else { 0.0 };
            assert!((gram[[i, j]] - e).abs() < 1e-12, "gram[{i}, {j}] = {}", gram[[i, j]]);
        }
    }
    let mut e = Array2::<f32>::zeros((2, 3));
    let mut t = e.view_mut().reversed_axes(); // (3, 2): ones at (0, 0) and (1, 1) of the view
    nd::eye_(&mut t).unwrap();
    assert_eq!(e, ndarray::array![[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]);
}

#[test]
fn errors_are_pytorch_s() {
    let mut v = Array1::<f32>::zeros(4);
    let err = nd::xavier_uniform_(&mut v, 1.0, &mut Generator::manual_seed(0)).unwrap_err().to_string();
    assert!(err.contains("fewer than 2 dimensions"), "{err}");
    let mut h = Array2::<half::f16>::from_elem((3, 3), half::f16::ZERO);
    assert!(nd::orthogonal_(&mut h, 1.0, &mut Generator::manual_seed(0)).is_err());
}
