//! Evaluation figures: accuracy, per-class precision/recall, confusion matrix; RMSE/MAE.

use crate::data::source::unscale_outputs;
use crate::data::{Dataset, Targets};
use myelin_core::{argmax, Topology};
use serde::Serialize;

/// Classification report.
#[derive(Clone, Debug, Serialize)]
pub struct ClassReport {
    /// Fraction correct.
    pub accuracy: f64,
    /// `confusion[true][predicted]` counts.
    pub confusion: Vec<Vec<usize>>,
    /// Precision per class (NaN-free: 0 when never predicted).
    pub precision: Vec<f64>,
    /// Recall per class (0 when absent).
    pub recall: Vec<f64>,
}

/// Regression report.
#[derive(Clone, Debug, Serialize)]
pub struct RegressionReport {
    /// Root mean squared error over all targets.
    pub rmse: f64,
    /// Mean absolute error.
    pub mae: f64,
    /// RMSE of always predicting the targets' mean (the baseline to beat).
    pub rmse_mean_predictor: f64,
}

/// Classification report of `outputs` (samples, classes) against `data`'s labels.
pub fn classify(data: &Dataset, outputs: &[f32]) -> ClassReport {
    let k = data.target_width();
    let mut confusion = vec![vec![0usize; k]; k];
    let mut correct = 0;
    for (i, row) in outputs.chunks_exact(k.max(1)).enumerate() {
        let (Some(t), p) = (data.label(i), argmax(row)) else { continue };
        confusion[t as usize][p] += 1;
        correct += (t as usize == p) as usize;
    }
    let col = |j: usize| confusion.iter().map(|r| r[j]).sum::<usize>();
    let precision = (0..k).map(|j| ratio(confusion[j][j], col(j))).collect();
    let recall = (0..k).map(|j| ratio(confusion[j][j], confusion[j].iter().sum())).collect();
    ClassReport { accuracy: ratio(correct, data.len()), confusion, precision, recall }
}

fn ratio(a: usize, b: usize) -> f64 {
    if b == 0 {
        0.0
    } else {
        a as f64 / b as f64
    }
}

/// Regression report of `outputs` against `data`'s values. `unscale` maps model outputs and
/// targets back to data units (target standardization), identity if `None`.
pub fn regress(data: &Dataset, outputs: &[f32]) -> RegressionReport {
    let Targets::Values { values, width } = &data.targets else {
        return RegressionReport { rmse: f64::NAN, mae: f64::NAN, rmse_mean_predictor: f64::NAN };
    };
    let n = values.len().max(1) as f64;
    let (mut se, mut ae) = (0.0, 0.0);
    for (&y, &t) in outputs.iter().zip(values) {
        let d = y as f64 - t as f64;
        se += d * d;
        ae += d.abs();
    }
    let w = (*width).max(1);
    let mut means = vec![0.0f64; w];
    for (i, &t) in values.iter().enumerate() {
        means[i % w] += t as f64;
    }
    let rows = (values.len() / w).max(1) as f64;
    means.iter_mut().for_each(|m| *m /= rows);
    let base: f64 = values.iter().enumerate().map(|(i, &t)| (t as f64 - means[i % w]).powi(2)).sum();
    RegressionReport { rmse: (se / n).sqrt(), mae: ae / n, rmse_mean_predictor: (base / n).sqrt() }
}

impl ClassReport {
    /// A plain-text table: accuracy, per-class precision/recall, confusion matrix.
    pub fn table(&self, names: &[String]) -> String {
        use std::fmt::Write;
        let mut s = String::new();
        let _ = writeln!(s, "accuracy {:.2}% ({} classes)", 100.0 * self.accuracy, self.precision.len());
        let _ = writeln!(s, "{:>8} {:>9} {:>7}", "class", "precision", "recall");
        for (j, (p, r)) in self.precision.iter().zip(&self.recall).enumerate() {
            let name = names.get(j).cloned().unwrap_or_else(|| j.to_string());
            let _ = writeln!(s, "{name:>8} {:>8.1}% {:>6.1}%", 100.0 * p, 100.0 * r);
        }
        let _ = writeln!(s, "confusion matrix (rows: true class, columns: predicted)");
        for row in &self.confusion {
            let cells: Vec<String> = row.iter().map(|c| format!("{c:>5}")).collect();
            let _ = writeln!(s, "{}", cells.join(""));
        }
        s
    }
}

/// Mean loss of `outputs` (samples, outputs of `topo`) against `data`'s targets as trained
/// on (scaled, for regression).
pub fn mean_loss(topo: &Topology, outputs: &[f32], data: &Dataset) -> f64 {
    let width = topo.outputs();
    let mut target = vec![0.0; width];
    let mut total = 0.0f64;
    for (i, y) in outputs.chunks_exact(width).enumerate() {
        data.target_row(i, &mut target);
        total += topo.loss().sample(y, &target) as f64;
    }
    total / data.len().max(1) as f64
}

/// RMSE over every target of `data` (as trained on: scaled by `target_scale`), in the
/// targets' units: each difference multiplied back by its column's std.
pub fn rmse_in_data_units(data: &Dataset, target_scale: Option<&(Vec<f32>, Vec<f32>)>, outputs: &[f32]) -> f64 {
    let width = data.target_width().max(1);
    let mut target = vec![0.0; width];
    let mut total = 0.0f64;
    for (i, y) in outputs.chunks_exact(width).enumerate() {
        data.target_row(i, &mut target);
        for (c, (&y, &t)) in y.iter().zip(&target).enumerate() {
            let std = target_scale.map_or(1.0, |s| s.1[c % s.1.len().max(1)] as f64);
            total += ((y as f64 - t as f64) * std).powi(2);
        }
    }
    (total / (data.len() * width).max(1) as f64).sqrt()
}

/// The test figure in data units: accuracy (classification), or RMSE and the mean
/// predictor's RMSE (regression; outputs are unscaled by `target_scale` first).
pub fn test_figure(
    test: &Dataset,
    target_scale: Option<&(Vec<f32>, Vec<f32>)>,
    mut outputs: Vec<f32>,
) -> (f64, Option<f64>) {
    if test.is_classification() {
        (classify(test, &outputs).accuracy, None)
    } else {
        if let Some(s) = target_scale {
            unscale_outputs(&mut outputs, s);
        }
        let r = regress(test, &outputs);
        (r.rmse, Some(r.rmse_mean_predictor))
    }
}
