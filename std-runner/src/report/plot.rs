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

fn draw<DB: DrawingBackend>(root: DrawingArea<DB, Shift>, hist: &[EpochMetrics], metric: &str) -> Result<(), String> {
    root.fill(&WHITE).map_err(|e| e.to_string())?;
    let (left, right) = root.split_horizontally(root.dim_in_pixel().0 / 2);
    let last_restart = hist.last().map_or(0, |m| m.restart);
    let h: Vec<&EpochMetrics> = hist.iter().filter(|m| m.restart == last_restart).collect();
    let n = h.len().max(2) as f64;
    let losses = h.iter().flat_map(|m| [Some(m.train_loss), m.val_loss]).flatten().filter(|v| v.is_finite());
    let lmax = losses.fold(0.0f64, f64::max).max(1e-6) * 1.05;
    let style = |c: RGBColor| ShapeStyle::from(c).stroke_width(2);
    let e = |e: &dyn std::fmt::Display| e.to_string();
    {
        let mut chart = ChartBuilder::on(&left)
            .caption("loss", ("sans-serif", 22))
            .margin(12)
            .x_label_area_size(36)
            .y_label_area_size(60)
            .build_cartesian_2d(1f64..n, 0f64..lmax)
            .map_err(|x| e(&x))?;
        chart
            .configure_mesh()
            .x_desc("epoch")
            .x_label_formatter(&|v| format!("{v:.0}"))
            .y_desc("loss")
            .draw()
            .map_err(|x| e(&x))?;
        chart
            .draw_series(LineSeries::new(h.iter().map(|m| (m.epoch as f64, m.train_loss)), style(BLUE)))
            .map_err(|x| e(&x))?
            .label("train")
            .legend(|(x, y)| PathElement::new([(x, y), (x + 18, y)], style(BLUE)));
        if h.iter().any(|m| m.val_loss.is_some()) {
            chart
                .draw_series(LineSeries::new(h.iter().filter_map(|m| Some((m.epoch as f64, m.val_loss?))), style(RED)))
                .map_err(|x| e(&x))?
                .label("validation")
                .legend(|(x, y)| PathElement::new([(x, y), (x + 18, y)], style(RED)));
        }
        chart
            .configure_series_labels()
            .border_style(BLACK)
            .background_style(WHITE.mix(0.8))
            .draw()
            .map_err(|x| e(&x))?;
    }
    let vals: Vec<f64> = h.iter().flat_map(|m| [m.val_accuracy, m.test_metric]).flatten().collect();
    if !vals.is_empty() {
        let (lo, hi) = vals.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &v| (a.min(v), b.max(v)));
        let pad = ((hi - lo) * 0.05).max(1e-3);
        let mut chart = ChartBuilder::on(&right)
            .caption(metric, ("sans-serif", 22))
            .margin(12)
            .x_label_area_size(36)
            .y_label_area_size(60)
            .build_cartesian_2d(1f64..n, (lo - pad)..(hi + pad))
            .map_err(|x| e(&x))?;
        chart.configure_mesh().x_desc("epoch").x_label_formatter(&|v| format!("{v:.0}")).draw().map_err(|x| e(&x))?;
        if h.iter().any(|m| m.val_accuracy.is_some()) {
            chart
                .draw_series(LineSeries::new(
                    h.iter().filter_map(|m| Some((m.epoch as f64, m.val_accuracy?))),
                    style(RED),
                ))
                .map_err(|x| e(&x))?
                .label("validation")
                .legend(|(x, y)| PathElement::new([(x, y), (x + 18, y)], style(RED)));
        }
        // Only when asked for (--test-every-epoch): the test set is otherwise seen once, at the end.
        if h.iter().any(|m| m.test_metric.is_some()) {
            chart
                .draw_series(LineSeries::new(
                    h.iter().filter_map(|m| Some((m.epoch as f64, m.test_metric?))),
                    style(GREEN),
                ))
                .map_err(|x| e(&x))?
                .label("test")
                .legend(|(x, y)| PathElement::new([(x, y), (x + 18, y)], style(GREEN)));
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::LowerRight)
            .border_style(BLACK)
            .background_style(WHITE.mix(0.8))
            .draw()
            .map_err(|x| e(&x))?;
    }
    root.present().map_err(|x| e(&x))
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
