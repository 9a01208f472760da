//! The int8 model file (format version 2): written and read back to the same bytes, every
//! single bit flip rejected by the checksum and, resealed, either a typed error or a valid
//! model that re-encodes to its own bytes and runs (also as a `QuantNet`, same bits); one
//! crafted file per value check; and `QuantNet::new`'s checks, one broken network each,
//! evaluated at run time and in a `static` (at compile time).

use myelin_core::format::{self, crc32, FormatError, QuantField};
use myelin_core::quant::{self, I8Backend, Known, LayerMode, QuantDense, QuantInput, QuantLayer, QuantNet};
use myelin_core::Values;
use myelin_core::{Activation, Loss};

/// A 3-4-4-2 network: ReLU clamp, tanh table, softmax dequantized.
struct Parts {
    w: [Vec<i8>; 3],
    b: [Vec<i32>; 3],
    mult: [Vec<i32>; 2],
    shift: [Vec<i8>; 2],
    scale: [Vec<f32>; 3],
    table: Vec<i8>,
    mean: Vec<f32>,
    factor: Vec<f32>,
}

fn parts() -> Parts {
    let w = |n: usize, m: usize, seed: i32| (0..n * m).map(|i| ((i as i32 * 37 + seed) % 255 - 127) as i8).collect();
    Parts {
        w: [w(3, 4, 5), w(4, 4, 11), w(4, 2, 17)],
        b: [vec![100, -200, 300, 7], vec![-5, 6, 70, -8000], vec![1, -1]],
        mult: [vec![1 << 30, 1_500_000_000, 2_000_000_000, 0], vec![1_234_567_890; 4]],
        shift: [vec![-8, -9, -7, -10], vec![-6, -5, 1, -31]],
        scale: [vec![1e-3, 2e-3, 3e-3, 4e-3], vec![5e-4; 4], vec![1e-2, 2e-2]],
        table: (0..256).map(|i| (((i as f32 - 128.0) / 40.0).tanh() * 127.0) as i8).collect(),
        mean: vec![0.5, -1.0, 2.0],
        factor: vec![10.0, 20.0, 30.0],
    }
}

fn layers(p: &Parts) -> [QuantLayer<'_>; 3] {
    let dense = |l: usize, n: usize, m: usize, zin: i32, zout: i32, min: i8| QuantDense {
        inputs: n,
        outputs: m,
        weights: &p.w[l],
        bias: &p.b[l],
        multiplier: p.mult.get(l).map_or(&[][..], |v| v),
        shift: p.shift.get(l).map_or(&[][..], |v| v),
        input_zero: zin,
        output_zero: zout,
        min,
        max: 127,
        known: Known::of(&p.w[l], &p.b[l], p.mult.get(l).map_or(&[][..], |v| v), p.shift.get(l).map_or(&[][..], |v| v)),
    };
    [
        QuantLayer {
            dense: dense(0, 3, 4, 3, -128, -128),
            activation: Activation::Relu,
            mode: LayerMode::Clamp,
            table: &[],
            acc_scale: &p.scale[0],
            out_scale: 0.05,
            out_zero: -128,
        },
        QuantLayer {
            dense: dense(1, 4, 4, -128, 9, -128),
            activation: Activation::Tanh,
            mode: LayerMode::Table,
            table: &p.table,
            acc_scale: &p.scale[1],
            out_scale: 1.0 / 128.0,
            out_zero: 0,
        },
        QuantLayer {
            dense: dense(2, 4, 2, 0, 0, -128),
            activation: Activation::Softmax,
            mode: LayerMode::Dequantize,
            table: &[],
            acc_scale: &p.scale[2],
            out_scale: 0.0,
            out_zero: 0,
        },
    ]
}

