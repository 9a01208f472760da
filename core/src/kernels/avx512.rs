//! AVX-512 tiles for the panel product of [`super::Simd`] (`d_w += delta^T x`, `d_x = delta W`),
//! chosen at run time on CPUs that have AVX-512F (the build itself targets AVX2 + FMA).
//!
//! A tile is 8 rows x 32 columns of `C` in 16 `zmm` accumulators while `m` runs; `A(r, m)`
//! is broadcast, two vectors of `B` are loaded per `m`. Every element of `C` is still one
//! fused multiply-add chain over `m` in order, starting from `C` (or 0), exactly as in the
//! 8-lane tiles: vector width only decides which columns share an instruction, so results are
//! bit-identical with and without AVX-512 (the kernel tests assert it).

use core::arch::x86_64::{
    __m512, _mm512_fmadd_ps, _mm512_loadu_ps, _mm512_set1_ps, _mm512_setzero_ps, _mm512_storeu_ps,
};
use core::sync::atomic::{AtomicU8, Ordering};

const LANES: usize = 16;
const RB: usize = 8;

/// Whether this CPU and OS run AVX-512F code (CPUID leaf 7 and the ZMM state enabled in XCR0).
/// Detected once, then cached.
pub fn available() -> bool {
    static STATE: AtomicU8 = AtomicU8::new(0);
    match STATE.load(Ordering::Relaxed) {
        1 => false,
        2 => true,
        _ => {
            let yes = detect();
            STATE.store(if yes { 2 } else { 1 }, Ordering::Relaxed);
            yes
        }
    }
}

fn detect() -> bool {
    use core::arch::x86_64::{__cpuid, __cpuid_count, _xgetbv};
    if cfg!(miri) {
        // Miri runs no CPUID; it checks the AVX-512 tiles when the build enables the feature.
        return cfg!(target_feature = "avx512f");
    }
    // SAFETY (older toolchains mark these unsafe): CPUID exists on every x86_64 CPU; XGETBV is
    // executed only when CPUID reports OSXSAVE, and the build's target (x86-64-v3) has XSAVE.
    #[allow(unused_unsafe)]
    unsafe {
        if __cpuid(0).eax < 7 {
            return false;
        }
        let osxsave = __cpuid(1).ecx & (1 << 27) != 0;
        let avx512f = __cpuid_count(7, 0).ebx & (1 << 16) != 0;
        // XCR0: SSE (1), AVX (2), opmask (5), ZMM_Hi256 (6), Hi16_ZMM (7) state enabled by the OS.
        osxsave && avx512f && _xgetbv(0) & 0xE6 == 0xE6
    }
}

/// Columns `0..n - n % 16` of one pass of the panel product (see `simd::panel_pass`); returns
/// where the remaining columns (fewer than 16) start.
///
/// # Safety
/// [`available`] returned true; `c` holds `rows x n` floats, `A(r, m) = ap[r * a_rs + m * a_ms]`
/// is valid for `r < rows`, `m < m_len`, and `bp` holds `m_len x n` floats.
#[allow(clippy::too_many_arguments)]
#[target_feature(enable = "avx512f")]
pub(super) unsafe fn pass(
    cp: *mut f32,
    rows: usize,
    n: usize,
    ap: *const f32,
    a_rs: usize,
    a_ms: usize,
    bp: *const f32,
    m_len: usize,
    accumulate: bool,
) -> usize {
    let mut k0 = 0;
    macro_rules! rows_loop {
        ($cv:literal) => {{
            let mut r0 = 0;
            while r0 + RB <= rows {
                // SAFETY: tile in bounds: r0 + RB <= rows, k0 + 16 * CV <= n.
                unsafe { block::<RB, $cv>(cp, n, r0, k0, ap, a_rs, a_ms, bp, m_len, accumulate) };
                r0 += RB;
            }
            while r0 < rows {
                // SAFETY: as above for a single row.
                unsafe { block::<1, $cv>(cp, n, r0, k0, ap, a_rs, a_ms, bp, m_len, accumulate) };
                r0 += 1;
            }
        }};
    }
    while k0 + 2 * LANES <= n {
        rows_loop!(2);
        k0 += 2 * LANES;
    }
    if k0 + LANES <= n {
        rows_loop!(1);
        k0 += LANES;
    }
    k0
}

/// One `RB x (16 * CV)` tile: `C = (C if accumulate else 0) + sum_m A(r, m) B[m][k]`.
///
/// # Safety
/// AVX-512F present; all indices touched are in bounds (see [`pass`]).
#[inline]
#[allow(clippy::too_many_arguments)]
#[target_feature(enable = "avx512f")]
unsafe fn block<const R: usize, const CV: usize>(
    c: *mut f32,
    n: usize,
    r0: usize,
    k0: usize,
    a: *const f32,
    a_rs: usize,
    a_ms: usize,
    b: *const f32,
    m_len: usize,
    accumulate: bool,
) {
    let mut acc: [[__m512; CV]; R] = [[_mm512_setzero_ps(); CV]; R];
    if accumulate {
        for (r, row) in acc.iter_mut().enumerate() {
            for (v, slot) in row.iter_mut().enumerate() {
                // SAFETY: tile inside C (caller).
                *slot = unsafe { _mm512_loadu_ps(c.add((r0 + r) * n + k0 + v * LANES)) };
            }
        }
    }
    for m in 0..m_len {
        // SAFETY: row m of B, columns k0..k0 + 16 * CV (caller).
        let bv: [__m512; CV] = core::array::from_fn(|v| unsafe { _mm512_loadu_ps(b.add(m * n + k0 + v * LANES)) });
        for (r, row) in acc.iter_mut().enumerate() {
            // SAFETY: A(r0 + r, m) in bounds (caller).
            let av = _mm512_set1_ps(unsafe { *a.add((r0 + r) * a_rs + m * a_ms) });
            for (slot, bv) in row.iter_mut().zip(bv.iter()) {
                *slot = _mm512_fmadd_ps(av, *bv, *slot);
            }
        }
    }
    for (r, row) in acc.iter().enumerate() {
        for (v, val) in row.iter().enumerate() {
            // SAFETY: tile inside C (caller).
            unsafe { _mm512_storeu_ps(c.add((r0 + r) * n + k0 + v * LANES), *val) };
        }
    }
}
