//! The seed's network (784 → 256 → ReLU → 128 → ReLU → 10) trained with burn (ndarray backend,
//! autodiff) on a synthetic classification task under five initializations; prints a loss table,
//! writes a loss-curve plot (docs/burn-loss.svg), and shows that two runs from the same seed
//! give the same losses.
//!
//! ```text
//! cargo run --release -p nninit-burn --example train_burn [-- OUT.svg]
//! ```

use burn::module::Module;
use burn::nn::loss::CrossEntropyLossConfig;
use burn::nn::{Linear, LinearConfig};
use burn::optim::{GradientsParams, SgdConfig};
use burn::tensor::activation::relu;
use burn::tensor::{Device, Int, Tensor, TensorData};
use nninit::adapter::InitSpec;
use nninit::plan::Plan;
use plotters::prelude::*;

/// burn's ndarray backend, the one these results are pinned on (burn 0.22 deprecates it in
/// favour of `flex`).
#[allow(deprecated)]
fn cpu() -> Device {
    Device::ndarray()
}

const STEPS: usize = 300;
const BATCH: usize = 64;
const SAMPLES: usize = 4096;
const CLASSES: usize = 10;
const LR: f64 = 0.05;

/// Ten Gaussian clusters in 784 dimensions (centres N(0, 0.1²), noise N(0, 1)), drawn by
/// nninit's generator: the same data the candle example trains on.
fn dataset() -> (Vec<f32>, Vec<i64>) {
    let mut g = nninit::Generator::manual_seed(1234);
    let mut centres = nninit::Tensor::zeros(&[CLASSES, 784], nninit::DType::F32);
    nninit::init::normal_(centres.view_mut().unwrap(), 0.0, 0.1, &mut g).unwrap();
    let mut noise = nninit::Tensor::zeros(&[SAMPLES, 784], nninit::DType::F32);
    nninit::init::normal_(noise.view_mut().unwrap(), 0.0, 1.0, &mut g).unwrap();
    let (c, n) = (centres.to_f64_vec(), noise.to_f64_vec());
    let labels: Vec<i64> = (0..SAMPLES).map(|i| ((i * 7919) % CLASSES) as i64).collect();
    let x = (0..SAMPLES * 784).map(|k| (c[labels[k / 784] as usize * 784 + k % 784] + n[k]) as f32).collect();
    (x, labels)
}

/// PyTorch's construction order: nn.Sequential(Linear, ReLU, Linear, ReLU, Linear).
#[derive(Module, Debug)]
struct Net {
    fc1: Linear,
    fc2: Linear,
    fc3: Linear,
}

impl Net {
    fn new(device: &Device) -> Net {
        Net {
            fc1: LinearConfig::new(784, 256).init(device),
            fc2: LinearConfig::new(256, 128).init(device),
            fc3: LinearConfig::new(128, 10).init(device),
        }
    }
    fn forward(&self, x: Tensor<2>) -> Tensor<2> {
        self.fc3.forward(relu(self.fc2.forward(relu(self.fc1.forward(x)))))
    }
}

fn weights(init: &str) -> Plan {
    Plan::from_toml(&format!("[[rule]]\nlayer = \"Linear\"\nrole = \"weight\"\ninit = \"{init}\"\n")).unwrap()
}

/// Trains from the given init (`None`: burn's own, from burn's seeded generator) and returns the
/// loss of every step.
fn train(spec: Option<&InitSpec>, data: &(Vec<f32>, Vec<i64>)) -> Vec<f64> {
    let device = cpu().autodiff();
    device.seed(0);
    let net = Net::new(&device);
    let mut net = match spec {
        None => net,
        Some(spec) => nninit_burn::reinit(&net, spec).expect("nninit"),
    };
    let x = Tensor::<2>::from_data(TensorData::new(data.0.clone(), [SAMPLES, 784]), &device);
    let y = Tensor::<1, Int>::from_data(TensorData::new(data.1.clone(), [SAMPLES]), &device);
    let loss_fn = CrossEntropyLossConfig::new().init(&device);
    let mut optim = SgdConfig::new().init();
    let mut losses = Vec::with_capacity(STEPS);
    for step in 0..STEPS {
        let start = (step * BATCH) % SAMPLES;
        let logits = net.forward(x.clone().narrow(0, start, BATCH));
        let loss = loss_fn.forward(logits, y.clone().narrow(0, start, BATCH));
        losses.push(loss.clone().into_scalar::<f32>() as f64);
        let grads = GradientsParams::from_grads(loss.backward(), &net);
        net = optim.step(LR, net, grads);
    }
    losses
}

fn plot(path: &str, runs: &[(String, Vec<f64>)]) -> Result<(), Box<dyn std::error::Error>> {
    let top = runs.iter().flat_map(|(_, l)| l.iter().copied()).fold(0.0f64, f64::max).min(10.0);
    let root = SVGBackend::new(path, (800, 480)).into_drawing_area();
    root.fill(&WHITE)?;
    let mut chart = ChartBuilder::on(&root)
        .caption("burn: seed network, synthetic 10-class task, SGD 0.05", ("sans-serif", 20))
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
        .unwrap_or_else(|| concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/burn-loss.svg").into());
    let data = dataset();
    let seed = 0;
    let inits: Vec<(&str, Option<InitSpec>)> = vec![
        ("burn default", None),
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
    let runs: Vec<(String, Vec<f64>)> = inits.iter().map(|(n, s)| (n.to_string(), train(s.as_ref(), &data))).collect();
    println!("{:<26} {:>8} {:>8} {:>8} {:>8} {:>8}", "init", "step 0", "50", "100", "200", STEPS - 1);
    for (name, l) in &runs {
        println!("{name:<26} {:>8.4} {:>8.4} {:>8.4} {:>8.4} {:>8.4}", l[0], l[50], l[100], l[200], l[STEPS - 1]);
    }
    let again = train(inits[1].1.as_ref(), &data);
    println!("two runs of `torch` from seed {seed} give the same {STEPS} losses: {}", again == runs[1].1);
    plot(&out, &runs)?;
    println!("wrote {out}");
    Ok(())
}
