//! `myelin inspect`: a model's topology, parameter count, firmware budget and the host
//! trainer's memory footprint.

use myelin::error::{Error, Result};
use myelin::io::modelfile;
use std::path::Path;

/// Prints the model's layers and budgets.
pub fn run(path: &Path) -> Result<()> {
    let model = modelfile::load(path)?;
    if let Some(q) = &model.int8 {
        return int8(path, &model, q);
    }
    let topology = &model.topology;
    println!("model {}", path.display());
    println!(
        "  loss {}; source {}",
        topology.loss().name(),
        if model.meta.source.is_empty() { "unknown" } else { &model.meta.source }
    );
    for (i, layer) in topology.layers().iter().enumerate() {
        println!("  layer {}: {:>5} -> {:<5} {}", i + 1, layer.inputs, layer.outputs, layer.activation.name());
    }
    let params = topology.params_len();
    let file =
        myelin_core::format::encoded_len(topology, model.standardizer.is_some()).map_err(Error::core("sizing"))?;
    let infer = topology.inference_len(1).map_err(Error::core("sizing"))?;
    let train = topology.workspace_len(1).map_err(Error::core("sizing"))?;
    println!("  parameters {params} ({} bytes as f32)", 4 * params);
    println!("  multiply-accumulates per inference {}", topology.macs());
    println!("firmware budget (batch 1):");
    println!("  flash: model file {file} bytes (include_model!, parameters read in place)");
    println!("  RAM:   inference workspace {} bytes (inference_len = {infer} f32)", 4 * infer);
    println!(
        "  RAM for on-device training, batch 1: params + grads {} bytes, workspace {} bytes, plus optimizer state",
        8 * params,
        4 * train
    );
    // The host trainer's footprint (myelin::memory): the CLI's defaults, batch 64 in shards of 32, Adam.
    let (batch, shard, slots) = (64, 32, 2);
    let footprint = myelin::memory::Footprint::training(topology, batch, shard, slots);
    println!(
        "training on the host, batch {batch}, shard {shard}, Adam: {} ({} bytes)",
        myelin::memory::human(footprint.total()),
        footprint.total()
    );
    println!("  = 4 * (P * (4 + S + k) + S * workspace_len(shard) + S * shard * (inputs + outputs)) + 8 * P * (3 + k)");
    println!("    with P = {params} parameters, S = ceil(batch / shard) shards, k = optimizer values per parameter");
    println!("{}", footprint.describe());
    Ok(())
}

/// An int8 model: per layer its mode, scales and zero points; the firmware budget.
fn int8(path: &Path, model: &modelfile::Saved, q: &myelin::quant::Int8Model) -> Result<()> {
    let m = q.view();
    println!("model {} (int8, format version 2)", path.display());
    println!(
        "  loss {}; source {}",
        m.loss.name(),
        if model.meta.source.is_empty() { "unknown" } else { &model.meta.source }
    );
    let per = if m.input.mean.len() == 1 { "one for every feature" } else { "per feature" };
    println!("  input: scale {:.6e}, zero point {} (offsets and factors {per})", m.input.scale, m.input.zero);
    for (i, l) in m.layers().enumerate() {
        let d = &l.dense;
        let (lo, hi) = l.acc_scale.iter().fold((f32::MAX, 0.0f32), |(a, b), &v| (a.min(v), b.max(v)));
        let weight_scales = if l.acc_scale.iter().all(|&v| v == l.acc_scale[0]) { "per tensor" } else { "per channel" };
        let bits = if d.known.narrow_weights() { 7 } else { 8 };
        let mode = match l.mode {
            myelin_core::quant::LayerMode::Clamp => format!("clamp [{}, {}]", d.min, d.max),
            myelin_core::quant::LayerMode::Table => format!("table (pre-activation zero point {})", d.output_zero),
            myelin_core::quant::LayerMode::Dequantize => "dequantized to f32".to_string(),
        };
        println!(
            "  layer {}: {:>5} -> {:<5} {:<10} {mode}; {bits}-bit weights {weight_scales}, accumulator scales {lo:.3e}..{hi:.3e}",
            i + 1,
            d.inputs,
            d.outputs,
            l.activation.name()
        );
        if l.mode != myelin_core::quant::LayerMode::Dequantize {
            println!("           output scale {:.6e}, zero point {}", l.out_scale, l.out_zero);
        }
    }
    let work = m.work_len(1).map_err(Error::core("sizing"))?;
    println!("  multiply-accumulates per inference {}", m.macs());
    println!("firmware budget (batch 1):");
    println!("  flash: model file {} bytes (include_model!, tensors read in place)", q.bytes().len());
    println!("  RAM:   int8 workspace {} bytes (quant::work_len = {work} i32)", 4 * work);
    Ok(())
}
