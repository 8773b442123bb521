//! The two ways to re-initialize a whole model, as in PyTorch:
//! (a) `model.apply(fn)` with a rule per layer type, and (b) a loop over `modules()` inside the
//! model's constructor. Run: `cargo run --example reinit`.

use nninit::init::{FanMode, Init, Nonlinearity};
use nninit::nn::{Layer, Model};
use nninit::{DType, Generator, Result};

/// A small CNN, built like a PyTorch `nn.Module.__init__`: layers in construction order (each
/// drawing its default init), then a loop over `self.modules()` re-initializing them (way b).
fn small_cnn(g: &mut Generator) -> Result<Model> {
    let mut m = Model::new(DType::F32);
    let conv = m.add(Layer::conv(3, 16, &[3, 3]), g)?;
    let bn = m.add(Layer::batch_norm(2, 16), g)?;
    let relu = m.add(Layer::stateless("ReLU"), g)?;
    let head = m.add(Layer::linear(16, 10), g)?;
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
                module.init("weight", &kaiming, g)?;
                module.init("bias", &Init::Zeros, g)?;
            }
            Layer::BatchNorm { .. } | Layer::GroupNorm { .. } => {
                module.init("weight", &Init::Ones, g)?;
                module.init("bias", &Init::Zeros, g)?;
            }
            _ => {}
        }
    }
    Ok(m)
}

fn main() -> Result<()> {
    let mut g = Generator::manual_seed(0);
    let mut model = small_cnn(&mut g)?;

    // (a) model.apply(init_weights): children before parents, one rule per layer type.
    model.apply(|mut m| match m.layer() {
        Layer::Linear { .. } => {
            m.init("weight", &Init::XavierNormal { gain: 1.0 }, &mut g)?;
            m.init("bias", &Init::Zeros, &mut g)
        }
        _ => Ok(()),
    })?;

    for (name, id) in model.state_dict() {
        let t = model.tensor(id);
        if let Some(stats) = nninit::stats::Stats::of_tensor(t) {
            println!("{name:28} {:?} mean {:+.4} std {:.4}", t.shape(), stats.mean, stats.std);
        }
    }

    // A rule that does not fit the tensor fails with PyTorch's message, naming the parameter.
    let err = model.apply(|mut m| m.init("bias", &Init::XavierUniform { gain: 1.0 }, &mut g)).unwrap_err();
    println!("{err}");
    Ok(())
}
