//! `myelin predict`: outputs for every row of a file, or for one sample.

use crate::PredictArgs;
use myelin::data::inputs;
use myelin::error::{Error, Result};
use myelin::gemm::Gemm;
use myelin::io::modelfile;
use myelin::report::predictions;

/// Writes the predictions CSV to `--out` (atomically) or stdout.
pub fn run(args: PredictArgs) -> Result<()> {
    let model = modelfile::load(&args.model)?;
    let data = match (&args.sample, &args.input) {
        (Some(s), _) => inputs::sample(&model, s)?,
        (None, Some(p)) => inputs::file(&model, p)?,
        (None, None) => return Err(Error::Usage("give --input FILE or --sample v1,v2,...".into())),
    };
    let y = myelin::infer::outputs_with(&model, &Gemm::from_env()?, myelin::quant::backend_from_env()?, &data)?;
    let text = predictions::csv(&model, &y);
    match &args.out {
        Some(p) => modelfile::write_atomic(p, text.as_bytes()),
        None => {
            print!("{text}");
            Ok(())
        }
    }
}
