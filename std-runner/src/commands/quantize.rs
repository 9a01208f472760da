//! `myelin quantize`: post-training int8 quantization with calibration samples from the
//! training part, and the float and int8 figures on the test part side by side.

use crate::QuantizeArgs;
use myelin::data::inputs;
use myelin::error::{Error, Result};
use myelin::gemm::Gemm;
use myelin::io::modelfile;
use myelin::quant::{self, Options};
use myelin::report::metrics;
use myelin_core::argmax;

/// Quantizes, reports float against int8 on the test part, writes the int8 model and its
/// sidecar atomically.
pub fn run(args: QuantizeArgs) -> Result<()> {
    let mut model = modelfile::load(&args.model)?;
    if model.int8.is_some() {
        return Err(Error::Usage(format!("{} is already an int8 model", args.model.display())));
    }
    let mut data = args.data.clone();
    if let Some(c) = &args.calibrate {
        data.data = c.clone();
    }
    let source = super::source_for(&model, &data)?;
    let pool = inputs::train_set(&model, &source)?;
    let test = inputs::test_set(&model, &source)?;
    if args.samples == 0 {
        return Err(Error::Usage("--samples must be at least 1".into()));
    }
    // Calibration samples: a seeded draw without replacement from the training part.
    let calib = quant::calibration_samples(&pool, args.samples, args.seed);
    let take = calib.len();
    let gemm = Gemm::from_env()?;
    let float_y = myelin::infer::outputs(&model, &gemm, &test)?;
    // Regression: target scaling folded into the float model first, so the int8 model's
    // outputs are in data units and the file stands alone.
    let mut meta = model.meta.clone();
    if let Some(scale) = model.meta.target_scale.take() {
        model.params = modelfile::fold_target_scale(&model.topology, &model.params, &scale)?;
        meta.target_scale = None;
    }
    let opts = Options { per_tensor: args.per_tensor, percentile: args.percentile, narrow: args.weight_bits == 7 };
    let q = quant::quantize(&model, &calib, &opts)?;
    let backend = quant::backend_from_env()?;
    let raw = inputs::test_set_raw(&model, &source)?;
    let int8_y = q.predict(backend, &raw.x, raw.features)?;
    let float_bytes = modelfile::encode(&model.topology, &model.params, model.standardizer.as_ref())?.len();
    let int8_bytes = q.bytes().len();
    println!(
        "calibrated on {take} training samples ({}); int8 kernels {}",
        if args.percentile.is_some() { "percentile ranges" } else { "min/max ranges" },
        backend.name()
    );
    if test.is_classification() {
        let (f, i) = (metrics::classify(&test, &float_y), metrics::classify(&test, &int8_y));
        let width = model.topology.outputs();
        let agree = float_y.chunks(width).zip(int8_y.chunks(width)).filter(|(a, b)| argmax(a) == argmax(b)).count();
        println!("test accuracy: float {:.2}%, int8 {:.2}%", 100.0 * f.accuracy, 100.0 * i.accuracy);
        println!(
            "top-1 agreement: {agree} of {} ({:.2}%)",
            test.len(),
            100.0 * agree as f64 / test.len().max(1) as f64
        );
    } else {
        let (f, i) = (metrics::regress(&test, &float_y), metrics::regress(&test, &int8_y));
        println!("test RMSE: float {:.4}, int8 {:.4} (MAE {:.4}, {:.4})", f.rmse, i.rmse, f.mae, i.mae);
    }
    println!(
        "model file: float {float_bytes} bytes, int8 {int8_bytes} bytes ({:.1}%)",
        100.0 * int8_bytes as f64 / float_bytes as f64
    );
    modelfile::save_int8(&args.out, &q, &meta)?;
    println!("wrote {}", args.out.display());
    Ok(())
}
