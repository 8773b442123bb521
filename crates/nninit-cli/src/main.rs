//! `nninit`: initialize models and tensors as PyTorch does, and inspect checkpoints.

mod check;
#[cfg(feature = "probe")]
mod lsuv;
mod pretty;
#[cfg(feature = "probe")]
mod probe;
mod report;
mod table;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use nninit::init::Init;
use nninit::io::{Checkpoint, Entry, Overwrite};
use nninit::job::{self, InitJob, Source};
use nninit::plan::{Plan, Unmatched};
use nninit::rng::Philox;
use nninit::rng::Stream;
use nninit::shard::Shard;
use nninit::stats::Stats;
use nninit::{DType, Error, Generator, Result, Tensor};

#[derive(Parser)]
#[command(
    name = "nninit",
    version,
    about = "Neural-network parameter initialization, faithful to PyTorch's torch.nn.init"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// Which model, and which plan: shared by `init` and `plan`.
#[derive(clap::Args, Clone)]
struct ModelArgs {
    /// Built-in architecture: mlp, resnet18, resnet50, vgg11_bn, mobilenet_v2, mobilenet_v3_large,
    /// efficientnet_b0, densenet121, convnext_tiny, vit_b_16, or a torch.nn
    /// constructor call such as "nn.LSTM(8, 16, num_layers=2)" or "nn.Transformer(d_model=512)".
    #[arg(long, conflicts_with_all = ["config", "like"])]
    arch: Option<String>,
    /// Layer sizes for --arch mlp [default: 784,256,128,10].
    #[arg(long, value_delimiter = ',')]
    dims: Option<Vec<usize>>,
    /// A Hugging Face config.json (BERT, RoBERTa, GPT-2, GPT-NeoX, Llama, Qwen2, Qwen3, Mistral,
    /// Gemma, Phi-3, T5, ViT). With --like: the checkpoint's config (its pad_token_id gives the
    /// padding rows; its numbers are plan variables).
    #[arg(long)]
    config: Option<PathBuf>,
    /// Re-initialize the layout of an existing checkpoint (same names, shapes, dtypes); buffers
    /// (masks, rotary frequencies, position ids) are kept, BatchNorm statistics reset.
    #[arg(long)]
    like: Option<PathBuf>,
    /// Built-in plan: torch (layer defaults), seed, bert. Default: seed for the MLP, torch otherwise.
    #[arg(long)]
    preset: Option<String>,
    /// A TOML plan ([[rule]] tables, optional [vars]); its rules take precedence over the preset's.
    #[arg(long)]
    plan: Option<PathBuf>,
    /// A plan rule that selects no parameter is an error (default: a warning on stderr).
    #[arg(long)]
    strict: bool,
    /// dtype of the generated tensors: f32, f64, f16, bf16.
    #[arg(long)]
    dtype: Option<DType>,
}