fn encode(p: &Parts) -> Vec<u8> {
    let input = QuantInput { mean: &p.mean, factor: &p.factor, zero: 3, scale: 0.1 };
    let ls = layers(p);
    let mut out = vec![0u8; quant::encoded_len(&input, &ls).unwrap()];
    let n = quant::write(3, Loss::CrossEntropy, &input, &ls, &mut out).unwrap();
    assert_eq!(n, out.len());
    out
}

/// Bytes copied to a 4-byte-aligned buffer (as `include_model!` places them).
fn aligned(bytes: &[u8]) -> Vec<u32> {
    let mut w = vec![0u32; bytes.len().div_ceil(4)];
    bytemuck::cast_slice_mut::<u32, u8>(&mut w)[..bytes.len()].copy_from_slice(bytes);
    w
}

fn parse(bytes: &[u8]) -> Result<Vec<u8>, FormatError> {
    let w = aligned(bytes);
    let b = &bytemuck::cast_slice::<u32, u8>(&w)[..bytes.len()];
    let m = quant::parse(b)?;
    // A parsed model re-encodes to its bytes and runs on every kernel set with one result.
    let ls: Vec<QuantLayer> = m.layers().collect();
    let mut again = vec![0u8; quant::encoded_len(&m.input, &ls).unwrap()];
    quant::write(m.inputs, m.loss, &m.input, &ls, &mut again).unwrap();
    assert_eq!(again, bytes, "re-encoding changes the bytes");
    if m.widest() <= 4096 {
        let x: Vec<f32> = (0..m.inputs * 2).map(|i| i as f32 * 0.3 - 1.0).collect();
        let mut work = vec![0i32; m.work_len(2).unwrap()];
        let mut first: Option<Vec<u32>> = None;
        for k in I8Backend::available() {
            let mut y = vec![0.0f32; 2 * m.outputs()];
            m.predict(k, &x, 2, &mut work, &mut y).unwrap();
            let bits: Vec<u32> = y.iter().map(|v| v.to_bits()).collect();
            assert_eq!(first.get_or_insert(bits.clone()), &bits, "{} differs", k.name());
            // The same layers as a network in memory: accepted, and the same bits.
            let net = QuantNet::new(m.inputs, m.loss, m.input, &ls).expect("a parsed model passes QuantNet::new");
            net.predict(k, &x, 2, &mut work, &mut y).unwrap();
            assert!(y.iter().zip(&bits).all(|(a, b)| a.to_bits() == *b), "{}: QuantNet differs", k.name());
        }
    }
    Ok(again)
}

fn reseal(b: &mut [u8]) {
    let n = b.len() - 4;
    let crc = crc32(&b[..n]);
    b[n..].copy_from_slice(&crc.to_le_bytes());
}

#[test]
fn written_models_read_back_to_the_same_bytes_and_layers() {
    let p = parts();
    let bytes = encode(&p);
    assert_eq!(parse(&bytes).unwrap(), bytes);
    let w = aligned(&bytes);
    let m = quant::parse(&bytemuck::cast_slice::<u32, u8>(&w)[..bytes.len()]).unwrap();
    let (want, got): (Vec<_>, Vec<_>) = (layers(&p).to_vec(), m.layers().collect());
    for (a, b) in want.iter().zip(&got) {
        assert_eq!(
            (a.dense.weights, a.dense.bias, a.dense.multiplier, a.dense.shift, a.table, a.acc_scale),
            (b.dense.weights, b.dense.bias, b.dense.multiplier, b.dense.shift, b.table, b.acc_scale)
        );
        assert_eq!(
            (a.dense.input_zero, a.dense.output_zero, a.dense.min, a.mode),
            (b.dense.input_zero, b.dense.output_zero, b.dense.min, b.mode)
        );
    }
    assert_eq!((m.inputs, m.outputs(), m.widest(), m.depth(), m.macs()), (3, 2, 4, 3, 12 + 16 + 8));
    // The float parser names the version it reads; the int8 parser the one it reads.
    let mut scratch = vec![0.0f32; 64];
    assert_eq!(
        format::parse(&bytes, &mut scratch).err(),
        Some(FormatError::UnsupportedVersion { got: 2, supported: 1 })
    );
}

