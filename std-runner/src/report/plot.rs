//! Learning curves: loss (train, validation) and the quality metric per epoch, drawn to SVG
//! and PNG with plotters. The PNG uses an embedded DejaVu Sans Mono, so no system fonts are
//! needed.

use crate::error::{Error, Result};
use crate::train::checkpoint::EpochMetrics;
use plotters::coord::Shift;
use plotters::prelude::*;
use std::path::Path;

const FONT: &[u8] = include_bytes!("../../assets/DejaVuSansMono.ttf");

fn register_font() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let _ = plotters::style::register_font("sans-serif", FontStyle::Normal, FONT);
    });
}

/// A chart's error as text (the backends' error types differ).
fn text(e: &dyn std::fmt::Display) -> String {
    e.to_string()
}

fn line_style(c: RGBColor) -> ShapeStyle {
    ShapeStyle::from(c).stroke_width(2)
}

/// Both panels: losses on the left, the quality metric on the right, for the last restart.
fn draw<DB: DrawingBackend>(root: DrawingArea<DB, Shift>, hist: &[EpochMetrics], metric: &str) -> Result<(), String> {
    root.fill(&WHITE).map_err(|e| e.to_string())?;
    let (left, right) = root.split_horizontally(root.dim_in_pixel().0 / 2);
    let last_restart = hist.last().map_or(0, |m| m.restart);
    let epochs: Vec<&EpochMetrics> = hist.iter().filter(|m| m.restart == last_restart).collect();
    draw_losses(&left, &epochs)?;
    draw_metric(&right, &epochs, metric)?;
    root.present().map_err(|x| text(&x))
}

/// Training and validation loss per epoch.
fn draw_losses<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, epochs: &[&EpochMetrics]) -> Result<(), String> {
    let n = epochs.len().max(2) as f64;
    let losses = epochs.iter().flat_map(|m| [Some(m.train_loss), m.val_loss]).flatten().filter(|v| v.is_finite());
    let lmax = losses.fold(0.0f64, f64::max).max(1e-6) * 1.05;
    let mut chart = ChartBuilder::on(area)
        .caption("loss", ("sans-serif", 22))
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(60)
        .build_cartesian_2d(1f64..n, 0f64..lmax)
        .map_err(|x| text(&x))?;
    chart
        .configure_mesh()
        .x_desc("epoch")
        .x_label_formatter(&|v| format!("{v:.0}"))
        .y_desc("loss")
        .draw()
        .map_err(|x| text(&x))?;
    chart
        .draw_series(LineSeries::new(epochs.iter().map(|m| (m.epoch as f64, m.train_loss)), line_style(BLUE)))
        .map_err(|x| text(&x))?
        .label("train")
        .legend(|(x, y)| PathElement::new([(x, y), (x + 18, y)], line_style(BLUE)));
    if epochs.iter().any(|m| m.val_loss.is_some()) {
        chart
            .draw_series(LineSeries::new(
                epochs.iter().filter_map(|m| Some((m.epoch as f64, m.val_loss?))),
                line_style(RED),
            ))
            .map_err(|x| text(&x))?
            .label("validation")
            .legend(|(x, y)| PathElement::new([(x, y), (x + 18, y)], line_style(RED)));
    }
    chart.configure_series_labels().border_style(BLACK).background_style(WHITE.mix(0.8)).draw().map_err(|x| text(&x))
}

/// A line of the metric panel: label, colour, and the epoch's value.
type Series = (&'static str, RGBColor, fn(&EpochMetrics) -> Option<f64>);

/// Validation accuracy, and the test figure when measured every epoch (`--test-every-epoch`:
/// the test set is otherwise seen once, at the end).
fn draw_metric<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    epochs: &[&EpochMetrics],
    metric: &str,
) -> Result<(), String> {
    let vals: Vec<f64> = epochs.iter().flat_map(|m| [m.val_accuracy, m.test_metric]).flatten().collect();
    if vals.is_empty() {
        return Ok(());
    }
    let n = epochs.len().max(2) as f64;
    let (lo, hi) = vals.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &v| (a.min(v), b.max(v)));
    let pad = ((hi - lo) * 0.05).max(1e-3);
    let mut chart = ChartBuilder::on(area)
        .caption(metric, ("sans-serif", 22))
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(60)
        .build_cartesian_2d(1f64..n, (lo - pad)..(hi + pad))
        .map_err(|x| text(&x))?;
    chart.configure_mesh().x_desc("epoch").x_label_formatter(&|v| format!("{v:.0}")).draw().map_err(|x| text(&x))?;
    let series: [Series; 2] = [("validation", RED, |m| m.val_accuracy), ("test", GREEN, |m| m.test_metric)];
    for (label, color, value) in series {
        if epochs.iter().any(|m| value(m).is_some()) {
            chart
                .draw_series(LineSeries::new(
                    epochs.iter().filter_map(|m| Some((m.epoch as f64, value(m)?))),
                    line_style(color),
                ))
                .map_err(|x| text(&x))?
                .label(label)
                .legend(move |(x, y)| PathElement::new([(x, y), (x + 18, y)], line_style(color)));
        }
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::LowerRight)
        .border_style(BLACK)
        .background_style(WHITE.mix(0.8))
        .draw()
        .map_err(|x| text(&x))
}

/// Writes `stem.svg` and `stem.png` (1200x450).
pub fn curves(stem: &Path, hist: &[EpochMetrics], metric: &str) -> Result<()> {
    register_font();
    let fail = |p: &Path, msg: String| Error::Foreign { path: p.into(), msg };
    let svg = stem.with_extension("svg");
    draw(SVGBackend::new(&svg, (1200, 450)).into_drawing_area(), hist, metric).map_err(|m| fail(&svg, m))?;
    let png = stem.with_extension("png");
    draw(BitMapBackend::new(&png, (1200, 450)).into_drawing_area(), hist, metric).map_err(|m| fail(&png, m))?;
    Ok(())
}
