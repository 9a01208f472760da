//! The MicroFlow comparison: a 1-16-16-1 ReLU network approximating sin(x) on [0, 2 pi],
//! trained on the host, run here. Reports instructions per inference and the largest error
//! over 64 points; scripts/firmware-size reports its flash and RAM.
//!
//! With `--features no-engine` the same program runs without myelin (it prints a constant),
//! giving the baseline that the engine's flash share is measured against.
#![no_std]
#![no_main]

use cortex_m_rt::entry;
use myelin_embedded_demo::{exit, Counter, Line, RAM_END};

#[allow(dead_code)]
mod consts {
    include!("../../models/sine.rs");
}

myelin_embedded_demo::handlers!();

const POINTS: usize = 64;

#[cfg(not(feature = "no-engine"))]
fn model_sin(counter: &Counter, x: f32, instructions: &mut u64) -> Option<f32> {
    use consts::{INFERENCE_LEN, SIZES};
    use myelin_core::{format, kernels::Portable};
    static MODEL: &[u8] = myelin_core::include_model!("../../models/sine.myelin");
    let m = format::parse(MODEL, &mut []).ok()?;
    if m.topology.inputs() != SIZES[0] {
        return None;
    }
    let mut work = [0.0f32; INFERENCE_LEN];
    let mut v = [x];
    if let Some(s) = m.standardizer {
        s.apply(&mut v);
    }
    let t0 = counter.now();
    myelin_embedded_demo::mark::myelin_mark_infer_begin();
    let y = m.topology.predict(&Portable, m.params, &v, 1, &mut work).ok()?[0];
    myelin_embedded_demo::mark::myelin_mark_infer_end();
    *instructions += counter.since(t0);
    Some(y)
}

#[cfg(feature = "no-engine")]
fn model_sin(_: &Counter, x: f32, _: &mut u64) -> Option<f32> {
    Some(core::hint::black_box(x) * 0.0)
}

#[entry]
fn main() -> ! {
    myelin_embedded_demo::paint_stack();
    let Some(p) = cortex_m::Peripherals::take() else { exit(false) };
    let counter = Counter::new(p.SYST);
    let (mut worst, mut instructions) = (0.0f32, 0u64);
    for i in 0..POINTS {
        let x = 2.0 * core::f32::consts::PI * i as f32 / (POINTS - 1) as f32;
        let Some(y) = model_sin(&counter, x, &mut instructions) else {
            Line::new().str("model rejected").print();
            exit(false)
        };
        let e = y - myelin_embedded_demo::sine::reference(x);
        worst = worst.max(if e < 0.0 { -e } else { e });
    }
    let stack = myelin_embedded_demo::stack_used(RAM_END);
    let ok = cfg!(feature = "no-engine") || worst < 0.05;
    myelin_embedded_demo::sine::report("sine 1-16-16-1", worst, POINTS, instructions, stack, ok)
}
