//! Property tests: the runner's parsers on random bytes and text return data or an error,
//! never a panic.

use myelin::data::csv::{self, Column, Options, Task};
use myelin::data::idx;
use proptest::prelude::*;
use std::path::Path;

proptest! {
    #![proptest_config(ProptestConfig { cases: 500, ..ProptestConfig::default() })]

    #[test]
    fn idx_parser(bytes in prop::collection::vec(any::<u8>(), 0..200), magic in any::<bool>()) {
        let mut b = bytes;
        if magic && b.len() >= 4 {
            let nd = 1 + b[3] % 4;
            b[..4].copy_from_slice(&[0, 0, 8, nd]);
        }
        if let Ok((dims, data)) = idx::parse(&b, Path::new("p")) {
            prop_assert_eq!(dims.iter().product::<usize>(), data.len());
        }
    }

    #[test]
    fn csv_reader(text in "[a-c0-9,.\\-\"\n ]{0,200}", label in 0usize..4, regress in any::<bool>()) {
        let task = if regress { Task::Regress { targets: vec![Column::Index(label)] } } else { Task::Classify { label: Column::Index(label) } };
        let opts = Options { task, drop: vec![], one_hot: vec![Column::Last] };
        if let Ok(d) = csv::parse(&text, Path::new("p.csv"), &opts) {
            prop_assert_eq!(d.x.len(), d.len() * d.features);
        }
    }
}
