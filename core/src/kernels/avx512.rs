//! AVX-512 tiles for [`super::Simd`], chosen at run time on CPUs that have AVX-512F (the build
//! itself targets AVX2 + FMA).
//!
//! - Panel product (`d_w += delta^T x`, `d_x = delta W`): a tile is 8 rows x 32 columns of
//!   `C` in 16 `zmm` accumulators while `m` runs; `A(r, m)` is broadcast, two vectors of `B`
//!   are loaded per `m`. Every element of `C` is still one fused multiply-add chain over `m`
//!   in order, starting from `C` (or 0), exactly as in the 8-lane tiles: vector width only
//!   decides which columns share an instruction, so results are bit-identical with and
//!   without AVX-512 (the kernel tests assert it).
//! - Forward (`y = x W^T`): dot products along `inputs`, 4 samples x 6 outputs = 24 `zmm`
//!   accumulators, 16 lanes then a horizontal sum; the inputs' last `inputs % 16` go through
//!   masked loads. Sums are split into 16 lanes instead of 8, so these bits differ from the
//!   8-lane forward in the last place (both are bounded against the reference by the tests).
//!   Output blocks are the outer loop: 6 rows of `W` stay in L1 while the samples stream.

// INVARIANT: the only indexing is of fixed-size accumulator arrays by loop counters below
// their const-generic lengths.
#![allow(clippy::indexing_slicing)]

