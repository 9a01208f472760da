//! The int8 digits demo: the digits model quantized by `myelin quantize` classifies the
//! same 360 held-out digits as the float demo, with integer kernels (`SMLAD` on the
//! Cortex-M4F, plain integer code on the Cortex-M3).
//!
//! The network runs twice per digit: compiled in (`NET`, the statics `myelin export --rust`
//! wrote, checked when the firmware is built) and read in place from its model file (the
//! parser on the target); both must give the same output bits. Prints accuracy, a hash of
//! the output bits (the host reproduces it on every int8 kernel set, see
//! tests/tests/firmware.rs), instructions per inference of each, per multiply-accumulate for
//! the dense layers (integer products, bias, requantization) and for the accumulation alone,
//! and the stack used. Exits non-zero on any failure.
#![no_std]
#![no_main]

use cortex_m_rt::entry;
use myelin_core::argmax;
use myelin_core::quant::{self, I8Backend, LayerMode, QuantLayer};
use myelin_embedded_demo::{exit, fnv1a, hprintln, mark, Counter, DENSE_RUNS, FNV_START, RAM_END};

#[allow(dead_code)]
mod consts {
    include!("../../models/digits-int8.rs");
}
use consts::{MODEL_BYTES, NET, SIZES, WORK_LEN};

/// The int8 model, 4-byte aligned in flash: every tensor is read in place.
static MODEL: &[u8] = myelin_core::include_model!("../../models/digits-int8.myelin");
/// 360 test digits: 64 pixels (0..16) then the label, per sample.
static TEST: &[u8] = include_bytes!("../../models/digits-test.bin");
const SAMPLE: usize = 65;
const OUTPUTS: usize = SIZES[SIZES.len() - 1];
const WIDEST: usize = quant::widest(&SIZES);

myelin_embedded_demo::handlers!();

/// Instructions of every layer's integer work on one quantized sample `xq`: the
/// accumulation (products and bias) alone, and with requantization (hidden layers) or the
/// dequantizing multiply (the last layer).
fn dense_layers(counter: &Counter, layers: &[QuantLayer<'_>], k: I8Backend, xq: &[i8]) -> Option<(u64, u64)> {
    let mut acc = [0i32; WIDEST];
    let (mut a, mut b) = ([0i8; WIDEST], [0i8; WIDEST]);
    a.get_mut(..xq.len())?.copy_from_slice(xq);
    let (mut input, mut output) = (&mut a, &mut b);
    let (mut products, mut dense) = (0, 0);
    let mut z = [0.0f32; WIDEST];
    for l in layers {
        let d = &l.dense;
        let (x, acc) = (input.get(..d.inputs)?, acc.get_mut(..d.outputs)?);
        let t0 = counter.now();
        k.accumulate(d, x, 1, acc).ok()?;
        products += counter.since(t0);
        let y = output.get_mut(..d.outputs)?;
        // The layer as inference runs it: the kernel set's dense layer (requantizing as it
        // goes where it can), or the accumulation and the dequantizing multiply.
        let t1 = counter.now();
        mark::myelin_mark_dense_begin();
        if l.mode == LayerMode::Dequantize {
            k.accumulate(d, x, 1, acc).ok()?;
            for ((z, &a), &s) in z.iter_mut().zip(acc.iter()).zip(l.acc_scale) {
                *z = a as f32 * s;
            }
        } else {
            k.dense(d, x, 1, acc, y).ok()?;
        }
        mark::myelin_mark_dense_end();
        dense += counter.since(t1);
        core::hint::black_box(&z);
        core::mem::swap(&mut input, &mut output);
    }
    Some((products, dense))
}

#[entry]
fn main() -> ! {
    myelin_embedded_demo::paint_stack();
    let Some(p) = cortex_m::Peripherals::take() else { exit(false) };
    let counter = Counter::new(p.SYST);
    let model = match quant::parse(MODEL) {
        Ok(m) => m,
        Err(e) => {
            hprintln!("model rejected: {}", e);
            exit(false)
        }
    };
    let sizes_ok = model.inputs == SIZES[0]
        && model.depth() == SIZES.len() - 1
        && model.layers().zip(&SIZES[1..]).all(|(l, &n)| l.dense.outputs == n)
        && MODEL.len() == MODEL_BYTES;
    if !sizes_ok {
        hprintln!("model does not match its consts");
        exit(false);
    }
    let k = I8Backend::detect();
    let mut work = [0i32; WORK_LEN];
    let mut x = [0.0f32; SIZES[0]];
    let mut y = [0.0f32; OUTPUTS];
    let n = TEST.len() / SAMPLE;
    let (mut correct, mut hash, mut instructions) = (0usize, FNV_START, 0u64);
    let (mut hash_file, mut instructions_file) = (FNV_START, 0u64);
    for s in TEST.chunks_exact(SAMPLE) {
        for (v, &px) in x.iter_mut().zip(&s[..SIZES[0]]) {
            *v = px as f32;
        }
        let t0 = counter.now();
        mark::myelin_mark_infer_begin();
        if NET.predict(k, &x, 1, &mut work, &mut y).is_err() {
            exit(false);
        }
        mark::myelin_mark_infer_end();
        instructions += counter.since(t0);
        hash = fnv1a(hash, &y);
        correct += (argmax(&y) == s[SIZES[0]] as usize) as usize;
        let t0 = counter.now();
        if model.predict(k, &x, 1, &mut work, &mut y).is_err() {
            exit(false);
        }
        instructions_file += counter.since(t0);
        hash_file = fnv1a(hash_file, &y);
    }
    let per = instructions / n as u64;
    let macs = NET.macs() as u64;
    hprintln!(
        "int8 digits ({} kernels): {} test samples, {} correct ({} per mille)",
        k.name(),
        n,
        correct,
        correct * 1000 / n
    );
    hprintln!("outputs fnv1a {:#010x}", hash);
    hprintln!("instructions per inference {} ({} MACs, {} milli-instructions per MAC)", per, macs, per * 1000 / macs);
    let per_file = instructions_file / n as u64;
    hprintln!(
        "instructions per inference from the model file {} ({} milli-instructions per MAC), outputs fnv1a {:#010x}",
        per_file,
        per_file * 1000 / macs,
        hash_file
    );
    // The last sample's quantized input through the integer layers alone.
    let mut xq = [0i8; SIZES[0]];
    NET.input().quantize(&x, &mut xq);
    let (mut products, mut dense) = (0, 0);
    for _ in 0..DENSE_RUNS {
        let Some((p, d)) = dense_layers(&counter, NET.layers(), k, &xq) else { exit(false) };
        (products, dense) = (products + p, dense + d);
    }
    let (products, dense) = (products / DENSE_RUNS, dense / DENSE_RUNS);
    hprintln!(
        "dense layers alone: {} instructions ({} milli-instructions per MAC; mean of {} runs)",
        dense,
        dense * 1000 / macs,
        DENSE_RUNS
    );
    hprintln!(
        "accumulation alone: {} instructions ({} milli-instructions per MAC; mean of {} runs)",
        products,
        products * 1000 / macs,
        DENSE_RUNS
    );
    let stack = myelin_embedded_demo::stack_used(RAM_END);
    hprintln!("RAM: stack used {} bytes (int8 workspace {} B)", stack, 4 * WORK_LEN);
    let ok = correct * 100 >= 90 * n && hash_file == hash;
    hprintln!("{}", if ok { "PASS" } else { "FAIL" });
    exit(ok)
}