#[derive(Subcommand)]
enum Command {
    /// Build a model, initialize it by a plan, write a safetensors checkpoint and print a report.
    ///
    /// With no arguments: the MLP 784 → 256 → 128 → 10 with the `seed` preset, seed 0, written to
    /// model.safetensors.
    Init {
        #[command(flatten)]
        model: ModelArgs,
        /// Seed (torch.manual_seed): 0 to 2^64 − 1, or a negative number down to −2^63, taken as
        /// its 64-bit two's complement as PyTorch does (−1 is 2^64 − 1).
        #[arg(long, default_value = "0", value_parser = parse_seed, allow_negative_numbers = true)]
        seed: u64,
        /// Random stream: torch (bit-exact with PyTorch) or philox (counter-based: each value a
        /// function of seed, tensor name and index).
        #[arg(long, default_value = "torch")]
        rng: Stream,
        /// Write only this rank's slice of each tensor: RANK/WORLD (e.g. 0/8), or `auto` (from
        /// torchrun's RANK/WORLD_SIZE, Slurm's SLURM_PROCID/SLURM_NTASKS or Open MPI's
        /// OMPI_COMM_WORLD_RANK/OMPI_COMM_WORLD_SIZE).
        #[arg(long)]
        shard: Option<String>,
        /// The dimension --shard splits (tensors with fewer dimensions are kept whole).
        #[arg(long, default_value_t = 0, requires = "shard")]
        shard_dim: usize,
        /// Split each tensor as tensor parallelism does instead of along one dimension: `auto`
        /// (the config's base_model_tp_plan, as transformers' tp_plan="auto") or a file (TOML
        /// [tp_plan] table or JSON object of "key" = "style"); needs --shard.
        #[arg(long, requires = "shard", conflicts_with = "shard_dim")]
        tp_plan: Option<PathBuf>,
        /// Worker threads (default: NNINIT_NUM_THREADS, else all cores). Results do not depend on it.
        #[arg(long)]
        threads: Option<usize>,
        /// Output file.
        #[arg(short, long, default_value = "model.safetensors")]
        output: PathBuf,
        /// Overwrite the output file if it exists.
        #[arg(long)]
        force: bool,
        /// Write a Hugging Face model folder instead of one file (what save_pretrained writes:
        /// config.json with the dtype written, model.safetensors or shards and their index);
        /// needs --config.
        #[arg(long, requires = "config", conflicts_with_all = ["output", "shard"])]
        save_pretrained: Option<PathBuf>,
        /// Largest shard of --save-pretrained, as transformers: 50GB, 500MB, 20KB or bytes.
        #[arg(long, default_value = nninit::folder::DEFAULT_MAX_SHARD_SIZE, requires = "save_pretrained")]
        max_shard_size: String,
        /// Copy the tensors an existing checkpoint (a safetensors file or a model folder) already
        /// has, byte for byte; initialize only the others (as from_pretrained).
        #[arg(long, requires = "config")]
        from: Option<PathBuf>,
        /// With --from, initialize tensors whose shape differs instead of failing.
        #[arg(long, requires = "from")]
        ignore_mismatched_sizes: bool,
        /// With --from, draw the new rows of a grown vocabulary (embeddings, lm_head) by the plan
        /// instead of from the old rows' mean and covariance (transformers'
        /// resize_token_embeddings(mean_resizing=False); its default is True).
        #[arg(long, requires = "from")]
        no_mean_resizing: bool,
        /// Print the full per-tensor table (init, fans, expected std, measured moments), not
        /// only the summary.
        #[arg(long, short)]
        verbose: bool,
    },
    /// Dry run: build the model and apply the plan without drawing anything, and print per
    /// parameter the rules that matched, the init it ends with, its fans and the distribution of
    /// its values (bound or std, expected mean and std).
    Plan {
        #[command(flatten)]
        model: ModelArgs,
        /// Print JSON (one object per parameter) instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Initialize one tensor named `tensor` and write it to a safetensors file.
    Tensor {
        /// Shape, comma-separated (e.g. 64,3,3,3); empty (`--shape ""`) for a 0-d tensor.
        #[arg(long, value_parser = parse_shape, num_args = 0..=1, default_missing_value = "")]
        shape: Shape,
        /// The init, in PyTorch call syntax, e.g. "kaiming_normal_(mode='fan_out', nonlinearity='relu')".
        #[arg(long, value_parser = parse_init)]
        init: Init,
        /// Seed (torch.manual_seed): 0 to 2^64 − 1, or a negative number down to −2^63, taken as
        /// its 64-bit two's complement as PyTorch does (−1 is 2^64 − 1).
        #[arg(long, default_value = "0", value_parser = parse_seed, allow_negative_numbers = true)]
        seed: u64,
        /// dtype: f32, f64, f16, bf16.
        #[arg(long, default_value = "f32")]
        dtype: DType,
        /// Random stream: torch or philox (keyed by the tensor name `tensor`).
        #[arg(long, default_value = "torch")]
        rng: Stream,
        /// Worker threads (default: NNINIT_NUM_THREADS, else all cores). Results do not depend on it.
        #[arg(long)]
        threads: Option<usize>,
        /// Output file.
        #[arg(short, long, default_value = "tensor.safetensors")]
        output: PathBuf,
        /// Overwrite the output file if it exists.
        #[arg(long)]
        force: bool,
    },
    /// Time one init on one tensor in memory (no file): prints a JSON line with the best of
    /// --repeat runs, in seconds and elements per second.
    Bench {
        /// Shape, comma-separated; empty for a 0-d tensor.
        #[arg(long, value_parser = parse_shape, num_args = 0..=1, default_missing_value = "")]
        shape: Shape,
        /// The init, in PyTorch call syntax.
        #[arg(long, value_parser = parse_init)]
        init: Init,
        /// dtype: f32, f64, f16, bf16.
        #[arg(long, default_value = "f32")]
        dtype: DType,
        /// Random stream: torch or philox.
        #[arg(long, default_value = "torch")]
        rng: Stream,
        /// Runs; the fastest is reported.
        #[arg(long, default_value_t = 5)]
        repeat: usize,
        /// Worker threads (default: NNINIT_NUM_THREADS, else all cores).
        #[arg(long)]
        threads: Option<usize>,
    },
    /// Per-tensor statistics of a safetensors checkpoint: dtype, shape, fans, mean, std, min, max.
    Stats {
        /// The checkpoint.
        file: PathBuf,
    },
    /// Check that each tensor's values are what its init should give: per tensor, statistical
    /// tests against the scheme's law (KS, mean, std, kurtosis, range, values at a bound) and
    /// exact tests of its structure, each passing a correct tensor with probability ≥ 1 − 1e-6;
    /// names the likely cause of a failure. Exits non-zero when a tensor fails.
    Check(check::CheckArgs),
    /// Signal propagation at initialization: per layer the std of the activations (forward) and
    /// of the gradients (backward) of a deep MLP or CNN on a random batch, for several schemes
    /// side by side (a table, --json, and plots with --plot FILE.png/.svg).
    /// One self-contained HTML page (no network): per tensor its histogram against the scheme's
    /// density, the check's results, the init, fans and shard; a probe plot with --probe-depth.
    Report(report::ReportArgs),
    #[cfg(feature = "probe")]
    Probe(probe::ProbeArgs),
    /// LSUV (Mishkin & Matas 2015): orthogonal pre-init, then each Linear/Conv2d weight rescaled
    /// until its output variance on a data batch is 1 within --tol; writes the checkpoint and
    /// prints a per-layer report.
    #[cfg(feature = "probe")]
    Lsuv(lsuv::LsuvArgs),
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) if !e.use_stderr() => e.exit(),
        Err(e) if e.kind() == clap::error::ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => e.exit(),
        Err(e) => {
            // One line: clap's message (all of it, e.g. the missing arguments) without the usage.
            let text = e.to_string();
            let message: Vec<&str> = text
                .lines()
                .take_while(|l| !l.starts_with("Usage:"))
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .collect();
            eprintln!("nninit: {}", message.join(" ").trim_start_matches("error: "));
            return ExitCode::from(2);
        }
    };
    remove_partial_output_on_signals();
    return_freed_memory();
    match run(cli.command) {
        Ok(()) => ExitCode::SUCCESS,
        // Interrupted: whatever the work failed with (the cancellation, or its temporary file
        // removed under it), the status says which signal stopped it.
        Err(_) if SIGNAL.load(std::sync::atomic::Ordering::Relaxed) != 0 => {
            nninit::io::remove_temporary_files();
            ExitCode::from(128 + SIGNAL.load(std::sync::atomic::Ordering::Relaxed) as u8)
        }
        Err(Error::Cancelled) => {
            nninit::io::remove_temporary_files();
            ExitCode::from(128 + SIGNAL.load(std::sync::atomic::Ordering::Relaxed) as u8)
        }
        Err(e) => {
            eprintln!("nninit: error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(command: Command) -> Result<()> {
    match command {
        Command::Init {
            model,
            seed,
            rng,
            shard,
            shard_dim,
            tp_plan,
            threads,
            output,
            force,
            save_pretrained,
            max_shard_size,
            from,
            ignore_mismatched_sizes,
            no_mean_resizing,
            verbose,
        } => {
            let start = std::time::Instant::now();
            set_threads(threads)?;
            let plan_file = model.plan.clone();
            let shard = shard
                .map(|s| match s.as_str() {
                    "auto" => Shard::from_env(|k| std::env::var(k).ok(), shard_dim),
                    _ => Shard::parse(&s, shard_dim),
                })
                .transpose()?;
            let max_shard_size = nninit::folder::parse_size(&max_shard_size)?;
            if let Some(p) = from.as_ref().filter(|p| !p.exists()) {
                return Err(Error::value(format!("--from {}: no such file", p.display())));
            }
            let config_path = model.config.clone();
            // The recipe first (no values yet), so bad input is reported before an existing
            // output is.
            let job = model.job(seed, rng, shard)?;
            let outcome = match from {
                Some(path) => {
                    let base = job::Base { path, ignore_mismatched_sizes, mean_resizing: !no_mean_resizing };
                    let (outcome, loaded) = job::run_from(&job, &base)?;
                    if !loaded.mismatched.is_empty() {
                        eprintln!(
                            "warning: {} tensor(s) of another shape initialized: {}",
                            loaded.mismatched.len(),
                            loaded.mismatched.join(", ")
                        );
                    }
                    let grown: Vec<String> =
                        loaded.grown.iter().map(|(n, rows)| format!("{n} (from {rows} rows)")).collect();
                    say(&format!(
                        "copied {} tensor(s) from {}; {}{} initialized\n",
                        loaded.copied.len(),
                        base.path.display(),
                        match grown.len() {
                            0 => String::new(),
                            n => format!("{n} grown: {}; ", grown.join(", ")),
                        },
                        loaded.initialized.len() + loaded.mismatched.len()
                    ));
                    outcome
                }
                None => job::run(&job)?,
            };
            let mut outcome = match &tp_plan {
                Some(p) => {
                    let config = config_path.as_ref().map(|c| job::read_config(c)).transpose()?;
                    let name = config_path.as_ref().map(|c| c.display().to_string()).unwrap_or_default();
                    let plan = match (p.to_str(), &config) {
                        (Some("auto"), Some(c)) => nninit::tp::TpPlan::for_config(c, &name)?,
                        (Some("auto"), None) => return Err(Error::value("--tp-plan auto needs --config")),
                        _ => nninit::tp::TpPlan::load(p)?,
                    };
                    outcome.tensor_parallel(&plan, config.as_ref().map(|c| (c, name.as_str())))?
                }
                None => outcome,
            };
            // The plan's per-parameter report is `nninit plan`'s; the checkpoint's report reads
            // the model's provenance. Freed before writing (a row per parameter).
            outcome.report.applied = Vec::new();
            warn(&outcome.warnings);
            if let (Some(dir), Some(config)) = (save_pretrained, config_path) {
                let config = job::read_config(&config)?;
                let bar = Progress::new();
                let overwrite = Overwrite::from_flag(force);
                let rows = outcome.save_pretrained(&dir, &config, max_shard_size, overwrite, &|done, total| {
                    bar.update(done, total)
                })?;
                bar.finish();
                if verbose {
                    say(&table::init_report(&rows));
                }
                say(&format!("wrote {} (preset {}, seed {seed})\n", dir.display(), outcome.preset));
                return Ok(());
            }
            nninit::io::check_destination(&output, Overwrite::from_flag(force))?;
            let bar = Progress::new();
            let overwrite = Overwrite::from_flag(force);
            let rows = outcome
                .save_with_progress(&output, overwrite, BTreeMap::new(), &|done, total| bar.update(done, total))?;
            bar.finish();
            if verbose {
                say(&table::init_report(&rows));
            }
            let summary = table::InitSummary {
                rows: &rows,
                bytes: std::fs::metadata(&output).map(|m| m.len()).unwrap_or(0),
                rng,
                seed,
                shard: shard.map(|s| match tp_plan {
                    Some(_) => format!("{}/{} tp", s.rank, s.world),
                    None => format!("{}/{} dim {}", s.rank, s.world, s.dim),
                }),
                preset: &outcome.preset,
                plan: plan_file.map(|p| p.display().to_string()),
                seconds: start.elapsed().as_secs_f64(),
            };
            say(&summary.render(&output));
            Ok(())
        }
        Command::Plan { model, json } => {
            let outcome = job::run(&model.job(0, Stream::Torch, None)?)?;
            warn(&outcome.warnings);
            let rows = nninit::report::plan_rows(&outcome.model, &outcome.report);
            if json {
                let text = serde_json::to_string_pretty(&rows).map_err(|e| Error::value(e.to_string()))?;
                say(&format!("{text}\n"));
            } else {
                say(&table::plan_report(&rows));
                for (i, rule) in outcome.plan.rules.iter().enumerate() {
                    say(&format!("rule {}: {rule}\n", i + 1));
                }
            }
            Ok(())
        }
        Command::Tensor { shape: Shape(shape), init, seed, dtype, rng, threads, output, force } => {
            set_threads(threads)?;
            nninit::io::check_destination(&output, Overwrite::from_flag(force))?;
            let mut t = Tensor::try_zeros(&shape, dtype)?;
            match rng {
                Stream::Torch => init.apply(t.view_mut()?, &mut Generator::manual_seed(seed))?,
                Stream::Philox => init.apply(t.view_mut()?, &mut Philox::new(seed, "tensor"))?,
            }
            let metadata = BTreeMap::from([
                ("format".to_string(), "pt".to_string()),
                ("nninit.init".to_string(), init.to_string()),
                ("nninit.seed".to_string(), seed.to_string()),
            ]);
            nninit::io::write(
                &output,
                &[Entry { name: "tensor".into(), source: &t }],
                &metadata,
                Overwrite::from_flag(force),
            )?;
            let row = table::stats_row("tensor", &t, Stats::of_tensor(&t), init.expected_std(&shape), None);
            say(&table::stats_report(&[row], true));
            say(&format!("wrote {} ({init}, seed {seed})\n", output.display()));
            Ok(())
        }
        Command::Bench { shape: Shape(shape), init, dtype, rng, repeat, threads } => {
            set_threads(threads)?;
            if repeat == 0 {
                return Err(Error::value("--repeat must be at least 1"));
            }
            let mut t = Tensor::try_zeros(&shape, dtype)?;
            let mut best = f64::INFINITY;
            for _ in 0..repeat.max(1) {
                let start = std::time::Instant::now();
                match rng {
                    Stream::Torch => init.apply(t.view_mut()?, &mut Generator::manual_seed(0))?,
                    Stream::Philox => init.apply(t.view_mut()?, &mut Philox::new(0, "tensor"))?,
                }
                best = best.min(start.elapsed().as_secs_f64());
            }
            let n = t.numel() as f64;
            say(&format!("{{\"seconds\": {best:.6}, \"elements_per_second\": {:.0}}}\n", n / best));
            Ok(())
        }
        #[cfg(feature = "probe")]
        Command::Probe(args) => {
            let text = probe::run(args)?;
            say(&text);
            Ok(())
        }
        #[cfg(feature = "probe")]
        Command::Lsuv(args) => {
            let text = lsuv::run(args)?;
            say(&text);
            Ok(())
        }
        Command::Report(args) => {
            let text = report::run(args)?;
            say(&text);
            Ok(())
        }
        Command::Check(args) => {
            let text = check::run(args)?;
            say(&text);
            Ok(())
        }
        Command::Stats { file } => {
            let ckpt = Checkpoint::open(&file)?;
            // How the checkpoint was made, as its metadata records it: one line per entry, and
            // each tensor's init (`nninit.inits`) as a column.
            let inits: serde_json::Map<String, serde_json::Value> =
                ckpt.metadata().get("nninit.inits").and_then(|s| serde_json::from_str(s).ok()).unwrap_or_default();
            let mut metadata: Vec<(&String, &String)> = ckpt.metadata().iter().collect();
            metadata.sort();
            for (key, value) in metadata {
                if key != "nninit.inits" {
                    say(&format!("{key}: {}\n", value.trim_end().replace('\n', "\n    ")));
                }
            }
            // `nninit tensor` records its one tensor's init as `nninit.init`.
            let single = ckpt.metadata().get("nninit.init").filter(|_| ckpt.tensors().len() == 1);
            let mut rows = Vec::new();
            for info in ckpt.tensors() {
                let t = ckpt.tensor(info)?;
                let recorded = inits
                    .get(&info.name)
                    .and_then(|e| {
                        let fan = |k: &str| e.get(k).and_then(|v| v.as_u64()).map(|v| v as usize);
                        Some(table::Recorded {
                            init: e.get("init")?.as_str()?,
                            fans: fan("fan_in").zip(fan("fan_out")),
                        })
                    })
                    .or(single.map(|init| table::Recorded { init, fans: None }));
                rows.push(table::stats_row(&info.name, &t, Stats::of_tensor(&t), None, recorded));
            }
            say(&table::stats_report(&rows, false));
            Ok(())
        }
    }
}

/// A seed as `torch.manual_seed` takes it: `0..2^64`, or `-2^63..0` wrapped to its two's
/// complement.
fn parse_seed(s: &str) -> std::result::Result<u64, String> {
    let range = "a seed is between -9223372036854775808 and 18446744073709551615";
    match s.trim().parse::<i128>() {
        Ok(v) if (i64::MIN as i128..=u64::MAX as i128).contains(&v) => Ok(v as u64),
        Ok(v) => Err(format!("{v} is out of range: {range}")),
        Err(_) => Err(format!("`{s}` is not an integer: {range}")),
    }
}

/// An init call, with arithmetic in its arguments (`normal_(0, 1 / sqrt(512))`) as in plans.
fn parse_init(s: &str) -> std::result::Result<Init, String> {
    match s.parse::<nninit::plan::RuleInit>().map_err(|e| e.to_string())? {
        nninit::plan::RuleInit::Init(init) => Ok(init),
        nninit::plan::RuleInit::Keep => Err("keep_() keeps a model's given values: use it in a plan".into()),
        t @ nninit::plan::RuleInit::Template(_) => match s.parse::<Init>() {
            // `mode=fan_out`: a string written without quotes, not a variable.
            Err(e) if e.to_string().contains("strings are quoted") => Err(e.to_string()),
            _ => Err(format!(
                "reads {}, which only a model defines: use it in a plan (--plan)",
                t.variables().join(", ")
            )),
        },
    }
}

/// A tensor shape from the command line.
#[derive(Clone, Debug)]
struct Shape(Vec<usize>);

/// `64,3,3,3` → `[64, 3, 3, 3]`; the empty string → `[]` (a 0-d tensor).
fn parse_shape(s: &str) -> std::result::Result<Shape, String> {
    if s.trim().is_empty() {
        return Ok(Shape(Vec::new()));
    }
    s.split(',')
        .map(|d| d.trim().parse::<usize>().map_err(|_| format!("`{d}` is not a dimension (a non-negative integer)")))
        .collect::<std::result::Result<Vec<_>, _>>()
        .map(Shape)
}

impl ModelArgs {
    /// The job these arguments describe.
    fn job(self, seed: u64, rng: Stream, shard: Option<Shard>) -> Result<InitJob> {
        let ModelArgs { arch, dims, config, like, preset, plan, strict, dtype } = self;
        // A missing file is named with the flag it was given to.
        for (flag, path) in [("--config", &config), ("--like", &like), ("--plan", &plan)] {
            if let Some(p) = path.as_ref().filter(|p| !p.exists()) {
                return Err(Error::value(format!("{flag} {}: no such file", p.display())));
            }
        }
        let dims_given_elsewhere = dims.is_some() && (config.is_some() || like.is_some());
        let source = match (config, like) {
            (Some(config), Some(checkpoint)) => Source::LikeWithConfig { checkpoint, config },
            (Some(c), None) => Source::Config(c),
            (None, Some(l)) => Source::Like(l),
            (None, None) => {
                let name = arch.unwrap_or_else(|| "mlp".into());
                if dims.is_some() && name != "mlp" {
                    return Err(Error::value(format!("--dims is for --arch mlp, not {name}")));
                }
                Source::Arch { name, dims: dims.unwrap_or_else(|| vec![784, 256, 128, 10]) }
            }
        };
        if dims_given_elsewhere {
            return Err(Error::value("--dims is for --arch mlp"));
        }
        let plan = plan.map(|p| Plan::from_file(&p)).transpose()?;
        let unmatched = if strict { Unmatched::Error } else { Unmatched::Warn };
        Ok(InitJob { source, preset, plan, seed, dtype, rng, shard, unmatched })
    }
}

/// Prints each warning as one `warning: ...` line on stderr.
fn warn(warnings: &[String]) {
    for w in warnings {
        eprintln!("warning: {w}");
    }
}

/// Sizes the worker pool: `--threads`, else `NNINIT_NUM_THREADS`, else one per core; never more
/// than one per core.
fn set_threads(threads: Option<usize>) -> Result<()> {
    let from_env = std::env::var("NNINIT_NUM_THREADS").ok();
    let (n, source) = match (threads, from_env) {
        (Some(n), _) => (n, "--threads"),
        (None, Some(v)) if v.trim().is_empty() => return Ok(()),
        (None, Some(v)) => {
            (v.trim().parse().map_err(|_| Error::parse("NNINIT_NUM_THREADS", v, "not a number"))?, "NNINIT_NUM_THREADS")
        }
        (None, None) => return Ok(()),
    };
    if !(1..=1024).contains(&n) {
        return Err(Error::value(format!("{source} must be between 1 and 1024, got {n}")));
    }
    // More workers than cores only add switching and smaller chunks (the philox stream sizes its
    // chunks by the pool): the pool is capped at the core count. Results do not depend on it.
    let cores = std::thread::available_parallelism().map_or(n, |c| c.get());
    rayon::ThreadPoolBuilder::new().num_threads(n.min(cores)).build_global().map_err(|e| Error::value(e.to_string()))
}

/// The signal that interrupted the command (for its exit status, 128 + signal).
static SIGNAL: std::sync::atomic::AtomicI32 = std::sync::atomic::AtomicI32::new(0);

/// How long an interrupted command may take to stop by itself (its loops check
/// `nninit::cancel`) before the process exits anyway.
const STOP_GRACE: std::time::Duration = std::time::Duration::from_millis(500);

/// On SIGINT, SIGTERM or SIGHUP, says so on stderr (one line), asks the running work to stop
/// (`nninit::cancel::request`), deletes the temporary file of a checkpoint being written and
/// exits (128 + signal) — at once when the work stops, after [`STOP_GRACE`] otherwise; SIGXFSZ
/// (a file-size limit) becomes a write error like any other.
/// Large blocks (≥ 128 KiB) go to their own mappings and back to the system when freed. glibc
/// otherwise raises that threshold after each large free, up to 32 MiB, and serves the next
/// blocks from the heap, where they stay resident as holes once freed: 16 MB of a 100,000-layer
/// model's peak.
fn return_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets a tuning parameter of the allocator; no memory is touched.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 128 * 1024);
    }
}

