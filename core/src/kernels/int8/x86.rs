//! x86_64 int8 accumulation. Every kernel computes the same integer sums as the reference
//! in another order (sums wrap as the reference's do), so the same bits.
//!
//! - Small batches (below 32 samples): dot products along `inputs` for a tile of samples x
//!   rows of `W` (read in place, row-major), each horizontal sum added to the row's offset.
//!   AVX2: 16 inputs and 16 weights sign-extended to 16 bits (`vpmovsxbw`), `vpmaddwd`
//!   (pairs of exact 16 x 16-bit products summed into 32 bits: `|x w| <= 128 * 127`, so a
//!   pair never leaves int32), `vpaddd`; on 7-bit weights `vpmaddubsw` on inputs read as
//!   `u = x + 128` (`x ^ 0x80`; pairs at most `2 * 255 * 63`, exact) + `vpmaddwd` by ones;
//!   AVX-VNNI and AVX-512 VNNI: `vpdpbusd` (unsigned by signed bytes, four products per
//!   32-bit lane, no saturation) on `u`, so `sum_i u_i W[j][i] = sum_i x_i W[j][i] + 128
//!   sum_i W[j][i]` and the row offset is taken with `z_in + 128`.
//! - From 32 samples: the weights packed in blocks of 32 rows so that one vector holds a
//!   step of inputs for 16 (`zmm`) or 8 (`ymm`) outputs, each sample's step of inputs
//!   broadcast as one 32-bit word; the sums need no horizontal reduction. AVX-512 VNNI packs
//!   `W + 128` as the unsigned operand; the 256-bit paths (AVX-VNNI, AVX2 on 7-bit weights,
//!   AVX2 on 16-bit pairs) share one block loop ([`packed_ymm_blocks`]) and one tile written
//!   over the multiply-add ([`packed_ymm_tile`]).

// INVARIANT: the only indexing is of fixed-size accumulator arrays by loop counters below
// their const-generic lengths.
#![allow(clippy::indexing_slicing)]
// Tiles index their accumulator arrays by sample and row, as the math is written.
#![allow(clippy::needless_range_loop)]

use crate::quant::{QuantDense, QuantInput};
use core::arch::x86_64::*;

/// Whether this CPU and OS run AVX-512 VNNI code (F, BW and VNNI, ZMM state enabled).
pub(crate) fn vnni_available() -> bool {
    crate::kernels::cpu::avx512_vnni()
}

/// Whether this CPU and OS run AVX-VNNI code (the VEX `vpdpbusd` on `ymm`, YMM state
/// enabled): Intel cores since Alder Lake and Sapphire Rapids, AMD since Zen 5, with or
/// without AVX-512.
pub(crate) fn avx_vnni_available() -> bool {
    crate::kernels::cpu::avx_vnni()
}

/// Calls `$f::<S, R>` for the tile size `(s, r)` in 1..=$ms x 1..=$mr.
macro_rules! tile_dispatch {
    ($f:ident, $s:expr, $r:expr, ($($args:expr),*)) => {
        match ($s, $r) {
            (4, 4) => $f::<4, 4>($($args),*),
            (4, 3) => $f::<4, 3>($($args),*),
            (4, 2) => $f::<4, 2>($($args),*),
            (4, 1) => $f::<4, 1>($($args),*),
            (3, 4) => $f::<3, 4>($($args),*),
            (3, 3) => $f::<3, 3>($($args),*),
            (3, 2) => $f::<3, 2>($($args),*),
            (3, 1) => $f::<3, 1>($($args),*),
            (2, 4) => $f::<2, 4>($($args),*),
            (2, 3) => $f::<2, 3>($($args),*),
            (2, 2) => $f::<2, 2>($($args),*),
            (2, 1) => $f::<2, 1>($($args),*),
            (1, 4) => $f::<1, 4>($($args),*),
            (1, 3) => $f::<1, 3>($($args),*),
            (1, 2) => $f::<1, 2>($($args),*),
            _ => $f::<1, 1>($($args),*),
        }
    };
}

/// The tiles of `acc` (batch, outputs): samples in blocks of `SB`, rows in blocks of `RB`,
/// each tile handed to `tile(s0, j0, samples, rows, offsets)`.
#[inline(always)]
fn tiles<const SB: usize, const RB: usize>(
    layer: &QuantDense<'_>,
    batch: usize,
    z: i32,
    mut tile: impl FnMut(usize, usize, usize, usize, &[i32]),
) {
    let (n, m) = (layer.inputs, layer.outputs);
    // Samples outer: a block of inputs stays in L1 while the rows of W stream past it.
    let mut offsets = [[0i32; RB]; 256];
    let row_blocks = m.div_ceil(RB);
    for s0 in (0..batch).step_by(SB) {
        let sb = SB.min(batch - s0);
        for (rb_index, j0) in (0..m).step_by(RB).enumerate() {
            let rb = RB.min(m - j0);
            // Row offsets once per call for up to 256 row blocks, else per tile.
            let mut fresh = [0i32; RB];
            let offs = if rb_index < offsets.len() && row_blocks <= offsets.len() {
                if s0 == 0 {
                    for (r, o) in offsets[rb_index].iter_mut().enumerate().take(rb) {
                        let row = layer.weights.get((j0 + r) * n..(j0 + r + 1) * n).unwrap_or(&[]);
                        *o = layer.row_offset(j0 + r, row, z);
                    }
                }
                &offsets[rb_index]
            } else {
                for (r, o) in fresh.iter_mut().enumerate().take(rb) {
                    let row = layer.weights.get((j0 + r) * n..(j0 + r + 1) * n).unwrap_or(&[]);
                    *o = layer.row_offset(j0 + r, row, z);
                }
                &fresh
            };
            tile(s0, j0, sb, rb, &offs[..rb]);
        }
    }
}

#[cfg(target_feature = "avx2")]
pub(crate) fn accumulate_avx2(layer: &QuantDense<'_>, x: &[i8], acc: &mut [i32]) {
    let (n, m) = (layer.inputs, layer.outputs);
    let batch = x.len() / n;
    if x.len() != batch * n || acc.len() != batch * m || layer.weights.len() != n * m {
        return;
    }
    if batch >= PACK_MIN_BATCH {
        // SAFETY: the build enables AVX2; lengths checked just above.
        unsafe { accumulate_packed_wide(layer, x, acc, batch) };
        return;
    }
    let (xp, wp, ap) = (x.as_ptr(), layer.weights.as_ptr(), acc.as_mut_ptr());
    // The inputs of the current block of samples widened to 16 bits once, when they fit:
    // every row tile of the block then loads them as they are.
    let mut wide = Wide([0; WIDE_BLOCK]);
    let mut block = usize::MAX;
    let fits = 4 * n <= WIDE_BLOCK;
    tiles::<4, 2>(layer, batch, layer.input_zero, |s0, j0, sb, rb, offs| {
        let xw = if fits {
            if block != s0 {
                let rows = x.get(s0 * n..(s0 + sb) * n).unwrap_or(&[]);
                for (d, &v) in wide.0.iter_mut().zip(rows) {
                    *d = v as i16;
                }
                block = s0;
            }
            wide.0.as_ptr()
        } else {
            core::ptr::null()
        };
        // SAFETY: s0 + sb <= batch and j0 + rb <= m, so every row read below lies inside
        // x (batch x n), its widened copy (sb x n when not null) and W (m x n), and every
        // store inside acc (batch x m); the build enables AVX2.
        unsafe {
            tile_dispatch!(avx2_tile, sb, rb, (xp.add(s0 * n), xw, wp.add(j0 * n), ap.add(s0 * m + j0), n, m, offs))
        }
    });
}