#[test]
fn every_single_bit_flip_is_rejected_or_loads_a_valid_model() {
    let good = encode(&parts());
    let body = good.len() - 4;
    let (mut checksum, mut typed, mut valid) = (0, 0, 0);
    for bit in 0..good.len() * 8 {
        let mut b = good.clone();
        b[bit / 8] ^= 1 << (bit % 8);
        match parse(&b) {
            Err(FormatError::ChecksumMismatch { .. }) => checksum += 1,
            Err(FormatError::BadMagic) if bit / 8 < 4 => checksum += 1,
            other => panic!("bit {bit}: corrupted file not rejected: {other:?}"),
        }
        if bit / 8 < body {
            reseal(&mut b);
            match parse(&b) {
                Ok(_) => valid += 1,
                Err(_) => typed += 1,
            }
        }
    }
    println!(
        "{} flips: {checksum} rejected by checksum/magic; resealed: {typed} typed errors, {valid} valid",
        good.len() * 8
    );
    assert_eq!(checksum, good.len() * 8);
    assert!(typed > 0 && valid > 0);
}

#[test]
fn every_value_check_has_its_typed_error() {
    let good = encode(&parts());
    let inp = 32 + 12 * 3; // input offsets, then factors (3 each)
    let l0 = inp + 24; // layer 0: weights 12 bytes, bias 16, scales 16, multipliers 16, shifts 4
    let l1 = l0 + 64;
    let case = |at: usize, bytes: &[u8]| {
        let mut b = good.clone();
        b[at..at + bytes.len()].copy_from_slice(bytes);
        reseal(&mut b);
        parse(&b).err()
    };
    let q = |layer, field, index| Some(FormatError::QuantValue { layer, field, index });
    assert_eq!(case(inp, &f32::NAN.to_le_bytes()), q(0, QuantField::Input, 1));
    assert_eq!(case(inp + 12, &0f32.to_le_bytes()), q(0, QuantField::Input, 2));
    assert_eq!(case(24, &(-1f32).to_le_bytes()), q(0, QuantField::Input, 0));
    assert_eq!(case(l0 + 5, &[0x80]), q(0, QuantField::Weight, 5));
    assert_eq!(case(l1, &[0x80]), q(1, QuantField::Weight, 0));
    assert_eq!(case(l0 + 12 + 16 + 4, &(-1f32).to_le_bytes()), q(0, QuantField::Scale, 1));
    assert_eq!(case(l0 + 44 + 8, &12345i32.to_le_bytes()), q(0, QuantField::Multiplier, 2));
    assert_eq!(case(l0 + 60 + 3, &[40]), q(0, QuantField::Shift, 3));
    // Layer table: mode of layer 0 (clamp) set to dequantize; the last layer's to clamp.
    assert_eq!(case(32 + 5, &[2]), q(0, QuantField::Mode, 0));
    assert_eq!(case(32 + 24 + 5, &[0]), q(2, QuantField::Mode, 0));
    assert_eq!(case(32 + 5, &[9]), q(0, QuantField::Mode, 0));
    assert_eq!(case(32 + 6, &[1]), q(0, QuantField::ZeroPoint, 0));
    assert_eq!(case(32 + 24 + 7, &[1]), q(2, QuantField::ZeroPoint, 0));
    assert_eq!(case(32 + 8, &0f32.to_le_bytes()), q(0, QuantField::Scale, 0));
    assert_eq!(case(6, &[4, 0]), Some(FormatError::Reserved));
    // The narrow-weights flag on weights beyond -63..=63: the first such weight.
    let first_wide = parts().w[0].iter().position(|w| w.abs() > 63).unwrap();
    assert_eq!(case(6, &[2, 0]), q(0, QuantField::Weight, first_wide));
    assert_eq!(case(28, &[1]), Some(FormatError::Reserved));
    assert_eq!(case(12, &[0, 0, 0, 0]).map(|e| matches!(e, FormatError::ParamCount { .. })), Some(true));
    assert_eq!(case(16, &[9]), Some(FormatError::LayerCount { got: 9, max: 8 }));
    assert_eq!(case(17, &[77]), Some(FormatError::UnknownLoss { code: 77 }));
    // Softmax on a hidden layer (a table layer's activation code set to softmax).
    assert!(case(32 + 12 + 4, &[5]).is_some());
    // Padding after layer 0's 12 weights is none; after the 4 shifts none; the tanh table
    // layer's shifts (4) none either: a 3x5 first layer would pad. Truncation and length:
    let mut short = good.clone();
    short.truncate(good.len() - 8);
    reseal(&mut short);
    assert!(matches!(parse(&short), Err(FormatError::Length { .. })));
    assert!(matches!(parse(&good[..10]), Err(FormatError::Truncated { .. })));
    // Not at a 4-byte-aligned address: refused, not misread.
    let w = aligned(&[&[0u8][..], &good].concat());
    let shifted = &bytemuck::cast_slice::<u32, u8>(&w)[1..=good.len()];
    assert_eq!(quant::parse(shifted).err(), Some(FormatError::NotInPlace));
    for e in [FormatError::NotInPlace, FormatError::QuantValue { layer: 1, field: QuantField::Shift, index: 2 }] {
        assert!(!e.to_string().is_empty());
    }
}

