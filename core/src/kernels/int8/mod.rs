//! The int8 kernels behind [`crate::quant::I8Backend`] (the arithmetic they implement is
//! `crate::quant`'s): the portable frame and pair loop, the x86_64 AVX2 and AVX-512 VNNI
//! tiles, the Cortex-M4 `SMLAD` loops and the Cortex-M3 Thumb-2 loop, and the input
//! quantizer's vectorizable conversion.

pub(crate) mod portable;

#[cfg(all(target_arch = "arm", target_abi = "eabihf"))]
pub(crate) mod dsp;
// ARMv7-M without hard float (Cortex-M3): `target_has_atomic = "32"` leaves out ARMv6-M
// (Cortex-M0), whose Thumb subset has no post-indexed loads.
#[cfg(all(target_arch = "arm", target_os = "none", target_has_atomic = "32", not(target_abi = "eabihf")))]
pub(crate) mod thumb;
#[cfg(target_arch = "x86_64")]
pub(crate) mod x86;
