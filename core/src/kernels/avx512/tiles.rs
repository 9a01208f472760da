//! The panel tiles: the generic intrinsic tile, the 12- and 8-row assembly tiles, and the
//! panel product's passes over them (weight and input gradients).

use super::{transpose_into, Aligned, LANES, RB};
use crate::kernels::Accumulate;
use core::arch::x86_64::{
    __m512, _mm512_add_ps, _mm512_fmadd_ps, _mm512_loadu_ps, _mm512_max_ps, _mm512_set1_ps, _mm512_setzero_ps,
    _mm512_storeu_ps,
};

/// Columns `0..n - n % 16` of one pass of the panel product (see `simd::panel_pass`); returns
/// where the remaining columns (fewer than 16) start.
///
/// # Safety
/// [`available`](super::available) returned true; `c` holds `rows x n` floats, `A(r, m) = ap[r * a_rs + m * a_ms]`
/// is valid for `r < rows`, `m < m_len`, and `bp` holds `m_len x n` floats.
#[allow(clippy::too_many_arguments)]
#[target_feature(enable = "avx512f")]
pub(in crate::kernels) unsafe fn pass<const PREFETCH: bool>(
    cp: *mut f32,
    rows: usize,
    n: usize,
    ap: *const f32,
    a_rs: usize,
    a_ms: usize,
    bp: *const f32,
    m_len: usize,
    mode: Accumulate,
) -> usize {
    if a_rs == 1 && a_ms != 1 && m_len <= AT_M && rows >= 2 * LANES {
        // SAFETY: forwarded from the caller.
        return unsafe { pass_transposed::<PREFETCH>(cp, rows, n, ap, a_ms, bp, m_len, mode) };
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
                        mode,
                        Finish::Store,
                    )
                };
                r0 += r;
            }
        }};
    }
    while k0 + 2 * LANES <= n {
        if PREFETCH {
            crate::kernels::prefetch_strip(cp, n, rows, k0 + 2 * LANES, 2 * LANES);
        }
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
pub(super) fn tile_height<const CV: usize>(left: usize) -> usize {
    if CV == 2 && left >= 12 {
        12
    } else {
        RB.min(left)
    }
}

/// What a tile does to its sums as it stores them: nothing, or, where they are a forward's
/// finished outputs, add the bias of its columns (`b` points at the first one's) and apply the
/// identity or the ReLU: `kernels::bias_activation`'s operations per element (`max(s, 0)` is
/// `s > 0 ? s : 0`: `vmaxps` gives its second operand unless the first is greater, for NaN and
/// -0 too).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Finish {
    /// The sums as they are.
    Store,
    /// `s + b`.
    Bias(*const f32),
    /// `max(s + b, 0)`.
    BiasRelu(*const f32),
}

