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

/// Found by fuzzing: a huge integer label once made a class list of two billion entries.
#[test]
fn huge_integer_labels_and_wide_categories_are_bounded() {
    let opts = Options { task: Task::Classify { label: Column::Last }, drop: vec![], one_hot: vec![] };
    let d = csv::parse("oooooooooooooooooa.,cq,a,2000000002\n", Path::new("p.csv"), &opts).unwrap();
    assert_eq!(d.target_width(), 1, "a single huge label is one category, not 2e9 classes");
    let mut text = String::from("id,value,label\n");
    for i in 0..(csv::MAX_CATEGORIES + 1) {
        text += &format!("id{i},1.0,{}\n", i % 2);
    }
    match csv::parse(&text, Path::new("p.csv"), &opts) {
        Ok(d) => panic!("a {}-category column was accepted ({} features)", csv::MAX_CATEGORIES + 1, d.features),
        Err(e) => assert!(e.to_string().contains("distinct values"), "{e}"),
    }
}
