//! The 8-lane forward product: chains over packed `x^T` blocks or `W^T` panels from 16
//! samples and outputs ([`super::chains`]), dot products summed in 16 lanes below.

// INVARIANT: as in the parent module, every entry is reached only after `Dims::fits` held
// for its slices, and all indices are derived from those `Dims`.
#![allow(clippy::indexing_slicing)]

use super::{load, tile8, Dims, LANES};
use crate::kernels::Accumulate;
use wide::f32x8;

/// The 16 floats at `p`, those from `len` on read as zeros (the masked load of a 16-lane
/// machine, in two 8-lane halves).
///
/// # Safety
/// `p..p + len.min(16)` is inside one live `f32` allocation.
#[inline(always)]
unsafe fn load16(p: *const f32, len: usize) -> [f32x8; 2] {
    if len >= 2 * LANES {
        // SAFETY: 16 readable floats (caller).
        return unsafe { [load(p), load(p.add(LANES))] };
    }
    let mut buf = [[0.0f32; LANES]; 2];
    for (i, v) in buf.iter_mut().flatten().take(len).enumerate() {
        // SAFETY: i < len (caller).
        *v = unsafe { *p.add(i) };
    }
    [f32x8::from(buf[0]), f32x8::from(buf[1])]
}

/// The sum of 16 lanes (`lo`, `hi`) by the tree every forward dot product uses on every
/// width: the two halves added lane by lane, then halves of 4, then lanes 0 + 2 and 1 + 3,
/// then those two.
#[inline(always)]
fn sum16(lo: f32x8, hi: f32x8) -> f32 {
    let t = (lo + hi).to_array();
    let u = [t[0] + t[4], t[1] + t[5], t[2] + t[6], t[3] + t[7]];
    (u[0] + u[2]) + (u[1] + u[3])
}

/// `out[i][j] = x_i . w_j` for MR rows of `x` and NR rows of `w`, all of length `n`, each
/// summed in 16 lanes (two 8-lane halves; the last `n % 16` inputs as a zero-padded block)
/// and then by [`sum16`]: the bits of the AVX-512 dot tiles. With `PF`, each row of `w` is
/// prefetched a few lines ahead ([`prefetch_ahead`](crate::kernels::prefetch_ahead)).
///
/// # Safety
/// `x` points to MR rows and `w` to NR rows of `n` floats each, at stride `n`.
#[inline(always)]
#[allow(clippy::needless_range_loop)] // i, j index two arrays in lockstep
unsafe fn dot_block<const MR: usize, const NR: usize, const PF: bool>(
    x: *const f32,
    w: *const f32,
    n: usize,
) -> [[f32; NR]; MR] {
    let mut acc = [[[f32x8::ZERO; 2]; NR]; MR];
    let n16 = n - n % (2 * LANES);
    let mut k = 0;
    while k < n16 {
        // SAFETY: inputs k..k + 16 <= n of each row (caller's rows).
        fma_block::<MR, NR, PF>(&mut acc, x, w, n, k, |p| unsafe { [load(p), load(p.add(LANES))] });
        k += 2 * LANES;
    }
    if k < n {
        // The last n % 16 inputs as a zero-padded block of 16: the same operations on every
        // lane as a masked 16-lane load.
        let len = n - k;
        // SAFETY: inputs k..n of each row (caller's rows).
        fma_block::<MR, NR, PF>(&mut acc, x, w, n, k, |p| unsafe { load16(p, len) });
    }
    let mut out = [[0.0f32; NR]; MR];
    for i in 0..MR {
        for j in 0..NR {
            out[i][j] = sum16(acc[i][j][0], acc[i][j][1]);
        }
    }
    out
}

