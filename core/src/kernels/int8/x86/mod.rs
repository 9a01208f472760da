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
//!   AVX2 on 16-bit pairs) share one block loop and one tile written
//!   over the multiply-add (`packed.rs`).
//!
//! The input quantizer and the requantization of bounded layers written out for these
//! sets are in `convert.rs`.

// INVARIANT: the only indexing is of fixed-size accumulator arrays by loop counters below
// their const-generic lengths.
#![allow(clippy::indexing_slicing)]
// Tiles index their accumulator arrays by sample and row, as the math is written.
#![allow(clippy::needless_range_loop)]

use super::tiles;
use crate::quant::QuantDense;
use core::arch::x86_64::*;

mod convert;
mod packed;

pub(crate) use convert::quantize_avx512;
#[cfg(target_feature = "avx2")]
pub(crate) use convert::{quantize_avx2, requantize_bounded_avx2};
use packed::{accumulate_packed, packed_batch};
#[cfg(target_feature = "avx2")]
use packed::{accumulate_packed_narrow, accumulate_packed_wide, accumulate_packed_ymm};

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

#[cfg(target_feature = "avx2")]
pub(crate) fn accumulate_avx2(layer: &QuantDense<'_>, x: &[i8], acc: &mut [i32]) {
    if let Some(batch) = packed_batch(layer, x, acc) {
        // SAFETY: the build enables AVX2; `packed_batch` checked the lengths.
        unsafe { accumulate_packed_wide(layer, x, acc, batch) };
        return;
    }
    let (n, m) = (layer.inputs, layer.outputs);
    let batch = x.len() / n;
    if x.len() != batch * n || acc.len() != batch * m || layer.weights.len() != n * m {
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
    if let Some(batch) = packed_batch(layer, x, acc) {
        // SAFETY: the CPU runs AVX-512 F, BW and VNNI (checked above); `packed_batch` checked the
        // lengths.
        unsafe { accumulate_packed(layer, x, acc, batch) };
        return;
    }
    // The tiles sum the rows of W as they read them (`flipped_tiles` hands over the biases).
    let zu = layer.input_zero.wrapping_add(128);
    flipped_tiles::<4, 4>(layer, x, acc, |sb, rb, flipped, args| {
        let (xp, wp, ap, n, m, offs) = args;
        // SAFETY: `flipped_tiles` hands over rows inside x (or its flipped copy), W and acc
        // (see there); the CPU runs AVX-512 F, BW and VNNI (checked above).
        unsafe {
            if flipped {
                tile_dispatch!(vnni_tile_u, sb, rb, (xp, wp, ap, n, m, offs, zu))
            } else {
                tile_dispatch!(vnni_tile_s, sb, rb, (xp, wp, ap, n, m, offs, zu))
            }
        }
    });
}

/// The AVX2 accumulation of a layer whose weights are narrow ([`crate::quant::Known`]): `vpdpbusd`
/// written as `vpmaddubsw` (unsigned inputs `x + 128` times 7-bit weights, pairs summed
/// into 16 bits: at most `2 * 255 * 63`, so exact), `vpmaddwd` by ones (pairs of pairs into
/// 32 bits) and `vpaddd`: from [`packed::PACK_MIN_BATCH`] samples on packed weights, eight outputs
/// per `ymm` ([`accumulate_packed_narrow`]); below, 4 samples x 2 rows of `ymm`
/// accumulators with horizontal sums.
#[cfg(target_feature = "avx2")]
pub(crate) fn accumulate_avx2_narrow(layer: &QuantDense<'_>, x: &[i8], acc: &mut [i32]) {
    if !layer.known.narrow_weights() {
        return accumulate_avx2(layer, x, acc);
    }
    if let Some(batch) = packed_batch(layer, x, acc) {
        // SAFETY: the build enables AVX2; the weights are narrow (checked above); `packed_batch`
        // checked the lengths.
        unsafe { accumulate_packed_narrow(layer, x, acc, batch) };
        return;
    }
    // The tiles sum the rows of W as they read them (`flipped_tiles` hands over the biases).
    let zu = layer.input_zero.wrapping_add(128);
    flipped_tiles::<4, 2>(layer, x, acc, |sb, rb, flipped, args| {
        let (xp, wp, ap, n, m, offs) = args;
        // SAFETY: `flipped_tiles` hands over rows inside x (or its flipped copy), W and acc
        // (see there); the build enables AVX2.
        unsafe {
            if flipped {
                tile_dispatch!(narrow_tile_u, sb, rb, (xp, wp, ap, n, m, offs, zu))
            } else {
                tile_dispatch!(narrow_tile_s, sb, rb, (xp, wp, ap, n, m, offs, zu))
            }
        }
    });
}

/// The AVX-VNNI accumulation (256-bit `vpdpbusd`, for CPUs with AVX2 and AVX-VNNI, with or
/// without AVX-512): from [`packed::PACK_MIN_BATCH`] samples the weights packed in
/// [`accumulate_vnni`]'s layout, eight outputs per `ymm` ([`accumulate_packed_ymm`]); below,
/// tiles of 4 samples x 2 rows on flipped inputs with horizontal sums ([`avx_vnni_tile`]).
#[cfg(target_feature = "avx2")]
pub(crate) fn accumulate_avx_vnni(layer: &QuantDense<'_>, x: &[i8], acc: &mut [i32]) {
    if !avx_vnni_available() {
        return;
    }
    if let Some(batch) = packed_batch(layer, x, acc) {
        // SAFETY: the CPU runs AVX2 and AVX-VNNI (checked above); `packed_batch` checked the
        // lengths.
        unsafe { accumulate_packed_ymm(layer, x, acc, batch) };
        return;
    }
    // The tiles sum the rows of W as they read them (`flipped_tiles` hands over the biases).
    let zu = layer.input_zero.wrapping_add(128);
    flipped_tiles::<4, 2>(layer, x, acc, |sb, rb, flipped, args| {
        let (xp, wp, ap, n, m, offs) = args;
        // SAFETY: `flipped_tiles` hands over rows inside x (or its flipped copy), W and acc
        // (see there); the CPU runs AVX2 and AVX-VNNI (checked above).
        unsafe {
            if flipped {
                tile_dispatch!(avx_vnni_tile_u, sb, rb, (xp, wp, ap, n, m, offs, zu))
            } else {
                tile_dispatch!(avx_vnni_tile_s, sb, rb, (xp, wp, ap, n, m, offs, zu))
            }
        }
    });
}

/// `sum_i row[i]` (wrapping into `i32` as the reference's sum does): every byte read as
/// unsigned (`w ^ 0x80 = w + 128`) and summed 32 at a time by `vpsadbw` against zero (eight
/// bytes into each 64-bit lane, exact), `128 * len` taken off at the end. Every call of the
/// small-batch tiles sums each row of `W` for its offset, one pass over `W` beside the
/// product's; this keeps that pass to one instruction of work per 32 bytes.
#[cfg(target_feature = "avx2")]
pub(crate) fn row_sum(row: &[i8]) -> i32 {
    // SAFETY: the build enables AVX2 (the `cfg` above).
    unsafe { row_sum_avx2(row) }
}

/// [`row_sum`]'s body, compiled for AVX2.
#[cfg(target_feature = "avx2")]
#[target_feature(enable = "avx2")]
fn row_sum_avx2(row: &[i8]) -> i32 {
    let chunks = row.chunks_exact(32);
    let tail = chunks.remainder();
    let (flip, zero) = (_mm256_set1_epi8(i8::MIN), _mm256_setzero_si256());
    let mut acc = _mm256_setzero_si256();
    for c in chunks {
        // SAFETY: `c` holds 32 bytes; an unaligned load.
        let v = unsafe { _mm256_loadu_si256(c.as_ptr().cast()) };
        acc = _mm256_add_epi64(acc, _mm256_sad_epu8(_mm256_xor_si256(v, flip), zero));
    }
    let mut lanes = [0u64; 4];
    // SAFETY: `lanes` holds 32 bytes; an unaligned store.
    unsafe { _mm256_storeu_si256(lanes.as_mut_ptr().cast(), acc) };
    let unsigned = lanes.iter().sum::<u64>() + tail.iter().map(|&w| u64::from(w as u8 ^ 0x80)).sum::<u64>();
    // Exact in i64 (at most 255 per byte), then reduced modulo 2^32 like a wrapping sum.
    (unsigned as i64).wrapping_sub(128 * row.len() as i64) as i32
}

/// A tile's pointers and sizes: inputs, weights, accumulators, `n`, `m`, row offsets.
type TileArgs<'o> = (*const i8, *const i8, *mut i32, usize, usize, &'o [i32]);

