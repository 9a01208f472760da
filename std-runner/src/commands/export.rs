//! `myelin export`: a model as a standalone file for firmware (`.myelin`, optionally with a
//! Rust file of consts) or as safetensors.

use crate::ExportArgs;
use myelin::error::{Error, Result};
use myelin::io::{modelfile, rust_consts, safetensors};

/// Writes the model in the asked format, its outputs in data units.
pub fn run(a: ExportArgs) -> Result<()> {
    let mut m = modelfile::load(&a.model)?;
    if let Some(scale) = &m.meta.target_scale {
        // The exported file must stand alone: its outputs in data units.
        m.params = modelfile::fold_target_scale(&m.topology, &m.params, scale)?;
    }
    match a.format.as_str() {
        "myelin" => {
            modelfile::write_atomic(&a.out, &modelfile::encode(&m.topology, &m.params, m.standardizer.as_ref())?)?
        }
        "safetensors" => safetensors::export(&a.out, &m.topology, &m.params)?,
        f => return Err(Error::Usage(format!("--format {f:?}: use myelin or safetensors"))),
    }
    if let Some(r) = &a.rust {
        let origin = a.model.display().to_string();
        let src = rust_consts::source(&m.topology, m.standardizer.is_some(), &origin);
        modelfile::write_atomic(r, src.as_bytes())?;
    }
    println!("wrote {}", a.out.display());
    Ok(())
}
