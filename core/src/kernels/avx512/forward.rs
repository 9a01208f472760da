//! The forward product: chained tiles over packed `x^T` or `W^T` blocks, dot tiles for few
//! samples or outputs.

use super::tiles::{tile_any, tile_height, Finish};
use super::{transpose_into, Aligned, LANES};
use crate::activation::Activation;
use crate::kernels::Accumulate;
use core::arch::x86_64::{
    _mm512_fmadd_ps, _mm512_loadu_ps, _mm512_maskz_loadu_ps, _mm512_reduce_add_ps, _mm512_setzero_ps,
};
use core::mem::MaybeUninit;

/// Samples per block of the transposed forward: two vectors of 16.
const SB: usize = 2 * LANES;
// From 16 samples and outputs the forward runs [`forward_t`]; below, the dot tiles, which
// were faster there (BENCHMARKS.md, "Kernel choices"). The rule is `simd::chains`, shared
// with the 8-lane tiles, since it decides the bits.
use crate::kernels::simd::{chains, even_block};
/// Largest input block packed at once (`KC_T x SB` floats, 32 KB).
const KC_T: usize = 256;
/// Outputs per block of the transposed forward's accumulator scratch (`OC x SB`, 16 KB).
const OC: usize = 128;

/// Forward product `y[s][j] = sum_k x[s][k] W[j][k]` computed as `y^T = W x^T`: for each
/// block of 32 samples, `x^T` is packed (inputs in blocks of at most [`KC_T`]) and 8 rows of
/// `W` at a time are broadcast against it from where they lie, so the weights are never
/// copied; each output is one fused multiply-add chain over `k` in order starting from 0,
/// whatever the batch or block sizes. The 12 x 32 accumulator tiles go through a
/// scratch block that is transposed into `y` once all inputs are summed.
///
/// # Safety
/// [`available`](super::available) returned true; `x` holds `batch x n`, `w` holds `outputs x n` and `y`
/// holds `batch x outputs` floats.
#[target_feature(enable = "avx512f")]
unsafe fn forward_t(x: *const f32, w: *const f32, y: *mut f32, y_rs: usize, batch: usize, n: usize, outputs: usize) {
    let mut xt = Aligned([0.0f32; KC_T * SB]);
    let mut ct = Aligned([0.0f32; OC * SB]);
    let (xt, ct) = (&mut xt.0, &mut ct.0);
    let kc = even_block(n, KC_T);
    let mut s0 = 0;
    while s0 < batch {
        let sb = SB.min(batch - s0);
        let cv2 = sb > LANES;
        let mut o0 = 0;
        while o0 < outputs {
            let oc = OC.min(outputs - o0);
            let mut k0 = 0;
            while k0 < n {
                let kw = kc.min(n - k0);
                // SAFETY: samples s0..s0 + sb of x, inputs k0..k0 + kw <= n; kw <= KC_T.
                unsafe { transpose_into(x.add(s0 * n + k0), n, sb, kw, xt.as_mut_ptr(), SB, SB) };
                let mode = if k0 > 0 { Accumulate::Add } else { Accumulate::Overwrite };
                let bp = xt.as_ptr();
                let mut r0 = 0;
                while r0 < oc {
                    let rows = if cv2 { tile_height::<2>(oc - r0) } else { tile_height::<1>(oc - r0) };
                    // SAFETY: rows o0 + r0 .. + rows <= outputs of W, inputs k0..k0 + kw; the
                    // scratch holds oc x SB floats; the packed block kw x SB.
                    unsafe {
                        let (cp, ap) = (ct.as_mut_ptr().add(r0 * SB), w.add((o0 + r0) * n + k0));
                        if cv2 {
                            tile_any::<2>(rows, cp, SB, ap, n, 1, bp, SB, kw, mode, Finish::Store);
                        } else {
                            tile_any::<1>(rows, cp, SB, ap, n, 1, bp, SB, kw, mode, Finish::Store);
                        }
                    }
                    r0 += rows;
                }
                k0 += kw;
            }
            // SAFETY: y rows s0..s0 + sb (stride y_rs), columns o0..o0 + oc exist; ct holds oc x SB.
            unsafe { transpose_into(ct.as_ptr(), SB, oc, sb, y.add(s0 * y_rs + o0), y_rs, 0) };
            o0 += oc;
        }
        s0 += sb;
    }
}