/// One block of 16 inputs from `k` of [`dot_block`]: `ld(p)` reads the 16 lanes at `p` (row
/// `i` of `x` or `j` of `w`, offset `k`) and every accumulator takes its two fused
/// multiply-adds.
#[inline(always)]
#[allow(clippy::needless_range_loop)] // i, j index two arrays in lockstep
fn fma_block<const MR: usize, const NR: usize, const PF: bool>(
    acc: &mut [[[f32x8; 2]; NR]; MR],
    x: *const f32,
    w: *const f32,
    n: usize,
    k: usize,
    ld: impl Fn(*const f32) -> [f32x8; 2],
) {
    let xv: [[f32x8; 2]; MR] = core::array::from_fn(|i| ld(x.wrapping_add(i * n + k)));
    for j in 0..NR {
        if PF {
            crate::kernels::prefetch_ahead(w.wrapping_add(j * n + k));
        }
        let wv = ld(w.wrapping_add(j * n + k));
        for i in 0..MR {
            acc[i][j][0] = xv[i][0].mul_add(wv[0], acc[i][j][0]);
            acc[i][j][1] = xv[i][1].mul_add(wv[1], acc[i][j][1]);
        }
    }
}

/// Writes the MR x NR block of `y` (row stride `m`) starting at sample `s`, output `j`.
///
/// # Safety
/// Rows `s..s+MR` of x/y and `j..j+NR` of w exist for the dims `d`.
#[inline(always)]
unsafe fn forward_block<const MR: usize, const NR: usize, const PF: bool>(
    d: Dims,
    x: &[f32],
    w: &[f32],
    y: &mut [f32],
    s: usize,
    j: usize,
) {
    let n = d.inputs;
    // SAFETY: forwarded from the caller.
    let blk = unsafe { dot_block::<MR, NR, PF>(x.as_ptr().add(s * n), w.as_ptr().add(j * n), n) };
    for (i, row) in blk.iter().enumerate() {
        let base = (s + i) * d.outputs + j;
        y[base..base + NR].copy_from_slice(row);
    }
}

/// Samples and outputs per dot block: 2 x 2 blocks of 16-lane sums fill 8 accumulators and
/// leave room for both samples' inputs; a single sample reads 4 rows of `W` side by side.
const FMR: usize = 2;
const FNR: usize = 2;
const FNR1: usize = 4;

/// `y = x W^T` by dot blocks ([`forward_block`]), the forward below the chained batch and
/// output counts; with `PF`, a single sample's blocks prefetch their rows of `W` (for a `W`
/// larger than L1, [`prefetch_rows`](crate::kernels::prefetch_rows)).
///
/// # Safety
/// `d` fits the slices: `x` holds `batch x inputs`, `w` holds `outputs x inputs` and `y` holds
/// `batch x outputs` floats.
#[inline(always)]
pub(super) unsafe fn forward_dots<const PF: bool>(d: Dims, x: &[f32], w: &[f32], y: &mut [f32]) {
    let mut s = 0;
    while s < d.batch {
        let mr = FMR.min(d.batch - s);
        let mut j = 0;
        while j < d.outputs {
            let nr = if mr == 1 { FNR1 } else { FNR }.min(d.outputs - j);
            macro_rules! go {
                ($($a:literal $b:literal $pf:expr),*) => {
                    match (mr, nr) {
                        // SAFETY: s + mr <= batch and j + nr <= outputs, inside the slices
                        // (caller).
                        $(($a, $b) => unsafe { forward_block::<$a, $b, $pf>(d, x, w, y, s, j) },)*
                        _ => {}
                    }
                };
            }
            go!(2 2 false, 2 1 false, 1 4 PF, 1 3 PF, 1 2 PF, 1 1 PF);
            j += nr;
        }
        s += mr;
    }
}

