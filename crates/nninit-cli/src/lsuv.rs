//! `nninit lsuv`: layer-sequential unit-variance initialization of an MLP or plain CNN.

use std::collections::BTreeMap;
use std::path::PathBuf;

use candle_core::{Device, Tensor};
use nninit::io::{Entry, Overwrite};
use nninit::{Error, Result};
use nninit_probe::lsuv::{lsuv, LsuvOptions};

/// Arguments of `nninit lsuv`.
#[derive(clap::Args)]
pub struct LsuvArgs {
    #[command(flatten)]
    pub model: crate::ModelArgs,
    /// The data batch: a .npy file or a .safetensors file ([batch, features] or
    /// [batch, channels, h, w]); default: N(0, 1) inputs.
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// The tensor to use from a .safetensors --data [default: its only tensor].
    #[arg(long)]
    pub data_name: Option<String>,
    /// Inputs in the synthetic batch (without --data); CNN inputs are 16×16.
    #[arg(long, default_value_t = 256)]
    pub batch: usize,
    /// Accepted distance of each layer's output variance from 1.
    #[arg(long, default_value_t = 0.1)]
    pub tol: f64,
    /// Most rescaling rounds per layer.
    #[arg(long, default_value_t = 10)]
    pub max_iter: usize,
    /// Seed (orthogonal pre-init; the synthetic batch uses seed + 1).
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Output file.
    #[arg(short, long, default_value = "model.safetensors")]
    pub output: PathBuf,
    /// Overwrite the output file if it exists.
    #[arg(long)]
    pub force: bool,
    /// Print the per-layer report as JSON.
    #[arg(long)]
    pub json: bool,
}

fn candle(e: candle_core::Error) -> Error {
    Error::value(e.to_string())
}

fn batch(args: &LsuvArgs, first: &[usize]) -> Result<Tensor> {
    let Some(path) = &args.data else {
        let shape: Vec<usize> = match first {
            [_, i] => vec![args.batch, *i],
            [_, c, _, _] => vec![args.batch, *c, 16, 16],
            s => return Err(Error::value(format!("no synthetic batch for a first weight of shape {s:?}"))),
        };
        let mut t = nninit::Tensor::try_zeros(&shape, nninit::DType::F32)?;
        nninit::init::Init::Normal { mean: 0.0, std: 1.0 }
            .apply(t.view_mut()?, &mut nninit::Generator::manual_seed(args.seed.wrapping_add(1)))?;
        let v: Vec<f32> = t.to_f64_vec().into_iter().map(|x| x as f32).collect();
        return Tensor::from_vec(v, shape, &Device::Cpu).map_err(candle);
    };
    if !path.exists() {
        return Err(Error::value(format!("--data {}: no such file", path.display())));
    }
    let named = |e: candle_core::Error| Error::value(format!("--data {}: {e}", path.display()));
    match path.extension().and_then(|e| e.to_str()) {
        Some("npy") => Tensor::read_npy(path).map_err(named),
        Some("safetensors") => {
            let mut all = candle_core::safetensors::load(path, &Device::Cpu).map_err(named)?;
            let name = match &args.data_name {
                Some(n) => n.clone(),
                None if all.len() == 1 => all.keys().next().cloned().unwrap_or_default(),
                None => {
                    let mut names: Vec<&String> = all.keys().collect();
                    names.sort();
                    return Err(Error::value(format!(
                        "--data {} holds {} tensors ({}): choose one with --data-name",
                        path.display(),
                        names.len(),
                        names.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ")
                    )));
                }
            };
            all.remove(&name).ok_or_else(|| Error::value(format!("--data {}: no tensor `{name}`", path.display())))
        }
        _ => Err(Error::value(format!("--data {}: a .npy or .safetensors file", path.display()))),
    }
}

