//! Start-up check that the CPU has the instructions the build was compiled for: a clear error
//! instead of an illegal-instruction crash.

use crate::error::{Error, Result};

/// Returns an error naming the missing features if this CPU cannot run this build. Also
/// applies `MYELIN_AVX512=off`: the kernels then keep to their AVX2 tiles on a CPU that has
/// AVX-512 (the forward's bits of an AVX2-only machine; any other value, or none, lets them
/// choose).
pub fn check() -> Result<()> {
    if std::env::var("MYELIN_AVX512").is_ok_and(|v| v.eq_ignore_ascii_case("off")) {
        myelin_core::kernels::set_avx512(false);
    }
    #[cfg(target_arch = "x86_64")]
    {
        let mut missing = Vec::new();
        if cfg!(target_feature = "avx2") && !std::arch::is_x86_feature_detected!("avx2") {
            missing.push("AVX2");
        }
        if cfg!(target_feature = "fma") && !std::arch::is_x86_feature_detected!("fma") {
            missing.push("FMA");
        }
        if !missing.is_empty() {
            return Err(Error::Cpu { missing: missing.join(" and ") });
        }
    }
    Ok(())
}
