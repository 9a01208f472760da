//! 8-lane SIMD kernels (`wide::f32x8`, fused multiply-add on AVX2 + FMA, NEON on ARM64).
//!
//! One register tile covers all three products: `C[r][k] (+)= sum_m A(r, m) B[m][k]` with
//! `B` rows contiguous along `k`, a 6-row x 16-column tile of `C` in 12 accumulators while `m`
//! runs, `A(r, m)` broadcast ([`tile8`]). Every element of `C` is one fused multiply-add
//! chain over `m` in order, so the bits do not depend on the tile shape or on the vector
//! width: the AVX-512 tiles (`avx512/`) compute the same chains.
//!
//! - `d_w += delta^T x` and `d_x = delta W` in passes over `m` ([`panel`]); for the weight
//!   gradient, blocks of `delta` are transposed first ([`pass_transposed8`]).
//! - Forward (`simd/forward.rs`) from 16 samples and 16 outputs ([`chains`]): `y^T = W x^T`
//!   over packed 16-sample blocks of `x^T` (`forward_chains`), from 128 samples `y = x W^T`
//!   over packed 16-wide panels of `W^T` (`forward_w`); each output one chain over the
//!   inputs in order.
//! - Forward below that: dot products along `inputs` in 16 lanes (two 8-lane halves, the
//!   last `inputs % 16` zero-padded) summed by one fixed tree (`sum16`), the AVX-512 dot
//!   tiles' lanes and tree.
//!
//! So the 8-lane and the AVX-512 kernels give the same bits in all three products (tested);
//! against [`super::Reference`] the sums are reordered and fused, and the tests bound the
//! difference.

// INVARIANT: every kernel entry returns at once unless `Dims::fits` holds for its slices,
// and all indices below are derived from those `Dims`, so no index is out of range.
#![allow(clippy::indexing_slicing)]

use super::raw::RawKernels;
use super::{bias_activation_x8, Accumulate, Dims};
use crate::activation::Activation;
use crate::error::{check_len, Buffer, Error};
use wide::f32x8;

#[cfg(all(target_arch = "x86_64", target_feature = "avx2", target_feature = "fma", not(miri)))]
mod asm;
mod forward;
#[cfg(all(target_arch = "aarch64", not(miri)))]
mod neon;
// The target's own 6 x 16 tile, where it has one ([`tile8`] runs it for that shape).
#[cfg(all(target_arch = "x86_64", target_feature = "avx2", target_feature = "fma", not(miri)))]
use asm::tile6x16 as native_tile6x16;
#[cfg(all(target_arch = "aarch64", not(miri)))]
use neon::tile6x16 as native_tile6x16;
mod update;
#[cfg(target_arch = "x86_64")]
pub(super) use forward::{even_block, KC_W, OC_W};
use forward::{forward_chains, forward_dots, forward_packed, forward_w, W_MIN};

/// SIMD kernels (`wide`), FMA where the target has it; on x86_64 CPUs with AVX-512F
/// optionally the 16-lane tiles. The tile width is part of the value, chosen when it is
/// made: [`Simd::LANES8`] runs everywhere, [`Simd::lanes16`] only exists where the CPU runs
/// AVX-512F, [`Simd::detect`] (also `Default`) takes the widest. No process-wide state
/// decides the path, so two values of different widths can run side by side.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Simd {
    /// The 16-lane AVX-512 tiles run (only ever true where the CPU has AVX-512F).
    wide: bool,
}

impl Default for Simd {
    fn default() -> Simd {
        Simd::detect()
    }
}

const LANES: usize = 8;

/// Loads 8 floats from `p`.
///
/// # Safety
/// `p..p+8` must be inside one live `f32` allocation.
#[inline(always)]
unsafe fn load(p: *const f32) -> f32x8 {
    // SAFETY: the caller guarantees 8 readable floats; unaligned read is allowed.
    f32x8::from(unsafe { core::ptr::read_unaligned(p as *const [f32; LANES]) })
}

