//! The 6 x 16 tile of the 8-lane kernels in native 4-lane NEON vectors, for aarch64 builds.
//! Where `A` runs along its rows (`a_ms = 1`: the forward, the input gradient and the
//! transposed blocks of the weight gradient), four steps of `m` take one load of four
//! values from each of the six rows of `A`, and each multiply-add takes its `A` value from a
//! lane of that load (`fmla` by element): no broadcast per row and step, as the generic tile
//! ([`super::tile8`], two NEON halves per `f32x8` and a `dup` per row and step) needs. The
//! 24 accumulators, the 6 rows of `A` and one vector of `B` fill the 32 vector registers.
//! Each `vfmaq_laneq_f32` is the same single-rounding `c + a * b` as
//! `f32x8::mul_add`, for every element in order over `m`, so the bits are those of `tile8`
//! (the kernel tests compare the 8-lane products with ordered `f32::mul_add` chains under
//! qemu-aarch64).

use crate::kernels::Accumulate;
use core::arch::aarch64::{float32x4_t, vdupq_n_f32, vfmaq_laneq_f32, vld1q_f32, vst1q_f32};

/// Rows of the tile.
const ROWS: usize = 6;
/// 4-lane vectors per row of the tile (16 columns).
const VECS: usize = 4;

/// `C = (C if `mode` adds, else 0) + sum_m A(r, m) B[m][..16]` for a 6 x 16 tile, with
/// `A(r, m) = a[r * a_rs + m * a_ms]`, `B` rows at stride `b_rs` from `b`, `C` rows at stride
/// `c_rs` from `c`.
///
/// # Safety
/// `C` holds 6 rows of 16 floats; `A(r, m)` is valid for `r < 6`, `m < m_len`; `b` holds
/// `m_len` rows of 16 floats.
#[inline]
#[allow(clippy::too_many_arguments)]
pub(super) unsafe fn tile6x16(
    c: *mut f32,
    c_rs: usize,
    a: *const f32,
    a_rs: usize,
    a_ms: usize,
    b: *const f32,
    b_rs: usize,
    m_len: usize,
    mode: Accumulate,
) {
    // SAFETY: NEON is part of every aarch64 target; all zero.
    let mut acc: [[float32x4_t; VECS]; ROWS] = [[unsafe { vdupq_n_f32(0.0) }; VECS]; ROWS];
    if mode == Accumulate::Add {
        for (r, row) in acc.iter_mut().enumerate() {
            for (v, slot) in row.iter_mut().enumerate() {
                // SAFETY: tile inside C (caller).
                *slot = unsafe { vld1q_f32(c.add(r * c_rs + 4 * v)) };
            }
        }
    }
    // One step `m` with the row values `av[r]` taken from lane `$lane` of each row's vector.
    macro_rules! lane_step {
        ($av:ident, $m:expr, $lane:literal) => {
            for v in 0..VECS {
                // SAFETY: row m < m_len of B, columns 4v .. 4v + 4 < 16 (caller).
                let bv = unsafe { vld1q_f32(b.add($m * b_rs + 4 * v)) };
                for (row, &ar) in acc.iter_mut().zip($av.iter()) {
                    // SAFETY: register arithmetic only.
                    row[v] = unsafe { vfmaq_laneq_f32::<$lane>(row[v], bv, ar) };
                }
            }
        };
    }
    let mut m = 0;
    if a_ms == 1 {
        while m + 4 <= m_len {
            // SAFETY: A(r, m .. m + 4) for r < 6: four consecutive floats of row r (a_ms = 1).
            let av: [float32x4_t; ROWS] = core::array::from_fn(|r| unsafe { vld1q_f32(a.add(r * a_rs + m)) });
            lane_step!(av, m, 0);
            lane_step!(av, m + 1, 1);
            lane_step!(av, m + 2, 2);
            lane_step!(av, m + 3, 3);
            m += 4;
        }
    }
    // One step at a time (all of them when a_ms != 1), each row's value in every lane.
    while m < m_len {
        // SAFETY: A(r, m) for r < 6, m < m_len (caller).
        let av: [float32x4_t; ROWS] = core::array::from_fn(|r| unsafe { vdupq_n_f32(*a.add(r * a_rs + m * a_ms)) });
        lane_step!(av, m, 0);
        m += 1;
    }
    for (r, row) in acc.iter().enumerate() {
        for (v, val) in row.iter().enumerate() {
            // SAFETY: tile inside C (caller).
            unsafe { vst1q_f32(c.add(r * c_rs + 4 * v), *val) };
        }
    }
}
