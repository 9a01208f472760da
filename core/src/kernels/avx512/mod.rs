//! AVX-512 tiles for [`super::Simd`], chosen at run time on CPUs that have AVX-512F (the build
//! itself targets AVX2 + FMA).
//!
//! - Panel product (`d_w += delta^T x`, `d_x = delta W`): a tile is 12 (or 8) rows x 32
//!   columns of `C` in 24 (16) `zmm` accumulators while `m` runs; `A(r, m)` is broadcast, two
//!   vectors of `B` are loaded per `m`; the loop is an `asm!` block (`asm_tile!` in `tiles.rs`). Every
//!   element of `C` is still one fused multiply-add chain over `m` in order, starting from
//!   `C` (or 0), exactly as in the 8-lane tiles: vector width only decides which columns
//!   share an instruction, so results are bit-identical with and without AVX-512 (the kernel
//!   tests assert it). For the weight gradient, blocks of `delta` are transposed first
//!   (`tiles::pass_transposed`) so that the broadcasts run along rows.
//! - Forward from 16 samples and 16 outputs: the same tiles, each output one chain over the
//!   inputs in order (`forward.rs`: `forward_t`, `y^T = W x^T` over packed 32-sample blocks; from 64
//!   samples `forward_w`, `y = x W^T` over packed panels of `W^T`); both give the bits of
//!   `f32::mul_add` in a loop (tested). `forward_w`'s tiles add the bias and apply the
//!   identity or the ReLU to the outputs they finish as they store them (`tiles::Finish`),
//!   the operations of the separate pass they replace.
//! - Forward below that: dot products along `inputs`, 4 samples x 4 outputs of `zmm`
//!   accumulators (one sample: 8 rows of `W` side by side, each prefetched a few lines ahead
//!   when `W` is larger than L1), 16 lanes then a horizontal sum
//!   (halves, quarters, then lanes 0 + 2 and 1 + 3); the inputs' last `inputs % 16` go
//!   through masked loads. The 8-lane tiles sum in the same 16 lanes (two halves) by the
//!   same tree, so the forward too gives the same bits on both widths (tested).
//!
//! - The softmax's exponentials sixteen at a time (`exp.rs`): `libm::expf`'s operations on
//!   every lane, as the 8-lane `kernels::exp` (the same bits, tested over every `f32`).
//!
//! Stack: 200 KB for the packed blocks of `forward_w`, which calls `forward_t` (48 KB) for
//! its last outputs, so the peak is about 248 KB; 24 KB
//! (`pass_transposed`).

// INVARIANT: the only indexing is of fixed-size accumulator arrays by loop counters below
// their const-generic lengths.
#![allow(clippy::indexing_slicing)]

use core::arch::x86_64::{__m512, _mm512_maskz_loadu_ps, _mm512_setzero_ps};

mod exp;
mod forward;
mod tiles;
mod update;

pub(super) use exp::softmax_rows;
pub(super) use forward::{forward, forward_packed};
pub(super) use tiles::pass;
pub(super) use update::update;

const LANES: usize = 16;
const RB: usize = 8;

/// Whether this CPU and OS run AVX-512F code (CPUID leaf 7 and the ZMM state enabled in XCR0).
/// Detected once, then cached.
pub fn available() -> bool {
    super::cpu::avx512f()
}

/// Cache-line alignment for the scratch blocks: every 16-float vector is one line.
#[repr(align(64))]
struct Aligned<T>(T);

/// `dst[j * dst_rs + i] = src[i * src_rs + j]` for `i < rows`, `j < cols`, and `0` for
/// `rows <= i < pad` (zero columns to fill a padded block): 16 x 16 blocks through
/// [`transpose16`], masked loads and stores at the edges only (whole vectors go plain: a
/// masked access costs more on some cores, BENCHMARKS.md "Kernel choices").
///
/// # Safety
/// AVX-512F present; `src` is valid for `rows` rows of `cols` floats at stride `src_rs`;
/// `dst` for `cols` rows of `rows.max(pad)` floats at stride `dst_rs`.
#[target_feature(enable = "avx512f")]
unsafe fn transpose_into(
    src: *const f32,
    src_rs: usize,
    rows: usize,
    cols: usize,
    dst: *mut f32,
    dst_rs: usize,
    pad: usize,
) {
    use core::arch::x86_64::{_mm512_loadu_ps, _mm512_mask_storeu_ps, _mm512_storeu_ps};
    let lanes = |left: usize| -> u16 {
        if left >= LANES {
            u16::MAX
        } else {
            (1u16 << left) - 1
        }
    };
    let height = rows.max(pad);
    let mut i0 = 0;
    while i0 < height {
        let store = lanes(height - i0);
        let mut j0 = 0;
        while j0 < cols {
            let load = lanes(cols - j0);
            for q in 0..LANES.min(rows.saturating_sub(i0)) {
                // The same rows' lines four blocks on: `src`'s rows are apart by a stride the
                // hardware prefetchers follow poorly with 16 of them at once.
                crate::kernels::prefetch_ahead(src.wrapping_add((i0 + q) * src_rs + j0));
            }
            let block: [__m512; 16] = core::array::from_fn(|q| {
                if i0 + q >= rows {
                    _mm512_setzero_ps()
                } else if load == u16::MAX {
                    // SAFETY: 16 columns j0..j0 + 16 <= cols of row i0 + q < rows.
                    unsafe { _mm512_loadu_ps(src.add((i0 + q) * src_rs + j0)) }
                } else {
                    // SAFETY: the mask keeps the load inside row i0 + q < rows, columns < cols.
                    unsafe { _mm512_maskz_loadu_ps(load, src.add((i0 + q) * src_rs + j0)) }
                }
            });
            let t = transpose16(block);
            for (q, v) in t.iter().take(cols - j0).enumerate() {
                let at = dst.wrapping_add((j0 + q) * dst_rs + i0);
                if store == u16::MAX {
                    // SAFETY: 16 columns i0..i0 + 16 <= height of row j0 + q < cols.
                    unsafe { _mm512_storeu_ps(at, *v) };
                } else {
                    // SAFETY: the mask keeps the store inside row j0 + q < cols, columns < height.
                    unsafe { _mm512_mask_storeu_ps(at, store, *v) };
                }
            }
            j0 += LANES;
        }
        i0 += LANES;
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
    use core::arch::x86_64::{_mm512_loadu_ps, _mm512_storeu_ps};

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
