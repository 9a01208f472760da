//! Puts the board's memory map where the linker finds it. It lives under boards/ (not the
//! crate root) so that a stray memory.x can never silently override it.
use std::path::PathBuf;

fn main() {
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("OUT_DIR"));
    std::fs::copy("boards/mps2-an386/memory.x", out.join("memory.x")).expect("copy memory.x");
    println!("cargo:rustc-link-search={}", out.display());
    println!("cargo:rerun-if-changed=boards/mps2-an386/memory.x");
    println!("cargo:rerun-if-changed=models");
}
