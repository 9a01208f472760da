//! `libm::expf` on eight lanes at once, bit for bit, and the softmax built on it.
//!
//! The softmax of every forward pass calls `expf` once per output; `libm`'s is scalar and
//! branchy (FreeBSD's `e_expf.c`: argument reduction by `k ln 2`, a rational approximation,
//! `scalbnf`). [`expf_x8`] performs the same `f32` operations in the same order on every lane
//! (each multiply and add rounded on its own, as Rust never fuses them), takes every branch's
//! result by a select instead of a jump, and applies `scalbnf`'s scaling as the same one or
//! two multiplies; so each lane holds `libm::expf`'s bits, NaNs, infinities, zeros and
//! subnormal results included: the tests below check every branch's thresholds pattern by
//! pattern and a stride of all other `f32`s, and an ignored test every `f32` (37 s in
//! release). [`softmax_rows_x8`] gives `softmax_row`'s bits, with the exponentials of a whole
//! block of rows in full vectors whatever the row's width.
//!
//! `wide` is the one vector type of the 8-lane kernels: AVX2 on x86_64 (the host build's
//! `x86-64-v3`), NEON on ARM64, plain arrays elsewhere.

use wide::{f32x8, i32x8};

// The constants of libm's expf (FreeBSD e_expf.c), by their bits.
const LN2_HI: f32 = f32::from_bits(0x3f31_7200); // 6.9314575195e-01
const LN2_LO: f32 = f32::from_bits(0x35bf_be8e); // 1.4286067653e-06
const INV_LN2: f32 = f32::from_bits(0x3fb8_aa3b); // 1.4426950216e+00
const P1: f32 = f32::from_bits(0x3e2a_aa8f); // 1.6666625440e-1
const P2: f32 = f32::from_bits(0xbb35_5215); // -2.7667332906e-3

/// `libm::expf` of each lane, the same bits.
#[inline(always)]
pub(crate) fn expf_x8(x: f32x8) -> f32x8 {
    let bits: i32x8 = wide::bytemuck::cast(x);
    let hx = bits & i32x8::splat(0x7fff_ffff);
    let neg = bits.simd_lt(i32x8::ZERO);
    let over = |c: i32| hx.simd_gt(i32x8::splat(c));

    // Argument reduction: |x| > 1.5 ln 2: k = (int)(x / ln 2 +- 1/2); |x| > ln 2 / 2: k = +-1;
    // else k = 0 (then hi = x - 0 * LN2_HI = x and lo = 0, libm's third branch).
    let negf: f32x8 = wide::bytemuck::cast(neg);
    let half = negf.select(f32x8::splat(-0.5), f32x8::splat(0.5));
    // Lanes outside the ranges below (NaN, infinities, |x| >= 104) are replaced at the end;
    // clamping keeps their k, and so every scale built from it, well formed.
    let kt = (f32x8::splat(INV_LN2) * x + half).trunc_int().max(i32x8::splat(-150)).min(i32x8::splat(128));
    let one = neg.select(i32x8::splat(-1), i32x8::splat(1));
    let k = over(0x3f85_1592).select(kt, over(0x3eb1_7218).select(one, i32x8::ZERO));
    let kf = k.round_float();
    let hi = x - kf * f32x8::splat(LN2_HI);
    let lo = kf * f32x8::splat(LN2_LO);
    let r = hi - lo;

    let rr = r * r;
    let c = r - rr * (f32x8::splat(P1) + rr * f32x8::splat(P2));
    let y = f32x8::ONE + ((r * c / (f32x8::splat(2.0) - c) - lo) + hi);

    // scalbnf(y, k): below 2^-126 first by 2^-102 (y stays normal, so exact), above 2^127
    // first by 2^127; then by 2^k' with k' in the normal range: one rounding, as libm.
    let low = k.simd_lt(i32x8::splat(-126));
    let high = k.simd_gt(i32x8::splat(127));
    let pre = low.select(i32x8::splat(-102), high.select(i32x8::splat(127), i32x8::ZERO));
    let pow2 = |e: i32x8| -> f32x8 { wide::bytemuck::cast((e + i32x8::splat(127)) << 23) };
    let scaled = (y * pow2(pre)) * pow2(k - pre);

    // The special cases, in libm's order of precedence.
    let tiny = hx.simd_lt(i32x8::splat(0x3900_0001)); // |x| <= 2^-14: 1 + x
    let under = neg & over(0x42cf_f1b4); // x <= -103.97...: +0
    let overflow = !neg & over(0x42b1_7217); // x >= 88.72...: x * 2^127
    let nan = over(0x7f80_0000); // x itself
    let mut out = tiny.select(f32x8::ONE + x, scaled);
    out = wide::bytemuck::cast::<i32x8, f32x8>(under).select(f32x8::ZERO, out);
    out = wide::bytemuck::cast::<i32x8, f32x8>(overflow).select(x * f32x8::splat(f32::from_bits(0x7f00_0000)), out);
    wide::bytemuck::cast::<i32x8, f32x8>(nan).select(x, out)
}