/// One sample's forward from packed weights (`kernels::packed`): for each block of rows,
/// the 16-lane dot products of [`dot_block`] (two 8-lane halves, fused chains over the
/// steps in order, the padded step's lanes past the inputs `0 x 0`, then [`sum16`]), with a
/// step's rows read one after another: the bits of [`forward_dots`] for the sample.
///
/// # Safety
/// `x` holds `n > 0` floats, `y` `outputs`, and `wp` the packed layout of `outputs x n`
/// weights (`packed::packed_len(n, outputs)` floats).
pub(super) unsafe fn forward_packed(x: *const f32, wp: *const f32, y: *mut f32, n: usize, outputs: usize) {
    for (j0, r, at) in crate::kernels::packed::blocks(n.next_multiple_of(2 * LANES), outputs) {
        macro_rules! go {
            ($($r:literal)*) => {
                match r {
                    // SAFETY: the block of rows j0..j0 + r starts at float `at` of the layout
                    // and holds r * n.next_multiple_of(16) floats; y has outputs >= j0 + r
                    // floats (caller).
                    $($r => unsafe { packed_block::<$r>(x, wp.add(at), n, y.add(j0)) },)*
                    _ => {}
                }
            };
        }
        go!(4 3 2 1);
    }
}

/// The block of `RN` rows at `wp` of [`forward_packed`]: per step its `RN` rows of 16, the
/// 16-lane dot products of [`dot_block`] (4 rows' two halves fill 8 accumulators and leave
/// registers for the sample's and the weights' halves: 16 `ymm` registers on AVX2).
///
/// # Safety
/// `x` holds `n` floats, `wp` `RN * n.next_multiple_of(16)`, `y` `RN`.
#[inline(always)]
unsafe fn packed_block<const RN: usize>(x: *const f32, wp: *const f32, n: usize, y: *mut f32) {
    let stride = RN * 2 * LANES;
    let mut acc = [[f32x8::ZERO; 2]; RN];
    let step = |acc: &mut [[f32x8; 2]; RN], xv: [f32x8; 2], bp: *const f32| {
        for (j, a) in acc.iter_mut().enumerate() {
            // SAFETY: the step's rows of 16 floats lie at bp (caller).
            let wv = unsafe { [load(bp.add(j * 2 * LANES)), load(bp.add(j * 2 * LANES + LANES))] };
            a[0] = xv[0].mul_add(wv[0], a[0]);
            a[1] = xv[1].mul_add(wv[1], a[1]);
        }
    };
    let mut bp = wp;
    let mut k = 0;
    while k + 2 * LANES <= n {
        // SAFETY: inputs k..k + 16 <= n of x; the step's rows at bp (caller).
        let xv = unsafe { [load(x.add(k)), load(x.add(k + LANES))] };
        step(&mut acc, xv, bp);
        bp = bp.wrapping_add(stride);
        k += 2 * LANES;
    }
    if k < n {
        // SAFETY: inputs k..n of x (the rest read as zeros); the padded step at bp (caller).
        let xv = unsafe { load16(x.add(k), n - k) };
        step(&mut acc, xv, bp);
    }
    for (j, a) in acc.iter().enumerate() {
        // SAFETY: j < RN floats of y (caller).
        unsafe { *y.add(j) = sum16(a[0], a[1]) };
    }
}

/// Samples per block of the chained forward: two vectors.
const SB: usize = 2 * LANES;
/// Largest input block packed at once by [`forward_chains`] (`KC x SB` floats, 16 KB).
const KC: usize = 256;
/// Outputs per block of [`forward_chains`]' accumulator scratch (`OC x SB` floats, 8 KB).
const OC: usize = 128;

/// Block length for cutting `n` inputs into blocks of at most `max`, all of equal size but
/// the last (a short last block would pay the tiles' set-up for little work); both widths'
/// forwards cut by it.
pub(in crate::kernels) fn even_block(n: usize, max: usize) -> usize {
    n.div_ceil(n.div_ceil(max).max(1))
}