#[test]
fn narrow_weights_are_flagged_checked_and_read_back() {
    let mut p = parts();
    p.w.iter_mut().for_each(|w| w.iter_mut().for_each(|v| *v = (*v).clamp(-63, 63)));
    let bytes = encode(&p);
    assert_eq!(bytes[6] & quant::FLAG_NARROW_WEIGHTS as u8, quant::FLAG_NARROW_WEIGHTS as u8);
    assert_eq!(parse(&bytes).unwrap(), bytes);
    let w = aligned(&bytes);
    let m = quant::parse(&bytemuck::cast_slice::<u32, u8>(&w)[..bytes.len()]).unwrap();
    assert!(m.layers().all(|l| l.dense.known.narrow_weights()));
    // Layer 1 has a left shift (+1): the others requantize with right shifts only.
    let right: Vec<bool> = m.layers().map(|l| l.dense.known.right_shifts()).collect();
    assert_eq!(right, [true, false, true]);
    // One weight of 64 in the last layer: a typed error, not a misread.
    let at = bytes.len() - 4 - 8 * 2 - 8;
    assert_eq!(bytes[at], p.w[2][0] as u8);
    let mut wide = bytes.clone();
    wide[at] = 64;
    reseal(&mut wide);
    assert_eq!(parse(&wide).err(), Some(FormatError::QuantValue { layer: 2, field: QuantField::Weight, index: 0 }));
    // Without the flag the same weights are read as any others.
    assert!(!quant::parse(bytemuck::cast_slice::<u32, u8>(&aligned(&encode(&parts()))))
        .map_or(true, |m| m.layers().any(|l| l.dense.known.narrow_weights())));
}