/// `softmax_row`'s bits on every row of `y` (rows of `width`), after adding `bias` when
/// given, with the exponentials eight lanes at a time ([`softmax_rows_by`]).
pub(crate) fn softmax_rows_x8(y: &mut [f32], width: usize, bias: Option<&[f32]>) {
    softmax_rows_by(y, width, bias, exp_in_place_x8)
}

/// `softmax_row`'s bits on every row of `y` (rows of `width`), after adding `bias` when
/// given: per row the same maximum (found by the same comparisons in order) subtracted in
/// place; then `exp_all`, which must replace every element of the block by its `libm::expf`
/// (the exponentials of a whole block of rows in full vectors whatever the row's width);
/// then per row the same sum in order and the same scaling.
pub(crate) fn softmax_rows_by(y: &mut [f32], width: usize, bias: Option<&[f32]>, exp_all: impl FnOnce(&mut [f32])) {
    if width == 0 {
        return;
    }
    for row in y.chunks_exact_mut(width) {
        if let Some(b) = bias {
            row.iter_mut().zip(b).for_each(|(z, &b)| *z += b);
        }
        let max = crate::activation::row_max(row);
        for z in row.iter_mut() {
            *z -= max;
        }
    }
    exp_all(&mut *y);
    for row in y.chunks_exact_mut(width) {
        let mut sum = 0.0f32;
        for &e in row.iter() {
            sum += e;
        }
        let inv = 1.0 / sum;
        for v in row.iter_mut() {
            *v *= inv;
        }
    }
}

