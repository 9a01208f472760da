//! `myelin eval`: a model's figures on its dataset's test part.

use crate::EvalArgs;
use myelin::data::inputs;
use myelin::error::Result;
use myelin::gemm::Gemm;
use myelin::io::modelfile;
use myelin::report::metrics;

/// Accuracy, precision/recall and confusion matrix, or RMSE/MAE; as text or JSON.
pub fn run(args: EvalArgs) -> Result<()> {
    let model = modelfile::load(&args.model)?;
    let test = inputs::test_set(&model, &super::source_for(&model, &args.data)?)?;
    let y = myelin::infer::outputs_with(&model, &Gemm::from_env()?, myelin::quant::backend_from_env()?, &test)?;
    if test.is_classification() {
        let report = metrics::classify(&test, &y);
        if args.json {
            println!("{}", serde_json::to_string_pretty(&report).unwrap_or_default());
        } else {
            print!("{}", report.table(&model.meta.classes));
        }
    } else {
        let report = metrics::regress(&test, &y);
        if args.json {
            println!("{}", serde_json::to_string_pretty(&report).unwrap_or_default());
        } else {
            println!(
                "RMSE {:.4}  MAE {:.4}  (mean predictor RMSE {:.4})",
                report.rmse, report.mae, report.rmse_mean_predictor
            );
        }
    }
    Ok(())
}
