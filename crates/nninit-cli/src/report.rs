//! `nninit report`: one self-contained HTML page (no network: inline CSS, SVG and JS) with, per
//! tensor, its histogram against the scheme's density, the check's results, the init, fans and
//! shard; optionally a probe plot.

use std::io::Write;
use std::path::PathBuf;

use nninit::check::{self, Status, TensorCheck};
use nninit::io::Overwrite;
use nninit::{Error, Result};

/// Arguments of `nninit report`.
#[derive(clap::Args)]
pub struct ReportArgs {
    #[command(flatten)]
    pub check: crate::check::CheckArgs,
    /// Output file.
    #[arg(short, long, default_value = "report.html")]
    pub output: PathBuf,
    /// Overwrite the output file if it exists.
    #[arg(long)]
    pub force: bool,
    /// Add a signal-propagation plot (`nninit probe` with its default schemes) of an MLP of this
    /// depth.
    #[cfg(feature = "probe")]
    #[arg(long)]
    pub probe_depth: Option<usize>,
    /// Width of the probed MLP.
    #[cfg(feature = "probe")]
    #[arg(long, default_value_t = 256)]
    pub probe_width: usize,
    /// Nonlinearity of the probed MLP.
    #[cfg(feature = "probe")]
    #[arg(long, default_value = "relu")]
    pub probe_activation: String,
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// The data the page's script draws from, per tensor: histogram and expected counts.
fn figure_data(c: &TensorCheck) -> serde_json::Value {
    let h = &c.histogram;
    let (lo, hi) = (h.first().map_or(0.0, |b| b.0), h.last().map_or(0.0, |b| b.1));
    let counts: Vec<u64> = h.iter().map(|b| b.2).collect();
    let n: u64 = counts.iter().sum();
    let width = if h.is_empty() { 0.0 } else { (hi - lo) / h.len() as f64 };
    let density: Vec<[f64; 2]> = match &c.law {
        Some(law) if width > 0.0 => (0..=160)
            .map(|k| {
                let x = lo + (hi - lo) * k as f64 / 160.0;
                [x, n as f64 * width * law.pdf(x)]
            })
            .collect(),
        _ => Vec::new(),
    };
    serde_json::json!({ "lo": lo, "hi": hi, "c": counts, "p": density })
}

fn section(i: usize, c: &TensorCheck) -> String {
    let status = match c.status {
        Status::Pass => "pass",
        Status::Fail => "fail",
        Status::Unchecked => "unchecked",
    };
    let mut s = format!(
        "<section class=\"t {status}\" data-status=\"{status}\" id=\"t{i}\"><h3><span class=\"badge\">{status}</span> {}</h3>\n",
        escape(&c.name)
    );
    let fans = c.fans.map_or("-".to_string(), |(i, o)| format!("{i} / {o}"));
    s.push_str(&format!(
        "<p class=\"meta\">{} {:?} · init <code>{}</code> · fan_in / fan_out {} · file {}{}{}</p>\n",
        escape(&c.dtype),
        c.shape,
        escape(&c.init.as_deref().map_or("-".to_string(), crate::pretty::init)),
        fans,
        escape(&c.file),
        c.shard.as_ref().map_or(String::new(), |sh| format!(" · shard {} of {:?}", escape(sh), c.full_shape)),
        c.law.as_ref().map_or(String::new(), |l| format!(" · law {}", escape(&check::verdict::law_name(l)))),
    ));
    s.push_str(&format!("<div class=\"fig\" data-i=\"{i}\"></div>\n"));
    if let Some(cause) = &c.cause {
        s.push_str(&format!("<p class=\"cause\">likely cause: {}</p>\n", escape(cause)));
    }
    if let Some(u) = &c.unchecked {
        s.push_str(&format!("<p class=\"uncheck\">unchecked: {}</p>\n", escape(u)));
    }
    if !c.tests.is_empty() {
        s.push_str("<table><tr><th>test</th><th>part</th><th>value</th><th>expected</th><th>threshold</th><th></th><th>detail</th></tr>");
        for t in &c.tests {
            s.push_str(&format!(
                "<tr class=\"{}\"><td>{}</td><td>{}</td><td>{:.6}</td><td>{}</td><td>{:.6}</td><td>{}</td><td>{}</td></tr>",
                if t.pass { "ok" } else { "bad" },
                t.name,
                escape(&t.region),
                t.value,
                t.expected.map_or("-".to_string(), |e| format!("{e:.6}")),
                t.threshold,
                if t.pass { "pass" } else { "FAIL" },
                escape(&t.detail)
            ));
        }
        s.push_str("</table>\n");
    }
    s.push_str("</section>\n");
    s
}

const STYLE: &str = "body{font:14px system-ui,sans-serif;margin:2em auto;max-width:1100px;color:#222}\
h3{margin:.2em 0;font-size:15px;word-break:break-all}.meta{color:#555;margin:.2em 0}\
section.t{border-top:1px solid #ddd;padding:.6em 0}.badge{font-size:11px;padding:1px 6px;border-radius:3px;color:#fff}\
.pass .badge{background:#2a7}.fail .badge{background:#c33}.unchecked .badge{background:#888}\
.cause{color:#a00;font-weight:600}.uncheck{color:#666}table{border-collapse:collapse;font-size:12px}\
td,th{padding:1px 6px;text-align:left}tr.bad td{color:#c00}.fig{height:150px}\
#summary span{margin-right:1.5em}code{font-size:12px}";

const SCRIPT: &str = r##"
const D = JSON.parse(document.getElementById('data').textContent);
function figure(t) {
  const W = 420, H = 140, P = 4;
  const c = t.c, n = c.length;
  if (!n) return '<svg class="hist" width="' + W + '" height="20"><text x="4" y="14" font-size="11">no values</text></svg>';
  let top = Math.max(1, ...c);
  for (const p of t.p) top = Math.max(top, p[1]);
  const sx = (x) => P + (x - t.lo) / ((t.hi - t.lo) || 1) * (W - 2 * P);
  const sy = (y) => H - 16 - y / top * (H - 24);
  let s = '<svg class="hist" xmlns="http://www.w3.org/2000/svg" width="' + W + '" height="' + H + '">';
  const bw = (W - 2 * P) / n;
  for (let k = 0; k < n; k++) {
    const y = sy(c[k]);
    s += '<rect x="' + (P + k * bw).toFixed(1) + '" y="' + y.toFixed(1) + '" width="' + Math.max(bw - 0.5, 0.5).toFixed(1) + '" height="' + (H - 16 - y).toFixed(1) + '" fill="#8ab"/>';
  }
  if (t.p.length) s += '<polyline fill="none" stroke="#c33" stroke-width="1.5" points="' + t.p.map(p => sx(p[0]).toFixed(1) + ',' + sy(p[1]).toFixed(1)).join(' ') + '"/>';
  s += '<text x="' + P + '" y="' + (H - 3) + '" font-size="10">' + t.lo.toPrecision(3) + '</text>';
  s += '<text x="' + (W - P) + '" y="' + (H - 3) + '" font-size="10" text-anchor="end">' + t.hi.toPrecision(3) + '</text>';
  return s + '</svg>';
}
function render(el) { if (!el.firstChild) el.innerHTML = figure(D[+el.dataset.i]); }
const figs = document.querySelectorAll('.fig');
const io = new IntersectionObserver((es) => es.forEach((e) => { if (e.isIntersecting) { render(e.target); io.unobserve(e.target); } }), { rootMargin: '400px' });
figs.forEach((el) => io.observe(el));
window.renderAll = () => figs.forEach(render);
document.getElementById('filter').addEventListener('change', (e) => {
  const v = e.target.value;
  document.querySelectorAll('section.t').forEach((s) => { s.style.display = (v === 'all' || s.dataset.status === v) ? '' : 'none'; });
});
if (location.hash === '#selftest') {
  const t0 = performance.now();
  window.renderAll();
  const t1 = performance.now();
  let y = 0, steps = 0;
  const h = document.body.scrollHeight;
  while (y < h) { window.scrollTo(0, y); y += 2000; steps++; document.body.getBoundingClientRect(); }
  const t2 = performance.now();
  const out = document.createElement('div');
  out.id = 'selftest-result';
  out.textContent = 'tensors=' + D.length + ' figures=' + document.querySelectorAll('svg.hist').length + ' render_ms=' + (t1 - t0).toFixed(0) + ' scroll_ms=' + (t2 - t1).toFixed(0) + ' load_ms=' + t2.toFixed(0);
  document.body.appendChild(out);
}
"##;

/// The page for `checks` (and an optional probe plot, an SVG string).
pub fn page(title: &str, checks: &[TensorCheck], probe_svg: Option<&str>) -> Result<String> {
    let data: Vec<serde_json::Value> = checks.iter().map(figure_data).collect();
    let data = serde_json::to_string(&data).map_err(|e| Error::value(e.to_string()))?.replace("</", "<\\/");
    let tally = check::tally(checks);
    let mut html = format!(
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>nninit report: {}</title><style>{STYLE}</style></head><body>\n<h1>nninit report</h1><p>{}</p>\n",
        escape(title),
        escape(title)
    );
    html.push_str(&format!(
        "<p id=\"summary\"><span>{} tensors</span><span>{} pass</span><span>{} fail</span><span>{} unchecked</span> \
         show <select id=\"filter\"><option>all</option><option>fail</option><option>unchecked</option><option>pass</option></select></p>\n\
         <p class=\"meta\">Bars: the values' histogram; red line: the count the init's law predicts per bin. Each test passes a correct tensor with probability ≥ 1 − {:e}.</p>\n",
        checks.len(),
        tally.get("pass").unwrap_or(&0),
        tally.get("fail").unwrap_or(&0),
        tally.get("unchecked").unwrap_or(&0),
        check::ALPHA
    ));
    if let Some(svg) = probe_svg {
        html.push_str("<h2>Signal propagation at initialization</h2><div class=\"probe\">");
        html.push_str(svg);
        html.push_str("</div>\n");
    }
    for (i, c) in checks.iter().enumerate() {
        html.push_str(&section(i, c));
    }
    html.push_str(&format!(
        "<script type=\"application/json\" id=\"data\">{data}</script>\n<script>{SCRIPT}</script></body></html>\n"
    ));
    Ok(html)
}

/// Checks the file and writes the page (atomically); returns a one-line summary.
pub fn run(args: ReportArgs) -> Result<String> {
    let overwrite = Overwrite::from_flag(args.force);
    nninit::io::check_destination(&args.output, overwrite)?;
    let title = args.check.file.display().to_string();
    let checks = crate::check::checks(&args.check)?;
    #[cfg(feature = "probe")]
    let probe = match args.probe_depth {
        Some(depth) => {
            let activation =
                args.probe_activation.parse().map_err(|e: nninit_probe::Error| Error::value(e.to_string()))?;
            let config = nninit_probe::ProbeConfig {
                depth,
                width: args.probe_width,
                batch: 256,
                activation,
                arch: nninit_probe::Arch::Mlp,
                seed: 0,
            };
            let curves = crate::probe::schemes(&[])?
                .iter()
                .map(|(l, i)| nninit_probe::probe(&config, l, i).map_err(|e| Error::value(e.to_string())))
                .collect::<Result<Vec<_>>>()?;
            let t = format!("mlp {depth} × {}, {}", args.probe_width, args.probe_activation);
            Some(nninit_probe::plot::svg(&curves, &t).map_err(|e| Error::value(e.to_string()))?)
        }
        None => None,
    };
    #[cfg(not(feature = "probe"))]
    let probe: Option<String> = None;
    let html = page(&title, &checks, probe.as_deref())?;
    let dir = args.output.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(std::path::Path::new("."));
    let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(|e| Error::io(dir, e))?;
    tmp.write_all(html.as_bytes()).map_err(|e| Error::io(&args.output, e))?;
    match overwrite {
        Overwrite::Replace => tmp.persist(&args.output).map(|_| ()).map_err(|e| Error::io(&args.output, e.error))?,
        _ => tmp.persist_noclobber(&args.output).map(|_| ()).map_err(|e| Error::io(&args.output, e.error))?,
    }
    let failed = checks.iter().filter(|c| c.status == Status::Fail).count();
    Ok(format!("wrote {} ({} tensors, {failed} failed the check)\n", args.output.display(), checks.len()))
}
