//! The int8 arithmetic of `myelin_core::quant`: gemmlowp's rounding on known values and
//! against a restatement on wider integers, quantized multipliers, and the portable kernel
//! against the reference definition (and the exact integer sum), bit for bit.

use myelin_core::quant::*;
use myelin_core::Rng;

/// The rounding restated on wider integers: the high multiply is the product over
/// 2^31 rounded to nearest, ties toward +infinity (what adding the nudge and dividing
/// toward zero gives for either sign); the shift is floor division plus one when the
/// remainder exceeds half (for a negative value, when it reaches half: ties away from
/// zero).
fn exact(x: i32, m: i32, shift: i32) -> i32 {
    let (left, right) = if shift > 0 { (shift, 0) } else { (0, -shift) };
    let a = (x as i64).wrapping_shl(left as u32) as i32;
    if a == i32::MIN && m == i32::MIN {
        return i32::MAX;
    }
    let p = a as i128 * m as i128;
    let d = 1i128 << 31;
    let high = if p >= 0 { (p + d / 2) / d } else { -((-p + d / 2 - 1) / d) } as i64;
    let q = 1i64 << right;
    let threshold = (q - 1) / 2 + (high < 0) as i64;
    (high.div_euclid(q) + (high.rem_euclid(q) > threshold) as i64) as i32
}

#[test]
fn known_values() {
    // 0.5 as Q31: 2^30.
    assert_eq!(multiply_by_quantized_multiplier(1000, 1 << 30, 0), 500);
    assert_eq!(multiply_by_quantized_multiplier(3, 1 << 30, 0), 2, "1.5 rounds up");
    assert_eq!(multiply_by_quantized_multiplier(-3, 1 << 30, 0), -1, "-1.5 rounds toward +inf");
    assert_eq!(multiply_by_quantized_multiplier(1000, 1 << 30, -2), 125);
    assert_eq!(multiply_by_quantized_multiplier(100, 1 << 30, 3), 400);
    assert_eq!(saturating_rounding_doubling_high_mul(i32::MIN, i32::MIN), i32::MAX);
    assert_eq!(rounding_divide_by_pot(5, 1), 3);
    assert_eq!(rounding_divide_by_pot(-5, 1), -3, "-2.5 rounds away from zero");
    assert_eq!(rounding_divide_by_pot(-6, 2), -2, "-1.5 rounds away from zero");
    assert_eq!(rounding_divide_by_pot(-5, 2), -1);
    assert_eq!(rounding_divide_by_pot(-7, 2), -2);
}

#[test]
fn requantization_matches_the_exact_statement_on_random_values() {
    let mut rng = Rng::new(5);
    for _ in 0..200_000 {
        let x = rng.next_u32() as i32 >> (rng.below(24));
        let m = (1 << 30) + (rng.next_u32() >> 2) as i32;
        let shift = rng.below(20) as i32 - 15;
        assert_eq!(multiply_by_quantized_multiplier(x, m, shift), exact(x, m, shift), "{x} {m} {shift}");
    }
}

#[test]
fn quantized_multipliers_represent_their_value() {
    for real in [1e-9, 0.000_123, 0.25, 0.5, 0.999_999_999_9, 1.0, 1.5, 3.3, 1000.0] {
        let (m, e) = quantize_multiplier(real).unwrap();
        let back = m as f64 * libm::pow(2.0, (e - 31) as f64);
        assert!((back - real).abs() <= real * 1e-9, "{real}: {m} 2^({e} - 31) = {back}");
        assert!((1 << 30..=i32::MAX).contains(&m), "{real}: {m} not normalized");
    }
    assert_eq!(quantize_multiplier(0.0), Some((0, 0)));
    assert_eq!(quantize_multiplier(1e-12), Some((0, 0)), "below 2^-31 of the format");
    assert_eq!(quantize_multiplier(-1.0), None);
    assert_eq!(quantize_multiplier(f64::NAN), None);
}

fn random_layer(rng: &mut Rng, n: usize, m: usize) -> (Vec<i8>, Vec<i32>, Vec<i32>, Vec<i8>) {
    let w = (0..n * m).map(|_| (rng.below(256) as i32 - 128) as i8).collect();
    let b = (0..m).map(|_| rng.below(20_001) as i32 - 10_000).collect();
    let mult = (0..m).map(|_| (1 << 30) + (rng.next_u32() >> 2) as i32).collect();
    let shift = (0..m).map(|_| -(rng.below(12) as i8) - 4).collect();
    (w, b, mult, shift)
}