/// Stores 8 floats to `p`.
///
/// # Safety
/// `p..p+8` must be inside one live, exclusively borrowed `f32` allocation.
#[inline(always)]
unsafe fn store(p: *mut f32, v: f32x8) {
    // SAFETY: the caller guarantees 8 writable floats; unaligned write is allowed.
    unsafe { core::ptr::write_unaligned(p as *mut [f32; LANES], v.to_array()) }
}

/// `C[r][k] = (C[r][k] if `mode` adds, else 0) + sum_m A(r, m) B[m][k]` for rows `r0..r0+RB`
/// and columns `k0..k0+8*CV`, with `A(r, m) = a[r * a_rs + m * a_ms]` and `B` and `C` both of
/// row stride `n`.
///
/// # Safety
/// All indices touched are in bounds of `c` (rows x n), `a` and `b` (m_len x n).
#[inline(always)]
#[allow(clippy::too_many_arguments)]
unsafe fn panel_block<const RB: usize, const CV: usize>(
    c: *mut f32,
    n: usize,
    r0: usize,
    k0: usize,
    a: *const f32,
    a_rs: usize,
    a_ms: usize,
    b: *const f32,
    m_len: usize,
    mode: Accumulate,
) {
    // SAFETY: forwarded from the caller.
    unsafe { tile8::<RB, CV>(c.add(r0 * n + k0), n, a.wrapping_add(r0 * a_rs), a_rs, a_ms, b.add(k0), n, m_len, mode) }
}

/// One `RB x 8*CV` tile: `C[r][k] = (C[r][k] if `mode` adds, else 0) + sum_m A(r, m) B[m][k]`
/// with `C[r][k] = c[r * c_rs + k]`, `A(r, m) = a[r * a_rs + m * a_ms]` and `B[m][k] = b[m *
/// b_rs + k]`: each element one fused multiply-add chain over `m` in order.
///
/// # Safety
/// All indices touched are in bounds of the three allocations.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
unsafe fn tile8<const RB: usize, const CV: usize>(
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
    #[cfg(any(
        all(target_arch = "x86_64", target_feature = "avx2", target_feature = "fma", not(miri)),
        all(target_arch = "aarch64", not(miri))
    ))]
    if RB == 6 && CV == 2 {
        // SAFETY: the caller's bounds, for 6 rows of 16 columns.
        unsafe { native_tile6x16(c, c_rs, a, a_rs, a_ms, b, b_rs, m_len, mode) };
        return;
    }
    let mut acc = [[f32x8::ZERO; CV]; RB];
    if mode == Accumulate::Add {
        for (r, row) in acc.iter_mut().enumerate() {
            for (v, slot) in row.iter_mut().enumerate() {
                // SAFETY: tile inside C (caller).
                *slot = unsafe { load(c.add(r * c_rs + v * LANES)) };
            }
        }
    }
    for m in 0..m_len {
        // SAFETY: row m of B, columns 0..8*CV (caller).
        let bv: [f32x8; CV] = core::array::from_fn(|v| unsafe { load(b.add(m * b_rs + v * LANES)) });
        for (r, row) in acc.iter_mut().enumerate() {
            // SAFETY: A(r, m) in bounds (caller).
            let av = f32x8::splat(unsafe { *a.add(r * a_rs + m * a_ms) });
            for (slot, bv) in row.iter_mut().zip(bv.iter()) {
                *slot = av.mul_add(*bv, *slot);
            }
        }
    }
    for (r, row) in acc.iter().enumerate() {
        for (v, val) in row.iter().enumerate() {
            // SAFETY: tile inside C (caller).
            unsafe { store(c.add(r * c_rs + v * LANES), *val) };
        }
    }
}

/// Whether the forward of `batch` samples into `outputs` outputs runs as fused chains over the
/// inputs rather than as dot products split in 16 lanes: from 16 samples and 16 outputs, for
/// both tile widths (the rule is part of the bits).
pub(super) fn chains(batch: usize, outputs: usize) -> bool {
    batch >= 16 && outputs >= 16
}

