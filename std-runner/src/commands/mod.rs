//! One module per `myelin` command; each takes its parsed arguments and does the work
//! through the library.

pub mod bench;
pub mod eval;
pub mod export;
pub mod import;
pub mod inspect;
pub mod predict;
pub mod quantize;
pub mod train;

use crate::DataArgs;
use myelin::data::csv::{self, Column, Task};
use myelin::data::source::Source;
use myelin::error::{Error, Result};
use myelin::io::modelfile::Saved;

/// The data source `--data` (and the CSV flags) name.
pub fn source(data: &DataArgs) -> Result<Source> {
    if data.data == "digits" {
        return Ok(Source::Digits);
    }
    if let Some(dir) = data.data.strip_prefix("mnist:") {
        return Ok(Source::Mnist(dir.into()));
    }
    if let Some(file) = data.data.strip_prefix("csv:") {
        let task = if data.target.is_empty() {
            Task::Classify { label: data.label.clone().unwrap_or(Column::Last) }
        } else {
            Task::Regress { targets: data.target.clone() }
        };
        let options = csv::Options { task, drop: data.drop.clone(), one_hot: data.one_hot.clone() };
        return Ok(Source::Csv { train: file.into(), test: data.test.clone(), options });
    }
    Err(Error::Usage(format!("--data {:?}: use `digits`, `mnist:DIR` or `csv:FILE`", data.data)))
}

/// The source to evaluate `model` on: without an explicit `--data`, the MNIST directory
/// it was trained on.
pub fn source_for(model: &Saved, data: &DataArgs) -> Result<Source> {
    if data.data == "digits" && model.meta.source != "digits" && !model.meta.source.is_empty() {
        if let Some(dir) = model.meta.source.strip_prefix("mnist:") {
            return Ok(Source::Mnist(dir.into()));
        }
    }
    source(data)
}
