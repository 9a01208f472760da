//! The model file: round trips, one crafted file per error variant, and every single-bit
//! corruption of a small model (with and without a recomputed checksum).

use myelin_core::format::{self, crc32, FormatError, Standardizer};
use myelin_core::*;

fn model(
    sizes: &[usize],
    hidden: Activation,
    output: Activation,
    loss: Loss,
    std: bool,
) -> (Topology, Vec<f32>, Vec<u8>) {
    let topo = Topology::dense(sizes, hidden, output, loss).unwrap();
    let mut p = vec![0.0; topo.params_len()];
    topo.init_params(&mut p, Init::XavierNormal, &mut Rng::new(5)).unwrap();
    let mean: Vec<f32> = (0..sizes[0]).map(|i| i as f32 * 0.5).collect();
    let sd: Vec<f32> = (0..sizes[0]).map(|i| 1.0 + i as f32).collect();
    let s = std.then_some(Standardizer { mean: &mean, std: &sd });
    let mut out = vec![0u8; format::encoded_len(&topo, std).unwrap()];
    let n = format::write(&topo, &p, s, &mut out).unwrap();
    assert_eq!(n, out.len());
    assert_eq!(n, format::file_len(sizes, std));
    (topo, p, out)
}

/// Copies into a 4-byte aligned buffer so parameters are borrowed in place.
fn aligned(bytes: &[u8]) -> Vec<u32> {
    let mut v = vec![0u32; bytes.len().div_ceil(4)];
    bytemuck::cast_slice_mut::<u32, u8>(&mut v)[..bytes.len()].copy_from_slice(bytes);
    v
}

fn as_bytes(v: &[u32], len: usize) -> &[u8] {
    &bytemuck::cast_slice::<u32, u8>(v)[..len]
}

#[test]
fn round_trip_every_activation_and_loss() {
    let k = Native::default();
    let mut combos = 0;
    for hidden in [Activation::Identity, Activation::Sigmoid, Activation::Tanh, Activation::Relu, Activation::LeakyRelu]
    {
        for output in [
            Activation::Identity,
            Activation::Sigmoid,
            Activation::Tanh,
            Activation::Relu,
            Activation::LeakyRelu,
            Activation::Softmax,
        ] {
            for loss in Loss::ALL {
                if !loss.accepts(output) {
                    continue;
                }
                for std in [false, true] {
                    let (topo, p, bytes) = model(&[3, 5, 4, 2], hidden, output, loss, std);
                    let store = aligned(&bytes);
                    let view = as_bytes(&store, bytes.len());
                    let m = format::parse(view, &mut []).unwrap();
                    assert_eq!(m.topology, topo);
                    assert_eq!(m.params, &p[..]);
                    assert!(
                        std::ptr::eq(m.params.as_ptr() as *const u8, view[view.len() - 4 - 4 * p.len()..].as_ptr()),
                        "aligned: borrowed in place"
                    );
                    assert_eq!(m.standardizer.is_some(), std);
                    let mut again = vec![0u8; bytes.len()];
                    format::write(&m.topology, m.params, m.standardizer, &mut again).unwrap();
                    assert_eq!(again, bytes, "write -> parse -> write is the identity");
                    // Identical predictions.
                    let x = [0.3, -0.1, 0.7];
                    let mut w1 = vec![0.0; topo.inference_len(1).unwrap()];
                    let mut w2 = w1.clone();
                    let a = topo.predict(&k, &p, &x, 1, &mut w1).unwrap();
                    let b = m.topology.predict(&k, m.params, &x, 1, &mut w2).unwrap();
                    assert_eq!(a, b);
                    // Unaligned: copied into scratch, same values.
                    let mut shifted = vec![0u8; bytes.len() + 1];
                    shifted[1..].copy_from_slice(&bytes);
                    let mut scratch = vec![0.0; p.len() + if std { 6 } else { 0 }];
                    let src = &shifted[1..];
                    let m2 = format::parse(src, &mut scratch).unwrap();
                    assert_eq!(m2.params, &p[..]);
                    combos += 1;
                }
            }
        }
    }
    assert_eq!(combos, 2 * 5 * 14);
}

fn reseal(b: &mut [u8]) {
    let n = b.len() - 4;
    let c = crc32(&b[..n]);
    b[n..].copy_from_slice(&c.to_le_bytes());
}

fn parse_copy(b: &[u8]) -> Result<usize, FormatError> {
    let mut scratch = vec![0.0; 4096];
    format::parse(b, &mut scratch).map(|m| m.params.len())
}

#[test]
fn crc32_is_the_ieee_one() {
    assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
    assert_eq!(crc32(b""), 0);
}

