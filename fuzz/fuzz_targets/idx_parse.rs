//! Any bytes into the IDX (MNIST) parser: an error or data whose size matches its header.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok((dims, bytes)) = myelin::data::idx::parse(data, std::path::Path::new("fuzz")) {
        assert_eq!(dims.iter().product::<usize>(), bytes.len());
    }
});
