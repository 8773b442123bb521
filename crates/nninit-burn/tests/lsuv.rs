//! LSUV on a burn MLP: every layer's output variance within the tolerance, the pre-init being
//! the orthogonal draws of `nninit lsuv` on the same layers, non-converging layers reported,
//! errors leave the layers unchanged.

use burn::nn::{Linear, LinearConfig};
use burn::tensor::activation::relu;
use burn::tensor::{Device, Tensor, TensorData};
use nninit_burn::lsuv::{lsuv, LsuvOptions, Step};

/// burn's ndarray backend, the one these results are pinned on (burn 0.22 deprecates it in
/// favour of `flex`).
#[allow(deprecated)]
fn cpu() -> Device {
    Device::ndarray()
}

fn layers(device: &Device) -> (Linear, Linear, Linear) {
    (
        LinearConfig::new(16, 32).init(device),
        LinearConfig::new(32, 32).init(device),
        LinearConfig::new(32, 4).init(device),
    )
}

fn batch_values() -> Vec<f32> {
    (0..64 * 16).map(|i| ((i * 7919 % 1013) as f32 / 1013.0 - 0.5) * 3.0).collect()
}

fn weight(l: &Linear) -> Vec<f32> {
    l.weight.val().into_data().try_to_vec::<f32>().unwrap()
}

#[test]
fn every_layer_reaches_unit_variance_from_nninits_orthogonal_draws() {
    let device = cpu();
    let (mut a, mut b, mut c) = layers(&device);
    let act = |x: Tensor<2>| relu(x);
    let batch = Tensor::<2>::from_data(TensorData::new(batch_values(), [64, 16]), &device);
    let options = LsuvOptions { tol: 0.01, max_iter: 10, seed: 3 };
    let report = lsuv(
        &mut [Step::Linear(&mut a), Step::Other(&act), Step::Linear(&mut b), Step::Other(&act), Step::Linear(&mut c)],
        batch,
        &options,
    )
    .unwrap();
    assert_eq!(report.iter().map(|l| l.name.as_str()).collect::<Vec<_>>(), ["0.weight", "2.weight", "4.weight"]);
    for layer in &report {
        assert!(layer.converged && (layer.variance - 1.0).abs() <= 0.01, "{layer:?}");
    }
    // nninit lsuv on the same network: the same orthogonal draws, and scales within rounding
    // (burn's and candle's matrix products sum in different orders).
    let mut model = nninit::arch::mlp(&[16, 32, 32, 4], nninit::DType::F32).unwrap();
    model.materialize(nninit::rng::Stream::Torch, 0).unwrap();
    let x = candle_core::Tensor::from_vec(batch_values(), (64, 16), &candle_core::Device::Cpu).unwrap();
    let reference = nninit_probe::lsuv::lsuv(&mut model, &x, &options).unwrap();
    for ((layer, ours), theirs) in [&a, &b, &c].into_iter().zip(&report).zip(&reference) {
        assert!((ours.scale / theirs.scale - 1.0).abs() < 1e-4, "{ours:?} {theirs:?}");
        let [d_in, d_out] = layer.weight.val().dims();
        let w = weight(layer);
        let id = model.named_parameters().into_iter().find(|(n, _)| *n == theirs.name).unwrap().1;
        let expected = model.tensor(id).to_f64_vec(); // [out, in], scaled by theirs.scale
        for o in 0..d_out {
            for i in 0..d_in {
                let draw = expected[o * d_in + i] / theirs.scale;
                let got = w[i * d_out + o] as f64 / ours.scale;
                assert!((got - draw).abs() < 1e-5, "{} [{o}, {i}]: {got} vs {draw}", theirs.name);
            }
        }
    }
    let zero: Vec<f32> = c.bias.as_ref().unwrap().val().into_data().try_to_vec::<f32>().unwrap();
    assert!(zero.iter().all(|&v| v == 0.0));
}

#[test]
fn a_layer_that_cannot_converge_is_reported_not_looped_on() {
    let device = cpu();
    let (mut a, mut b, _) = layers(&device);
    let zeros = Tensor::<2>::zeros([8, 16], &device);
    let report = lsuv(&mut [Step::Linear(&mut a), Step::Linear(&mut b)], zeros, &LsuvOptions::default()).unwrap();
    assert!(report.iter().all(|l| !l.converged && l.iterations == 0 && l.note.is_some()), "{report:?}");
    let batch = Tensor::<2>::from_data(TensorData::new(batch_values(), [64, 16]), &device);
    let report = lsuv(
        &mut [Step::Linear(&mut a), Step::Linear(&mut b)],
        batch,
        &LsuvOptions { tol: 1e-12, max_iter: 2, seed: 0 },
    )
    .unwrap();
    assert!(report.iter().any(|l| !l.converged && l.iterations == 2), "{report:?}");
}

#[test]
fn errors_name_the_layer_and_change_nothing() {
    let device = cpu();
    let (mut a, _, mut c) = layers(&device);
    let (before_a, before_c) = (weight(&a), weight(&c));
    let batch = Tensor::<2>::from_data(TensorData::new(batch_values(), [64, 16]), &device);
    // A Linear(32 → 4) fed the batch's 16 columns: refused before any layer is touched.
    let e = lsuv(&mut [Step::Linear(&mut c), Step::Linear(&mut a)], batch, &LsuvOptions::default()).unwrap_err();
    assert!(e.to_string().contains("step 0 is a Linear(32 → 4)"), "{e}");
    assert_eq!((weight(&a), weight(&c)), (before_a, before_c));
    let batch = Tensor::<2>::from_data(TensorData::new(batch_values(), [64, 16]), &device);
    let e = lsuv(&mut [Step::Linear(&mut a)], batch, &LsuvOptions { tol: 0.0, max_iter: 1, seed: 0 }).unwrap_err();
    assert!(e.to_string().contains("tol"), "{e}");
}