#[test]
fn every_error_variant_from_a_crafted_file() {
    let (_, p, good) = model(&[2, 3, 1], Activation::Tanh, Activation::Sigmoid, Loss::BinaryCrossEntropy, true);
    assert_eq!(parse_copy(&good), Ok(p.len()));
    let craft = |f: &dyn Fn(&mut Vec<u8>)| {
        let mut b = good.clone();
        f(&mut b);
        reseal(&mut b);
        parse_copy(&b)
    };
    assert_eq!(parse_copy(&good[..2]), Err(FormatError::Truncated { needed: 36, got: 2 }));
    assert_eq!(parse_copy(&good[..20]), Err(FormatError::Truncated { needed: 36, got: 20 }));
    assert_eq!(parse_copy(b"GIF89a........................................"), Err(FormatError::BadMagic));
    assert!(matches!(parse_copy(&good[..good.len() - 1]), Err(FormatError::ChecksumMismatch { .. })));
    assert_eq!(craft(&|b| b[4] = 2), Err(FormatError::UnsupportedVersion { got: 2, supported: 1 }));
    assert_eq!(craft(&|b| b[6] = 3), Err(FormatError::Reserved));
    assert_eq!(craft(&|b| b[18] = 1), Err(FormatError::Reserved));
    assert_eq!(craft(&|b| b[24 + 5] = 1), Err(FormatError::Reserved));
    assert_eq!(craft(&|b| b[16] = 0), Err(FormatError::LayerCount { got: 0, max: 8 }));
    assert_eq!(craft(&|b| b[16] = 9), Err(FormatError::LayerCount { got: 9, max: 8 }));
    assert_eq!(craft(&|b| b[8] = 32), Err(FormatError::HeaderLength { expected: 40, got: 32 }));
    assert_eq!(craft(&|b| b[24 + 4] = 77), Err(FormatError::UnknownActivation { layer: 0, code: 77 }));
    assert_eq!(craft(&|b| b[17] = 9), Err(FormatError::UnknownLoss { code: 9 }));
    assert_eq!(craft(&|b| b[17] = Loss::CrossEntropy.code()), Err(FormatError::InvalidTopology));
    assert_eq!(craft(&|b| b[24] = 0), Err(FormatError::InvalidTopology));
    assert_eq!(craft(&|b| b[12] = 1), Err(FormatError::ParamCount { expected: 13, got: 1 }));
    assert_eq!(craft(&|b| b.insert(40, 0)), Err(FormatError::Length { expected: 112, got: 113 }));
    assert_eq!(craft(&|b| b[20] = 200), Err(FormatError::ParamCount { expected: 607, got: 13 }));
    assert_eq!(
        craft(&|b| b[40..44].copy_from_slice(&f32::NAN.to_le_bytes())),
        Err(FormatError::NonFinite { index: 0 })
    );
    assert_eq!(craft(&|b| b[48..52].copy_from_slice(&0.0f32.to_le_bytes())), Err(FormatError::NonFinite { index: 2 }));
    // Huge claimed sizes: rejected from the header, nothing allocated or read.
    assert!(craft(&|b| b[20..24].copy_from_slice(&u32::MAX.to_le_bytes())).is_err());
    assert!(craft(&|b| b[24..28].copy_from_slice(&u32::MAX.to_le_bytes())).is_err());
    // Capacity: unaligned bytes and too small a scratch.
    let mut shifted = vec![0u8; good.len() + 1];
    shifted[1..].copy_from_slice(&good);
    let mut small = [0.0f32; 3];
    assert_eq!(format::parse(&shifted[1..], &mut small).err(), Some(FormatError::Capacity { needed: 17, got: 3 }));
    // Writer errors.
    let topo = Topology::dense(&[2, 3, 1], Activation::Tanh, Activation::Sigmoid, Loss::BinaryCrossEntropy).unwrap();
    let mut out = [0u8; 10];
    assert!(format::write(&topo, &p, None, &mut out).is_err());
    assert!(format::write(&topo, &p[1..], None, &mut [0u8; 200]).is_err());
    for e in [FormatError::BadMagic, FormatError::ChecksumMismatch { stored: 1, computed: 2 }] {
        assert!(!e.to_string().is_empty());
    }
}

#[test]
fn every_single_bit_flip_is_rejected_or_loads_a_valid_model() {
    let (topo, _, good) = model(&[3, 4, 2], Activation::Relu, Activation::Softmax, Loss::CrossEntropy, true);
    let body = good.len() - 4;
    let floats_start = 24 + 8 * 2;
    let (mut checksum, mut typed, mut valid, mut other_header) = (0, 0, 0, 0);
    for bit in 0..good.len() * 8 {
        let mut b = good.clone();
        b[bit / 8] ^= 1 << (bit % 8);
        // Pass 1: as corrupted on disk.
        match parse_copy(&b) {
            Err(FormatError::ChecksumMismatch { .. }) => checksum += 1,
            Err(FormatError::BadMagic) if bit / 8 < 4 => checksum += 1,
            other => panic!("bit {bit}: corrupted file not rejected: {other:?}"),
        }
        // Pass 2: checksum recomputed, so the field checks must catch it.
        if bit / 8 < body {
            reseal(&mut b);
            let mut scratch = vec![0.0; 4096];
            match format::parse(&b, &mut scratch) {
                Ok(m) if bit / 8 >= floats_start => {
                    assert_eq!(m.topology, topo);
                    valid += 1;
                }
                Ok(m) => {
                    // A header flip that spells another valid model (e.g. activation code
                    // relu -> tanh, loss ce -> mse): it must be a canonical file of that model.
                    assert_ne!(m.topology, topo, "bit {bit}");
                    let mut again = vec![0u8; b.len()];
                    format::write(&m.topology, m.params, m.standardizer, &mut again).unwrap();
                    assert_eq!(again, b, "bit {bit}");
                    other_header += 1;
                }
                Err(_) => typed += 1,
            }
        }
    }
    println!("{} flips: {checksum} checksum/magic rejections; resealed: {typed} typed errors, {valid} valid (parameter flips), {other_header} other valid headers", good.len() * 8);
    assert_eq!(checksum, good.len() * 8);
    assert!(typed > 0 && valid > 0);
}