/// Every element of `y` replaced by its `libm::expf`, eight at a time ([`expf_x8`]).
fn exp_in_place_x8(y: &mut [f32]) {
    let mut chunks = y.chunks_exact_mut(8);
    for c in &mut chunks {
        let v = f32x8::from(<[f32; 8]>::try_from(&*c).unwrap_or([0.0; 8]));
        c.iter_mut().zip(expf_x8(v).to_array()).for_each(|(c, e)| *c = e);
    }
    let tail = chunks.into_remainder();
    if !tail.is_empty() {
        let mut a = [0.0f32; 8];
        a.iter_mut().zip(tail.iter()).for_each(|(a, &t)| *a = t);
        let e = expf_x8(f32x8::from(a)).to_array();
        tail.iter_mut().zip(e).for_each(|(t, e)| *t = e);
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// The lanes of `expf_x8` over the bit patterns `from, from + step, ...` below `to` (eight
    /// at a time) against `libm::expf`, bit for bit; the first mismatch, if any.
    fn first_mismatch(from: u64, to: u64, step: u64) -> Option<(f32, u32, u32)> {
        let mut p = from;
        while p < to {
            let mut lanes = [0.0f32; 8];
            for (i, l) in lanes.iter_mut().enumerate() {
                *l = f32::from_bits((p + i as u64 * step).min(to - 1) as u32);
            }
            let got = expf_x8(f32x8::from(lanes)).to_array();
            for (x, g) in lanes.iter().zip(got) {
                let want = libm::expf(*x);
                if want.to_bits() != g.to_bits() {
                    return Some((*x, g.to_bits(), want.to_bits()));
                }
            }
            p += 8 * step;
        }
        None
    }

    /// The patterns a lane-wise `expf` is checked on, as `(from, to, step)`: every branch
    /// threshold's neighbourhood pattern by pattern, the subnormal and largest results, the
    /// infinities and NaNs, and a stride over all the rest.
    pub(crate) fn expf_cases() -> impl Iterator<Item = (u64, u64, u64)> {
        let thresholds: [u32; 6] = [0x3900_0000, 0x3eb1_7218, 0x3f85_1592, 0x42ae_ac50, 0x42b1_7218, 0x42cf_f1b5];
        let near = thresholds
            .into_iter()
            .flat_map(|t| [0u64, 0x8000_0000].map(|sign| (sign | u64::from(t)) - 4096).map(|c| (c, c + 8192, 1)));
        let stride = if cfg!(debug_assertions) { 4099 } else { 257 };
        near.chain([
            // Subnormal and smallest normal results: x from -87.34 to -103.98 (k from -126 to -150).
            (0xc2ae_ac50, 0xc2d0_0000, 7),
            // k = 128 (the largest finite results), infinities and NaNs of both signs.
            (0x42b0_0000, 0x42b2_0000, 3),
            (0x7f7f_ff00, 0x7fc0_0100, 1),
            (0xff7f_ff00, 0xffc0_0100, 1),
            (0, 1 << 32, stride),
        ])
    }

    /// Every branch of libm's expf and every threshold between them, bit for bit
    /// ([`expf_cases`]).
    #[test]
    fn expf_x8_is_libms_expf() {
        for (from, to, step) in expf_cases() {
            assert_eq!(first_mismatch(from, to, step), None, "{from:#x}..{to:#x} by {step}");
        }
    }

    /// Every `f32`, bit for bit (release: `cargo test --release -p myelin-core --lib --
    /// --ignored expf_x8_on_every_f32`).
    #[test]
    #[ignore = "2^32 inputs: run in release"]
    fn expf_x8_on_every_f32() {
        assert_eq!(first_mismatch(0, 1 << 32, 1), None);
    }

    /// [`softmax_rows_x8`] against `softmax_row` after the bias, bit for bit, on blocks of
    /// rows of every width up to 40 (full vectors, tails, vectors across rows), ordinary
    /// values, ties, infinities, NaNs and huge spreads.
    #[test]
    fn softmax_rows_x8_is_softmax_row() {
        let mut rng = crate::Rng::new(7);
        let specials = [0.0, -0.0, f32::INFINITY, f32::NEG_INFINITY, f32::NAN, 1e30, -1e30, 90.0, -120.0];
        let (mut y, mut want, mut b) = ([0.0f32; 5 * 40], [0.0f32; 5 * 40], [0.0f32; 40]);
        for width in 1..=40 {
            for trial in 0..64 {
                let rows = 1 + trial % 5;
                let scale = [0.1f32, 3.0, 40.0, 300.0][trial % 4];
                let (y, want, b) = (&mut y[..rows * width], &mut want[..rows * width], &mut b[..width]);
                y.iter_mut().for_each(|v| *v = (rng.uniform() * 2.0 - 1.0) * scale);
                b.iter_mut().for_each(|v| *v = rng.uniform() - 0.5);
                if trial % 8 == 7 {
                    y[rng.below((rows * width) as u32) as usize] = specials[trial / 8 % specials.len()];
                }
                if trial % 16 == 5 && width > 1 {
                    y[width - 1] = y[0];
                }
                want.copy_from_slice(y);
                for row in want.chunks_exact_mut(width) {
                    row.iter_mut().zip(&*b).for_each(|(v, &b)| *v += b);
                    crate::activation::softmax_row(row);
                }
                softmax_rows_x8(y, width, Some(b));
                for (i, (g, w)) in y.iter().zip(want.iter()).enumerate() {
                    assert_eq!(g.to_bits(), w.to_bits(), "width {width}, trial {trial}, element {i}");
                }
            }
        }
    }
}