/// Scalar column `k` of the panel product for rows `r0..r1` (the tail past the last full
/// vector).
///
/// # Safety
/// As for [`panel_block`].
#[inline(always)]
#[allow(clippy::too_many_arguments)]
unsafe fn panel_column(
    c: *mut f32,
    n: usize,
    r0: usize,
    r1: usize,
    k: usize,
    a: *const f32,
    a_rs: usize,
    a_ms: usize,
    b: *const f32,
    m_len: usize,
    mode: Accumulate,
) {
    for r in r0..r1 {
        // SAFETY: in bounds (caller).
        unsafe {
            let mut s = if mode == Accumulate::Add { *c.add(r * n + k) } else { 0.0 };
            for m in 0..m_len {
                s += *a.add(r * a_rs + m * a_ms) * *b.add(m * n + k);
            }
            *c.add(r * n + k) = s;
        }
    }
}

/// Rows of `B` (and columns of `A`) per pass of the 8-lane tiles: 128 rows of a 16-column
/// strip of `B` (8 KB) plus the `A` elements they meet stay in L1 however large the batch
/// is, and each tile's 12 accumulators are loaded and stored once per pass (BENCHMARKS.md,
/// "Kernel choices"). Passes only cut the same chain over `m` into pieces, so their length
/// changes no bit.
const MB: usize = 128;
/// Pass length with the AVX-512 tiles: their 12 x 32 accumulators are loaded and stored
/// once per pass (BENCHMARKS.md, "Kernel choices": 128 against 64, then 256 against 128).
const MB_WIDE: usize = 256;

/// The whole panel product over `rows` x `n`, in passes of [`MB`] values of `m` (the first
/// pass initializes `C` unless accumulating; the others add to it).
///
/// # Safety
/// `c` holds rows x n floats; `A(r, m)` is valid for `r < rows`, `m < m_len`; `b` holds
/// m_len x n floats.
#[allow(clippy::too_many_arguments)]
unsafe fn panel(
    wide: bool,
    c: &mut [f32],
    rows: usize,
    n: usize,
    a: &[f32],
    a_rs: usize,
    a_ms: usize,
    b: &[f32],
    m_len: usize,
    mode: Accumulate,
) {
    if rows == 0 || n == 0 {
        // Nothing to write. (Returning here also keeps the pass loop below from offsetting
        // the dangling pointer of an empty `a` when `m_len` spans several passes.)
        return;
    }
    if m_len == 0 {
        if mode == Accumulate::Overwrite {
            c.fill(0.0);
        }
        return;
    }
    let pass = if wide { MB_WIDE } else { MB };
    let mut m0 = 0;
    while m0 < m_len {
        let mb = pass.min(m_len - m0);
        let (ap, bp) = (a.as_ptr().wrapping_add(m0 * a_ms), b.as_ptr().wrapping_add(m0 * n));
        let mode = if m0 > 0 { Accumulate::Add } else { mode };
        // SAFETY: rows m0..m0+mb of B and columns m0.. of A are in bounds (caller). The passes
        // that add to C are their own instance, which prefetches ([`super::prefetch_strip`]).
        unsafe {
            if mode == Accumulate::Add {
                panel_pass::<true>(wide, c, rows, n, ap, a_rs, a_ms, bp, mb, mode)
            } else {
                panel_pass::<false>(wide, c, rows, n, ap, a_rs, a_ms, bp, mb, mode)
            }
        };
        m0 += mb;
    }
}