#[test]
fn the_portable_kernel_equals_the_reference_bit_for_bit() {
    let mut rng = Rng::new(9);
    for n in (1..=17).chain([64, 100, 784]) {
        for m in (1..=9).chain([10, 32, 128]) {
            let (w, b, mult, shift) = random_layer(&mut rng, n, m);
            let layer = QuantDense {
                inputs: n,
                outputs: m,
                weights: &w,
                bias: &b,
                multiplier: &mult,
                shift: &shift,
                input_zero: rng.below(256) as i32 - 128,
                output_zero: rng.below(256) as i32 - 128,
                min: if rng.below(2) == 0 { -128 } else { -5 },
                max: 127,
                known: Known::NOTHING,
            };
            let x: Vec<i8> = (0..n).map(|_| (rng.below(256) as i32 - 128) as i8).collect();
            let (mut y0, mut y1) = (vec![0i8; m], vec![0i8; m]);
            let (mut a0, mut a1) = (vec![0i32; m], vec![0i32; m]);
            dense_i8_reference(&layer, &x, &mut y0, Some(&mut a0)).unwrap();
            dense_i8(&layer, &x, &mut y1, Some(&mut a1)).unwrap();
            assert_eq!((&y0, &a0), (&y1, &a1), "{n} x {m}");
            // The accumulator is the exact integer sum.
            for (j, &a) in a0.iter().enumerate() {
                let exact: i64 = b[j] as i64
                    + (0..n).map(|i| (x[i] as i64 - layer.input_zero as i64) * w[j * n + i] as i64).sum::<i64>();
                assert_eq!(a as i64, exact);
            }
        }
    }
}

#[test]
fn bad_lengths_are_errors() {
    let (w, b, m, s) = (vec![0i8; 6], vec![0; 3], vec![1 << 30; 3], vec![0i8; 3]);
    let layer = QuantDense {
        inputs: 2,
        outputs: 3,
        weights: &w,
        bias: &b,
        multiplier: &m,
        shift: &s,
        input_zero: 0,
        output_zero: 0,
        min: -128,
        max: 127,
        known: Known::NOTHING,
    };
    assert!(dense_i8(&layer, &[1, 2], &mut [0; 3], None).is_ok());
    assert!(dense_i8(&layer, &[1], &mut [0; 3], None).is_err());
    assert!(dense_i8(&layer, &[1, 2], &mut [0; 2], None).is_err());
    assert!(dense_i8_reference(&QuantDense { weights: &w[..5], ..layer }, &[1, 2], &mut [0; 3], None).is_err());
    assert!(dense_i8(&QuantDense { bias: &b[..2], ..layer }, &[1, 2], &mut [0; 3], None).is_err());
}