/// 16-bit inputs kept per block of four samples.
#[cfg(target_feature = "avx2")]
const WIDE_BLOCK: usize = 8 * 1024;

#[cfg(target_feature = "avx2")]
#[repr(C, align(32))]
struct Wide([i16; WIDE_BLOCK]);

/// One AVX2 tile: `acc[s][r] = offs[r] + sum_i x[s][i] W[r][i]` for `S` samples, `R` rows.
///
/// # Safety
/// `x` holds `S` rows and `w` `R` rows of `n` bytes each; `xw`, when not null, the same `S`
/// rows of `x` widened to `i16`; `acc` has `S` rows of stride `m` with `R` writable entries
/// each.
#[cfg(target_feature = "avx2")]
#[target_feature(enable = "avx2")]
unsafe fn avx2_tile<const S: usize, const R: usize>(
    x: *const i8,
    xw: *const i16,
    w: *const i8,
    acc: *mut i32,
    n: usize,
    m: usize,
    offs: &[i32],
) {
    // SAFETY: the caller guarantees the rows read and written (see # Safety) and the CPU features.
    unsafe {
        let full = n - n % 16;
        // The loop without a test of `xw` inside it: one instance per case.
        let sums = if xw.is_null() {
            avx2_steps::<S, R, false>(x, xw, w, n, full)
        } else {
            avx2_steps::<S, R, true>(x, xw, w, n, full)
        };
        for s in 0..S {
            for r in 0..R {
                let mut total = offs.get(r).copied().unwrap_or(0).wrapping_add(reduce8(sums[s][r]));
                for k in full..n {
                    total = total.wrapping_add((*x.add(s * n + k) as i32).wrapping_mul(*w.add(r * n + k) as i32));
                }
                *acc.add(s * m + r) = total;
            }
        }
    }
}

/// The sums of [`avx2_tile`] over the first `full` columns (a multiple of 16), two steps of
/// 16 per pass: inputs from `xw` (`WIDE`) or widened from `x` as they load.
///
/// # Safety
/// As [`avx2_tile`], with `xw` not null when `WIDE`.
#[cfg(target_feature = "avx2")]
#[target_feature(enable = "avx2")]
#[inline]
unsafe fn avx2_steps<const S: usize, const R: usize, const WIDE: bool>(
    x: *const i8,
    xw: *const i16,
    w: *const i8,
    n: usize,
    full: usize,
) -> [[__m256i; R]; S] {
    // SAFETY: columns below `full` of the rows the caller guarantees.
    unsafe {
        let mut sums = [[_mm256_setzero_si256(); R]; S];
        let step = |i: usize, sums: &mut [[__m256i; R]; S]| {
            let mut xv = [_mm256_setzero_si256(); S];
            for s in 0..S {
                xv[s] = if WIDE {
                    _mm256_loadu_si256(xw.add(s * n + i) as *const __m256i)
                } else {
                    _mm256_cvtepi8_epi16(_mm_loadu_si128(x.add(s * n + i) as *const __m128i))
                };
            }
            for r in 0..R {
                let wv = _mm256_cvtepi8_epi16(_mm_loadu_si128(w.add(r * n + i) as *const __m128i));
                for s in 0..S {
                    sums[s][r] = _mm256_add_epi32(sums[s][r], _mm256_madd_epi16(xv[s], wv));
                }
            }
        };
        let mut i = 0;
        while i + 32 <= full {
            step(i, &mut sums);
            step(i + 16, &mut sums);
            i += 32;
        }
        if i < full {
            step(i, &mut sums);
        }
        sums
    }
}

pub(crate) fn accumulate_vnni(layer: &QuantDense<'_>, x: &[i8], acc: &mut [i32]) {
    if !vnni_available() {
        return;
    }
    let (n, m) = (layer.inputs, layer.outputs);
    let batch = x.len().checked_div(n).unwrap_or(0);
    if batch >= PACK_MIN_BATCH && x.len() == batch * n && acc.len() == batch * m && layer.weights.len() == n * m {
        // SAFETY: the CPU runs AVX-512 F, BW and VNNI (checked above); lengths checked just
        // above.
        unsafe { accumulate_packed(layer, x, acc, batch) };
        return;
    }
    flipped_tiles::<4, 4>(layer, x, acc, |sb, rb, flipped, args| {
        let (xp, wp, ap, n, m, offs) = args;
        // SAFETY: `flipped_tiles` hands over rows inside x (or its flipped copy), W and acc
        // (see there); the CPU runs AVX-512 F, BW and VNNI (checked above).
        unsafe {
            if flipped {
                tile_dispatch!(vnni_tile_u, sb, rb, (xp, wp, ap, n, m, offs))
            } else {
                tile_dispatch!(vnni_tile_s, sb, rb, (xp, wp, ap, n, m, offs))
            }
        }
    });
}

/// From this many samples [`accumulate_vnni`] packs the weights ([`accumulate_packed`]): the
/// packing is read by every sample of the batch.
const PACK_MIN_BATCH: usize = 32;
/// Rows of `W` per packed block: two vectors of 16 outputs.
const PACK_ROWS: usize = 32;
/// Inputs per packed block (`PACK_K / 4` steps of 128 bytes: 32 KB).
const PACK_K: usize = 1024;
/// Samples per tile of [`packed_tile`]: 12 x 2 accumulators, two weight vectors and the
/// broadcast input word fill 27 of the 32 `zmm` registers.
const PACK_S: usize = 12;

/// A block of packed weights: per step of four inputs, 32 rows of four bytes `W ^ 0x80`
/// (`W + 128`, unsigned), rows of a group of 16 side by side; zero past the rows or inputs.
#[repr(C, align(64))]
struct Packed([u8; PACK_K * PACK_ROWS]);