/// From this many samples the forward packs `W^T` instead of `x^T` ([`forward_w`]): the
/// weights are then moved once per call while the samples are read in place (and a forward
/// split by neurons across threads packs only each thread's rows, not all of `x^T` on each;
/// BENCHMARKS.md, "Kernel choices").
const W_MIN: usize = 64;
// The blocks of `W^T` (`KC_W` inputs by `OC_W` outputs) are the 8-lane forward's.
use crate::kernels::simd::{KC_W, OC_W};

/// The forward product as `y = x W^T` with `W^T` packed in 32-wide panels (blocks of
/// [`KC_W`] inputs and [`OC_W`] outputs) and 12 samples at a time broadcast from their rows;
/// outputs past the last full panel go to [`forward_t`]. Each output is one fused chain over
/// `k` in order from 0: the bits of [`forward_t`].
///
/// # Safety
/// As for [`forward_t`] with `y_rs = outputs`.
// Never inlined, as the 8-lane `forward_w`: the frame is set up only where it is used.
#[inline(never)]
#[target_feature(enable = "avx512f")]
unsafe fn forward_w(
    x: *const f32,
    w: *const f32,
    y: *mut f32,
    batch: usize,
    n: usize,
    outputs: usize,
    epilogue: Option<Epilogue>,
) {
    // Only what the transposes below write is read, so the block is left uninitialised.
    let mut pack = MaybeUninit::<Aligned<[f32; KC_W * OC_W]>>::uninit();
    let pack = pack.as_mut_ptr().cast::<f32>();
    let full = outputs - outputs % (2 * LANES);
    let kc = even_block(n, KC_W);
    let mut o0 = 0;
    while o0 < full {
        let oc = OC_W.min(full - o0);
        let mut k0 = 0;
        while k0 < n {
            let kw = kc.min(n - k0);
            for p in 0..oc / (2 * LANES) {
                // SAFETY: rows o0 + 32p .. + 32 <= full of W, inputs k0..k0 + kw <= n; the
                // panel's kw x 32 floats start at p * kw * 32 < KC_W * OC_W.
                unsafe {
                    transpose_into(
                        w.add((o0 + p * 2 * LANES) * n + k0),
                        n,
                        2 * LANES,
                        kw,
                        pack.add(p * kw * 2 * LANES),
                        2 * LANES,
                        0,
                    )
                };
            }
            let mode = if k0 > 0 { Accumulate::Add } else { Accumulate::Overwrite };
            let last = k0 + kw == n;
            let mut s0 = 0;
            while s0 < batch {
                let rows = tile_height::<2>(batch - s0);
                for p in 0..oc / (2 * LANES) {
                    // The block's last inputs: the tiles store finished outputs.
                    let fin = match epilogue {
                        Some((b, Activation::Identity)) if last => {
                            Finish::Bias(b.as_ptr().wrapping_add(o0 + p * 2 * LANES))
                        }
                        Some((b, _)) if last => Finish::BiasRelu(b.as_ptr().wrapping_add(o0 + p * 2 * LANES)),
                        _ => Finish::Store,
                    };
                    // SAFETY: samples s0..s0 + rows of x and y, outputs o0 + 32p .. + 32 <= full,
                    // inputs k0..k0 + kw; panel p of the pack holds kw x 32 floats.
                    unsafe {
                        tile_any::<2>(
                            rows,
                            y.add(s0 * outputs + o0 + p * 2 * LANES),
                            outputs,
                            x.add(s0 * n + k0),
                            n,
                            1,
                            pack.add(p * kw * 2 * LANES),
                            2 * LANES,
                            kw,
                            mode,
                            fin,
                        )
                    };
                }
                s0 += rows;
            }
            k0 += kw;
        }
        o0 += oc;
    }
    if full < outputs {
        // SAFETY: rows full..outputs of W and the same columns of y (row stride outputs).
        unsafe { forward_t(x, w.add(full * n), y.add(full), outputs, batch, n, outputs - full) };
        if let Some((b, act)) = epilogue {
            let b = b.get(full..outputs).unwrap_or(&[]);
            for s in 0..batch {
                // SAFETY: row s of y, columns full..outputs (caller); no other reference to
                // them lives.
                let row = unsafe { core::slice::from_raw_parts_mut(y.add(s * outputs + full), outputs - full) };
                crate::kernels::bias_activation(row, b, act);
            }
        }
    }
}