/// Requantization of bounded layers (`Known::bounded`: the high multiply as one rounding
/// multiply of `2 acc`, the rounding shift without a mask) against the definition, on
/// accumulators every such layer can produce: every shift from 0 to -31, zero and extreme
/// multipliers, the bound's edge, and ties of both signs (with the multiplier 2^30, the
/// high multiply is `floor((a + 1) / 2)`, so chosen accumulators land on every tie), on
/// every kernel set's requantization (the x86 sets' 8 lanes at a time, with every remainder).
#[test]
fn bounded_layers_requantize_as_the_definition() {
    let mut rng = Rng::new(29);
    let n = 4;
    let (mut bounded, mut unbounded, mut inside) = (0, 0, 0);
    for round in 0..4000 {
        // 57 to 67 outputs: whole vector steps and every remainder of 8.
        let m = 57 + round % 11;
        let w: Vec<i8> = (0..n * m).map(|_| (rng.below(255) as i32 - 127) as i8).collect();
        let b: Vec<i32> = (0..m)
            .map(|j| match round % 4 {
                // Beyond the bound for some rows: the other path, same definition.
                3 if j % 5 == 0 => (1 << 29) + rng.below(1 << 20) as i32,
                _ => rng.below(1 << 17) as i32 - (1 << 16),
            })
            .collect();
        let mult: Vec<i32> = (0..m)
            .map(|j| match j % 8 {
                0 => 0,
                1 => 1 << 30,
                2 => i32::MAX,
                _ => (1 << 30) + (rng.next_u32() >> 2) as i32,
            })
            .collect();
        let shift: Vec<i8> = (0..m).map(|j| -(((j + round) % 32) as i8)).collect();
        let known = Known::of(&w, &b, &mult, &shift);
        let acc: Vec<i32> = (0..m)
            .map(|j| {
                let reach = 255 * w[j * n..(j + 1) * n].iter().map(|&v| (v as i32).abs()).sum::<i32>();
                let e = (j + round) % 32;
                match rng.below(4) {
                    // A tie of h = floor((a + 1) / 2) at this shift, either sign.
                    0 if e > 0 => {
                        let t = (rng.below(64) as i32 - 32) * (1 << e.min(20)) + (1 << (e.min(21) - 1));
                        (2 * t - rng.below(2) as i32).clamp(-reach, reach)
                    }
                    1 => b[j] + if rng.below(2) == 0 { reach } else { -reach },
                    _ => b[j] + rng.below(2 * reach as u32 + 1) as i32 - reach,
                }
            })
            .collect();
        let layer = QuantDense {
            inputs: n,
            outputs: m,
            weights: &w,
            bias: &b,
            multiplier: &mult,
            shift: &shift,
            input_zero: 0,
            // Now and then a zero point beyond int8 (a layer built by hand): its addition
            // saturates in the definition, so the bounded path must not take it.
            output_zero: match round % 10 {
                7 => i32::MAX - rng.below(1 << 20) as i32,
                9 => i32::MIN + rng.below(1 << 20) as i32,
                _ => rng.below(17) as i32 - 8,
            },
            min: -128,
            max: 127,
            known,
        };
        if known.bounded() {
            bounded += 1;
        } else {
            unbounded += 1;
        }
        let want: Vec<i64> =
            (0..m).map(|j| exact(acc[j], mult[j], shift[j] as i32) as i64 + layer.output_zero as i64).collect();
        inside += want.iter().filter(|v| (-128..=127).contains(*v)).count();
        for k in I8Backend::available() {
            let mut y = vec![0i8; m];
            layer.requantize_rows_with(k, &acc, &mut y);
            for j in 0..m {
                let (got, v) = (y[j] as i64, want[j].clamp(-128, 127));
                assert_eq!(got, v, "{}: acc {} mult {} shift {}", k.name(), acc[j], mult[j], shift[j]);
            }
        }
    }
    assert!(bounded >= 2900 && unbounded >= 900, "both paths ran: {bounded} bounded, {unbounded} not");
    // A layer without inputs: its accumulators are its biases, bounded by them alone.
    assert!(Known::of(&[], &[5, -7], &[1 << 30; 2], &[-3; 2]).bounded());
    assert!(!Known::of(&[], &[5, 1 << 29], &[1 << 30; 2], &[-3; 2]).bounded());
    assert!(inside > 40_000, "most outputs land inside the int8 range: {inside}");
}

