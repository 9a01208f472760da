//! Where training data comes from, and turning it into train/validation/test sets with the
//! scaling the model will carry.

use crate::data::{csv, digits, idx, Dataset, Standardizer, Targets};
use crate::error::{Error, Result};
use crate::io::modelfile::Meta;
use crate::train::spec::{InputScale, TrainSpec, ValSplit};
use std::path::PathBuf;

/// A data source.
#[derive(Clone, Debug, PartialEq)]
pub enum Source {
    /// The shipped digits (fixed split).
    Digits,
    /// A directory with the four MNIST IDX files.
    Mnist(PathBuf),
    /// CSV training file, optional test file (otherwise the last 20% of rows), options.
    Csv {
        /// Training file.
        train: PathBuf,
        /// Test file.
        test: Option<PathBuf>,
        /// Columns and task.
        options: csv::Options,
    },
}

/// Data ready for training: scaled, split.
pub struct Prepared {
    /// Training part.
    pub train: Dataset,
    /// Validation part (may be empty).
    pub val: Dataset,
    /// Test part.
    pub test: Dataset,
    /// Input standardization, fitted on `train`.
    pub standardizer: Option<Standardizer>,
    /// Sidecar metadata (schema, classes, target scaling).
    pub meta: Meta,
    /// Image sides (width, height) when the inputs are images.
    pub image: Option<(usize, usize)>,
}

impl Source {
    /// (width, height) of the images of an image source.
    pub fn image_sides(&self) -> Option<(usize, usize)> {
        match self {
            Source::Digits => Some((8, 8)),
            Source::Mnist(_) => Some((28, 28)),
            Source::Csv { .. } => None,
        }
    }
}

/// Loads the raw (train, test) pair and the metadata describing it.
pub fn load(source: &Source) -> Result<(Dataset, Dataset, Meta)> {
    match source {
        Source::Digits => {
            let (tr, te) = digits::train_test()?;
            let classes = (0..10).map(|d| d.to_string()).collect();
            Ok((tr, te, Meta { source: "digits".into(), classes, ..Meta::default() }))
        }
        Source::Mnist(dir) => {
            let (tr, te) = idx::load_mnist_dir(dir)?;
            let classes = (0..tr.target_width()).map(|d| d.to_string()).collect();
            Ok((tr, te, Meta { source: format!("mnist:{}", dir.display()), classes, ..Meta::default() }))
        }
        Source::Csv { train, test, options } => {
            let text = csv::read_text(train)?;
            let schema = csv::fit(&text, train, options)?;
            let all = csv::encode(&text, train, &schema)?;
            let (tr, te) = match test {
                Some(t) => (all, csv::encode(&csv::read_text(t)?, t, &schema)?),
                None => split_off_test(&all),
            };
            let meta = Meta {
                source: format!("csv:{}", train.display()),
                classes: schema.classes.clone(),
                schema: Some(schema),
                ..Meta::default()
            };
            Ok((tr, te, meta))
        }
    }
}

/// A CSV file without a separate test file: its first 80% of rows train, the last 20%
/// test (rows in file order, so data ordered in time is tested on its last stretch).
pub fn split_off_test(all: &Dataset) -> (Dataset, Dataset) {
    all.split_at(all.len() - all.len() / 5)
}

/// Target scaling for regression: (mean, std) per target column.
fn target_scale(d: &Dataset) -> Option<(Vec<f32>, Vec<f32>)> {
    let Targets::Values { values, width } = &d.targets else { return None };
    let s = Standardizer::fit(&Dataset { x: values.clone(), features: *width, targets: d.targets.clone() });
    Some((s.mean, s.std))
}

/// Scales regression targets in place: `t' = (t - mean) / std`.
pub fn scale_targets(d: &mut Dataset, scale: &(Vec<f32>, Vec<f32>)) {
    if let Targets::Values { values, width } = &mut d.targets {
        for (i, v) in values.iter_mut().enumerate() {
            *v = (*v - scale.0[i % *width]) / scale.1[i % *width];
        }
    }
}

