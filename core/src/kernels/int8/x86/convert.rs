//! The x86 int8 sets' conversions around the accumulation: the input quantizer 16 lanes
//! (AVX-512) and 8 lanes (AVX2) wide, and the requantization of bounded layers 8 outputs at
//! a time; each gives the bits of its scalar form in `crate::quant`.

// INVARIANT: the only indexing is of fixed-size arrays by loop counters below their lengths.
#![allow(clippy::indexing_slicing)]

use super::vnni_available;
use crate::quant::QuantInput;
use core::arch::x86_64::*;

/// How the vector quantizers walk `x`: rows of `n` values and whether one mean and factor
/// serve every value (`uniform`: then the whole of `x` is one row); `None` where the
/// scalar form must do it (no values, or means and factors of different lengths).
fn rows(input: &QuantInput<'_>, x: &[f32], q: &[i8]) -> Option<(usize, bool)> {
    let (n, uniform) = match input.mean.len() {
        1 => (x.len().min(q.len()), true),
        n => (n, false),
    };
    (n != 0 && input.factor.len() == input.mean.len()).then_some((n, uniform))
}

/// [`QuantInput::quantize`] 16 lanes wide, when the CPU runs AVX-512 F and BW (the VNNI
/// kernels' CPUs); `false` (nothing written) otherwise.
pub(crate) fn quantize_avx512(input: &QuantInput<'_>, x: &[f32], q: &mut [i8]) -> bool {
    if !vnni_available() {
        return false;
    }
    // SAFETY: the CPU runs AVX-512 F and BW (checked by `vnni_available`).
    unsafe { quantize_wide(input, x, q) };
    true
}

/// The input quantizer, 16 inputs per step: the same subtract and multiply as
/// [`crate::quant::quantize_value`]'s caller, then the rounding as the Cortex-M4's kernel
/// does it: `u = trunc(2 v)` (`2 v` is exact; clamped to `+-2e9` first, so every value beyond
/// the int8 range stays beyond it and the conversion is exact; NaN masked to 0) and
/// `round_half_away(v) + z = (u - [u < 0] + 2 z + 1) >> 1`, narrowed to int8 with signed
/// saturation (the clamp). Rows of `mean.len()` inputs (one entry: every input alike); the
/// last `n % 16` of a row through masked loads and stores.
///
/// # Safety
/// The CPU runs AVX-512 F and BW.
#[target_feature(enable = "avx512f,avx512bw,avx512dq,avx512vl")]
unsafe fn quantize_wide(input: &QuantInput<'_>, x: &[f32], q: &mut [i8]) {
    let c = 2 * input.zero as i32 + 1;
    let Some((n, uniform)) = rows(input, x, q) else { return input.quantize(x, q) };
    let (mean, factor) = (input.mean.as_ptr(), input.factor.as_ptr());
    // SAFETY (both closures): lanes `i..i + 16` of a row (masked to those below `n`) of `xr`,
    // `qr` and, unless uniform, `mean` and `factor` (each `n` long); AVX-512 F/BW.
    let offsets = |i: usize, mask: __mmask16| unsafe {
        if uniform {
            (_mm512_set1_ps(*mean), _mm512_set1_ps(*factor))
        } else if mask == !0 {
            (_mm512_loadu_ps(mean.add(i)), _mm512_loadu_ps(factor.add(i)))
        } else {
            (_mm512_maskz_loadu_ps(mask, mean.add(i)), _mm512_maskz_loadu_ps(mask, factor.add(i)))
        }
    };
    for (xr, qr) in x.chunks_exact(n).zip(q.chunks_exact_mut(n)) {
        let (xp, qp) = (xr.as_ptr(), qr.as_mut_ptr());
        let full = n - n % 16;
        let mut i = 0;
        // Whole steps with plain loads and stores (masked stores are slow on some CPUs),
        // narrowed in a register.
        while i < full {
            let (mv, fv) = offsets(i, !0);
            // SAFETY: as above, `i + 16 <= n`.
            unsafe {
                let r = quantize16(_mm512_loadu_ps(xp.add(i)), mv, fv, c);
                _mm_storeu_si128(qp.add(i) as *mut __m128i, _mm512_cvtsepi32_epi8(r));
            }
            i += 16;
        }
        if i < n {
            let mask: __mmask16 = (1u16 << (n - i)) - 1;
            let (mv, fv) = offsets(i, mask);
            // SAFETY: as above, the `n - i < 16` lanes left.
            unsafe {
                let r = quantize16(_mm512_maskz_loadu_ps(mask, xp.add(i)), mv, fv, c);
                _mm_mask_storeu_epi8(qp.add(i), mask, _mm512_cvtsepi32_epi8(r));
            }
        }
    }
}