#[test]
fn every_backend_accumulates_the_reference_bits() {
    let backends: Vec<I8Backend> = I8Backend::available().collect();
    eprintln!("int8 backends: {:?}", backends.iter().map(|b| b.name()).collect::<Vec<_>>());
    let mut rng = Rng::new(17);
    for n in (1..=17).chain([31, 32, 33, 63, 64, 65, 100, 127, 129, 784, 4097]) {
        for m in [1, 2, 3, 4, 5, 7, 8, 9, 10, 16, 33] {
            for (batch, bound) in [(1, 127), (2, 63), (3, 127), (4, 63), (5, 80), (9, 63), (4, 127)] {
                let (mut w, b, mult, shift) = random_layer(&mut rng, n, m);
                // Symmetric weights, as a file holds them, within `bound`; extremes included.
                // At 63 the weights are narrow (the AVX2 kernels' `vpmaddubsw` path) and the
                // first pairs of inputs and weights are the largest that path sums in 16
                // bits (`255 * 63 * 2`); at 80 and 127 they are not narrow.
                w.iter_mut().for_each(|v| *v = (*v).clamp(-bound, bound));
                if n * m > 3 {
                    w[..4].copy_from_slice(&[bound, bound, -bound, -bound]);
                }
                let layer = QuantDense {
                    inputs: n,
                    outputs: m,
                    weights: &w,
                    bias: &b,
                    multiplier: &mult,
                    shift: &shift,
                    input_zero: rng.below(256) as i32 - 128,
                    output_zero: 0,
                    min: -128,
                    max: 127,
                    known: Known::of(&w, &b, &mult, &shift),
                };
                let mut x: Vec<i8> = (0..n * batch).map(|_| (rng.below(256) as i32 - 128) as i8).collect();
                x[0] = -128;
                if bound == 63 {
                    x.iter_mut().take(4).for_each(|v| *v = 127);
                }
                assert_eq!(layer.known.narrow_weights(), bound == 63 || n * m <= 3 && w.iter().all(|v| v.abs() <= 63));
                let mut want = vec![0i32; batch * m];
                I8Backend::Reference.accumulate(&layer, &x, batch, &mut want).unwrap();
                for (s, row) in want.chunks(m).enumerate() {
                    for (j, &a) in row.iter().enumerate() {
                        let exact: i64 = b[j] as i64
                            + (0..n)
                                .map(|i| (x[s * n + i] as i64 - layer.input_zero as i64) * w[j * n + i] as i64)
                                .sum::<i64>();
                        assert_eq!(a as i64, exact, "reference {n}x{m} b{batch}");
                    }
                }
                for &k in &backends {
                    let mut got = vec![i32::MIN; batch * m];
                    k.accumulate(&layer, &x, batch, &mut got).unwrap();
                    assert_eq!(got, want, "{} {n}x{m} batch {batch}", k.name());
                }
            }
        }
    }
}

/// Batches large enough for the packed-weight paths (from 32 samples: the VNNI sets', and
/// AVX2's on 7-bit weights), with rows in and beyond one packed block (32) and its groups
/// (16 with AVX-512, 8 with AVX-VNNI and AVX2), inputs in and beyond one block (1024), every
/// remainder of four and of the tiles' samples (12, 6, 5), against the reference on every
/// kernel set; each layer with full-range weights (-128 included: a layer built in memory
/// may hold it) and with 7-bit ones whose largest pairs meet the largest inputs.
#[test]
fn large_batches_accumulate_the_reference_bits() {
    let mut rng = Rng::new(29);
    for (n, m, batch) in [
        (1, 1, 32),
        (3, 17, 33),
        (4, 16, 40),
        (5, 33, 45),
        (63, 32, 32),
        (65, 70, 37),
        (8, 9, 36),
        (784, 128, 64),
        (1025, 15, 35),
        (2103, 40, 33),
    ] {
        for narrow in [false, true] {
            let (mut w, b, mult, shift) = random_layer(&mut rng, n, m);
            if narrow {
                w.iter_mut().for_each(|v| *v = (rng.below(127) as i32 - 63) as i8);
                // Pairs of +-63 where the first sample's inputs are 127 (flipped: 255), the
                // largest 16-bit pair sums, 2 * 255 * 63.
                for (i, v) in w.iter_mut().enumerate().take(n.min(4)) {
                    *v = if i < 2 { 63 } else { -63 };
                }
            } else {
                w.iter_mut().for_each(|v| *v = (rng.below(256) as i32 - 128) as i8);
            }
            let layer = QuantDense {
                inputs: n,
                outputs: m,
                weights: &w,
                bias: &b,
                multiplier: &mult,
                shift: &shift,
                input_zero: rng.below(256) as i32 - 128,
                output_zero: 0,
                min: -128,
                max: 127,
                known: Known::of(&w, &b, &mult, &shift),
            };
            assert_eq!(layer.known.narrow_weights(), narrow || w.iter().all(|v| v.abs() <= 63));
            let mut x: Vec<i8> = (0..n * batch).map(|_| (rng.below(256) as i32 - 128) as i8).collect();
            x.iter_mut().take(n.min(4)).for_each(|v| *v = 127);
            let mut want = vec![0i32; batch * m];
            I8Backend::Reference.accumulate(&layer, &x, batch, &mut want).unwrap();
            for k in I8Backend::available() {
                let mut got = vec![i32::MIN; batch * m];
                k.accumulate(&layer, &x, batch, &mut got).unwrap();
                assert_eq!(got, want, "{} {n}x{m} batch {batch} narrow {narrow}", k.name());
            }
        }
    }
}

