//! On-target kernel check: the portable kernels as built for this target (on hard-float ARM,
//! the forward dot products run as hand-written `vldmia` + `vmla.f32` blocks) against the
//! core's scalar reference, at every size 0..=17 and a few larger ones, with integer-valued
//! and random data; then every int8 kernel set this target runs (on the Cortex-M4 the
//! `SMLAD` loops and the dense layer that requantizes in registers) against the int8
//! reference, on random layers with shifts from 0 to -31 (and a left shift), extreme
//! inputs, weights and biases; and the input quantization of every int8 kernel set against
//! `quantize_value` on f32 bit patterns across the whole range (NaN and infinities
//! included), values at and beside every rounding tie of the int8 range, and every zero
//! point. The kernels promise the reference's bits, so every
//! comparison is bit-exact; guard words after each output catch stray writes. Exits
//! non-zero on any mismatch.
#![no_std]
#![no_main]

use cortex_m_rt::entry;
use myelin_core::kernels::{Dims, Kernels, Portable, Reference};
use myelin_core::quant::{quantize_value, I8Backend, Known, QuantDense, QuantInput};
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
    let (int8_cases, int8_failures) = int8_check(&mut rng);
    hprintln!(
        "int8 kernel check: {} cases, {} mismatches (every kernel set vs reference, bit-exact, guarded)",
        int8_cases,
        int8_failures
    );
    let (q_cases, q_failures) = quantize_check(&mut rng);
    hprintln!(
        "int8 input quantization check: {} values, {} mismatches (every kernel set vs quantize_value, bit-exact, guarded)",
        q_cases,
        q_failures
    );
    let ok = failures == 0 && int8_failures == 0 && q_failures == 0;
    hprintln!("{}", if ok { "PASS" } else { "FAIL" });
    exit(ok)
}

const Q_IN: usize = 144;
const Q_OUT: usize = 11;
const Q_BATCH: usize = 3;

/// Random int8 layers through `dense` (accumulators and requantized outputs), `dense_into`
/// (outputs alone) and `accumulate` on every kernel set, against the reference.
fn int8_check(rng: &mut Rng) -> (u32, u32) {
    let mut x = [0i8; Q_BATCH * Q_IN];
    // Word-aligned weights, as a model file's (the `LDRD` loops need it); variant 3 reads
    // them one byte in, which must take the other path to the same bits.
    #[repr(C, align(4))]
    struct Aligned([i8; Q_OUT * Q_IN + 4]);
    let mut store = Aligned([0; Q_OUT * Q_IN + 4]);
    let (mut b, mut mult, mut shift) = ([0i32; Q_OUT], [0i32; Q_OUT], [0i8; Q_OUT]);
    let (mut cases, mut failures) = (0u32, 0u32);
    let byte = |rng: &mut Rng| (rng.below(256) as i32 - 128) as i8;
    for n in [1, 5, 16, 17, 32, 48, 64, 80, 128, 144] {
        for m in [1, 2, 3, 5, 10, 11] {
            for batch in 1..=Q_BATCH {
                for variant in 0..5 {
                    let w = &mut store.0[(variant == 3) as usize..][..Q_OUT * Q_IN];
                    x.iter_mut().for_each(|v| *v = byte(rng));
                    w.iter_mut().for_each(|v| *v = byte(rng).max(-127));
                    if variant == 1 {
                        // Extremes: the largest accumulators this layer can reach.
                        x.iter_mut().for_each(|v| *v = if rng.below(2) == 0 { -128 } else { 127 });
                        w.iter_mut().for_each(|v| *v = if rng.below(2) == 0 { -127 } else { 127 });
                    }
                    if variant == 4 {
                        // Small values: accumulators that requantize inside the int8 range, so
                        // that the rounding of every output shows (ties included).
                        x.iter_mut().for_each(|v| *v = rng.below(9) as i8 - 4);
                        w.iter_mut().for_each(|v| *v = rng.below(7) as i8 - 3);
                    }
                    for j in 0..Q_OUT {
                        b[j] = match variant {
                            2 => rng.next_u32() as i32,
                            4 => rng.below(129) as i32 - 64,
                            _ => rng.below(200_001) as i32 - 100_000,
                        };
                        mult[j] = (1 << 30) + (rng.next_u32() >> 2) as i32;
                        // Every shift from 0 to -31 across the cases (0 to -5 for small values);
                        // one left shift in variant 3.
                        shift[j] = -((rng.below(if variant == 4 { 6 } else { 32 })) as i8);
                    }
                    if variant == 3 {
                        shift[m - 1] = 2;
                    }
                    let z_in = if variant == 4 { rng.below(5) as i32 - 2 } else { byte(rng) as i32 };
                    let z_out = if variant == 4 { rng.below(17) as i32 - 8 } else { byte(rng) as i32 };
                    let layer = QuantDense {
                        inputs: n,
                        outputs: m,
                        weights: &w[..n * m],
                        bias: &b[..m],
                        multiplier: &mult[..m],
                        shift: &shift[..m],
                        input_zero: z_in,
                        output_zero: z_out,
                        min: if variant % 2 == 0 && variant != 4 { z_out as i8 } else { -128 },
                        max: 127,
                        known: Known::of(&w[..n * m], &b[..m], &mult[..m], &shift[..m]),
                    };
                    let xs = &x[..batch * n];
                    let mut want_acc = [0i32; Q_BATCH * Q_OUT];
                    let mut want_y = [0i8; Q_BATCH * Q_OUT];
                    let (wa, wy) = (&mut want_acc[..batch * m], &mut want_y[..batch * m]);
                    if I8Backend::Reference.dense(&layer, xs, batch, wa, wy).is_err() {
                        failures += 1;
                        continue;
                    }
                    for k in I8Backend::available() {
                        cases += 1;
                        let mut acc = [0x5A5A_5A5Ai32; Q_BATCH * Q_OUT + GUARD];
                        let mut y = [0x5Ai8; Q_BATCH * Q_OUT + GUARD];
                        let mut acc2 = [0x5A5A_5A5Ai32; Q_BATCH * Q_OUT + GUARD];
                        // `dense_into`: the outputs alone, the accumulators as scratch.
                        let mut scratch = [0x5A5A_5A5Ai32; Q_BATCH * Q_OUT + GUARD];
                        let mut y2 = [0x5Ai8; Q_BATCH * Q_OUT + GUARD];
                        let ran = k.dense(&layer, xs, batch, &mut acc[..batch * m], &mut y[..batch * m]).is_ok()
                            && k.accumulate(&layer, xs, batch, &mut acc2[..batch * m]).is_ok()
                            && k.dense_into(&layer, xs, batch, &mut scratch[..batch * m], &mut y2[..batch * m]).is_ok();
                        let same = ran
                            && acc[..batch * m] == want_acc[..batch * m]
                            && y[..batch * m] == want_y[..batch * m]
                            && acc2[..batch * m] == want_acc[..batch * m]
                            && y2[..batch * m] == want_y[..batch * m];
                        let guarded = acc[batch * m..].iter().chain(&acc2[batch * m..]).all(|&v| v == 0x5A5A_5A5A)
                            && scratch[batch * m..].iter().all(|&v| v == 0x5A5A_5A5A)
                            && y[batch * m..].iter().chain(&y2[batch * m..]).all(|&v| v == 0x5A);
                        if !(same && guarded) {
                            failures += 1;
                            if failures <= 5 {
                                hprintln!(
                                    "INT8 MISMATCH {} batch {} inputs {} outputs {} variant {}",
                                    k.name(),
                                    batch,
                                    n,
                                    m,
                                    variant
                                );
                            }
                        }
                    }
                }
            }
        }
    }
    (cases, failures)
}