/// One pass of [`panel`] over `m_len` rows of `B`.
///
/// # Safety
/// As for [`panel`], with `ap`/`bp` already offset to the pass.
#[allow(clippy::too_many_arguments)]
unsafe fn panel_pass<const PREFETCH: bool>(
    wide: bool,
    c: &mut [f32],
    rows: usize,
    n: usize,
    ap: *const f32,
    a_rs: usize,
    a_ms: usize,
    bp: *const f32,
    m_len: usize,
    mode: Accumulate,
) {
    // 6 rows x 2 vectors: 12 accumulators, two loads of B and the broadcasts fit AVX2's 16
    // registers (and NEON's 32 as 24 halves).
    const RB: usize = 6;
    let cp = c.as_mut_ptr();
    // Wide tiles first where the CPU has them (same bits, see avx512/mod.rs); they leave fewer
    // than 16 columns for the 8-lane tiles and the scalar tail below.
    #[cfg(target_arch = "x86_64")]
    // SAFETY: `wide` only comes from a `Simd` made where AVX-512F was detected; the bounds
    // are this function's own contract.
    let mut k0 =
        if wide { unsafe { super::avx512::pass::<PREFETCH>(cp, rows, n, ap, a_rs, a_ms, bp, m_len, mode) } } else { 0 };
    #[cfg(not(target_arch = "x86_64"))]
    let mut k0 = {
        let _ = wide;
        0
    };
    if !wide && a_rs == 1 && a_ms >= TRANSPOSE_FROM && m_len <= MB && rows >= AT_R {
        // SAFETY: forwarded from the caller; `m_len <= MB` as it requires.
        k0 = unsafe { pass_transposed8::<PREFETCH>(cp, rows, n, ap, a_ms, bp, m_len, mode) };
    }
    macro_rules! rows_loop {
        ($cv:literal) => {{
            let mut r0 = 0;
            while r0 + RB <= rows {
                // SAFETY: tile in bounds: r0 + RB <= rows, k0 + 8*CV <= n.
                unsafe { panel_block::<RB, $cv>(cp, n, r0, k0, ap, a_rs, a_ms, bp, m_len, mode) };
                r0 += RB;
            }
            // SAFETY: as above for the last rows - r0 < RB rows.
            unsafe {
                match rows - r0 {
                    5 => panel_block::<5, $cv>(cp, n, r0, k0, ap, a_rs, a_ms, bp, m_len, mode),
                    4 => panel_block::<4, $cv>(cp, n, r0, k0, ap, a_rs, a_ms, bp, m_len, mode),
                    3 => panel_block::<3, $cv>(cp, n, r0, k0, ap, a_rs, a_ms, bp, m_len, mode),
                    2 => panel_block::<2, $cv>(cp, n, r0, k0, ap, a_rs, a_ms, bp, m_len, mode),
                    1 => panel_block::<1, $cv>(cp, n, r0, k0, ap, a_rs, a_ms, bp, m_len, mode),
                    _ => {}
                }
            }
        }};
    }
    while k0 + 2 * LANES <= n {
        if PREFETCH {
            super::prefetch_strip(cp, n, rows, k0 + 2 * LANES, 2 * LANES);
        }
        rows_loop!(2);
        k0 += 2 * LANES;
    }
    if k0 + LANES <= n {
        rows_loop!(1);
        k0 += LANES;
    }
    for k in k0..n {
        // SAFETY: k < n, rows in range.
        unsafe { panel_column(cp, n, 0, rows, k, ap, a_rs, a_ms, bp, m_len, mode) };
    }
}

/// Rows of `A` transposed at a time by [`pass_transposed8`] (`AT_R x MB` floats, 24 KB).
const AT_R: usize = 48;
/// From this column stride of `A` (outputs of the weight gradient) its blocks are
/// transposed first: below it the rows of a tile share few cache lines' sets, and the copy
/// would cost more than it saves.
const TRANSPOSE_FROM: usize = 64;

