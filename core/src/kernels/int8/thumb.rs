//! The portable int8 pair kernel as a Thumb-2 loop for Cortex-M3-class cores (ARMv7-M
//! without the DSP extension, soft-float builds): per eight columns and two rows, eight
//! `LDRSH` of widened inputs, sixteen `LDRSB` of weights (read in place) and sixteen `MLA`,
//! post-incremented addressing: 42 instructions for 16 multiply-accumulates. Same sums as the
//! Rust pair kernel, so the same bits.

/// Four columns of two rows: four `LDRSH` of widened inputs, eight `LDRSB` of weights and
/// eight `MLA` (operands named as in [`pair`]).
macro_rules! four_columns {
    () => {
        concat!(
            "ldrsh {x0}, [{xp}], #2\n",
            "ldrsh {x2}, [{xp}], #2\n",
            "ldrsh {x1}, [{xp}], #2\n",
            "ldrsh {x3}, [{xp}], #2\n",
            "ldrsb {w}, [{p0}], #1\n",
            "mla {a0}, {w}, {x0}, {a0}\n",
            "ldrsb {w}, [{p0}], #1\n",
            "mla {a0}, {w}, {x1}, {a0}\n",
            "ldrsb {w}, [{p0}], #1\n",
            "mla {a0}, {w}, {x2}, {a0}\n",
            "ldrsb {w}, [{p0}], #1\n",
            "mla {a0}, {w}, {x3}, {a0}\n",
            "ldrsb {w}, [{p1}], #1\n",
            "mla {a1}, {w}, {x0}, {a1}\n",
            "ldrsb {w}, [{p1}], #1\n",
            "mla {a1}, {w}, {x1}, {a1}\n",
            "ldrsb {w}, [{p1}], #1\n",
            "mla {a1}, {w}, {x2}, {a1}\n",
            "ldrsb {w}, [{p1}], #1\n",
            "mla {a1}, {w}, {x3}, {a1}\n",
        )
    };
}

/// `s0 += sum_i x[i] w0[i]`, `s1 += sum_i x[i] w1[i]` over the first multiple of 8 columns
/// (`x` widened and reordered `x0, x2, x1, x3` per group of four); the rest in Rust.
#[inline(always)]
pub(crate) fn pair(x: &[i16], w0: &[i8], w1: &[i8], s0: &mut i32, s1: &mut i32) {
    let cols = x.len() - x.len() % 8;
    if cols == 0 || w0.len() < cols || w1.len() < cols {
        return super::portable::pair(x, w0, w1, s0, s1);
    }
    let (mut a0, mut a1) = (*s0, *s1);
    // SAFETY: reads `cols` i16 from `x` and `cols` bytes from each row, all within the
    // slices (checked above); writes only the registers it names.
    unsafe {
        core::arch::asm!(
            "2:",
            four_columns!(),
            four_columns!(),
            "cmp {xp}, {end}",
            "bne 2b",
            xp = inout(reg) x.as_ptr() => _,
            p0 = inout(reg) w0.as_ptr() => _,
            p1 = inout(reg) w1.as_ptr() => _,
            end = in(reg) x.as_ptr().wrapping_add(cols),
            a0 = inout(reg) a0,
            a1 = inout(reg) a1,
            x0 = out(reg) _,
            x1 = out(reg) _,
            x2 = out(reg) _,
            x3 = out(reg) _,
            w = out(reg) _,
        );
    }
    let (x, w0, w1) = (x.get(cols..).unwrap_or(&[]), w0.get(cols..).unwrap_or(&[]), w1.get(cols..).unwrap_or(&[]));
    if !x.is_empty() {
        super::portable::pair(x, w0, w1, &mut a0, &mut a1);
    }
    (*s0, *s1) = (a0, a1);
}
