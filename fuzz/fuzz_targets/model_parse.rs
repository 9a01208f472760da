//! Any bytes into the model-file parser: an error or a model, never a panic or an
//! out-of-bounds read. Each input is parsed twice: as given (almost always stopped by the
//! checksum) and with its last four bytes replaced by the correct CRC-32, so the field and
//! bound checks behind the checksum are explored too. A parsed model must re-encode to the
//! same bytes and run a forward pass.
#![no_main]

use libfuzzer_sys::fuzz_target;
use myelin_core::{format, kernels::Portable};

fn check(data: &[u8]) {
    let mut scratch = vec![0.0f32; data.len() / 4 + 1];
    if let Ok(m) = format::parse(data, &mut scratch) {
        let t = m.topology;
        let mut out = vec![0u8; format::encoded_len(&t, m.standardizer.is_some()).unwrap()];
        format::write(&t, m.params, m.standardizer, &mut out).unwrap();
        assert_eq!(out, data, "re-encoding a parsed model changes its bytes");
        if t.inputs() <= 4096 && t.max_width() <= 4096 {
            let x = vec![0.5f32; t.inputs()];
            let mut work = vec![0.0f32; t.inference_len(1).unwrap()];
            let _ = t.predict(&Portable, m.params, &x, 1, &mut work);
        }
    }
}

fuzz_target!(|data: &[u8]| {
    check(data);
    if data.len() >= 8 {
        let mut sealed = data.to_vec();
        let n = sealed.len() - 4;
        let crc = format::crc32(&sealed[..n]);
        sealed[n..].copy_from_slice(&crc.to_le_bytes());
        check(&sealed);
    }
});