#[test]
fn padding_bytes_must_be_zero() {
    // A 3x5 first layer: 15 weights and one padding byte; 5 shifts and three.
    let mut p = parts();
    p.w[0] = (0..15).map(|i| (i * 7 % 200 - 100) as i8).collect();
    p.w[1] = (0..20).map(|i| (i * 5 % 200 - 100) as i8).collect();
    p.b[0] = vec![1, 2, 3, 4, 5];
    p.mult[0] = vec![1 << 30; 5];
    p.shift[0] = vec![-3; 5];
    p.scale[0] = vec![1e-3; 5];
    let input = QuantInput { mean: &p.mean, factor: &p.factor, zero: 3, scale: 0.1 };
    let mut ls = layers(&p);
    ls[0].dense.outputs = 5;
    ls[1].dense.inputs = 5;
    let mut good = vec![0u8; quant::encoded_len(&input, &ls).unwrap()];
    quant::write(3, Loss::CrossEntropy, &input, &ls, &mut good).unwrap();
    assert!(parse(&good).is_ok());
    let l0 = 32 + 36 + 24;
    for (at, what) in [(l0 + 15, "weights"), (l0 + 16 + 20 + 20 + 20 + 5, "shifts")] {
        let mut b = good.clone();
        b[at] = 1;
        reseal(&mut b);
        assert_eq!(
            parse(&b).err(),
            Some(FormatError::QuantValue { layer: 0, field: QuantField::Padding, index: 0 }),
            "{what}"
        );
    }
}

/// A one-input model has one encoding: the writer flags its single quantizer uniform, and
/// the same file without the flag (per-input arrays of one entry, the same values) is refused,
/// so that every file the parser accepts re-encodes to its own bytes (a libFuzzer find).
#[test]
fn one_input_has_one_encoding() {
    let (w, b, scale) = (vec![5i8, -7], vec![3i32, -4], vec![1e-3f32, 2e-3]);
    let dense = QuantDense {
        inputs: 1,
        outputs: 2,
        weights: &w,
        bias: &b,
        multiplier: &[],
        shift: &[],
        input_zero: 0,
        output_zero: 0,
        min: -128,
        max: 127,
        known: Known::of(&w, &b, &[], &[]),
    };
    let layer = QuantLayer {
        dense,
        activation: Activation::Identity,
        mode: LayerMode::Dequantize,
        table: &[],
        acc_scale: &scale,
        out_scale: 0.0,
        out_zero: 0,
    };
    let input = QuantInput { mean: &[0.25], factor: &[4.0], zero: 0, scale: 0.5 };
    let mut good = vec![0u8; quant::encoded_len(&input, &[layer]).unwrap()];
    quant::write(1, Loss::Mse, &input, &[layer], &mut good).unwrap();
    assert_eq!(good[6] & quant::FLAG_UNIFORM_INPUT as u8, quant::FLAG_UNIFORM_INPUT as u8);
    assert_eq!(parse(&good).unwrap(), good);
    let mut unflagged = good.clone();
    unflagged[6] &= !(quant::FLAG_UNIFORM_INPUT as u8);
    reseal(&mut unflagged);
    assert_eq!(parse(&unflagged).err(), Some(FormatError::QuantValue { layer: 0, field: QuantField::Input, index: 3 }));
}

