//! The int8 MicroFlow comparison: the 1-16-16-1 ReLU sine network quantized with
//! per-tensor scales (as MicroFlow's model is), run with integer kernels. The network is
//! compiled in (`NET` of the file `myelin export --rust` wrote, checked when the firmware is
//! built), as MicroFlow compiles its model: no file parser is linked. Reports instructions
//! per inference and the largest error over 64 points; scripts/firmware-size reports its
//! flash and RAM.
#![no_std]
#![no_main]

use cortex_m_rt::entry;
use myelin_core::quant::I8Backend;
use myelin_embedded_demo::{exit, mark, Counter, RAM_END};

#[allow(dead_code)]
mod consts {
    include!("../../models/sine-int8.rs");
}
use consts::{ACTIVATIONS, NET, WORK_LEN};

// The output layer is linear, so its pre-activations (`QuantModel::logits`) are the
// prediction: the firmware links no activation functions it does not run.
const _: () = assert!(matches!(ACTIVATIONS[ACTIVATIONS.len() - 1], myelin_core::Activation::Identity));

myelin_embedded_demo::handlers!();

const POINTS: usize = 64;

#[entry]
fn main() -> ! {
    myelin_embedded_demo::paint_stack();
    let Some(p) = cortex_m::Peripherals::take() else { exit(false) };
    let counter = Counter::new(p.SYST);
    let k = I8Backend::detect();
    let mut work = [0i32; WORK_LEN];
    let (mut worst, mut instructions) = (0.0f32, 0u64);
    for i in 0..POINTS {
        let x = 2.0 * core::f32::consts::PI * i as f32 / (POINTS - 1) as f32;
        let mut y = [0.0f32];
        let t0 = counter.now();
        mark::myelin_mark_infer_begin();
        if NET.logits(k, &[x], 1, &mut work, &mut y).is_err() {
            exit(false);
        }
        mark::myelin_mark_infer_end();
        instructions += counter.since(t0);
        let e = y[0] - myelin_embedded_demo::sine::reference(x);
        worst = worst.max(if e < 0.0 { -e } else { e });
    }
    let stack = myelin_embedded_demo::stack_used(RAM_END);
    let ok = worst < 0.1;
    myelin_embedded_demo::sine::report("int8 sine 1-16-16-1", worst, POINTS, instructions, stack, ok)
}