/// The VNNI accumulation of a large batch with the weights as the unsigned operand: blocks
/// of 32 rows and up to 1024 inputs of `W + 128` are packed so that one `zmm` holds four
/// inputs' weights for 16 outputs; each sample's four inputs are broadcast (signed, as they
/// are) and `vpdpbusd` adds into 16 outputs at once, so a tile's sums need no horizontal
/// reduction. `sum_i (W[j][i] + 128) x[i] = sum_i x[i] W[j][i] + 128 sum_i x[i]`: the tile
/// takes `128 sum_i x[i]` (one more `vpdpbusd` pass over the sample's inputs, by ones) from
/// the sums and adds the row offsets `b[j] - z_in sum_i W[j][i]`. Integer sums wrap as the
/// reference's do, so the bits are the reference's.
///
/// # Safety
/// The CPU runs AVX-512 F, BW and VNNI; `x` holds `batch x n` inputs, `acc` `batch x m`
/// and `layer.weights` `m x n` (`n = layer.inputs`, `m = layer.outputs`, both positive).
#[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
unsafe fn accumulate_packed(layer: &QuantDense<'_>, x: &[i8], acc: &mut [i32], batch: usize) {
    let (n, m) = (layer.inputs, layer.outputs);
    let mut packed = Packed([0; PACK_K * PACK_ROWS]);
    for j0 in (0..m).step_by(PACK_ROWS) {
        let rows = PACK_ROWS.min(m - j0);
        let mut offs = [0i32; PACK_ROWS];
        for (r, o) in offs.iter_mut().enumerate().take(rows) {
            let row = layer.weights.get((j0 + r) * n..(j0 + r + 1) * n).unwrap_or(&[]);
            *o = layer.row_offset(j0 + r, row, layer.input_zero);
        }
        for k0 in (0..n).step_by(PACK_K) {
            let kw = PACK_K.min(n - k0);
            pack(layer.weights.get(j0 * n..(j0 + rows) * n).unwrap_or(&[]), n, k0, kw, &mut packed, 0x80);
            let mut s0 = 0;
            while s0 < batch {
                let sb = PACK_S.min(batch - s0);
                // In bounds: s0 + sb <= batch, k0 + kw <= n, j0 + rows <= m (the caller's
                // lengths); `wrapping_add` keeps the arithmetic safe.
                let t = PackedTile {
                    x: x.as_ptr().wrapping_add(s0 * n + k0),
                    n,
                    kw,
                    w: packed.0.as_ptr(),
                    acc: acc.as_mut_ptr().wrapping_add(s0 * m + j0),
                    m,
                    rows,
                    first: k0 == 0,
                };
                macro_rules! go {
                    ($($s:literal)*) => {
                        match (sb, rows > 16) {
                            // SAFETY: samples s0..s0 + sb of x (inputs k0..k0 + kw) and of acc
                            // (outputs j0..j0 + rows), the packed block of kw inputs and rows
                            // rows; the CPU features (this function's contract).
                            $(($s, true) => unsafe { packed_tile::<$s, 2>(&t, &offs) },
                              ($s, false) => unsafe { packed_tile::<$s, 1>(&t, &offs) },)*
                            _ => {}
                        }
                    };
                }
                go!(1 2 3 4 5 6 7 8 9 10 11 12);
                s0 += sb;
            }
        }
    }
}

/// Packs inputs `k0..k0 + kw` of `rows.len() / n` rows of `W` (`rows`, row-major, `n`
/// inputs each) into `p` as [`Packed`] lays them out.
fn pack(rows: &[i8], n: usize, k0: usize, kw: usize, p: &mut Packed, flip: u8) {
    let count = rows.len().checked_div(n).unwrap_or(0);
    let Ok(words) = bytemuck::try_cast_slice_mut::<u8, u32>(&mut p.0) else { return };
    for (step, out) in words.chunks_exact_mut(PACK_ROWS).take(kw.div_ceil(4)).enumerate() {
        let (i0, i1) = (k0 + 4 * step, (k0 + 4 * step + 4).min(k0 + kw));
        for (r, o) in out.iter_mut().enumerate() {
            *o = if r < count {
                let src = rows.get(r * n + i0..r * n + i1).unwrap_or(&[]);
                if let [a, b, c, d] = *src {
                    u32::from_le_bytes([a as u8, b as u8, c as u8, d as u8]) ^ u32::from_le_bytes([flip; 4])
                } else {
                    let mut bytes = [0u8; 4];
                    for (d, &v) in bytes.iter_mut().zip(src) {
                        *d = v as u8 ^ flip;
                    }
                    u32::from_le_bytes(bytes)
                }
            } else {
                0
            };
        }
    }
}

/// Packs inputs `k0..k0 + kw` of `rows.len() / n` rows of `W` into `p` in 16 bits: per step
/// of two inputs, 32 rows of two little-endian `i16` (four bytes, as [`pack`]'s steps);
/// zero past the rows or inputs.
#[cfg(target_feature = "avx2")]
fn pack16(rows: &[i8], n: usize, k0: usize, kw: usize, p: &mut Packed) {
    let count = rows.len().checked_div(n).unwrap_or(0);
    let Ok(words) = bytemuck::try_cast_slice_mut::<u8, u32>(&mut p.0) else { return };
    for (step, out) in words.chunks_exact_mut(PACK_ROWS).take(kw.div_ceil(2)).enumerate() {
        let (i0, i1) = (k0 + 2 * step, (k0 + 2 * step + 2).min(k0 + kw));
        for (r, o) in out.iter_mut().enumerate() {
            let src = if r < count { rows.get(r * n + i0..r * n + i1).unwrap_or(&[]) } else { &[] };
            let lo = src.first().map_or(0, |&v| i16::from(v) as u16);
            let hi = src.get(1).map_or(0, |&v| i16::from(v) as u16);
            *o = u32::from(lo) | u32::from(hi) << 16;
        }
    }
}

/// What [`packed_tile`] reads and writes: the tile's first sample's inputs (from the block's
/// first input; rows of `n`), the block's `kw` inputs, the packed weights, the tile's first
/// accumulator (rows of `m`), the block's `rows`, and whether this is the first block of
/// inputs (the row offsets start the sums) or a later one (they add to `acc`).
struct PackedTile {
    x: *const i8,
    n: usize,
    kw: usize,
    w: *const u8,
    acc: *mut i32,
    m: usize,
    rows: usize,
    first: bool,
}

