//! On-target kernel check: the portable kernels as built for this target (on hard-float ARM,
//! the forward dot products run as hand-written `vldmia` + `vmla.f32` blocks) against the
//! core's scalar reference, at every size 0..=17 and a few larger ones, with integer-valued
//! and random data. The portable kernels promise the reference's bits, so every comparison
//! is bit-exact; guard words after each output catch stray writes. Exits non-zero on any
//! mismatch.
#![no_std]
#![no_main]

use cortex_m_rt::entry;
use myelin_core::kernels::{Dims, Kernels, Portable, Reference};
use myelin_core::{Activation, Rng};
use myelin_embedded_demo::{exit, hprintln};

myelin_embedded_demo::handlers!();

const MAX_IN: usize = 72;
const MAX_OUT: usize = 17;
const MAX_BATCH: usize = 3;
const GUARD: usize = 4;
const SENTINEL: u32 = 0x7FC0_BEEF;

struct Case {
    x: [f32; MAX_BATCH * MAX_IN],
    w: [f32; MAX_OUT * MAX_IN],
    b: [f32; MAX_OUT],
    delta: [f32; MAX_BATCH * MAX_OUT],
}

fn fill(rng: &mut Rng, v: &mut [f32], integer: bool) {
    for x in v {
        *x = if integer { rng.below(9) as f32 - 4.0 } else { rng.uniform_in(-1.0, 1.0) };
    }
}

/// Every output of the three products, guard words included, as bits: the whole of each
/// buffer is compared.
#[derive(PartialEq)]
struct Outs {
    y: [u32; MAX_BATCH * MAX_OUT + GUARD],
    d_w: [u32; MAX_OUT * MAX_IN + GUARD],
    d_x: [u32; MAX_BATCH * MAX_IN + GUARD],
}

impl Outs {
    const fn new() -> Outs {
        Outs {
            y: [0; MAX_BATCH * MAX_OUT + GUARD],
            d_w: [0; MAX_OUT * MAX_IN + GUARD],
            d_x: [0; MAX_BATCH * MAX_IN + GUARD],
        }
    }
}

fn to_bits(out: &mut [u32], v: &[f32]) {
    for (o, v) in out.iter_mut().zip(v) {
        *o = v.to_bits();
    }
}

/// Runs every product of `k` on `d`; returns the outputs (with guard words) as bits.
fn run<K: Kernels>(k: &K, c: &Case, d: Dims, act: Activation, out: &mut Outs) -> bool {
    let (xs, ws, ys) = (d.batch * d.inputs, d.outputs * d.inputs, d.batch * d.outputs);
    let mut y = [f32::from_bits(SENTINEL); MAX_BATCH * MAX_OUT + GUARD];
    let mut d_w = [0.5f32; MAX_OUT * MAX_IN + GUARD];
    let mut d_x = [f32::from_bits(SENTINEL); MAX_BATCH * MAX_IN + GUARD];
    d_w[ws..].fill(f32::from_bits(SENTINEL));
    let ok = k.dense_forward(d, &c.x[..xs], &c.w[..ws], &c.b[..d.outputs], &mut y[..ys], act).is_ok()
        && k.weight_grad(d, &c.delta[..ys], &c.x[..xs], &mut d_w[..ws]).is_ok()
        && k.input_grad(d, &c.delta[..ys], &c.w[..ws], &mut d_x[..xs]).is_ok();
    let guards_ok = y[ys..].iter().chain(&d_w[ws..]).chain(&d_x[xs..]).all(|v| v.to_bits() == SENTINEL);
    to_bits(&mut out.y, &y);
    to_bits(&mut out.d_w, &d_w);
    to_bits(&mut out.d_x, &d_x);
    ok && guards_ok
}

#[entry]
fn main() -> ! {
    let mut rng = Rng::new(2024);
    let mut c = Case {
        x: [0.0; MAX_BATCH * MAX_IN],
        w: [0.0; MAX_OUT * MAX_IN],
        b: [0.0; MAX_OUT],
        delta: [0.0; MAX_BATCH * MAX_OUT],
    };
    let mut a = Outs::new();
    let mut r = Outs::new();
    let (mut cases, mut failures) = (0u32, 0u32);
    let inputs = (0..=17).chain([24, 31, 64, 72]);
    for n in inputs {
        for m in 0..=MAX_OUT {
            for batch in 1..=MAX_BATCH {
                for integer in [true, false] {
                    fill(&mut rng, &mut c.x, integer);
                    fill(&mut rng, &mut c.w, integer);
                    fill(&mut rng, &mut c.b, integer);
                    fill(&mut rng, &mut c.delta, integer);
                    let d = Dims { batch, inputs: n, outputs: m };
                    for act in [Activation::Identity, Activation::Relu] {
                        cases += 1;
                        let ok = run(&Portable, &c, d, act, &mut a) & run(&Reference, &c, d, act, &mut r);
                        if !ok || a != r {
                            failures += 1;
                            if failures <= 5 {
                                hprintln!(
                                    "MISMATCH batch {} inputs {} outputs {} {:?} integer {}",
                                    batch,
                                    n,
                                    m,
                                    act,
                                    integer
                                );
                            }
                        }
                    }
                }
            }
        }
    }
    hprintln!("kernel check: {} cases, {} mismatches (portable vs reference, bit-exact, guarded)", cases, failures);
    hprintln!("{}", if failures == 0 { "PASS" } else { "FAIL" });
    exit(failures == 0)
}
