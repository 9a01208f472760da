//! The shipped dataset: scikit-learn's 1,797 8x8 handwritten digits (`data/digits.csv.gz`,
//! BSD-3), embedded in the binary so training works with no download.

use super::{csv, Dataset};
use crate::error::Result;
use std::io::Read;

const GZ: &[u8] = include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/../data/digits.csv.gz"));

/// Test samples per class in the fixed split (10 classes: 360 test, 1,437 train).
pub const TEST_PER_CLASS: usize = 36;
/// Seed of the fixed split.
pub const SPLIT_SEED: u64 = 1797;

/// All 1,797 digits: 64 features (pixel intensity 0..16), 10 classes.
pub fn load() -> Result<Dataset> {
    let mut text = String::new();
    flate2::read::GzDecoder::new(GZ)
        .read_to_string(&mut text)
        .map_err(|e| crate::error::Error::io("decompressing", "digits.csv.gz (embedded)", e))?;
    let opts = csv::Options { task: csv::Task::Classify { label: csv::Column::Last }, ..Default::default() };
    csv::parse(&text, "digits.csv.gz (embedded)".as_ref(), &opts)
}

/// The fixed split: a seeded, stratified draw of 36 test digits per class (360), the other
/// 1,437 for training; both in file order. The same every run and every machine.
///
/// (The file's last 360 rows are a harder, writer-shifted test set: see `train_test_tail`.)
pub fn train_test() -> Result<(Dataset, Dataset)> {
    let all = load()?;
    let mut by_class: Vec<Vec<usize>> = vec![vec![]; all.target_width()];
    for i in 0..all.len() {
        if let Some(c) = all.label(i) {
            by_class[c as usize].push(i);
        }
    }
    let mut rng = myelin_core::Rng::new(SPLIT_SEED);
    let mut test = Vec::new();
    for members in &mut by_class {
        rng.shuffle(members);
        test.extend(members.iter().take(TEST_PER_CLASS));
    }
    test.sort_unstable();
    let train: Vec<usize> = (0..all.len()).filter(|i| test.binary_search(i).is_err()).collect();
    Ok((all.subset(&train), all.subset(&test)))
}

/// The tail split: first 1,437 rows train, last 360 test.
pub fn train_test_tail() -> Result<(Dataset, Dataset)> {
    Ok(load()?.split_at(1437))
}