/// The 8-lane tiles' columns `0..n - n % 8` of one pass for `A` stored by columns (`A(r, m)
/// = ap[r + m * a_ms]`, the weight gradient's `delta^T`): blocks of [`AT_R`] rows of `A` are
/// copied transposed first, so the broadcasts of a tile read along `m` from one small block
/// instead of one cache line per `m` at a stride of `a_ms` floats (which, for strides of a
/// power of two, fall into the same few L1 sets). Same operations per element as the tiles
/// read in place; returns where the remaining columns start.
///
/// # Safety
/// As for [`panel_pass`] with `a_rs = 1` and `m_len <= MB`.
#[allow(clippy::too_many_arguments)]
unsafe fn pass_transposed8<const PREFETCH: bool>(
    cp: *mut f32,
    rows: usize,
    n: usize,
    ap: *const f32,
    a_ms: usize,
    bp: *const f32,
    m_len: usize,
    mode: Accumulate,
) -> usize {
    const RB: usize = 6;
    let mut at = [0.0f32; AT_R * MB];
    let cols = n - n % LANES;
    let mut r0 = 0;
    while r0 < rows {
        let rc = AT_R.min(rows - r0);
        for m in 0..m_len {
            for r in 0..rc {
                // SAFETY: A(r0 + r, m) = ap[r0 + r + m * a_ms] for r0 + r < rows, m < m_len (caller).
                at[r * MB + m] = unsafe { *ap.add(r0 + r + m * a_ms) };
            }
        }
        let (c, a) = (cp.wrapping_add(r0 * n), at.as_ptr());
        let mut k0 = 0;
        macro_rules! rows_loop {
            ($cv:literal) => {{
                let mut r = 0;
                // SAFETY (every tile below): C rows r0 + r .. + h <= rows, columns k0 .. k0 +
                // 8 * CV <= n; rows r .. r + h < rc of the block, m < m_len <= MB; B rows m < m_len.
                while r + RB <= rc {
                    unsafe { panel_block::<RB, $cv>(c, n, r, k0, a, MB, 1, bp, m_len, mode) };
                    r += RB;
                }
                unsafe {
                    match rc - r {
                        5 => panel_block::<5, $cv>(c, n, r, k0, a, MB, 1, bp, m_len, mode),
                        4 => panel_block::<4, $cv>(c, n, r, k0, a, MB, 1, bp, m_len, mode),
                        3 => panel_block::<3, $cv>(c, n, r, k0, a, MB, 1, bp, m_len, mode),
                        2 => panel_block::<2, $cv>(c, n, r, k0, a, MB, 1, bp, m_len, mode),
                        1 => panel_block::<1, $cv>(c, n, r, k0, a, MB, 1, bp, m_len, mode),
                        _ => {}
                    }
                }
            }};
        }
        while k0 + 2 * LANES <= cols {
            if PREFETCH {
                super::prefetch_strip(c, n, rc, k0 + 2 * LANES, 2 * LANES);
            }
            rows_loop!(2);
            k0 += 2 * LANES;
        }
        if k0 < cols {
            rows_loop!(1);
        }
        r0 += rc;
    }
    cols
}

impl Simd {
    /// The 8-lane tiles (AVX2 + FMA on x86_64, two NEON halves on ARM64; plain arrays where
    /// `wide` has no vectors).
    pub const LANES8: Simd = Simd { wide: false };

    /// The 16-lane AVX-512 tiles, if this CPU and OS run AVX-512F code.
    pub fn lanes16() -> Option<Simd> {
        #[cfg(target_arch = "x86_64")]
        if super::avx512::available() {
            return Some(Simd { wide: true });
        }
        None
    }

    /// The widest tiles this CPU runs.
    pub fn detect() -> Simd {
        Simd::lanes16().unwrap_or(Simd::LANES8)
    }

    /// Whether this value runs the 16-lane AVX-512 tiles.
    pub fn is_lanes16(self) -> bool {
        self.wide
    }

    /// `kernels::bias_activation` as these kernels run it: the softmax's exponentials sixteen
    /// lanes at a time with the AVX-512 tiles, eight otherwise; the same bits.
    #[inline(always)]
    pub(super) fn bias_activation(self, y: &mut [f32], b: &[f32], act: Activation) {
        #[cfg(target_arch = "x86_64")]
        if self.wide && act == Activation::Softmax {
            // SAFETY: `wide` is only set where AVX-512F was detected.
            unsafe { super::avx512::softmax_rows(y, b.len(), Some(b)) };
            return;
        }
        bias_activation_x8(y, b, act)
    }

    /// Whether the forward product computed on consecutive blocks of `per` samples (the last
    /// block holding what is left) gives the same bits as on the whole `batch`: each output
    /// is computed by the same operations unless a block's size changes the path (the
    /// forward sums as chains from 16 samples and outputs on, so every block, the short
    /// last one included, must fall on the same side of that size as the whole batch).
    pub fn forward_splits_exactly(self, batch: usize, outputs: usize, per: usize) -> bool {
        if per == 0 || batch == 0 {
            return per != 0;
        }
        let last = batch - (batch.div_ceil(per) - 1) * per;
        chains(batch, outputs) == chains(per.min(batch), outputs) && chains(batch, outputs) == chains(last, outputs)
    }

