//! AVX-512 tiles for [`super::Simd`], chosen at run time on CPUs that have AVX-512F (the build
//! itself targets AVX2 + FMA).
//!
//! - Panel product (`d_w += delta^T x`, `d_x = delta W`): a tile is 12 (or 8) rows x 32
//!   columns of `C` in 24 (16) `zmm` accumulators while `m` runs; `A(r, m)` is broadcast, two
//!   vectors of `B` are loaded per `m`; the loop is an `asm!` block ([`asm_tile`]). Every
//!   element of `C` is still one fused multiply-add chain over `m` in order, starting from
//!   `C` (or 0), exactly as in the 8-lane tiles: vector width only decides which columns
//!   share an instruction, so results are bit-identical with and without AVX-512 (the kernel
//!   tests assert it). For the weight gradient, blocks of `delta` are transposed first
//!   ([`pass_transposed`]) so that the broadcasts run along rows.
//! - Forward from 16 samples and 16 outputs: the same tiles, each output one chain over the
//!   inputs in order ([`forward_t`]: `y^T = W x^T` over packed 32-sample blocks; from 128
//!   samples [`forward_w`]: `y = x W^T` over packed panels of `W^T`); both give the bits of
//!   `f32::mul_add` in a loop (tested).
//! - Forward below that: dot products along `inputs`, 4 samples x 4 outputs of `zmm`
//!   accumulators (one sample: 8 rows of `W` side by side), 16 lanes then a horizontal sum;
//!   the inputs' last `inputs % 16` go through masked loads. These sums are split into 16
//!   lanes instead of 8, so their bits differ from the 8-lane forward in the last place
//!   (both are bounded against the reference by the tests).
//!
//! Stack: up to 64 KB for the packed blocks (`forward_w`), 48 KB (`forward_t`), 24 KB
//! (`pass_transposed`).

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
    if a_rs == 1 && a_ms != 1 && m_len <= AT_M && rows >= 2 * LANES {
        // SAFETY: forwarded from the caller.
        return unsafe { pass_transposed(cp, rows, n, ap, a_ms, bp, m_len, accumulate) };
    }
    let mut k0 = 0;
    macro_rules! rows_loop {
        ($cv:literal) => {{
            let mut r0 = 0;
            while r0 < rows {
                let r = tile_height::<$cv>(rows - r0);
                // SAFETY: tile in bounds: r0 + r <= rows, k0 + 16 * CV <= n.
                unsafe {
                    tile_any::<$cv>(
                        r,
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
                r0 += r;
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

/// Rows of the next tile when `left` rows remain: 12 (two-vector tiles), else up to 8.
fn tile_height<const CV: usize>(left: usize) -> usize {
    if CV == 2 && left >= 12 {
        12
    } else {
        RB.min(left)
    }
}

/// One `r x (16 * CV)` tile (`r` from [`tile_height`]): the assembly tiles for 12 and 8 rows
/// of two vectors, [`tile`] otherwise. Arguments as for [`tile`].
///
/// # Safety
/// As for [`tile`] with `r` rows.
#[inline]
#[allow(clippy::too_many_arguments)]
#[target_feature(enable = "avx512f")]
unsafe fn tile_any<const CV: usize>(
    r: usize,
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
    macro_rules! go {
        ($($r:literal)*) => {
            match r {
                // SAFETY: the caller's bounds.
                12 if CV == 2 => unsafe { tile12x32(c, c_rs, a, a_rs, a_ms, b, b_rs, m_len, accumulate) },
                // SAFETY: the caller's bounds.
                8 if CV == 2 => unsafe { tile8x32(c, c_rs, a, a_rs, a_ms, b, b_rs, m_len, accumulate) },
                // SAFETY: the caller's bounds.
                $($r => unsafe { tile::<$r, CV>(c, c_rs, a, a_rs, a_ms, b, b_rs, m_len, accumulate) },)*
                _ => {}
            }
        };
    }
    go!(8 7 6 5 4 3 2 1);
}

/// Longest pass [`pass_transposed`] takes (the callers' passes are at most 128 long).
const AT_M: usize = 128;
/// Rows of `A` transposed at a time in [`pass_transposed`] (`AT_R x AT_M` floats, 24 KB).
const AT_R: usize = 48;

/// [`pass`] for `A` stored by columns (`A(r, m) = ap[r + m * a_ms]`, the weight gradient's
/// `delta^T`): blocks of 96 rows of `A` are first transposed so that every tile reads its
/// rows along `m` (the two-step assembly loop). Same operations per element as [`pass`].
///
/// # Safety
/// As for [`pass`] with `a_rs = 1`, and `m_len <= AT_M`.
#[allow(clippy::too_many_arguments)]
#[target_feature(enable = "avx512f")]
unsafe fn pass_transposed(
    cp: *mut f32,
    rows: usize,
    n: usize,
    ap: *const f32,
    a_ms: usize,
    bp: *const f32,
    m_len: usize,
    accumulate: bool,
) -> usize {
    let mut at = Aligned([0.0f32; AT_R * AT_M]);
    let at = &mut at.0;
    let cols = n - n % LANES;
    let mut r0 = 0;
    while r0 < rows {
        let rc = AT_R.min(rows - r0);
        // SAFETY: A(r0 + r, m) for r < rc, m < m_len is ap[r0 + r + m * a_ms] (caller); the
        // block takes rc <= AT_R rows of m_len <= AT_M floats.
        unsafe { transpose_into(ap.add(r0), a_ms, m_len, rc, at.as_mut_ptr(), AT_M, 0) };
        let mut k0 = 0;
        while k0 < cols {
            let wide = cols - k0 >= 2 * LANES;
            let mut r = 0;
            while r < rc {
                let h = if wide { tile_height::<2>(rc - r) } else { tile_height::<1>(rc - r) };
                // SAFETY: C rows r0 + r .. + h <= rows, columns k0 .. k0 + 16 * CV <= n; the
                // transposed rows r .. r + h of the block, m < m_len; B rows m < m_len.
                unsafe {
                    let (c, a, b) = (cp.add((r0 + r) * n + k0), at.as_ptr().add(r * AT_M), bp.add(k0));
                    if wide {
                        tile_any::<2>(h, c, n, a, AT_M, 1, b, n, m_len, accumulate);
                    } else {
                        tile_any::<1>(h, c, n, a, AT_M, 1, b, n, m_len, accumulate);
                    }
                }
                r += h;
            }
            k0 += if wide { 2 * LANES } else { LANES };
        }
        r0 += rc;
    }
    cols
}

/// One `R x (16 * CV)` tile of `C` at `c` (row stride `c_rs`): `C = (C if accumulate else 0)
/// + sum_m A(r, m) B[m][..]` with `A(r, m) = a[r * a_rs + m * a_ms]` and `B` rows at stride
/// `b_rs` from `b`.
///
/// # Safety
/// AVX-512F present; all indices touched are in bounds (see [`pass`], [`forward_t`]).
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
    // One pointer per row of A: the broadcasts then address `row + m * a_ms` directly.
    let rows: [*const f32; R] = core::array::from_fn(|r| a.wrapping_add(r * a_rs));
    for m in 0..m_len {
        // SAFETY: row m of B, 16 * CV columns (caller).
        let bv: [__m512; CV] = core::array::from_fn(|v| unsafe { _mm512_loadu_ps(b.add(m * b_rs + v * LANES)) });
        for (row, p) in acc.iter_mut().zip(rows.iter()) {
            // SAFETY: A(r, m) in bounds (caller).
            let av = _mm512_set1_ps(unsafe { *p.add(m * a_ms) });
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

/// `R x 32` tiles of `C` (`R` = 8 or 12) with the loop over `m` written out in assembly:
/// the compiler's own loop (as in [`tile`]) re-derives the `R` row addresses of `A` with a
/// chain of additions every step; on the 64 x 784 -> 128 forward that loop gave 146 GFLOP/s,
/// this one 150-160 (best of 7, one core whose FMA peak measures 214). Rows of `A` are
/// addressed from three bases and the row stride (rows 0, 1, 2, 4 from the first; 3, 5, 6, 7
/// from a base 3 rows down; 8..11 from a base 8 rows down). Where `A` runs along its rows
/// (`a_ms = 1`: the forward and the input gradient) two steps of `m` share one round of
/// address updates. Each `vfmadd231ps` is the same single-rounding `a * b + c` as
/// `_mm512_fmadd_ps`, for every element in order over `m`, so the bits equal [`tile`]'s (the
/// kernel tests compare them with the 8-lane tiles and with `f32::mul_add` chains).
///
/// `C = (C if accumulate else 0) + sum_m A(r, m) B[m][..32]` with `A(r, m) = a[r * a_rs + m *
/// a_ms]`, `B` rows at stride `b_rs` from `b`, `C` rows at stride `c_rs`.
///
/// # Safety
/// AVX-512F present; `C` holds `R` rows of 32 floats; `A(r, m)` is valid for `r < R`,
/// `m < m_len`; `b` holds `m_len` rows of 32 floats.
macro_rules! asm_tile {
    ($(#[$doc:meta])* $name:ident, $r:literal, [$(($c0:ident $c1:ident $addr:literal)),*]) => {
        $(#[$doc])*
        #[inline]
        #[allow(clippy::too_many_arguments)]
        #[target_feature(enable = "avx512f")]
        unsafe fn $name(
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
            let mut acc = [_mm512_setzero_ps(); 2 * $r];
            if accumulate {
                for (i, slot) in acc.iter_mut().enumerate() {
                    // SAFETY: tile inside C (caller).
                    *slot = unsafe { _mm512_loadu_ps(c.add((i / 2) * c_rs + (i % 2) * LANES)) };
                }
            }
            if m_len > 0 {
                let [$(mut $c0, mut $c1),*] = acc;
                let s = a_rs * 4;
                if a_ms == 1 {
                    // SAFETY: as below; two steps of m per loop turn (A's next column is 4
                    // bytes on, B's next row `b_rs` floats on), then the odd last step.
                    unsafe {
                        core::arch::asm!(
                            "test {pairs}, {pairs}",
                            "jz 3f",
                            "2:",
                            "vmovups {b0}, zmmword ptr [{bp}]",
                            "vmovups {b1}, zmmword ptr [{bp} + 64]",
                            $(
                                concat!("vbroadcastss {t}, dword ptr [", $addr, "]"),
                                concat!("vfmadd231ps {", stringify!($c0), "}, {t}, {b0}"),
                                concat!("vfmadd231ps {", stringify!($c1), "}, {t}, {b1}"),
                            )*
                            "vmovups {b0}, zmmword ptr [{bp} + {bs}]",
                            "vmovups {b1}, zmmword ptr [{bp} + {bs} + 64]",
                            $(
                                concat!("vbroadcastss {t}, dword ptr [", $addr, " + 4]"),
                                concat!("vfmadd231ps {", stringify!($c0), "}, {t}, {b0}"),
                                concat!("vfmadd231ps {", stringify!($c1), "}, {t}, {b1}"),
                            )*
                            "add {q0}, 8",
                            "add {q3}, 8",
                            "add {q8}, 8",
                            "lea {bp}, [{bp} + {bs} * 2]",
                            "dec {pairs}",
                            "jnz 2b",
                            "3:",
                            "test {odd}, {odd}",
                            "jz 4f",
                            "vmovups {b0}, zmmword ptr [{bp}]",
                            "vmovups {b1}, zmmword ptr [{bp} + 64]",
                            $(
                                concat!("vbroadcastss {t}, dword ptr [", $addr, "]"),
                                concat!("vfmadd231ps {", stringify!($c0), "}, {t}, {b0}"),
                                concat!("vfmadd231ps {", stringify!($c1), "}, {t}, {b1}"),
                            )*
                            "4:",
                            q0 = inout(reg) a => _,
                            q3 = inout(reg) a.wrapping_add(3 * a_rs) => _,
                            q8 = inout(reg) a.wrapping_add(8 * a_rs) => _,
                            s = in(reg) s,
                            s3 = in(reg) 3 * s,
                            bp = inout(reg) b => _,
                            bs = in(reg) b_rs * 4,
                            pairs = inout(reg) m_len / 2 => _,
                            odd = in(reg) m_len % 2,
                            b0 = out(zmm_reg) _,
                            b1 = out(zmm_reg) _,
                            t = out(zmm_reg) _,
                            $($c0 = inout(zmm_reg) $c0, $c1 = inout(zmm_reg) $c1,)*
                            options(nostack, readonly),
                        );
                    }
                } else {
                    // SAFETY: reads A(r, m) for r < R, m < m_len and B rows m < m_len
                    // (caller); writes only the named registers; no stack use.
                    unsafe {
                        core::arch::asm!(
                            "2:",
                            "vmovups {b0}, zmmword ptr [{bp}]",
                            "vmovups {b1}, zmmword ptr [{bp} + 64]",
                            $(
                                concat!("vbroadcastss {t}, dword ptr [", $addr, "]"),
                                concat!("vfmadd231ps {", stringify!($c0), "}, {t}, {b0}"),
                                concat!("vfmadd231ps {", stringify!($c1), "}, {t}, {b1}"),
                            )*
                            "add {q0}, {ams}",
                            "add {q3}, {ams}",
                            "add {q8}, {ams}",
                            "add {bp}, {bs}",
                            "dec {cnt}",
                            "jnz 2b",
                            q0 = inout(reg) a => _,
                            q3 = inout(reg) a.wrapping_add(3 * a_rs) => _,
                            q8 = inout(reg) a.wrapping_add(8 * a_rs) => _,
                            s = in(reg) s,
                            s3 = in(reg) 3 * s,
                            ams = in(reg) a_ms * 4,
                            bp = inout(reg) b => _,
                            bs = in(reg) b_rs * 4,
                            cnt = inout(reg) m_len => _,
                            b0 = out(zmm_reg) _,
                            b1 = out(zmm_reg) _,
                            t = out(zmm_reg) _,
                            $($c0 = inout(zmm_reg) $c0, $c1 = inout(zmm_reg) $c1,)*
                            options(nostack, readonly),
                        );
                    }
                }
                acc = [$($c0, $c1),*];
            }
            for (i, val) in acc.iter().enumerate() {
                // SAFETY: tile inside C (caller).
                unsafe { _mm512_storeu_ps(c.add((i / 2) * c_rs + (i % 2) * LANES), *val) };
            }
        }
    };
}

asm_tile!(
    /// The 8 x 32 tile.
    tile8x32, 8, [
                (c0 c1 "{q0}"),
                (c2 c3 "{q0} + {s}"),
                (c4 c5 "{q0} + {s} * 2"),
                (c6 c7 "{q3}"),
                (c8 c9 "{q0} + {s} * 4"),
                (c10 c11 "{q3} + {s} * 2"),
                (c12 c13 "{q3} + {s3}"),
                (c14 c15 "{q3} + {s} * 4")
    ]
);

asm_tile!(
    /// The 12 x 32 tile.
    tile12x32, 12, [
                (c0 c1 "{q0}"),
                (c2 c3 "{q0} + {s}"),
                (c4 c5 "{q0} + {s} * 2"),
                (c6 c7 "{q3}"),
                (c8 c9 "{q0} + {s} * 4"),
                (c10 c11 "{q3} + {s} * 2"),
                (c12 c13 "{q3} + {s3}"),
                (c14 c15 "{q3} + {s} * 4"),
                (c16 c17 "{q8}"),
                (c18 c19 "{q8} + {s}"),
                (c20 c21 "{q8} + {s} * 2"),
                (c22 c23 "{q8} + {s3}")
    ]
);

/// Samples per block of the transposed forward: two vectors of 16.
const SB: usize = 2 * LANES;
/// From this many samples (and outputs) the forward runs [`forward_t`]; below, the dot
/// tiles (measured, 64 x 784 -> 128 per sample count: 8 samples 96 against 58 GFLOP/s,
/// 16 samples 112 against 97; 64 x 128 -> 10: 68 against 54).
pub(super) const T_MIN: usize = 16;

/// Whether the forward of `batch` samples into `outputs` outputs runs as fused chains over
/// the inputs ([`forward_t`]) rather than as dot tiles (whose sums are split in 16 lanes).
pub(super) fn chains(batch: usize, outputs: usize) -> bool {
    batch >= T_MIN && outputs >= T_MIN
}
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
/// [`available`] returned true; `x` holds `batch x n`, `w` holds `outputs x n` and `y`
/// holds `batch x outputs` floats.
#[target_feature(enable = "avx512f")]
unsafe fn forward_t(x: *const f32, w: *const f32, y: *mut f32, y_rs: usize, batch: usize, n: usize, outputs: usize) {
    let mut xt = Aligned([0.0f32; KC_T * SB]);
    let mut ct = Aligned([0.0f32; OC * SB]);
    let (xt, ct) = (&mut xt.0, &mut ct.0);
    // Input blocks of equal size (a short last block would pay the tile set-up for little work).
    let blocks = n.div_ceil(KC_T).max(1);
    let kc = n.div_ceil(blocks);
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
                let acc = k0 > 0;
                let bp = xt.as_ptr();
                let mut r0 = 0;
                while r0 < oc {
                    let rows = if cv2 { tile_height::<2>(oc - r0) } else { tile_height::<1>(oc - r0) };
                    // SAFETY: rows o0 + r0 .. + rows <= outputs of W, inputs k0..k0 + kw; the
                    // scratch holds oc x SB floats; the packed block kw x SB.
                    unsafe {
                        let (cp, ap) = (ct.as_mut_ptr().add(r0 * SB), w.add((o0 + r0) * n + k0));
                        if cv2 {
                            tile_any::<2>(rows, cp, SB, ap, n, 1, bp, SB, kw, acc);
                        } else {
                            tile_any::<1>(rows, cp, SB, ap, n, 1, bp, SB, kw, acc);
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

/// Cache-line alignment for the scratch blocks: every 16-float vector is one line.
#[repr(align(64))]
struct Aligned<T>(T);

/// From this many samples the forward packs `W^T` instead of `x^T` ([`forward_w`]): the
/// weights are then moved once per call while the samples are read in place.
const W_MIN: usize = 128;
/// Inputs per packed block of `W^T` in [`forward_w`].
const KC_W: usize = 128;
/// Outputs per packed block of `W^T` in [`forward_w`] (`KC_W x OC_W` floats, 64 KB).
const OC_W: usize = 128;

/// The forward product as `y = x W^T` with `W^T` packed in 32-wide panels (blocks of
/// [`KC_W`] inputs and [`OC_W`] outputs) and 12 samples at a time broadcast from their rows;
/// outputs past the last full panel go to [`forward_t`]. Each output is one fused chain over
/// `k` in order from 0: the bits of [`forward_t`].
///
/// # Safety
/// As for [`forward_t`] with `y_rs = outputs`.
#[target_feature(enable = "avx512f")]
unsafe fn forward_w(x: *const f32, w: *const f32, y: *mut f32, batch: usize, n: usize, outputs: usize) {
    let mut pack = Aligned([0.0f32; KC_W * OC_W]);
    let pack = &mut pack.0;
    let full = outputs - outputs % (2 * LANES);
    let blocks = n.div_ceil(KC_W).max(1);
    let kc = n.div_ceil(blocks);
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
                        pack.as_mut_ptr().add(p * kw * 2 * LANES),
                        2 * LANES,
                        0,
                    )
                };
            }
            let acc = k0 > 0;
            let mut s0 = 0;
            while s0 < batch {
                let rows = tile_height::<2>(batch - s0);
                for p in 0..oc / (2 * LANES) {
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
                            pack.as_ptr().add(p * kw * 2 * LANES),
                            2 * LANES,
                            kw,
                            acc,
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
    }
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
    if chains(batch, outputs) {
        if batch >= W_MIN && outputs >= 2 * LANES {
            // SAFETY: forwarded from the caller.
            unsafe { forward_w(x, w, y, batch, n, outputs) };
        } else {
            // SAFETY: forwarded from the caller (y rows are `outputs` long).
            unsafe { forward_t(x, w, y, outputs, batch, n, outputs) };
        }
        return;
    }
    if batch < FEW {
        // A sample or two: W streams once from cache, so what counts is how many of its rows
        // are read side by side: 8 at a time.
        for s in 0..batch {
            let mut j = 0;
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

/// `dst[j * dst_rs + i] = src[i * src_rs + j]` for `i < rows`, `j < cols`, and `0` for
/// `rows <= i < pad` (zero columns to fill a padded block): 16 x 16 blocks through
/// [`transpose16`], masked loads and stores at the edges.
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
    use core::arch::x86_64::_mm512_mask_storeu_ps;
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
            let block: [__m512; 16] = core::array::from_fn(|q| {
                if i0 + q < rows {
                    // SAFETY: the mask keeps the load inside row i0 + q < rows, columns < cols.
                    unsafe { _mm512_maskz_loadu_ps(load, src.add((i0 + q) * src_rs + j0)) }
                } else {
                    _mm512_setzero_ps()
                }
            });
            let t = transpose16(block);
            for (q, v) in t.iter().take(cols - j0).enumerate() {
                // SAFETY: the mask keeps the store inside row j0 + q < cols, columns < height.
                unsafe { _mm512_mask_storeu_ps(dst.add((j0 + q) * dst_rs + i0), store, *v) };
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
