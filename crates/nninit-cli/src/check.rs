//! `nninit check`: whether a checkpoint's values are what their inits should give.

use std::path::PathBuf;

use nninit::check::{self, Status, TensorCheck};
use nninit::job::{self, InitJob, Source};
use nninit::plan::{Plan, Unmatched};
use nninit::{Error, Result};

/// Arguments of `nninit check`.
#[derive(clap::Args)]
pub struct CheckArgs {
    /// A safetensors checkpoint, or a model folder (shards, with or without
    /// model.safetensors.index.json).
    pub file: PathBuf,
    /// Check against this plan applied to the checkpoint's layout (as `init --like`), not the
    /// inits the checkpoint records: for checkpoints made elsewhere.
    #[arg(long)]
    pub plan: Option<PathBuf>,
    /// Check against the model a Hugging Face config.json builds (with --plan/--preset).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// The preset the plan falls back to (with --plan or --config) [default: torch].
    #[arg(long)]
    pub preset: Option<String>,
    /// Print JSON (one object per tensor, every test with its statistic and threshold).
    #[arg(long)]
    pub json: bool,
    /// Print every test of every tensor.
    #[arg(long, short)]
    pub verbose: bool,
}

/// The checks of the file the arguments name, against its recorded inits or the given plan.
pub fn checks(args: &CheckArgs) -> Result<Vec<TensorCheck>> {
    for (flag, p) in [("--plan", &args.plan), ("--config", &args.config)] {
        if let Some(p) = p.as_ref().filter(|p| !p.exists()) {
            return Err(Error::value(format!("{flag} {}: no such file", p.display())));
        }
    }
    let given = if args.plan.is_some() || args.config.is_some() || args.preset.is_some() {
        let source = match &args.config {
            Some(c) => Source::Config(c.clone()),
            None => Source::Like(args.file.clone()),
        };
        let plan = args.plan.as_ref().map(|p| Plan::from_file(p)).transpose()?;
        let job = InitJob {
            source,
            preset: args.preset.clone(),
            plan,
            seed: 0,
            dtype: None,
            rng: nninit::rng::Stream::Torch,
            shard: None,
            unmatched: Unmatched::Warn,
        };
        let outcome = job::run(&job)?;
        crate::warn(&outcome.warnings);
        Some(check::expectations(&outcome.model))
    } else {
        None
    };
    check::check_path(&args.file, given.as_ref())
}

/// Runs the check and prints it; an error when a tensor fails.
pub fn run(args: CheckArgs) -> Result<String> {
    let checks = checks(&args)?;
    let text = if args.json {
        serde_json::to_string_pretty(&checks).map_err(|e| Error::value(e.to_string()))? + "\n"
    } else {
        table(&checks, args.verbose)
    };
    let failed = checks.iter().filter(|c| c.status == Status::Fail).count();
    if failed > 0 {
        crate::say(&text);
        return Err(Error::value(format!("{failed} of {} tensors failed the check", checks.len())));
    }
    Ok(text)
}

/// The human-readable report: one line per tensor, then the failed tests and causes.
fn table(checks: &[TensorCheck], verbose: bool) -> String {
    let header = ["tensor", "dtype", "shape", "init", "law", "status", "mean", "std"];
    let mut rows = Vec::new();
    for c in checks {
        let m = c.moments.as_ref();
        rows.push(vec![
            c.name.clone(),
            c.dtype.clone(),
            format!("{:?}", c.shape),
            c.init.as_deref().map_or("-".into(), crate::pretty::init),
            c.law.as_ref().map_or("-".into(), |l| check::verdict::law_name(l)),
            match c.status {
                Status::Pass => "pass".into(),
                Status::Fail => "FAIL".into(),
                Status::Unchecked => "unchecked".into(),
            },
            m.map_or("-".into(), |m| format!("{:.5}", m.mean)),
            m.map_or("-".into(), |m| format!("{:.5}", m.std)),
        ]);
    }
    let mut out = crate::table::render(&header, &rows);
    for c in checks {
        let failed: Vec<_> = c.tests.iter().filter(|t| verbose || !t.pass).collect();
        if failed.is_empty() && c.unchecked.is_none() {
            continue;
        }
        out.push_str(&format!("\n{} ({}):\n", c.name, c.file));
        for t in failed {
            out.push_str(&format!(
                "  {} {} [{}]: {:.6} (threshold {:.6}) {}\n",
                if t.pass { "ok  " } else { "FAIL" },
                t.name,
                t.region,
                t.value,
                t.threshold,
                t.detail
            ));
        }
        if let Some(u) = &c.unchecked {
            out.push_str(&format!("  unchecked: {u}\n"));
        }
        if let Some(cause) = &c.cause {
            out.push_str(&format!("  likely cause: {cause}\n"));
        }
    }
    let t = check::tally(checks);
    out.push_str(&format!(
        "\n{} tensors: {} pass, {} fail, {} unchecked (each test passes a correct tensor with probability ≥ 1 − {:e})\n",
        checks.len(),
        t.get("pass").unwrap_or(&0),
        t.get("fail").unwrap_or(&0),
        t.get("unchecked").unwrap_or(&0),
        check::ALPHA
    ));
    out
}
