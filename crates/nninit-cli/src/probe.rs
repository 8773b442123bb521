//! `nninit probe`: activation and gradient std per layer of a deep net at initialization, for
//! several schemes side by side.

use std::path::PathBuf;

use nninit::{Error, Result};
use nninit_probe::{Activation, Arch, Curve, ProbeConfig};

/// Arguments of `nninit probe`.
#[derive(clap::Args)]
pub struct ProbeArgs {
    /// Network: mlp ([width, width] weights) or cnn ([width, width, 3, 3] kernels on 8×8 inputs).
    #[arg(long, default_value = "mlp")]
    pub net: String,
    /// Number of layers.
    #[arg(long, default_value_t = 30)]
    pub depth: usize,
    /// Features (MLP) or channels (CNN) per layer.
    #[arg(long, default_value_t = 256)]
    pub width: usize,
    /// Inputs in the random batch.
    #[arg(long, default_value_t = 256)]
    pub batch: usize,
    /// Nonlinearity: linear, tanh, relu, leaky_relu, gelu, selu.
    #[arg(long, default_value = "relu")]
    pub activation: String,
    /// A scheme, `label=init` or an init (repeatable) [default: standard (PyTorch's layer
    /// default, U(−1/√n, 1/√n)), xavier_normal_, kaiming_normal_(relu)].
    #[arg(long)]
    pub scheme: Vec<String>,
    /// Seed of the weights, the inputs and the output gradient.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Write a plot (.png or .svg; repeatable).
    #[arg(long)]
    pub plot: Vec<PathBuf>,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

fn probe_error(e: nninit_probe::Error) -> Error {
    match e {
        nninit_probe::Error::Nninit(e) => e,
        other => Error::value(other.to_string()),
    }
}

/// The schemes: `label=init` or an init.
pub fn schemes(given: &[String]) -> Result<Vec<(String, nninit::init::Init)>> {
    let defaults = [
        "standard=kaiming_uniform_(a=sqrt(5))".to_string(),
        "xavier=xavier_normal_()".to_string(),
        "kaiming=kaiming_normal_(nonlinearity='relu')".to_string(),
    ];
    let list = if given.is_empty() { &defaults[..] } else { given };
    list.iter()
        .map(|s| {
            let (label, init) = match s.split_once('=') {
                Some((l, i)) if !l.contains('(') => (l.trim().to_string(), i.trim()),
                _ => (s.split('(').next().unwrap_or(s).trim_end_matches('_').to_string(), s.as_str()),
            };
            let init = crate::parse_init(init).map_err(|e| Error::parse("init", init, e))?;
            Ok((label, init))
        })
        .collect()
}

/// Runs the probe; returns the text to print.
pub fn run(args: ProbeArgs) -> Result<String> {
    let arch = match args.net.as_str() {
        "mlp" => Arch::Mlp,
        "cnn" => Arch::Cnn,
        other => return Err(Error::value(format!("--net must be mlp or cnn, got {other}"))),
    };
    let activation: Activation = args.activation.parse().map_err(probe_error)?;
    let config =
        ProbeConfig { depth: args.depth, width: args.width, batch: args.batch, activation, arch, seed: args.seed };
    let curves: Vec<Curve> = schemes(&args.scheme)?
        .iter()
        .map(|(label, init)| nninit_probe::probe(&config, label, init).map_err(probe_error))
        .collect::<Result<_>>()?;
    let title = format!("{} {} × {}, {}", args.net, args.depth, args.width, args.activation);
    for path in &args.plot {
        nninit_probe::plot::save(&curves, &title, path).map_err(probe_error)?;
    }
    if args.json {
        let v = serde_json::json!({ "config": config, "curves": curves });
        return serde_json::to_string_pretty(&v).map(|s| s + "\n").map_err(|e| Error::value(e.to_string()));
    }
    let mut header = vec!["layer".to_string()];
    for c in &curves {
        header.push(format!("{} act", c.scheme));
        header.push(format!("{} grad", c.scheme));
    }
    let rows: Vec<Vec<String>> = (0..args.depth)
        .map(|i| {
            let mut r = vec![(i + 1).to_string()];
            for c in &curves {
                r.push(format!("{:.4e}", c.layers[i].activation_std));
                r.push(format!("{:.4e}", c.layers[i].gradient_std));
            }
            r
        })
        .collect();
    let header: Vec<&str> = header.iter().map(String::as_str).collect();
    let mut out = format!("{title}; input std {:.4}\n", curves.first().map_or(0.0, |c| c.input_std));
    out.push_str(&crate::table::render(&header, &rows));
    for c in &curves {
        out.push_str(&format!("{}: {}\n", c.scheme, crate::pretty::init(&c.init)));
    }
    Ok(out)
}
