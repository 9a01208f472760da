//! `libm::expf` on sixteen lanes, bit for bit, and the softmax on it: the operations of
//! `exp::expf_x8` (FreeBSD's `e_expf.c`, each multiply and add rounded on its own, every
//! branch's result taken by a select), one `zmm` register per sixteen elements.

use super::LANES;
use core::arch::x86_64::{
    __m512, __m512i, _mm512_add_epi32, _mm512_add_ps, _mm512_and_si512, _mm512_castps_si512, _mm512_castsi512_ps,
    _mm512_cmpgt_epi32_mask, _mm512_cmplt_epi32_mask, _mm512_cvtepi32_ps, _mm512_cvttps_epi32, _mm512_div_ps,
    _mm512_loadu_ps, _mm512_mask_blend_epi32, _mm512_mask_blend_ps, _mm512_mask_storeu_ps, _mm512_maskz_loadu_ps,
    _mm512_max_epi32, _mm512_min_epi32, _mm512_mul_ps, _mm512_set1_epi32, _mm512_set1_ps, _mm512_setzero_si512,
    _mm512_slli_epi32, _mm512_storeu_ps, _mm512_sub_epi32, _mm512_sub_ps,
};

// The constants of libm's expf (FreeBSD e_expf.c), by their bits, as in `exp.rs`.
const LN2_HI: u32 = 0x3f31_7200;
const LN2_LO: u32 = 0x35bf_be8e;
const INV_LN2: u32 = 0x3fb8_aa3b;
const P1: u32 = 0x3e2a_aa8f;
const P2: u32 = 0xbb35_5215;

/// `libm::expf` of each lane, the same bits (the steps of `exp::expf_x8`, in its order).
#[inline]
#[target_feature(enable = "avx512f")]
pub(in crate::kernels) fn expf_x16(x: __m512) -> __m512 {
    let f = |b: u32| _mm512_set1_ps(f32::from_bits(b));
    let i = _mm512_set1_epi32;
    let bits = _mm512_castps_si512(x);
    let hx = _mm512_and_si512(bits, i(0x7fff_ffff));
    let neg = _mm512_cmplt_epi32_mask(bits, _mm512_setzero_si512());
    let over = |c: i32| _mm512_cmpgt_epi32_mask(hx, i(c));

    // Argument reduction (k from x / ln 2 +- 1/2 truncated, or +-1, or 0). Lanes whose
    // truncation leaves the `i32` range (NaN, |x| >= 2^30) convert to `i32::MIN` here where
    // `expf_x8`'s saturating conversion gives 0 or `i32::MAX`: all of them are replaced at
    // the end, and the clamp keeps every scale built from their k well formed.
    let half = _mm512_mask_blend_ps(neg, _mm512_set1_ps(0.5), _mm512_set1_ps(-0.5));
    let t = _mm512_cvttps_epi32(_mm512_add_ps(_mm512_mul_ps(f(INV_LN2), x), half));
    let kt = _mm512_min_epi32(_mm512_max_epi32(t, i(-150)), i(128));
    let one = _mm512_mask_blend_epi32(neg, i(1), i(-1));
    let k = _mm512_mask_blend_epi32(
        over(0x3f85_1592),
        _mm512_mask_blend_epi32(over(0x3eb1_7218), _mm512_setzero_si512(), one),
        kt,
    );
    let kf = _mm512_cvtepi32_ps(k);
    let hi = _mm512_sub_ps(x, _mm512_mul_ps(kf, f(LN2_HI)));
    let lo = _mm512_mul_ps(kf, f(LN2_LO));
    let r = _mm512_sub_ps(hi, lo);

    let rr = _mm512_mul_ps(r, r);
    let c = _mm512_sub_ps(r, _mm512_mul_ps(rr, _mm512_add_ps(f(P1), _mm512_mul_ps(rr, f(P2)))));
    let q = _mm512_div_ps(_mm512_mul_ps(r, c), _mm512_sub_ps(_mm512_set1_ps(2.0), c));
    let y = _mm512_add_ps(_mm512_set1_ps(1.0), _mm512_add_ps(_mm512_sub_ps(q, lo), hi));

    // scalbnf(y, k) as in `expf_x8`: a first factor 2^-102 or 2^127 where k is out of the
    // normal range, then 2^(k - that).
    let low = _mm512_cmplt_epi32_mask(k, i(-126));
    let high = _mm512_cmpgt_epi32_mask(k, i(127));
    let pre = _mm512_mask_blend_epi32(low, _mm512_mask_blend_epi32(high, _mm512_setzero_si512(), i(127)), i(-102));
    let pow2 = |e: __m512i| _mm512_castsi512_ps(_mm512_slli_epi32::<23>(_mm512_add_epi32(e, i(127))));
    let scaled = _mm512_mul_ps(_mm512_mul_ps(y, pow2(pre)), pow2(_mm512_sub_epi32(k, pre)));

    // The special cases, in libm's order of precedence.
    let tiny = _mm512_cmplt_epi32_mask(hx, i(0x3900_0001));
    let under = neg & over(0x42cf_f1b4);
    let overflow = !neg & over(0x42b1_7217);
    let nan = over(0x7f80_0000);
    let mut out = _mm512_mask_blend_ps(tiny, scaled, _mm512_add_ps(_mm512_set1_ps(1.0), x));
    out = _mm512_mask_blend_ps(under, out, _mm512_set1_ps(0.0));
    out = _mm512_mask_blend_ps(overflow, out, _mm512_mul_ps(x, f(0x7f00_0000)));
    _mm512_mask_blend_ps(nan, out, x)
}