use core::arch::x86_64::{
    __m512, _mm512_fmadd_ps, _mm512_loadu_ps, _mm512_maskz_loadu_ps, _mm512_reduce_add_ps, _mm512_set1_ps,
    _mm512_setzero_ps, _mm512_storeu_ps,
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
                unsafe {
                    tile::<RB, $cv>(
                        cp.add(r0 * n + k0),
                        n,
                        ap.add(r0 * a_rs),
                        a_rs,
                        a_ms,
                        bp.add(k0),
                        n,
                        m_len,
                        accumulate,
                    )
                };
                r0 += RB;
            }
            while r0 < rows {
                // SAFETY: as above for a single row.
                unsafe {
                    tile::<1, $cv>(
                        cp.add(r0 * n + k0),
                        n,
                        ap.add(r0 * a_rs),
                        a_rs,
                        a_ms,
                        bp.add(k0),
                        n,
                        m_len,
                        accumulate,
                    )
                };
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

/// One `R x (16 * CV)` tile of `C` at `c` (row stride `c_rs`): `C = (C if accumulate else 0)
/// + sum_m A(r, m) B[m][..]` with `A(r, m) = a[r * a_rs + m * a_ms]` and `B` rows at stride
/// `b_rs` from `b`.
///
/// # Safety
/// AVX-512F present; all indices touched are in bounds (see [`pass`], [`forward_packed`]).
#[inline]
#[allow(clippy::too_many_arguments)]
#[target_feature(enable = "avx512f")]
unsafe fn tile<const R: usize, const CV: usize>(
    c: *mut f32,
    c_rs: usize,
    a: *const f32,
    a_rs: usize,
    a_ms: usize,
    b: *const f32,
    b_rs: usize,
    m_len: usize,
    accumulate: bool,
) {
    let mut acc: [[__m512; CV]; R] = [[_mm512_setzero_ps(); CV]; R];
    if accumulate {
        for (r, row) in acc.iter_mut().enumerate() {
            for (v, slot) in row.iter_mut().enumerate() {
                // SAFETY: tile inside C (caller).
                *slot = unsafe { _mm512_loadu_ps(c.add(r * c_rs + v * LANES)) };
            }
        }
    }
    for m in 0..m_len {
        // SAFETY: row m of B, 16 * CV columns (caller).
        let bv: [__m512; CV] = core::array::from_fn(|v| unsafe { _mm512_loadu_ps(b.add(m * b_rs + v * LANES)) });
        for (r, row) in acc.iter_mut().enumerate() {
            // SAFETY: A(r, m) in bounds (caller).
            let av = _mm512_set1_ps(unsafe { *a.add(r * a_rs + m * a_ms) });
            for (slot, bv) in row.iter_mut().zip(bv.iter()) {
                *slot = _mm512_fmadd_ps(av, *bv, *slot);
            }
        }
    }
    for (r, row) in acc.iter().enumerate() {
        for (v, val) in row.iter().enumerate() {
            // SAFETY: tile inside C (caller).
            unsafe { _mm512_storeu_ps(c.add(r * c_rs + v * LANES), *val) };
        }
    }
}

/// Samples per call from which the forward packs `W^T` and runs the panel tiles: packing
/// moves every weight once per call, which pays off once enough samples reuse it.
pub(super) const PACK_MIN_BATCH: usize = 48;
/// Inputs per packed pass: a 128 x 32 block of `W^T` (16 KB) stays in L1 while every
/// sample's 8-row tile runs over it.
const KC: usize = 128;

/// Forward product `y[s][j] = sum_k x[s][k] W[j][k]` for the outputs `0..outputs - outputs % 16`
/// as panel tiles over a packed `W^T` (each output one fused chain over `k` in order);
/// returns where the remaining outputs start (fewer than 16, left to the dot-product tiles).
///
/// # Safety
/// [`available`] returned true; `x` holds `batch x n`, `w` holds `outputs x n` and `y`
/// holds `batch x outputs` floats.
#[target_feature(enable = "avx512f")]
pub(super) unsafe fn forward_packed(
    x: *const f32,
    w: *const f32,
    y: *mut f32,
    batch: usize,
    n: usize,
    outputs: usize,
) -> usize {
    let jp = outputs - outputs % LANES;
    let mut pack = [0.0f32; KC * 2 * LANES];
    let mut j0 = 0;
    while j0 < jp {
        let jw = if jp - j0 >= 2 * LANES { 2 * LANES } else { LANES };
        let mut k0 = 0;
        while k0 < n {
            let kw = KC.min(n - k0);
            // SAFETY: rows j0..j0 + jw <= outputs of W, inputs k0..k0 + kw <= n; the block
            // fits `pack` (kw <= KC, jw <= 32).
            unsafe { pack_transposed(w.add(j0 * n + k0), n, jw, kw, &mut pack) };
            let bp = pack.as_ptr();
            let acc = k0 > 0;
            let mut r0 = 0;
            while r0 < batch {
                let rows = RB.min(batch - r0);
                // SAFETY: rows r0..r0 + rows of y (columns j0..j0 + jw <= outputs) and of x
                // (inputs k0..k0 + kw <= n); the packed block holds kw x jw floats.
                let (cp, ap) = unsafe { (y.add(r0 * outputs + j0), x.add(r0 * n + k0)) };
                macro_rules! go {
                    ($($r:literal)*) => {
                        match (rows, jw == 2 * LANES) {
                            $(
                                // SAFETY: as above.
                                ($r, true) => unsafe { tile::<$r, 2>(cp, outputs, ap, n, 1, bp, jw, kw, acc) },
                                // SAFETY: as above.
                                ($r, false) => unsafe { tile::<$r, 1>(cp, outputs, ap, n, 1, bp, jw, kw, acc) },
                            )*
                            _ => {}
                        }
                    };
                }
                go!(8 7 6 5 4 3 2 1);
                r0 += rows;
            }
            k0 += kw;
        }
        j0 += jw;
    }
    jp
}

/// Below this many samples the forward reads 8 rows of W side by side for each sample.
const FEW: usize = 4;
const FMR: usize = 4;
const FNR: usize = 4;

/// `y[s][j] = x[s] . w[j]` for the whole batch (no bias, no activation).
///
/// # Safety
/// [`available`] returned true; `x` holds `batch x n`, `w` holds `outputs x n` and `y` holds
/// `batch x outputs` floats.
#[target_feature(enable = "avx512f")]
pub(super) unsafe fn forward(x: *const f32, w: *const f32, y: *mut f32, batch: usize, n: usize, outputs: usize) {
    let mut j = 0;
    if batch >= PACK_MIN_BATCH {
        // SAFETY: forwarded from the caller.
        j = unsafe { forward_packed(x, w, y, batch, n, outputs) };
    }
    if batch < FEW {
        // A sample or two: W streams once from cache, so what counts is how many of its rows
        // are read side by side: 8 at a time.
        for s in 0..batch {
            let mut j = j;
            while j < outputs {
                let nr = 8.min(outputs - j);
                macro_rules! go {
                    ($($b:literal)*) => {
                        match nr {
                            // SAFETY: row s of x and y, rows j..j+nr of w exist (caller).
                            $($b => unsafe { dot_tile::<1, $b>(x, w, y, n, outputs, s, j) },)*
                            _ => {}
                        }
                    };
                }
                go!(8 7 6 5 4 3 2 1);
                j += nr;
            }
        }
        return;
    }
    while j < outputs {
        let nr = FNR.min(outputs - j);
        let mut s = 0;
        while s < batch {
            let mr = FMR.min(batch - s);
            macro_rules! go {
                ($($a:literal $b:literal),*) => {
                    match (mr, nr) {
                        // SAFETY: rows s..s+mr of x and y, j..j+nr of w exist (caller).
                        $(($a, $b) => unsafe { dot_tile::<$a, $b>(x, w, y, n, outputs, s, j) },)*
                        _ => {}
                    }
                };
            }
            go!(4 4, 4 3, 4 2, 4 1, 3 4, 3 3, 3 2, 3 1, 2 4, 2 3, 2 2, 2 1, 1 4, 1 3, 1 2, 1 1);
            s += mr;
        }
        j += nr;
    }
}

/// One `MR x NR` block of `y`: dot products of samples `s..s+MR` with rows `j..j+NR`.
///
/// # Safety
/// AVX-512F present; the rows exist (see [`forward`]).
#[inline]
#[target_feature(enable = "avx512f")]
#[allow(clippy::needless_range_loop)] // i, jj index two arrays in lockstep
unsafe fn dot_tile<const MR: usize, const NR: usize>(
    x: *const f32,
    w: *const f32,
    y: *mut f32,
    n: usize,
    outputs: usize,
    s: usize,
    j: usize,
) {
    let mut acc = [[_mm512_setzero_ps(); NR]; MR];
    let (xs, ws) = (x.wrapping_add(s * n), w.wrapping_add(j * n));
    let n16 = n - n % LANES;
    let mut k = 0;
    while k < n16 {
        let mut xv = [_mm512_setzero_ps(); MR];
        for i in 0..MR {
            // SAFETY: k + 16 <= n, inside row i (caller's rows).
            xv[i] = unsafe { _mm512_loadu_ps(xs.add(i * n + k)) };
        }
        for jj in 0..NR {
            // SAFETY: as above, row jj of the block of w.
            let wv = unsafe { _mm512_loadu_ps(ws.add(jj * n + k)) };
            for i in 0..MR {
                acc[i][jj] = _mm512_fmadd_ps(xv[i], wv, acc[i][jj]);
            }
        }
        k += LANES;
    }
    if k < n {
        // The last n - k (< 16) inputs: masked loads read only those and give 0 elsewhere.
        let mask: u16 = (1u16 << (n - k)) - 1;
        let mut xv = [_mm512_setzero_ps(); MR];
        for i in 0..MR {
            // SAFETY: the mask limits the load to row i's indices below n.
            xv[i] = unsafe { _mm512_maskz_loadu_ps(mask, xs.add(i * n + k)) };
        }
        for jj in 0..NR {
            // SAFETY: as above.
            let wv = unsafe { _mm512_maskz_loadu_ps(mask, ws.add(jj * n + k)) };
            for i in 0..MR {
                acc[i][jj] = _mm512_fmadd_ps(xv[i], wv, acc[i][jj]);
            }
        }
    }
    for i in 0..MR {
        for jj in 0..NR {
            // SAFETY: y[s + i][j + jj] exists (caller).
            unsafe { *y.add((s + i) * outputs + j + jj) = _mm512_reduce_add_ps(acc[i][jj]) };
        }
    }
}

/// `pack[kk * jw + jj] = w[jj * n + kk]` for `jj < jw` (16 or 32), `kk < kw`: a block of
/// `W^T`, 16 x 16 at a time through [`transpose16`].
///
/// # Safety
/// AVX-512F present; `w` is valid for `jw` rows of `kw` floats at stride `n`; `jw * kw`
/// fits `pack`.
#[target_feature(enable = "avx512f")]
unsafe fn pack_transposed(w: *const f32, n: usize, jw: usize, kw: usize, pack: &mut [f32; KC * 2 * LANES]) {
    let dst = pack.as_mut_ptr();
    let mut jj0 = 0;
    while jj0 < jw {
        let mut kb = 0;
        while kb < kw {
            let left = (kw - kb).min(LANES);
            let mask: u16 = if left == LANES { u16::MAX } else { (1u16 << left) - 1 };
            // SAFETY: the mask keeps each load inside row jj0 + i, inputs kb..kb + left < kw.
            let rows: [__m512; 16] =
                core::array::from_fn(|i| unsafe { _mm512_maskz_loadu_ps(mask, w.add((jj0 + i) * n + kb)) });
            let cols = transpose16(rows);
            for (q, col) in cols.iter().take(left).enumerate() {
                // SAFETY: (kb + q) * jw + jj0 + 16 <= kw * jw, inside `pack` (caller).
                unsafe { _mm512_storeu_ps(dst.add((kb + q) * jw + jj0), *col) };
            }
            kb += LANES;
        }
        jj0 += LANES;
    }
}

/// Transposes a 16 x 16 block held as 16 rows: `out[i]` lane `j` = `rows[j]` lane `i`.
/// Four shuffle stages (32-bit, 64-bit and two 128-bit interleaves), 64 shuffles in all.
#[inline]
#[target_feature(enable = "avx512f")]
fn transpose16(r: [__m512; 16]) -> [__m512; 16] {
    use core::arch::x86_64::{
        _mm512_castpd_ps, _mm512_castps_pd, _mm512_shuffle_f32x4, _mm512_unpackhi_pd, _mm512_unpackhi_ps,
        _mm512_unpacklo_pd, _mm512_unpacklo_ps,
    };
    let mut t = [_mm512_setzero_ps(); 16];
    for i in 0..8 {
        t[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
        t[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
    }
    let mut u = [_mm512_setzero_ps(); 16];
    for g in 0..4 {
        let (a, b, c, d) = (t[4 * g], t[4 * g + 1], t[4 * g + 2], t[4 * g + 3]);
        let pd = |x: __m512| _mm512_castps_pd(x);
        u[4 * g] = _mm512_castpd_ps(_mm512_unpacklo_pd(pd(a), pd(c)));
        u[4 * g + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(pd(a), pd(c)));
        u[4 * g + 2] = _mm512_castpd_ps(_mm512_unpacklo_pd(pd(b), pd(d)));
        u[4 * g + 3] = _mm512_castpd_ps(_mm512_unpackhi_pd(pd(b), pd(d)));
    }
    let mut v = [_mm512_setzero_ps(); 16];
    for h in 0..2 {
        for i in 0..4 {
            v[8 * h + i] = _mm512_shuffle_f32x4::<0x88>(u[8 * h + i], u[8 * h + 4 + i]);
            v[8 * h + 4 + i] = _mm512_shuffle_f32x4::<0xDD>(u[8 * h + i], u[8 * h + 4 + i]);
        }
    }
    let mut o = [_mm512_setzero_ps(); 16];
    for i in 0..8 {
        o[i] = _mm512_shuffle_f32x4::<0x88>(v[i], v[8 + i]);
        o[8 + i] = _mm512_shuffle_f32x4::<0xDD>(v[i], v[8 + i]);
    }
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transpose16_transposes() {
        if !available() {
            return;
        }
        let m: [[f32; 16]; 16] = core::array::from_fn(|i| core::array::from_fn(|j| (i * 16 + j) as f32));
        // SAFETY: AVX-512F checked above; each row is 16 floats.
        let out = unsafe {
            let rows: [__m512; 16] = core::array::from_fn(|i| _mm512_loadu_ps(m[i].as_ptr()));
            transpose16(rows)
        };
        for (i, v) in out.iter().enumerate() {
            let mut lanes = [0.0f32; 16];
            // SAFETY: as above.
            unsafe { _mm512_storeu_ps(lanes.as_mut_ptr(), *v) };
            let want: [f32; 16] = core::array::from_fn(|j| m[j][i]);
            assert_eq!(lanes, want, "row {i}: {lanes:?}");
        }
    }
}