    /// Rows `j0 .. j0 + rows` of `d_w += delta^T x` (or `=` without `accumulate`), where
    /// `d_w_rows` holds those rows (`rows x inputs`) and `delta` (batch x outputs) and `x`
    /// (batch x inputs) are whole: the same bits as [`Kernels::weight_grad`](super::Kernels::weight_grad) (or
    /// [`Kernels::weight_grad_into`](super::Kernels::weight_grad_into)) gives for those rows, so a caller can split the product
    /// across threads by rows.
    pub fn weight_grad_rows(
        &self,
        d: Dims,
        delta: &[f32],
        x: &[f32],
        d_w_rows: &mut [f32],
        j0: usize,
        mode: Accumulate,
    ) -> Result<(), Error> {
        let (xs, _, ys) = d.lens()?;
        check_len(Buffer::Delta, ys, delta.len())?;
        check_len(Buffer::Input, xs, x.len())?;
        let rows = d_w_rows.len().checked_div(d.inputs).unwrap_or(0);
        let end = j0.checked_add(rows).ok_or(Error::TooLarge)?;
        if end > d.outputs || rows * d.inputs != d_w_rows.len() {
            return Err(Error::BadLength {
                buffer: Buffer::Grads,
                expected: (d.outputs.saturating_sub(j0)) * d.inputs,
                got: d_w_rows.len(),
            });
        }
        if rows == 0 || d.inputs == 0 {
            return Ok(());
        }
        if d.batch == 0 {
            if mode == Accumulate::Overwrite {
                d_w_rows.fill(0.0);
            }
            return Ok(());
        }
        let a = delta.get(j0..).ok_or(Error::TooLarge)?;
        // SAFETY: C = d_w_rows (rows x inputs); A(r, s) = a[r + s * outputs] is inside `a`
        // for r < rows <= outputs - j0, s < batch; B = x (batch x inputs): lengths checked above.
        unsafe { panel(self.wide, d_w_rows, rows, d.inputs, a, 1, d.outputs, x, d.batch, mode) };
        Ok(())
    }

    /// Whether the forward product computed for consecutive blocks of `per` neurons (rows of
    /// `W`, the last block holding what is left), each block on the whole batch, gives the
    /// same bits for those outputs as the whole product: as for samples
    /// ([`Simd::forward_splits_exactly`]), every block must take the whole product's side of
    /// the chained path's threshold.
    pub fn forward_splits_neurons_exactly(self, batch: usize, outputs: usize, per: usize) -> bool {
        if per == 0 || outputs == 0 {
            return per != 0;
        }
        let last = outputs - (outputs.div_ceil(per) - 1) * per;
        chains(batch, outputs) == chains(batch, per.min(outputs)) && chains(batch, outputs) == chains(batch, last)
    }
}

/// A forward with no products to compute: nothing without samples or outputs, `y = act(b)`
/// without inputs (the tiles assume at least one). Returns whether that was the case.
fn without_products(k: Simd, d: Dims, y: &mut [f32], b: &[f32], act: Activation) -> bool {
    if d.outputs == 0 || d.batch == 0 {
        return true;
    }
    if d.inputs == 0 {
        y.fill(0.0);
        k.bias_activation(y, b, act);
        return true;
    }
    false
}

