//! Datasets in memory: features as one row-major `f32` matrix, targets as class labels or
//! regression values, plus the operations training needs (splits, one-hot rows,
//! standardization).

pub mod csv;
pub mod digits;
pub mod idx;
pub mod inputs;
pub mod source;

use crate::error::{Error, Result};
use myelin_core::Rng;

/// What a dataset asks the model to predict.
#[derive(Clone, Debug, PartialEq)]
pub enum Targets {
    /// One class per sample, `0..classes`.
    Classes {
        /// Label per sample.
        labels: Vec<u32>,
        /// Number of classes.
        classes: usize,
        /// Optional class names (CSV string labels), index = class.
        names: Vec<String>,
    },
    /// `width` real values per sample, row-major.
    Values {
        /// (samples, width)
        values: Vec<f32>,
        /// Targets per sample.
        width: usize,
    },
}

/// Samples with features and targets.
#[derive(Clone, Debug, PartialEq)]
pub struct Dataset {
    /// (samples, features), row-major.
    pub x: Vec<f32>,
    /// Features per sample.
    pub features: usize,
    /// Targets.
    pub targets: Targets,
}

impl Dataset {
    /// Number of samples.
    pub fn len(&self) -> usize {
        self.x.len().checked_div(self.features).unwrap_or(0)
    }

    /// Whether there are no samples.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether this is a classification dataset.
    pub fn is_classification(&self) -> bool {
        matches!(self.targets, Targets::Classes { .. })
    }

    /// Width of a target row: classes (one-hot) or values per sample.
    pub fn target_width(&self) -> usize {
        match &self.targets {
            Targets::Classes { classes, .. } => *classes,
            Targets::Values { width, .. } => *width,
        }
    }

    /// Features of sample `i`.
    pub fn row(&self, i: usize) -> &[f32] {
        &self.x[i * self.features..(i + 1) * self.features]
    }

    /// Class of sample `i` (classification only).
    pub fn label(&self, i: usize) -> Option<u32> {
        match &self.targets {
            Targets::Classes { labels, .. } => labels.get(i).copied(),
            Targets::Values { .. } => None,
        }
    }

    /// Writes sample `i`'s target row (one-hot for classes) into `out`.
    pub fn target_row(&self, i: usize, out: &mut [f32]) {
        match &self.targets {
            Targets::Classes { labels, .. } => {
                out.fill(0.0);
                if let Some(slot) = out.get_mut(labels[i] as usize) {
                    *slot = 1.0;
                }
            }
            Targets::Values { values, width } => out.copy_from_slice(&values[i * width..(i + 1) * width]),
        }
    }

    /// The samples at `idx`, in that order.
    pub fn subset(&self, idx: &[usize]) -> Dataset {
        let mut x = Vec::with_capacity(idx.len() * self.features);
        for &i in idx {
            x.extend_from_slice(self.row(i));
        }
        let targets = match &self.targets {
            Targets::Classes { labels, classes, names } => Targets::Classes {
                labels: idx.iter().map(|&i| labels[i]).collect(),
                classes: *classes,
                names: names.clone(),
            },
            Targets::Values { values, width } => Targets::Values {
                values: idx.iter().flat_map(|&i| values[i * width..(i + 1) * width].iter().copied()).collect(),
                width: *width,
            },
        };
        Dataset { x, features: self.features, targets }
    }

    /// Splits off a random `fraction` (seeded) as a validation set: (train, validation).
    pub fn split_random(&self, fraction: f32, seed: u64) -> Result<(Dataset, Dataset)> {
        if !(0.0..1.0).contains(&fraction) {
            return Err(Error::Usage(format!("validation fraction {fraction} must be in [0, 1)")));
        }
        let mut idx: Vec<usize> = (0..self.len()).collect();
        Rng::stream(seed, SPLIT_STREAM).shuffle(&mut idx);
        let n_val = (self.len() as f32 * fraction).round() as usize;
        let (val, train) = idx.split_at(n_val);
        let (mut train, mut val) = (train.to_vec(), val.to_vec());
        train.sort_unstable();
        val.sort_unstable();
        Ok((self.subset(&train), self.subset(&val)))
    }

