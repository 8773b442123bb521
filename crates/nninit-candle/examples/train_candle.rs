//! The seed's network (784 → 256 → ReLU → 128 → ReLU → 10) trained with candle on a synthetic
//! classification task under five initializations; prints a loss table, writes a loss-curve
//! plot (docs/candle-loss.svg), and shows that two runs from the same seed give the same losses.
//!
//! ```text
//! cargo run --release -p nninit-candle --example train_candle [-- OUT.svg]
//! ```

use candle_core::{DType, Device, Tensor};
use candle_nn::{linear, loss, Linear, Module, Optimizer, VarBuilder, VarMap, SGD};
use nninit::adapter::InitSpec;
use nninit::plan::Plan;
use nninit_candle::Initializer;
use plotters::prelude::*;

const STEPS: usize = 300;
const BATCH: usize = 64;
const SAMPLES: usize = 4096;
const CLASSES: usize = 10;
const LR: f64 = 0.05;

/// Ten Gaussian clusters in 784 dimensions (centres N(0, 0.1²), noise N(0, 1)), drawn by
/// nninit's generator so that every framework sees the same data.
fn dataset() -> (Vec<f32>, Vec<u32>) {
    let mut g = nninit::Generator::manual_seed(1234);
    let mut centres = nninit::Tensor::zeros(&[CLASSES, 784], nninit::DType::F32);
    nninit::init::normal_(centres.view_mut().unwrap(), 0.0, 0.1, &mut g).unwrap();
    let mut noise = nninit::Tensor::zeros(&[SAMPLES, 784], nninit::DType::F32);
    nninit::init::normal_(noise.view_mut().unwrap(), 0.0, 1.0, &mut g).unwrap();
    let (c, n) = (centres.to_f64_vec(), noise.to_f64_vec());
    let labels: Vec<u32> = (0..SAMPLES).map(|i| ((i * 7919) % CLASSES) as u32).collect();
    let x = (0..SAMPLES * 784).map(|k| (c[labels[k / 784] as usize * 784 + k % 784] + n[k]) as f32).collect();
    (x, labels)
}

struct Net(Vec<Linear>);

impl Net {
    fn new(vb: VarBuilder) -> candle_core::Result<Net> {
        // PyTorch's names and construction order: nn.Sequential(Linear, ReLU, Linear, ReLU, Linear).
        Ok(Net(vec![linear(784, 256, vb.pp("0"))?, linear(256, 128, vb.pp("2"))?, linear(128, 10, vb.pp("4"))?]))
    }
    fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        let h = self.0[0].forward(x)?.relu()?;
        let h = self.0[1].forward(&h)?.relu()?;
        self.0[2].forward(&h)
    }
}

/// A plan with one rule for every Linear weight.
fn weights(init: &str) -> Plan {
    Plan::from_toml(&format!("[[rule]]\nlayer = \"Linear\"\nrole = \"weight\"\ninit = \"{init}\"\n")).unwrap()
}

/// Trains from the given init (`None`: candle's own) and returns the loss of every step.
fn train(spec: Option<InitSpec>, data: &(Vec<f32>, Vec<u32>)) -> candle_core::Result<Vec<f64>> {
    let device = Device::Cpu;
    let varmap = VarMap::new();
    let net = match spec {
        None => Net::new(VarBuilder::from_varmap(&varmap, DType::F32, &device))?,
        Some(spec) => {
            let init = Initializer::new(&varmap, spec);
            let net = Net::new(init.var_builder(DType::F32, &device))?;
            init.finish().map_err(|e| candle_core::Error::Msg(e.to_string()))?;
            net
        }
    };
    let x = Tensor::from_slice(&data.0, (SAMPLES, 784), &device)?;
    let y = Tensor::from_slice(&data.1, SAMPLES, &device)?;
    let mut sgd = SGD::new(varmap.all_vars(), LR)?;
    let mut losses = Vec::with_capacity(STEPS);
    for step in 0..STEPS {
        let start = (step * BATCH) % SAMPLES;
        let logits = net.forward(&x.narrow(0, start, BATCH)?)?;
        let l = loss::cross_entropy(&logits, &y.narrow(0, start, BATCH)?)?;
        sgd.backward_step(&l)?;
        losses.push(l.to_scalar::<f32>()? as f64);
    }
    Ok(losses)
}

fn plot(path: &str, runs: &[(String, Vec<f64>)]) -> Result<(), Box<dyn std::error::Error>> {
    let top = runs.iter().flat_map(|(_, l)| l.iter().copied()).fold(0.0f64, f64::max).min(10.0);
    let root = SVGBackend::new(path, (800, 480)).into_drawing_area();
    root.fill(&WHITE)?;
    let mut chart = ChartBuilder::on(&root)
        .caption("candle: seed network, synthetic 10-class task, SGD 0.05", ("sans-serif", 20))
        .margin(10)
        .x_label_area_size(35)
        .y_label_area_size(45)
        .build_cartesian_2d(0..STEPS, 0.0..top * 1.05)?;
    chart.configure_mesh().x_desc("step").y_desc("cross-entropy").draw()?;
    for (i, (name, losses)) in runs.iter().enumerate() {
        let color = Palette99::pick(i).to_rgba();
        chart
            .draw_series(LineSeries::new(
                losses.iter().enumerate().map(|(s, &l)| (s, l.min(top))),
                color.stroke_width(2),
            ))?
            .label(name.as_str())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2)));
    }
    chart.configure_series_labels().background_style(WHITE.mix(0.8)).border_style(BLACK).draw()?;
    root.present()?;
    Ok(())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let out = std::env::args()
        .nth(1)
        .unwrap_or_else(|| concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/candle-loss.svg").into());
    let data = dataset();
    let seed = 0;
    let inits: Vec<(&str, Option<InitSpec>)> = vec![
        ("candle default", None),
        ("torch", Some(InitSpec::preset("torch", seed))),
        ("xavier_uniform_", Some(InitSpec::preset("seed", seed).with_plan(weights("xavier_uniform_()")))),
        (
            "kaiming_normal_ fan_out",
            Some(
                InitSpec::preset("seed", seed)
                    .with_plan(weights("kaiming_normal_(mode='fan_out', nonlinearity='relu')")),
            ),
        ),
        ("orthogonal_", Some(InitSpec::preset("seed", seed).with_plan(weights("orthogonal_()")))),
    ];
    let mut runs = Vec::new();
    for (name, spec) in &inits {
        runs.push((name.to_string(), train(spec.clone(), &data)?));
    }
    println!("{:<26} {:>8} {:>8} {:>8} {:>8} {:>8}", "init", "step 0", "50", "100", "200", STEPS - 1);
    for (name, l) in &runs {
        println!("{name:<26} {:>8.4} {:>8.4} {:>8.4} {:>8.4} {:>8.4}", l[0], l[50], l[100], l[200], l[STEPS - 1]);
    }
    let again = train(inits[1].1.clone(), &data)?;
    println!("two runs of `torch` from seed {seed} give the same {STEPS} losses: {}", again == runs[1].1);
    plot(&out, &runs)?;
    println!("wrote {out}");
    Ok(())
}
