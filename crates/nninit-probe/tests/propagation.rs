//! The classic signal-propagation measurements, reproduced qualitatively with margins.

use nninit::init::Init;
use nninit_probe::{probe, Activation, Arch, Curve, ProbeConfig};

fn run(depth: usize, width: usize, activation: Activation, arch: Arch, init: &str) -> Curve {
    let config = ProbeConfig { depth, width, batch: 128, activation, arch, seed: 0 };
    let init: Init = init.parse().unwrap();
    probe(&config, "x", &init).unwrap()
}

fn act(c: &Curve, layer: usize) -> f64 {
    c.layers[layer - 1].activation_std
}

fn grad(c: &Curve, layer: usize) -> f64 {
    c.layers[layer - 1].gradient_std
}

/// Glorot & Bengio 2010, figure 6: through a deep tanh net the "standard" init
/// U(−1/√n, 1/√n) (PyTorch's layer default, kaiming_uniform_(a=√5)) makes activations shrink
/// layer after layer; the normalized init (xavier_uniform_) keeps them nearly level.
#[test]
fn glorot_bengio_tanh_standard_shrinks_xavier_holds() {
    let standard = run(10, 256, Activation::Tanh, Arch::Mlp, "kaiming_uniform_(a=2.23606797749979)");
    let xavier = run(10, 256, Activation::Tanh, Arch::Mlp, "xavier_uniform_()");
    let (s, x) = (act(&standard, 10) / act(&standard, 1), act(&xavier, 10) / act(&xavier, 1));
    assert!(s < 0.05, "standard: layer 10 / layer 1 = {s}");
    assert!(x > 0.3, "xavier: layer 10 / layer 1 = {x}");
    // Monotone decay under the standard init.
    assert!(standard.layers.windows(2).all(|w| w[1].activation_std < w[0].activation_std));
}

/// He et al. 2015, figure 3 (a 30-layer ReLU net): with Xavier's init the signal vanishes
/// (each ReLU layer halves the variance: 2^-15 in std after 30 layers), with Kaiming's it holds;
/// the back-propagated gradients behave alike.
#[test]
fn he_relu_30_layers_xavier_vanishes_kaiming_holds() {
    let xavier = run(30, 256, Activation::Relu, Arch::Mlp, "xavier_normal_()");
    let kaiming = run(30, 256, Activation::Relu, Arch::Mlp, "kaiming_normal_(nonlinearity='relu')");
    let (x, k) = (act(&xavier, 30) / act(&xavier, 1), act(&kaiming, 30) / act(&kaiming, 1));
    assert!(x < 1e-3, "xavier: layer 30 / layer 1 = {x}");
    assert!((0.3..3.0).contains(&k), "kaiming: layer 30 / layer 1 = {k}");
    let (gx, gk) = (grad(&xavier, 1) / grad(&xavier, 30), grad(&kaiming, 1) / grad(&kaiming, 30));
    assert!(gx < 1e-3, "xavier gradient: layer 1 / layer 30 = {gx}");
    assert!((0.2..5.0).contains(&gk), "kaiming gradient: layer 1 / layer 30 = {gk}");
}

/// The same on a CNN (3×3 kernels, fan_in = 9·channels). Zero padding on 8×8 maps leaves border
/// pixels fewer taps (84 % on average), so even Kaiming's variance shrinks by that factor per
/// layer; Xavier's shrinks by half of it again: 2^20 ≈ 10⁶ apart after 20 layers.
#[test]
fn he_relu_cnn() {
    let xavier = run(20, 16, Activation::Relu, Arch::Cnn, "xavier_normal_()");
    let kaiming = run(20, 16, Activation::Relu, Arch::Cnn, "kaiming_normal_(nonlinearity='relu')");
    let (x, k) = (act(&xavier, 20) / act(&xavier, 1), act(&kaiming, 20) / act(&kaiming, 1));
    assert!(x < 1e-4, "xavier: {x}");
    assert!(k > 0.01 && k / x > 1e2, "kaiming: {k}, xavier: {x}");
}

/// SELU with LeCun's normal init is self-normalizing (Klambauer et al. 2017): unit std holds.
#[test]
fn selu_lecun_self_normalizes() {
    let c = run(20, 256, Activation::Selu, Arch::Mlp, "lecun_normal_()");
    assert!((0.7..1.3).contains(&act(&c, 20)), "{}", act(&c, 20));
}

#[test]
fn plots_are_written() {
    let c = vec![
        run(5, 16, Activation::Gelu, Arch::Mlp, "xavier_normal_()"),
        run(5, 16, Activation::LeakyRelu(0.01), Arch::Mlp, "kaiming_normal_()"),
    ];
    let dir = tempfile::tempdir().unwrap();
    for name in ["p.png", "p.svg"] {
        let path = dir.path().join(name);
        nninit_probe::plot::save(&c, "test", &path).unwrap();
        assert!(std::fs::metadata(&path).unwrap().len() > 1000);
    }
    let svg = nninit_probe::plot::svg(&c, "test").unwrap();
    assert!(svg.starts_with("<svg") && svg.contains("polyline"));
    assert!(nninit_probe::plot::save(&c, "t", &dir.path().join("p.gif")).is_err());
}