#[test]
fn backend_names_round_trip_and_unknown_ones_are_refused() {
    for k in I8Backend::available() {
        assert_eq!(I8Backend::from_name(k.name()), Some(k));
        assert!(k.runs());
    }
    assert_eq!(I8Backend::from_name("nope"), None);
    assert!(I8Backend::detect().runs());
}

#[test]
fn rounding_half_away_matches_c_round_everywhere() {
    let mut rng = Rng::new(3);
    let specials = [
        0.5f32,
        -0.5,
        1.5,
        -1.5,
        2.5,
        0.49999997,
        -0.49999997,
        8388607.5,
        -8388607.5,
        8388609.0,
        1e10,
        -1e10,
        0.0,
        -0.0,
    ];
    let randoms = (0..200_000).map(|i| {
        let v = (rng.uniform() - 0.5) * 2f32.powi((i % 40) - 10);
        if i % 7 == 0 {
            (v * 2.0).round() / 2.0
        } else {
            v
        }
    });
    for v in specials.into_iter().chain(randoms) {
        let want = libm::roundf(v).clamp(i32::MIN as f32, i32::MAX as f32) as i32;
        assert_eq!(round_half_away(v), want, "{v}");
    }
    assert_eq!(round_half_away(f32::NAN), 0);
}

#[test]
fn input_quantization_is_round_half_away_plus_zero_clamped() {
    let mut rng = Rng::new(11);
    let specials =
        [0.5f32, -0.5, 127.5, -128.5, 1e9, -1e9, 3e9, -3e9, f32::INFINITY, f32::NEG_INFINITY, f32::NAN, 0.49999997];
    let randoms = (0..200_000).map(|i| {
        let v = (rng.uniform() - 0.5) * 2f32.powi((i % 36) - 4);
        if i % 5 == 0 {
            (v * 2.0).round() / 2.0
        } else {
            v
        }
    });
    // Bit patterns at a stride prime to every power of two: every exponent, both signs, NaNs
    // and infinities among them.
    let patterns = (0..1u64 << 32).step_by(4099).map(|b| f32::from_bits(b as u32));
    for v in specials.into_iter().chain(randoms).chain(patterns) {
        for zero in [-128, -3, 0, 5, 127] {
            let want = round_half_away(v).saturating_add(zero).clamp(-128, 127) as i8;
            assert_eq!(quantize_value(v, zero), want, "{v} + {zero}");
        }
    }
}

/// Every kernel set's input quantizer (`quantize_with`: the AVX-512 and Cortex-M4 ones are
/// their own code) against `quantize_value`, on the values above, in rows of 37 inputs (two
/// whole vector steps and a tail) with an offset and a factor per input, and with one pair
/// for every input.
#[test]
fn every_kernel_set_quantizes_inputs_as_the_definition() {
    let mut rng = Rng::new(12);
    let specials =
        [0.5f32, -0.5, 127.5, -128.5, 1e9, -1e9, 3e9, -3e9, f32::INFINITY, f32::NEG_INFINITY, f32::NAN, 0.49999997];
    let randoms = (0..100_000).map(|i| {
        let v = (rng.uniform() - 0.5) * 2f32.powi((i % 36) - 4);
        if i % 5 == 0 {
            (v * 2.0).round() / 2.0
        } else {
            v
        }
    });
    let patterns = (0..1u64 << 32).step_by(8191).map(|b| f32::from_bits(b as u32));
    let mut values: Vec<f32> = specials.into_iter().chain(randoms).chain(patterns).collect();
    values.truncate(values.len() / 37 * 37);
    // Per input: offsets 0 and 0.25, factors 1 and 2 (so `(v - m) f` is exact or rounds
    // once), alternating.
    let mean: Vec<f32> = (0..37).map(|i| if i % 3 == 1 { 0.25 } else { 0.0 }).collect();
    let factor: Vec<f32> = (0..37).map(|i| if i % 2 == 1 { 2.0 } else { 1.0 }).collect();
    for zero in [-128i8, -3, 0, 5, 127] {
        let per_input = QuantInput { mean: &mean, factor: &factor, zero, scale: 1.0 };
        let uniform = QuantInput { mean: &[0.25], factor: &[2.0], zero, scale: 1.0 };
        for (input, name) in [(per_input, "per input"), (uniform, "uniform")] {
            let want: Vec<i8> = values
                .iter()
                .enumerate()
                .map(|(i, &v)| {
                    let k = if input.mean.len() == 1 { 0 } else { i % 37 };
                    quantize_value((v - input.mean[k]) * input.factor[k], zero as i32)
                })
                .collect();
            for k in I8Backend::available() {
                let mut got = vec![0x5Ai8; values.len()];
                input.quantize_with(k, &values, &mut got);
                for (i, (&g, &w)) in got.iter().zip(&want).enumerate() {
                    assert_eq!(g, w, "{} {name} zero {zero}: input {} ({:#010x})", k.name(), i, values[i].to_bits());
                }
            }
        }
    }
}