/// The bias (`outputs` floats) and the activation, the identity or the ReLU, that
/// [`forward_w`]'s tiles apply to the outputs they finish ([`Finish`]).
pub(in crate::kernels) type Epilogue<'a> = (&'a [f32], Activation);

/// Below this many samples the forward reads 8 rows of W side by side for each sample.
const FEW: usize = 4;
const FMR: usize = 4;
const FNR: usize = 4;

/// `y[s][j] = x[s] . w[j]` for the whole batch; where `y = x W^T` runs over packed panels
/// ([`forward_w`]) with an `epilogue` (a bias of `outputs` floats and the identity or the
/// ReLU), also the bias and the activation, applied by the tiles as they store finished
/// outputs: the bits of `kernels::bias_activation` after the product. Returns whether it
/// applied the epilogue (otherwise the caller does).
///
/// # Safety
/// [`available`](super::available) returned true; `x` holds `batch x n`, `w` holds `outputs x n` and `y` holds
/// `batch x outputs` floats.
#[target_feature(enable = "avx512f")]
pub(in crate::kernels) unsafe fn forward(
    x: *const f32,
    w: *const f32,
    y: *mut f32,
    batch: usize,
    n: usize,
    outputs: usize,
    epilogue: Option<Epilogue>,
) -> bool {
    let epilogue =
        epilogue.filter(|(b, act)| b.len() == outputs && matches!(act, Activation::Identity | Activation::Relu));
    if chains(batch, outputs) {
        if batch >= W_MIN && outputs >= 2 * LANES {
            // SAFETY: forwarded from the caller.
            unsafe { forward_w(x, w, y, batch, n, outputs, epilogue) };
            return epilogue.is_some();
        }
        // SAFETY: forwarded from the caller (y rows are `outputs` long).
        unsafe { forward_t(x, w, y, outputs, batch, n, outputs) };
        return false;
    }
    if batch < FEW {
        // A sample or two: W streams once from cache, so what counts is how many of its rows
        // are read side by side: 8 at a time, each a few lines ahead of its loads when W
        // comes from L2.
        let far = crate::kernels::prefetch_rows(n, outputs);
        for s in 0..batch {
            let mut j = 0;
            while j < outputs {
                let nr = 8.min(outputs - j);
                macro_rules! go {
                    ($($b:literal)*) => {
                        match (nr, far) {
                            // SAFETY: row s of x and y, rows j..j+nr of w exist (caller).
                            $(($b, true) => unsafe { dot_tile::<1, $b, true>(x, w, y, n, outputs, s, j) },
                            ($b, false) => unsafe { dot_tile::<1, $b, false>(x, w, y, n, outputs, s, j) },)*
                            _ => {}
                        }
                    };
                }
                go!(8 7 6 5 4 3 2 1);
                j += nr;
            }
        }
        return false;
    }
    let mut j = 0;
    while j < outputs {
        let nr = FNR.min(outputs - j);
        let mut s = 0;
        while s < batch {
            let mr = FMR.min(batch - s);
            macro_rules! go {
                ($($a:literal $b:literal),*) => {
                    match (mr, nr) {
                        // SAFETY: rows s..s+mr of x and y, j..j+nr of w exist (caller).
                        $(($a, $b) => unsafe { dot_tile::<$a, $b, false>(x, w, y, n, outputs, s, j) },)*
                        _ => {}
                    }
                };
            }
            go!(4 4, 4 3, 4 2, 4 1, 3 4, 3 3, 3 2, 3 1, 2 4, 2 3, 2 2, 2 1, 1 4, 1 3, 1 2, 1 1);
            s += mr;
        }
        j += nr;
    }
    false
}