/// `S` samples x `G` groups of 16 rows of [`accumulate_packed`].
///
/// # Safety
/// The CPU runs AVX-512 F, BW and VNNI; `t.x` holds `S` rows (stride `t.n`) of `t.kw` inputs,
/// `t.w` a packed block of `t.kw` inputs, `t.acc` `S` rows (stride `t.m`) of `t.rows <= 16 G`
/// writable entries.
#[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
unsafe fn packed_tile<const S: usize, const G: usize>(t: &PackedTile, offs: &[i32; PACK_ROWS]) {
    // SAFETY: every access is inside the rows and block the contract names: whole steps read
    // four inputs below `kw`, the last partial step copies what remains, the packed block
    // holds `kw.div_ceil(4)` steps of 128 bytes, and stores are masked to `rows`.
    unsafe {
        let mut sums = [[_mm512_setzero_si512(); G]; S];
        let full = t.kw / 4;
        for step in 0..full {
            let mut w = [_mm512_setzero_si512(); G];
            for g in 0..G {
                w[g] = _mm512_load_si512(t.w.add(step * 128 + g * 64) as *const _);
            }
            for s in 0..S {
                let b = _mm512_set1_epi32((t.x.add(s * t.n + 4 * step) as *const i32).read_unaligned());
                for g in 0..G {
                    sums[s][g] = _mm512_dpbusd_epi32(sums[s][g], w[g], b);
                }
            }
        }
        let rest = t.kw % 4;
        if rest > 0 {
            let mut w = [_mm512_setzero_si512(); G];
            for g in 0..G {
                w[g] = _mm512_load_si512(t.w.add(full * 128 + g * 64) as *const _);
            }
            for s in 0..S {
                let mut bytes = [0u8; 4];
                for (i, d) in bytes.iter_mut().enumerate().take(rest) {
                    *d = *t.x.add(s * t.n + 4 * full + i) as u8;
                }
                let b = _mm512_set1_epi32(i32::from_le_bytes(bytes));
                for g in 0..G {
                    sums[s][g] = _mm512_dpbusd_epi32(sums[s][g], w[g], b);
                }
            }
        }
        let ones = _mm512_set1_epi8(1);
        for s in 0..S {
            // 128 sum_i x[i] over the block, by `vpdpbusd` with ones (masked at the end).
            let row = t.x.add(s * t.n);
            let mut sx = _mm512_setzero_si512();
            let mut i = 0;
            while i < t.kw {
                let left = t.kw - i;
                let mask: __mmask64 = if left >= 64 { !0 } else { (1u64 << left) - 1 };
                sx = _mm512_dpbusd_epi32(sx, ones, _mm512_maskz_loadu_epi8(mask, row.add(i)));
                i += 64;
            }
            let corr = _mm512_set1_epi32(_mm512_reduce_add_epi32(sx).wrapping_mul(128));
            for g in 0..G {
                let lanes = t.rows.saturating_sub(16 * g).min(16);
                let mask: __mmask16 = ((1u32 << lanes) - 1) as __mmask16;
                let out = t.acc.add(s * t.m + 16 * g);
                let base = if t.first {
                    _mm512_loadu_si512(offs.as_ptr().add(16 * g) as *const _)
                } else {
                    _mm512_maskz_loadu_epi32(mask, out)
                };
                let v = _mm512_sub_epi32(_mm512_add_epi32(base, sums[s][g]), corr);
                _mm512_mask_storeu_epi32(out, mask, v);
            }
        }
    }
}

/// The AVX2 accumulation of a layer whose weights are narrow ([`crate::quant::Known`]): `vpdpbusd`
/// written as `vpmaddubsw` (unsigned inputs `x + 128` times 7-bit weights, pairs summed
/// into 16 bits: at most `2 * 255 * 63`, so exact), `vpmaddwd` by ones (pairs of pairs into
/// 32 bits) and `vpaddd`: from [`PACK_MIN_BATCH`] samples on packed weights, eight outputs
/// per `ymm` ([`accumulate_packed_narrow`]); below, 4 samples x 2 rows of `ymm`
/// accumulators with horizontal sums.
#[cfg(target_feature = "avx2")]
pub(crate) fn accumulate_avx2_narrow(layer: &QuantDense<'_>, x: &[i8], acc: &mut [i32]) {
    if !layer.known.narrow_weights() {
        return accumulate_avx2(layer, x, acc);
    }
    let (n, m) = (layer.inputs, layer.outputs);
    let batch = x.len().checked_div(n).unwrap_or(0);
    if batch >= PACK_MIN_BATCH && x.len() == batch * n && acc.len() == batch * m && layer.weights.len() == n * m {
        // SAFETY: the build enables AVX2; lengths checked just above; the weights are
        // narrow (checked above).
        unsafe { accumulate_packed_narrow(layer, x, acc, batch) };
        return;
    }
    flipped_tiles::<4, 2>(layer, x, acc, |sb, rb, flipped, args| {
        let (xp, wp, ap, n, m, offs) = args;
        // SAFETY: `flipped_tiles` hands over rows inside x (or its flipped copy), W and acc
        // (see there); the build enables AVX2.
        unsafe {
            if flipped {
                tile_dispatch!(narrow_tile_u, sb, rb, (xp, wp, ap, n, m, offs))
            } else {
                tile_dispatch!(narrow_tile_s, sb, rb, (xp, wp, ap, n, m, offs))
            }
        }
    });
}

/// The AVX-VNNI accumulation (256-bit `vpdpbusd`, for CPUs with AVX2 and AVX-VNNI, with or
/// without AVX-512): from [`PACK_MIN_BATCH`] samples the weights packed in
/// [`accumulate_vnni`]'s layout, eight outputs per `ymm` ([`accumulate_packed_ymm`]); below,
/// tiles of 4 samples x 2 rows on flipped inputs with horizontal sums ([`avx_vnni_tile`]).
#[cfg(target_feature = "avx2")]
pub(crate) fn accumulate_avx_vnni(layer: &QuantDense<'_>, x: &[i8], acc: &mut [i32]) {
    if !avx_vnni_available() {
        return;
    }
    let (n, m) = (layer.inputs, layer.outputs);
    let batch = x.len().checked_div(n).unwrap_or(0);
    if batch >= PACK_MIN_BATCH && x.len() == batch * n && acc.len() == batch * m && layer.weights.len() == n * m {
        // SAFETY: the CPU runs AVX2 and AVX-VNNI (checked above); lengths checked just above.
        unsafe { accumulate_packed_ymm(layer, x, acc, batch) };
        return;
    }
    flipped_tiles::<4, 2>(layer, x, acc, |sb, rb, flipped, args| {
        let (xp, wp, ap, n, m, offs) = args;
        // SAFETY: `flipped_tiles` hands over rows inside x (or its flipped copy), W and acc
        // (see there); the CPU runs AVX2 and AVX-VNNI (checked above).
        unsafe {
            if flipped {
                tile_dispatch!(avx_vnni_tile_u, sb, rb, (xp, wp, ap, n, m, offs))
            } else {
                tile_dispatch!(avx_vnni_tile_s, sb, rb, (xp, wp, ap, n, m, offs))
            }
        }
    });
}

/// Samples per tile of [`packed_tile_ymm`]: 6 x 2 accumulators, two weight vectors and the
/// broadcast input word fill 15 of the 16 `ymm` registers.
#[cfg(target_feature = "avx2")]
const PACK_S_YMM: usize = 6;

/// Samples per tile of the AVX2 packed path on 7-bit weights ([`packed_tile_narrow`]): 5 x 2
/// accumulators, two weight vectors, the broadcast input word, the 16-bit pair sums and the
/// ones of `vpmaddwd` fill 15 of the 16 `ymm` registers.
#[cfg(target_feature = "avx2")]
const PACK_S_NARROW: usize = 5;

/// [`accumulate_packed`] in 256-bit vectors with the operands' roles swapped, for
/// `vpdpbusd` on `ymm` ([`packed_tile_ymm`]); see [`packed_ymm_blocks`].
///
/// # Safety
/// The CPU runs AVX2 and AVX-VNNI; `x` holds `batch x n` inputs, `acc` `batch x m` and
/// `layer.weights` `m x n` (`n = layer.inputs`, `m = layer.outputs`, both positive).
#[cfg(target_feature = "avx2")]
#[target_feature(enable = "avx2,avxvnni")]
unsafe fn accumulate_packed_ymm(layer: &QuantDense<'_>, x: &[i8], acc: &mut [i32], batch: usize) {
    packed_ymm_blocks::<PACK_S_YMM, false>(layer, x, acc, batch, |t, offs, sb, two| {
        macro_rules! go {
            ($($s:literal)*) => {
                match (sb, two) {
                    // SAFETY: `packed_ymm_blocks` hands over a tile inside x's flipped
                    // copy, acc and the packed block (see there); the CPU features (this
                    // function's contract).
                    $(($s, true) => unsafe { packed_tile_ymm::<$s, 2>(t, offs) },
                      ($s, false) => unsafe { packed_tile_ymm::<$s, 1>(t, offs) },)*
                    _ => {}
                }
            };
        }
        go!(1 2 3 4 5 6);
    });
}

