//! Any text into the CSV reader (classification and regression): an error or a dataset
//! whose shapes agree.
#![no_main]

use libfuzzer_sys::fuzz_target;
use myelin::data::csv::{self, Column, Options, Task};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let path = std::path::Path::new("fuzz.csv");
    for task in [Task::Classify { label: Column::Last }, Task::Regress { targets: vec![Column::Index(0)] }] {
        let opts = Options { task, drop: vec![], one_hot: vec![Column::Index(1)] };
        if let Ok(d) = csv::parse(text, path, &opts) {
            assert_eq!(d.x.len(), d.len() * d.features);
        }
    }
});
