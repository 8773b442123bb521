//! LSUV: every layer's output variance on the batch ends within the tolerance; a layer that
//! cannot converge is reported, not looped on.

use candle_core::{Device, Tensor};
use nninit::nn::Model;
use nninit_probe::lsuv::{lsuv, LsuvOptions};

fn batch(shape: &[usize]) -> Tensor {
    Tensor::randn(0f32, 1.0, shape, &Device::Cpu).unwrap()
}

/// The output variance of every Linear/Conv2d layer, recomputed from the model's stored weights.
fn variances(model: &Model, x: &Tensor, act: fn(&Tensor) -> Tensor) -> Vec<f64> {
    let mut x = x.clone();
    let mut out = Vec::new();
    let weights: Vec<_> = model.named_parameters().into_iter().filter(|(n, _)| n.ends_with("weight")).collect();
    for (i, (name, id)) in weights.iter().enumerate() {
        let t = model.tensor(*id);
        let v: Vec<f32> = t.to_f64_vec().into_iter().map(|x| x as f32).collect();
        let w = Tensor::from_vec(v, t.shape(), &Device::Cpu).unwrap();
        let y = if w.rank() == 2 {
            if x.rank() > 2 {
                x = x.flatten_from(1).unwrap();
            }
            x.matmul(&w.t().unwrap()).unwrap()
        } else {
            x.conv2d(&w, w.dim(2).unwrap() / 2, 1, 1, 1).unwrap()
        };
        let bias = model.named_parameters().into_iter().find(|(n, _)| *n == name.replace("weight", "bias"));
        if let Some((_, b)) = bias {
            assert!(model.tensor(b).to_f64_vec().iter().all(|&v| v == 0.0));
        }
        let vals: Vec<f32> = y.flatten_all().unwrap().to_vec1().unwrap();
        let n = vals.len() as f64;
        let mean = vals.iter().map(|&v| v as f64).sum::<f64>() / n;
        out.push(vals.iter().map(|&v| (v as f64 - mean).powi(2)).sum::<f64>() / n);
        x = if i + 1 < weights.len() { act(&y) } else { y };
    }
    out
}

#[test]
fn mlp_layers_end_at_unit_variance() {
    let mut model = nninit::arch::mlp(&[64, 256, 256, 256, 10], nninit::DType::F32).unwrap();
    model.materialize(nninit::rng::Stream::Torch, 0).unwrap();
    let x = batch(&[200, 64]);
    let tol = 0.05;
    let report = lsuv(&mut model, &x, &LsuvOptions { tol, max_iter: 10, seed: 0 }).unwrap();
    assert_eq!(report.len(), 4);
    let measured = variances(&model, &x, |t| t.relu().unwrap());
    for (l, v) in report.iter().zip(&measured) {
        assert!(l.converged, "{l:?}");
        assert!((v - 1.0).abs() <= tol, "{}: {v}", l.name);
        assert!((v - l.variance).abs() < 1e-4);
    }
    // The weights are orthogonal times the scale: [256, 64] has orthonormal columns.
    let w = model.tensor(model.named_parameters()[0].1).to_f64_vec();
    let column: f64 = (0..256).map(|i| w[i * 64] * w[i * 64]).sum::<f64>();
    assert!((column.sqrt() - report[0].scale).abs() < 1e-3 * report[0].scale, "{column} {}", report[0].scale);
}

#[test]
fn cnn_layers_end_at_unit_variance() {
    let arch = "nn.Sequential(nn.Conv2d(3, 16, 3), nn.ReLU(), nn.Conv2d(16, 16, 3), nn.Tanh(), nn.Flatten(), nn.Linear(4096, 10))";
    let mut model = nninit::arch::from_torch_ctor(arch, nninit::DType::F32).unwrap();
    model.materialize(nninit::rng::Stream::Torch, 0).unwrap();
    let x = batch(&[32, 3, 16, 16]);
    let report = lsuv(&mut model, &x, &LsuvOptions::default()).unwrap();
    assert_eq!(report.len(), 3);
    assert!(report.iter().all(|l| l.converged && (l.variance - 1.0).abs() <= 0.1), "{report:#?}");
}

#[test]
fn a_layer_that_cannot_converge_is_reported() {
    let mut model = nninit::arch::mlp(&[8, 16, 4], nninit::DType::F32).unwrap();
    model.materialize(nninit::rng::Stream::Torch, 0).unwrap();
    // All-zero inputs: every output variance is 0, no scale helps.
    let zeros = Tensor::zeros((10, 8), candle_core::DType::F32, &Device::Cpu).unwrap();
    let report = lsuv(&mut model, &zeros, &LsuvOptions::default()).unwrap();
    assert!(report.iter().all(|l| !l.converged && l.iterations == 0 && l.note.as_deref().unwrap().contains("cannot")));
    // A tolerance no rescaling reaches in one round: stops after max_iter.
    let x = batch(&[3, 8]);
    let report = lsuv(&mut model, &x, &LsuvOptions { tol: 1e-12, max_iter: 1, seed: 0 }).unwrap();
    assert!(report.iter().any(|l| !l.converged && l.iterations == 1), "{report:#?}");
    assert!(lsuv(&mut model, &x, &LsuvOptions { tol: 0.0, max_iter: 1, seed: 0 }).is_err());
}