/// The AVX2 accumulation of a large batch on 7-bit weights: [`accumulate_packed_ymm`] with
/// `vpdpbusd` written as `vpmaddubsw` + `vpmaddwd` by ones + `vpaddd` ([`maddubs256`], exact
/// while `|w| <= 64`), tiles of [`PACK_S_NARROW`] samples.
///
/// # Safety
/// As [`accumulate_packed_ymm`], on a CPU with AVX2 (the build's), every weight in -63..=63.
#[cfg(target_feature = "avx2")]
#[target_feature(enable = "avx2")]
unsafe fn accumulate_packed_narrow(layer: &QuantDense<'_>, x: &[i8], acc: &mut [i32], batch: usize) {
    packed_ymm_blocks::<PACK_S_NARROW, false>(layer, x, acc, batch, |t, offs, sb, two| {
        macro_rules! go {
            ($($s:literal)*) => {
                match (sb, two) {
                    // SAFETY: `packed_ymm_blocks` hands over a tile inside x's flipped
                    // copy, acc and the packed block (see there); the build enables AVX2.
                    $(($s, true) => unsafe { packed_tile_narrow::<$s, 2>(t, offs) },
                      ($s, false) => unsafe { packed_tile_narrow::<$s, 1>(t, offs) },)*
                    _ => {}
                }
            };
        }
        go!(1 2 3 4 5);
    });
}

/// The AVX2 accumulation of a large batch on any int8 weights: [`packed_ymm_blocks`] in 16
/// bits, `vpmaddwd` (pairs of exact 16 x 16-bit products into 32 bits) + `vpaddd`
/// ([`madd256`]), tiles of [`PACK_S_NARROW`] samples.
///
/// # Safety
/// As [`accumulate_packed_ymm`], on a CPU with AVX2 (the build's).
#[cfg(target_feature = "avx2")]
#[target_feature(enable = "avx2")]
unsafe fn accumulate_packed_wide(layer: &QuantDense<'_>, x: &[i8], acc: &mut [i32], batch: usize) {
    packed_ymm_blocks::<PACK_S_NARROW, true>(layer, x, acc, batch, |t, offs, sb, two| {
        macro_rules! go {
            ($($s:literal)*) => {
                match (sb, two) {
                    // SAFETY: `packed_ymm_blocks` hands over a tile inside x's widened
                    // copy, acc and the packed block (see there); the build enables AVX2.
                    $(($s, true) => unsafe { packed_tile_wide::<$s, 2>(t, offs) },
                      ($s, false) => unsafe { packed_tile_wide::<$s, 1>(t, offs) },)*
                    _ => {}
                }
            };
        }
        go!(1 2 3 4 5);
    });
}

/// The block loop of the 256-bit packed paths: the same blocks of 32 rows as
/// [`accumulate_packed`], packed as they are (signed), read as four groups of 8 outputs, two
/// groups per tile, times each sample's four inputs broadcast as unsigned bytes (`x ^ 0x80`,
/// flipped into [`Flipped`] once per tile of `SB` samples and block of rows, rows padded
/// with zeros to whole words): `sum_i (x[i] + 128) W[j][i]`, with the row offsets taken at
/// `z_in + 128`, so no per-sample correction and a broadcast that is a load alone. With
/// `WIDE16` the same layout holds two 16-bit weights per row and step ([`pack16`]) against
/// each sample's inputs widened to 16 bits (signed: the row offsets at `z_in`), for
/// `vpmaddwd`. `tile(t, offsets, samples, two groups)` runs one tile.
///
/// Every tile handed over lies inside: `t.x` `samples` flipped rows of `t.kw` bytes (a
/// multiple of 4), `t.w` the packed block's groups from the tile's first, `t.acc`
/// `samples` rows (stride `t.m`) of `min(t.rows, 8 G)` entries, `G = 2` when `two`.
#[cfg(target_feature = "avx2")]
#[inline(always)]
fn packed_ymm_blocks<const SB: usize, const WIDE16: bool>(
    layer: &QuantDense<'_>,
    x: &[i8],
    acc: &mut [i32],
    batch: usize,
    mut tile: impl FnMut(&PackedTile, &[i32], usize, bool),
) {
    let (n, m) = (layer.inputs, layer.outputs);
    if x.len() != batch * n || acc.len() != batch * m || layer.weights.len() != n * m || SB * PACK_K > FLIP_BLOCK {
        return;
    }
    // Inputs per block: a step of the packed block holds four bytes or two 16-bit weights
    // per row, so the 16-bit form takes half as many inputs per block.
    let (block, z) = if WIDE16 { (PACK_K / 2, layer.input_zero) } else { (PACK_K, layer.input_zero.wrapping_add(128)) };
    let mut packed = Packed([0; PACK_K * PACK_ROWS]);
    let mut flipped = Flipped([0; FLIP_BLOCK]);
    for j0 in (0..m).step_by(PACK_ROWS) {
        let rows = PACK_ROWS.min(m - j0);
        let groups = rows.div_ceil(8);
        let mut offs = [0i32; PACK_ROWS];
        for (r, o) in offs.iter_mut().enumerate().take(rows) {
            let row = layer.weights.get((j0 + r) * n..(j0 + r + 1) * n).unwrap_or(&[]);
            *o = layer.row_offset(j0 + r, row, z);
        }
        for k0 in (0..n).step_by(block) {
            let kw = block.min(n - k0);
            // Bytes per sample's row: whole steps of four bytes.
            let stride = if WIDE16 { 2 * kw.next_multiple_of(2) } else { kw.next_multiple_of(4) };
            let w_rows = layer.weights.get(j0 * n..(j0 + rows) * n).unwrap_or(&[]);
            if WIDE16 {
                pack16(w_rows, n, k0, kw, &mut packed);
            } else {
                pack(w_rows, n, k0, kw, &mut packed, 0);
            }
            let mut s0 = 0;
            while s0 < batch {
                let sb = SB.min(batch - s0);
                for (s, row) in flipped.0.chunks_exact_mut(PACK_K).take(sb).enumerate() {
                    let row = row.get_mut(..stride).unwrap_or(&mut []);
                    let src = x.get((s0 + s) * n + k0..(s0 + s) * n + k0 + kw).unwrap_or(&[]);
                    if WIDE16 {
                        let (head, pad) = row.split_at_mut((2 * kw).min(row.len()));
                        for (d, &v) in head.chunks_exact_mut(2).zip(src) {
                            d.copy_from_slice(&i16::from(v).to_le_bytes());
                        }
                        pad.fill(0);
                    } else {
                        let (head, pad) = row.split_at_mut(kw.min(row.len()));
                        for (d, &v) in head.iter_mut().zip(src) {
                            *d = v as u8 ^ 0x80;
                        }
                        pad.fill(0);
                    }
                }
                let mut g0 = 0;
                while g0 < groups {
                    let two = groups - g0 >= 2;
                    // In bounds: s0 + sb <= batch, j0 + rows <= m (checked lengths), the
                    // flipped rows hold sb rows of PACK_K >= stride bytes (SB x PACK_K fit in FLIP_BLOCK,
                    // checked); `wrapping_add` keeps the arithmetic safe.
                    let t = PackedTile {
                        x: flipped.0.as_ptr() as *const i8,
                        n: PACK_K,
                        kw: stride,
                        w: packed.0.as_ptr().wrapping_add(32 * g0),
                        acc: acc.as_mut_ptr().wrapping_add(s0 * m + j0 + 8 * g0),
                        m,
                        rows: rows - 8 * g0,
                        first: k0 == 0,
                    };
                    tile(&t, offs.get(8 * g0..).unwrap_or(&[]), sb, two);
                    g0 += if two { 2 } else { 1 };
                }
                s0 += sb;
            }
        }
    }
}