const Q_ROW: usize = 24;

/// The input quantizer of every int8 kernel set against its definition, rows of `Q_ROW`
/// and `Q_ROW - 1` features (multiples of eight and of four, and a tail): values `v` with offset 0
/// and factor 1 (so `(v - 0) 1 = v` exactly), each row under a different zero point.
fn quantize_check(rng: &mut Rng) -> (u32, u32) {
    let (mut cases, mut failures) = (0u32, 0u32);
    let mean = [0.0f32; Q_ROW];
    let factor = [1.0f32; Q_ROW];
    let mut row = [0.0f32; Q_ROW];
    let mut filled = 0;
    let mut zero: i32 = -128;
    let mut check = |row: &[f32; Q_ROW], zero: i32| {
        // Rows of 24 (the M4's eight-input steps when the outputs are word-aligned, its
        // four-input steps one byte off) and of 23 (four-input steps, then three inputs in
        // scalar code).
        for len in [Q_ROW, Q_ROW - 1] {
            let input = QuantInput { mean: &mean[..len], factor: &factor[..len], zero: zero as i8, scale: 1.0 };
            for (k, at) in I8Backend::available().flat_map(|k| [(k, 0), (k, 1)]) {
                #[repr(align(4))]
                struct Aligned([i8; Q_ROW + GUARD + 1]);
                let mut buf = Aligned([0x5A; Q_ROW + GUARD + 1]);
                let q = &mut buf.0[at..at + len + GUARD];
                input.quantize_with(k, &row[..len], &mut q[..len]);
                cases += len as u32;
                let same = q.iter().zip(&row[..len]).all(|(&q, &v)| q == quantize_value(v, zero));
                if !same || q[len..].iter().any(|&g| g != 0x5A) {
                    failures += 1;
                    if failures <= 5 {
                        hprintln!(
                            "QUANTIZE MISMATCH {} length {} offset {} zero {} first {:#010x}",
                            k.name(),
                            len,
                            at,
                            zero,
                            row[0].to_bits()
                        );
                    }
                }
            }
        }
    };
    let mut push = |v: f32, check: &mut dyn FnMut(&[f32; Q_ROW], i32)| {
        row[filled] = v;
        filled += 1;
        if filled == Q_ROW {
            check(&row, zero);
            filled = 0;
            zero = if zero == 127 { -128 } else { zero + 1 };
        }
    };
    // Bit patterns at a stride of 2^16 with a random low half: every exponent and sign,
    // NaNs and infinities.
    for hi in 0..=0xFFFFu32 {
        push(f32::from_bits(hi << 16 | (rng.next_u32() & 0xFFFF)), &mut check);
    }
    push(f32::INFINITY, &mut check);
    push(f32::NEG_INFINITY, &mut check);
    push(f32::NAN, &mut check);
    push(-0.0, &mut check);
    // Every tie of the int8 range and beyond (k + 1/2), and its neighbours one ulp away.
    for k in -400..400 {
        let t = k as f32 + 0.5;
        for v in [t, f32::from_bits(t.to_bits() - 1), f32::from_bits(t.to_bits() + 1), k as f32] {
            push(v, &mut check);
        }
    }
    (cases, failures)
}
