//! Plots of probe curves with plotters: activation std and gradient std per layer (log scale),
//! one line per scheme, as PNG or SVG.

use std::path::Path;

use plotters::coord::Shift;
use plotters::prelude::*;

use crate::{Curve, Error, Result};

const COLORS: [RGBColor; 6] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
];

fn err<E: std::fmt::Display>(e: E) -> Error {
    Error::Plot(e.to_string())
}

/// Draws `curves` to `path`: PNG for `.png`, SVG for `.svg` (1000×420 pixels), titled `title`.
///
/// # Errors
/// Another extension; a file that cannot be written.
pub fn save(curves: &[Curve], title: &str, path: &Path) -> Result<()> {
    match path.extension().and_then(|e| e.to_str()) {
        Some("png") => draw(BitMapBackend::new(path, (1000, 420)).into_drawing_area(), curves, title),
        Some("svg") => draw(SVGBackend::new(path, (1000, 420)).into_drawing_area(), curves, title),
        _ => Err(Error::Value(format!("{}: plots are .png or .svg", path.display()))),
    }
}

/// The plot as an SVG string (for embedding in a page).
///
/// # Errors
/// A drawing error.
pub fn svg(curves: &[Curve], title: &str) -> Result<String> {
    let mut s = String::new();
    draw(SVGBackend::with_string(&mut s, (1000, 420)).into_drawing_area(), curves, title)?;
    Ok(s)
}

fn draw<B: DrawingBackend>(root: DrawingArea<B, Shift>, curves: &[Curve], title: &str) -> Result<()> {
    root.fill(&WHITE).map_err(err)?;
    let root = root.titled(title, ("sans-serif", 18)).map_err(err)?;
    let (left, right) = root.split_horizontally(500);
    panel(&left, curves, "activation std", |l| l.activation_std)?;
    panel(&right, curves, "gradient std", |l| l.gradient_std)?;
    root.present().map_err(err)
}

fn panel<B: DrawingBackend>(
    area: &DrawingArea<B, Shift>,
    curves: &[Curve],
    what: &str,
    pick: fn(&crate::LayerStat) -> f64,
) -> Result<()> {
    let depth = curves.iter().map(|c| c.layers.len()).max().unwrap_or(1).max(2);
    let values: Vec<f64> =
        curves.iter().flat_map(|c| c.layers.iter().map(pick)).filter(|v| *v > 0.0 && v.is_finite()).collect();
    let lo = values.iter().copied().fold(f64::INFINITY, f64::min).min(0.1).max(1e-30);
    let hi = values.iter().copied().fold(0.0f64, f64::max).max(2.0);
    let mut chart = ChartBuilder::on(area)
        .margin(10)
        .caption(what, ("sans-serif", 15))
        .x_label_area_size(30)
        .y_label_area_size(60)
        .build_cartesian_2d(1usize..depth, (lo..hi).log_scale())
        .map_err(err)?;
    chart
        .configure_mesh()
        .x_desc("layer")
        .y_desc(what)
        .y_label_formatter(&|v| format!("{v:.0e}"))
        .draw()
        .map_err(err)?;
    for (i, c) in curves.iter().enumerate() {
        let color = COLORS[i % COLORS.len()];
        let points: Vec<(usize, f64)> = c.layers.iter().map(|l| (l.layer, pick(l).max(lo))).collect();
        chart
            .draw_series(LineSeries::new(points, color.stroke_width(2)))
            .map_err(err)?
            .label(c.scheme.clone())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(2)));
    }
    chart.configure_series_labels().background_style(WHITE.mix(0.8)).border_style(BLACK).draw().map_err(err)?;
    Ok(())
}
