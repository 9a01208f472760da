//! The FMA limit of one core (`fma_peak` prints it; `peak_share` reads the workloads against
//! it): register-only loops of fused multiply-adds on independent accumulators, so nothing
//! but the FMA units bounds them.

/// Accumulators (independent dependency chains) of the AVX-512 loop.
pub const ACC: usize = 16;
/// Accumulators of the AVX2 loop: with its two operands they fill 14 of the 16 `ymm` registers.
pub const ACC2: usize = 12;
/// FMA rounds per timed call.
pub const ROUNDS: u64 = 1 << 24;

/// `rounds` rounds of [`ACC2`] independent 8-lane FMAs (AVX2 + FMA); returns a sum of the
/// accumulators so the loop is kept.
///
/// # Safety
/// Call only where AVX2 and FMA run (checked with `is_x86_feature_detected!`).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
pub fn avx2(rounds: u64) -> f32 {
    use std::arch::x86_64::*;
    let mut acc = [_mm256_set1_ps(0.0); ACC2];
    let a = _mm256_set1_ps(0.999_999);
    let b = _mm256_set1_ps(1e-7);
    for _ in 0..rounds {
        for v in acc.iter_mut() {
            *v = _mm256_fmadd_ps(*v, a, b);
        }
    }
    let mut s = [0.0f32; 8];
    let sum = acc.iter().fold(_mm256_set1_ps(0.0), |x, y| _mm256_add_ps(x, *y));
    // SAFETY: `s` holds 8 floats.
    unsafe { _mm256_storeu_ps(s.as_mut_ptr(), sum) };
    s.iter().sum()
}

/// `rounds` rounds of [`ACC`] independent 16-lane FMAs (AVX-512F); returns a sum of the
/// accumulators so the loop is kept.
///
/// # Safety
/// Call only where AVX-512F runs (checked with `is_x86_feature_detected!`).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
pub fn avx512(rounds: u64) -> f32 {
    use std::arch::x86_64::*;
    let mut acc = [_mm512_set1_ps(0.0); ACC];
    let a = _mm512_set1_ps(0.999_999);
    let b = _mm512_set1_ps(1e-7);
    for _ in 0..rounds {
        for v in acc.iter_mut() {
            *v = _mm512_fmadd_ps(*v, a, b);
        }
    }
    _mm512_reduce_add_ps(acc.iter().fold(_mm512_set1_ps(0.0), |x, y| _mm512_add_ps(x, *y)))
}
