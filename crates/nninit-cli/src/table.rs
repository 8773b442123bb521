//! Plain-text tables for the reports.

use nninit::report::Row;
use nninit::stats::Stats;
use nninit::Tensor;

pub fn render(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for r in rows {
        for (w, c) in widths.iter_mut().zip(r) {
            *w = (*w).max(c.chars().count());
        }
    }
    let line = |cells: &[String]| {
        let mut s = String::new();
        for (i, (c, w)) in cells.iter().zip(&widths).enumerate() {
            if i > 0 {
                s.push_str("  ");
            }
            s.push_str(c);
            if i + 1 < cells.len() {
                s.push_str(&" ".repeat(w - c.chars().count()));
            }
        }
        s.trim_end().to_string() + "\n"
    };
    let mut out = line(&header.iter().map(|h| h.to_string()).collect::<Vec<_>>());
    for r in rows {
        out.push_str(&line(r));
    }
    out
}

fn num(x: Option<f64>) -> String {
    match x {
        Some(v) if v.is_finite() => format!("{v:.6}"),
        Some(v) if v.is_nan() => "-".into(),
        Some(v) => v.to_string(),
        None => "-".into(),
    }
}

fn shape(s: &[usize]) -> String {
    format!("[{}]", s.iter().map(|d| d.to_string()).collect::<Vec<_>>().join(", "))
}

fn fans(f: Option<(usize, usize)>) -> [String; 2] {
    match f {
        Some((i, o)) => [i.to_string(), o.to_string()],
        None => ["-".into(), "-".into()],
    }
}

fn stat_cells(s: Option<Stats>) -> [String; 4] {
    match s {
        Some(s) => [num(Some(s.mean)), num(Some(s.std)), num(Some(s.min)), num(Some(s.max))],
        None => ["-".into(), "-".into(), "-".into(), "-".into()],
    }
}

/// The `nninit init` report: name, shape, dtype, init, fans, expected std, measured statistics.
pub fn init_report(rows: &[Row]) -> String {
    let header = ["name", "shape", "dtype", "init", "fan_in", "fan_out", "expected_std", "mean", "std", "min", "max"];
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            let mut c = vec![r.name.clone(), shape(&r.shape), r.dtype.clone(), crate::pretty::init(&r.init)];
            c.extend(fans(r.fans));
            c.push(num(r.expected_std));
            c.extend(stat_cells(r.stats));
            c
        })
        .collect();
    render(&header, &cells)
}

/// The `nninit plan` report: per parameter, the rules that matched, the final init, fans and
/// the distribution of its values.
pub fn plan_report(rows: &[nninit::report::PlanRow]) -> String {
    let header = [
        "name",
        "shape",
        "layer",
        "rules",
        "init",
        "fan_in",
        "fan_out",
        "effective_gain",
        "distribution",
        "expected_mean",
        "expected_std",
    ];
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            let rules = if r.rules.is_empty() {
                "-".to_string()
            } else {
                r.rules.iter().map(|i| i.to_string()).collect::<Vec<_>>().join(",")
            };
            let mut c = vec![r.name.clone(), shape(&r.shape), r.layer.clone(), rules, r.init.clone()];
            c.extend(fans(r.fan_in.zip(r.fan_out)));
            c.extend([num(r.effective_gain), r.distribution.clone(), num(r.expected_mean), num(r.expected_std)]);
            c
        })
        .collect();
    render(&header, &cells)
}

/// What a checkpoint's metadata records of one tensor: its init and the whole tensor's fans (a
/// shard's slice has other fans).
pub struct Recorded<'a> {
    pub init: &'a str,
    pub fans: Option<(usize, usize)>,
}

/// One row of the `stats` / `tensor` report (with what the checkpoint records, if anything).
pub fn stats_row(
    name: &str,
    t: &Tensor,
    stats: Option<Stats>,
    expected_std: Option<f64>,
    recorded: Option<Recorded<'_>>,
) -> Vec<String> {
    let dtype = t.dtype().map_or_else(|| format!("{:?}", t.safetensors_dtype()).to_lowercase(), |d| d.to_string());
    let init = recorded.as_ref().map_or("-", |r| r.init).to_string();
    let mut c = vec![name.to_string(), shape(t.shape()), dtype, init];
    let own = nninit::init::fan_in_and_fan_out(t.shape()).ok();
    c.extend(fans(recorded.map_or(own, |r| r.fans.or(own))));
    c.push(num(expected_std));
    c.extend(stat_cells(stats));
    c
}

/// The `stats` report (with an expected-std column when `with_expected`).
pub fn stats_report(rows: &[Vec<String>], with_expected: bool) -> String {
    let header = ["name", "shape", "dtype", "init", "fan_in", "fan_out", "expected_std", "mean", "std", "min", "max"];
    // The `tensor` report knows its expected std; `stats` knows the recorded inits instead.
    let dropped = if with_expected { 3 } else { 6 };
    let rows: Vec<Vec<String>> = rows
        .iter()
        .map(|r| r.iter().enumerate().filter(|(i, _)| *i != dropped).map(|(_, c)| c.clone()).collect())
        .collect();
    let header: Vec<&str> = header.iter().enumerate().filter(|(i, _)| *i != dropped).map(|(_, h)| *h).collect();
    render(&header, &rows)
}

/// The default `nninit init` output: what was written, in one short block.
pub struct InitSummary<'a> {
    /// The written tensors.
    pub rows: &'a [Row],
    /// File size.
    pub bytes: u64,
    /// Random stream.
    pub rng: nninit::rng::Stream,
    /// Seed.
    pub seed: u64,
    /// `rank/world dim d`.
    pub shard: Option<String>,
    /// The preset applied.
    pub preset: &'a str,
    /// The plan file, if any.
    pub plan: Option<String>,
    /// Wall time.
    pub seconds: f64,
}

/// `1234567` → `1,234,567`.
fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

impl InitSummary<'_> {
    /// The summary lines.
    pub fn render(&self, output: &std::path::Path) -> String {
        let params: u64 = self.rows.iter().map(|r| r.shape.iter().product::<usize>() as u64).sum();
        let mut dtypes: Vec<&str> = self.rows.iter().map(|r| r.dtype.as_str()).collect();
        dtypes.sort_unstable();
        dtypes.dedup();
        let mut s = format!("wrote {}\n", output.display());
        s.push_str(&format!("  tensors     {}\n", self.rows.len()));
        s.push_str(&format!("  parameters  {} (values written, buffers included)\n", thousands(params)));
        s.push_str(&format!("  bytes       {}\n", thousands(self.bytes)));
        s.push_str(&format!("  dtype       {}\n", dtypes.join(", ")));
        s.push_str(&format!("  rng         {}, seed {}\n", self.rng, self.seed));
        s.push_str(&format!("  shard       {}\n", self.shard.as_deref().unwrap_or("-")));
        s.push_str(&format!(
            "  plan        preset {}{}\n",
            self.preset,
            self.plan.as_ref().map_or(String::new(), |p| format!(" + {p}"))
        ));
        s.push_str(&format!(
            "  time        {:.2} s (--verbose: every tensor's init, fans and moments)\n",
            self.seconds
        ));
        s
    }
}