/// Runs LSUV and writes the checkpoint; returns the report text.
pub fn run(args: LsuvArgs) -> Result<String> {
    nninit::io::check_destination(&args.output, Overwrite::from_flag(args.force))?;
    let job = args.model.clone().job(args.seed, nninit::rng::Stream::Torch, None)?;
    let mut outcome = nninit::job::run_in_memory(&job)?;
    crate::warn(&outcome.warnings);
    let model = &mut outcome.model;
    let first = model
        .modules()
        .into_iter()
        .find_map(|id| {
            let m = model.module(id);
            m.slots
                .iter()
                .find(|s| s.name == "weight" && m.children.is_empty())
                .map(|s| model.tensor(s.tensor).shape().to_vec())
        })
        .ok_or_else(|| Error::value("the model has no weight"))?;
    let data = batch(&args, &first)?;
    let options = LsuvOptions { tol: args.tol, max_iter: args.max_iter, seed: args.seed };
    let report = lsuv(model, &data, &options).map_err(|e| match e {
        nninit_probe::Error::Nninit(e) => e,
        other => Error::value(other.to_string()),
    })?;
    // The checkpoint records each weight as orthogonal_(gain=scale) and each bias as zeros_,
    // which is what LSUV leaves, so `nninit check` tests it.
    let mut inits: BTreeMap<String, serde_json::Value> = nninit::check::expectations(model)
        .into_iter()
        .map(|(n, r)| {
            let mut e = serde_json::json!({ "init": r.init });
            if let Some((i, o)) = r.fans {
                e["fan_in"] = i.into();
                e["fan_out"] = o.into();
            }
            (n, e)
        })
        .collect();
    for l in &report {
        if let Some(e) = inits.get_mut(&l.name) {
            e["init"] = format!("orthogonal_(gain={:?})", l.scale).into();
        }
        let bias = l.name.strip_suffix("weight").map(|p| format!("{p}bias"));
        if let Some(e) = bias.and_then(|b| inits.get_mut(&b)) {
            e["init"] = "zeros_()".into();
        }
    }
    let metadata = BTreeMap::from([
        ("format".to_string(), "pt".to_string()),
        ("nninit.version".to_string(), env!("CARGO_PKG_VERSION").to_string()),
        ("nninit.seed".to_string(), args.seed.to_string()),
        ("nninit.inits".to_string(), serde_json::to_string(&inits).map_err(|e| Error::value(e.to_string()))?),
        ("nninit.lsuv".to_string(), format!("tol={} max_iter={}", args.tol, args.max_iter)),
    ]);
    let state = model.state_dict();
    let mut seen = std::collections::HashSet::new();
    let entries: Vec<Entry> = state
        .iter()
        .filter(|(_, id)| seen.insert(*id))
        .map(|(name, id)| Entry { name: name.clone(), source: model.tensor(*id) })
        .collect();
    nninit::io::write(&args.output, &entries, &metadata, Overwrite::from_flag(args.force))?;
    let failed = report.iter().filter(|l| !l.converged).count();
    let text = if args.json {
        serde_json::to_string_pretty(&report).map_err(|e| Error::value(e.to_string()))? + "\n"
    } else {
        let rows: Vec<Vec<String>> = report
            .iter()
            .map(|l| {
                vec![
                    l.name.clone(),
                    format!("{:.4}", l.initial_variance),
                    format!("{:.4}", l.variance),
                    format!("{:.4}", l.scale),
                    l.iterations.to_string(),
                    if l.converged { "yes".into() } else { format!("no: {}", l.note.clone().unwrap_or_default()) },
                ]
            })
            .collect();
        let mut t =
            crate::table::render(&["layer", "var(orthogonal)", "var(final)", "scale", "rounds", "converged"], &rows);
        t.push_str(&format!(
            "wrote {} (LSUV, tol {}, max_iter {}, seed {})\n",
            args.output.display(),
            args.tol,
            args.max_iter,
            args.seed
        ));
        t
    };
    if failed > 0 {
        crate::warn(&[format!("{failed} layers did not reach unit variance within {} (see the report)", args.tol)]);
    }
    Ok(text)
}
