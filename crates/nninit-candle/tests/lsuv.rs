//! LSUV on a candle network: every layer's output variance within the tolerance, the same
//! weights as LSUV on nninit's own model of the same layers, non-converging layers reported,
//! errors leave the variables unchanged.

use candle_core::{DType, Device, Tensor};
use candle_nn::{linear, Activation, Linear, VarBuilder, VarMap};
use nninit_candle::lsuv::{lsuv, LsuvOptions, Step};

fn mlp(varmap: &VarMap) -> (Linear, Linear, Linear) {
    let vb = VarBuilder::from_varmap(varmap, DType::F32, &Device::Cpu);
    (
        linear(16, 32, vb.pp("layer.0")).unwrap(),
        linear(32, 32, vb.pp("layer.2")).unwrap(),
        linear(32, 4, vb.pp("layer.4")).unwrap(),
    )
}

fn steps<'a>(l: &'a (Linear, Linear, Linear)) -> [Step<'a>; 5] {
    [
        Step::Layer { module: &l.0, weight: "layer.0.weight" },
        Step::Other(&Activation::Relu),
        Step::Layer { module: &l.1, weight: "layer.2.weight" },
        Step::Other(&Activation::Relu),
        Step::Layer { module: &l.2, weight: "layer.4.weight" },
    ]
}

fn batch() -> Tensor {
    // A fixed, non-trivial batch (candle's CPU generator cannot be seeded).
    let v: Vec<f32> = (0..64 * 16).map(|i| ((i * 7919 % 1013) as f32 / 1013.0 - 0.5) * 3.0).collect();
    Tensor::from_vec(v, (64, 16), &Device::Cpu).unwrap()
}

fn values(varmap: &VarMap, name: &str) -> Vec<f32> {
    varmap.data().lock().unwrap()[name].as_tensor().flatten_all().unwrap().to_vec1().unwrap()
}

#[test]
fn every_layer_reaches_unit_variance_with_the_weights_of_nninits_own_lsuv() {
    let varmap = VarMap::new();
    let layers = mlp(&varmap);
    let options = LsuvOptions { tol: 0.01, max_iter: 10, seed: 3 };
    let report = lsuv(&varmap, &steps(&layers), &batch(), &options).unwrap();
    assert_eq!(report.len(), 3);
    for layer in &report {
        assert!(layer.converged && (layer.variance - 1.0).abs() <= 0.01, "{layer:?}");
    }
    // The same algorithm on nninit's model of the same network gives the same bytes.
    let mut model = nninit::arch::mlp(&[16, 32, 32, 4], nninit::DType::F32).unwrap();
    model.materialize(nninit::rng::Stream::Torch, 0).unwrap();
    let reference = nninit_probe::lsuv::lsuv(&mut model, &batch(), &options).unwrap();
    for (a, b) in report.iter().zip(&reference) {
        assert_eq!((&a.name, a.iterations, a.scale, a.variance), (&b.name, b.iterations, b.scale, b.variance));
    }
    for (name, id) in model.named_parameters() {
        let expected: Vec<f32> = model.tensor(id).to_f64_vec().into_iter().map(|x| x as f32).collect();
        assert_eq!(values(&varmap, &name), expected, "{name}");
    }
    // And the candle modules see the new values: the network's output has variance ≈ 1.
    let y = batch();
    let y = layers.2.forward_t(&layers.1.forward_t(&layers.0.forward_t(&y).relu().unwrap()).relu().unwrap());
    let var = nninit_probe::lsuv::output_variance(&y).unwrap();
    assert!((var - 1.0).abs() <= 0.01, "{var}");
}

trait ForwardT {
    fn forward_t(&self, x: &Tensor) -> Tensor;
}
impl ForwardT for Linear {
    fn forward_t(&self, x: &Tensor) -> Tensor {
        candle_nn::Module::forward(self, x).unwrap()
    }
}

#[test]
fn a_layer_that_cannot_converge_is_reported_not_looped_on() {
    let varmap = VarMap::new();
    let layers = mlp(&varmap);
    let zeros = Tensor::zeros((8, 16), DType::F32, &Device::Cpu).unwrap();
    let report = lsuv(&varmap, &steps(&layers), &zeros, &LsuvOptions::default()).unwrap();
    assert!(report.iter().all(|l| !l.converged && l.iterations == 0), "{report:?}");
    assert!(report[0].note.as_deref().unwrap().contains("cannot be rescaled"));
    let report = lsuv(&varmap, &steps(&layers), &batch(), &LsuvOptions { tol: 1e-12, max_iter: 2, seed: 0 }).unwrap();
    assert!(report.iter().any(|l| !l.converged && l.iterations == 2), "{report:?}");
}

#[test]
fn errors_name_the_variable_and_change_nothing() {
    let varmap = VarMap::new();
    let layers = mlp(&varmap);
    let before = values(&varmap, "layer.0.weight");
    let bad = [
        Step::Layer { module: &layers.0, weight: "layer.0.weight" },
        Step::Layer { module: &layers.1, weight: "layer.9.weight" },
    ];
    let e = lsuv(&varmap, &bad, &batch(), &LsuvOptions::default()).unwrap_err().to_string();
    assert!(e.contains("layer.9.weight"), "{e}");
    assert_eq!(values(&varmap, "layer.0.weight"), before);
    // A batch whose width does not fit: candle's error, every variable restored.
    let wrong = Tensor::zeros((8, 5), DType::F32, &Device::Cpu).unwrap();
    assert!(lsuv(&varmap, &steps(&layers), &wrong, &LsuvOptions::default()).is_err());
    assert_eq!(values(&varmap, "layer.0.weight"), before);
    let e = lsuv(&varmap, &steps(&layers), &batch(), &LsuvOptions { tol: 0.0, max_iter: 1, seed: 0 }).unwrap_err();
    assert!(e.to_string().contains("tol"), "{e}");
}
