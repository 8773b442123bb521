//! The two ways to re-initialize a whole model, as in PyTorch:
//! (a) `model.apply(fn)` with a rule per layer type, and (b) a loop over `modules()` inside the
//! model's constructor. Run: `cargo run --example reinit`.

use nninit::init::{FanMode, Init, Nonlinearity};
use nninit::nn::{Layer, Model};
use nninit::rng::Stream;
use nninit::{DType, Result};

/// A small CNN, built like a PyTorch `nn.Module.__init__`: layers in construction order (each
/// recording its default init), then a loop over `self.modules()` re-initializing them (way b).
fn small_cnn() -> Result<Model> {
    let mut m = Model::new(DType::F32);
    let conv = m.add(Layer::conv(3, 16, &[3, 3]))?;
    let bn = m.add(Layer::batch_norm(2, 16))?;
    let relu = m.add(Layer::stateless("ReLU"))?;
    let head = m.add(Layer::linear(16, 10))?;
    let features = m.sequential(&[conv, bn, relu]);
    let root = m.container(Layer::Custom("SmallCNN".into()), &[]);
    m.add_child(root, "features", features)?;
    m.add_child(root, "head", head)?;
    m.set_root(root)?;

    // for m in self.modules(): if isinstance(m, nn.Conv2d): kaiming_normal_(...) ...
    let kaiming = Init::KaimingNormal { a: 0.0, mode: FanMode::FanOut, nonlinearity: Nonlinearity::Relu };
    for (path, id) in m.named_modules() {
        let mut module = m.module_mut(id, &path);
        match module.layer() {
            Layer::Conv { .. } => {
                module.init("weight", &kaiming)?;
                module.init("bias", &Init::Zeros)?;
            }
            Layer::BatchNorm { .. } | Layer::GroupNorm { .. } => {
                module.init("weight", &Init::Ones)?;
                module.init("bias", &Init::Zeros)?;
            }
            _ => {}
        }
    }
    Ok(m)
}

fn main() -> Result<()> {
    let mut model = small_cnn()?;

    // (a) model.apply(init_weights): children before parents, one rule per layer type.
    model.apply(|mut m| match m.layer() {
        Layer::Linear { .. } => {
            m.init("weight", &Init::XavierNormal { gain: 1.0 })?;
            m.init("bias", &Init::Zeros)
        }
        _ => Ok(()),
    })?;

    // Nothing was drawn so far: the values come now, as after torch.manual_seed(0).
    model.materialize(Stream::Torch, 0)?;
    for (name, id) in model.state_dict() {
        let t = model.tensor(id);
        if let Some(stats) = nninit::stats::Stats::of_tensor(t) {
            println!("{name:28} {:?} mean {:+.4} std {:.4}", t.shape(), stats.mean, stats.std);
        }
    }

    // A rule that does not fit the tensor fails with PyTorch's message, naming the parameter.
    let err = model.apply(|mut m| m.init("bias", &Init::XavierUniform { gain: 1.0 })).unwrap_err();
    println!("{err}");
    Ok(())
}