/// `dst[c * dst_rs + r] = src[r * src_rs + c]` for `r < rows`, `c < cols`: 8 x 8 blocks
/// through registers on x86_64 (AVX, which the build targets), element by element elsewhere
/// and at the edges.
///
/// # Safety
/// `src` is valid for `rows` rows of `cols` floats at stride `src_rs`; `dst` for `cols` rows
/// of `rows` floats at stride `dst_rs`; the two do not overlap.
unsafe fn transpose_into(src: *const f32, src_rs: usize, rows: usize, cols: usize, dst: *mut f32, dst_rs: usize) {
    // Rows done in blocks of 8.
    #[cfg(all(target_arch = "x86_64", target_feature = "avx"))]
    let done = {
        let mut r0 = 0;
        while r0 + LANES <= rows {
            let mut c0 = 0;
            while c0 + LANES <= cols {
                if c0 % (2 * LANES) == 0 {
                    for r in r0..r0 + LANES {
                        // The same rows' lines four on: rows `src_rs` apart, 8 at once, which
                        // the hardware prefetchers follow poorly.
                        crate::kernels::prefetch_ahead(src.wrapping_add(r * src_rs + c0));
                    }
                }
                // SAFETY: rows r0..r0 + 8 <= rows of columns c0..c0 + 8 <= cols in src, and
                // the transposed block in dst (caller).
                unsafe { transpose8x8(src.add(r0 * src_rs + c0), src_rs, dst.add(c0 * dst_rs + r0), dst_rs) };
                c0 += LANES;
            }
            for r in r0..r0 + LANES {
                for c in c0..cols {
                    // SAFETY: r < rows, c < cols (caller).
                    unsafe { *dst.add(c * dst_rs + r) = *src.add(r * src_rs + c) };
                }
            }
            r0 += LANES;
        }
        r0
    };
    #[cfg(not(all(target_arch = "x86_64", target_feature = "avx")))]
    let done = 0;
    for r in done..rows {
        for c in 0..cols {
            // SAFETY: r < rows, c < cols (caller).
            unsafe { *dst.add(c * dst_rs + r) = *src.add(r * src_rs + c) };
        }
    }
}

/// One 8 x 8 block of [`transpose_into`] in eight `ymm` registers.
///
/// # Safety
/// `src` is valid for 8 rows of 8 floats at stride `src_rs`, `dst` likewise at `dst_rs`.
#[cfg(all(target_arch = "x86_64", target_feature = "avx"))]
#[inline]
#[target_feature(enable = "avx")]
unsafe fn transpose8x8(src: *const f32, src_rs: usize, dst: *mut f32, dst_rs: usize) {
    use core::arch::x86_64::{
        _mm256_loadu_ps, _mm256_permute2f128_ps, _mm256_shuffle_ps, _mm256_storeu_ps, _mm256_unpackhi_ps,
        _mm256_unpacklo_ps,
    };
    // SAFETY: row i of the block is src[i * src_rs .. + 8] (caller).
    let r: [_; 8] = core::array::from_fn(|i| unsafe { _mm256_loadu_ps(src.add(i * src_rs)) });
    let t = [
        _mm256_unpacklo_ps(r[0], r[1]),
        _mm256_unpackhi_ps(r[0], r[1]),
        _mm256_unpacklo_ps(r[2], r[3]),
        _mm256_unpackhi_ps(r[2], r[3]),
        _mm256_unpacklo_ps(r[4], r[5]),
        _mm256_unpackhi_ps(r[4], r[5]),
        _mm256_unpacklo_ps(r[6], r[7]),
        _mm256_unpackhi_ps(r[6], r[7]),
    ];
    let u = [
        _mm256_shuffle_ps::<0x44>(t[0], t[2]),
        _mm256_shuffle_ps::<0xEE>(t[0], t[2]),
        _mm256_shuffle_ps::<0x44>(t[1], t[3]),
        _mm256_shuffle_ps::<0xEE>(t[1], t[3]),
        _mm256_shuffle_ps::<0x44>(t[4], t[6]),
        _mm256_shuffle_ps::<0xEE>(t[4], t[6]),
        _mm256_shuffle_ps::<0x44>(t[5], t[7]),
        _mm256_shuffle_ps::<0xEE>(t[5], t[7]),
    ];
    let o = [
        _mm256_permute2f128_ps::<0x20>(u[0], u[4]),
        _mm256_permute2f128_ps::<0x20>(u[1], u[5]),
        _mm256_permute2f128_ps::<0x20>(u[2], u[6]),
        _mm256_permute2f128_ps::<0x20>(u[3], u[7]),
        _mm256_permute2f128_ps::<0x31>(u[0], u[4]),
        _mm256_permute2f128_ps::<0x31>(u[1], u[5]),
        _mm256_permute2f128_ps::<0x31>(u[2], u[6]),
        _mm256_permute2f128_ps::<0x31>(u[3], u[7]),
    ];
    for (i, v) in o.iter().enumerate() {
        // SAFETY: row i of the transposed block is dst[i * dst_rs .. + 8] (caller).
        unsafe { _mm256_storeu_ps(dst.add(i * dst_rs), *v) };
    }
}

