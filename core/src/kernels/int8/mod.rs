//! The int8 kernels behind [`crate::quant::I8Backend`] (the arithmetic they implement is
//! `crate::quant`'s): the portable frame and pair loop, the x86_64 AVX2, AVX-512 VNNI
//! and AVX-VNNI tiles, the ARM64 NEON tiles, the Cortex-M4 `SMLAD` loops and the Cortex-M3
//! Thumb-2 loop, and the input quantizer's vectorizable conversion.

#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
use crate::quant::QuantDense;

/// Calls `$f::<S, R>` for the tile size `(s, r)` in 1..=$ms x 1..=$mr.
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
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
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
#[inline(always)]
pub(crate) fn tiles<const SB: usize, const RB: usize>(
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
            let cached = if row_blocks <= offsets.len() { offsets.get_mut(rb_index) } else { None };
            let offs = match cached {
                Some(cached) => {
                    if s0 == 0 {
                        for (r, o) in cached.iter_mut().enumerate().take(rb) {
                            let row = layer.weights.get((j0 + r) * n..(j0 + r + 1) * n).unwrap_or(&[]);
                            *o = layer.row_offset(j0 + r, row, z);
                        }
                    }
                    &*cached
                }
                None => {
                    for (r, o) in fresh.iter_mut().enumerate().take(rb) {
                        let row = layer.weights.get((j0 + r) * n..(j0 + r + 1) * n).unwrap_or(&[]);
                        *o = layer.row_offset(j0 + r, row, z);
                    }
                    &fresh
                }
            };
            tile(s0, j0, sb, rb, offs.get(..rb).unwrap_or(&[]));
        }
    }
}

pub(crate) mod portable;

#[cfg(target_arch = "aarch64")]
pub(crate) mod neon;

#[cfg(all(target_arch = "arm", target_abi = "eabihf"))]
pub(crate) mod dsp;
// ARMv7-M without hard float (Cortex-M3): `target_has_atomic = "32"` leaves out ARMv6-M
// (Cortex-M0), whose Thumb subset has no post-indexed loads.
#[cfg(all(target_arch = "arm", target_os = "none", target_has_atomic = "32", not(target_abi = "eabihf")))]
pub(crate) mod thumb;
#[cfg(target_arch = "x86_64")]
pub(crate) mod x86;
