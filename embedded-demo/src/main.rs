//! The digits demo: a model trained and exported by `myelin` classifies 360 held-out digits
//! on a Cortex-M4F with no heap, then fine-tunes itself on-device.
//!
//! Prints accuracy, a hash of the raw output bits (the host reproduces it exactly, see
//! tests/tests/firmware.rs), instructions per inference and per multiply-accumulate, the
//! loss before and after on-device training, and the stack used. Exits non-zero on any
//! failure.
#![no_std]
#![no_main]

use cortex_m_rt::entry;
use myelin_core::kernels::Portable;
use myelin_core::{argmax, format, inference_len, params_len, workspace_len, Optimizer, Rule};
use myelin_embedded_demo::{exit, fnv1a, hprintln, mark, Counter, DENSE_RUNS, FNV_START, RAM_END};

#[allow(dead_code)]
#[cfg(not(feature = "onnx-model"))]
mod consts {
    include!("../models/digits.rs");
}
/// With `--features onnx-model`: a classifier trained by PyTorch, exported to ONNX and
/// brought in by `myelin import` + `myelin export --rust`, run by the same code.
#[allow(dead_code)]
#[cfg(feature = "onnx-model")]
mod consts {
    include!("../models/digits-onnx.rs");
}
use consts::{INFERENCE_LEN, MODEL_BYTES, SIZES};

/// The model, 4-byte aligned in flash so its weights are read in place.
#[cfg(not(feature = "onnx-model"))]
static MODEL: &[u8] = myelin_core::include_model!("../models/digits.myelin");
#[cfg(feature = "onnx-model")]
static MODEL: &[u8] = myelin_core::include_model!("../models/digits-onnx.myelin");
/// 360 test digits: 64 pixels (0..16) then the label, per sample.
static TEST: &[u8] = include_bytes!("../models/digits-test.bin");
const SAMPLE: usize = 65;
/// Samples used for on-device fine-tuning (one mini-batch) and SGD steps taken.
const TUNE: usize = 40;
const TUNE_STEPS: usize = 30;

myelin_embedded_demo::handlers!();

// The buffers below are sized by the core's const fns from the exported consts; the file
// sizes must agree with the consts at compile time.
const _: () = assert!(MODEL_BYTES == format::file_len(&SIZES, true));
const TRAIN_WORK: usize = workspace_len(&SIZES, TUNE);
/// The widest layer: each half of the dense-layer timing's ping-pong buffer holds one.
const WIDEST: usize = widest(&SIZES);

const fn widest(sizes: &[usize]) -> usize {
    let (mut max, mut i) = (0, 0);
    while i < sizes.len() {
        if sizes[i] > max {
            max = sizes[i];
        }
        i += 1;
    }
    max
}

/// Instructions for every layer's `dense_forward` with identity activation on one sample:
/// the products, bias and call overhead, without activation functions.
fn dense_layers(
    counter: &Counter,
    topo: &myelin_core::Topology,
    params: &[f32],
    x: &[f32],
    work: &mut [f32; 2 * WIDEST],
) -> Option<u64> {
    use myelin_core::kernels::{Dims, Kernels};
    let (a, b) = work.split_at_mut(WIDEST);
    a.get_mut(..x.len())?.copy_from_slice(x);
    let (mut input, mut output) = (a, b);
    let mut total = 0;
    for (l, layer) in topo.layers().iter().enumerate() {
        let r = topo.param_range(l)?;
        let d = Dims { batch: 1, inputs: layer.inputs, outputs: layer.outputs };
        let (w, bias) = (params.get(r.w..r.b)?, params.get(r.b..r.end)?);
        let (xi, yo) = (input.get(..layer.inputs)?, output.get_mut(..layer.outputs)?);
        let t0 = counter.now();
        mark::myelin_mark_dense_begin();
        Portable.dense_forward(d, xi, w, bias, yo, myelin_core::Activation::Identity).ok()?;
        mark::myelin_mark_dense_end();
        total += counter.since(t0);
        core::mem::swap(&mut input, &mut output);
    }
    Some(total)
}

