//! `myelin eval`: a model's figures on its dataset's test part.

use crate::EvalArgs;
use myelin::data::inputs;
use myelin::error::Result;
use myelin::gemm::Gemm;
use myelin::io::modelfile;
use myelin::report::metrics;

/// Accuracy, precision/recall and confusion matrix, or RMSE/MAE; as text or JSON.
pub fn run(a: EvalArgs) -> Result<()> {
    let model = modelfile::load(&a.model)?;
    let test = inputs::test_set(&model, &super::source_for(&model, &a.data)?)?;
    let y = myelin::infer::outputs(&model, &Gemm::from_env()?, &test)?;
    if test.is_classification() {
        let r = metrics::classify(&test, &y);
        if a.json {
            println!("{}", serde_json::to_string_pretty(&r).unwrap_or_default());
        } else {
            print!("{}", r.table(&model.meta.classes));
        }
    } else {
        let r = metrics::regress(&test, &y);
        if a.json {
            println!("{}", serde_json::to_string_pretty(&r).unwrap_or_default());
        } else {
            println!("RMSE {:.4}  MAE {:.4}  (mean predictor RMSE {:.4})", r.rmse, r.mae, r.rmse_mean_predictor);
        }
    }
    Ok(())
}