/// One sample's forward from packed weights (`kernels::packed`): for each block of rows
/// the dot tiles' operations ([`dot_tile`] with one sample: a fused chain per row over the
/// steps in order, the last step's inputs masked and its padded weights zero, then the
/// 16-lane reduction), with a step's rows read one after another, so `W` streams once in
/// order: the bits of [`forward`] for the sample.
///
/// # Safety
/// [`available`](super::available) returned true; `x` holds `n > 0` floats, `y` `outputs`,
/// and `wp` the packed layout of `outputs x n` weights (`packed::packed_len(n, outputs)`).
#[target_feature(enable = "avx512f")]
pub(in crate::kernels) unsafe fn forward_packed(x: *const f32, wp: *const f32, y: *mut f32, n: usize, outputs: usize) {
    for (j0, r, at) in crate::kernels::packed::blocks(n.next_multiple_of(LANES), outputs) {
        macro_rules! go {
            ($($r:literal)*) => {
                match r {
                    // SAFETY: the block of rows j0..j0 + r starts at float `at` of the layout
                    // and holds r * n.next_multiple_of(16) floats; y has outputs >= j0 + r
                    // floats (caller).
                    $($r => unsafe { packed_tile::<$r>(x, wp.add(at), n, y.add(j0)) },)*
                    _ => {}
                }
            };
        }
        go!(4 3 2 1);
    }
}

/// `NR` rows of [`forward_packed`] from the block at `wp` (per step, `NR` rows of 16).
///
/// # Safety
/// AVX-512F present; `x` holds `n` floats, `wp` `NR * n.next_multiple_of(16)`, `y` `NR`.
#[inline]
#[target_feature(enable = "avx512f")]
unsafe fn packed_tile<const NR: usize>(x: *const f32, wp: *const f32, n: usize, y: *mut f32) {
    let mut acc = [_mm512_setzero_ps(); NR];
    let n16 = n - n % LANES;
    let mut bp = wp;
    let mut k = 0;
    while k < n16 {
        // SAFETY: inputs k..k + 16 <= n of x (caller).
        let xv = unsafe { _mm512_loadu_ps(x.add(k)) };
        for (j, a) in acc.iter_mut().enumerate() {
            // SAFETY: the step's NR rows of 16 floats lie at bp (caller).
            *a = _mm512_fmadd_ps(xv, unsafe { _mm512_loadu_ps(bp.add(j * LANES)) }, *a);
        }
        bp = bp.wrapping_add(NR * LANES);
        k += LANES;
    }
    if k < n {
        let mask: u16 = (1u16 << (n - k)) - 1;
        // SAFETY: the mask limits the load to x's inputs below n.
        let xv = unsafe { _mm512_maskz_loadu_ps(mask, x.add(k)) };
        for (j, a) in acc.iter_mut().enumerate() {
            // SAFETY: the padded step's NR rows of 16 floats (zeros past n) lie at bp (caller).
            *a = _mm512_fmadd_ps(xv, unsafe { _mm512_loadu_ps(bp.add(j * LANES)) }, *a);
        }
    }
    for (j, a) in acc.iter().enumerate() {
        // SAFETY: j < NR floats of y (caller).
        unsafe { *y.add(j) = _mm512_reduce_add_ps(*a) };
    }
}

/// One `MR x NR` block of `y`: dot products of samples `s..s+MR` with rows `j..j+NR`;
/// with `PF`, each row's lines prefetched a few ahead ([`prefetch_ahead`](crate::kernels::prefetch_ahead)).
///
/// # Safety
/// AVX-512F present; the rows exist (see [`forward`]).
#[inline]
#[target_feature(enable = "avx512f")]
#[allow(clippy::needless_range_loop)] // i, jj index two arrays in lockstep
unsafe fn dot_tile<const MR: usize, const NR: usize, const PF: bool>(
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
            if PF {
                crate::kernels::prefetch_ahead(ws.wrapping_add(jj * n + k));
            }
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