/// The 256-bit packed tile: `S` samples x `G` groups of 8 rows of [`packed_ymm_blocks`], each
/// step's four inputs times four weights per lane added by `$dot` (`(acc, u, w)`): `t.x` the
/// flipped inputs (unsigned, `t.kw` a multiple of 4), `t.w` the packed block advanced to the
/// tile's first group, `t.acc` the tile's first output, `t.rows` the rows from there on
/// (more than `8 (G - 1)`), `offs` their row offsets.
macro_rules! packed_ymm_tile {
    ($(#[$doc:meta])* $tile:ident, $features:literal, $dot:ident) => {
        $(#[$doc])*
        ///
        /// # Safety
        /// `t.x` holds `S` rows (stride `PACK_K` = `t.n`) of `t.kw` bytes, `t.w` the groups of a packed
        /// block of `t.kw` inputs (steps of 128 bytes), `t.acc` `S` rows (stride `t.m`) of
        /// `min(t.rows, 8 G)` writable entries.
        #[cfg(target_feature = "avx2")]
        #[target_feature(enable = $features)]
        unsafe fn $tile<const S: usize, const G: usize>(t: &PackedTile, offs: &[i32]) {
            // SAFETY: every access is inside the rows and block the contract names: each step
            // reads four bytes below `kw` of each row and 32 G bytes of a step of the packed
            // block; partial groups load and store through masks (the offsets through a copy).
            unsafe {
                let mut sums = [[_mm256_setzero_si256(); G]; S];
                for step in 0..t.kw / 4 {
                    let mut w = [_mm256_setzero_si256(); G];
                    for g in 0..G {
                        w[g] = _mm256_load_si256(t.w.add(step * 128 + g * 32) as *const __m256i);
                    }
                    for s in 0..S {
                        // Rows at the constant stride: one address register for all samples.
                        let u = _mm256_set1_epi32((t.x.add(s * PACK_K + 4 * step) as *const i32).read_unaligned());
                        for g in 0..G {
                            sums[s][g] = $dot(sums[s][g], u, w[g]);
                        }
                    }
                }
                let lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
                for g in 0..G {
                    let lanes = t.rows.saturating_sub(8 * g).min(8);
                    let mask = _mm256_cmpgt_epi32(_mm256_set1_epi32(lanes as i32), lane);
                    let mut base = [0i32; 8];
                    for (d, &o) in base.iter_mut().zip(offs.get(8 * g..).unwrap_or(&[])) {
                        *d = o;
                    }
                    let base = _mm256_loadu_si256(base.as_ptr() as *const __m256i);
                    for s in 0..S {
                        let out = t.acc.add(s * t.m + 8 * g);
                        let from = if t.first { base } else { _mm256_maskload_epi32(out, mask) };
                        let v = _mm256_add_epi32(from, sums[s][g]);
                        if lanes == 8 {
                            _mm256_storeu_si256(out as *mut __m256i, v);
                        } else {
                            _mm256_maskstore_epi32(out, mask, v);
                        }
                    }
                }
            }
        }
    };
}

packed_ymm_tile!(
    /// The AVX-VNNI packed tile (`vpdpbusd` on `ymm`; the CPU runs AVX2 and AVX-VNNI).
    packed_tile_ymm, "avx2,avxvnni", dpbusd256
);

packed_ymm_tile!(
    /// The AVX2 packed tile on 16-bit inputs and weights ([`madd256`]).
    packed_tile_wide, "avx2", madd256
);

packed_ymm_tile!(
    /// The AVX2 packed tile on 7-bit weights ([`maddubs256`]; every weight in -63..=63, else
    /// the pair sums may saturate: wrong, not unsafe).
    packed_tile_narrow, "avx2", maddubs256
);

/// A tile's pointers and sizes: inputs, weights, accumulators, `n`, `m`, row offsets.
type TileArgs<'o> = (*const i8, *const i8, *mut i32, usize, usize, &'o [i32]);

/// The tiles of a layer for kernels that read the inputs as unsigned (`x + 128`, the row
/// offsets taken with `z_in + 128`): the inputs of each block of `SB` samples flipped once
/// into a buffer when they fit (`tile(.., true, ..)`), else handed over signed
/// (`tile(.., false, ..)`, flipped as they load). Every pointer handed over addresses the
/// tile's `sb` rows of `n` inputs, `rb` rows of W and `sb` rows of acc (stride `m`) with `rb`
/// entries each.
#[inline(always)]
fn flipped_tiles<const SB: usize, const RB: usize>(
    layer: &QuantDense<'_>,
    x: &[i8],
    acc: &mut [i32],
    mut tile: impl FnMut(usize, usize, bool, TileArgs<'_>),
) {
    let (n, m) = (layer.inputs, layer.outputs);
    let batch = x.len() / n;
    if x.len() != batch * n || acc.len() != batch * m || layer.weights.len() != n * m {
        return;
    }
    let (xp, wp, ap) = (x.as_ptr(), layer.weights.as_ptr(), acc.as_mut_ptr());
    let mut flipped = Flipped([0; FLIP_BLOCK]);
    let mut block = usize::MAX;
    let fits = SB * n <= FLIP_BLOCK;
    tiles::<SB, RB>(layer, batch, layer.input_zero.wrapping_add(128), |s0, j0, sb, rb, offs| {
        // In bounds: s0 + sb <= batch and j0 + rb <= m, so the rows lie inside x (batch x n),
        // W (m x n) and acc (batch x m); `wrapping_add` keeps the arithmetic safe.
        let (w, a) = (wp.wrapping_add(j0 * n), ap.wrapping_add(s0 * m + j0));
        if fits {
            if block != s0 {
                let rows = x.get(s0 * n..(s0 + sb) * n).unwrap_or(&[]);
                for (d, &v) in flipped.0.iter_mut().zip(rows) {
                    *d = v as u8 ^ 0x80;
                }
                block = s0;
            }
            tile(sb, rb, true, (flipped.0.as_ptr() as *const i8, w, a, n, m, offs));
        } else {
            tile(sb, rb, false, (xp.wrapping_add(s0 * n), w, a, n, m, offs));
        }
    });
}

/// Bytes of flipped inputs kept per block of four samples (and per tile of the AVX-VNNI
/// packed path: `PACK_S_YMM` rows of up to `PACK_K` inputs).
const FLIP_BLOCK: usize = 16 * 1024;
#[cfg(target_feature = "avx2")]
const _: () = assert!(PACK_S_YMM * PACK_K <= FLIP_BLOCK && PACK_S_NARROW * PACK_K <= FLIP_BLOCK);

#[repr(C, align(64))]
struct Flipped([u8; FLIP_BLOCK]);

/// [`vnni_tile`] on signed inputs (flipped as they load).
///
/// # Safety
/// As [`vnni_tile`].
#[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
unsafe fn vnni_tile_s<const S: usize, const R: usize>(
    x: *const i8,
    w: *const i8,
    acc: *mut i32,
    n: usize,
    m: usize,
    offs: &[i32],
) {
    // SAFETY: the caller's contract.
    unsafe { vnni_tile::<S, R, true>(x, w, acc, n, m, offs) }
}

/// [`vnni_tile`] on inputs already flipped to unsigned.
///
/// # Safety
/// As [`vnni_tile`].
#[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
unsafe fn vnni_tile_u<const S: usize, const R: usize>(
    x: *const i8,
    w: *const i8,
    acc: *mut i32,
    n: usize,
    m: usize,
    offs: &[i32],
) {
    // SAFETY: the caller's contract.
    unsafe { vnni_tile::<S, R, false>(x, w, acc, n, m, offs) }
}

/// One VNNI tile: `acc[s][r] = offs[r] + sum_i (x[s][i] + 128) W[r][i]`, with `x` flipped to
/// unsigned here (`FLIP`) or by the caller.
///
/// # Safety
/// As [`avx2_tile`], and the CPU runs AVX-512 F, BW and VNNI.
#[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
#[inline]
unsafe fn vnni_tile<const S: usize, const R: usize, const FLIP: bool>(
    x: *const i8,
    w: *const i8,
    acc: *mut i32,
    n: usize,
    m: usize,
    offs: &[i32],
) {
    // SAFETY: the caller guarantees the rows read and written (see # Safety) and the CPU features.
    unsafe {
        let flip = _mm512_set1_epi8(-128);
        let mut sums = [[_mm512_setzero_si512(); R]; S];
        let mut i = 0;
        // Whole 64-byte steps with plain loads, then the last `n % 64` with masked ones
        // (masked-off weights are 0, so those lanes add nothing).
        let full = n - n % 64;
        while i < n {
            let mask: __mmask64 = if i < full { !0 } else { (1u64 << (n - i)) - 1 };
            let mut xv = [_mm512_setzero_si512(); S];
            for s in 0..S {
                let v = if i < full {
                    _mm512_loadu_si512(x.add(s * n + i) as *const _)
                } else {
                    _mm512_maskz_loadu_epi8(mask, x.add(s * n + i))
                };
                xv[s] = if FLIP { _mm512_xor_si512(v, flip) } else { v };
            }
            for r in 0..R {
                let wv = if i < full {
                    _mm512_loadu_si512(w.add(r * n + i) as *const _)
                } else {
                    _mm512_maskz_loadu_epi8(mask, w.add(r * n + i))
                };
                for s in 0..S {
                    sums[s][r] = _mm512_dpbusd_epi32(sums[s][r], xv[s], wv);
                }
            }
            i += 64;
        }
        for s in 0..S {
            if R == 4 && offs.len() == 4 {
                // Four rows' sums at once: interleave and add (32-bit, then 64-bit pairs)
                // so each 128-bit lane holds partial sums of rows 0..3, then add the lanes.
                let (a, b, c, d) = (sums[s][0], sums[s][1 % R], sums[s][2 % R], sums[s][3 % R]);
                let ab = _mm512_add_epi32(_mm512_unpacklo_epi32(a, b), _mm512_unpackhi_epi32(a, b));
                let cd = _mm512_add_epi32(_mm512_unpacklo_epi32(c, d), _mm512_unpackhi_epi32(c, d));
                let abcd = _mm512_add_epi32(_mm512_unpacklo_epi64(ab, cd), _mm512_unpackhi_epi64(ab, cd));
                let half = _mm256_add_epi32(_mm512_castsi512_si256(abcd), _mm512_extracti64x4_epi64::<1>(abcd));
                let four = _mm_add_epi32(_mm256_castsi256_si128(half), _mm256_extracti128_si256::<1>(half));
                let base = _mm_loadu_si128(offs.as_ptr() as *const __m128i);
                _mm_storeu_si128(acc.add(s * m) as *mut __m128i, _mm_add_epi32(base, four));
            } else {
                for r in 0..R {
                    let total = _mm512_reduce_add_epi32(sums[s][r]);
                    *acc.add(s * m + r) = offs.get(r).copied().unwrap_or(0).wrapping_add(total);
                }
            }
        }
    }
}

/// Defines a tile kernel on unsigned inputs times signed bytes, 4 products per 32-bit
/// lane, as `$dot256` / `$dot128` add them (`(acc, u, w)`), with its two entry points on
/// signed inputs (flipped as they load: `$signed`) and on inputs flipped by the caller
/// (`$unsigned`): the AVX2 tile on 7-bit weights and the AVX-VNNI tile are this loop with
/// another multiply-add.
macro_rules! byte_tile {
    ($(#[$doc:meta])* $tile:ident, $signed:ident, $unsigned:ident, $features:literal, $dot256:ident, $dot128:ident) => {
        /// The tile on signed inputs (flipped as they load).
        ///
        /// # Safety
        /// As the tile.
        #[cfg(target_feature = "avx2")]
        #[target_feature(enable = $features)]
        unsafe fn $signed<const S: usize, const R: usize>(
            x: *const i8,
            w: *const i8,
            acc: *mut i32,
            n: usize,
            m: usize,
            offs: &[i32],
        ) {
            // SAFETY: the caller's contract.
            unsafe { $tile::<S, R, true>(x, w, acc, n, m, offs) }
        }

        /// The tile on inputs already flipped to unsigned.
        ///
        /// # Safety
        /// As the tile.
        #[cfg(target_feature = "avx2")]
        #[target_feature(enable = $features)]
        unsafe fn $unsigned<const S: usize, const R: usize>(
            x: *const i8,
            w: *const i8,
            acc: *mut i32,
            n: usize,
            m: usize,
            offs: &[i32],
        ) {
            // SAFETY: the caller's contract.
            unsafe { $tile::<S, R, false>(x, w, acc, n, m, offs) }
        }

        $(#[$doc])*
        #[cfg(target_feature = "avx2")]
        #[target_feature(enable = $features)]
        #[inline]
        unsafe fn $tile<const S: usize, const R: usize, const FLIP: bool>(
            x: *const i8,
            w: *const i8,
            acc: *mut i32,
            n: usize,
            m: usize,
            offs: &[i32],
        ) {
            // SAFETY: the caller guarantees the rows read and written (see # Safety) and the
            // CPU features.
            unsafe {
                let flip = _mm256_set1_epi8(-128);
                let mut sums = [[_mm256_setzero_si256(); R]; S];
                let full = n - n % 32;
                let mut i = 0;
                while i < full {
                    let mut xv = [_mm256_setzero_si256(); S];
                    for s in 0..S {
                        let v = _mm256_loadu_si256(x.add(s * n + i) as *const __m256i);
                        xv[s] = if FLIP { _mm256_xor_si256(v, flip) } else { v };
                    }
                    for r in 0..R {
                        let wv = _mm256_loadu_si256(w.add(r * n + i) as *const __m256i);
                        for s in 0..S {
                            sums[s][r] = $dot256(sums[s][r], xv[s], wv);
                        }
                    }
                    i += 32;
                }
                if n - i >= 16 {
                    let flip = _mm256_castsi256_si128(flip);
                    let mut xv = [_mm_setzero_si128(); S];
                    for s in 0..S {
                        let v = _mm_loadu_si128(x.add(s * n + i) as *const __m128i);
                        xv[s] = if FLIP { _mm_xor_si128(v, flip) } else { v };
                    }
                    for r in 0..R {
                        let wv = _mm_loadu_si128(w.add(r * n + i) as *const __m128i);
                        for s in 0..S {
                            let quads = $dot128(_mm_setzero_si128(), xv[s], wv);
                            sums[s][r] = _mm256_add_epi32(sums[s][r], _mm256_zextsi128_si256(quads));
                        }
                    }
                    i += 16;
                }
                for s in 0..S {
                    for r in 0..R {
                        let mut total = offs.get(r).copied().unwrap_or(0).wrapping_add(reduce8(sums[s][r]));
                        for k in i..n {
                            let u = *x.add(s * n + k) as u8 ^ if FLIP { 0x80 } else { 0 };
                            total = total.wrapping_add((u as i32).wrapping_mul(*w.add(r * n + k) as i32));
                        }
                        *acc.add(s * m + r) = total;
                    }
                }
            }
        }
    };
}

byte_tile!(
    /// One AVX2 tile on 7-bit weights: `acc[s][r] = offs[r] + sum_i (x[s][i] + 128) W[r][i]`,
    /// with `x` flipped to unsigned here (`FLIP`) or by the caller; 32 inputs per step, then
    /// one step of 16 (`xmm`), then scalar code for the last `n % 16`.
    ///
    /// # Safety
    /// `x` holds `S` rows and `w` `R` rows of `n` bytes each, every weight in -63..=63 (else
    /// the sums may saturate: wrong, not unsafe); `acc` has `S` rows of stride `m` with `R`
    /// writable entries each; the CPU runs AVX2.
    narrow_tile, narrow_tile_s, narrow_tile_u, "avx2", maddubs256, maddubs128
);

byte_tile!(
    /// One AVX-VNNI tile: `acc[s][r] = offs[r] + sum_i (x[s][i] + 128) W[r][i]`, as the AVX2
    /// tile on 7-bit weights with `vpdpbusd` (no saturation: every int8 weight).
    ///
    /// # Safety
    /// `x` holds `S` rows and `w` `R` rows of `n` bytes each; `acc` has `S` rows of stride
    /// `m` with `R` writable entries each; the CPU runs AVX2 and AVX-VNNI.
    avx_vnni_tile, avx_vnni_tile_s, avx_vnni_tile_u, "avx2,avxvnni", dpbusd256, dpbusd128
);

/// `acc + ` the sums of four adjacent products `u w` (unsigned by signed bytes) per 32-bit
/// lane, by `vpmaddubsw` (pairs into 16 bits, saturating: exact while `|w| <= 64`) and
/// `vpmaddwd` by ones.
///
/// # Safety
/// The CPU runs AVX2.
#[cfg(target_feature = "avx2")]
#[target_feature(enable = "avx2")]
#[inline]
unsafe fn maddubs256(acc: __m256i, u: __m256i, w: __m256i) -> __m256i {
    _mm256_add_epi32(acc, _mm256_madd_epi16(_mm256_maddubs_epi16(u, w), _mm256_set1_epi16(1)))
}

/// `acc + ` the sums of two adjacent products of 16-bit lanes per 32-bit lane (`vpmaddwd`,
/// exact for int8 values).
///
/// # Safety
/// The CPU runs AVX2.
#[cfg(target_feature = "avx2")]
#[target_feature(enable = "avx2")]
#[inline]
unsafe fn madd256(acc: __m256i, u: __m256i, w: __m256i) -> __m256i {
    _mm256_add_epi32(acc, _mm256_madd_epi16(u, w))
}

/// [`maddubs256`] on 16 bytes.
///
/// # Safety
/// The CPU runs AVX2.
#[cfg(target_feature = "avx2")]
#[target_feature(enable = "avx2")]
#[inline]
unsafe fn maddubs128(acc: __m128i, u: __m128i, w: __m128i) -> __m128i {
    _mm_add_epi32(acc, _mm_madd_epi16(_mm_maddubs_epi16(u, w), _mm_set1_epi16(1)))
}

/// `acc + ` the sums of four adjacent products `u w` per 32-bit lane, exact (`vpdpbusd`).
///
/// # Safety
/// The CPU runs AVX2 and AVX-VNNI.
#[cfg(target_feature = "avx2")]
#[target_feature(enable = "avx2,avxvnni")]
#[inline]
unsafe fn dpbusd256(acc: __m256i, u: __m256i, w: __m256i) -> __m256i {
    _mm256_dpbusd_avx_epi32(acc, u, w)
}

/// [`dpbusd256`] on 16 bytes.
///
/// # Safety
/// The CPU runs AVX2 and AVX-VNNI.
#[cfg(target_feature = "avx2")]
#[target_feature(enable = "avx2,avxvnni")]
#[inline]
unsafe fn dpbusd128(acc: __m128i, u: __m128i, w: __m128i) -> __m128i {
    _mm_dpbusd_avx_epi32(acc, u, w)
}

/// The sum of a vector's eight 32-bit lanes (wrapping).
///
/// # Safety
/// The CPU runs AVX2.
#[cfg(target_feature = "avx2")]
#[target_feature(enable = "avx2")]
#[inline]
unsafe fn reduce8(v: __m256i) -> i32 {
    let q = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256::<1>(v));
    let q = _mm_add_epi32(q, _mm_shuffle_epi32::<0b01_00_11_10>(q));
    let q = _mm_add_epi32(q, _mm_shuffle_epi32::<0b10_11_00_01>(q));
    _mm_cvtsi128_si32(q)
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
    let (n, uniform) = match input.mean.len() {
        1 => (x.len().min(q.len()), true),
        n => (n, false),
    };
    if n == 0 || input.factor.len() != input.mean.len() {
        return input.quantize(x, q);
    }
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
    let (n, uniform) = match input.mean.len() {
        1 => (x.len().min(q.len()), true),
        n => (n, false),
    };
    if n == 0 || input.factor.len() != input.mean.len() {
        return input.quantize(x, q);
    }
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
