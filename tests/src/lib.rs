//! End-to-end tests live in `tests/`; this library holds what they share.

/// FNV-1a over the bit patterns of `values`, chained from `h` (the firmware's output hash).
pub fn fnv1a(mut h: u32, values: &[f32]) -> u32 {
    for v in values {
        for b in v.to_bits().to_le_bytes() {
            h ^= b as u32;
            h = h.wrapping_mul(0x0100_0193);
        }
    }
    h
}

/// FNV-1a offset basis.
pub const FNV_START: u32 = 0x811C_9DC5;

/// The repository root.
pub fn root() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}
