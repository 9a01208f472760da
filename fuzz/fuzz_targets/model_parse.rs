//! Any bytes into the model-file parsers (float, version 1; int8, version 2, read in place
//! from a 4-byte-aligned copy): an error or a model, never a panic or an out-of-bounds
//! read. Each input is parsed twice: as given (almost always stopped by the checksum) and
//! with its last four bytes replaced by the correct CRC-32, so the field and bound checks
//! behind the checksum are explored too. A parsed model must re-encode to the same bytes
//! and run a forward pass (int8: on every kernel set, with one result).
#![no_main]

use libfuzzer_sys::fuzz_target;
use myelin_core::quant::{self, I8Backend, QuantLayer};
use myelin_core::{format, kernels::Portable};

fn check_int8(data: &[u8]) {
    let mut words = vec![0u32; data.len().div_ceil(4)];
    let bytes = &mut bytemuck::cast_slice_mut::<u32, u8>(&mut words)[..data.len()];
    bytes.copy_from_slice(data);
    let Ok(m) = quant::parse(bytes) else { return };
    let layers: Vec<QuantLayer> = m.layers().collect();
    assert_eq!(layers.len(), m.depth());
    let mut out = vec![0u8; quant::encoded_len(&m.input, &layers).unwrap()];
    quant::write(m.inputs, m.loss, &m.input, &layers, &mut out).unwrap();
    assert_eq!(out, data, "re-encoding a parsed int8 model changes its bytes");
    if m.widest() <= 4096 {
        let x: Vec<f32> = (0..m.inputs).map(|i| i as f32 - 2.5).collect();
        let mut work = vec![0i32; m.work_len(1).unwrap()];
        let mut first: Option<Vec<u32>> = None;
        for k in I8Backend::available() {
            let mut y = vec![0.0f32; m.outputs()];
            m.predict(k, &x, 1, &mut work, &mut y).unwrap();
            let bits: Vec<u32> = y.iter().map(|v| v.to_bits()).collect();
            assert_eq!(first.get_or_insert(bits.clone()), &bits, "int8 kernel sets disagree");
        }
    }
}

fn check(data: &[u8]) {
    check_int8(data);
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
