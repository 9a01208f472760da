//! What the x86_64 CPU and OS run, by CPUID and XCR0, each answer detected once per process
//! and cached: the one place the kernel sets ask (the float tiles' AVX-512F, the int8 sets'
//! AVX-512 VNNI and AVX-VNNI). Under Miri, which runs no CPUID, each answer is the build's
//! target features.

use core::arch::x86_64::{__cpuid, __cpuid_count, _xgetbv};
use core::sync::atomic::{AtomicU8, Ordering};

/// AVX-512F with the ZMM state enabled by the OS.
pub(crate) fn avx512f() -> bool {
    static STATE: AtomicU8 = AtomicU8::new(0);
    cached(&STATE, || {
        if cfg!(miri) {
            return cfg!(target_feature = "avx512f");
        }
        leaf7().is_some_and(|(ebx, _, _)| ebx & (1 << 16) != 0) && xcr0(ZMM_STATE)
    })
}

/// AVX-512 F, BW and VNNI with the ZMM state enabled.
pub(crate) fn avx512_vnni() -> bool {
    static STATE: AtomicU8 = AtomicU8::new(0);
    cached(&STATE, || {
        if cfg!(miri) {
            return cfg!(all(target_feature = "avx512bw", target_feature = "avx512vnni"));
        }
        leaf7().is_some_and(|(ebx, ecx, _)| ebx & (1 << 16) != 0 && ebx & (1 << 30) != 0 && ecx & (1 << 11) != 0)
            && xcr0(ZMM_STATE)
    })
}

/// AVX2 and AVX-VNNI (the VEX `vpdpbusd` on `ymm`) with the YMM state enabled: Intel cores
/// since Alder Lake and Sapphire Rapids, AMD since Zen 5, with or without AVX-512.
pub(crate) fn avx_vnni() -> bool {
    static STATE: AtomicU8 = AtomicU8::new(0);
    cached(&STATE, || {
        if cfg!(miri) {
            return cfg!(all(target_feature = "avx2", target_feature = "avxvnni"));
        }
        leaf7().is_some_and(|(ebx, _, eax1)| ebx & (1 << 5) != 0 && eax1 & (1 << 4) != 0) && xcr0(YMM_STATE)
    })
}

/// XCR0 bits: SSE (1) and AVX (2) state.
const YMM_STATE: u64 = 0x6;
/// XCR0 bits: SSE, AVX, opmask (5), ZMM_Hi256 (6) and Hi16_ZMM (7) state.
const ZMM_STATE: u64 = 0xE6;

/// CPUID leaf 7's `ebx` and `ecx` (subleaf 0) and `eax` (subleaf 1), when the CPU has leaf 7
/// and the OS saves extended state (OSXSAVE, without which XCR0 cannot be read).
fn leaf7() -> Option<(u32, u32, u32)> {
    // SAFETY (older toolchains mark these unsafe): CPUID exists on every x86_64 CPU.
    #[allow(unused_unsafe)]
    unsafe {
        if __cpuid(0).eax < 7 || __cpuid(1).ecx & (1 << 27) == 0 {
            return None;
        }
        let sub0 = __cpuid_count(7, 0);
        Some((sub0.ebx, sub0.ecx, __cpuid_count(7, 1).eax))
    }
}

/// Whether the OS enables every state component in `bits` (XCR0).
fn xcr0(bits: u64) -> bool {
    // SAFETY: called only after `leaf7` found OSXSAVE set (the `&&` above short-circuits),
    // so XGETBV exists and XCR0 is readable.
    unsafe { _xgetbv(0) & bits == bits }
}

/// `detect()` once per process: 0 not asked yet, 1 no, 2 yes.
fn cached(state: &AtomicU8, detect: impl FnOnce() -> bool) -> bool {
    match state.load(Ordering::Relaxed) {
        1 => false,
        2 => true,
        _ => {
            let yes = detect();
            state.store(if yes { 2 } else { 1 }, Ordering::Relaxed);
            yes
        }
    }
}