/// Every element of `y` replaced by its `libm::expf`, sixteen at a time (the last few by a
/// masked load and store).
///
/// # Safety
/// AVX-512F present.
#[target_feature(enable = "avx512f")]
unsafe fn exp_in_place(y: &mut [f32]) {
    let n = y.len();
    let p = y.as_mut_ptr();
    let mut i = 0;
    while i + LANES <= n {
        // SAFETY: elements i..i + 16 <= n of y.
        unsafe { _mm512_storeu_ps(p.add(i), expf_x16(_mm512_loadu_ps(p.add(i)))) };
        i += LANES;
    }
    if i < n {
        let mask: u16 = (1u16 << (n - i)) - 1;
        // SAFETY: the mask keeps the load and the store to elements i..n of y.
        unsafe { _mm512_mask_storeu_ps(p.add(i), mask, expf_x16(_mm512_maskz_loadu_ps(mask, p.add(i)))) };
    }
}

/// `exp::softmax_rows_x8` with the exponentials sixteen lanes at a time: the same bits.
///
/// # Safety
/// AVX-512F present ([`available`](super::available) returned true).
pub(in crate::kernels) unsafe fn softmax_rows(y: &mut [f32], width: usize, bias: Option<&[f32]>) {
    // SAFETY: AVX-512F present (caller).
    crate::kernels::exp::softmax_rows_by(y, width, bias, |y| unsafe { exp_in_place(y) })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The lanes of [`expf_x16`] over the bit patterns `from, from + step, ...` below `to`
    /// (sixteen at a time) against `libm::expf`, bit for bit; the first mismatch, if any.
    fn first_mismatch(from: u64, to: u64, step: u64) -> Option<(f32, u32, u32)> {
        let mut p = from;
        let mut got = [0.0f32; LANES];
        while p < to {
            let lanes: [f32; LANES] =
                core::array::from_fn(|i| f32::from_bits((p + i as u64 * step).min(to - 1) as u32));
            // SAFETY: AVX-512F checked by the callers; 16 floats each way.
            unsafe { _mm512_storeu_ps(got.as_mut_ptr(), expf_x16(_mm512_loadu_ps(lanes.as_ptr()))) };
            for (x, g) in lanes.iter().zip(got) {
                let want = libm::expf(*x);
                if want.to_bits() != g.to_bits() {
                    return Some((*x, g.to_bits(), want.to_bits()));
                }
            }
            p += LANES as u64 * step;
        }
        None
    }

    /// Every branch of libm's expf and every threshold between them, bit for bit, as
    /// `exp::tests::expf_x8_is_libms_expf` checks the eight-lane one.
    #[test]
    fn expf_x16_is_libms_expf() {
        if !super::super::available() {
            return;
        }
        for (from, to, step) in crate::kernels::exp::tests::expf_cases() {
            assert_eq!(first_mismatch(from, to, step), None, "{from:#x}..{to:#x} by {step}");
        }
        // Around 2^30 and 2^31, where the truncation leaves the `i32` range.
        for t in [0x4e80_0000u64, 0x4f00_0000] {
            assert_eq!(first_mismatch(t - 256, t + 256, 1), None);
            assert_eq!(first_mismatch(0x8000_0000 | (t - 256), 0x8000_0000 | (t + 256), 1), None);
        }
    }

    /// Every `f32`, bit for bit (release: `cargo test --release -p myelin-core --lib --
    /// --ignored expf_x16_on_every_f32`).
    #[test]
    #[ignore = "2^32 inputs: run in release"]
    fn expf_x16_on_every_f32() {
        if !super::super::available() {
            return;
        }
        assert_eq!(first_mismatch(0, 1 << 32, 1), None);
    }

    /// [`softmax_rows`] against `softmax_row` after the bias (or without one), bit for bit,
    /// on every width up to 70, 1 to 35 rows (vectors across rows, tails), ordinary values,
    /// ties, infinities, NaNs and huge spreads.
    #[test]
    fn softmax_rows_x16_is_softmax_row() {
        if !super::super::available() {
            return;
        }
        const ROWS: [usize; 6] = [1, 5, 16, 17, 32, 35];
        let mut rng = crate::Rng::new(7);
        let specials = [0.0, -0.0, f32::INFINITY, f32::NEG_INFINITY, f32::NAN, 1e30, -1e30, 90.0, -120.0];
        let (mut y, mut want, mut b) = ([0.0f32; 35 * 70], [0.0f32; 35 * 70], [0.0f32; 70]);
        for width in 1..=70 {
            for trial in 0..64 {
                let rows = ROWS[trial % ROWS.len()];
                let with_bias = trial % 3 != 2;
                let scale = [0.1f32, 3.0, 40.0, 300.0][trial % 4];
                let (y, want, b) = (&mut y[..rows * width], &mut want[..rows * width], &mut b[..width]);
                y.iter_mut().for_each(|v| *v = (rng.uniform() * 2.0 - 1.0) * scale);
                b.iter_mut().for_each(|v| *v = rng.uniform() - 0.5);
                if trial % 8 == 7 {
                    y[rng.below((rows * width) as u32) as usize] = specials[trial / 8 % specials.len()];
                }
                if trial % 16 == 5 && width > 1 {
                    let r = rng.below(rows as u32) as usize * width;
                    y[r + width - 1] = y[r];
                }
                want.copy_from_slice(y);
                for row in want.chunks_exact_mut(width) {
                    if with_bias {
                        row.iter_mut().zip(&*b).for_each(|(v, &b)| *v += b);
                    }
                    crate::activation::softmax_row(row);
                }
                // SAFETY: AVX-512F checked above.
                unsafe { softmax_rows(y, width, if with_bias { Some(&*b) } else { None }) };
                for (i, (g, w)) in y.iter().zip(want.iter()).enumerate() {
                    assert_eq!(g.to_bits(), w.to_bits(), "width {width}, trial {trial}, element {i}");
                }
            }
        }
    }
}