/// Sixteen inputs of [`quantize_wide`]: `(u - [u < 0] + c) >> 1` with `u = trunc(2 (x - m)
/// f)` as 32-bit lanes (`c = 2 z + 1`), before the narrowing.
///
/// # Safety
/// The CPU runs AVX-512 F.
#[target_feature(enable = "avx512f")]
#[inline]
unsafe fn quantize16(x: __m512, m: __m512, f: __m512, c: i32) -> __m512i {
    let v = _mm512_mul_ps(_mm512_sub_ps(x, m), f);
    let v2 = _mm512_add_ps(v, v);
    let ordered = _mm512_cmp_ps_mask::<_CMP_ORD_Q>(v2, v2);
    let lim = _mm512_set1_ps(2e9);
    let clamped = _mm512_min_ps(_mm512_max_ps(v2, _mm512_sub_ps(_mm512_setzero_ps(), lim)), lim);
    let u = _mm512_maskz_cvttps_epi32(ordered, clamped);
    let u = _mm512_add_epi32(u, _mm512_srai_epi32::<31>(u));
    _mm512_srai_epi32::<1>(_mm512_add_epi32(u, _mm512_set1_epi32(c)))
}

/// [`QuantInput::quantize`] 8 lanes wide for the AVX2 and AVX-VNNI kernel sets (the build
/// enables AVX2): [`quantize_wide`]'s arithmetic in `ymm`, four vectors narrowed with signed
/// saturation (`vpackssdw`, `vpacksswb`, a lane permutation) and stored as 32 bytes; the last
/// `n % 32` of a row through [`crate::quant::quantize_value`], the definition.
#[cfg(target_feature = "avx2")]
pub(crate) fn quantize_avx2(input: &QuantInput<'_>, x: &[f32], q: &mut [i8]) {
    // SAFETY: the build enables AVX2.
    unsafe { quantize_ymm(input, x, q) }
}

/// # Safety
/// The CPU runs AVX2.
#[cfg(target_feature = "avx2")]
#[target_feature(enable = "avx2")]
unsafe fn quantize_ymm(input: &QuantInput<'_>, x: &[f32], q: &mut [i8]) {
    let (zero, c) = (input.zero as i32, 2 * input.zero as i32 + 1);
    let Some((n, uniform)) = rows(input, x, q) else { return input.quantize(x, q) };
    let (mean, factor) = (input.mean.as_ptr(), input.factor.as_ptr());
    let order = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
    for (xr, qr) in x.chunks_exact(n).zip(q.chunks_exact_mut(n)) {
        let (xp, qp) = (xr.as_ptr(), qr.as_mut_ptr());
        let full = n - n % 32;
        let mut i = 0;
        while i < full {
            // SAFETY: lanes `i..i + 32 <= n` of the row `xr`, `qr` and, unless uniform, of
            // `mean` and `factor` (each `n` long); AVX2.
            unsafe {
                let part = |k: usize| {
                    let (mv, fv) = if uniform {
                        (_mm256_set1_ps(*mean), _mm256_set1_ps(*factor))
                    } else {
                        (_mm256_loadu_ps(mean.add(i + k)), _mm256_loadu_ps(factor.add(i + k)))
                    };
                    quantize8(_mm256_loadu_ps(xp.add(i + k)), mv, fv, c)
                };
                let (a, b, d, e) = (part(0), part(8), part(16), part(24));
                let bytes = _mm256_packs_epi16(_mm256_packs_epi32(a, b), _mm256_packs_epi32(d, e));
                _mm256_storeu_si256(qp.add(i) as *mut __m256i, _mm256_permutevar8x32_epi32(bytes, order));
            }
            i += 32;
        }
        let tail = xr.get(i..).unwrap_or(&[]).iter().zip(qr.get_mut(i..).unwrap_or(&mut [])).enumerate();
        for (k, (&v, o)) in tail {
            let j = if uniform { 0 } else { i + k };
            let (m, f) = (input.mean.get(j).copied().unwrap_or(0.0), input.factor.get(j).copied().unwrap_or(1.0));
            *o = crate::quant::quantize_value((v - m) * f, zero);
        }
    }
}