impl RawKernels for Simd {
    fn dense_forward_impl(&self, d: Dims, x: &[f32], w: &[f32], b: &[f32], y: &mut [f32], act: Activation) {
        if !d.fits(x.len(), w.len(), y.len()) || b.len() != d.outputs {
            return;
        }
        if without_products(*self, d, y, b, act) {
            return;
        }
        #[cfg(target_arch = "x86_64")]
        if self.wide {
            // SAFETY: `wide` is only set where AVX-512F was detected; lengths checked by the guard above:
            // x = batch*inputs, w = outputs*inputs, y = batch*outputs.
            // The identity and the ReLU go with the bias into the tiles that finish outputs.
            let (xp, wp, yp) = (x.as_ptr(), w.as_ptr(), y.as_mut_ptr());
            if !unsafe { super::avx512::forward(xp, wp, yp, d.batch, d.inputs, d.outputs, Some((b, act))) } {
                self.bias_activation(y, b, act);
            }
            return;
        }
        if chains(d.batch, d.outputs) {
            // SAFETY: lengths checked by the guard above: x = batch*inputs, w =
            // outputs*inputs, y = batch*outputs; inputs > 0.
            unsafe {
                let (x, w, y) = (x.as_ptr(), w.as_ptr(), y.as_mut_ptr());
                if d.batch >= W_MIN && d.outputs >= 2 * LANES {
                    forward_w(x, w, y, d.batch, d.inputs, d.outputs);
                } else {
                    forward_chains(x, w, y, d.outputs, d.batch, d.inputs, d.outputs);
                }
            };
            self.bias_activation(y, b, act);
            return;
        }
        // SAFETY: lengths checked by the guard above: x = batch*inputs, w = outputs*inputs,
        // y = batch*outputs.
        unsafe {
            if super::prefetch_rows(d.inputs, d.outputs) {
                forward_dots::<true>(d, x, w, y);
            } else {
                forward_dots::<false>(d, x, w, y);
            }
        }
        self.bias_activation(y, b, act);
    }

    fn weight_grad_impl(&self, d: Dims, delta: &[f32], x: &[f32], d_w: &mut [f32]) {
        if !d.fits(x.len(), d_w.len(), delta.len()) {
            return;
        }
        // C = d_w (outputs x inputs), A(j, s) = delta[s * outputs + j], B = x (batch x inputs).
        // SAFETY: lengths were checked by `Kernels::weight_grad`.
        unsafe { panel(self.wide, d_w, d.outputs, d.inputs, delta, 1, d.outputs, x, d.batch, Accumulate::Add) }
    }

    fn weight_grad_into_impl(&self, d: Dims, delta: &[f32], x: &[f32], d_w: &mut [f32]) {
        if !d.fits(x.len(), d_w.len(), delta.len()) {
            return;
        }
        // SAFETY: lengths checked by the guard above; the sums start from zero.
        unsafe { panel(self.wide, d_w, d.outputs, d.inputs, delta, 1, d.outputs, x, d.batch, Accumulate::Overwrite) }
    }

    fn input_grad_impl(&self, d: Dims, delta: &[f32], w: &[f32], d_x: &mut [f32]) {
        if !d.fits(d_x.len(), w.len(), delta.len()) {
            return;
        }
        // C = d_x (batch x inputs), A(s, j) = delta[s * outputs + j], B = W (outputs x inputs).
        // SAFETY: lengths were checked by `Kernels::input_grad`.
        unsafe { panel(self.wide, d_x, d.batch, d.inputs, delta, d.outputs, 1, w, d.outputs, Accumulate::Overwrite) }
    }

    fn dense_forward_packed_impl(&self, d: Dims, x: &[f32], wp: &[f32], b: &[f32], y: &mut [f32], act: Activation) {
        if !d.fits_packed(x.len(), wp.len(), y.len()) || b.len() != d.outputs {
            return;
        }
        if without_products(*self, d, y, b, act) {
            return;
        }
        for (xs, ys) in x.chunks_exact(d.inputs).zip(y.chunks_exact_mut(d.outputs)) {
            #[cfg(target_arch = "x86_64")]
            if self.wide {
                // SAFETY: `wide` is only set where AVX-512F was detected; `xs` holds `inputs`
                // floats, `ys` `outputs`, `wp` the packed layout's (guard above).
                unsafe {
                    super::avx512::forward_packed(xs.as_ptr(), wp.as_ptr(), ys.as_mut_ptr(), d.inputs, d.outputs)
                };
                continue;
            }
            // SAFETY: as above, for the 8-lane reading of the same layout.
            unsafe { forward_packed(xs.as_ptr(), wp.as_ptr(), ys.as_mut_ptr(), d.inputs, d.outputs) };
        }
        self.bias_activation(y, b, act);
    }
}