    /// Splits at `at`: (first `at` samples, the rest).
    pub fn split_at(&self, at: usize) -> (Dataset, Dataset) {
        let at = at.min(self.len());
        let a: Vec<usize> = (0..at).collect();
        let b: Vec<usize> = (at..self.len()).collect();
        (self.subset(&a), self.subset(&b))
    }

    /// Checks that the dataset fits a model with `inputs` and `outputs`.
    pub fn check_fits(&self, inputs: usize, outputs: usize) -> Result<()> {
        if self.features != inputs || self.target_width() != outputs {
            return Err(Error::Shape {
                op: "matching data to model",
                expected: format!("{inputs} features -> {outputs} outputs"),
                got: format!("{} features -> {} outputs", self.features, self.target_width()),
            });
        }
        Ok(())
    }
}

/// RNG stream number for the validation split (distinct from shuffling and dropout streams).
const SPLIT_STREAM: u64 = 0x5EED_0000;
/// Per-feature standardization `x' = (x - mean) / std`, fit on training data and stored in
/// the model file so prediction sees exactly what training saw. Constant features get std 1.
#[derive(Clone, Debug, PartialEq)]
pub struct Standardizer {
    /// Mean per feature.
    pub mean: Vec<f32>,
    /// Standard deviation per feature (> 0).
    pub std: Vec<f32>,
}

impl Standardizer {
    /// Fits mean and std (population) per feature, accumulating in f64.
    pub fn fit(d: &Dataset) -> Standardizer {
        let (n, f) = (d.len().max(1) as f64, d.features);
        let mut mean = vec![0f64; f];
        let mut sq = vec![0f64; f];
        for i in 0..d.len() {
            for (j, &v) in d.row(i).iter().enumerate() {
                mean[j] += v as f64;
                sq[j] += (v as f64) * (v as f64);
            }
        }
        let mut m = Vec::with_capacity(f);
        let mut s = Vec::with_capacity(f);
        for j in 0..f {
            let mu = mean[j] / n;
            let var = (sq[j] / n - mu * mu).max(0.0);
            let sd = var.sqrt();
            m.push(mu as f32);
            s.push(if sd > 1e-6 * mu.abs().max(1.0) { sd as f32 } else { 1.0 });
        }
        Standardizer { mean: m, std: s }
    }

    /// One range for every feature: `(x - min) / (max - min)` with the smallest and largest
    /// value of the whole dataset (a constant dataset keeps range 1), so images land in
    /// [0, 1] with their pixels still on one scale.
    pub fn unit_range(d: &Dataset) -> Standardizer {
        let (lo, hi) = d.x.iter().fold((f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), &v| (lo.min(v), hi.max(v)));
        let (lo, range) = if lo.is_finite() && hi > lo { (lo, hi - lo) } else { (0.0, 1.0) };
        Standardizer { mean: vec![lo; d.features], std: vec![range; d.features] }
    }

    /// The core's view of the same statistics.
    pub fn view(&self) -> myelin_core::format::Standardizer<'_> {
        myelin_core::format::Standardizer { mean: &self.mean, std: &self.std }
    }

    /// Standardizes every row of `d` in place.
    pub fn apply(&self, d: &mut Dataset) {
        self.view().apply(&mut d.x);
    }
}

/// Training-set augmentation for images (`width` x `height` pixels, row-major, one channel):
/// appends four copies of every sample shifted by one pixel left, right, up and down
/// (vacated pixels take the background, 0). Small translations are the commonest nuisance
/// in handwriting, so this is cheap extra data.
pub fn augment_shifts(d: &Dataset, width: usize, height: usize) -> Dataset {
    if width * height != d.features {
        return d.clone();
    }
    let n = d.len();
    let mut x = Vec::with_capacity(5 * d.x.len());
    x.extend_from_slice(&d.x);
    for (dx, dy) in [(-1isize, 0isize), (1, 0), (0, -1), (0, 1)] {
        for i in 0..n {
            let row = d.row(i);
            for r in 0..height as isize {
                for c in 0..width as isize {
                    let (sr, sc) = (r - dy, c - dx);
                    let inside = (0..height as isize).contains(&sr) && (0..width as isize).contains(&sc);
                    x.push(if inside { row[(sr as usize) * width + sc as usize] } else { 0.0 });
                }
            }
        }
    }
    let idx: Vec<usize> = (0..5 * n).map(|i| i % n).collect();
    let targets = d.subset(&idx).targets;
    Dataset { x, features: d.features, targets }
}
