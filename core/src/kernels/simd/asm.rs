//! The 6 x 16 tile of the 8-lane kernels with its loop over `m` written out in assembly, for
//! x86_64 builds with AVX2 and FMA (the build's target): the compiler's loop ([`super::tile8`])
//! re-derives each row's address of `A` with one more addition of the row stride per
//! broadcast, ten integer instructions beside every twelve FMAs, and the front end then
//! bounds it. Here rows 0, 1, 2, 4 of `A` are addressed from one base and rows 3, 5 from a
//! base 3 rows down (base + index * scale), and where `A` runs along its rows (`a_ms = 1`)
//! two steps of `m` share one round of address updates. Each `vfmadd231ps` is the same
//! single-rounding `a * b + c` as `f32x8::mul_add`, for every element in order over `m`, so
//! the bits are those of `tile8` (the kernel tests compare the 8-lane kernels with the
//! reference chains and with the 16-lane ones).

use crate::kernels::Accumulate;
use core::arch::x86_64::{_mm256_loadu_ps, _mm256_setzero_ps, _mm256_storeu_ps};

/// Floats per vector.
const LANES: usize = 8;

/// One step as one template string: the two vectors of `B` at `[bp + b_off]`, then per row a
/// broadcast of `A` at `[row + a_off]` and two FMAs.
macro_rules! step {
    ($b_off:literal, $a_off:literal) => {
        concat!(
            "vmovups {b0}, ymmword ptr [{bp}",
            $b_off,
            "]\n",
            "vmovups {b1}, ymmword ptr [{bp}",
            $b_off,
            " + 32]\n",
            "vbroadcastss {t}, dword ptr [{q0}",
            $a_off,
            "]\n",
            "vfmadd231ps {c0}, {t}, {b0}\n",
            "vfmadd231ps {c1}, {t}, {b1}\n",
            "vbroadcastss {t}, dword ptr [{q0} + {s}",
            $a_off,
            "]\n",
            "vfmadd231ps {c2}, {t}, {b0}\n",
            "vfmadd231ps {c3}, {t}, {b1}\n",
            "vbroadcastss {t}, dword ptr [{q0} + {s} * 2",
            $a_off,
            "]\n",
            "vfmadd231ps {c4}, {t}, {b0}\n",
            "vfmadd231ps {c5}, {t}, {b1}\n",
            "vbroadcastss {t}, dword ptr [{q3}",
            $a_off,
            "]\n",
            "vfmadd231ps {c6}, {t}, {b0}\n",
            "vfmadd231ps {c7}, {t}, {b1}\n",
            "vbroadcastss {t}, dword ptr [{q0} + {s} * 4",
            $a_off,
            "]\n",
            "vfmadd231ps {c8}, {t}, {b0}\n",
            "vfmadd231ps {c9}, {t}, {b1}\n",
            "vbroadcastss {t}, dword ptr [{q3} + {s} * 2",
            $a_off,
            "]\n",
            "vfmadd231ps {c10}, {t}, {b0}\n",
            "vfmadd231ps {c11}, {t}, {b1}\n",
        )
    };
}

/// `C = (C if `mode` adds, else 0) + sum_m A(r, m) B[m][..16]` for 6 rows, with `A(r, m) =
/// a[r * a_rs + m * a_ms]`, `B` rows at stride `b_rs` from `b`, `C` rows at stride `c_rs`.
///
/// # Safety
/// `C` holds 6 rows of 16 floats; `A(r, m)` is valid for `r < 6`, `m < m_len`; `b` holds
/// `m_len` rows of 16 floats.
#[inline]
#[allow(clippy::too_many_arguments)]
#[target_feature(enable = "avx2,fma")]
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
    let mut acc = [_mm256_setzero_ps(); 12];
    if mode == Accumulate::Add {
        for (i, slot) in acc.iter_mut().enumerate() {
            // SAFETY: tile inside C (caller).
            *slot = unsafe { _mm256_loadu_ps(c.add((i / 2) * c_rs + (i % 2) * LANES)) };
        }
    }
    if m_len > 0 {
        let [mut c0, mut c1, mut c2, mut c3, mut c4, mut c5, mut c6, mut c7, mut c8, mut c9, mut c10, mut c11] = acc;
        let s = a_rs * 4;
        // One `asm!` loop from `a`, `b` for `cnt` rounds of `body`: rows 0, 1, 2, 4 of A
        // addressed from `q0`, rows 3, 5 from `q3`, B from `bp`; `extra` names what else
        // the body reads.
        macro_rules! tile_loop {
            ($a:expr, $b:expr, $cnt:expr, [$($body:expr),*] $(, $name:ident = $val:expr)*) => {
                core::arch::asm!(
                    "2:",
                    $($body,)*
                    "dec {cnt}",
                    "jnz 2b",
                    q0 = inout(reg) $a => _,
                    q3 = inout(reg) $a.wrapping_add(3 * a_rs) => _,
                    s = in(reg) s,
                    bp = inout(reg) $b => _,
                    bs = in(reg) b_rs * 4,
                    cnt = inout(reg) $cnt => _,
                    $($name = in(reg) $val,)*
                    b0 = out(ymm_reg) _,
                    b1 = out(ymm_reg) _,
                    t = out(ymm_reg) _,
                    c0 = inout(ymm_reg) c0, c1 = inout(ymm_reg) c1,
                    c2 = inout(ymm_reg) c2, c3 = inout(ymm_reg) c3,
                    c4 = inout(ymm_reg) c4, c5 = inout(ymm_reg) c5,
                    c6 = inout(ymm_reg) c6, c7 = inout(ymm_reg) c7,
                    c8 = inout(ymm_reg) c8, c9 = inout(ymm_reg) c9,
                    c10 = inout(ymm_reg) c10, c11 = inout(ymm_reg) c11,
                    options(nostack, readonly),
                )
            };
        }
        // Where A runs along its rows (a_ms = 1), pairs of steps first.
        let pairs = if a_ms == 1 { m_len / 2 } else { 0 };
        if pairs > 0 {
            // SAFETY: reads A(r, m) for r < 6, m < 2 * pairs <= m_len and those B rows
            // (caller); writes only the named registers; no stack use.
            unsafe {
                tile_loop!(
                    a,
                    b,
                    pairs,
                    [
                        step!("", ""),
                        step!(" + {bs}", " + 4"),
                        "add {q0}, 8",
                        "add {q3}, 8",
                        "lea {bp}, [{bp} + {bs} * 2]"
                    ]
                );
            }
        }
        let done = 2 * pairs;
        if done < m_len {
            let (a, b) = (a.wrapping_add(done * a_ms), b.wrapping_add(done * b_rs));
            // SAFETY: reads A(r, m) for r < 6, done <= m < m_len and those B rows (caller);
            // writes only the named registers; no stack use.
            unsafe {
                tile_loop!(
                    a,
                    b,
                    m_len - done,
                    [step!("", ""), "add {q0}, {ams}", "add {q3}, {ams}", "add {bp}, {bs}"],
                    ams = a_ms * 4
                );
            }
        }
        acc = [c0, c1, c2, c3, c4, c5, c6, c7, c8, c9, c10, c11];
    }
    for (i, val) in acc.iter().enumerate() {
        // SAFETY: tile inside C (caller).
        unsafe { _mm256_storeu_ps(c.add((i / 2) * c_rs + (i % 2) * LANES), *val) };
    }
}
