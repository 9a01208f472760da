//! Inputs for a saved model: its dataset's test part, a file of samples to predict (CSV in
//! the model's schema, or IDX images), or one sample from the command line; each encoded
//! and standardized the way the model was trained.

use super::csv::{self, Task};
use super::source::{self, split_off_test, Source};
use super::{idx, Dataset, Targets};
use crate::error::{Error, Result};
use crate::io::modelfile::Saved;
use std::path::Path;

/// The test part of `source`, encoded with the model's CSV schema (when it has one) and
/// standardized with its scaling, checked against the model's shape.
pub fn test_set(model: &Saved, source: &Source) -> Result<Dataset> {
    let mut test = test_set_raw(model, source)?;
    if let Some(s) = &model.standardizer {
        s.apply(&mut test);
    }
    Ok(test)
}

/// [`test_set`] without the model's scaling: raw features (what an int8 model's input
/// quantizer takes).
pub fn test_set_raw(model: &Saved, source: &Source) -> Result<Dataset> {
    let (_, mut test, _) = source::load(source)?;
    if let (Source::Csv { train, test: file, .. }, Some(schema)) = (source, &model.meta.schema) {
        let path = file.as_ref().unwrap_or(train);
        let all = csv::encode(&csv::read_text(path)?, path, schema)?;
        test = if file.is_some() { all } else { split_off_test(&all).1 };
    }
    test.check_fits(model.topology.inputs(), model.topology.outputs())?;
    Ok(test)
}

/// The training part of `source` (what the model was fitted on, validation included),
/// encoded with the model's CSV schema and standardized with its scaling: the pool
/// calibration samples are drawn from.
pub fn train_set(model: &Saved, source: &Source) -> Result<Dataset> {
    let (mut train, _, _) = source::load(source)?;
    if let (Source::Csv { train: path, test: file, .. }, Some(schema)) = (source, &model.meta.schema) {
        let all = csv::encode(&csv::read_text(path)?, path, schema)?;
        train = if file.is_some() { all } else { split_off_test(&all).0 };
    }
    if let Some(s) = &model.standardizer {
        s.apply(&mut train);
    }
    train.check_fits(model.topology.inputs(), model.topology.outputs())?;
    Ok(train)
}

/// One sample from comma-separated raw feature values, standardized for the model.
pub fn sample(model: &Saved, text: &str) -> Result<Dataset> {
    let x: Vec<f32> = text
        .split(',')
        .map(|v| v.trim().parse::<f32>().map_err(|_| Error::Usage(format!("--sample: {v:?} is not a number"))))
        .collect::<Result<_>>()?;
    finish(model, Dataset { x, features: model.topology.inputs(), targets: no_targets() })
}

/// Every sample of a file: IDX images (scaled to [0, 1]) or CSV rows encoded with the
/// model's schema (label and target columns may be absent), standardized for the model.
pub fn file(model: &Saved, path: &Path) -> Result<Dataset> {
    let bytes = idx::read_file(path)?;
    let data = if bytes.starts_with(&[0, 0, 8]) {
        let (dims, px) = idx::parse(&bytes, path)?;
        let features = dims[1..].iter().product();
        Dataset { x: px.iter().map(|&v| v as f32 / 255.0).collect(), features, targets: no_targets() }
    } else {
        csv_features(model, &csv::read_text(path)?, path)?
    };
    finish(model, data)
}

fn no_targets() -> Targets {
    Targets::Values { values: vec![], width: 0 }
}

/// CSV rows as features only: with the model's schema minus its label and targets, else
/// every column numeric.
fn csv_features(model: &Saved, text: &str, path: &Path) -> Result<Dataset> {
    let Some(schema) = &model.meta.schema else {
        let opts = csv::Options { task: Task::Regress { targets: vec![] }, drop: vec![], one_hot: vec![] };
        return csv::parse(text, path, &opts);
    };
    let mut s = schema.clone();
    let has_all = text.lines().next().is_some_and(|l| l.split(',').count() == s.names.len());
    if has_all {
        if let Some(l) = schema.label {
            s.encodings[l] = csv::Encoding::Skip;
        }
    } else {
        let keep: Vec<usize> = (0..s.names.len()).filter(|i| Some(*i) != s.label && !s.targets.contains(i)).collect();
        s.names = keep.iter().map(|&i| s.names[i].clone()).collect();
        s.encodings = keep.iter().map(|&i| s.encodings[i].clone()).collect();
    }
    s.label = None;
    s.targets = vec![];
    csv::encode(text, path, &s)
}

/// Checks the samples fit the model and standardizes them.
fn finish(model: &Saved, mut data: Dataset) -> Result<Dataset> {
    let inputs = model.topology.inputs();
    if data.x.len() != data.len() * inputs || data.features != inputs {
        return Err(Error::Shape {
            op: "predict",
            expected: format!("{inputs} features per sample"),
            got: format!("{}", data.x.len().min(data.features)),
        });
    }
    if let Some(s) = &model.standardizer {
        s.apply(&mut data);
    }
    Ok(data)
}