fn remove_partial_output_on_signals() {
    use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM, SIGXFSZ};
    let _ = signal_hook::flag::register(SIGXFSZ, std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false)));
    if let Ok(mut signals) = signal_hook::iterator::Signals::new([SIGINT, SIGTERM, SIGHUP]) {
        std::thread::spawn(move || {
            if let Some(signal) = signals.forever().next() {
                let name = match signal {
                    SIGINT => "SIGINT",
                    SIGTERM => "SIGTERM",
                    _ => "SIGHUP",
                };
                eprintln!("nninit: interrupted by {name}: stopping; an output being written is removed");
                SIGNAL.store(signal, std::sync::atomic::Ordering::Relaxed);
                nninit::cancel::request();
                nninit::io::remove_temporary_files();
                std::thread::sleep(STOP_GRACE);
                nninit::io::remove_temporary_files();
                std::process::exit(128 + signal);
            }
        });
    }
}

/// Prints to stdout; a closed pipe (`nninit ... | head`) ends the output quietly.
fn say(text: &str) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    if out.write_all(text.as_bytes()).and_then(|_| out.flush()).is_err() {
        std::process::exit(0);
    }
}

/// A progress bar for writing, on stderr, shown only on a terminal and only once the write has
/// taken more than a second.
struct Progress {
    bar: indicatif::ProgressBar,
    start: std::time::Instant,
}

impl Progress {
    fn new() -> Self {
        let bar = indicatif::ProgressBar::with_draw_target(None, indicatif::ProgressDrawTarget::hidden());
        bar.set_style(
            indicatif::ProgressStyle::with_template("writing {bar:40} {bytes}/{total_bytes} {bytes_per_sec} eta {eta}")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        Progress { bar, start: std::time::Instant::now() }
    }

    fn update(&self, done: u64, total: u64) {
        if self.bar.is_hidden() && self.start.elapsed().as_secs_f64() > 1.0 {
            self.bar.set_draw_target(indicatif::ProgressDrawTarget::stderr());
        }
        self.bar.set_length(total);
        self.bar.set_position(done);
    }

    fn finish(&self) {
        self.bar.finish_and_clear();
    }
}