impl Finish {
    /// Column vector `v` of a tile's row as [`Finish`] says.
    ///
    /// # Safety
    /// AVX-512F present; with a bias, `b` holds the tile's `16 * (v + 1)` columns at least.
    #[inline]
    #[target_feature(enable = "avx512f")]
    unsafe fn apply(self, s: __m512, v: usize) -> __m512 {
        match self {
            Finish::Store => s,
            // SAFETY: the bias of columns 16 v .. 16 v + 16 (caller).
            Finish::Bias(b) => _mm512_add_ps(s, unsafe { _mm512_loadu_ps(b.add(v * LANES)) }),
            // SAFETY: as above.
            Finish::BiasRelu(b) => {
                _mm512_max_ps(_mm512_add_ps(s, unsafe { _mm512_loadu_ps(b.add(v * LANES)) }), _mm512_setzero_ps())
            }
        }
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
pub(super) unsafe fn tile_any<const CV: usize>(
    r: usize,
    c: *mut f32,
    c_rs: usize,
    a: *const f32,
    a_rs: usize,
    a_ms: usize,
    b: *const f32,
    b_rs: usize,
    m_len: usize,
    mode: Accumulate,
    fin: Finish,
) {
    macro_rules! go {
        ($($r:literal)*) => {
            match r {
                // SAFETY: the caller's bounds.
                12 if CV == 2 => unsafe { tile12x32(c, c_rs, a, a_rs, a_ms, b, b_rs, m_len, mode, fin) },
                // SAFETY: the caller's bounds.
                8 if CV == 2 => unsafe { tile8x32(c, c_rs, a, a_rs, a_ms, b, b_rs, m_len, mode, fin) },
                // SAFETY: the caller's bounds.
                $($r => unsafe { tile::<$r, CV>(c, c_rs, a, a_rs, a_ms, b, b_rs, m_len, mode, fin) },)*
                _ => {}
            }
        };
    }
    go!(8 7 6 5 4 3 2 1);
}

/// Longest pass [`pass_transposed`] takes (the callers' passes, `MB_WIDE` in simd.rs, are at
/// most 256 long).
const AT_M: usize = 256;
/// Rows of `A` transposed at a time in [`pass_transposed`] (`AT_R x AT_M` floats, 24 KB).
const AT_R: usize = 24;

/// [`pass`] for `A` stored by columns (`A(r, m) = ap[r + m * a_ms]`, the weight gradient's
/// `delta^T`): blocks of [`AT_R`] rows of `A` are first transposed so that every tile reads its
/// rows along `m` (the two-step assembly loop). Same operations per element as [`pass`].
///
/// # Safety
/// As for [`pass`] with `a_rs = 1`, and `m_len <= AT_M`.
#[allow(clippy::too_many_arguments)]
#[target_feature(enable = "avx512f")]
unsafe fn pass_transposed<const PREFETCH: bool>(
    cp: *mut f32,
    rows: usize,
    n: usize,
    ap: *const f32,
    a_ms: usize,
    bp: *const f32,
    m_len: usize,
    mode: Accumulate,
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
            if PREFETCH {
                crate::kernels::prefetch_strip(cp.wrapping_add(r0 * n), n, rc, k0 + 2 * LANES, 2 * LANES);
            }
            let mut r = 0;
            while r < rc {
                let h = if wide { tile_height::<2>(rc - r) } else { tile_height::<1>(rc - r) };
                // SAFETY: C rows r0 + r .. + h <= rows, columns k0 .. k0 + 16 * CV <= n; the
                // transposed rows r .. r + h of the block, m < m_len; B rows m < m_len.
                unsafe {
                    let (c, a, b) = (cp.add((r0 + r) * n + k0), at.as_ptr().add(r * AT_M), bp.add(k0));
                    if wide {
                        tile_any::<2>(h, c, n, a, AT_M, 1, b, n, m_len, mode, Finish::Store);
                    } else {
                        tile_any::<1>(h, c, n, a, AT_M, 1, b, n, m_len, mode, Finish::Store);
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

/// One `R x (16 * CV)` tile of `C` at `c` (row stride `c_rs`): `C = (C if `mode` adds, else 0)
/// + sum_m A(r, m) B[m][0..16 * CV]` with `A(r, m) = a[r * a_rs + m * a_ms]` and `B` rows at stride
/// `b_rs` from `b`.
///
/// # Safety
/// AVX-512F present; all indices touched are in bounds (see [`pass`] and `forward.rs`).
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
    mode: Accumulate,
    fin: Finish,
) {
    let mut acc: [[__m512; CV]; R] = [[_mm512_setzero_ps(); CV]; R];
    if mode == Accumulate::Add {
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
            // SAFETY: tile inside C, the bias of its columns (caller).
            unsafe { _mm512_storeu_ps(c.add(r * c_rs + v * LANES), fin.apply(*val, v)) };
        }
    }
}

/// One step of an `asm_tile!` loop as one template string: the two vectors of `B` at
/// `[bp + b_off]`, then per row a broadcast of `A` at `[addr + a_off]` and two FMAs.
macro_rules! asm_step {
    ($b_off:literal, $a_off:literal, [$(($c0:ident $c1:ident $addr:literal)),*]) => {
        concat!(
            "vmovups {b0}, zmmword ptr [{bp}", $b_off, "]\n",
            "vmovups {b1}, zmmword ptr [{bp}", $b_off, " + 64]\n",
            $(
                "vbroadcastss {t}, dword ptr [", $addr, $a_off, "]\n",
                "vfmadd231ps {", stringify!($c0), "}, {t}, {b0}\n",
                "vfmadd231ps {", stringify!($c1), "}, {t}, {b1}\n",
            )*
        )
    };
}

/// One `asm!` loop of an `asm_tile!`: `cnt` rounds of `body` from `a` and `b`, rows of `A`
/// addressed from `q0` (rows 0, 1, 2, 4), `q3` (3 rows down) and `q8` (8 rows down) with the
/// row stride `s` (bytes) and `s3 = 3 s`, `B` from `bp` at row stride `bs` (bytes), the
/// accumulators in the named `zmm` registers; `extra` names what else the body reads.
macro_rules! asm_loop {
    ($a:expr, $a_rs:expr, $b:expr, $b_rs:expr, $cnt:expr, [$($body:expr),*],
     [$(($c0:ident $c1:ident)),*] $(, $name:ident = $val:expr)*) => {
        core::arch::asm!(
            "2:",
            $($body,)*
            "dec {cnt}",
            "jnz 2b",
            q0 = inout(reg) $a => _,
            q3 = inout(reg) $a.wrapping_add(3 * $a_rs) => _,
            q8 = inout(reg) $a.wrapping_add(8 * $a_rs) => _,
            s = in(reg) $a_rs * 4,
            s3 = in(reg) 3 * $a_rs * 4,
            bp = inout(reg) $b => _,
            bs = in(reg) $b_rs * 4,
            cnt = inout(reg) $cnt => _,
            $($name = in(reg) $val,)*
            b0 = out(zmm_reg) _,
            b1 = out(zmm_reg) _,
            t = out(zmm_reg) _,
            $($c0 = inout(zmm_reg) $c0, $c1 = inout(zmm_reg) $c1,)*
            options(nostack, readonly),
        )
    };
}

/// `R x 32` tiles of `C` (`R` = 8 or 12) with the loop over `m` written out in assembly:
/// the compiler's own loop (as in [`tile`]) re-derives the `R` row addresses of `A` with a
/// chain of additions every step, and this loop is faster (BENCHMARKS.md, "Kernel
/// choices"). Rows of `A` are
/// addressed from three bases and the row stride (rows 0, 1, 2, 4 from the first; 3, 5, 6, 7
/// from a base 3 rows down; 8..11 from a base 8 rows down). Where `A` runs along its rows
/// (`a_ms = 1`: the forward and the input gradient) two steps of `m` share one round of
/// address updates. Each `vfmadd231ps` is the same single-rounding `a * b + c` as
/// `_mm512_fmadd_ps`, for every element in order over `m`, so the bits equal [`tile`]'s (the
/// kernel tests compare them with the 8-lane tiles and with `f32::mul_add` chains).
///
/// `C = (C if `mode` adds, else 0) + sum_m A(r, m) B[m][..32]` with `A(r, m) = a[r * a_rs + m *
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
            mode: Accumulate,
            fin: Finish,
        ) {
            let mut acc = [_mm512_setzero_ps(); 2 * $r];
            if mode == Accumulate::Add {
                for (i, slot) in acc.iter_mut().enumerate() {
                    // SAFETY: tile inside C (caller).
                    *slot = unsafe { _mm512_loadu_ps(c.add((i / 2) * c_rs + (i % 2) * LANES)) };
                }
            }
            if m_len > 0 {
                let [$(mut $c0, mut $c1),*] = acc;
                // Where A runs along its rows (a_ms = 1), pairs of steps first: A's next
                // column is 4 bytes on, B's next row `b_rs` floats on.
                let pairs = if a_ms == 1 { m_len / 2 } else { 0 };
                if pairs > 0 {
                    // SAFETY: reads A(r, m) for r < R, m < 2 * pairs <= m_len and those B rows
                    // (caller); writes only the named registers; no stack use.
                    unsafe {
                        asm_loop!(a, a_rs, b, b_rs, pairs, [
                            asm_step!("", "", [$(($c0 $c1 $addr)),*]),
                            asm_step!(" + {bs}", " + 4", [$(($c0 $c1 $addr)),*]),
                            "add {q0}, 8",
                            "add {q3}, 8",
                            "add {q8}, 8",
                            "lea {bp}, [{bp} + {bs} * 2]"
                        ], [$(($c0 $c1)),*]);
                    }
                }
                // Then one step at a time (all of them when a_ms != 1; the odd last one else).
                let done = 2 * pairs;
                if done < m_len {
                    let (a, b) = (a.wrapping_add(done * a_ms), b.wrapping_add(done * b_rs));
                    // SAFETY: reads A(r, m) for r < R, done <= m < m_len and those B rows
                    // (caller); writes only the named registers; no stack use.
                    unsafe {
                        asm_loop!(a, a_rs, b, b_rs, m_len - done, [
                            asm_step!("", "", [$(($c0 $c1 $addr)),*]),
                            "add {q0}, {ams}",
                            "add {q3}, {ams}",
                            "add {q8}, {ams}",
                            "add {bp}, {bs}"
                        ], [$(($c0 $c1)),*], ams = a_ms * 4);
                    }
                }
                acc = [$($c0, $c1),*];
            }
            for (i, val) in acc.iter().enumerate() {
                // SAFETY: tile inside C, the bias of its columns (caller).
                unsafe { _mm512_storeu_ps(c.add((i / 2) * c_rs + (i % 2) * LANES), fin.apply(*val, i % 2)) };
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