/// Maps model outputs back to data units: `y = y' std + mean`.
pub fn unscale_outputs(y: &mut [f32], scale: &(Vec<f32>, Vec<f32>)) {
    let w = scale.0.len().max(1);
    for (i, v) in y.iter_mut().enumerate() {
        *v = *v * scale.1[i % w] + scale.0[i % w];
    }
}

/// Loads, splits off validation, fits and applies scaling (`spec` as
/// [`TrainSpec::resolved`] gives it).
pub fn prepare(source: &Source, spec: &TrainSpec) -> Result<Prepared> {
    let (all_train, mut test, mut meta) = load(source)?;
    if all_train.is_empty() {
        return Err(Error::Usage("the training data has no samples".into()));
    }
    let (mut train, mut val) = match spec.val_split {
        ValSplit::Random => all_train.split_random(spec.val_fraction, spec.seed)?,
        ValSplit::Last => {
            let n_val = (all_train.len() as f32 * spec.val_fraction).round() as usize;
            all_train.split_at(all_train.len() - n_val)
        }
    };
    let image = source.image_sides();
    if let (true, Some((w, h))) = (spec.augment, image) {
        train = crate::data::augment_shifts(&train, w, h);
    }
    let standardizer = match spec.input_scale(image.is_some()) {
        InputScale::Standardize => {
            let mut s = Standardizer::fit(&train);
            // One-hot indicators stay 0/1: a rare category's z-score would be huge.
            if let Some(schema) = &meta.schema {
                for (j, numeric) in schema.numeric_features().into_iter().enumerate() {
                    if !numeric && j < s.mean.len() {
                        (s.mean[j], s.std[j]) = (0.0, 1.0);
                    }
                }
            }
            Some(s)
        }
        InputScale::Unit => Some(Standardizer::unit_range(&train)),
        InputScale::Auto | InputScale::None => None,
    };
    if let Some(s) = &standardizer {
        for d in [&mut train, &mut val, &mut test] {
            s.apply(d);
        }
    }
    if let Some(scale) = target_scale(&train) {
        scale_targets(&mut train, &scale);
        scale_targets(&mut val, &scale);
        // Test targets stay in data units: reports compare unscaled outputs against them.
        meta.target_scale = Some(scale);
    }
    meta.spec = Some(spec.clone());
    Ok(Prepared { train, val, test, standardizer, meta, image })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_last_split_validates_on_the_final_rows() {
        let spec = TrainSpec { val_split: ValSplit::Last, val_fraction: 0.1, augment: false, ..TrainSpec::default() };
        let prepared = prepare(&Source::Digits, &spec.resolved(true)).unwrap();
        let (all, _) = digits::train_test().unwrap();
        let n_val = (all.len() as f32 * 0.1).round() as usize;
        assert_eq!((prepared.train.len(), prepared.val.len()), (all.len() - n_val, n_val));
        // Unit scaling divides by 16 (the digits' range) exactly: compare scaled rows.
        let scaled = |row: &[f32]| row.iter().map(|v| v / 16.0).collect::<Vec<f32>>();
        assert_eq!(prepared.val.row(0), scaled(all.row(all.len() - n_val)));
        assert_eq!(prepared.train.row(0), scaled(all.row(0)));
        let random =
            prepare(&Source::Digits, &TrainSpec { val_split: ValSplit::Random, ..spec }.resolved(true)).unwrap();
        assert_ne!(random.val.x, prepared.val.x, "a random draw is not the last rows");
    }

    #[test]
    fn images_default_to_the_unit_range_and_tables_to_standardizing() {
        let spec = TrainSpec::default();
        assert_eq!(spec.input_scale(true), InputScale::Unit);
        assert_eq!(spec.input_scale(false), InputScale::Standardize);
        let legacy = TrainSpec { standardize: Some(false), ..TrainSpec::default() };
        assert_eq!(legacy.input_scale(true), InputScale::None);
        let prepared = prepare(&Source::Digits, &spec.resolved(true)).unwrap();
        let s = prepared.standardizer.unwrap();
        assert!(s.mean.iter().all(|&m| m == 0.0) && s.std.iter().all(|&v| v == 16.0));
        let max = prepared.train.x.iter().fold(0.0f32, |a, &b| a.max(b));
        assert_eq!(max, 1.0);
    }
}