/// Runs `tile8::<h, CV>` for the `h = rows % 6` rows left after the 6-row tiles: the
/// arguments of [`tile8`] after the row count.
macro_rules! tile8_rest {
    ($cv:literal, $h:expr, $($arg:expr),*) => {
        match $h {
            5 => tile8::<5, $cv>($($arg),*),
            4 => tile8::<4, $cv>($($arg),*),
            3 => tile8::<3, $cv>($($arg),*),
            2 => tile8::<2, $cv>($($arg),*),
            1 => tile8::<1, $cv>($($arg),*),
            _ => {}
        }
    };
}

/// The forward product `y[s][j] = sum_k x[s][k] W[j][k]` as `y^T = W x^T`, each output one
/// fused multiply-add chain over `k` in order from 0 (the bits of the AVX-512 chains and of
/// `f32::mul_add` in a loop): per block of 16 samples, `x^T` is packed (inputs in blocks of
/// at most [`KC`], samples past the batch as zeros) and 6 rows of `W` at a time are broadcast
/// from where they lie against it; the accumulator scratch is transposed into `y` (row
/// stride `y_rs`) once all inputs are summed.
///
/// # Safety
/// `x` holds `batch x n`, `w` `outputs x n` floats, `y` `batch` rows of `y_rs >= outputs`
/// floats; `n > 0`.
pub(super) unsafe fn forward_chains(
    x: *const f32,
    w: *const f32,
    y: *mut f32,
    y_rs: usize,
    batch: usize,
    n: usize,
    outputs: usize,
) {
    const RB: usize = 6;
    let mut xt = [0.0f32; KC * SB];
    let mut ct = [0.0f32; OC * SB];
    let kc = even_block(n, KC);
    let mut s0 = 0;
    while s0 < batch {
        let sb = SB.min(batch - s0);
        if sb < SB {
            // The samples past the batch stay zero in every block.
            xt.fill(0.0);
        }
        let mut o0 = 0;
        while o0 < outputs {
            let oc = OC.min(outputs - o0);
            let mut k0 = 0;
            while k0 < n {
                let kw = kc.min(n - k0);
                // SAFETY: samples s0..s0 + sb of x, inputs k0..k0 + kw <= n; kw <= KC rows of SB.
                unsafe { transpose_into(x.add(s0 * n + k0), n, sb, kw, xt.as_mut_ptr(), SB) };
                let mode = if k0 > 0 { Accumulate::Add } else { Accumulate::Overwrite };
                let (c, b) = (ct.as_mut_ptr(), xt.as_ptr());
                macro_rules! rows_loop {
                    ($cv:literal) => {{
                        let mut r = 0;
                        // SAFETY (every tile below): scratch rows r .. r + h <= oc <= OC of SB
                        // floats; rows o0 + r .. + h <= outputs of W, inputs k0 .. k0 + kw <= n;
                        // the packed block holds kw <= KC rows of SB floats.
                        while r + RB <= oc {
                            unsafe {
                                tile8::<RB, $cv>(c.add(r * SB), SB, w.add((o0 + r) * n + k0), n, 1, b, SB, kw, mode)
                            };
                            r += RB;
                        }
                        unsafe {
                            tile8_rest!($cv, oc - r, c.add(r * SB), SB, w.add((o0 + r) * n + k0), n, 1, b, SB, kw, mode)
                        };
                    }};
                }
                if sb > LANES {
                    rows_loop!(2);
                } else {
                    rows_loop!(1);
                }
                k0 += kw;
            }
            // SAFETY: y rows s0..s0 + sb (stride y_rs), columns o0..o0 + oc exist; ct holds oc x SB.
            unsafe { transpose_into(ct.as_ptr(), SB, oc, sb, y.add(s0 * y_rs + o0), y_rs) };
            o0 += oc;
        }
        s0 += sb;
    }
}