/// Every check of `QuantNet::new` on the 3-4-4-2 network, one broken copy at a time: each
/// gives its typed error (and `quant::write`, which runs the same checks, refuses it too).
#[test]
fn compiled_in_networks_check_every_value() {
    let p = parts();
    let input = QuantInput { mean: &p.mean, factor: &p.factor, zero: 3, scale: 0.1 };
    let good = layers(&p);
    assert!(QuantNet::new(3, Loss::CrossEntropy, input, &good).is_ok());
    let qv = |layer, field, index| Some(FormatError::QuantValue { layer, field, index });
    let check = |ls: &[QuantLayer<'_>], input: QuantInput<'_>, loss: Loss| {
        let got = QuantNet::new(3, loss, input, ls).err();
        let mut out = vec![0u8; 1 << 12];
        assert_eq!(quant::write(3, loss, &input, ls, &mut out).err(), got, "write and QuantNet::new differ");
        got
    };
    // The good network with one change.
    macro_rules! with {
        ($l:ident => $change:expr) => {{
            let mut $l = layers(&p);
            $change;
            check(&$l, input, Loss::CrossEntropy)
        }};
    }
    let w128: Vec<i8> = p.w[1].iter().enumerate().map(|(i, &w)| if i == 5 { -128 } else { w }).collect();
    let wide: Vec<i8> = p.w[1].iter().map(|&w| w.clamp(-63, 63)).collect();
    let (short, nan, mult, shift) = (vec![1i8; 11], vec![f32::NAN; 4], vec![1 << 29; 4], vec![0i8, 0, 32, 0]);
    assert_eq!(
        with!(l => l[1].dense.weights = &short),
        Some(FormatError::ValueCount { what: Values::Params, expected: 16, got: 11 })
    );
    assert_eq!(with!(l => l[1].dense.weights = &w128), qv(1, QuantField::Weight, 5));
    assert_eq!(with!(l => l[1].acc_scale = &nan), qv(1, QuantField::Scale, 0));
    assert_eq!(with!(l => l[1].dense.multiplier = &mult), qv(1, QuantField::Multiplier, 0));
    assert_eq!(with!(l => l[1].dense.shift = &shift), qv(1, QuantField::Shift, 2));
    assert_eq!(with!(l => l[0].out_scale = 0.0), qv(0, QuantField::Scale, 0));
    assert_eq!(with!(l => l[1].dense.input_zero = -127), qv(1, QuantField::ZeroPoint, 0));
    assert_eq!(with!(l => l[0].dense.min = -127), qv(0, QuantField::ZeroPoint, 1));
    assert_eq!(with!(l => l[0].dense.output_zero = 5), qv(0, QuantField::ZeroPoint, 0));
    assert_eq!(with!(l => l[2].out_zero = 1), qv(2, QuantField::ZeroPoint, 0));
    assert_eq!(with!(l => l[1].mode = LayerMode::Clamp), qv(1, QuantField::Mode, 0));
    assert_eq!(
        with!(l => (l[1].mode, l[1].activation) = (LayerMode::Clamp, Activation::Identity)),
        Some(FormatError::ValueCount { what: Values::Params, expected: 0, got: 256 })
    );
    assert_eq!(with!(l => l[0].activation = Activation::Sigmoid), qv(0, QuantField::Mode, 0));
    assert_eq!(with!(l => l[2].dense.inputs = 3), Some(FormatError::InvalidTopology));
    // A claim of narrow weights over weights beyond 63, and the same claim where it holds.
    let claim = Known::of(&wide, &p.b[1], &p.mult[1], &p.shift[1]);
    assert!(claim.narrow_weights() && !Known::of(&p.w[1], &p.b[1], &p.mult[1], &p.shift[1]).narrow_weights());
    assert_eq!(with!(l => l[1].dense.known = claim), qv(1, QuantField::Known, 0));
    assert_eq!(with!(l => (l[1].dense.weights, l[1].dense.known) = (&wide, claim)), None);
    assert_eq!(with!(l => l[1].dense.known = Known::NOTHING), None);
    // The loss against the last activation, the layer count and the input quantizer.
    assert_eq!(check(&good, input, Loss::Mse), None);
    assert_eq!(check(&good, input, Loss::BinaryCrossEntropy), Some(FormatError::InvalidTopology));
    assert_eq!(check(&good[..0], input, Loss::Mse), Some(FormatError::LayerCount { got: 0, max: 8 }));
    let bad_input = |mean: &[f32], factor: &[f32], scale: f32| {
        check(&good, QuantInput { mean, factor, zero: 3, scale }, Loss::CrossEntropy)
    };
    assert_eq!(bad_input(&p.mean, &p.factor, 0.0), qv(0, QuantField::Input, 0));
    assert_eq!(bad_input(&[0.0, f32::INFINITY, 0.0], &p.factor, 0.1), qv(0, QuantField::Input, 1));
    assert_eq!(bad_input(&p.mean, &[1.0, 0.0, 1.0], 0.1), qv(0, QuantField::Input, 2));
    assert_eq!(
        bad_input(&p.mean[..2], &p.factor[..2], 0.1),
        Some(FormatError::ValueCount { what: Values::Mean, expected: 3, got: 2 })
    );
    assert_eq!(
        bad_input(&p.mean, &p.factor[..1], 0.1),
        Some(FormatError::ValueCount { what: Values::Std, expected: 3, got: 1 })
    );
}

/// A network checked at compile time (a `static`, as `myelin export --rust` writes one)
/// runs exactly as the file written from the same layers, on every kernel set.
#[test]
fn a_static_network_runs_as_its_file() {
    static W0: [i8; 6] = [5, -7, 127, -127, 0, 33];
    static W1: [i8; 2] = [-90, 61];
    static LAYERS: [QuantLayer<'static>; 2] = [
        QuantLayer {
            dense: QuantDense {
                inputs: 3,
                outputs: 2,
                weights: &W0,
                bias: &[400, -250],
                multiplier: &[1_300_000_000, 1 << 30],
                shift: &[-7, -3],
                input_zero: -4,
                output_zero: -128,
                min: -128,
                max: 127,
                known: Known::of(&W0, &[400, -250], &[1_300_000_000, 1 << 30], &[-7, -3]),
            },
            activation: Activation::Relu,
            mode: LayerMode::Clamp,
            table: &[],
            acc_scale: &[0.01, 0.02],
            out_scale: 0.04,
            out_zero: -128,
        },
        QuantLayer {
            dense: QuantDense {
                inputs: 2,
                outputs: 1,
                weights: &W1,
                bias: &[77],
                multiplier: &[],
                shift: &[],
                input_zero: -128,
                output_zero: 0,
                min: -128,
                max: 127,
                known: Known::of(&W1, &[77], &[], &[]),
            },
            activation: Activation::Identity,
            mode: LayerMode::Dequantize,
            table: &[],
            acc_scale: &[0.003],
            out_scale: 0.0,
            out_zero: 0,
        },
    ];
    const INPUT: QuantInput<'static> = QuantInput { mean: &[0.5], factor: &[12.0], zero: -4, scale: 0.08 };
    static NET: QuantNet<'static> = match QuantNet::new(3, Loss::Mse, INPUT, &LAYERS) {
        Ok(net) => net,
        Err(_) => panic!("does not check"),
    };
    let mut bytes = vec![0u8; quant::encoded_len(&INPUT, &LAYERS).unwrap()];
    quant::write(3, Loss::Mse, &INPUT, &LAYERS, &mut bytes).unwrap();
    let w = aligned(&bytes);
    let m = quant::parse(&bytemuck::cast_slice::<u32, u8>(&w)[..bytes.len()]).unwrap();
    assert_eq!((NET.inputs(), NET.outputs(), NET.widest(), NET.macs()), (3, 1, 3, 8));
    let x: Vec<f32> = (0..3 * 40).map(|i| (i as f32 * 0.37).sin() * 3.0).collect();
    let mut work = vec![0i32; NET.work_len(40).unwrap()];
    assert_eq!(NET.work_len(40).unwrap(), m.work_len(40).unwrap());
    // The const fn firmware sizes its buffer with, for a network whose inputs are widest.
    assert_eq!(quant::work_len(&[3, 2, 1], 40), NET.work_len(40).unwrap());
    assert_eq!(quant::widest(&[3, 2, 1]), 3);
    for k in I8Backend::available() {
        let (mut a, mut b) = (vec![0.0f32; 40], vec![0.0f32; 40]);
        NET.predict(k, &x, 40, &mut work, &mut a).unwrap();
        m.predict(k, &x, 40, &mut work, &mut b).unwrap();
        assert!(a.iter().zip(&b).all(|(a, b)| a.to_bits() == b.to_bits()), "{}", k.name());
        assert!(a.iter().any(|&v| v != a[0]), "the outputs vary with the inputs");
    }
}