#[entry]
fn main() -> ! {
    myelin_embedded_demo::paint_stack();
    let Some(p) = cortex_m::Peripherals::take() else { exit(false) };
    let counter = Counter::new(p.SYST);
    let model = match format::parse(MODEL, &mut []) {
        Ok(m) => m,
        Err(e) => {
            hprintln!("model rejected: {}", e);
            exit(false)
        }
    };
    let topo = model.topology;
    let sizes_ok = topo.inputs() == SIZES[0] && topo.layers().iter().zip(&SIZES[1..]).all(|(l, &n)| l.outputs == n);
    if !sizes_ok || model.standardizer.is_none() {
        hprintln!("model does not match its consts");
        exit(false);
    }
    let Some(std) = model.standardizer else { exit(false) };
    let k = Portable;

    // Inference over the test set.
    let mut work = [0.0f32; INFERENCE_LEN];
    let mut x = [0.0f32; SIZES[0]];
    let n = TEST.len() / SAMPLE;
    let (mut correct, mut hash, mut instructions) = (0usize, FNV_START, 0u64);
    for s in TEST.chunks_exact(SAMPLE) {
        for (v, &px) in x.iter_mut().zip(&s[..SIZES[0]]) {
            *v = px as f32;
        }
        std.apply(&mut x);
        let t0 = counter.now();
        mark::myelin_mark_infer_begin();
        let y = match topo.predict(&k, model.params, &x, 1, &mut work) {
            Ok(y) => y,
            Err(_) => exit(false),
        };
        mark::myelin_mark_infer_end();
        instructions += counter.since(t0);
        hash = fnv1a(hash, y);
        correct += (argmax(y) == s[SIZES[0]] as usize) as usize;
    }
    let per = instructions / n as u64;
    let macs = topo.macs() as u64;
    hprintln!("digits: {} test samples, {} correct ({} per mille)", n, correct, correct * 1000 / n);
    hprintln!("outputs fnv1a {:#010x}", hash);
    hprintln!("instructions per inference {} ({} MACs, {} milli-instructions per MAC)", per, macs, per * 1000 / macs);
    // The dense products alone (identity activation: no ReLU, no softmax), one sample, the
    // mean of DENSE_RUNS runs.
    let mut dense = 0;
    for _ in 0..DENSE_RUNS {
        let Some(d) = dense_layers(&counter, &topo, model.params, &x, &mut [0.0; 2 * WIDEST]) else { exit(false) };
        dense += d;
    }
    let dense = dense / DENSE_RUNS;
    hprintln!(
        "dense layers alone: {} instructions ({} milli-instructions per MAC; mean of {} runs)",
        dense,
        dense * 1000 / macs,
        DENSE_RUNS
    );

    // On-device training: SGD on the first TUNE samples, all buffers on the stack, sized at
    // compile time.
    let mut params = [0.0f32; params_len(&SIZES)];
    params.copy_from_slice(model.params);
    let mut grads = [0.0f32; params_len(&SIZES)];
    let mut tw = [0.0f32; TRAIN_WORK];
    let mut xs = [0.0f32; TUNE * SIZES[0]];
    let mut ts = [0.0f32; TUNE * SIZES[SIZES.len() - 1]];
    let classes = SIZES[SIZES.len() - 1];
    for (i, s) in TEST.chunks_exact(SAMPLE).take(TUNE).enumerate() {
        let row = &mut xs[i * SIZES[0]..(i + 1) * SIZES[0]];
        for (v, &px) in row.iter_mut().zip(&s[..SIZES[0]]) {
            *v = px as f32;
        }
        std.apply(row);
        ts[i * classes + s[SIZES[0]] as usize % classes] = 1.0;
    }
    let Ok(mut opt) = Optimizer::new(Rule::Sgd { lr: 0.5 }) else { exit(false) };
    let mut losses = [0.0f32; 2];
    // Summed per step: one span stays far below the counter's wrap (2^24 ticks), even with
    // soft-float on a Cortex-M3.
    let mut train_total = 0u64;
    for step in 0..=TUNE_STEPS {
        let t0 = counter.now();
        let Ok(pass) = topo.forward(&k, &params, &xs, TUNE, &mut tw, None) else { exit(false) };
        let Ok(loss) = topo.loss_of(&pass, &tw, &ts) else { exit(false) };
        if step == 0 {
            losses[0] = loss;
        }
        losses[1] = loss;
        if step == TUNE_STEPS {
            break;
        }
        grads.fill(0.0);
        if topo.backward(&k, &pass, &params, &xs, &ts, &mut tw, &mut grads).is_err()
            || opt.step(&mut params, &grads, &mut []).is_err()
        {
            exit(false);
        }
        train_total += counter.since(t0);
    }
    let train_instr = train_total / TUNE_STEPS as u64;
    let micro = |v: f32| (v * 1e6) as u32;
    hprintln!(
        "on-device training ({} samples, {} SGD steps): loss {} -> {} (x1e-6), {} instructions per step",
        TUNE,
        TUNE_STEPS,
        micro(losses[0]),
        micro(losses[1]),
        train_instr
    );
    let stack = myelin_embedded_demo::stack_used(RAM_END);
    hprintln!(
        "RAM: stack used {} bytes (inference workspace {} B, training buffers {} B)",
        stack,
        4 * INFERENCE_LEN,
        4 * (2 * params.len() + TRAIN_WORK + xs.len() + ts.len())
    );
    let ok = correct * 100 >= 90 * n && losses[1] < losses[0] && inference_len(&SIZES, 1) == INFERENCE_LEN;
    hprintln!("{}", if ok { "PASS" } else { "FAIL" });
    exit(ok)
}