/// From this many samples the chained forward packs `W^T` instead of `x^T`
/// ([`forward_w`]): the weights are then moved once per call while the samples are read in place.
pub(super) const W_MIN: usize = 128;
/// Inputs per packed block of `W^T` in both widths' `forward_w`: each block loads and stores
/// every output tile once more (from L2 at these batches, a stall at each tile's start), so
/// the blocks are long: 784 inputs in two (BENCHMARKS.md, "Kernel choices").
pub(in crate::kernels) const KC_W: usize = 400;
/// Outputs per packed block of `W^T` in both widths' `forward_w` (`KC_W x OC_W` floats,
/// 200 KB on the stack).
pub(in crate::kernels) const OC_W: usize = 128;

/// The chained forward as `y = x W^T` with `W^T` packed in 16-wide panels (blocks of
/// [`KC_W`] inputs and [`OC_W`] outputs) and 6 samples at a time broadcast from their rows;
/// outputs past the last full panel go to [`forward_chains`]. Same bits as [`forward_chains`].
///
/// # Safety
/// As for [`forward_chains`] with `y_rs = outputs`.
// Never inlined: its 200 KB frame (and the stack probes a frame that large takes) would
// otherwise be set up by every forward of the caller, a single sample's included.
#[inline(never)]
pub(super) unsafe fn forward_w(x: *const f32, w: *const f32, y: *mut f32, batch: usize, n: usize, outputs: usize) {
    const RB: usize = 6;
    const PW: usize = 2 * LANES;
    // Only what the transposes below write is read, so the block is left uninitialised.
    let mut pack = core::mem::MaybeUninit::<[f32; KC_W * OC_W]>::uninit();
    let pack = pack.as_mut_ptr().cast::<f32>();
    let full = outputs - outputs % PW;
    let kc = even_block(n, KC_W);
    let mut o0 = 0;
    while o0 < full {
        let oc = OC_W.min(full - o0);
        let mut k0 = 0;
        while k0 < n {
            let kw = kc.min(n - k0);
            for p in 0..oc / PW {
                // SAFETY: rows o0 + 16p .. + 16 <= full of W, inputs k0..k0 + kw <= n; the
                // panel's kw x 16 floats start at p * kw * 16 < KC_W * OC_W.
                unsafe { transpose_into(w.add((o0 + p * PW) * n + k0), n, PW, kw, pack.add(p * kw * PW), PW) };
            }
            let mode = if k0 > 0 { Accumulate::Add } else { Accumulate::Overwrite };
            let mut s0 = 0;
            while s0 < batch {
                let h = RB.min(batch - s0);
                for p in 0..oc / PW {
                    // SAFETY: samples s0..s0 + h of x and y, outputs o0 + 16p .. + 16 <= full,
                    // inputs k0..k0 + kw; panel p of the pack holds kw x 16 floats.
                    unsafe {
                        let (c, a, b) = (y.add(s0 * outputs + o0 + p * PW), x.add(s0 * n + k0), pack.add(p * kw * PW));
                        if h == RB {
                            tile8::<RB, 2>(c, outputs, a, n, 1, b, PW, kw, mode);
                        } else {
                            tile8_rest!(2, h, c, outputs, a, n, 1, b, PW, kw, mode);
                        }
                    }
                }
                s0 += h;
            }
            k0 += kw;
        }
        o0 += oc;
    }
    if full < outputs {
        // SAFETY: rows full..outputs of W and the same columns of y (row stride outputs).
        unsafe { forward_chains(x, w.add(full * n), y.add(full), outputs, batch, n, outputs - full) };
    }
}
