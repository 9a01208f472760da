//! Start-up check that the CPU has the instructions the build was compiled for: a clear error
//! instead of an illegal-instruction crash.

use crate::error::Result;

/// Returns an error naming the missing features if this CPU cannot run this build.
pub fn check() -> Result<()> {
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
            return Err(crate::error::Error::Cpu { missing: missing.join(" and ") });
        }
    }
    Ok(())
}
