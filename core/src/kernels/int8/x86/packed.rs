//! The packed-weight paths of the x86 int8 sets (from [`PACK_MIN_BATCH`] samples): weights
//! packed in blocks of 32 rows so that one vector holds a step of inputs for 16 (`zmm`) or 8
//! (`ymm`) outputs, each sample's step of inputs broadcast as one 32-bit word, so the sums
//! need no horizontal reduction.

// INVARIANT: the only indexing is of fixed-size accumulator arrays by loop counters below
// their const-generic lengths.
#![allow(clippy::indexing_slicing)]
// Tiles index their accumulator arrays by sample and row, as the math is written.
#![allow(clippy::needless_range_loop)]

#[cfg(target_feature = "avx2")]
use super::{dpbusd256, madd256, maddubs256, Flipped, FLIP_BLOCK};
use crate::quant::QuantDense;
use core::arch::x86_64::*;

/// Runs `$tile::<S, G>($t, $offs)` for the tile's `$sb` samples (one of `$s`) and `G = 2`
/// groups of 8 rows when `$two`, else 1.
#[cfg(target_feature = "avx2")]
macro_rules! ymm_tile_dispatch {
    ($tile:ident, $t:expr, $offs:expr, $sb:expr, $two:expr, [$($s:literal)*]) => {
        match ($sb, $two) {
            $(($s, true) => $tile::<$s, 2>($t, $offs), ($s, false) => $tile::<$s, 1>($t, $offs),)*
            _ => {}
        }
    };
}

/// From this many samples [`super::accumulate_vnni`] packs the weights ([`accumulate_packed`]): the
/// packing is read by every sample of the batch.
pub(super) const PACK_MIN_BATCH: usize = 32;

/// The batch of `x` when a layer takes the packed paths: at least [`PACK_MIN_BATCH`]
/// samples, and lengths that agree (`x` batch x n, `acc` batch x m, `W` m x n).
pub(super) fn packed_batch(layer: &QuantDense<'_>, x: &[i8], acc: &[i32]) -> Option<usize> {
    let (n, m) = (layer.inputs, layer.outputs);
    let batch = x.len().checked_div(n)?;
    let agree = x.len() == batch * n && acc.len() == batch * m && layer.weights.len() == n * m;
    (batch >= PACK_MIN_BATCH && agree).then_some(batch)
}
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
pub(super) unsafe fn accumulate_packed(layer: &QuantDense<'_>, x: &[i8], acc: &mut [i32], batch: usize) {
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
pub(super) unsafe fn accumulate_packed_ymm(layer: &QuantDense<'_>, x: &[i8], acc: &mut [i32], batch: usize) {
    packed_ymm_blocks::<PACK_S_YMM, false>(layer, x, acc, batch, |t, offs, sb, two| {
        // SAFETY: `packed_ymm_blocks` hands over a tile inside x's flipped copy, acc and the
        // packed block (see there); the CPU features (this function's contract).
        unsafe { ymm_tile_dispatch!(packed_tile_ymm, t, offs, sb, two, [1 2 3 4 5 6]) }
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
pub(super) unsafe fn accumulate_packed_narrow(layer: &QuantDense<'_>, x: &[i8], acc: &mut [i32], batch: usize) {
    packed_ymm_blocks::<PACK_S_NARROW, false>(layer, x, acc, batch, |t, offs, sb, two| {
        // SAFETY: `packed_ymm_blocks` hands over a tile inside x's flipped copy, acc and the
        // packed block (see there); the build enables AVX2.
        unsafe { ymm_tile_dispatch!(packed_tile_narrow, t, offs, sb, two, [1 2 3 4 5]) }
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
pub(super) unsafe fn accumulate_packed_wide(layer: &QuantDense<'_>, x: &[i8], acc: &mut [i32], batch: usize) {
    packed_ymm_blocks::<PACK_S_NARROW, true>(layer, x, acc, batch, |t, offs, sb, two| {
        // SAFETY: `packed_ymm_blocks` hands over a tile inside x's widened copy, acc and the
        // packed block (see there); the build enables AVX2.
        unsafe { ymm_tile_dispatch!(packed_tile_wide, t, offs, sb, two, [1 2 3 4 5]) }
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
                    // buffer holds sb rows of PACK_K >= stride bytes (SB x PACK_K fit in
                    // FLIP_BLOCK, checked); `wrapping_add` keeps the arithmetic safe.
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

/// The 256-bit packed tile: `S` samples x `G` groups of 8 rows of `packed_ymm_blocks`, each
/// step's four inputs times four weights per lane added by `$dot` (`(acc, u, w)`): `t.x` the
/// flipped inputs (unsigned, `t.kw` a multiple of 4), `t.w` the packed block advanced to the
/// tile's first group, `t.acc` the tile's first output, `t.rows` the rows from there on
/// (more than `8 (G - 1)`), `offs` their row offsets.
macro_rules! packed_ymm_tile {
    ($(#[$doc:meta])* $tile:ident, $features:literal, $dot:ident) => {
        $(#[$doc])*
        ///
        /// # Safety
        /// `t.x` holds `S` rows (stride `PACK_K` = `t.n`) of `t.kw` bytes, `t.w` the groups
        /// of a packed block of `t.kw / 4` steps of 128 bytes, `t.acc` `S` rows (stride
        /// `t.m`) of `min(t.rows, 8 G)` writable entries.
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

#[cfg(target_feature = "avx2")]
const _: () = assert!(PACK_S_YMM * PACK_K <= FLIP_BLOCK && PACK_S_NARROW * PACK_K <= FLIP_BLOCK);