/// Small layers on every kernel set (what Miri runs: the unsafe SIMD kernels' memory
/// accesses at sizes Miri can afford, every tile shape and the inputs' tails, the
/// requantization of 9 outputs: one vector step and a tail).
#[test]
fn small_layers_on_every_kernel_set() {
    let mut rng = Rng::new(5);
    // The last two reach the packed-weight paths (from 32 samples; under Miri, AVX2's on
    // 7-bit weights and on 16-bit pairs).
    for (n, m, batch) in [
        (1, 1, 1),
        (5, 3, 2),
        (16, 4, 4),
        (17, 5, 5),
        (33, 2, 3),
        (64, 6, 1),
        (70, 9, 6),
        (49, 3, 5),
        (7, 9, 33),
        (6, 17, 32),
    ] {
        let (mut w, b, mult, shift) = random_layer(&mut rng, n, m);
        // Every other layer narrow (weights in -63..=63: the AVX2 `vpmaddubsw` path).
        let bound = if n % 2 == 1 { 63 } else { 127 };
        w.iter_mut().for_each(|v| *v = (*v).clamp(-bound, bound));
        let layer = QuantDense {
            inputs: n,
            outputs: m,
            weights: &w,
            bias: &b,
            multiplier: &mult,
            shift: &shift,
            input_zero: rng.below(256) as i32 - 128,
            output_zero: 3,
            min: -128,
            max: 127,
            known: Known::of(&w, &b, &mult, &shift),
        };
        let x: Vec<i8> = (0..n * batch).map(|_| (rng.below(256) as i32 - 128) as i8).collect();
        let (mut want, mut want_y) = (vec![0i32; batch * m], vec![0i8; batch * m]);
        I8Backend::Reference.dense(&layer, &x, batch, &mut want, &mut want_y).unwrap();
        assert!(layer.known.bounded());
        for k in I8Backend::available() {
            let (mut acc, mut y) = (vec![0i32; batch * m], vec![0i8; batch * m]);
            k.dense(&layer, &x, batch, &mut acc, &mut y).unwrap();
            assert_eq!(acc, want, "{} {n}x{m} b{batch}", k.name());
            assert_eq!(y, want_y, "{} {n}x{m} b{batch}", k.name());
        }
    }
    for v in [0.5f32, -2.5, 1e10, f32::NAN, 3.49] {
        assert_eq!(quantize_value(v, 1), round_half_away(v).saturating_add(1).clamp(-128, 127) as i8);
    }
    // Every kernel set's input quantizer on a row of 37 (a whole vector step and a tail).
    let values: Vec<f32> = (0..37).map(|i| if i == 5 { f32::NAN } else { (i as f32 - 18.0) * 7.25 + 0.5 }).collect();
    let input = QuantInput { mean: &[0.25], factor: &[2.0], zero: 3, scale: 1.0 };
    let want: Vec<i8> = values.iter().map(|&v| quantize_value((v - 0.25) * 2.0, 3)).collect();
    for k in I8Backend::available() {
        let mut got = vec![0i8; values.len()];
        input.quantize_with(k, &values, &mut got);
        assert_eq!(got, want, "{}", k.name());
    }
}
