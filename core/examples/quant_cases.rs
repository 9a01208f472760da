//! Writes random int8 fully connected layers with their inputs and the core's outputs, for
//! `scripts/check-int8-numpy` to recompute from the arithmetic's definition and compare bit
//! for bit. Also random real multipliers with their `quantize_multiplier` results.
//!
//!     quant_cases OUT_FILE
//!
//! File (little-endian): u32 layer count, then per layer: i32 inputs, outputs, input zero,
//! output zero, min, max; i8 weights (outputs x inputs); i32 bias, multiplier, shift
//! (outputs each); i8 x (inputs); i8 y (outputs); i32 accumulators (outputs). Then u32
//! count of reals, and per real: f64 value, i32 multiplier, i32 shift.
//!
//!     quant_cases logits MODEL INPUTS OUT
//!
//! An int8 model file's logits (`QuantModel::logits`, every int8 kernel set this CPU runs,
//! which must agree) for the raw f32 features in INPUTS (little-endian, rows of the model's
//! inputs), written to OUT as little-endian f32.

use myelin_core::quant::{self, dense_i8, quantize_multiplier, I8Backend, Known, QuantDense};
use myelin_core::Rng;

fn logits(model: &str, inputs: &str, out: &str) {
    let bytes = std::fs::read(model).expect("model");
    let mut words = vec![0u32; bytes.len().div_ceil(4)];
    let aligned: &mut [u8] = &mut bytemuck::cast_slice_mut(&mut words)[..bytes.len()];
    aligned.copy_from_slice(&bytes);
    let m = quant::parse(aligned).unwrap_or_else(|e| panic!("{model}: {e}"));
    let raw = std::fs::read(inputs).expect("inputs");
    let x: Vec<f32> = raw.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect();
    let batch = x.len() / m.inputs;
    let mut work = vec![0i32; m.work_len(batch).expect("size")];
    let mut results: Vec<(I8Backend, Vec<f32>)> = vec![];
    for k in I8Backend::available() {
        let mut y = vec![0.0f32; batch * m.outputs()];
        m.logits(k, &x, batch, &mut work, &mut y).expect("logits");
        results.push((k, y));
    }
    for (k, y) in &results[1..] {
        let same = y.iter().zip(&results[0].1).all(|(a, b)| a.to_bits() == b.to_bits());
        assert!(same, "{} differs from {}", k.name(), results[0].0.name());
    }
    let bytes: Vec<u8> = results[0].1.iter().flat_map(|v| v.to_le_bytes()).collect();
    std::fs::write(out, bytes).expect("write");
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let [_, mode, model, inputs, out] = args.as_slice() {
        if mode == "logits" {
            return logits(model, inputs, out);
        }
    }
    let Some(path) = std::env::args().nth(1) else {
        eprintln!("usage: quant_cases OUT_FILE");
        std::process::exit(2)
    };
    let mut rng = Rng::new(2024);
    let mut out = Vec::new();
    let sizes: Vec<(usize, usize)> =
        (1..=9).flat_map(|n| [(n, 1), (n, 5), (n * 7, 13)]).chain([(784, 128), (64, 10)]).collect();
    out.extend((sizes.len() as u32).to_le_bytes());
    let i8s = |rng: &mut Rng, n: usize| -> Vec<i8> { (0..n).map(|_| (rng.below(256) as i32 - 128) as i8).collect() };
    for (n, m) in sizes {
        let w = i8s(&mut rng, n * m);
        let b: Vec<i32> = (0..m).map(|_| rng.below(200_001) as i32 - 100_000).collect();
        // Multipliers of real scales from 1e-5 to 2: shifts from about -16 to +1.
        let (mult, shift): (Vec<i32>, Vec<i8>) = (0..m)
            .map(|_| {
                let real = 1e-5 * 2f64.powf(rng.uniform() as f64 * 17.6);
                quantize_multiplier(real).map_or((0, 0), |(m, e)| (m, e as i8))
            })
            .unzip();
        let (z_in, z_out) = (rng.below(256) as i32 - 128, rng.below(256) as i32 - 128);
        let (min, max) = if rng.below(2) == 0 { (-128i8, 127i8) } else { (z_out.clamp(-128, 127) as i8, 127) };
        let x = i8s(&mut rng, n);
        let layer = QuantDense {
            inputs: n,
            outputs: m,
            weights: &w,
            bias: &b,
            multiplier: &mult,
            shift: &shift,
            input_zero: z_in,
            output_zero: z_out,
            min,
            max,
            known: Known::NOTHING,
        };
        let (mut y, mut acc) = (vec![0i8; m], vec![0i32; m]);
        dense_i8(&layer, &x, &mut y, Some(&mut acc)).unwrap_or_else(|e| panic!("{n} x {m}: {e}"));
        for v in [n as i32, m as i32, z_in, z_out, min as i32, max as i32] {
            out.extend(v.to_le_bytes());
        }
        out.extend(w.iter().map(|&v| v as u8));
        for list in [&b, &mult] {
            list.iter().for_each(|v| out.extend(v.to_le_bytes()));
        }
        shift.iter().for_each(|&v| out.extend((v as i32).to_le_bytes()));
        out.extend(x.iter().map(|&v| v as u8));
        out.extend(y.iter().map(|&v| v as u8));
        acc.iter().for_each(|v| out.extend(v.to_le_bytes()));
    }
    let reals: Vec<f64> =
        (0..2000).map(|i| if i % 100 == 0 { 0.0 } else { 1e-12 * 10f64.powf(rng.uniform() as f64 * 15.0) }).collect();
    out.extend((reals.len() as u32).to_le_bytes());
    for r in reals {
        let (m, e) = quantize_multiplier(r).unwrap_or((-1, -1));
        out.extend(r.to_le_bytes());
        out.extend(m.to_le_bytes());
        out.extend(e.to_le_bytes());
    }
    std::fs::write(&path, out).unwrap_or_else(|e| panic!("writing {path}: {e}"));
}
