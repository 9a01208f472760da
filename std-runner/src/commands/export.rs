//! `myelin export`: a model as a standalone file for firmware (`.myelin`, optionally with a
//! Rust file of consts), as ONNX or as safetensors.

use crate::ExportArgs;
use myelin::error::{Error, Result};
use myelin::io::{modelfile, onnx, rust_consts, safetensors};

/// Writes the model in the asked format, its outputs in data units.
pub fn run(args: ExportArgs) -> Result<()> {
    let mut model = modelfile::load(&args.model)?;
    if let Some(q) = &model.int8 {
        // An int8 file stands alone already (`myelin quantize` folds target scaling in).
        if args.format != "myelin" {
            return Err(Error::Usage(format!(
                "--format {}: int8 models export as `myelin` (format version 2) only; export the float model for {}",
                args.format, args.format
            )));
        }
        modelfile::write_atomic(&args.out, q.bytes())?;
        if let Some(path) = &args.rust {
            let src = rust_consts::source_int8(
                &model.topology,
                &q.view(),
                q.bytes().len(),
                &args.model.display().to_string(),
            );
            modelfile::write_atomic(path, src.as_bytes())?;
        }
        println!("wrote {}", args.out.display());
        return Ok(());
    }
    if let Some(scale) = &model.meta.target_scale {
        // The exported file must stand alone: its outputs in data units.
        model.params = modelfile::fold_target_scale(&model.topology, &model.params, scale)?;
    }
    match args.format.as_str() {
        "myelin" => modelfile::write_atomic(
            &args.out,
            &modelfile::encode(&model.topology, &model.params, model.standardizer.as_ref())?,
        )?,
        "safetensors" => safetensors::export(&args.out, &model.topology, &model.params)?,
        "onnx" => {
            let bytes = onnx::export(&model.topology, &model.params, model.standardizer.as_ref(), &model.meta)
                .map_err(|source| Error::Onnx { path: args.out.clone(), source })?;
            modelfile::write_atomic(&args.out, &bytes)?
        }
        f => return Err(Error::Usage(format!("--format {f:?}: use myelin, onnx or safetensors"))),
    }
    if let Some(path) = &args.rust {
        let origin = args.model.display().to_string();
        let src = rust_consts::source(&model.topology, model.standardizer.is_some(), &origin);
        modelfile::write_atomic(path, src.as_bytes())?;
    }
    println!("wrote {}", args.out.display());
    Ok(())
}
