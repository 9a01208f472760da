//! Puts the board's memory map where the linker finds it: mps2-an386 (Cortex-M4F) for
//! `thumbv7em-none-eabihf`, mps2-an385 (Cortex-M3) for `thumbv7m-none-eabi`. The maps live
//! under boards/ (not the crate root) so that a stray memory.x can never silently override
//! them. boards/device.x goes beside them for cortex-m-rt's `device` feature.
use std::path::PathBuf;

fn main() {
    let target = std::env::var("TARGET").unwrap_or_default();
    let board = if target.starts_with("thumbv7m-") { "mps2-an385" } else { "mps2-an386" };
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("OUT_DIR"));
    let map = format!("boards/{board}/memory.x");
    std::fs::copy(&map, out.join("memory.x")).expect("copy memory.x");
    // cortex-m-rt's `device` feature includes device.x: the interrupt handlers' names (none:
    // every interrupt vector is the default handler, src/lib.rs).
    std::fs::copy("boards/device.x", out.join("device.x")).expect("copy device.x");
    println!("cargo:rustc-link-search={}", out.display());
    println!("cargo:rerun-if-changed=boards");
    println!("cargo:rerun-if-changed=models");
}
