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

impl Targets {
    /// The targets of the samples at `idx`, in that order.
    pub fn subset(&self, idx: &[usize]) -> Targets {
        match self {
            Targets::Classes { labels, classes, names } => Targets::Classes {
                labels: idx.iter().map(|&i| labels[i]).collect(),
                classes: *classes,
                names: names.clone(),
            },
            Targets::Values { values, width } => Targets::Values {
                values: idx.iter().flat_map(|&i| values[i * width..(i + 1) * width].iter().copied()).collect(),
                width: *width,
            },
        }
    }
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
        Dataset { x, features: self.features, targets: self.targets.subset(idx) }
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
    if width * height != d.features || d.features == 0 {
        return d.clone();
    }
    let n = d.len();
    let shifts = [(-1isize, 0isize), (1, 0), (0, -1), (0, 1)];
    // Every value below is written once: the original rows, then each shift's copies.
    let mut x = vec![0.0f32; (1 + shifts.len()) * d.x.len()];
    let (original, copies) = x.split_at_mut(d.x.len());
    original.copy_from_slice(&d.x);
    for (&offsets, block) in shifts.iter().zip(copies.chunks_exact_mut(d.x.len())) {
        for (image, out) in d.x.chunks_exact(d.features).zip(block.chunks_exact_mut(d.features)) {
            shift_image(width, height, image, offsets, out);
        }
    }
    let idx: Vec<usize> = (0..(1 + shifts.len()) * n).map(|i| i % n).collect();
    Dataset { x, features: d.features, targets: d.targets.subset(&idx) }
}

/// `out` = `image` (`width` x `height` pixels, row-major) moved right by `dx` and down by
/// `dy`: `out[r][c] = image[r - dy][c - dx]` where that pixel exists, else 0. Each image row
/// is one copy of the columns that stay inside plus the zeros around them.
pub fn shift_image(width: usize, height: usize, image: &[f32], (dx, dy): (isize, isize), out: &mut [f32]) {
    let w = width as isize;
    // Columns c with 0 <= c - dx < w.
    let (c0, c1) = (dx.clamp(0, w) as usize, (w + dx).clamp(0, w) as usize);
    for (r, row) in out.chunks_exact_mut(width.max(1)).take(height).enumerate() {
        let source = usize::try_from(r as isize - dy).ok().filter(|&sr| sr < height);
        match source.and_then(|sr| image.get(sr * width..(sr + 1) * width)) {
            Some(src) if c0 < c1 => {
                row[..c0].fill(0.0);
                row[c0..c1].copy_from_slice(&src[(c0 as isize - dx) as usize..(c1 as isize - dx) as usize]);
                row[c1..].fill(0.0);
            }
            _ => row.fill(0.0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{augment_shifts, shift_image, Dataset, Targets};

    /// The definition, pixel by pixel: `out[r][c] = image[r - dy][c - dx]`, else 0.
    fn shifted(w: usize, h: usize, image: &[f32], (dx, dy): (isize, isize)) -> Vec<f32> {
        let mut out = vec![];
        for r in 0..h as isize {
            for c in 0..w as isize {
                let (sr, sc) = (r - dy, c - dx);
                let inside = (0..h as isize).contains(&sr) && (0..w as isize).contains(&sc);
                out.push(if inside { image[sr as usize * w + sc as usize] } else { 0.0 });
            }
        }
        out
    }

    #[test]
    fn shifting_an_image_is_the_per_pixel_definition() {
        for (w, h) in [(5, 3), (3, 5), (1, 1), (4, 4), (7, 1), (1, 6)] {
            let image: Vec<f32> = (1..=w * h).map(|v| v as f32).collect();
            for dx in -(w as isize) - 1..=w as isize + 1 {
                for dy in -(h as isize) - 1..=h as isize + 1 {
                    // NaN wherever the shift leaves a value unwritten.
                    let mut out = vec![f32::NAN; w * h];
                    shift_image(w, h, &image, (dx, dy), &mut out);
                    assert_eq!(out, shifted(w, h, &image, (dx, dy)), "{w} x {h} by ({dx}, {dy})");
                }
            }
        }
    }

    #[test]
    fn augmentation_appends_each_shift_of_every_image_with_its_target() {
        let (w, h, n) = (4, 3, 3);
        let x: Vec<f32> = (0..n * w * h).map(|v| (v + 1) as f32).collect();
        let labels = Targets::Classes { labels: vec![2, 0, 1], classes: 3, names: vec![] };
        let values = Targets::Values { values: vec![0.5, 1.5, 2.5, 3.5, 4.5, 5.5], width: 2 };
        for targets in [labels, values] {
            let d = Dataset { x: x.clone(), features: w * h, targets };
            let a = augment_shifts(&d, w, h);
            assert_eq!(a.len(), 5 * n);
            for (k, offsets) in [(0, 0), (-1, 0), (1, 0), (0, -1), (0, 1)].into_iter().enumerate() {
                for i in 0..n {
                    assert_eq!(a.row(k * n + i), shifted(w, h, d.row(i), offsets), "copy {k}, image {i}");
                }
            }
            let t = d.target_width();
            let (mut got, mut want) = (vec![0.0; t], vec![0.0; t]);
            for j in 0..5 * n {
                a.target_row(j, &mut got);
                d.target_row(j % n, &mut want);
                assert_eq!(got, want, "target of sample {j}");
            }
        }
    }
}