/// Eight inputs of [`quantize_ymm`]: [`quantize16`] in `ymm` (NaN masked to 0 by an `and`
/// with the ordered comparison).
///
/// # Safety
/// The CPU runs AVX2.
#[cfg(target_feature = "avx2")]
#[target_feature(enable = "avx2")]
#[inline]
unsafe fn quantize8(x: __m256, m: __m256, f: __m256, c: i32) -> __m256i {
    let v = _mm256_mul_ps(_mm256_sub_ps(x, m), f);
    let v2 = _mm256_add_ps(v, v);
    let ordered = _mm256_castps_si256(_mm256_cmp_ps::<_CMP_ORD_Q>(v2, v2));
    let lim = _mm256_set1_ps(2e9);
    let clamped = _mm256_min_ps(_mm256_max_ps(v2, _mm256_sub_ps(_mm256_setzero_ps(), lim)), lim);
    let u = _mm256_and_si256(_mm256_cvttps_epi32(clamped), ordered);
    let u = _mm256_add_epi32(u, _mm256_srai_epi32::<31>(u));
    _mm256_srai_epi32::<1>(_mm256_add_epi32(u, _mm256_set1_epi32(c)))
}

/// [`crate::quant::requantize_bounded`] 8 outputs at a time (the build enables AVX2): the
/// high multiply as two `vpmuldq` (even and odd lanes, 64-bit products plus `2^31`, the high
/// halves blended), the rounding shift per lane (`vpsravd`), the clamp, and the narrowing;
/// the last `len % 8` through the scalar form.
#[cfg(target_feature = "avx2")]
pub(crate) fn requantize_bounded_avx2(
    acc: &[i32],
    y: &mut [i8],
    mult: &[i32],
    shift: &[i8],
    zero: i32,
    lo: i32,
    hi: i32,
) {
    let len = acc.len().min(y.len()).min(mult.len()).min(shift.len());
    let full = len - len % 8;
    // SAFETY: the build enables AVX2; every slice holds `full` entries or more.
    unsafe { requantize_ymm(acc, y, mult, shift, full, zero, lo, hi) };
    let rest = |i: usize| i..len.max(i);
    crate::quant::requantize_bounded(
        acc.get(rest(full)).unwrap_or(&[]),
        y.get_mut(rest(full)).unwrap_or(&mut []),
        mult.get(rest(full)).unwrap_or(&[]),
        shift.get(rest(full)).unwrap_or(&[]),
        zero,
        lo,
        hi,
    );
}

/// The first `full` (a multiple of 8) outputs of [`requantize_bounded_avx2`].
///
/// # Safety
/// The CPU runs AVX2; `acc`, `y`, `mult` and `shift` hold `full` entries or more.
#[cfg(target_feature = "avx2")]
#[target_feature(enable = "avx2")]
#[allow(clippy::too_many_arguments)]
unsafe fn requantize_ymm(
    acc: &[i32],
    y: &mut [i8],
    mult: &[i32],
    shift: &[i8],
    full: usize,
    zero: i32,
    lo: i32,
    hi: i32,
) {
    let c = _mm256_set1_epi32(zero.wrapping_mul(2).wrapping_add(1));
    let (lo, hi) = (_mm256_set1_epi32(lo), _mm256_set1_epi32(hi));
    let round = _mm256_set1_epi64x(1 << 31);
    let order = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
    let mut i = 0;
    while i < full {
        // SAFETY: `i + 8 <= full`, inside every slice (the contract).
        unsafe {
            let a = _mm256_loadu_si256(acc.as_ptr().add(i) as *const __m256i);
            let m = _mm256_loadu_si256(mult.as_ptr().add(i) as *const __m256i);
            let e = _mm256_cvtepi8_epi32(_mm_loadl_epi64(shift.as_ptr().add(i) as *const __m128i));
            let e = _mm256_and_si256(_mm256_sub_epi32(_mm256_setzero_si256(), e), _mm256_set1_epi32(31));
            let a2 = _mm256_add_epi32(a, a);
            // (2a m + 2^31) >> 32 per lane: even lanes' high halves moved down, odd lanes'
            // products (of the lanes shifted down) already in place.
            let even = _mm256_srli_epi64::<32>(_mm256_add_epi64(_mm256_mul_epi32(a2, m), round));
            let odd =
                _mm256_add_epi64(_mm256_mul_epi32(_mm256_srli_epi64::<32>(a2), _mm256_srli_epi64::<32>(m)), round);
            let h = _mm256_blend_epi32::<0b1010_1010>(even, odd);
            let t = _mm256_add_epi32(_mm256_add_epi32(h, h), _mm256_srai_epi32::<31>(h));
            let v = _mm256_srai_epi32::<1>(_mm256_add_epi32(_mm256_srav_epi32(t, e), c));
            let v = _mm256_min_epi32(_mm256_max_epi32(v, lo), hi);
            let bytes = _mm256_packs_epi16(_mm256_packs_epi32(v, v), _mm256_setzero_si256());
            let bytes = _mm256_permutevar8x32_epi32(bytes, order);
            _mm_storel_epi64(y.as_mut_ptr().add(i) as *mut __m128i, _mm256_castsi256_si128(bytes));
        }
        i += 8;
    }
}
