//! ARM64 int8 accumulation with NEON (every ARMv8-A core has it): dot products along
//! `inputs` for tiles of 4 samples x 4 rows of `W` (read in place, row-major), 16 inputs per
//! step: `smull` / `smull2` multiply eight byte pairs each into exact 16-bit products
//! (`|x w| <= 128 * 128`), `sadalp` adds adjacent products pairwise into the 32-bit lanes
//! of the tile's accumulators; each accumulator's four lanes are summed (`addv`) and added
//! to the row's offset `b[j] - z_in sum_i W[j][i]`. The inputs' last `inputs % 16` go
//! through scalar code. Integer sums wrap as the reference's do, so the bits are the
//! reference's.

// INVARIANT: the only indexing is of fixed-size accumulator arrays by loop counters below
// their const-generic lengths.
#![allow(clippy::indexing_slicing)]
// Tiles index their accumulator arrays by sample and row, as the math is written.
#![allow(clippy::needless_range_loop)]

use super::tiles;
use crate::quant::QuantDense;
use core::arch::aarch64::*;

/// `acc[s][j] = b[j] + sum_i (x[s][i] - z_in) W[j][i]` for `x` (batch, inputs) and `acc`
/// (batch, outputs); nothing is written unless the lengths agree.
pub(crate) fn accumulate(layer: &QuantDense<'_>, x: &[i8], acc: &mut [i32]) {
    let (n, m) = (layer.inputs, layer.outputs);
    let batch = x.len().checked_div(n).unwrap_or(0);
    if n == 0 || x.len() != batch * n || acc.len() != batch * m || layer.weights.len() != n * m {
        return;
    }
    let (xp, wp, ap) = (x.as_ptr(), layer.weights.as_ptr(), acc.as_mut_ptr());
    tiles::<4, 4>(layer, batch, layer.input_zero, |s0, j0, sb, rb, offs| {
        // SAFETY: s0 + sb <= batch and j0 + rb <= m, so every row read below lies inside x
        // (batch x n) and W (m x n), and every store inside acc (batch x m); NEON is part of
        // every aarch64 target.
        unsafe { tile_dispatch!(tile, sb, rb, (xp.add(s0 * n), wp.add(j0 * n), ap.add(s0 * m + j0), n, m, offs)) }
    });
}

/// One tile: `acc[s][r] = offs[r] + sum_i x[s][i] W[r][i]` for `S` samples and `R` rows.
///
/// # Safety
/// `x` holds `S` rows and `w` `R` rows of `n` bytes each; `acc` has `S` rows of stride `m`
/// with `R` writable entries each.
#[inline]
unsafe fn tile<const S: usize, const R: usize>(
    x: *const i8,
    w: *const i8,
    acc: *mut i32,
    n: usize,
    m: usize,
    offs: &[i32],
) {
    // SAFETY: every load reads 16 bytes below `full <= n` of a row the caller guarantees;
    // the tail and the stores stay inside the rows and entries it names.
    unsafe {
        let mut sums = [[vdupq_n_s32(0); R]; S];
        let full = n - n % 16;
        let mut i = 0;
        while i < full {
            let mut xv = [vdupq_n_s8(0); S];
            for s in 0..S {
                xv[s] = vld1q_s8(x.add(s * n + i));
            }
            for r in 0..R {
                let wv = vld1q_s8(w.add(r * n + i));
                for s in 0..S {
                    let lo = vmull_s8(vget_low_s8(xv[s]), vget_low_s8(wv));
                    let hi = vmull_high_s8(xv[s], wv);
                    sums[s][r] = vpadalq_s16(vpadalq_s16(sums[s][r], lo), hi);
                }
            }
            i += 16;
        }
        for s in 0..S {
            for r in 0..R {
                let mut total = offs.get(r).copied().unwrap_or(0).wrapping_add(vaddvq_s32(sums[s][r]));
                for k in full..n {
                    total = total.wrapping_add((*x.add(s * n + k) as i32).wrapping_mul(*w.add(r * n + k) as i32));
                }
                *acc.add(s * m + r) = total;
            }
        }
    }
}
