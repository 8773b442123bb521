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
    /// model.safetensors.index.json). A folder that records no inits is checked against its own
    /// config.json.
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

/// What the checkpoint is checked against.
enum Against {
    /// The inits the checkpoint records.
    Recorded,
    /// A model built from a config and/or a plan applied to the checkpoint's layout.
    Given(Source),
}

/// Picks what `args.file` is checked against: `--config` (the model that config builds, as
/// `init --config`), else `--plan`/`--preset` on the model the folder's config.json builds or,
/// without one, on the checkpoint's own layout (as `init --like`), else the recorded inits; a
/// model folder recording no inits (a checkpoint made elsewhere) is checked against the model its
/// config.json builds.
fn against(args: &CheckArgs) -> Result<Against> {
    let folder_config = args.file.is_dir().then(|| args.file.join(nninit::folder::CONFIG)).filter(|p| p.is_file());
    if let Some(c) = &args.config {
        return Ok(Against::Given(Source::Config(c.clone())));
    }
    if args.plan.is_some() || args.preset.is_some() {
        return Ok(Against::Given(match folder_config {
            Some(config) => Source::Config(config),
            None => Source::Like(args.file.clone()),
        }));
    }
    match folder_config {
        Some(config) if !check::records_inits(&args.file)? => {
            eprintln!("note: {} records no inits: checking against {}", args.file.display(), config.display());
            Ok(Against::Given(Source::Config(config)))
        }
        _ => Ok(Against::Recorded),
    }
}

/// The checks of the file the arguments name, against its recorded inits or the given plan.
pub fn checks(args: &CheckArgs) -> Result<Vec<TensorCheck>> {
    for (flag, p) in [("--plan", &args.plan), ("--config", &args.config)] {
        if let Some(p) = p.as_ref().filter(|p| !p.exists()) {
            return Err(Error::value(format!("{flag} {}: no such file", p.display())));
        }
    }
    if !args.file.exists() {
        return Err(Error::value(format!("{}: no such file or folder", args.file.display())));
    }
    let source = match against(args)? {
        Against::Recorded => return check::check_path(&args.file, None),
        Against::Given(source) => source,
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
    let given = check::expectations(&outcome.model);
    let checks = check::check_path(&args.file, Some(&given))?;
    // The model's tensors the checkpoint lacks: said, not checked.
    let held: std::collections::HashSet<&str> = checks.iter().map(|c| c.name.as_str()).collect();
    let missing: Vec<&str> = given.keys().map(String::as_str).filter(|n| !held.contains(n)).collect();
    if !missing.is_empty() {
        let shown = missing.iter().take(5).copied().collect::<Vec<_>>().join(", ");
        let more = if missing.len() > 5 { format!(", … ({} in all)", missing.len()) } else { String::new() };
        eprintln!(
            "warning: {} tensor(s) of the given model are not in {}: {shown}{more}",
            missing.len(),
            args.file.display()
        );
    }
    Ok(checks)
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