/// The tiles of a layer for kernels that read the inputs as unsigned (`x + 128`) and take
/// `(z_in + 128) sum_i W[j][i]` from the rows of `W` as they read them, so the offsets
/// handed over are the biases (no pass over `W` of their own): the inputs of each block of
/// `SB` samples flipped once into a buffer when they fit (`tile(.., true, ..)`), else handed
/// over signed (`tile(.., false, ..)`, flipped as they load). Every pointer handed over
/// addresses the tile's `sb` rows of `n` inputs, `rb` rows of W and `sb` rows of acc
/// (stride `m`) with `rb` entries each.
///
/// The buffer is zeroed on every call, so it is no larger than a block needs: [`SMALL_FLIP`]
/// bytes where a block fits there, else [`FLIP_BLOCK`].
#[inline(always)]
fn flipped_tiles<const SB: usize, const RB: usize>(
    layer: &QuantDense<'_>,
    x: &[i8],
    acc: &mut [i32],
    tile: impl FnMut(usize, usize, bool, TileArgs<'_>),
) {
    if SB.saturating_mul(layer.inputs) <= SMALL_FLIP {
        flipped_tiles_in::<SB, RB, SMALL_FLIP>(layer, x, acc, tile);
    } else {
        flipped_tiles_in::<SB, RB, FLIP_BLOCK>(layer, x, acc, tile);
    }
}

/// [`flipped_tiles`] with an `N`-byte buffer.
#[inline(always)]
fn flipped_tiles_in<const SB: usize, const RB: usize, const N: usize>(
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
    let mut flipped = Flipped([0; N]);
    let mut block = usize::MAX;
    let fits = SB * n <= N;
    // The offsets handed over are the biases (`z = 0`: no pass over W); the tiles take
    // `(z_in + 128) sum_i W[j][i]` from their own loads of W.
    tiles::<SB, RB>(layer, batch, 0, |s0, j0, sb, rb, offs| {
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

/// The smaller buffer of [`flipped_tiles`]: four samples of up to 1,024 inputs.
const SMALL_FLIP: usize = 4 * 1024;

#[repr(C, align(64))]
struct Flipped<const N: usize>([u8; N]);

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
    zu: i32,
) {
    // SAFETY: the caller's contract.
    unsafe { vnni_tile::<S, R, true>(x, w, acc, n, m, offs, zu) }
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
    zu: i32,
) {
    // SAFETY: the caller's contract.
    unsafe { vnni_tile::<S, R, false>(x, w, acc, n, m, offs, zu) }
}

/// One VNNI tile: `acc[s][r] = offs[r] - zu sum_i W[r][i] + sum_i (x[s][i] + 128) W[r][i]`,
/// with `x` flipped to unsigned here (`FLIP`) or by the caller. The row sums come from the
/// same loads of `W` as the products (`vpdpbusd` by a vector of ones), so `W` is read once.
///
/// # Safety
/// As `avx2_tile`, and the CPU runs AVX-512 F, BW and VNNI.
#[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
#[inline]
unsafe fn vnni_tile<const S: usize, const R: usize, const FLIP: bool>(
    x: *const i8,
    w: *const i8,
    acc: *mut i32,
    n: usize,
    m: usize,
    offs: &[i32],
    zu: i32,
) {
    // SAFETY: the caller guarantees the rows read and written (see # Safety) and the CPU features.
    unsafe {
        let flip = _mm512_set1_epi8(-128);
        let ones = _mm512_set1_epi8(1);
        let mut sums = [[_mm512_setzero_si512(); R]; S];
        let mut wsums = [_mm512_setzero_si512(); R];
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
                wsums[r] = _mm512_dpbusd_epi32(wsums[r], ones, wv);
                for s in 0..S {
                    sums[s][r] = _mm512_dpbusd_epi32(sums[s][r], xv[s], wv);
                }
            }
            i += 64;
        }
        // Row r's offset: offs[r] - zu sum_i W[r][i] (wrapping, as `row_offset` takes it).
        let mut base = [0i32; R];
        for r in 0..R {
            let sum_w = _mm512_reduce_add_epi32(wsums[r]);
            base[r] = offs.get(r).copied().unwrap_or(0).wrapping_sub(zu.wrapping_mul(sum_w));
        }
        for s in 0..S {
            if R == 4 {
                // Four rows' sums at once: interleave and add (32-bit, then 64-bit pairs)
                // so each 128-bit lane holds partial sums of rows 0..3, then add the lanes.
                let (a, b, c, d) = (sums[s][0], sums[s][1 % R], sums[s][2 % R], sums[s][3 % R]);
                let ab = _mm512_add_epi32(_mm512_unpacklo_epi32(a, b), _mm512_unpackhi_epi32(a, b));
                let cd = _mm512_add_epi32(_mm512_unpacklo_epi32(c, d), _mm512_unpackhi_epi32(c, d));
                let abcd = _mm512_add_epi32(_mm512_unpacklo_epi64(ab, cd), _mm512_unpackhi_epi64(ab, cd));
                let half = _mm256_add_epi32(_mm512_castsi512_si256(abcd), _mm512_extracti64x4_epi64::<1>(abcd));
                let four = _mm_add_epi32(_mm256_castsi256_si128(half), _mm256_extracti128_si256::<1>(half));
                let b4 = _mm_loadu_si128(base.as_ptr() as *const __m128i);
                _mm_storeu_si128(acc.add(s * m) as *mut __m128i, _mm_add_epi32(b4, four));
            } else {
                for r in 0..R {
                    let total = _mm512_reduce_add_epi32(sums[s][r]);
                    *acc.add(s * m + r) = base[r].wrapping_add(total);
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
            zu: i32,
        ) {
            // SAFETY: the caller's contract.
            unsafe { $tile::<S, R, true>(x, w, acc, n, m, offs, zu) }
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
            zu: i32,
        ) {
            // SAFETY: the caller's contract.
            unsafe { $tile::<S, R, false>(x, w, acc, n, m, offs, zu) }
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
            zu: i32,
        ) {
            // SAFETY: the caller guarantees the rows read and written (see # Safety) and the
            // CPU features.
            unsafe {
                let flip = _mm256_set1_epi8(-128);
                let ones = _mm256_set1_epi8(1);
                let mut sums = [[_mm256_setzero_si256(); R]; S];
                // Each row's sum of weights, from the same loads as the products.
                let mut wsums = [_mm256_setzero_si256(); R];
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
                        wsums[r] = $dot256(wsums[r], ones, wv);
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
                        let quads = $dot128(_mm_setzero_si128(), _mm256_castsi256_si128(ones), wv);
                        wsums[r] = _mm256_add_epi32(wsums[r], _mm256_zextsi128_si256(quads));
                        for s in 0..S {
                            let quads = $dot128(_mm_setzero_si128(), xv[s], wv);
                            sums[s][r] = _mm256_add_epi32(sums[s][r], _mm256_zextsi128_si256(quads));
                        }
                    }
                    i += 16;
                }
                // Row r's offset: offs[r] - zu sum_i W[r][i] (wrapping, as `row_offset` takes it).
                let mut base = [0i32; R];
                for r in 0..R {
                    let mut sum_w = reduce8(wsums[r]);
                    for k in i..n {
                        sum_w = sum_w.wrapping_add(*w.add(r * n + k) as i32);
                    }
                    base[r] = offs.get(r).copied().unwrap_or(0).wrapping_sub(zu.wrapping_mul(sum_w));
                }
                for s in 0..S {
                    for r in 0..R {
                        let mut total = base[r].wrapping_add(reduce8(sums[s][r]));
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
    /// One AVX2 tile on 7-bit weights: `acc[s][r] = offs[r] - zu sum_i W[r][i] + sum_i (x[s][i]
    /// + 128) W[r][i]`, with `x` flipped to unsigned here (`FLIP`) or by the caller, the row
    /// sums from the same loads of `W` (the multiply-add by a vector of ones); 32 inputs per
    /// step, then one step of 16 (`xmm`), then scalar code for the last `n % 16`.
    ///
    /// # Safety
    /// `x` holds `S` rows and `w` `R` rows of `n` bytes each, every weight in -63..=63 (else
    /// the sums may saturate: wrong, not unsafe); `acc` has `S` rows of stride `m` with `R`
    /// writable entries each; the CPU runs AVX2.
    narrow_tile, narrow_tile_s, narrow_tile_u, "avx2", maddubs256, maddubs128
);

byte_tile!(
    /// One AVX-VNNI tile: `acc[s][r] = offs[r] - zu sum_i W[r][i] + sum_i (x[s][i] + 128)
    /// W[r][i]`, as the AVX2 tile on 7-bit weights with `vpdpbusd` (no saturation: every int8
    /// weight).
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
